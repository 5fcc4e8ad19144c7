//! Incident tickets through the API on a running vigie: idempotent creation, the status life
//! cycle, assignee and estimated restoration, comments, the audit trail, filters and pages,
//! and tickets kept across a restart.

mod support;

use serde_json::{Value, json};
use std::path::Path;
use support::daemon::{InProcess, load_config};

fn network(tmp: &Path) -> vigie::config::Network {
    let text = format!(
        r#"
[daemon]
profiles_dir = {profiles:?}
data_dir = {data:?}
[[zones]]
id = "Z-NORTH"
utility = "water"
fed_by = ["PS-01"]
[[sites]]
id = "PS-01"
kind = "pumping_station"
"#,
        profiles = Path::new(env!("CARGO_MANIFEST_DIR")).join("plc-profiles"),
        data = tmp.join("var"),
    );
    load_config(tmp, &text)
}

fn burst() -> Value {
    json!({
        "title": "Burst on the PS-01 discharge main",
        "description": "Pressure fell to 1 bar; 20 customers report high consumption.",
        "priority": "critical",
        "zone": "Z-NORTH",
        "site": "PS-01",
        "links": {"alarms": ["PS-01:PT-101:pressure_bar:low_low"], "alerts": ["CRM-1", "CRM-2"]},
        "actor": "youssef"
    })
}

#[test]
fn an_incident_is_created_once_per_key_follows_its_life_cycle_and_keeps_its_history() {
    let tmp = tempfile::tempdir().unwrap();
    let net = network(tmp.path());
    let v = InProcess::start(&net);
    let key = [("Idempotency-Key", "crm-7f3a")];

    let (status, created) = v.call("POST", "/api/v1/incidents", &key, Some(&burst()));
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["status"], "open");
    assert_eq!(created["links"]["alerts"], json!(["CRM-1", "CRM-2"]));
    let id = created["id"].as_i64().unwrap();
    // The same request again: the same incident, not a second one.
    let (status, again) = v.call("POST", "/api/v1/incidents", &key, Some(&burst()));
    assert_eq!((status, again["id"].as_i64()), (200, Some(id)));
    // The key with another request is refused.
    let mut other = burst();
    other["title"] = json!("Something else");
    let (status, body) = v.call("POST", "/api/v1/incidents", &key, Some(&other));
    assert_eq!(status, 409, "{body}");
    // Without a key, each POST is a new incident.
    let (status, second) = v.call("POST", "/api/v1/incidents", &[], Some(&other));
    assert_eq!(status, 201, "{second}");

    // The crew takes it: assignee, estimated restoration, status, a comment.
    let path = format!("/api/v1/incidents/{id}");
    let (status, patched) = v.call(
        "PATCH",
        &path,
        &[],
        Some(&json!({
            "actor": "amina",
            "status": "in_progress",
            "assignee": "crew-3",
            "estimated_restoration": "2026-12-01T14:00:00Z",
            "comment": "valve V12 closed, excavation started"
        })),
    );
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["status"], "in_progress");
    assert_eq!(patched["assignee"], "crew-3");
    assert_eq!(patched["estimated_restoration"], "2026-12-01T14:00:00.000Z");
    let (status, _) = v.call(
        "POST",
        &format!("{path}/comments"),
        &[],
        Some(&json!({"actor": "crew-3", "text": "pipe replaced"})),
    );
    assert_eq!(status, 201);
    for step in ["resolved", "closed"] {
        let (status, body) = v.call(
            "PATCH",
            &path,
            &[],
            Some(&json!({"actor": "amina", "status": step})),
        );
        assert_eq!(status, 200, "{step}: {body}");
    }
    let (status, body) = v.call(
        "PATCH",
        &path,
        &[],
        Some(&json!({"actor": "amina", "status": "in_progress"})),
    );
    assert_eq!(status, 409, "a closed incident stays closed: {body}");

    // Kept across a restart, with the whole history in order.
    v.stop();
    let v = InProcess::start(&net);
    let (_, one) = v.call("GET", &path, &[], None);
    assert_eq!(one["status"], "closed");
    let history: Vec<String> = one["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            format!(
                "{} {} {} {}",
                h["actor"].as_str().unwrap(),
                h["kind"].as_str().unwrap(),
                h["field"].as_str().unwrap_or("-"),
                h["new"].as_str().or(h["comment"].as_str()).unwrap_or("-")
            )
        })
        .collect();
    assert_eq!(
        history,
        [
            "youssef created - -",
            "amina changed status in_progress",
            "amina changed assignee crew-3",
            "amina changed estimated_restoration 2026-12-01T14:00:00Z",
            "amina comment - valve V12 closed, excavation started",
            "crew-3 comment - pipe replaced",
            "amina changed status resolved",
            "amina changed status closed",
        ]
    );

    // Filters and pages.
    let (_, closed) = v.call("GET", "/api/v1/incidents?status=closed", &[], None);
    assert_eq!(closed["incidents"].as_array().unwrap().len(), 1);
    let (_, page) = v.call("GET", "/api/v1/incidents?limit=1", &[], None);
    assert_eq!(page["incidents"][0]["id"], second["id"]);
    let cursor = page["next_cursor"].as_str().unwrap().to_string();
    let (_, rest) = v.call(
        "GET",
        &format!("/api/v1/incidents?limit=1&cursor={cursor}"),
        &[],
        None,
    );
    assert_eq!(rest["incidents"][0]["id"].as_i64(), Some(id));
    assert_eq!(rest["next_cursor"], Value::Null);

    // Bad input: a JSON error, never a 5xx.
    let mut unknown_zone = burst();
    unknown_zone["zone"] = json!("Z-MARS");
    let mut extra = burst();
    extra["customer_phone"] = json!("+212600000000");
    for (what, method, p, body, want) in [
        (
            "unknown zone",
            "POST",
            "/api/v1/incidents",
            unknown_zone,
            400,
        ),
        ("unknown field", "POST", "/api/v1/incidents", extra, 400),
        (
            "no title",
            "POST",
            "/api/v1/incidents",
            json!({"priority": "low"}),
            400,
        ),
        (
            "bad status",
            "PATCH",
            path.as_str(),
            json!({"actor": "a", "status": "done"}),
            400,
        ),
        (
            "no such incident",
            "PATCH",
            "/api/v1/incidents/999",
            json!({"actor": "a"}),
            404,
        ),
    ] {
        let (status, body) = v.call(method, p, &[], Some(&body));
        assert_eq!(status, want, "{what}: {body}");
        assert!(body["error"].is_string(), "{what}: {body}");
    }
    let (status, _) = v.call("GET", "/api/v1/incidents?status=done", &[], None);
    assert_eq!(status, 400);
    v.stop();
}
