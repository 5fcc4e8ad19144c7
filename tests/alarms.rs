//! Alarm scenarios end to end: a pymodbus gateway (a Modbus server vigie did not write) with
//! two Keller pressure transmitters → vigie's poller → the alarm engine → the HTTP API, the
//! SQLite journal and InfluxDB 1.x. Values are changed on the server while vigie polls.

mod support;

use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};
use support::receivers::HttpReceiver;
use support::{InfluxV1, ModbusPeer, eventually, free_port, http};

/// The Keller Series 30's P1 (f32 ABCD at holding 0x0100; plc-profiles/keller-series30.toml).
const PRESSURE_REGISTER: u16 = 0x0100;

fn f32_words(v: f32) -> [u16; 2] {
    let b = v.to_be_bytes();
    [
        u16::from_be_bytes([b[0], b[1]]),
        u16::from_be_bytes([b[2], b[3]]),
    ]
}

/// A gateway with units 1 and 2, both Keller transmitters reading 4.0 bar.
fn gateway() -> ModbusPeer {
    let w = f32_words(4.0);
    let unit = json!({"holding": {"256": w[0], "257": w[1]}});
    ModbusPeer::start(&json!({"units": {"1": unit, "2": unit}}))
}

fn set_pressure(peer: &ModbusPeer, unit: u8, bar: f32) {
    peer.set_holding(unit, PRESSURE_REGISTER, &f32_words(bar));
}

/// Site PS-01: PT-101 (unit 1) with low/low-low limits, a fast-fall alarm and a
/// comm-failure alarm that suppresses its point alarms; PT-102 (unit 2) with a low limit.
fn config(tmp: &Path, gateway: &str, influx: &str) -> vigie::config::Network {
    let profiles = Path::new(env!("CARGO_MANIFEST_DIR")).join("plc-profiles");
    let text = format!(
        r#"
[daemon]
profiles_dir = {profiles:?}
data_dir = {data:?}
{influx}
[[sites]]
id = "PS-01"
name = "Pumping station 1"
kind = "pumping_station"
devices = [
  {{ id = "PT-101", profile = "keller-series30", address = "{gateway}", unit_id = 1, poll_interval = "200ms", timeout = "200ms" }},
  {{ id = "PT-102", profile = "keller-series30", address = "{gateway}", unit_id = 2, poll_interval = "200ms", timeout = "200ms" }},
]

[[sites.alarms]]
device = "PT-101"
point = "pressure_bar"
low = {{ limit = 2.8, priority = "high" }}
low_low = {{ limit = 1.5, priority = "critical" }}
deadband = 0.2
on_delay = "2s"

[[sites.alarms]]
device = "PT-101"
point = "pressure_bar"
rate_of_change = {{ limit = 1.0, per = "10s", priority = "critical" }}

[[sites.alarms]]
device = "PT-101"
comm_failure = {{ priority = "high" }}
on_delay = "1s"
suppresses = ["PT-101:*"]

[[sites.alarms]]
device = "PT-102"
point = "pressure_bar"
low = {{ limit = 2.8, priority = "medium" }}
on_delay = "1s"
"#,
        data = tmp.join("var"),
    );
    let path = tmp.join("vigie.toml");
    std::fs::write(&path, text).unwrap();
    vigie::config::load(&path, Some(HashMap::new())).unwrap_or_else(|e| panic!("{e:?}"))
}

/// A running daemon and the runtime it runs on; the test thread makes blocking HTTP calls.
struct Vigie {
    rt: tokio::runtime::Runtime,
    daemon: Option<vigie::daemon::Daemon>,
    base: String,
}

impl Vigie {
    fn start(net: &vigie::config::Network) -> Vigie {
        Vigie::start_on(net, "127.0.0.1:0")
    }

    fn start_on(net: &vigie::config::Network, listen: &str) -> Vigie {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let daemon = rt
            .block_on(vigie::daemon::start(net, Some(listen.parse().unwrap())))
            .unwrap();
        let base = format!("http://{}", daemon.api_addr);
        Vigie {
            rt,
            daemon: Some(daemon),
            base,
        }
    }

    fn stop(mut self) {
        if let Some(d) = self.daemon.take() {
            self.rt.block_on(d.shutdown(Duration::from_secs(5)));
        }
    }

    fn get(&self, path: &str) -> Value {
        let (status, body) = http("GET", &format!("{}{path}", self.base), "");
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    fn alarm(&self, id: &str) -> Value {
        self.get(&format!("/api/v1/alarms/{id}"))
    }

    fn state(&self, id: &str) -> String {
        self.alarm(id)["state"].as_str().unwrap().to_string()
    }

    /// Waits until alarm `id` is in `state`; returns when it was first seen there.
    fn wait_state(&self, id: &str, state: &str, within: Duration) -> Instant {
        eventually(within, &format!("{id} in state {state}"), || {
            (self.state(id) == state).then(Instant::now)
        })
    }

    fn post(&self, id: &str, verb: &str, body: Value) -> (u16, Value) {
        let (status, body) = http(
            "POST",
            &format!("{}/api/v1/alarms/{id}/{verb}", self.base),
            &body.to_string(),
        );
        (status, serde_json::from_str(&body).unwrap_or(Value::Null))
    }

    /// Journal events of alarm `id`, oldest first.
    fn events(&self, id: &str) -> Vec<Value> {
        let mut e = self.get(&format!("/api/v1/alarms/history?alarm={id}&limit=1000"))["events"]
            .as_array()
            .unwrap()
            .clone();
        e.reverse();
        e
    }

    fn activations(&self, id: &str) -> usize {
        self.events(id)
            .iter()
            .filter(|e| e["to_state"] == "active_unacknowledged")
            .count()
    }

    /// Waits for PT-101's first good sample.
    fn wait_polled(&self) {
        eventually(Duration::from_secs(10), "PT-101 polled", || {
            (self.point_quality("PT-101") == "good").then_some(())
        });
    }

    fn point_quality(&self, device: &str) -> String {
        self.get(&format!("/api/v1/points/PS-01/{device}/pressure_bar"))["quality"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

impl Drop for Vigie {
    fn drop(&mut self) {
        if let Some(d) = self.daemon.take() {
            self.rt.block_on(d.shutdown(Duration::from_secs(5)));
        }
    }
}

const LOW: &str = "PS-01:PT-101:pressure_bar:low";
const LOW_LOW: &str = "PS-01:PT-101:pressure_bar:low_low";
const RATE: &str = "PS-01:PT-101:pressure_bar:rate_of_change";
const COMM: &str = "PS-01:PT-101:comm_failure";
const LOW_2: &str = "PS-01:PT-102:pressure_bar:low";

/// Alternates `values` on unit 1 every `period` for `total`.
fn oscillate(peer: &ModbusPeer, values: [f32; 2], period: Duration, total: Duration) {
    let start = Instant::now();
    let mut k = 0;
    while start.elapsed() < total {
        set_pressure(peer, 1, values[k % 2]);
        k += 1;
        std::thread::sleep(period);
    }
}

#[test]
fn a_pressure_drop_raises_low_then_low_low_after_the_on_delay_and_hovering_raises_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let peer = gateway();
    let influx = InfluxV1::start();
    let influx_cfg = format!(
        "[influxdb]\nurl = \"{}\"\napi = \"v1\"\ndatabase = \"{}\"\nflush_interval = \"200ms\"\n",
        influx.url, influx.db
    );
    let v = Vigie::start(&config(tmp.path(), &peer.addr(), &influx_cfg));
    v.wait_polled();
    assert_eq!(v.state(LOW), "normal");

    // Crossing the limit for less than the 2 s on-delay, again and again: nothing.
    oscillate(
        &peer,
        [2.7, 3.1],
        Duration::from_millis(700),
        Duration::from_secs(5),
    );
    assert_eq!(v.state(LOW), "normal");
    assert!(v.events(LOW).is_empty(), "{:?}", v.events(LOW));

    // Below the limit for good: raised once the on-delay has passed, not before.
    set_pressure(&peer, 1, 2.5);
    let dropped = Instant::now();
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(v.state(LOW), "normal", "raised before its 2 s on-delay");
    let raised = v.wait_state(LOW, "active_unacknowledged", Duration::from_secs(5));
    let after = raised - dropped;
    assert!(
        after >= Duration::from_millis(1800),
        "raised after {after:?}"
    );
    let a = v.alarm(LOW);
    assert_eq!(a["priority"], "high");
    assert_eq!(a["value"], json!(2.5));
    assert_eq!(a["limit"], json!(2.8));
    assert!(a["message"].as_str().unwrap().contains("2.5 bar"), "{a}");

    // Hovering inside the deadband (2.8 + 0.2): it stays raised, no chatter.
    oscillate(
        &peer,
        [2.75, 2.95],
        Duration::from_millis(400),
        Duration::from_secs(3),
    );
    assert_eq!(v.state(LOW), "active_unacknowledged");
    assert_eq!(v.activations(LOW), 1);

    // Lower still: low-low follows after its own on-delay; low stays.
    set_pressure(&peer, 1, 1.2);
    v.wait_state(LOW_LOW, "active_unacknowledged", Duration::from_secs(6));
    assert_eq!(v.state(LOW), "active_unacknowledged");
    let t = |id: &str| v.events(id)[0]["time_ns"].as_i64().unwrap();
    assert!(t(LOW) < t(LOW_LOW));
    assert_eq!(v.alarm(LOW_LOW)["priority"], "critical");

    // The operator acknowledges low; an acknowledgement with nothing to acknowledge, an
    // unknown alarm and a body without an operator are refused with the reason.
    let (status, body) = v.post(
        LOW,
        "ack",
        json!({"operator": "amina", "comment": "crew sent"}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "active_acknowledged");
    let (status, body) = v.post(LOW, "ack", json!({"operator": "amina"}));
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("nothing to acknowledge")
    );
    let (status, _) = v.post("PS-01:nope:low", "ack", json!({"operator": "amina"}));
    assert_eq!(status, 404);
    let (status, body) = v.post(LOW_LOW, "ack", json!({"comment": "who?"}));
    assert_eq!(status, 400, "{body}");
    let ack = v
        .events(LOW)
        .into_iter()
        .find(|e| e["to_state"] == "active_acknowledged")
        .expect("ack event");
    assert_eq!(ack["operator"], "amina");
    assert_eq!(ack["comment"], "crew sent");

    // The pressure comes back: the acknowledged alarm is normal, the other waits for its
    // acknowledgement (returned to normal, unacknowledged).
    set_pressure(&peer, 1, 4.0);
    v.wait_state(LOW, "normal", Duration::from_secs(5));
    v.wait_state(LOW_LOW, "rtn_unacknowledged", Duration::from_secs(5));
    let listed: Vec<String> = v
        .get("/api/v1/alarms")
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_string())
        .collect();
    assert!(listed.contains(&LOW_LOW.to_string()), "{listed:?}");
    assert!(!listed.contains(&LOW.to_string()), "{listed:?}");

    // The 2.5 → 1.2 bar fall within 10 s is a rate-of-change alarm too.
    assert!(v.activations(RATE) >= 1);

    // KPIs count the activations; the journal's events reach InfluxDB.
    let k = v.get("/api/v1/alarms/kpis");
    assert!(k["range"]["activations"].as_u64().unwrap() >= 3, "{k}");
    let top: Vec<&str> = k["top_10"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["alarm_id"].as_str().unwrap_or_default())
        .collect();
    assert!(top.contains(&LOW), "{k}");
    let rows = eventually(Duration::from_secs(10), "alarm_events in InfluxDB", || {
        let rows = influx.values(
            "SELECT \"state\", \"value\", \"limit\" FROM alarm_events WHERE \"alarm\" = 'low' AND \"device\" = 'PT-101'",
        );
        (rows.len() >= 3).then_some(rows)
    });
    let states: Vec<&str> = rows.iter().map(|r| r[1].as_str().unwrap()).collect();
    assert_eq!(
        states,
        ["active_unacknowledged", "active_acknowledged", "normal"]
    );
    assert_eq!(rows[0][2], json!(2.5));
    assert_eq!(rows[0][3], json!(2.8));
    v.stop();
}

#[test]
fn a_silent_unit_raises_one_comm_failure_that_suppresses_its_point_alarms_only() {
    let tmp = tempfile::tempdir().unwrap();
    let peer = gateway();
    let v = Vigie::start(&config(tmp.path(), &peer.addr(), ""));
    set_pressure(&peer, 1, 2.5);
    set_pressure(&peer, 2, 2.5);
    v.wait_state(LOW, "active_unacknowledged", Duration::from_secs(8));
    v.wait_state(LOW_2, "active_unacknowledged", Duration::from_secs(8));

    peer.update(&json!({"silent_units": [1]}));
    v.wait_state(COMM, "active_unacknowledged", Duration::from_secs(8));
    assert_eq!(v.state(LOW), "suppressed");
    // Several seconds of silence: still one comm-failure activation, the neighbour polled
    // and its own alarm untouched.
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(v.activations(COMM), 1, "{:?}", v.events(COMM));
    assert_eq!(v.state(LOW), "suppressed");
    assert_eq!(v.point_quality("PT-102"), "good");
    assert_eq!(v.state(LOW_2), "active_unacknowledged");
    let metrics = http("GET", &format!("{}/metrics", v.base), "").1;
    assert!(
        metrics.contains("vigie_alarms{state=\"suppressed\",priority=\"high\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("vigie_alarms{state=\"active_unacknowledged\",priority=\"high\"} 1"));

    // The unit answers again: the comm failure returns to normal (still to acknowledge),
    // and the point alarm, whose condition still holds, is shown again to acknowledge.
    peer.update(&json!({"silent_units": []}));
    v.wait_state(COMM, "rtn_unacknowledged", Duration::from_secs(15));
    v.wait_state(LOW, "active_unacknowledged", Duration::from_secs(5));
    v.stop();
}

/// Every alarm's externally visible state (the API's view without the live value), but
/// the rate-of-change alarm's, which clears by itself 10 s after the fall.
fn snapshot(v: &Vigie) -> Vec<Value> {
    v.get("/api/v1/alarms?state=all")
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["id"] != RATE)
        .map(|a| {
            let mut a = a.clone();
            let o = a.as_object_mut().unwrap();
            o.remove("value");
            o.remove("message");
            a
        })
        .collect()
}

#[test]
fn a_restart_keeps_active_acknowledged_and_shelved_alarms_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let peer = gateway();
    let net = config(tmp.path(), &peer.addr(), "");
    let v = Vigie::start(&net);
    v.wait_polled();
    set_pressure(&peer, 1, 1.2);
    set_pressure(&peer, 2, 2.5);
    v.wait_state(LOW_LOW, "active_unacknowledged", Duration::from_secs(8));
    v.wait_state(LOW_2, "active_unacknowledged", Duration::from_secs(8));
    let (s, b) = v.post(LOW, "ack", json!({"operator": "amina"}));
    assert_eq!(s, 200, "{b}");
    let (s, b) = v.post(
        LOW_LOW,
        "shelve",
        json!({"operator": "youssef", "comment": "sensor replaced tomorrow", "duration": "1h"}),
    );
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["state"], "shelved");
    let (s, b) = v.post(
        LOW_2,
        "shelve",
        json!({"operator": "youssef", "duration": "1h"}),
    );
    assert_eq!(s, 400, "a shelve needs a reason: {b}");
    let (s, _) = v.post(
        LOW_2,
        "shelve",
        json!({"operator": "youssef", "comment": "x", "duration": "30d"}),
    );
    assert_eq!(s, 400, "longer than max_shelve");
    let before = snapshot(&v);
    let events_before = v.get("/api/v1/alarms/history?limit=1000")["events"]
        .as_array()
        .unwrap()
        .len();
    v.stop();

    // Restarted on the same data directory, before and after its first polls.
    let v = Vigie::start(&net);
    assert_eq!(snapshot(&v), before);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(snapshot(&v), before);
    let by_id: HashMap<String, Value> = before
        .iter()
        .map(|a| (a["id"].as_str().unwrap().to_string(), a.clone()))
        .collect();
    assert_eq!(by_id[LOW]["state"], "active_acknowledged");
    assert_eq!(by_id[LOW_LOW]["state"], "shelved");
    assert_eq!(by_id[LOW_LOW]["shelved"]["by"], "youssef");
    assert_eq!(by_id[LOW_2]["state"], "active_unacknowledged");
    let events_after = v.get("/api/v1/alarms/history?limit=1000")["events"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(
        events_after, events_before,
        "the restart re-raised something"
    );

    // Unshelve: the condition still holds, so it is shown again to acknowledge.
    let (s, b) = v.post(LOW_LOW, "unshelve", json!({"operator": "youssef"}));
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["state"], "active_unacknowledged");
    v.stop();
}

#[test]
fn an_on_delay_keeps_counting_across_a_restart_and_a_shelve_expires_by_itself() {
    let tmp = tempfile::tempdir().unwrap();
    let peer = gateway();
    let net = config(tmp.path(), &peer.addr(), "");
    let v = Vigie::start(&net);
    v.wait_polled();
    // Below the low limit at t0; vigie stops 1 s later, inside the 2 s on-delay.
    set_pressure(&peer, 1, 2.5);
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(v.state(LOW), "normal");
    v.stop();
    let v = Vigie::start(&net);
    let raised = v.wait_state(LOW, "active_unacknowledged", Duration::from_secs(6));
    // Restarting the on-delay would take ≥ 2 s from the restart (≥ ~3 s from t0).
    assert!(
        raised - t0 < Duration::from_millis(2900),
        "raised {:?} after the drop",
        raised - t0
    );

    let (s, b) = v.post(
        LOW,
        "shelve",
        json!({"operator": "amina", "comment": "known", "duration": "2s"}),
    );
    assert_eq!(s, 200, "{b}");
    v.wait_state(LOW, "active_unacknowledged", Duration::from_secs(6));
    let last = v.events(LOW).pop().unwrap();
    assert_eq!(last["from_state"], "shelved");
    assert_eq!(last["operator"], "vigie");
    assert_eq!(last["comment"], "shelve expired");
    v.stop();
}

#[test]
fn history_pages_back_with_a_cursor_and_filters() {
    let tmp = tempfile::tempdir().unwrap();
    let peer = gateway();
    let v = Vigie::start(&config(tmp.path(), &peer.addr(), ""));
    set_pressure(&peer, 1, 1.2);
    v.wait_state(LOW_LOW, "active_unacknowledged", Duration::from_secs(8));
    assert_eq!(v.post(LOW, "ack", json!({"operator": "a"})).0, 200);
    assert_eq!(v.post(LOW_LOW, "ack", json!({"operator": "a"})).0, 200);
    let all = v.get("/api/v1/alarms/history?limit=1000")["events"]
        .as_array()
        .unwrap()
        .clone();
    assert!(all.len() >= 4, "{all:?}");
    let mut paged = Vec::new();
    let mut path = "/api/v1/alarms/history?limit=1".to_string();
    loop {
        let page = v.get(&path);
        paged.extend(page["events"].as_array().unwrap().clone());
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/alarms/history?limit=1&cursor={c}"),
            None => break,
        }
        assert!(paged.len() <= all.len());
    }
    let low = v.events(LOW).len();
    let last_page = v.get(&format!("/api/v1/alarms/history?alarm={LOW}&limit={low}"));
    assert_eq!(
        last_page["next_cursor"],
        Value::Null,
        "a cursor to an empty page"
    );
    assert_eq!(paged.len(), all.len());
    assert_eq!(paged, all);
    let critical = v.get("/api/v1/alarms/history?priority=critical")["events"]
        .as_array()
        .unwrap()
        .clone();
    assert!(critical.iter().all(|e| e["priority"] == "critical"));
    assert!(!critical.is_empty());
    let future = v.get("/api/v1/alarms/history?from=2200-01-01T00:00:00Z")["events"].clone();
    assert_eq!(future, json!([]));
    for bad in [
        "from=2999-01-01T00:00:00Z",
        "limit=0",
        "limit=abc",
        "from=yesterday",
        "priority=urgent",
        "colour=red",
    ] {
        let (status, body) = http(
            "GET",
            &format!("{}/api/v1/alarms/history?{bad}", v.base),
            "",
        );
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body.contains("error"));
    }
    for bad in ["state=bogus", "site=PS-99", "priority=urgent"] {
        let (status, body) = http("GET", &format!("{}/api/v1/alarms?{bad}", v.base), "");
        assert_eq!(status, 400, "{bad}: {body}");
    }
    let (status, body) = http(
        "POST",
        &format!("{}/api/v1/alarms/{LOW}/unshelve", v.base),
        "",
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("operator"), "{body}");
    let (status, body) = http(
        "POST",
        &format!("{}/api/v1/alarms/{LOW}/ack", v.base),
        &format!("{{\"operator\": \"{}\"}}", "x".repeat(20_000)),
    );
    assert_eq!(status, 413, "{body}");
    let (status, _) = http("GET", &format!("{}/api/v1/alarms/kpis?from=0", v.base), "");
    assert_eq!(status, 400, "a KPI range of 56 years");
    v.stop();
}

#[test]
fn the_on_call_engineer_is_notified_acknowledges_through_the_link_and_escalation_stops() {
    let tmp = tempfile::tempdir().unwrap();
    let peer = gateway();
    let hooks = HttpReceiver::start(0);
    let port = free_port();
    // High and critical alarms go to the on-call webhook at once, and to the chief's 3 s
    // later if nobody has acknowledged them.
    let notify = format!(
        r#"
[notify]
public_url = "http://127.0.0.1:{port}"
min_interval = "1s"
[[notify.webhooks]]
id = "oncall"
url = "{oncall}"
format = "generic"
[[notify.webhooks]]
id = "chief"
url = "{chief}"
format = "generic"
[[notify.routes]]
sites = ["PS-01"]
priorities = ["critical", "high"]
levels = [{{ webhooks = ["oncall"] }}, {{ after = "3s", webhooks = ["chief"] }}]
"#,
        oncall = hooks.url("/oncall"),
        chief = hooks.url("/chief"),
    );
    let v = Vigie::start_on(
        &config(tmp.path(), &peer.addr(), &notify),
        &format!("127.0.0.1:{port}"),
    );
    v.wait_polled();
    set_pressure(&peer, 1, 2.5);
    set_pressure(&peer, 2, 2.5);
    let got = eventually(Duration::from_secs(10), "the on-call message", || {
        hooks
            .delivered("/oncall")
            .into_iter()
            .flat_map(|r| {
                let body: Value = serde_json::from_str(r["body"].as_str().unwrap()).unwrap();
                body["notifications"].as_array().unwrap().clone()
            })
            .find(|n| n["alarm_id"] == LOW)
    });
    assert_eq!(got["priority"], "high");
    assert_eq!(got["state"], "active_unacknowledged");
    let ack_url = got["ack_url"].as_str().unwrap().to_string();
    assert!(ack_url.starts_with(&format!("http://127.0.0.1:{port}/api/v1/alarms/")));

    // The engineer acknowledges with the link from the message.
    let (status, body) = http(
        "POST",
        &ack_url,
        &json!({"operator": "amina", "comment": "on my way"}).to_string(),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(v.state(LOW), "active_acknowledged");

    // Nobody acknowledges the fall's rate-of-change alarm (critical): the chief hears of
    // it, not of the acknowledged one. PT-102's medium alarm is routed to no one.
    std::thread::sleep(Duration::from_secs(5));
    let chief: Vec<String> = hooks
        .delivered("/chief")
        .into_iter()
        .flat_map(|r| {
            let body: Value = serde_json::from_str(r["body"].as_str().unwrap()).unwrap();
            body["notifications"].as_array().unwrap().clone()
        })
        .map(|n| n["alarm_id"].as_str().unwrap().to_string())
        .collect();
    assert!(chief.contains(&RATE.to_string()), "{chief:?}");
    assert!(!chief.contains(&LOW.to_string()), "{chief:?}");
    let everything = format!("{:?}", hooks.requests());
    assert!(
        !everything.contains(LOW_2),
        "a medium alarm was routed: {everything}"
    );
    let metrics = http("GET", &format!("{}/metrics", v.base), "").1;
    assert!(
        !metrics.contains("vigie_notifications_sent_total 0"),
        "{metrics}"
    );
    v.stop();
}
