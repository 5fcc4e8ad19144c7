//! Outages for the CRM (issue 4), on vigie's station simulator with the demo's network: a
//! feeder trip at SS-12 is an outage of exactly the zone that feeder supplies, found by zone
//! and by a coordinate inside the zone's polygon, with its incident's estimated restoration
//! time, ending when the breaker closes; declared planned works start and end on time.

mod support;

use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;
use support::daemon::{InProcess, load_config};
use support::eventually;
use support::receivers::HttpReceiver;
use vigie::sim::{self, SimConfig, World};

/// The demo's sim.toml with only the feeder trip (SS-12, feeder 2) brought forward: from
/// 5 s after start, for 12 s, once. The burst (3 min) and the silent unit (9 min) come after
/// the test.
fn sim_config() -> SimConfig {
    let text = vigie::demo::SIM_TOML
        .replace("start = \"6m\"", "start = \"5s\"")
        .replace("duration = \"2m\"", "duration = \"12s\"")
        .replace("every = \"15m\"", "");
    let mut c = SimConfig::parse(Path::new("demo/sim.toml"), &text).unwrap();
    c.profiles_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("plc-profiles");
    c
}

fn get(d: &InProcess, path: &str) -> Value {
    let (status, body) = d.call("GET", path, &[], None);
    assert_eq!(status, 200, "GET {path}: {body}");
    body
}

fn outages(d: &InProcess, query: &str) -> Vec<Value> {
    get(d, &format!("/api/v1/outages{query}"))["outages"]
        .as_array()
        .unwrap()
        .clone()
}

/// The CRM outbox's events for one outage, oldest first: (kind, status in the data).
fn crm_events(data_dir: &Path, outage: i64) -> Vec<(String, String)> {
    let conn = rusqlite::Connection::open(data_dir.join("alarms.sqlite")).unwrap();
    let mut st = conn
        .prepare("SELECT kind, data FROM crm_outbox WHERE key = ?1 ORDER BY id")
        .unwrap();
    st.query_map([outage.to_string()], |r| {
        let data: String = r.get(1)?;
        let v: Value = serde_json::from_str(&data).unwrap();
        Ok((r.get(0)?, v["status"].as_str().unwrap_or("").to_string()))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

#[test]
fn a_feeder_trip_is_an_outage_of_its_zone_found_by_zone_and_coordinate_until_the_breaker_closes() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sim = rt
        .block_on(async { sim::start(World::new(sim_config()).unwrap()).await })
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("var");
    let mut text = vigie::demo::vigie_toml(&sim.addresses, &data_dir);
    text = text.replace(
        "profiles_dir = \"plc-profiles\"",
        &format!(
            "profiles_dir = {:?}",
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("plc-profiles")
                .display()
                .to_string()
        ),
    );
    let d = InProcess::start(&load_config(tmp.path(), &text));

    // Before the trip: no outage anywhere.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        outages(&d, ""),
        Vec::<Value>::new(),
        "outages before the trip"
    );

    // The trip: F2's breaker alarm, then the outage of F2's zone, and of it only.
    let o = eventually(Duration::from_secs(15), "the outage of Z-SS12-F2", || {
        outages(&d, "?zone=Z-SS12-F2").into_iter().next()
    });
    assert_eq!(o["status"], "active");
    assert_eq!(o["cause"], "breaker_trip");
    assert_eq!(o["zones"], json!(["Z-SS12-F2"]));
    assert_eq!(o["utility"], "electricity");
    assert_eq!(o["rule"], "SS-12:F2");
    assert_eq!(o["alarms"], json!(["SS-12:F2:breaker_tripped:discrete"]));
    assert_eq!(o["end"], Value::Null);
    let id = o["id"].as_i64().unwrap();
    let started: jiff::Timestamp = o["start"].as_str().unwrap().parse().unwrap();
    assert!(
        jiff::Timestamp::now().duration_since(started).as_secs() < 20,
        "start {started}"
    );
    assert_eq!(outages(&d, "?zone=Z-SS12-F1"), Vec::<Value>::new());
    assert_eq!(outages(&d, "?zone=Z-NORTH"), Vec::<Value>::new());
    assert_eq!(outages(&d, "?site=SS-12").len(), 1);

    // By coordinate: inside F2's polygon, inside F1's, and outside every zone.
    let at = get(&d, "/api/v1/outages?lat=45.755&lon=4.845");
    assert_eq!(at["zones"], json!(["Z-SS12-F2"]));
    assert_eq!(at["outages"][0]["id"], id);
    let at = get(&d, "/api/v1/outages?lat=45.755&lon=4.815");
    assert_eq!(at["zones"], json!(["Z-SS12-F1"]));
    assert_eq!(at["outages"], json!([]));
    let at = get(&d, "/api/v1/outages?lat=46.2&lon=6.1");
    assert_eq!(at["zones"], json!([]));
    assert_eq!(at["outages"], json!([]));
    let (status, _) = d.call("GET", "/api/v1/outages?lat=45.7", &[], None);
    assert_eq!(status, 400, "lat without lon");

    // The outage map.
    let (status, fc) = d.call("GET", "/api/v1/outages.geojson", &[], None);
    assert_eq!(status, 200);
    assert_eq!(fc["type"], "FeatureCollection");
    let f = &fc["features"][0];
    assert_eq!(f["properties"]["id"], id);
    assert_eq!(f["geometry"]["type"], "MultiPolygon");
    assert_eq!(f["geometry"]["coordinates"][0][0][0], json!([4.83, 45.74]));

    // Its incident, and the restoration time the engineers set on it.
    let incident = eventually(Duration::from_secs(5), "the outage's incident", || {
        get(&d, &format!("/api/v1/outages/{id}"))["incident_id"].as_i64()
    });
    let i = get(&d, &format!("/api/v1/incidents/{incident}"));
    assert_eq!(i["links"]["outages"], json!([id.to_string()]));
    assert_eq!(i["source"], "outage");
    assert_eq!(i["priority"], "critical");
    let etr = "2026-12-01T18:30:00Z";
    let (status, body) = d.call(
        "PATCH",
        &format!("/api/v1/incidents/{incident}"),
        &[],
        Some(&json!({"actor": "ops", "estimated_restoration": etr})),
    );
    assert_eq!(status, 200, "{body}");
    eventually(
        Duration::from_secs(5),
        "the outage's restoration time",
        || {
            (get(&d, &format!("/api/v1/outages/{id}"))["estimated_restoration"] == etr)
                .then_some(())
        },
    );
    // Customers of the feeder's zone report abnormal consumption: the correlator's incident
    // for the trip links the outage too.
    let alerts: Vec<Value> = (1..=3)
        .map(|k| {
            json!({"alert_id": format!("E-{k}"), "customer_ref": format!("C-{k}"),
                "meter_id": format!("E-M-{k}"), "utility": "electricity", "zone": "Z-SS12-F2",
                "period_start": rfc3339_in(-30 * 86_400), "period_end": rfc3339_in(0),
                "consumption": 900.0, "reference_consumption": 300.0, "unit": "kWh"})
        })
        .collect();
    let (status, body) = d.call(
        "POST",
        "/api/v1/consumption-alerts",
        &[],
        Some(&json!(alerts)),
    );
    assert_eq!(status, 200, "{body}");
    let correlated = eventually(Duration::from_secs(25), "the correlator's incident", || {
        get(&d, "/api/v1/incidents?zone=Z-SS12-F2")["incidents"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["source"] == "correlation")
            .cloned()
    });
    assert_eq!(
        correlated["links"]["outages"],
        json!([id.to_string()]),
        "{correlated}"
    );
    assert_eq!(correlated["links"]["alerts"].as_array().unwrap().len(), 3);

    // A derived outage is not the API's to end.
    let (status, _) = d.call(
        "PATCH",
        &format!("/api/v1/outages/{id}"),
        &[],
        Some(&json!({"status": "ended"})),
    );
    assert_eq!(status, 409);

    // The breaker closes: the outage ends, with its end time; it stays in the recent list.
    let ended = eventually(Duration::from_secs(25), "the outage's end", || {
        let o = get(&d, &format!("/api/v1/outages/{id}"));
        (o["status"] == "ended").then_some(o)
    });
    let end: jiff::Timestamp = ended["end"].as_str().unwrap().parse().unwrap();
    assert!(end > started);
    assert_eq!(outages(&d, "?zone=Z-SS12-F2")[0]["id"], id);
    assert_eq!(outages(&d, "?status=active"), Vec::<Value>::new());
    let history = get(&d, &format!("/api/v1/incidents/{incident}"))["history"].clone();
    assert!(
        history
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["comment"].as_str().is_some_and(|c| c.contains("ended"))),
        "{history}"
    );

    // The CRM's outbox: start, updates (incident, restoration time), end, in that order.
    let events = crm_events(&data_dir, id);
    assert_eq!(
        events.first().unwrap(),
        &("outage_started".into(), "active".into())
    );
    assert_eq!(
        events.last().unwrap(),
        &("outage_ended".into(), "ended".into())
    );
    assert!(
        events[1..events.len() - 1]
            .iter()
            .all(|e| e.0 == "outage_updated"),
        "{events:?}"
    );
    assert!(events.len() >= 4, "{events:?}");
    d.stop();
    drop(sim);
}

const QUIET: &str = r#"
[daemon]
data_dir = "{DATA}"

[crm]
webhook_url = "{CRM}"

[[zones]]
id = "Z-TOWN"
utility = "water"
area = { type = "Polygon", coordinates = [[[2.30, 48.85], [2.36, 48.85], [2.36, 48.88], [2.30, 48.88], [2.30, 48.85]]] }
"#;

fn rfc3339_in(seconds: i64) -> String {
    (jiff::Timestamp::now() + jiff::SignedDuration::from_secs(seconds))
        .round(jiff::Unit::Second)
        .unwrap()
        .to_string()
}

#[test]
fn declared_works_start_and_end_on_time_are_idempotent_and_can_be_cancelled() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("var");
    let crm = HttpReceiver::start(0);
    let text = QUIET
        .replace("{DATA}", &data_dir.display().to_string())
        .replace("{CRM}", &crm.url("/crm/events"));
    let d = InProcess::start(&load_config(tmp.path(), &text));

    let (start, end) = (rfc3339_in(2), rfc3339_in(5));
    let works = json!({
        "zones": ["Z-TOWN"], "start": start, "end": end,
        "description": "Main replacement, rue de la Paix", "reference": "WO-2291"
    });
    let key = [("Idempotency-Key", "wo-2291")];
    let (status, o) = d.call("POST", "/api/v1/outages", &key, Some(&works));
    assert_eq!(status, 201, "{o}");
    assert_eq!(o["status"], "planned");
    assert_eq!(o["planned"], true);
    assert_eq!(o["cause"], "planned_works");
    assert_eq!(o["estimated_restoration"], end.as_str());
    let id = o["id"].as_i64().unwrap();
    // Resent: the same outage; the key with another body: refused.
    let (status, again) = d.call("POST", "/api/v1/outages", &key, Some(&works));
    assert_eq!((status, again["id"].as_i64()), (200, Some(id)));
    let mut other = works.clone();
    other["description"] = json!("something else");
    assert_eq!(d.call("POST", "/api/v1/outages", &key, Some(&other)).0, 409);
    // Bad declarations.
    for (body, why) in [
        (
            json!({"zones": ["Z-NOWHERE"], "description": "x"}),
            "unknown zone",
        ),
        (json!({"zones": [], "description": "x"}), "no zone"),
        (
            json!({"zones": ["Z-TOWN"], "description": "x", "start": end, "end": start}),
            "end before start",
        ),
        (
            json!({"zones": ["Z-TOWN"], "description": "x", "cause": "gremlins"}),
            "bad cause",
        ),
        (
            json!({"zones": ["Z-TOWN"], "description": "x", "phone": "0600"}),
            "unknown field",
        ),
    ] {
        let (status, body) = d.call("POST", "/api/v1/outages", &[], Some(&body));
        assert_eq!(status, 400, "{why}: {body}");
        assert!(body["error"].is_string(), "{why}: {body}");
    }

    // Planned, then active at its start, then ended at its announced end.
    let at = get(&d, "/api/v1/outages?lat=48.86&lon=2.33");
    assert_eq!(at["zones"], json!(["Z-TOWN"]));
    assert_eq!(at["outages"][0]["status"], "planned");
    eventually(Duration::from_secs(5), "the works to start", || {
        (get(&d, &format!("/api/v1/outages/{id}"))["status"] == "active").then_some(())
    });
    let ended = eventually(Duration::from_secs(6), "the works to end", || {
        let o = get(&d, &format!("/api/v1/outages/{id}"));
        (o["status"] == "ended").then_some(o)
    });
    assert_eq!(ended["end"], end.as_str());
    let (status, _) = d.call(
        "PATCH",
        &format!("/api/v1/outages/{id}"),
        &[],
        Some(&json!({"description": "too late"})),
    );
    assert_eq!(status, 409, "an ended outage does not change");

    // Works announced, moved, then called off.
    let (_, o) = d.call(
        "POST",
        "/api/v1/outages",
        &[],
        Some(&json!({"zones": ["Z-TOWN"], "start": rfc3339_in(3600), "end": rfc3339_in(7200), "description": "Valve works"})),
    );
    let id2 = o["id"].as_i64().unwrap();
    let new_end = rfc3339_in(9000);
    let (status, o) = d.call(
        "PATCH",
        &format!("/api/v1/outages/{id2}"),
        &[],
        Some(&json!({"end": new_end})),
    );
    assert_eq!(status, 200, "{o}");
    assert_eq!(o["estimated_restoration"], new_end.as_str());
    for (body, want, why) in [
        (
            json!({"status": "ended"}),
            409,
            "not started: cancel it instead",
        ),
        (
            json!({"end": rfc3339_in(60)}),
            400,
            "an end before its start",
        ),
    ] {
        let (status, o) = d.call("PATCH", &format!("/api/v1/outages/{id2}"), &[], Some(&body));
        assert_eq!(status, want, "{why}: {o}");
    }
    let (status, o) = d.call(
        "PATCH",
        &format!("/api/v1/outages/{id2}"),
        &[],
        Some(&json!({"status": "cancelled"})),
    );
    assert_eq!((status, o["status"].as_str()), (200, Some("cancelled")));
    assert_eq!(
        o["end"],
        Value::Null,
        "called off before it started: no supply was cut"
    );
    assert_eq!(outages(&d, "?status=planned,active"), Vec::<Value>::new());
    assert_eq!(outages(&d, "?status=cancelled").len(), 1);
    assert_eq!(d.call("GET", "/api/v1/outages/999", &[], None).0, 404);
    assert_eq!(
        d.call("GET", "/api/v1/outages?status=gone", &[], None).0,
        400
    );

    // The CRM hears of each step: recorded, then delivered to its webhook in that order.
    let kinds: Vec<String> = crm_events(&data_dir, id).into_iter().map(|e| e.0).collect();
    assert_eq!(
        kinds,
        ["outage_planned", "outage_started", "outage_ended"],
        "announced (planned), started, ended"
    );
    let delivered = eventually(Duration::from_secs(10), "the CRM's outage events", || {
        let events: Vec<(String, String)> = crm
            .delivered("/crm/events")
            .iter()
            .flat_map(|r| {
                let body: Value = serde_json::from_str(r["body"].as_str().unwrap()).unwrap();
                body["events"].as_array().unwrap().clone()
            })
            .filter(|e| e["key"].as_str() == Some(id.to_string().as_str()))
            .map(|e| {
                (
                    e["kind"].as_str().unwrap().to_string(),
                    e["data"]["status"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        (events.len() == 3).then_some(events)
    });
    assert_eq!(
        delivered,
        [
            ("outage_planned".to_string(), "planned".to_string()),
            ("outage_started".into(), "active".into()),
            ("outage_ended".into(), "ended".into())
        ]
    );
    d.stop();
}
