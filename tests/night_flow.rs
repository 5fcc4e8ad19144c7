//! Minimum night flow end to end: a pymodbus gateway with two MAG 8000 flow meters (one
//! feeding the zone, one passing water on) → vigie's poller → the night-flow stage → Debian's
//! `influxd` 1.x and the `night_flow` table → the correlator. The "night" is a 16 s window
//! set around now, with 2 s buckets; the zone's previous nights are seeded low, so the
//! night rises, and three consumption alerts of the zone become a leak-suspected incident
//! (the alerts `unsupervised_cluster`: a rise does not explain customers' bills).

mod support;

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;
use support::daemon::{InProcess, load_config};
use support::{InfluxV1, ModbusPeer, eventually};
use vigie::correlate::night_flow::store::{NightFlowStore, NightRow};

/// The MAG 8000's flow (f32 ABCD at holding 3002; plc-profiles/siemens-mag8000.toml).
const FLOW_REGISTER: u16 = 3002;
const BUCKET_S: i64 = 2;
const S: i64 = 1_000_000_000;

fn f32_words(v: f32) -> [u16; 2] {
    let b = v.to_be_bytes();
    [
        u16::from_be_bytes([b[0], b[1]]),
        u16::from_be_bytes([b[2], b[3]]),
    ]
}

fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `HH:MM:SS` (UTC) of a Unix time in seconds.
fn hms(t: i64) -> String {
    let s = t.rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

fn network(
    tmp: &Path,
    gateway: &str,
    influx: &InfluxV1,
    start: i64,
    end: i64,
) -> vigie::config::Network {
    let text = format!(
        r#"
[daemon]
profiles_dir = {profiles:?}
data_dir = {data:?}
[influxdb]
url = "{url}"
api = "v1"
database = "{db}"
flush_interval = "200ms"
[correlate]
interval = "1s"
[correlate.night_flow]
window_start = "{start}"
window_end = "{end}"
time_zone = "UTC"
bucket = "{BUCKET_S}s"
settle = "1s"
min_baseline_nights = 3
[[zones]]
id = "Z-TEST"
utility = "water"
fed_by = ["PS-01"]
inflow = [
  {{ site = "PS-01", device = "FT-IN", point = "flow_m3_per_h" }},
  {{ site = "PS-01", device = "FT-OUT", point = "flow_m3_per_h", direction = "out" }},
]
[[sites]]
id = "PS-01"
kind = "pumping_station"
devices = [
  {{ id = "FT-IN", profile = "siemens-mag8000", address = "{gateway}", unit_id = 1, poll_interval = "250ms", timeout = "200ms" }},
  {{ id = "FT-OUT", profile = "siemens-mag8000", address = "{gateway}", unit_id = 2, poll_interval = "250ms", timeout = "200ms" }},
]
"#,
        profiles = Path::new(env!("CARGO_MANIFEST_DIR")).join("plc-profiles"),
        data = tmp.join("var"),
        url = influx.url,
        db = influx.db,
        start = hms(start),
        end = hms(end),
    );
    load_config(tmp, &text)
}

/// Three previous nights with an MNF of 2 m³/h.
fn seed_baseline(data_dir: &Path, window_start_s: i64) {
    std::fs::create_dir_all(data_dir).unwrap();
    let store = NightFlowStore::open(data_dir).unwrap();
    for d in 1..=3 {
        let start = (window_start_s - d * 86_400) * S;
        store
            .put(&NightRow {
                zone: "Z-TEST".into(),
                night: format!("seed-{d}"),
                start_ns: start,
                end_ns: start + 16 * S,
                mnf_m3_per_h: 2.0,
                coverage: 1.0,
                baseline_m3_per_h: None,
                rising: false,
            })
            .unwrap();
    }
}

fn alert(n: usize) -> Value {
    let day = |ago: i64| {
        let t = std::time::UNIX_EPOCH + Duration::from_secs((now_s() - ago * 86_400) as u64);
        humantime::format_rfc3339(t).to_string()[..10].to_string()
    };
    json!({
        "alert_id": format!("CRM-{n}"), "customer_ref": format!("C-{n}"),
        "meter_id": format!("W-{n}"), "utility": "water", "zone": "Z-TEST",
        "period_start": day(30), "period_end": day(0),
        "consumption": 80.0, "reference_consumption": 20.0, "unit": "m3"
    })
}

/// Mean per bucket of one device's telemetry: bucket start (ns) → mean.
fn bucket_means(rows: &[Vec<Value>]) -> BTreeMap<i64, f64> {
    let mut acc: BTreeMap<i64, (f64, u32)> = BTreeMap::new();
    for r in rows {
        let (Some(t), Some(v)) = (r[0].as_i64(), r[1].as_f64()) else {
            continue;
        };
        let e = acc.entry(t - t.rem_euclid(BUCKET_S * S)).or_default();
        e.0 += v;
        e.1 += 1;
    }
    acc.into_iter()
        .map(|(k, (s, n))| (k, s / f64::from(n)))
        .collect()
}

#[test]
fn a_nights_minimum_inflow_is_written_stored_and_rises_into_a_leak_incident() {
    // A window within one UTC day, starting on a bucket boundary 8-10 s from now.
    while hms(now_s() + 60) < hms(now_s()) {
        std::thread::sleep(Duration::from_secs(5));
    }
    let tmp = tempfile::tempdir().unwrap();
    let influx = InfluxV1::start();
    let served = [30.0_f32, 22.0, 17.5, 25.0];
    let out = 5.0_f32;
    let (w_in, w_out) = (f32_words(served[0]), f32_words(out));
    let unit = |w: [u16; 2]| json!({"holding": {"3002": w[0], "3003": w[1]}});
    let peer = ModbusPeer::start(&json!({"units": {"1": unit(w_in), "2": unit(w_out)}}));
    let start = (now_s() + 8) / BUCKET_S * BUCKET_S + BUCKET_S;
    let end = start + 16;
    seed_baseline(&tmp.path().join("var"), start);
    let v = InProcess::start(&network(tmp.path(), &peer.addr(), &influx, start, end));

    // The inflow meter cycles through `served`, 3 s each, until after the window.
    for i in 0.. {
        if now_s() > end + 2 {
            break;
        }
        peer.set_holding(1, FLOW_REGISTER, &f32_words(served[i % served.len()]));
        std::thread::sleep(Duration::from_secs(3));
    }

    // One MNF point, at the window's start.
    let mnf = eventually(
        Duration::from_secs(20),
        "the night's MNF in InfluxDB",
        || {
            let rows = influx
                .values("SELECT min_night_flow_m3_per_h FROM zone_flow WHERE zone = 'Z-TEST'");
            (!rows.is_empty()).then_some(rows)
        },
    );
    assert_eq!(mnf.len(), 1, "{mnf:?}");
    assert_eq!(mnf[0][0].as_i64(), Some(start * S));
    let mnf = mnf[0][1].as_f64().unwrap();

    // Every bucket's inflow is FT-IN's mean minus FT-OUT's over the samples vigie wrote.
    let flows: BTreeMap<i64, f64> = influx
        .values("SELECT inflow_m3_per_h FROM zone_flow WHERE zone = 'Z-TEST'")
        .iter()
        .filter_map(|r| Some((r[0].as_i64()?, r[1].as_f64()?)))
        .collect();
    let tele = |d: &str| {
        influx.values(&format!(
            "SELECT flow_m3_per_h FROM telemetry WHERE device = '{d}'"
        ))
    };
    let (t_in, t_out) = (tele("FT-IN"), tele("FT-OUT"));
    for r in &t_in {
        let x = r[1].as_f64().unwrap() as f32;
        assert!(served.contains(&x), "FT-IN read {x}, never served");
    }
    assert!(t_out.iter().all(|r| r[1].as_f64() == Some(f64::from(out))));
    let (m_in, m_out) = (bucket_means(&t_in), bucket_means(&t_out));
    let in_window: Vec<f64> = flows
        .iter()
        .filter(|(t, _)| **t >= start * S && **t + BUCKET_S * S <= end * S)
        .map(|(_, f)| *f)
        .collect();
    assert_eq!(in_window.len(), 8, "every bucket of the window: {flows:?}");
    for (t, f) in &flows {
        let (Some(a), Some(b)) = (m_in.get(t), m_out.get(t)) else {
            panic!("bucket {t} has no telemetry");
        };
        assert!((f - (a - b)).abs() < 1e-6, "bucket {t}: {f} vs {a} - {b}");
    }
    let expected = in_window.iter().copied().fold(f64::INFINITY, f64::min);
    assert_eq!(mnf, expected);
    // The lowest served value (17.5 − 5) held for a whole bucket at least once.
    assert!((12.5..20.0).contains(&mnf), "{mnf}");

    // Three alerts of the zone and the rising night: a leak-suspected incident.
    let batch: Vec<Value> = (0..3).map(alert).collect();
    let (status, body) = v.call(
        "POST",
        "/api/v1/consumption-alerts",
        &[],
        Some(&json!(batch)),
    );
    assert_eq!(status, 200, "{body}");
    let incident = eventually(Duration::from_secs(15), "the leak incident", || {
        let (_, list) = v.call("GET", "/api/v1/incidents", &[], None);
        list["incidents"].as_array()?.first().cloned()
    });
    assert_eq!(
        incident["title"],
        "Rising minimum night flow in zone Z-TEST (leak suspected)"
    );
    assert_eq!(incident["priority"], "medium");
    let mut linked: Vec<&str> = incident["links"]["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    linked.sort_unstable();
    assert_eq!(linked, ["CRM-0", "CRM-1", "CRM-2"], "{incident}");
    // Flagged for engineers, not explained: a network leak does not raise bills.
    let (_, alerts) = v.call("GET", "/api/v1/consumption-alerts?zone=Z-TEST", &[], None);
    for a in alerts["alerts"].as_array().unwrap() {
        assert_eq!(a["classification"], "unsupervised_cluster", "{a}");
    }
    // The alerts the rise links open no second ("Suspected network anomaly") incident.
    let (_, list) = v.call("GET", "/api/v1/incidents", &[], None);
    assert_eq!(list["incidents"].as_array().unwrap().len(), 1, "{list}");
    v.stop();

    // The night is stored, judged against the seeded baseline.
    let store = NightFlowStore::open(&tmp.path().join("var")).unwrap();
    let nights = store.nights(Some("Z-TEST")).unwrap();
    let night = nights.last().unwrap();
    assert_eq!(nights.len(), 4);
    assert_eq!(night.start_ns, start * S);
    assert_eq!(night.end_ns, end * S);
    assert_eq!((night.mnf_m3_per_h, night.coverage), (mnf, 1.0));
    assert_eq!(night.baseline_m3_per_h, Some(2.0));
    assert!(night.rising);
}

/// `vigie check` names the file, line and key of a bad `[correlate.night_flow]`, and the
/// README's example of the section is valid.
#[test]
fn night_flow_config_errors_name_their_keys_and_the_readme_example_is_valid() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("vigie.toml");
    std::fs::write(
        &path,
        "[correlate.night_flow]\nwindow_start = \"04:00\"\nwindow_end = \"02:00\"\n\
         time_zone = \"Mars/Olympus\"\nrise_ratio = 0.9\n",
    )
    .unwrap();
    let errors = vigie::config::load(&path, Some(Default::default())).unwrap_err();
    let found: Vec<(Option<usize>, &str)> =
        errors.iter().map(|e| (e.line, e.key.as_str())).collect();
    for (line, key) in [
        (3, "correlate.night_flow.window_end"),
        (4, "correlate.night_flow.time_zone"),
        (5, "correlate.night_flow.rise_ratio"),
    ] {
        assert!(
            found.contains(&(Some(line), key)),
            "{key} at line {line}: {errors:?}"
        );
    }
    std::fs::write(&path, "[correlate.night_flow]\nwindow_start = \"2h\"\n").unwrap();
    let errors = vigie::config::load(&path, Some(Default::default())).unwrap_err();
    assert!(
        errors
            .iter()
            .any(|e| e.message.contains("invalid local time \"2h\"")),
        "{errors:?}"
    );

    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let section = readme
        .split("\n## Minimum night flow\n")
        .nth(1)
        .and_then(|s| s.split("```toml\n").nth(1))
        .and_then(|s| s.split("```").next())
        .expect("README has a toml block in \"Minimum night flow\"");
    std::fs::write(&path, section).unwrap();
    let n =
        vigie::config::load(&path, Some(Default::default())).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(
        n.config.correlate.night_flow,
        vigie::correlate::night_flow::config::NightFlowConfig::default()
    );
}
