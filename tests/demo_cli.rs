//! `vigie demo` as a child process: its API, its summary lines, its disk spool, and its
//! writes to real time-series databases (Debian's InfluxDB 1.6 through the v1 write API,
//! VictoriaMetrics through the v2 write API).
//!
//! The demo's scripted faults start at 3 minutes: within these runs every point is good.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use support::vigie::VigieChild;
use support::{InfluxV1, VictoriaMetrics, eventually, try_request};

const REPO: &str = env!("CARGO_MANIFEST_DIR");
/// Start-up, first polls, first writes: generous for a loaded 2-core machine.
const WAIT: Duration = Duration::from_secs(90);

// ---------------------------------------------------------------------------
// The demo child process
// ---------------------------------------------------------------------------

/// A running demo: the process, its API base URL and its data folder.
struct Demo {
    process: VigieChild,
    api: String,
    data: tempfile::TempDir,
    /// The `token ROLE VALUE` lines the demo printed: role → token.
    tokens: std::collections::HashMap<String, String>,
}

impl Demo {
    /// `vigie demo --listen 127.0.0.1:FREE --data-dir TMP EXTRA...` from the repository
    /// root (for `plc-profiles/`); waits until `/health` answers 200.
    fn start(extra: &[&str]) -> Demo {
        let data = tempfile::Builder::new()
            .prefix("vigie-demo-")
            .tempdir()
            .expect("temp dir");
        let listen = format!("127.0.0.1:{}", support::free_port());
        let mut args = vec![
            "demo",
            "--listen",
            &listen,
            "--data-dir",
            data.path().to_str().expect("utf-8 temp path"),
        ];
        args.extend_from_slice(extra);
        let process = VigieChild::spawn_with_env(&args, Path::new(REPO), &[("RUST_LOG", "info")]);
        let mut demo = Demo {
            process,
            api: format!("http://{listen}"),
            data,
            tokens: Default::default(),
        };
        let health = format!("{}/health", demo.api);
        eventually(WAIT, "the demo's /health", || {
            demo.process.assert_running("waiting for /health");
            match try_request("GET", &health, &[], b"") {
                Ok(r) if r.status == 200 => Some(()),
                _ => None,
            }
        });
        let tokens = eventually(WAIT, "the demo's four `token ROLE VALUE` lines", || {
            let tokens: std::collections::HashMap<String, String> = demo
                .process
                .stdout()
                .iter()
                .filter_map(|l| match l.split(' ').collect::<Vec<_>>()[..] {
                    ["token", role, value] => Some((role.to_string(), value.to_string())),
                    _ => None,
                })
                .collect();
            (tokens.len() == 4).then_some(tokens)
        });
        demo.tokens = tokens;
        demo
    }

    /// `GET path` of the API with the viewer's token: status and body (panics when it
    /// cannot connect).
    fn get(&self, path: &str) -> (u16, String) {
        self.get_as("viewer", path)
    }

    /// `GET path` with the token of `role`.
    fn get_as(&self, role: &str, path: &str) -> (u16, String) {
        let auth = format!("Bearer {}", self.tokens[role]);
        let r = support::request(
            "GET",
            &format!("{}{path}", self.api),
            &[("Authorization", &auth)],
            b"",
        );
        (r.status, r.body)
    }

    /// `GET /api/v1/points`.
    fn points(&self) -> Vec<Value> {
        let (status, body) = self.get("/api/v1/points");
        assert_eq!(status, 200, "/api/v1/points: {body}");
        let v: Value = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("/api/v1/points is not JSON ({e}): {body}"));
        v.as_array()
            .unwrap_or_else(|| panic!("/api/v1/points is not an array: {body}"))
            .clone()
    }

    /// `vigie demo --duration 300s --summary-every 2 --influx-url URL --influx-api API
    /// OPTIONS...` (see [`Demo::start`]), writing to the database at `url` through its
    /// write API `api` (`v1` or `v2`) with that API's `options`; waits until the API lists
    /// exactly the points in `expected`, all good.
    fn start_writing(url: &str, api: &str, options: &[&str], expected: &BTreeSet<Key>) -> Demo {
        let mut args = vec![
            "--duration",
            "300s",
            "--summary-every",
            "2",
            "--influx-url",
            url,
            "--influx-api",
            api,
        ];
        args.extend_from_slice(options);
        let mut demo = Demo::start(&args);
        demo.wait_all_good(expected);
        demo
    }

    /// Waits until the API lists exactly the demo's points, all good; returns them.
    fn wait_all_good(&mut self, expected: &BTreeSet<Key>) -> Vec<Value> {
        eventually(WAIT, "every demo point good in /api/v1/points", || {
            self.process
                .assert_running("waiting for every point to be good");
            let points = self.points();
            let keys: BTreeSet<Key> = points.iter().map(key_of).collect();
            let all_good = points.iter().all(|p| p["quality"] == "good");
            (keys == *expected && all_good && points.len() == expected.len()).then_some(points)
        })
    }
}

/// (site, device, point).
type Key = (String, String, String);

fn key_of(p: &Value) -> Key {
    let s = |k: &str| {
        p[k].as_str()
            .unwrap_or_else(|| panic!("point without {k}: {p}"))
            .to_string()
    };
    (s("site"), s("device"), s("point"))
}

/// Every (site, device, point) of the demo, from its embedded configuration and the
/// repository's profiles (the simulator's addresses do not matter here).
fn demo_points() -> BTreeSet<Key> {
    let sim = vigie::sim::SimConfig::parse(Path::new("demo/sim.toml"), vigie::demo::SIM_TOML)
        .expect("the embedded sim.toml parses");
    let bound: Vec<(String, SocketAddr)> = sim
        .servers
        .iter()
        .enumerate()
        .map(|(k, s)| {
            (
                s.name.clone(),
                SocketAddr::from(([127, 0, 0, 1], 5020 + k as u16)),
            )
        })
        .collect();
    let text = vigie::demo::vigie_toml(&bound, Path::new("/tmp/unused"));
    let profiles = Path::new(REPO).join("plc-profiles");
    let network =
        vigie::config::check::from_text(Path::new("demo/vigie.toml"), &text, Some(&profiles))
            .unwrap_or_else(|errors| {
                panic!(
                    "the embedded vigie.toml does not check: {}",
                    errors
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; ")
                )
            });
    let mut keys = BTreeSet::new();
    for site in &network.config.sites {
        for device in &site.devices {
            for p in &network.profiles[&device.profile].points {
                keys.insert((site.id.clone(), device.id.clone(), p.name.clone()));
            }
        }
    }
    keys
}

/// The demo's (site, device) pairs.
fn demo_devices(points: &BTreeSet<Key>) -> BTreeSet<(String, String)> {
    points
        .iter()
        .map(|(s, d, _)| (s.clone(), d.clone()))
        .collect()
}

// ---------------------------------------------------------------------------
// (a) API, summary lines, exit, spool
// ---------------------------------------------------------------------------

#[test]
fn demo_serves_every_point_good_and_exits_after_its_duration() {
    let expected = demo_points();
    assert!(expected.len() > 100, "demo points: {expected:?}");
    let mut demo = Demo::start(&["--duration", "25s", "--summary-every", "2"]);

    let points = demo.wait_all_good(&expected);
    for site in ["PS-01", "SS-12", "BH-03"] {
        let n = points.iter().filter(|p| p["site"] == site).count();
        assert!(n > 0, "no point of site {site}");
    }
    for p in &points {
        assert!(p["reason"].is_null(), "a good point has no bad reason: {p}");
        assert!(!p["value"].is_null(), "a good point has a value: {p}");
        let t = p["time_ns"]
            .as_u64()
            .unwrap_or_else(|| panic!("time_ns: {p}"));
        assert_eq!(
            t % 1_000_000_000,
            0,
            "samples sit on the 1 s poll grid: {p}"
        );
    }
    let pt = points
        .iter()
        .find(|p| p["site"] == "PS-01" && p["device"] == "PT-101" && p["point"] == "pressure_bar")
        .expect("PS-01/PT-101/pressure_bar");
    assert_eq!(pt["unit"], "bar");
    let bar = pt["value"].as_f64().expect("pressure is a number");
    assert!((0.2..=6.0).contains(&bar), "discharge pressure {bar} bar");

    // One point with its short history.
    let (status, body) = demo.get("/api/v1/points/PS-01/PT-101/pressure_bar");
    assert_eq!(status, 200, "{body}");
    let one: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(one["quality"], "good", "{body}");
    let history = one["history"].as_array().expect("history array");
    assert!(!history.is_empty(), "{body}");
    let times: Vec<u64> = history
        .iter()
        .map(|h| h["time_ns"].as_u64().expect("history time_ns"))
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] < w[1]),
        "history in time order: {body}"
    );
    let (status, body) = demo.get("/api/v1/points/PS-01/PT-101/no_such_point");
    assert_eq!(status, 404, "{body}");

    // The demo's API asks for the tokens it printed, as `vigie run` with tokens does.
    let url = format!("{}/api/v1/points", demo.api);
    let r = support::request("GET", &url, &[], b"");
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(r.header("www-authenticate"), Some("Bearer realm=\"vigie\""));
    assert!(
        r.json()["error"].as_str().unwrap().contains("no token"),
        "{}",
        r.body
    );
    let (status, body) = demo.get_as("crm", "/api/v1/points");
    assert_eq!(
        status, 403,
        "the CRM reads outages, not live points: {body}"
    );
    let (status, body) = demo.get_as("crm", "/api/v1/outages?zone=Z-NORTH");
    assert_eq!(status, 200, "{body}");

    // Prometheus metrics, open to the scraper.
    let (status, metrics) = support::http("GET", &format!("{}/metrics", demo.api), "");
    assert_eq!(status, 200, "{metrics}");
    assert!(
        metrics
            .lines()
            .any(|l| l == r#"vigie_device_up{site="PS-01",device="P1"} 1"#),
        "{metrics}"
    );
    for (site, device) in demo_devices(&expected) {
        let line = format!(r#"vigie_device_up{{site="{site}",device="{device}"}} 1"#);
        assert!(
            metrics.lines().any(|l| l == line),
            "no {line} in:\n{metrics}"
        );
    }
    assert!(
        metrics.contains("# TYPE vigie_ring_buffer_overflow_total counter"),
        "{metrics}"
    );
    let overflow: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("vigie_ring_buffer_overflow_total"))
        .collect();
    assert!(!overflow.is_empty(), "{metrics}");
    for l in &overflow {
        assert!(l.ends_with(" 0"), "no overflow in the demo: {l}");
    }

    // It stops by itself after --duration, successfully.
    let status = demo
        .process
        .wait_exit(WAIT, "the demo to stop after --duration 25s");
    assert!(
        status.success(),
        "demo exited {status}\n{}",
        demo.process.output()
    );

    // Summary lines every 2 s: sites up, points good.
    let stdout = demo.process.stdout();
    let summaries: Vec<&String> = stdout.iter().filter(|l| l.starts_with("sites ")).collect();
    assert!(
        summaries.len() >= 3,
        "summary lines every 2 s for 25 s:\n{}",
        demo.process.output()
    );
    for l in &summaries {
        assert!(l.starts_with("sites up "), "summary line {l:?}");
        assert!(l.contains(" | points good "), "summary line {l:?}");
    }
    let devices = demo_devices(&expected).len();
    let all_good = format!(
        "sites up 3/3 | devices up {devices}/{devices} | points good {0}/{0} |",
        expected.len()
    );
    assert!(
        summaries.iter().any(|l| l.starts_with(&all_good)),
        "no summary line starts with {all_good:?}:\n{}",
        demo.process.output()
    );
    let last = summaries.last().unwrap();
    assert!(
        last.starts_with("sites up 3/3"),
        "last summary {last:?}\n{}",
        demo.process.output()
    );

    assert!(
        last.contains("| no InfluxDB, spool "),
        "last summary {last:?}"
    );

    // No InfluxDB given: every sample went to the spool, as line protocol.
    let spool = demo.data.path().join("spool");
    let files: Vec<_> = std::fs::read_dir(&spool)
        .unwrap_or_else(|e| panic!("{}: {e}", spool.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "lp"))
        .collect();
    assert!(!files.is_empty(), "no .lp file in {}", spool.display());
    let text: String = files
        .iter()
        .map(|f| std::fs::read_to_string(f).expect("read spool file"))
        .collect();
    let pressure_lines: Vec<&str> = text
        .lines()
        .filter(|l| {
            l.starts_with("telemetry,")
                && l.contains("site=PS-01")
                && l.contains("device=PT-101,")
                && l.contains("kind=pumping_station")
                && l.contains(" pressure_bar=")
        })
        .collect();
    assert!(
        pressure_lines.len() >= 5,
        "PT-101 telemetry lines in the spool: {pressure_lines:?}"
    );
    for l in pressure_lines {
        let ts: u64 = l
            .rsplit(' ')
            .next()
            .and_then(|t| t.parse().ok())
            .unwrap_or_else(|| panic!("no timestamp in {l:?}"));
        assert_eq!(ts % 1_000_000_000, 0, "whole-second timestamp: {l}");
    }
    assert!(
        text.lines().any(|l| l.starts_with("device_status,")),
        "device_status lines in the spool"
    );
}

/// Issue 4's demo: the scripted burst becomes one incident linking the burst's alarms and
/// the 20 alerts the CRM stand-in posts for Z-NORTH, marked explained; the lone alert of
/// quiet Z-SOUTH is customer_side. Printed as it happens, and served by the API.
#[test]
fn demo_shows_the_burst_becoming_one_incident_with_its_customers_alerts() {
    let mut demo = Demo::start(&["--first-fault", "5s", "--duration", "60s"]);
    let incident = demo.process.wait_line(
        Duration::from_secs(50),
        "the burst's incident in the demo's output",
        |l| {
            (l.starts_with("incident #") && l.contains("Z-NORTH") && l.contains("20 alert(s)"))
                .then(|| l.to_string())
        },
    );
    assert!(incident.contains("(correlation, critical)"), "{incident}");
    // The correlator stores the incident, then the alerts' classes (each names its
    // incident), so the console may print the classes one tick (1 s) after the incident.
    demo.process.wait_line(
        Duration::from_secs(5),
        "the burst's alerts classified",
        |l| (l == "alerts classified: 20 in Z-NORTH explained_by_network_event").then_some(()),
    );
    let (status, body) = demo.get("/api/v1/incidents");
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    let list = v["incidents"].as_array().unwrap();
    assert_eq!(list.len(), 1, "one incident: {body}");
    assert_eq!(list[0]["zone"], "Z-NORTH");
    assert_eq!(list[0]["links"]["alerts"].as_array().unwrap().len(), 20);
    // The burst's pressure alarms, and nothing but PS-01's: around 13:00 UTC, when the
    // simulated reservoir is at its daily low (src/sim/physics.rs, a function of the time of
    // day), the burst also takes LT-201 under its low limit, and that alarm of the same
    // station joins the incident if it comes before the correlation pass.
    let alarms: Vec<&str> = list[0]["links"]["alarms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(
        alarms
            .iter()
            .any(|a| a.starts_with("PS-01:PT-101:pressure_bar:")),
        "{body}"
    );
    assert!(
        alarms
            .iter()
            .all(|a| a.starts_with("PS-01:PT-101:pressure_bar:")
                || a.starts_with("PS-01:LT-201:level_m:")),
        "{body}"
    );
    let (_, body) = demo.get("/api/v1/consumption-alerts?zone=Z-NORTH");
    let v: Value = serde_json::from_str(&body).unwrap();
    let alerts = v["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 20);
    assert!(
        alerts
            .iter()
            .all(|a| a["classification"] == "explained_by_network_event"),
        "{body}"
    );
    demo.process.wait_line(
        Duration::from_secs(5),
        "the quiet zone's alert classified",
        |l| (l == "alerts classified: 1 in Z-SOUTH customer_side").then_some(()),
    );
    let out = demo.process.stdout().join("\n");
    assert!(
        out.contains("CRM: 20 overconsumption alerts posted for Z-NORTH"),
        "{out}"
    );
}

// ---------------------------------------------------------------------------
// (b) InfluxDB 1.x, v1 write API
// ---------------------------------------------------------------------------

/// The single column of every row (SHOW ... answers), as strings.
fn column(rows: &[Vec<Value>], k: usize) -> Vec<String> {
    rows.iter()
        .map(|r| match &r[k] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect()
}

#[test]
fn demo_writes_influxdb_1_through_the_v1_api() {
    let influx = InfluxV1::start();
    let expected = demo_points();
    let mut demo = Demo::start_writing(
        &influx.url,
        "v1",
        &["--influx-database", &influx.db],
        &expected,
    );

    eventually(WAIT, "measurements telemetry and device_status", || {
        demo.process.assert_running("waiting for measurements");
        let names = column(&influx.values("SHOW MEASUREMENTS"), 0);
        (names.contains(&"telemetry".to_string()) && names.contains(&"device_status".to_string()))
            .then_some(())
    });
    assert_eq!(
        column(&influx.values("SHOW TAG KEYS FROM telemetry"), 0),
        ["device", "kind", "site"]
    );
    assert_eq!(
        column(&influx.values("SHOW TAG KEYS FROM device_status"), 0),
        ["device", "site"]
    );

    // device_status: up (bool), latency_ms (float), timeouts and errors (int).
    let fields: BTreeMap<String, String> = influx
        .values("SHOW FIELD KEYS FROM device_status")
        .iter()
        .map(|r| {
            (
                r[0].as_str().unwrap().to_string(),
                r[1].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want: BTreeMap<String, String> = [
        ("errors", "integer"),
        ("latency_ms", "float"),
        ("timeouts", "integer"),
        ("up", "boolean"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(fields, want, "device_status fields");

    // Every device gets its telemetry series with its kind, and every point is a field
    // (all points are good here, and a good point is written under its own name).
    let devices = demo_devices(&expected);
    let kinds = [
        ("PS-01", "pumping_station"),
        ("SS-12", "substation"),
        ("BH-03", "borehole"),
    ];
    let series: BTreeSet<String> = eventually(WAIT, "a telemetry series per device", || {
        let s: BTreeSet<String> = column(&influx.values("SHOW SERIES FROM telemetry"), 0)
            .into_iter()
            .collect();
        (s.len() >= devices.len()).then_some(s)
    });
    let want: BTreeSet<String> = devices
        .iter()
        .map(|(site, device)| {
            let kind = kinds.iter().find(|(s, _)| s == site).unwrap().1;
            format!("telemetry,device={device},kind={kind},site={site}")
        })
        .collect();
    assert_eq!(series, want, "telemetry series");
    let field_keys: BTreeSet<String> = column(&influx.values("SHOW FIELD KEYS FROM telemetry"), 0)
        .into_iter()
        .collect();
    let point_names: BTreeSet<String> = expected.iter().map(|(_, _, p)| p.clone()).collect();
    assert_eq!(field_keys, point_names, "telemetry fields = point names");

    // PT-101's discharge pressure: plausible, on the 1 s grid, the values the API shows.
    let q = "SELECT pressure_bar FROM telemetry WHERE site='PS-01' AND device='PT-101' AND kind='pumping_station'";
    let rows = eventually(WAIT, "5 PT-101 pressure samples", || {
        let rows = influx.values(q);
        (rows.len() >= 5).then_some(rows)
    });
    let mut last_t = 0;
    for r in &rows {
        let t = r[0].as_u64().unwrap_or_else(|| panic!("time {r:?}"));
        assert_eq!(t % 1_000_000_000, 0, "whole-second timestamp {r:?}");
        assert!(t > last_t, "one sample per slot {rows:?}");
        last_t = t;
        let bar = r[1].as_f64().unwrap_or_else(|| panic!("value {r:?}"));
        assert!((0.2..=6.0).contains(&bar), "pressure {bar} bar");
    }
    let last = influx
        .values("SELECT last(pressure_bar) FROM telemetry WHERE site='PS-01' AND device='PT-101'");
    assert_eq!(last.len(), 1, "{last:?}");

    let (status, body) = demo.get("/api/v1/points/PS-01/PT-101/pressure_bar");
    assert_eq!(status, 200, "{body}");
    let history: Vec<(u64, f64)> = serde_json::from_str::<Value>(&body).unwrap()["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|h| (h["time_ns"].as_u64().unwrap(), h["value"].as_f64().unwrap()))
        .collect();
    let (t, v) = history[0];
    let stored = eventually(WAIT, "the API's oldest PT-101 sample in InfluxDB", || {
        let rows = influx.values(&format!("{q} AND time = {t}"));
        rows.first().and_then(|r| r[1].as_f64())
    });
    assert!(
        (stored - v).abs() <= 1e-9 * v.abs(),
        "InfluxDB holds {stored} at {t}, the API {v}"
    );

    // Every device reported up.
    let ups = influx.values("SELECT last(up) FROM device_status GROUP BY site, device");
    assert_eq!(ups.len(), devices.len(), "{ups:?}");
    for r in &ups {
        assert_eq!(r[1], Value::Bool(true), "{ups:?}");
    }
    let errors = influx.values("SELECT max(errors), max(timeouts) FROM device_status");
    assert_eq!(
        (errors[0][1].as_i64(), errors[0][2].as_i64()),
        (Some(0), Some(0)),
        "no errors or timeouts on loopback: {errors:?}"
    );

    // The summary says it writes.
    eventually(WAIT, "a summary line with lines written", || {
        demo.process.assert_running("waiting for the summary");
        demo.process.stdout().iter().find_map(|l| {
            let n: u64 = l
                .split(" | InfluxDB ")
                .nth(1)?
                .split(' ')
                .next()?
                .parse()
                .ok()?;
            (n > 0).then_some(())
        })
    });
}

// ---------------------------------------------------------------------------
// (c) VictoriaMetrics, v2 write API
// ---------------------------------------------------------------------------

#[test]
fn demo_writes_victoriametrics_through_the_v2_api() {
    let vm = VictoriaMetrics::start();
    let expected = demo_points();
    let _demo = Demo::start_writing(
        &vm.url,
        "v2",
        &[
            "--influx-org",
            "utility",
            "--influx-bucket",
            "scada",
            "--influx-token",
            "test-token",
        ],
        &expected,
    );

    let series = vm.wait_export(
        r#"telemetry_pressure_bar{site="PS-01",device="PT-101"}"#,
        WAIT,
        |s| s.len() == 1 && s[0]["values"].as_array().is_some_and(|v| v.len() >= 5),
    );
    let metric = &series[0]["metric"];
    assert_eq!(metric["__name__"], "telemetry_pressure_bar", "{metric}");
    assert_eq!(metric["site"], "PS-01", "{metric}");
    assert_eq!(metric["device"], "PT-101", "{metric}");
    assert_eq!(metric["kind"], "pumping_station", "{metric}");
    let values = series[0]["values"].as_array().unwrap();
    let stamps = series[0]["timestamps"].as_array().unwrap();
    assert_eq!(values.len(), stamps.len());
    for (v, t) in values.iter().zip(stamps) {
        let bar = v.as_f64().unwrap_or_else(|| panic!("value {v}"));
        assert!((0.2..=6.0).contains(&bar), "pressure {bar} bar");
        let ms = t.as_u64().unwrap_or_else(|| panic!("timestamp {t}"));
        assert_eq!(ms % 1000, 0, "whole-second timestamp {ms} ms");
    }

    // One series per point: telemetry_<point>{site, device, kind}.
    let all = vm.wait_export(r#"{__name__=~"telemetry_.+"}"#, WAIT, |s| {
        s.len() >= expected.len()
    });
    let got: BTreeSet<Key> = all
        .iter()
        .map(|s| {
            let m = &s["metric"];
            let name = m["__name__"].as_str().unwrap();
            (
                m["site"].as_str().unwrap_or_default().to_string(),
                m["device"].as_str().unwrap_or_default().to_string(),
                name.strip_prefix("telemetry_").unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(got, expected, "telemetry series in VictoriaMetrics");

    // device_status up = true (1) for every device.
    let ups = vm.wait_export(r#"device_status_up"#, WAIT, |s| {
        s.len() >= demo_devices(&expected).len()
    });
    for s in &ups {
        let values = s["values"].as_array().unwrap();
        assert!(
            values.iter().all(|v| v.as_f64() == Some(1.0)),
            "device up: {s}"
        );
    }
}

#[test]
fn a_taken_api_port_stops_the_demo_before_anything_is_polled_or_spooled() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let listen = taken.local_addr().unwrap().to_string();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("var");
    let mut demo = VigieChild::spawn(
        &[
            "demo",
            "--listen",
            &listen,
            "--data-dir",
            data.to_str().unwrap(),
        ],
        Path::new(REPO),
    );
    let status = demo.wait_exit(WAIT, "vigie demo to refuse the taken port");
    assert!(!status.success(), "{}", demo.output());
    assert!(
        demo.stderr().contains("cannot listen on"),
        "{}",
        demo.output()
    );
    let spooled: Vec<_> = std::fs::read_dir(data.join("spool"))
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(
        spooled.is_empty(),
        "batches spooled by a demo that could not start: {spooled:?}"
    );
    drop(taken);
}
