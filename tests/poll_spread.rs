//! `[daemon] poll_spread` end to end (README "How vigie polls"): two `vigie run` processes
//! poll the same `vigie simulate` meter every 1 s and write to InfluxDB 1.x, one with
//! `poll_spread = true`, one without. The spread one's samples, served by the API and stored
//! in InfluxDB, are stamped `k × 1 s + phase`, the phase being `vigie::poll::grid::phase_ns`
//! of the meter's address, and its lateness is measured against that grid; the other's are
//! on the whole second.

mod support;

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use support::vigie::{VigieChild, fixed_meter_sim_toml};
use support::{InfluxV1, eventually, free_port, http};
use vigie::poll::grid::phase_ns;

const PROFILES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/plc-profiles");
const S: i64 = 1_000_000_000;
const STARTUP: Duration = Duration::from_secs(60);
/// Samples each daemon must have served and stored before the checks.
const POLLS: usize = 4;

/// A free loopback port whose address has a phase between 200 and 800 ms at 1 s, so that
/// a spread timestamp can never pass for a whole second (nor be within lateness of one).
fn port_with_a_clear_phase() -> (u16, i64) {
    for _ in 0..200 {
        let port = free_port();
        let phase = phase_ns(&format!("127.0.0.1:{port}"), S);
        if (200_000_000..=800_000_000).contains(&phase) {
            return (port, phase);
        }
    }
    panic!("no free port with a phase in [200, 800] ms in 200 tries");
}

/// `vigie run` in `dir/<site>` polling the SDM630 at `meter` (unit 7) every 1 s as site
/// `site`, writing to `influx`; the API's base URL.
fn start_vigie(
    dir: &Path,
    site: &str,
    meter: &str,
    spread: bool,
    influx: &InfluxV1,
) -> (VigieChild, String) {
    let dir = dir.join(site);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("vigie.toml"),
        format!(
            r#"[daemon]
profiles_dir = {PROFILES:?}
data_dir = "var"
poll_spread = {spread}

[influxdb]
url = "{url}"
api = "v1"
database = "{db}"
flush_interval = "200ms"

[api]
listen = "127.0.0.1:0"

[[sites]]
id = "{site}"
kind = "substation"

[[sites.devices]]
id = "meter"
profile = "eastron-sdm630"
address = "{meter}"
unit_id = 7
poll_interval = "1s"
"#,
            url = influx.url,
            db = influx.db,
        ),
    )
    .unwrap();
    let mut vigie = VigieChild::spawn(&["run", "-c", "vigie.toml"], &dir);
    let api = vigie.wait_line(STARTUP, "`vigie running: API on http://...`", |l| {
        l.strip_prefix("vigie running: API on ").map(str::to_string)
    });
    (vigie, api)
}

/// The times (ns) of the point `voltage_l1_v`'s short history, served by the API, once it
/// holds `POLLS` samples.
fn served_times(vigie: &mut VigieChild, api: &str, site: &str) -> Vec<i64> {
    let url = format!("{api}/api/v1/points/{site}/meter/voltage_l1_v");
    eventually(
        Duration::from_secs(30),
        &format!("{POLLS} samples of {site} served"),
        || {
            vigie.assert_running("waiting for samples");
            let (status, body) = http("GET", &url, "");
            assert_eq!(status, 200, "{url}: {body}");
            let point: Value = serde_json::from_str(&body).unwrap();
            let good = point["history"]
                .as_array()?
                .iter()
                .filter(|h| h["value"].as_f64() == Some(230.5))
                .filter_map(|h| h["time_ns"].as_i64())
                .collect::<Vec<i64>>();
            (good.len() >= POLLS).then_some(good)
        },
    )
}

/// The times (ns) of `site`'s `telemetry` and `device_status` in InfluxDB, once there are
/// `POLLS` of each.
fn stored_times(influx: &InfluxV1, site: &str) -> Vec<i64> {
    let times = |measurement: &str, field: &str| -> Vec<i64> {
        influx
            .values(&format!(
                "SELECT {field} FROM {measurement} WHERE site = '{site}' ORDER BY time"
            ))
            .iter()
            .filter_map(|row| row.first().and_then(Value::as_i64))
            .collect()
    };
    eventually(
        Duration::from_secs(30),
        &format!("{POLLS} polls of {site} stored"),
        || {
            let telemetry = times("telemetry", "voltage_l1_v");
            let status = times("device_status", "up");
            (telemetry.len() >= POLLS && status.len() >= POLLS)
                .then(|| telemetry.into_iter().chain(status).collect())
        },
    )
}

/// Every time is `k × 1 s + phase` (ns).
fn assert_on_grid(what: &str, times: &[i64], phase: i64) {
    for t in times {
        assert_eq!(
            (t - phase).rem_euclid(S),
            0,
            "{what}: {t} is not k × 1 s + {phase} ns: {times:?}"
        );
    }
}

/// `site`'s polls, from `/metrics`: (all, at most 200 ms late against their grid slot).
fn lateness_counts(api: &str, site: &str) -> (u64, u64) {
    let (status, text) = http("GET", &format!("{api}/metrics"), "");
    assert_eq!(status, 200, "{text}");
    let labels = format!("site=\"{site}\",device=\"meter\"");
    let value = |prefix: String| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no `{prefix}` in /metrics:\n{text}"))
    };
    (
        value(format!("vigie_poll_lateness_seconds_count{{{labels}}}")),
        value(format!(
            "vigie_poll_lateness_seconds_bucket{{{labels},le=\"0.2\"}}"
        )),
    )
}

#[test]
fn spread_polls_are_stamped_on_the_connections_phase_and_aligned_ones_on_the_second() {
    let dir = tempfile::tempdir().unwrap();
    let (port, phase) = port_with_a_clear_phase();
    let meter = format!("127.0.0.1:{port}");
    let sim_toml = fixed_meter_sim_toml(dir.path());
    let text = std::fs::read_to_string(&sim_toml).unwrap();
    std::fs::write(&sim_toml, text.replace("127.0.0.1:0", &meter)).unwrap();
    let mut sim = VigieChild::spawn(&["simulate", "-c", sim_toml.to_str().unwrap()], dir.path());
    sim.wait_line(STARTUP, "`serving METER on ...`", |l| {
        l.starts_with(&format!("serving METER on {meter}"))
            .then_some(())
    });
    let influx = InfluxV1::start();
    let (mut spread, spread_api) = start_vigie(dir.path(), "SPREAD", &meter, true, &influx);
    let (mut aligned, aligned_api) = start_vigie(dir.path(), "ALIGNED", &meter, false, &influx);

    let served = served_times(&mut spread, &spread_api, "SPREAD");
    assert_on_grid("SPREAD served", &served, phase);
    assert_on_grid("SPREAD stored", &stored_times(&influx, "SPREAD"), phase);
    let (polls, on_time) = lateness_counts(&spread_api, "SPREAD");
    assert!(polls >= POLLS as u64, "{polls} polls counted");
    // Against the epoch's grid every poll would be at least 200 ms late.
    assert_eq!(
        on_time, polls,
        "SPREAD: polls more than 200 ms late against their slot"
    );

    let served = served_times(&mut aligned, &aligned_api, "ALIGNED");
    assert_on_grid("ALIGNED served", &served, 0);
    assert_on_grid("ALIGNED stored", &stored_times(&influx, "ALIGNED"), 0);
    let (polls, on_time) = lateness_counts(&aligned_api, "ALIGNED");
    assert_eq!(
        on_time, polls,
        "ALIGNED: polls more than 200 ms late against their slot"
    );
    sim.assert_running("polled by both daemons");
}
