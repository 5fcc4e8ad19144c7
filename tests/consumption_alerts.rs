//! `POST /api/v1/consumption-alerts` and `GET /api/v1/consumption-alerts` on a running
//! vigie: each record checked on its own, idempotent by alert id, kept across a restart.

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
[correlate]
interval = "1h"   # this test looks at the alerts as stored, before any classification
[[zones]]
id = "Z-NORTH"
utility = "water"
[[zones]]
id = "Z-FEEDER-12"
utility = "electricity"
"#,
        profiles = Path::new(env!("CARGO_MANIFEST_DIR")).join("plc-profiles"),
        data = tmp.join("var"),
    );
    load_config(tmp, &text)
}

fn alert(id: &str, zone: &str, consumption: f64) -> Value {
    json!({
        "alert_id": id,
        "customer_ref": format!("C-{id}"),
        "meter_id": format!("M-{id}"),
        "utility": "water",
        "zone": zone,
        "period_start": "2026-09-01",
        "period_end": "2026-11-01",
        "consumption": consumption,
        "reference_consumption": 21.0,
        "unit": "m3"
    })
}

/// The running daemon with the two calls this test makes.
struct Running(InProcess);

impl Running {
    fn start(net: &vigie::config::Network) -> Running {
        Running(InProcess::start(net))
    }
    fn post(&self, body: &Value) -> (u16, Value) {
        self.0
            .call("POST", "/api/v1/consumption-alerts", &[], Some(body))
    }
    fn get(&self, query: &str) -> (u16, Value) {
        self.0.call(
            "GET",
            &format!("/api/v1/consumption-alerts{query}"),
            &[],
            None,
        )
    }
    fn stop(self) {
        self.0.stop();
    }
}

#[test]
fn a_batch_keeps_its_valid_alerts_rejects_the_others_one_by_one_and_a_resend_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let net = network(tmp.path());
    let v = Running::start(&net);
    let mut unknown_field = alert("A-6", "Z-NORTH", 90.0);
    unknown_field["customer_name"] = json!("Jane Doe");
    let mut wrong_unit = alert("A-5", "Z-NORTH", 90.0);
    wrong_unit["unit"] = json!("kWh");
    let mut reversed = alert("A-7", "Z-NORTH", 90.0);
    reversed["period_end"] = json!("2026-08-01");
    let batch = json!([
        alert("A-1", "Z-NORTH", 95.0),
        alert("A-2", "Z-NORTH", 60.0),
        alert("A-3", "Z-SOUTH", 60.0),
        alert("A-4", "Z-NORTH", -1.0),
        wrong_unit,
        unknown_field,
        reversed,
        alert("A-8", "Z-FEEDER-12", 60.0),
        alert("A-9", "Z-NORTH", 70.0),
    ]);
    let (status, body) = v.post(&batch);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["stored"], 3, "{body}");
    assert_eq!(body["duplicates"], 0);
    let rejected: Vec<(u64, String)> = body["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["index"].as_u64().unwrap(),
                r["error"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let reasons: Vec<(u64, &str)> = vec![
        (2, "no zone \"Z-SOUTH\""),
        (3, "consumption: a number, 0 or more"),
        (4, "\"kWh\" is not a water unit"),
        (5, "unknown field `customer_name`"),
        (6, "period_end: must be after period_start"),
        (7, "\"Z-FEEDER-12\" distributes electricity, not water"),
    ];
    assert_eq!(rejected.len(), reasons.len(), "{rejected:?}");
    for ((i, got), (want_i, want)) in rejected.iter().zip(&reasons) {
        assert_eq!(i, want_i);
        assert!(got.contains(want), "record {i}: {got:?} lacks {want:?}");
    }

    // The same batch again: nothing new; an id reused with other content is refused.
    let (_, again) = v.post(&batch);
    assert_eq!(
        (again["stored"].clone(), again["duplicates"].clone()),
        (json!(0), json!(3))
    );
    let (_, reuse) = v.post(&json!([alert("A-1", "Z-NORTH", 99.0)]));
    assert_eq!(reuse["stored"], 0);
    assert!(
        reuse["rejected"][0]["error"]
            .as_str()
            .unwrap()
            .contains("already received"),
        "{reuse}"
    );

    // Listed newest first, page by page; kept across a restart.
    let (_, page) = v.get("?zone=Z-NORTH&limit=2");
    let ids: Vec<&str> = page["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["alert_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["A-9", "A-2"]);
    assert_eq!(page["alerts"][0]["consumption"], 70.0);
    assert_eq!(page["alerts"][0]["classification"], Value::Null);
    let cursor = page["next_cursor"].as_str().unwrap().to_string();
    v.stop();
    let v = Running::start(&net);
    let (_, rest) = v.get(&format!("?zone=Z-NORTH&limit=2&cursor={cursor}"));
    assert_eq!(rest["alerts"].as_array().unwrap().len(), 1);
    assert_eq!(rest["alerts"][0]["alert_id"], "A-1");
    assert_eq!(rest["next_cursor"], Value::Null);
    for bad in ["?utility=gas", "?limit=0", "?from=yesterday", "?colour=red"] {
        let (status, body) = v.get(bad);
        assert_eq!(status, 400, "{bad}: {body}");
    }
    let (status, body) = v.post(&json!({"alert_id": "A-1"}));
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("array"));
    v.stop();
}
