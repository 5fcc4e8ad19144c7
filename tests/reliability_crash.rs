//! vigie killed with SIGKILL at random moments while it polls, writes InfluxDB, keeps an
//! active alarm, notifies and holds an incident: after each restart nothing a user would see
//! is lost or duplicated (issue 6). Real parts: pymodbus, InfluxDB 1.x, an HTTP receiver.
//!
//! InfluxDB is stopped for five of the runs, so some kills land while batches are spooled
//! and others while the spool is replayed.
//!
//! The promise checked for samples: every sample the API has shown before a kill is in
//! InfluxDB afterwards, with every poll slot before it since that run's first poll (the drain
//! writes a pass's lines to the spool before the API shows them).

mod support;

use rand::Rng;
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::time::Duration;
use support::receivers::HttpReceiver;
use support::vigie::VigieChild;
use support::{InfluxV1, ModbusPeer, eventually, free_port, http, request, try_request};

const KILLS: usize = 20;
const DEVICES: [&str; 3] = ["M1", "M2", "M3"];
const POLL_NS: i64 = 500_000_000;
const ALARM: &str = "SUB:M1:voltage_l1_v:high";

/// Three SDM630s (units 1-3) reading voltage_l1_v = 230.5 V.
fn peer() -> ModbusPeer {
    let bits = 230.5f32.to_bits();
    let (hi, lo) = ((bits >> 16) as u16, bits as u16);
    let unit = json!({"input": {"0": hi, "1": lo}});
    ModbusPeer::start(&json!({"units": {"1": unit, "2": unit, "3": unit}}))
}

fn config(dir: &Path, modbus: &str, influx: &InfluxV1, hook: &str) -> String {
    let profiles = Path::new(env!("CARGO_MANIFEST_DIR")).join("plc-profiles");
    let devices: Vec<String> = DEVICES
        .iter()
        .enumerate()
        .map(|(i, d)| {
            format!(
                "{{ id = \"{d}\", profile = \"eastron-sdm630\", address = \"{modbus}\", unit_id = {}, poll_interval = \"500ms\", timeout = \"400ms\" }}",
                i + 1
            )
        })
        .collect();
    format!(
        r#"[daemon]
profiles_dir = {profiles:?}
data_dir = {data:?}
[influxdb]
url = "{url}"
api = "v1"
database = "{db}"
flush_interval = "1s"
max_retries = 1
timeout = "2s"
[[sites]]
id = "SUB"
kind = "substation"
devices = [{devices}]
[[sites.alarms]]
device = "M1"
point = "voltage_l1_v"
high = {{ limit = 200.0, priority = "high" }}
[notify]
public_url = "http://127.0.0.1:1"
[[notify.webhooks]]
id = "oncall"
url = "{hook}"
format = "generic"
[[notify.routes]]
priorities = ["high"]
levels = [{{ webhooks = ["oncall"] }}]
"#,
        data = dir.join("var"),
        url = influx.url,
        db = influx.db,
        devices = devices.join(", "),
    )
}

fn get(base: &str, path: &str) -> Value {
    let (status, body) = http("GET", &format!("{base}{path}"), "");
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
}

/// The last sample time the API shows for each device's voltage_l1_v, when good.
fn shown(base: &str) -> HashMap<String, i64> {
    let points = get(base, "/api/v1/points");
    points
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["point"] == "voltage_l1_v" && p["quality"] == "good")
        .map(|p| {
            (
                p["device"].as_str().unwrap().to_string(),
                p["time_ns"].as_i64().unwrap(),
            )
        })
        .collect()
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

fn incident(base: &str) -> (u16, Value) {
    let body = json!({"title": "Crash test", "priority": "low", "site": "SUB", "actor": "test"});
    let r = request(
        "POST",
        &format!("{base}/api/v1/incidents"),
        &[
            ("Idempotency-Key", "crash-test-1"),
            ("Content-Type", "application/json"),
        ],
        body.to_string().as_bytes(),
    );
    (r.status, r.json())
}

/// One run of vigie: when it started (wall clock) and what its API showed before it died.
struct Run {
    started_ns: i64,
    shown: HashMap<String, i64>,
}

#[test]
fn twenty_kill_9s_lose_and_duplicate_nothing_a_user_would_see() {
    let tmp = tempfile::tempdir().unwrap();
    let modbus = peer();
    let mut influx = InfluxV1::start();
    let hooks = HttpReceiver::start(0);
    let cfg = tmp.path().join("vigie.toml");
    std::fs::write(
        &cfg,
        config(tmp.path(), &modbus.addr(), &influx, &hooks.url("/oncall")),
    )
    .unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let base = format!("http://{listen}");
    let args = ["run", "-c", cfg.to_str().unwrap(), "--listen", &listen];
    let mut rng = rand::rng();
    let mut runs = Vec::new();
    let mut state_before_kill: Option<Value> = None;
    let mut incident_id = None;
    let (mut history, mut incidents) = (Value::Null, Value::Null);

    for i in 0..=KILLS {
        let mut v = VigieChild::spawn(&args, tmp.path());
        let started_ns = now_ns();
        eventually(Duration::from_secs(20), "vigie ready", || {
            v.assert_running("starting");
            try_request("GET", &format!("{base}/ready"), &[], b"")
                .is_ok_and(|r| r.status == 200)
                .then_some(())
        });
        // The alarm comes back exactly as it was: active, acknowledged once acked.
        let alarm = get(&base, &format!("/api/v1/alarms/{ALARM}"));
        if let Some(before) = &state_before_kill {
            assert_eq!(
                alarm["state"], *before,
                "run {i}: the alarm's state changed"
            );
        }
        // InfluxDB is down for runs 8 to 12: kills land while batches go to the spool, and
        // while it is replayed afterwards.
        match i {
            8 => influx.stop(),
            13 => influx.restart(),
            _ => {}
        }
        match i {
            1 => {
                let (status, created) = incident(&base);
                assert_eq!(status, 201, "{created}");
                incident_id = created["id"].as_i64();
            }
            3 => {
                let (status, body) = http(
                    "POST",
                    &format!("{base}/api/v1/alarms/{ALARM}/ack"),
                    &json!({"operator": "amina", "comment": "seen"}).to_string(),
                );
                assert_eq!(status, 200, "{body}");
            }
            // The client retries its request after the crash: the same incident answers.
            i if i > 1 => {
                let (status, again) = incident(&base);
                assert_eq!(
                    (status, again["id"].as_i64()),
                    (200, incident_id),
                    "{again}"
                );
            }
            _ => {}
        }
        if i == KILLS {
            // The last run ends with SIGTERM once the spool has drained.
            eventually(Duration::from_secs(60), "the spool to drain", || {
                let m = http("GET", &format!("{base}/metrics"), "").1;
                m.lines()
                    .any(|l| l == "vigie_spool_backlog_batches 0")
                    .then_some(())
            });
            std::thread::sleep(Duration::from_millis(1500));
            history = get(
                &base,
                &format!("/api/v1/alarms/history?alarm={ALARM}&limit=1000"),
            );
            incidents = get(&base, "/api/v1/incidents");
            let shown = shown(&base);
            v.terminate();
            let status = v.wait_exit(Duration::from_secs(30), "vigie to stop on SIGTERM");
            assert!(status.success(), "{status}\n{}", v.output());
            runs.push(Run { started_ns, shown });
            break;
        }
        // A random moment: while polling, batching, flushing or writing.
        std::thread::sleep(Duration::from_millis(rng.random_range(300..2500)));
        state_before_kill = Some(get(&base, &format!("/api/v1/alarms/{ALARM}"))["state"].clone());
        let shown = shown(&base);
        drop(v); // SIGKILL
        runs.push(Run { started_ns, shown });
    }

    // Samples: every slot of every run, up to what the API showed, is in InfluxDB.
    let (mut expected, mut found, mut start_delay_max) = (0usize, 0usize, 0i64);
    for d in DEVICES {
        let rows = influx.values(&format!(
            "SELECT voltage_l1_v FROM telemetry WHERE device = '{d}' ORDER BY time"
        ));
        let times: BTreeSet<i64> = rows.iter().map(|r| r[0].as_i64().unwrap()).collect();
        assert!(rows.iter().all(|r| r[1] == json!(230.5)), "{d}: {rows:?}");
        assert!(
            times.iter().all(|t| t % POLL_NS == 0),
            "{d}: a time off the poll grid"
        );
        for (k, run) in runs.iter().enumerate() {
            let last = *run
                .shown
                .get(d)
                .unwrap_or_else(|| panic!("run {k}: the API showed no sample of {d}"));
            let first = *times
                .range(run.started_ns..)
                .next()
                .unwrap_or_else(|| panic!("run {k}: nothing of {d} in InfluxDB"));
            start_delay_max = start_delay_max.max(first - run.started_ns);
            let mut t = first;
            while t <= last {
                expected += 1;
                if times.contains(&t) {
                    found += 1;
                } else {
                    panic!("run {k}: {d}'s sample at {t} was shown by the API, then lost");
                }
                t += POLL_NS;
            }
        }
    }
    eprintln!(
        "kill -9 x{KILLS}: samples expected {expected}, found {found}; first poll at most {} ms after each start",
        start_delay_max / 1_000_000
    );
    assert_eq!(expected, found);
    assert!(
        start_delay_max < 5_000_000_000,
        "a restart took {start_delay_max} ns to poll"
    );

    // The alarm was raised once and acknowledged once, whatever the kills; one incident.
    let events = history["events"].as_array().expect("history events");
    let ours = |to: &str| {
        events
            .iter()
            .filter(|e| e["alarm_id"] == ALARM && e["to_state"] == to)
            .count()
    };
    assert_eq!(ours("active_unacknowledged"), 1, "{events:?}");
    assert_eq!(ours("active_acknowledged"), 1, "{events:?}");
    let incidents = incidents["incidents"].as_array().expect("incidents");
    assert_eq!(incidents.len(), 1, "{incidents:?}");

    // Notifications: the raise reached the on-call webhook in one message; a message sent
    // again after a kill (delivered, not yet recorded) carries the same message_id, so the
    // receiver can drop it.
    let mut deliveries: HashMap<String, usize> = HashMap::new();
    let mut raise_messages = BTreeSet::new();
    for r in hooks.delivered("/oncall") {
        let body: Value = serde_json::from_str(r["body"].as_str().unwrap()).unwrap();
        let id = body["message_id"].as_str().unwrap().to_string();
        *deliveries.entry(id.clone()).or_default() += 1;
        if body["notifications"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["alarm_id"] == ALARM && n["state"] == "active_unacknowledged")
        {
            raise_messages.insert(id);
        }
    }
    let resent: usize = deliveries.values().map(|n| n - 1).sum();
    eprintln!(
        "notifications: {} messages, {resent} delivered again with the same id",
        deliveries.len()
    );
    assert_eq!(raise_messages.len(), 1, "{raise_messages:?}");
}
