//! Fault injection between vigie and its Modbus devices (issue 6): four Keller pressure
//! transmitters, each on its own pymodbus server (a Modbus stack vigie did not write) and so
//! on its own connection; the faulty one is reached through the test's fault proxy
//! (`tests/support/fault_proxy.rs`). vigie runs as a process with a `comm_failure` alarm on
//! the faulty device. For each fault in turn (delay, reset, half, wrong transaction id,
//! garbage, blackhole):
//!
//! - the faulty device's points go bad with the reason an engineer needs (README "Samples
//!   and quality"): `timeout` when nothing came back, `comm_failure` when the connection
//!   broke, `bad_reply` when something came back that is not the answer;
//! - its comm-failure alarm becomes `active_unacknowledged`;
//! - the three healthy devices keep their grid: no missed slot, a good sample at every slot
//!   of the fault window (their history in the API), and their lateness stays small (the
//!   `vigie_poll_lateness_seconds` histogram over the window, printed);
//! - once the fault ends the device comes back by itself within the backoff's bound, and
//!   the alarm returns to `rtn_unacknowledged`.
//!
//! The figures are printed on stderr (`cargo nextest run --test faults --no-capture`), one
//! line per fault, e.g. `fault=blackhole reason=timeout bad after 0.4 s, alarm after 0.4 s;
//! healthy: max lateness <= 5 ms over 27 polls, missed slots 0; recovered 1.2 s after the
//! fault ended (bound 10.2 s)`.

mod support;

use serde_json::{Value, json};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use support::fault_proxy::{Fault, FaultProxy};
use support::vigie::VigieChild;
use support::{ModbusPeer, eventually, free_port, try_request, wire};

const PROFILES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/plc-profiles");
const SITE: &str = "PS-01";
const FAULTY: &str = "PT-F";
const HEALTHY: [&str; 3] = ["PT-A", "PT-B", "PT-C"];
const POINTS: [&str; 2] = ["pressure_bar", "temperature_c"];
const INTERVAL: Duration = Duration::from_millis(500);
const TIMEOUT: Duration = Duration::from_millis(250);
/// Each fault lasts at least this long, so the healthy devices' grid is measured over
/// about 10 slots or more.
const MIN_FAULT: Duration = Duration::from_secs(4);
/// Healthy devices' polls must start within this of their slot: below the faulty device's
/// timeout (250 ms), so a healthy poll that waited for the faulty one would fail it, with
/// room for a loaded CI machine (on an idle one it is a few milliseconds).
const MAX_HEALTHY_LATENESS_S: f64 = 0.1;

/// Each fault and the reason the faulty device's points must carry while it lasts.
const FAULTS: [(Fault, &str); 6] = [
    // A reply later than the timeout is no reply: vigie gives up and reconnects.
    (Fault::Delay(Duration::from_secs(1)), "timeout"),
    // The link broke under the request.
    (Fault::Reset, "comm_failure"),
    // Half a frame and then nothing: a reply came, cut short (README: a short reply).
    (Fault::Half, "bad_reply"),
    // A whole frame that answers another transaction.
    (Fault::WrongTid, "bad_reply"),
    // Bytes that are not Modbus.
    (Fault::Garbage, "bad_reply"),
    // Accepted and read, never answered.
    (Fault::Blackhole, "timeout"),
];

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

/// A pymodbus server with one Keller Series 30 at unit 1: 4.2 bar, 12.5 °C (f32 ABCD at
/// holding 0x0100 and 0x0102, as in `plc-profiles/keller-series30.toml`).
fn keller() -> ModbusPeer {
    let mut regs = wire(&4.2f32.to_be_bytes(), "ABCD");
    regs.extend(wire(&12.5f32.to_be_bytes(), "ABCD"));
    ModbusPeer::start(&json!({"units": {"1": {"holding": {"256": regs}}}}))
}

fn vigie_toml(faulty: &str, healthy: &[String]) -> String {
    let device = |id: &str, addr: &str| {
        format!(
            "[[sites.devices]]\nid = \"{id}\"\nprofile = \"keller-series30\"\naddress = \"{addr}\"\nunit_id = 1\npoll_interval = \"{}ms\"\ntimeout = \"{}ms\"\n",
            INTERVAL.as_millis(),
            TIMEOUT.as_millis()
        )
    };
    let mut t = format!(
        "[daemon]\nprofiles_dir = {PROFILES:?}\ndata_dir = \"var\"\n[buffer]\nhistory = 100\n[[sites]]\nid = \"{SITE}\"\nkind = \"pumping_station\"\n"
    );
    t.push_str(&device(FAULTY, faulty));
    for (id, addr) in HEALTHY.iter().zip(healthy) {
        t.push_str(&device(id, addr));
    }
    t.push_str(&format!(
        "[[sites.alarms]]\ndevice = \"{FAULTY}\"\ncomm_failure = {{ priority = \"high\" }}\n"
    ));
    t
}

/// vigie's API on loopback (open: no tokens).
struct Api {
    base: String,
}

impl Api {
    fn get(&self, path: &str) -> Option<String> {
        let r = try_request("GET", &format!("{}{path}", self.base), &[], b"").ok()?;
        (r.status == 200).then_some(r.body)
    }

    fn json(&self, path: &str) -> Option<Value> {
        serde_json::from_str(&self.get(path)?).ok()
    }

    /// The `/api/v1/points` entries of `device`.
    fn points(&self, device: &str) -> Vec<Value> {
        let all = self.json("/api/v1/points").unwrap_or(Value::Null);
        all.as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["device"] == device)
            .cloned()
            .collect()
    }

    /// True when every point of `device` has `quality` (and `reason`, if given).
    fn all_points(&self, device: &str, quality: &str, reason: Option<&str>) -> bool {
        let points = self.points(device);
        points.len() == POINTS.len()
            && points.iter().all(|p| {
                p["quality"] == quality && reason.is_none_or(|r| p["reason"].as_str() == Some(r))
            })
    }

    fn alarm_state(&self) -> Option<String> {
        let a = self.json(&format!("/api/v1/alarms/{SITE}:{FAULTY}:comm_failure"))?;
        a["state"].as_str().map(str::to_string)
    }
}

/// A device's grid figures in `/metrics`: missed slots, and the lateness histogram
/// (cumulative counts per upper bound in seconds, `+Inf` last).
#[derive(Debug, Clone)]
struct Grid {
    missed: u64,
    buckets: Vec<(f64, u64)>,
}

fn grid(metrics: &str, device: &str) -> Grid {
    let labels = format!("site=\"{SITE}\",device=\"{device}\"");
    let value = |l: &str| l.rsplit(' ').next().and_then(|v| v.parse::<u64>().ok());
    let missed = metrics
        .lines()
        .find(|l| l.starts_with(&format!("vigie_missed_slots_total{{{labels}}} ")))
        .and_then(value)
        .unwrap_or_else(|| panic!("no vigie_missed_slots_total for {device}:\n{metrics}"));
    let prefix = format!("vigie_poll_lateness_seconds_bucket{{{labels},le=\"");
    let buckets: Vec<(f64, u64)> = metrics
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix(&prefix)?;
            let (le, _) = rest.split_once('"')?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((le, value(l)?))
        })
        .collect();
    assert!(
        buckets.last().is_some_and(|b| b.0.is_infinite()),
        "no lateness histogram for {device}:\n{metrics}"
    );
    Grid { missed, buckets }
}

/// Between two readings of one device: polls, the smallest bucket bound holding all of
/// them (the max lateness, to the histogram's resolution), and missed slots.
fn window(before: &Grid, after: &Grid) -> (u64, f64, u64) {
    let diff: Vec<(f64, u64)> = after
        .buckets
        .iter()
        .zip(&before.buckets)
        .map(|(a, b)| (a.0, a.1 - b.1))
        .collect();
    let polls = diff.last().map_or(0, |d| d.1);
    let max = diff
        .iter()
        .find(|d| d.1 == polls)
        .map_or(f64::INFINITY, |d| d.0);
    (polls, max, after.missed - before.missed)
}

/// Checks that `device`'s history has a good value at every slot in `[from_ns, to_ns]`.
fn assert_every_slot(api: &Api, device: &str, from_ns: i64, to_ns: i64, fault: &str) {
    let p = api
        .json(&format!("/api/v1/points/{SITE}/{device}/{}", POINTS[0]))
        .unwrap_or_else(|| panic!("no point {device}/{}", POINTS[0]));
    let step = INTERVAL.as_nanos() as i64;
    let seen: Vec<(i64, bool)> = p["history"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|h| Some((h["time_ns"].as_i64()?, h["value"].is_number())))
        .filter(|(t, _)| (from_ns..=to_ns).contains(t))
        .collect();
    let first = from_ns.div_euclid(step) * step + step;
    let expected: Vec<(i64, bool)> = (first..=to_ns)
        .step_by(step as usize)
        .map(|t| (t, true))
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(
        seen, expected,
        "fault={fault}: healthy {device} lost its grid (slot time, good) over the fault"
    );
}

#[test]
fn each_fault_marks_only_its_device_bad_raises_its_alarm_and_heals_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let faulty_server = keller();
    let proxy = FaultProxy::start(&faulty_server.addr());
    let healthy_servers: Vec<ModbusPeer> = HEALTHY.iter().map(|_| keller()).collect();
    let healthy_addrs: Vec<String> = healthy_servers.iter().map(ModbusPeer::addr).collect();
    std::fs::write(
        dir.path().join("vigie.toml"),
        vigie_toml(&proxy.addr, &healthy_addrs),
    )
    .unwrap();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut vigie = VigieChild::spawn(
        &["run", "-c", "vigie.toml", "--listen", &listen],
        dir.path(),
    );
    let api = Api {
        base: format!("http://{listen}"),
    };
    eventually(Duration::from_secs(60), "every device good", || {
        vigie.assert_running("starting");
        std::iter::once(FAULTY)
            .chain(HEALTHY)
            .all(|d| api.all_points(d, "good", None))
            .then_some(())
    });

    for (fault, reason) in FAULTS {
        let name = fault.name();
        let metrics = api.get("/metrics").expect("/metrics");
        let before: Vec<Grid> = HEALTHY.iter().map(|d| grid(&metrics, d)).collect();
        let from_ns = now_ns();
        let start = Instant::now();
        proxy.set(fault);

        let bad_after = eventually(
            Duration::from_secs(10),
            &format!("fault={name}: {FAULTY}'s points bad ({reason})"),
            || {
                vigie.assert_running(name);
                api.all_points(FAULTY, "bad", Some(reason))
                    .then(|| start.elapsed())
            },
        );
        let alarm_after = eventually(
            Duration::from_secs(10),
            &format!("fault={name}: the comm_failure alarm active"),
            || (api.alarm_state()? == "active_unacknowledged").then(|| start.elapsed()),
        );
        std::thread::sleep(MIN_FAULT.saturating_sub(start.elapsed()));
        // Still bad, still for that reason (the backoff's skipped slots keep it).
        let still: Vec<Value> = api.points(FAULTY);
        assert!(
            api.all_points(FAULTY, "bad", Some(reason)),
            "fault={name}: {FAULTY} not bad ({reason}) at the end of the fault: {still:?}"
        );

        let metrics = api.get("/metrics").expect("/metrics");
        let to_ns = now_ns();
        proxy.set(Fault::None);
        let lasted = start.elapsed();
        let ended = Instant::now();

        // Healthy devices: every slot of the window polled, on time.
        let mut worst = 0.0f64;
        let mut polls = 0;
        for (device, b) in HEALTHY.iter().zip(&before) {
            let (n, max, missed) = window(b, &grid(&metrics, device));
            assert_eq!(missed, 0, "fault={name}: healthy {device} missed slots");
            assert!(
                max <= MAX_HEALTHY_LATENESS_S,
                "fault={name}: healthy {device} polled up to {max} s late"
            );
            // A slot is in the live state a drain pass (100 ms or so) after its poll.
            assert_every_slot(&api, device, from_ns, to_ns - 300_000_000, name);
            worst = worst.max(max);
            polls += n;
        }

        // Recovery bound. Both backoffs double from a small start (unit: 2, 4, 8 … slots
        // after three silent polls; reconnection: 250 ms, 500 ms … ±25 %), so a wait is at
        // most about 1.7 × the time already spent failing, and the first retry after a
        // fault of length F comes within ~1.7 F of its end (far below the 30 s caps for a
        // 4 s fault); then one poll and one drain pass. 2 F + 2 s covers that.
        let bound = lasted * 2 + Duration::from_secs(2);
        let recovered = eventually(bound, &format!("fault={name}: {FAULTY} good again"), || {
            api.all_points(FAULTY, "good", None)
                .then(|| ended.elapsed())
        });
        eventually(
            Duration::from_secs(5),
            &format!("fault={name}: the comm_failure alarm back to rtn_unacknowledged"),
            || (api.alarm_state()? == "rtn_unacknowledged").then_some(()),
        );
        eprintln!(
            "fault={name} reason={reason} bad after {:.1} s, alarm after {:.1} s; healthy: max lateness <= {:.0} ms over {polls} polls, missed slots 0; recovered {:.1} s after the fault ended (bound {:.1} s)",
            bad_after.as_secs_f64(),
            alarm_after.as_secs_f64(),
            worst * 1e3,
            recovered.as_secs_f64(),
            bound.as_secs_f64(),
        );
    }

    assert!(proxy.requests() > 0);
    assert!(
        proxy.function_codes().iter().all(|fc| (1..=4).contains(fc)),
        "vigie sent a function code other than a read: {:?}",
        proxy.function_codes()
    );
    vigie.assert_running("after the faults");
}
