//! Issue 6, black-box: `vigie run` as a process polling pymodbus servers whose every read
//! serves a fresh value (see `reliability_outage/rig.rs`), checked point by point against
//! what the servers say they served, read after vigie stopped.
//!
//! - InfluxDB (Debian's 1.6) stopped for several minutes under load, then started: every
//!   sample served is in InfluxDB afterwards, the spool replays faster than real time.
//! - SIGTERM with InfluxDB up: exit 0 within [`rig::STOP_BOUND`], everything in InfluxDB,
//!   the spool folder empty.
//! - SIGTERM with InfluxDB hanging (accepts, never answers): exit within the bound,
//!   everything polled in the spool folder; a restart with a working InfluxDB replays it.
//!
//! Each test prints its figures (devices, samples expected and found, outage, spool peak,
//! replay and stop times). The outage lasts `VIGIE_OUTAGE_SECONDS` (default 180).

#[path = "reliability_outage/rig.rs"]
mod rig;
mod support;

use rig::{Hang, POLL, Rig, STOP_BOUND};
use std::time::{Duration, Instant};
use support::InfluxV1;
use support::vigie::VigieChild;

/// pymodbus servers (each a gateway: one TCP connection, requests in turn) and unit ids
/// per server: 200 devices, one read each per second. On a 2-core box vigie's debug build
/// takes about 25 % of one core and each server under 15 %, so other tests can run beside
/// (README "Buffers, InfluxDB and the disk spool").
const PEERS: usize = 4;
const UNITS: u8 = 50;

/// The outage, 3 minutes unless `VIGIE_OUTAGE_SECONDS` says otherwise.
fn outage_length() -> Duration {
    let secs = std::env::var("VIGIE_OUTAGE_SECONDS")
        .ok()
        .map(|s| {
            s.parse::<u64>()
                .unwrap_or_else(|_| panic!("VIGIE_OUTAGE_SECONDS={s:?} is not seconds"))
        })
        .unwrap_or(180);
    Duration::from_secs(secs)
}

/// Asserts the comparison found nothing wrong, printing the figures first.
fn assert_point_by_point(what: &str, c: &rig::Comparison) {
    println!(
        "{what}: samples expected {}, samples found {}, devices wrong {}",
        c.expected,
        c.found,
        c.problems.len()
    );
    assert!(
        c.problems.is_empty(),
        "{what}: {} devices differ from what the servers served (expected {} samples, found {}):\n{}",
        c.problems.len(),
        c.expected,
        c.found,
        c.problems
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!(c.expected, c.found, "{what}");
}

/// Waits until the spool's backlog is empty (what waits for replay; the batch being filled
/// and the one in flight are always there while vigie runs); how long it took.
fn wait_spool_empty(vigie: &mut VigieChild, base: &str, timeout: Duration) -> Duration {
    let t = Instant::now();
    support::eventually(timeout, "the spool to empty", || {
        vigie.assert_running("replaying the spool");
        let backlog = rig::metric(base, "vigie_spool_backlog_batches").unwrap_or(f64::NAN);
        (backlog == 0.0).then_some(())
    });
    t.elapsed()
}

#[test]
fn influxdb_stopped_for_minutes_under_load_loses_no_sample() {
    let outage = outage_length();
    let rig = Rig::start(PEERS, UNITS);
    let mut influx = InfluxV1::start();
    // Defaults but the retries: 1 retry, so the first failing batch reaches the spool in
    // ~1 s and the spool path (not the retry loop) carries the outage.
    rig.write_config(&influx.url, "max_retries = 1\ntimeout = \"2s\"");
    let (mut vigie, base) = rig.spawn_vigie();
    rig::wait_all_in_influx(&influx.url, &rig.devices, Duration::from_secs(60));
    std::thread::sleep(Duration::from_secs(5));

    influx.stop();
    let down = Instant::now();
    let (mut peak_bytes, mut peak_batches, mut peak_metric) = (0u64, 0usize, 0f64);
    while down.elapsed() < outage {
        std::thread::sleep(Duration::from_secs(1));
        vigie.assert_running("InfluxDB is down");
        let (batches, bytes) = rig.spool_files();
        peak_batches = peak_batches.max(batches);
        peak_bytes = peak_bytes.max(bytes);
        if let Some(m) = rig::metric(&base, "vigie_spool_bytes") {
            peak_metric = peak_metric.max(m);
        }
    }
    influx.restart();
    let outage_real = down.elapsed();
    assert!(
        peak_batches > 0,
        "nothing reached the spool during the outage\n{}",
        vigie.output()
    );
    let replay = wait_spool_empty(&mut vigie, &base, outage_real);
    // Live samples after the replay, then the stop.
    std::thread::sleep(Duration::from_secs(5));
    let missed = rig::metric(&base, "vigie_missed_slots_total").unwrap_or(0.0);
    // A read served but answered after the device's timeout would be a sample lost too.
    let timeouts = rig::metric(&base, "vigie_timeouts_total").unwrap_or(0.0);
    let overflow = rig::metric(&base, "vigie_ring_buffer_overflow_total").unwrap_or(0.0);
    let refused = rig::metric(&base, "vigie_spool_refused_total").unwrap_or(0.0);
    let replayed = rig::metric(&base, "vigie_spool_replayed_total").unwrap_or(0.0);
    let stop = rig::stop(&mut vigie, "after the outage");
    let served = rig.served();
    let found = rig::influx_series(&influx.url, &rig.devices);
    let c = rig::compare(&served, &found);

    println!(
        "outage: devices {}, poll {POLL:?}, InfluxDB down {:.1} s, spool peak {peak_bytes} bytes in {peak_batches} batches \
         (vigie_spool_bytes peak {peak_metric}), batches replayed {replayed}, replay {:.1} s, \
         missed slots {missed}, Modbus timeouts {timeouts}, ring overflows {overflow}, spool refusals {refused}, stop {:.2} s",
        rig.devices.len(),
        outage_real.as_secs_f64(),
        replay.as_secs_f64(),
        stop.as_secs_f64()
    );
    assert_point_by_point("outage", &c);
    assert!(
        replay < outage_real,
        "replay ({replay:?}) is not faster than real time (outage {outage_real:?})"
    );
    assert_eq!(rig.spool_files().0, 0, "spool not empty after the stop");
}

#[test]
fn sigterm_with_influxdb_up_writes_every_sample_and_leaves_no_spool() {
    let rig = Rig::start(PEERS, UNITS);
    let influx = InfluxV1::start();
    rig.write_config(&influx.url, "");
    let (mut vigie, base) = rig.spawn_vigie();
    rig::wait_all_in_influx(&influx.url, &rig.devices, Duration::from_secs(60));
    std::thread::sleep(Duration::from_secs(5));
    let timeouts = rig::metric(&base, "vigie_timeouts_total").unwrap_or(0.0);
    let stop = rig::stop(&mut vigie, "InfluxDB up");
    let served = rig.served();
    let c = rig::compare(&served, &rig::influx_series(&influx.url, &rig.devices));
    println!(
        "SIGTERM, InfluxDB up: devices {}, Modbus timeouts {timeouts}, stop {:.2} s (bound {STOP_BOUND:?})",
        rig.devices.len(),
        stop.as_secs_f64()
    );
    assert_point_by_point("SIGTERM, InfluxDB up", &c);
    assert_eq!(
        rig.spool_files(),
        (0, 0),
        "spool folder not empty after a stop with InfluxDB up"
    );
}

#[test]
fn sigterm_with_influxdb_hanging_spools_everything_and_a_restart_replays_it() {
    let rig = Rig::start(PEERS, UNITS);
    let hang = Hang::start();
    // The default write timeout (10 s): at the SIGTERM a write is in flight, unanswered.
    rig.write_config(&hang.url, "");
    let (mut vigie, _base) = rig.spawn_vigie();
    std::thread::sleep(Duration::from_secs(8));
    let stop = rig::stop(&mut vigie, "InfluxDB hanging");
    assert!(
        hang.accepted.load(std::sync::atomic::Ordering::Relaxed) > 0,
        "vigie never tried the hanging InfluxDB"
    );
    let served = rig.served();
    let spooled = rig.spooled();
    let (batches, bytes) = rig.spool_files();
    println!(
        "SIGTERM, InfluxDB hanging: devices {}, stop {:.2} s (bound {STOP_BOUND:?}), spool {bytes} bytes in {batches} batches",
        rig.devices.len(),
        stop.as_secs_f64()
    );
    assert_point_by_point(
        "SIGTERM, InfluxDB hanging: the spool folder",
        &rig::compare(&served, &spooled),
    );

    // A working InfluxDB now: the next start replays the spool.
    let influx = InfluxV1::start();
    rig.write_config(&influx.url, "");
    let (mut vigie, base) = rig.spawn_vigie();
    let replay = wait_spool_empty(&mut vigie, &base, Duration::from_secs(60));
    std::thread::sleep(Duration::from_secs(3));
    let stop = rig::stop(&mut vigie, "after the replay");
    let served = rig.served();
    let c = rig::compare(&served, &rig::influx_series(&influx.url, &rig.devices));
    println!(
        "restart with InfluxDB: replay {:.2} s, stop {:.2} s",
        replay.as_secs_f64(),
        stop.as_secs_f64()
    );
    assert_point_by_point("restart after the hang: InfluxDB", &c);
    assert_eq!(
        rig.spool_files(),
        (0, 0),
        "spool not empty after the replay"
    );
}
