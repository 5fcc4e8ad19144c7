//! The correlator end to end: a pressure collapse at a pumping station (a pymodbus
//! transmitter vigie polls) and 20 customers' overconsumption alerts in the zone it feeds
//! become one incident linking the alarm and the 20 alerts, all marked explained by the
//! network event; a lone alert in a quiet zone is the customer's side.

mod support;

use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;
use support::daemon::{InProcess, load_config};
use support::{ModbusPeer, eventually};

fn f32_words(v: f32) -> Vec<u16> {
    let b = v.to_be_bytes();
    vec![
        u16::from_be_bytes([b[0], b[1]]),
        u16::from_be_bytes([b[2], b[3]]),
    ]
}

fn network(tmp: &Path, gateway: &str) -> vigie::config::Network {
    let text = format!(
        r#"
[daemon]
profiles_dir = {profiles:?}
data_dir = {data:?}
[correlate]
interval = "1s"
[[zones]]
id = "Z-NORTH"
utility = "water"
fed_by = ["PS-01"]
[[zones]]
id = "Z-QUIET"
utility = "water"
[[sites]]
id = "PS-01"
kind = "pumping_station"
devices = [{{ id = "PT-101", profile = "keller-series30", address = "{gateway}", unit_id = 1, poll_interval = "200ms", timeout = "200ms" }}]
[[sites.alarms]]
device = "PT-101"
point = "pressure_bar"
low_low = {{ limit = 1.5, priority = "critical" }}
on_delay = "1s"
"#,
        profiles = Path::new(env!("CARGO_MANIFEST_DIR")).join("plc-profiles"),
        data = tmp.join("var"),
    );
    load_config(tmp, &text)
}

fn alert(n: usize, zone: &str) -> Value {
    let day = |ago: u64| {
        let t = std::time::SystemTime::now() - Duration::from_secs(ago * 86_400);
        humantime::format_rfc3339(t).to_string()[..10].to_string()
    };
    let (start, today) = (day(60), day(0));
    json!({
        "alert_id": format!("CRM-{n}"),
        "customer_ref": format!("C-{n}"),
        "meter_id": format!("W-{n}"),
        "utility": "water",
        "zone": zone,
        "period_start": start,
        "period_end": today,
        "consumption": 80.0,
        "reference_consumption": 20.0,
        "unit": "m3"
    })
}

#[test]
fn a_burst_and_its_zones_alerts_become_one_incident_and_a_lone_alert_is_customer_side() {
    let tmp = tempfile::tempdir().unwrap();
    let w = f32_words(4.0);
    let peer = ModbusPeer::start(&json!({"units": {"1": {"holding": {"256": w[0], "257": w[1]}}}}));
    let v = InProcess::start(&network(tmp.path(), &peer.addr()));
    let id = "PS-01:PT-101:pressure_bar:low_low";
    peer.set_holding(1, 0x0100, &f32_words(0.8));
    eventually(Duration::from_secs(10), "the low-low alarm", || {
        let (_, a) = v.call("GET", &format!("/api/v1/alarms/{id}"), &[], None);
        (a["state"] == "active_unacknowledged").then_some(())
    });

    let mut batch: Vec<Value> = (0..20).map(|n| alert(n, "Z-NORTH")).collect();
    batch.push(alert(99, "Z-QUIET"));
    let (status, body) = v.call(
        "POST",
        "/api/v1/consumption-alerts",
        &[],
        Some(&json!(batch)),
    );
    assert_eq!((status, body["stored"].clone()), (200, json!(21)), "{body}");

    let classes = |zone: &str| -> Vec<String> {
        let (_, r) = v.call(
            "GET",
            &format!("/api/v1/consumption-alerts?zone={zone}&limit=100"),
            &[],
            None,
        );
        r["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["classification"].as_str().unwrap_or("-").to_string())
            .collect()
    };
    eventually(Duration::from_secs(15), "the alerts classified", || {
        let north = classes("Z-NORTH");
        (north.len() == 20 && north.iter().all(|c| c == "explained_by_network_event")).then_some(())
    });
    assert_eq!(classes("Z-QUIET"), ["customer_side"]);
    let (_, quiet) = v.call("GET", "/api/v1/consumption-alerts?zone=Z-QUIET", &[], None);
    assert!(
        quiet["alerts"][0]["advice"]
            .as_str()
            .is_some_and(|a| a.contains("check the internal installation")),
        "{quiet}"
    );

    let (_, list) = v.call("GET", "/api/v1/incidents", &[], None);
    let incidents = list["incidents"].as_array().unwrap();
    assert_eq!(incidents.len(), 1, "{list}");
    let i = &incidents[0];
    assert_eq!(i["source"], "correlation");
    assert_eq!(i["zone"], "Z-NORTH");
    assert_eq!(i["priority"], "critical");
    assert_eq!(i["links"]["alarms"], json!([id]));
    assert_eq!(i["links"]["alerts"].as_array().unwrap().len(), 20);
    assert!(i["reason"].as_str().unwrap().contains(id), "{i}");

    // More passes change nothing: the incident is found again by its key.
    std::thread::sleep(Duration::from_secs(3));
    let (_, again) = v.call("GET", "/api/v1/incidents", &[], None);
    assert_eq!(again["incidents"].as_array().unwrap().len(), 1);
    v.stop();
}
