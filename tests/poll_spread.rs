//! `[daemon] poll_spread` end to end (README "How vigie polls"): two `vigie run` processes
//! poll the same `vigie simulate` gateway of two meters (units 7 and 8 behind one address)
//! every 1 s and write to InfluxDB 1.x, one with `poll_spread = true`, one without. The
//! spread one's samples, served by the API and stored in InfluxDB, are stamped
//! `k × 1 s + phase`: unit 7's phase is `vigie::poll::grid::phase_ns` of the address, unit
//! 8's half a second further (`device_phase_ns`: two devices behind one address), and
//! lateness is measured against those grids; the other's are on the whole second.

mod support;

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use support::vigie::{VigieChild, fixed_meter_sim_toml};
use support::{InfluxV1, eventually, free_port, http};
use vigie::poll::grid::{device_phase_ns, phase_ns};

const PROFILES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/plc-profiles");
const S: i64 = 1_000_000_000;
const STARTUP: Duration = Duration::from_secs(60);
/// Samples each daemon must have served and stored before the checks.
const POLLS: usize = 4;

/// The two meters behind the gateway (units 7 and 8), in `vigie.toml` order.
const METERS: [&str; 2] = ["meter", "meter2"];

/// A free loopback port whose address has a phase between 200 and 300 ms at 1 s (so its
/// second unit's is between 700 and 800 ms), so that no spread timestamp can pass for a
/// whole second (nor be within lateness of one); the port and the two units' phases.
fn port_with_clear_phases() -> (u16, [i64; 2]) {
    for _ in 0..500 {
        let port = free_port();
        let address = format!("127.0.0.1:{port}");
        let phase = phase_ns(&address, S);
        if (200_000_000..=300_000_000).contains(&phase) {
            return (port, [0, 1].map(|k| device_phase_ns(&address, k, 2, S)));
        }
    }
    panic!("no free port with a phase in [200, 300] ms in 500 tries");
}

/// `vigie run` in `dir/<site>` polling the SDM630s at `meter` (units 7 and 8, [`METERS`])
/// every 1 s as site `site`, writing to `influx`; the API's base URL.
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

[[sites.devices]]
id = "meter2"
profile = "eastron-sdm630"
address = "{meter}"
unit_id = 8
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

/// The times (ns) of `device`'s point `voltage_l1_v`'s short history, served by the API,
/// once it holds `POLLS` samples.
fn served_times(vigie: &mut VigieChild, api: &str, site: &str, device: &str) -> Vec<i64> {
    let url = format!("{api}/api/v1/points/{site}/{device}/voltage_l1_v");
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

/// The times (ns) of `device`'s `telemetry` and `device_status` in InfluxDB, once there are
/// `POLLS` of each.
fn stored_times(influx: &InfluxV1, site: &str, device: &str) -> Vec<i64> {
    let times = |measurement: &str, field: &str| -> Vec<i64> {
        influx
            .values(&format!(
                "SELECT {field} FROM {measurement} WHERE site = '{site}' AND device = '{device}' ORDER BY time"
            ))
            .iter()
            .filter_map(|row| row.first().and_then(Value::as_i64))
            .collect()
    };
    eventually(
        Duration::from_secs(30),
        &format!("{POLLS} polls of {site}/{device} stored"),
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

/// `device`'s polls, from `/metrics`: (all, at most 200 ms late against their grid slot).
fn lateness_counts(api: &str, site: &str, device: &str) -> (u64, u64) {
    let (status, text) = http("GET", &format!("{api}/metrics"), "");
    assert_eq!(status, 200, "{text}");
    let labels = format!("site=\"{site}\",device=\"{device}\"");
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
fn spread_polls_are_stamped_on_each_units_phase_and_aligned_ones_on_the_second() {
    let dir = tempfile::tempdir().unwrap();
    let (port, phases) = port_with_clear_phases();
    let meter = format!("127.0.0.1:{port}");
    let sim_toml = fixed_meter_sim_toml(dir.path());
    let text = std::fs::read_to_string(&sim_toml).unwrap();
    // A second unit behind the same address: a gateway of two meters.
    let unit7 = "{ unit_id = 7, profile = \"eastron-sdm630\", site = \"LAB\", role = \"fixed\", fixed = { voltage_l1_v = 230.5, frequency_hz = 50.0 } }";
    assert!(text.contains(unit7), "{text}");
    let both = format!("{unit7}, {}", unit7.replace("unit_id = 7", "unit_id = 8"));
    let text = text.replace("127.0.0.1:0", &meter).replace(unit7, &both);
    std::fs::write(&sim_toml, text).unwrap();
    let mut sim = VigieChild::spawn(&["simulate", "-c", sim_toml.to_str().unwrap()], dir.path());
    sim.wait_line(STARTUP, "`serving METER on ...`", |l| {
        l.starts_with(&format!("serving METER on {meter}"))
            .then_some(())
    });
    let influx = InfluxV1::start();
    let (mut spread, spread_api) = start_vigie(dir.path(), "SPREAD", &meter, true, &influx);
    let (mut aligned, aligned_api) = start_vigie(dir.path(), "ALIGNED", &meter, false, &influx);

    for (device, phase) in METERS.into_iter().zip(phases) {
        let what = format!("SPREAD {device}");
        let served = served_times(&mut spread, &spread_api, "SPREAD", device);
        assert_on_grid(&format!("{what} served"), &served, phase);
        let stored = stored_times(&influx, "SPREAD", device);
        assert_on_grid(&format!("{what} stored"), &stored, phase);
        let (polls, on_time) = lateness_counts(&spread_api, "SPREAD", device);
        assert!(polls >= POLLS as u64, "{what}: {polls} polls counted");
        // Against the epoch's grid every poll would be at least 200 ms late.
        assert_eq!(
            on_time, polls,
            "{what}: polls more than 200 ms late against their slot"
        );
    }
    assert_eq!(phases[1] - phases[0], 500_000_000, "{phases:?}");

    for device in METERS {
        let what = format!("ALIGNED {device}");
        let served = served_times(&mut aligned, &aligned_api, "ALIGNED", device);
        assert_on_grid(&format!("{what} served"), &served, 0);
        let stored = stored_times(&influx, "ALIGNED", device);
        assert_on_grid(&format!("{what} stored"), &stored, 0);
        let (polls, on_time) = lateness_counts(&aligned_api, "ALIGNED", device);
        assert_eq!(
            on_time, polls,
            "{what}: polls more than 200 ms late against their slot"
        );
    }
    sim.assert_running("polled by both daemons");
}
