//! The CRM webhook feed end to end: vigie in-process (`support::daemon`) posting to a real
//! HTTP receiver on a loopback port (`tests/peers/http_receiver.py`). Classifications come
//! from consumption alerts posted to the API and classified by the correlator; outage
//! events are published into the outbox the way the outage tracker does
//! (`vigie::notify::crm::publish` in a transaction on `alarms.sqlite`).

mod support;

use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;
use support::daemon::{InProcess, load_config};
use support::receivers::HttpReceiver;
use support::{eventually, free_port};
use vigie::notify::crm::{CrmEvent, CrmEventKind, publish};

const TOKEN: &str = "Bearer crm-secret";

fn network(tmp: &Path, crm_url: &str, batch_size: usize) -> vigie::config::Network {
    let crm = format!(
        r#"[crm]
webhook_url = "{crm_url}"
headers = {{ Authorization = "{TOKEN}" }}
timeout = "2s"
batch_size = {batch_size}
"#
    );
    network_with(tmp, &crm)
}

/// The test network with `crm` (a `[crm]` section, or nothing).
fn network_with(tmp: &Path, crm: &str) -> vigie::config::Network {
    let text = format!(
        r#"
[daemon]
profiles_dir = {profiles:?}
data_dir = {data:?}
[correlate]
interval = "1s"
{crm}
[[zones]]
id = "Z-NORTH"
utility = "water"
[[zones]]
id = "Z-QUIET"
utility = "water"
"#,
        profiles = Path::new(env!("CARGO_MANIFEST_DIR")).join("plc-profiles"),
        data = tmp.join("var"),
    );
    load_config(tmp, &text)
}

/// A consumption alert over the last 60 days.
fn alert(id: &str, zone: &str) -> Value {
    let day = |ago: u64| {
        let t = std::time::SystemTime::now() - Duration::from_secs(ago * 86_400);
        humantime::format_rfc3339(t).to_string()[..10].to_string()
    };
    json!({
        "alert_id": id,
        "customer_ref": format!("C-{id}"),
        "meter_id": format!("W-{id}"),
        "utility": "water",
        "zone": zone,
        "period_start": day(60),
        "period_end": day(0),
        "consumption": 80.0,
        "reference_consumption": 20.0,
        "unit": "m3"
    })
}

/// Publishes `keys`' outage events (started, updated, ended for each) in one transaction,
/// as the outage tracker does; returns their ids in order.
fn publish_outages(tmp: &Path, keys: &[&str]) -> Vec<i64> {
    let mut conn = rusqlite::Connection::open(tmp.join("var").join("alarms.sqlite")).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .unwrap();
    let mut ids = Vec::new();
    for key in keys {
        for kind in [
            CrmEventKind::OutageStarted,
            CrmEventKind::OutageUpdated,
            CrmEventKind::OutageEnded,
        ] {
            let event = CrmEvent {
                kind,
                key,
                time_ns: 1_764_000_000_000_000_000,
                data: json!({"id": key, "zone": "Z-NORTH"}),
            };
            ids.push(publish(&tx, &event).unwrap());
        }
    }
    tx.commit().unwrap();
    ids
}

/// The events of the requests the receiver answered 200, in the order it received them.
fn delivered(rx: &HttpReceiver) -> Vec<Value> {
    rx.delivered("/crm/events")
        .iter()
        .flat_map(|r| {
            let body: Value = serde_json::from_str(r["body"].as_str().unwrap()).unwrap();
            body["events"].as_array().unwrap().clone()
        })
        .collect()
}

fn ids(events: &[Value]) -> Vec<i64> {
    events.iter().map(|e| e["id"].as_i64().unwrap()).collect()
}

/// One value of `/metrics`.
fn metric(v: &InProcess, name: &str) -> f64 {
    let r = support::request("GET", &format!("{}/metrics", v.base), &[], b"");
    r.body
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics:\n{}", r.body))
}

#[test]
fn classifications_reach_the_crm_with_their_advice_and_incident() {
    let tmp = tempfile::tempdir().unwrap();
    let rx = HttpReceiver::start(0);
    let v = InProcess::start(&network(tmp.path(), &rx.url("/crm/events"), 100));
    let mut batch: Vec<Value> = (1..=3)
        .map(|n| alert(&format!("N-{n}"), "Z-NORTH"))
        .collect();
    batch.push(alert("Q-1", "Z-QUIET"));
    let (status, body) = v.call(
        "POST",
        "/api/v1/consumption-alerts",
        &[],
        Some(&json!(batch)),
    );
    assert_eq!((status, body["stored"].clone()), (200, json!(4)), "{body}");

    let events = eventually(Duration::from_secs(20), "4 classifications", || {
        let e = delivered(&rx);
        (e.len() >= 4).then_some(e)
    });
    let lone = events.iter().find(|e| e["key"] == "Q-1").unwrap();
    assert_eq!(lone["kind"], "alert_classified");
    assert_eq!(
        lone["data"],
        json!({
            "alert_id": "Q-1", "customer_ref": "C-Q-1", "meter_id": "W-Q-1",
            "utility": "water", "zone": "Z-QUIET", "classification": "customer_side",
            "previous_classification": null, "incident_id": null,
            "advice": "no network event: advise the customer to check the internal installation"
        })
    );
    assert!(lone["time"].as_str().unwrap().ends_with('Z'), "{lone}");

    // Three alerts of Z-NORTH with no network alarm: a suspected anomaly, its incident named.
    let (_, list) = v.call("GET", "/api/v1/incidents", &[], None);
    let incident = list["incidents"][0]["id"].as_i64().unwrap();
    for n in 1..=3 {
        let e = events
            .iter()
            .find(|e| e["key"] == format!("N-{n}"))
            .unwrap();
        assert_eq!(e["data"]["classification"], "unsupervised_cluster", "{e}");
        assert_eq!(e["data"]["incident_id"], incident, "{e}");
        assert!(
            e["data"]["advice"]
                .as_str()
                .unwrap()
                .contains("suspected network anomaly")
        );
    }

    let r = &rx.delivered("/crm/events")[0];
    assert_eq!(r["method"], "POST");
    assert_eq!(r["headers"]["authorization"], TOKEN);
    assert_eq!(r["headers"]["content-type"], "application/json");
    let key = r["headers"]["idempotency-key"].as_str().unwrap();
    assert!(key.starts_with("vigie-crm-"), "{key}");

    // Later passes find the same classes: nothing more is sent.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(delivered(&rx).len(), 4);
    assert_eq!(metric(&v, "vigie_crm_events_sent_total"), 4.0);
    assert_eq!(metric(&v, "vigie_crm_events_pending"), 0.0);
    v.stop();
}

#[test]
fn events_wait_while_the_crm_is_down_and_arrive_in_order_once() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/crm/events");
    let v = InProcess::start(&network(tmp.path(), &url, 100));
    let keys: Vec<String> = (0..90).map(|n| format!("{}", 1000 + n)).collect();
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    let mut published = publish_outages(tmp.path(), &keys[..45]);
    published.extend(publish_outages(tmp.path(), &keys[45..]));
    assert_eq!(published.len(), 270);
    eventually(Duration::from_secs(10), "a refused connection", || {
        (metric(&v, "vigie_crm_delivery_errors_total") >= 1.0).then_some(())
    });
    assert_eq!(metric(&v, "vigie_crm_events_pending"), 270.0);

    // The CRM comes back, overloaded at first (one 503).
    let rx = HttpReceiver::start_on(port, 1);
    let events = eventually(Duration::from_secs(60), "every event delivered", || {
        let e = delivered(&rx);
        (e.len() >= 270).then_some(e)
    });
    assert_eq!(ids(&events), published, "in order, each once");
    // An outage's events in order: started, updated, ended.
    let first: Vec<&str> = events[..3]
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(first, ["outage_started", "outage_updated", "outage_ended"]);

    let requests = rx.requests();
    assert_eq!(requests[0]["status"], 503);
    assert_eq!(requests[1]["status"], 200);
    // The retry is the same request: same key, same body.
    assert_eq!(
        requests[0]["headers"]["idempotency-key"],
        requests[1]["headers"]["idempotency-key"]
    );
    assert_eq!(requests[0]["body"], requests[1]["body"]);
    let sizes: Vec<usize> = rx
        .delivered("/crm/events")
        .iter()
        .map(|r| {
            let b: Value = serde_json::from_str(r["body"].as_str().unwrap()).unwrap();
            b["events"].as_array().unwrap().len()
        })
        .collect();
    assert!(sizes.iter().all(|n| *n <= 100), "{sizes:?}");
    assert!(sizes.len() >= 3, "{sizes:?}");
    eventually(Duration::from_secs(5), "the metrics", || {
        (metric(&v, "vigie_crm_events_sent_total") == 270.0
            && metric(&v, "vigie_crm_events_pending") == 0.0)
            .then_some(())
    });
    v.stop();
}

#[test]
fn pending_events_are_delivered_after_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/crm/events");
    let net = network(tmp.path(), &url, 100);
    let v = InProcess::start(&net);
    let (status, body) = v.call(
        "POST",
        "/api/v1/consumption-alerts",
        &[],
        Some(&json!([alert("Q-7", "Z-QUIET")])),
    );
    assert_eq!(status, 200, "{body}");
    eventually(Duration::from_secs(15), "the alert classified", || {
        let (_, r) = v.call("GET", "/api/v1/consumption-alerts", &[], None);
        (r["alerts"][0]["classification"] == "customer_side").then_some(())
    });
    let outage = publish_outages(tmp.path(), &["42"]);
    eventually(Duration::from_secs(10), "a refused connection", || {
        (metric(&v, "vigie_crm_delivery_errors_total") >= 1.0).then_some(())
    });
    v.stop();

    let rx = HttpReceiver::start_on(port, 0);
    let v = InProcess::start(&net);
    let events = eventually(Duration::from_secs(20), "the events after restart", || {
        let e = delivered(&rx);
        (e.len() >= 4).then_some(e)
    });
    let kinds: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e["kind"].as_str().unwrap(), e["key"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("alert_classified", "Q-7"),
            ("outage_started", "42"),
            ("outage_updated", "42"),
            ("outage_ended", "42")
        ]
    );
    assert_eq!(ids(&events)[1..], outage[..]);
    // The correlator's passes after the restart find the class unchanged: nothing new.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(delivered(&rx).len(), 4);
    v.stop();
}

#[test]
fn a_refused_event_is_given_up_and_the_next_ones_still_go() {
    let tmp = tempfile::tempdir().unwrap();
    // This CRM refuses any request holding outage "BAD" (HTTP 400).
    let rx = HttpReceiver::start_rejecting(0, 0, 503, &[], &[("\"key\":\"BAD\"", 400)]);
    let v = InProcess::start(&network(tmp.path(), &rx.url("/crm/events"), 100));
    let first = publish_outages(tmp.path(), &["A", "BAD", "C"]);
    let events = eventually(Duration::from_secs(20), "A and C delivered", || {
        let e = delivered(&rx);
        (e.len() >= 6).then_some(e)
    });
    let keys: Vec<&str> = events.iter().map(|e| e["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["A", "A", "A", "C", "C", "C"]);
    assert_eq!(
        ids(&events),
        [first[0], first[1], first[2], first[6], first[7], first[8]]
    );
    eventually(
        Duration::from_secs(5),
        "BAD's events counted failed",
        || (metric(&v, "vigie_crm_events_failed_total") == 3.0).then_some(()),
    );

    let next = publish_outages(tmp.path(), &["D"]);
    let events = eventually(Duration::from_secs(10), "D delivered", || {
        let e = delivered(&rx);
        (e.len() >= 9).then_some(e)
    });
    assert_eq!(ids(&events[6..]), next);
    // Each BAD event was refused alone, once: nothing else retried it.
    let refused: Vec<Value> = rx
        .requests()
        .into_iter()
        .filter(|r| r["status"] == 400)
        .collect();
    assert_eq!(
        refused.len(),
        4,
        "the whole request, then each BAD event alone"
    );
    assert_eq!(metric(&v, "vigie_crm_events_sent_total"), 9.0);
    assert_eq!(metric(&v, "vigie_crm_events_pending"), 0.0);
    v.stop();
}

#[test]
fn without_crm_events_are_discarded_and_a_crm_configured_later_gets_only_new_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let plain = network_with(tmp.path(), "");
    InProcess::start(&plain).stop(); // the database and its tables
    let old = publish_outages(tmp.path(), &["OLD"]);
    let v = InProcess::start(&plain);
    let db = tmp.path().join("var").join("alarms.sqlite");
    let status = |id: i64| -> String {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.query_row("SELECT status FROM crm_outbox WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .unwrap()
    };
    eventually(Duration::from_secs(10), "the old events discarded", || {
        old.iter()
            .all(|id| status(*id) == "discarded")
            .then_some(())
    });
    v.stop();

    let rx = HttpReceiver::start(0);
    let v = InProcess::start(&network(tmp.path(), &rx.url("/crm/events"), 100));
    let new = publish_outages(tmp.path(), &["NEW"]);
    let events = eventually(Duration::from_secs(10), "the new events", || {
        let e = delivered(&rx);
        (e.len() >= 3).then_some(e)
    });
    assert_eq!(
        ids(&events),
        new,
        "only what happened with [crm] configured"
    );
    assert!(new.iter().all(|id| status(*id) == "sent"));
    v.stop();
}

#[test]
fn an_idempotency_key_never_denotes_two_bodies() {
    let tmp = tempfile::tempdir().unwrap();
    // This CRM refuses any request holding outage "BAD" (HTTP 400), and answers 422 to a
    // key it saw before with another body (the IETF Idempotency-Key draft's answer).
    let rx = HttpReceiver::start_full(0, 0, 503, &[], &[("\"key\":\"BAD\"", 400)], true);
    let v = InProcess::start(&network(tmp.path(), &rx.url("/crm/events"), 100));
    let first = publish_outages(tmp.path(), &["A", "BAD", "C"]);
    let events = eventually(Duration::from_secs(20), "A and C delivered", || {
        let e = delivered(&rx);
        (e.len() >= 6).then_some(e)
    });
    // A's first event, sent alone after the split, is delivered: not refused as a repeat.
    assert_eq!(
        ids(&events),
        [first[0], first[1], first[2], first[6], first[7], first[8]]
    );
    eventually(
        Duration::from_secs(5),
        "BAD's events counted failed",
        || (metric(&v, "vigie_crm_events_failed_total") == 3.0).then_some(()),
    );
    let requests = rx.requests();
    assert_eq!(
        requests.len(),
        10,
        "the whole request, then each event alone"
    );
    let mut bodies: std::collections::HashMap<&str, &str> = Default::default();
    for r in &requests {
        let key = r["headers"]["idempotency-key"].as_str().unwrap();
        let body = r["body"].as_str().unwrap();
        assert_eq!(*bodies.entry(key).or_insert(body), body, "key {key} reused");
        assert_ne!(r["status"], 422, "{r}");
    }
    assert_eq!(bodies.len(), 10, "one key per body");
    assert_eq!(metric(&v, "vigie_crm_events_sent_total"), 6.0);
    v.stop();
}

#[test]
fn a_crm_answering_401_gets_every_event_once_its_token_works() {
    let tmp = tempfile::tempdir().unwrap();
    // An expired token, renewed after two requests: 401, 401, then 200.
    let rx = HttpReceiver::start_with(0, 2, 401, &[]);
    let v = InProcess::start(&network(tmp.path(), &rx.url("/crm/events"), 100));
    let published = publish_outages(tmp.path(), &["7", "8"]);
    // Backoff 5 s then 10 s (±20 %).
    let events = eventually(Duration::from_secs(40), "every event delivered", || {
        let e = delivered(&rx);
        (e.len() >= 6).then_some(e)
    });
    assert_eq!(ids(&events), published, "in order, each once");
    let requests = rx.requests();
    let statuses: Vec<i64> = requests
        .iter()
        .map(|r| r["status"].as_i64().unwrap())
        .collect();
    assert_eq!(statuses, [401, 401, 200], "one request, retried as it was");
    assert!(requests.iter().all(|r| r["body"] == requests[0]["body"]
        && r["headers"]["idempotency-key"] == requests[0]["headers"]["idempotency-key"]));
    assert_eq!(metric(&v, "vigie_crm_events_failed_total"), 0.0);
    assert_eq!(metric(&v, "vigie_crm_delivery_errors_total"), 2.0);
    eventually(Duration::from_secs(5), "the metrics", || {
        (metric(&v, "vigie_crm_events_sent_total") == 6.0
            && metric(&v, "vigie_crm_events_pending") == 0.0)
            .then_some(())
    });
    v.stop();
}
