//! The test rig of `tests/reliability_outage.rs`: pymodbus servers whose every read serves a
//! fresh value, `vigie run` polling them as a real process, and what the checks read back
//! (reads served, InfluxDB series, the spool folder, `/metrics`).
//!
//! Each device is one unit id of a pymodbus server (`tests/peers/modbus_server.py`,
//! `counting_units`): every read of its holding registers 0-1 answers the number of reads
//! served so far (1, 2, 3 ...), and its input registers 0-1 say how many were served
//! without adding one. So "every sample served is in InfluxDB" is checkable exactly: the
//! device's series, in time order, must be 1..=N, N read from the server after vigie
//! stopped.

use crate::support::vigie::VigieChild;
use crate::support::{ModbusPeer, eventually, free_port, http, mbpoll};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// Every device's poll interval (and the grid its samples' times sit on).
pub const POLL: Duration = Duration::from_secs(1);

/// How long a SIGTERMed vigie may take to exit, from `src/daemon.rs` `Daemon::shutdown`
/// and `src/sink/influx/writer.rs`: the pollers finish the poll in flight (each device's
/// `timeout`, 1 s here, is also the bound of a whole poll), the drain hands its last batch
/// over within its 100 ms tick, the API has no request in flight, no notifier or CRM feed
/// is configured; then the writer tries InfluxDB for at most `STOPPING_BUDGET` (4 s), a
/// write in flight getting at most `WRITE_TIMEOUT_WHEN_STOPPING` (2 s) more, and spools
/// what is left in the spool. 1 + 4 + 2 s, and 3 s for the spool's fsyncs and the exit on a loaded
/// box. The writer's own hard cap (`shutdown(10 s)` in `src/main.rs`) is the same 10 s: a
/// writer cut there loses batches, which the point-by-point checks would show.
pub const STOP_BOUND: Duration = Duration::from_secs(10);

/// A polled device: the pymodbus server (index into the rig's peers) and unit id.
#[derive(Debug, Clone)]
pub struct Device {
    pub site: String,
    pub id: String,
    pub peer: usize,
    pub unit: u8,
}

/// The servers, the devices, the working folder (config, profiles, data_dir).
pub struct Rig {
    pub dir: TempDir,
    pub peers: Vec<ModbusPeer>,
    pub devices: Vec<Device>,
}

/// The value and time series of one device (time in ns, value served), in time order.
pub type Series = BTreeMap<String, Vec<(i64, u64)>>;

impl Rig {
    /// `peers` pymodbus servers with `units` counting unit ids each (1..=units); one site
    /// per server, one device per unit id.
    pub fn start(peers: usize, units: u8) -> Rig {
        let dir = tempfile::Builder::new()
            .prefix("vigie-outage-")
            .tempdir()
            .unwrap();
        let unit_ids: Vec<u8> = (1..=units).collect();
        let image = json!({
            "units": unit_ids.iter().map(|u| (u.to_string(), json!({}))).collect::<serde_json::Map<_, _>>(),
            "counting_units": unit_ids,
        });
        let peers: Vec<ModbusPeer> = (0..peers).map(|_| ModbusPeer::start(&image)).collect();
        let devices = (0..peers.len())
            .flat_map(|p| {
                unit_ids.iter().map(move |&u| Device {
                    site: format!("ST{}", p + 1),
                    id: format!("P{}U{u:02}", p + 1),
                    peer: p,
                    unit: u,
                })
            })
            .collect();
        let profiles = dir.path().join("profiles");
        std::fs::create_dir_all(&profiles).unwrap();
        std::fs::write(
            profiles.join("test-counter.toml"),
            "manufacturer = \"test\"\nmodel = \"read counter\"\n\
             source = \"tests/peers/modbus_server.py counting_units\"\naddress_base = 0\n\
             [[points]]\nname = \"served\"\nregister = \"holding\"\naddress = 0\ntype = \"u32\"\n\
             word_order = \"ABCD\"\n",
        )
        .unwrap();
        Rig {
            dir,
            peers,
            devices,
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("var")
    }

    /// Writes `vigie.toml`: InfluxDB 1.x at `influx_url` (database `vigie`) with the extra
    /// `[influxdb]` keys `influx_keys`, every device polled every [`POLL`].
    pub fn write_config(&self, influx_url: &str, influx_keys: &str) {
        let mut text = format!(
            "[daemon]\nprofiles_dir = {:?}\ndata_dir = {:?}\n\
             [influxdb]\nurl = \"{influx_url}\"\napi = \"v1\"\ndatabase = \"vigie\"\n{influx_keys}\n",
            self.dir.path().join("profiles"),
            self.data_dir(),
        );
        let sites: BTreeSet<&str> = self.devices.iter().map(|d| d.site.as_str()).collect();
        for site in sites {
            let _ = writeln!(
                text,
                "[[sites]]\nid = \"{site}\"\nkind = \"pumping_station\"\ndevices = ["
            );
            for d in self.devices.iter().filter(|d| d.site == site) {
                let _ = writeln!(
                    text,
                    "  {{ id = \"{}\", profile = \"test-counter\", address = \"{}\", unit_id = {}, poll_interval = \"{}ms\", timeout = \"1s\" }},",
                    d.id,
                    self.peers[d.peer].addr(),
                    d.unit,
                    POLL.as_millis()
                );
            }
            text.push_str("]\n");
        }
        std::fs::write(self.dir.path().join("vigie.toml"), text).unwrap();
    }

    /// `vigie run` on the written config, an API on a free port; its base URL once it
    /// says it runs.
    pub fn spawn_vigie(&self) -> (VigieChild, String) {
        let listen = format!("127.0.0.1:{}", free_port());
        let mut vigie = VigieChild::spawn(
            &["run", "-c", "vigie.toml", "--listen", &listen],
            self.dir.path(),
        );
        let base = vigie.wait_line(Duration::from_secs(60), "`vigie running`", |l| {
            l.strip_prefix("vigie running: API on ")
                .map(|s| s.trim().to_string())
        });
        (vigie, base)
    }

    /// Reads served to each device so far (by device id), read with mbpoll from the
    /// servers' input registers 0-1 (which does not serve a holding read).
    pub fn served(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for (p, peer) in self.peers.iter().enumerate() {
            let units: Vec<u8> = self
                .devices
                .iter()
                .filter(|d| d.peer == p)
                .map(|d| d.unit)
                .collect();
            let (first, last) = (units[0], units[units.len() - 1]);
            let port = peer.port.to_string();
            let slaves = format!("{first}:{last}");
            let text = mbpoll(&[
                "-m",
                "tcp",
                "-a",
                &slaves,
                "-0",
                "-r",
                "0",
                "-c",
                "2",
                "-t",
                "3",
                "-1",
                "-p",
                &port,
                "127.0.0.1",
            ]);
            let counts = parse_mbpoll(&text);
            for d in self.devices.iter().filter(|d| d.peer == p) {
                let n = counts
                    .get(&d.unit)
                    .copied()
                    .unwrap_or_else(|| panic!("mbpoll gave no count for unit {}:\n{text}", d.unit));
                out.insert(d.id.clone(), n);
            }
        }
        out
    }

    /// Batch files in the spool folder (sealed `.lp` and a filling `.open`) and their bytes.
    pub fn spool_files(&self) -> (usize, u64) {
        spool_batch_files(&self.data_dir())
            .iter()
            .fold((0, 0), |(n, b), p| {
                (
                    n + 1,
                    b + std::fs::metadata(p).map(|m| m.len()).unwrap_or(0),
                )
            })
    }

    /// The `served` values of the whole `telemetry` lines in the spool folder's batches, by
    /// device, in time order.
    pub fn spooled(&self) -> Series {
        let mut out = Series::new();
        for path in spool_batch_files(&self.data_dir()) {
            let text = std::fs::read_to_string(&path).unwrap();
            // An `.open` batch may end in a line cut short: only whole lines count.
            let whole = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
            for line in whole.lines().filter(|l| l.starts_with("telemetry,")) {
                let mut parts = line.split(' ');
                let (Some(key), Some(fields), Some(time)) =
                    (parts.next(), parts.next(), parts.next())
                else {
                    panic!("spooled line not understood: {line}")
                };
                let device = key
                    .split(',')
                    .find_map(|t| t.strip_prefix("device="))
                    .unwrap_or_else(|| panic!("no device tag: {line}"));
                let served = fields
                    .split(',')
                    .find_map(|f| f.strip_prefix("served="))
                    .and_then(|v| v.parse::<f64>().ok())
                    .unwrap_or_else(|| panic!("no served field: {line}"));
                let time: i64 = time.parse().unwrap_or_else(|_| panic!("time: {line}"));
                out.entry(device.to_string())
                    .or_default()
                    .push((time, served as u64));
            }
        }
        for s in out.values_mut() {
            s.sort();
        }
        out
    }
}

/// `<seq>.lp` (sealed) and `<seq>.open` (being filled) batches in `data_dir/spool`.
fn spool_batch_files(data_dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(data_dir.join("spool"))
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "lp" || x == "open"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// mbpoll's `-- Polling slave U...` blocks of two registers: U -> high << 16 | low.
fn parse_mbpoll(text: &str) -> BTreeMap<u8, u64> {
    let mut out = BTreeMap::new();
    let mut unit = None;
    let mut words = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("-- Polling slave ") {
            unit = rest.trim_end_matches("...").trim().parse::<u8>().ok();
            words.clear();
        } else if let (Some(u), Some((_, v))) = (unit, line.split_once("]:")) {
            words.push(v.trim().parse::<u64>().unwrap_or_else(|_| panic!("{line}")));
            if words.len() == 2 {
                out.insert(u, words[0] << 16 | words[1]);
            }
        }
    }
    out
}

/// The `served` series of every device in InfluxDB database `vigie` at `url`, one query
/// per site (InfluxQL `GROUP BY device`); panics on a partial (truncated) answer.
pub fn influx_series(url: &str, devices: &[Device]) -> Series {
    let sites: BTreeSet<&str> = devices.iter().map(|d| d.site.as_str()).collect();
    let mut out = Series::new();
    for site in sites {
        let q = format!(
            "SELECT served FROM telemetry WHERE site = '{site}' GROUP BY device ORDER BY time"
        );
        let (status, body) = http(
            "GET",
            &format!(
                "{url}/query?db=vigie&epoch=ns&q={}",
                crate::support::urlencode(&q)
            ),
            "",
        );
        assert_eq!(status, 200, "{q}: {body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        let result = &v["results"][0];
        assert!(result.get("error").is_none(), "{q}: {body}");
        assert!(result.get("partial").is_none(), "truncated answer to {q}");
        for s in result["series"].as_array().into_iter().flatten() {
            assert!(s.get("partial").is_none(), "truncated series in {q}");
            let device = s["tags"]["device"].as_str().unwrap().to_string();
            let rows = out.entry(device).or_default();
            for r in s["values"].as_array().unwrap() {
                rows.push((r[0].as_i64().unwrap(), r[1].as_f64().unwrap() as u64));
            }
        }
    }
    out
}

/// What a point-by-point comparison found.
pub struct Comparison {
    pub expected: u64,
    pub found: u64,
    /// One line per device whose series is not exactly 1..=N on the poll grid.
    pub problems: Vec<String>,
}

/// Compares each device's `found` series with the `served` count N: the values in time
/// order must be exactly 1..=N (no gap, no duplicate, nothing extra) and the times
/// strictly increasing multiples of [`POLL`].
pub fn compare(served: &BTreeMap<String, u64>, found: &Series) -> Comparison {
    let grid = POLL.as_nanos() as i64;
    let mut c = Comparison {
        expected: served.values().sum(),
        found: found.values().map(|s| s.len() as u64).sum(),
        problems: Vec::new(),
    };
    for (device, &n) in served {
        let empty = Vec::new();
        let series = found.get(device).unwrap_or(&empty);
        let values: Vec<u64> = series.iter().map(|r| r.1).collect();
        if values.iter().copied().eq(1..=n) {
            let off_grid = series.iter().filter(|r| r.0 % grid != 0).count();
            let not_increasing = series.windows(2).filter(|w| w[1].0 <= w[0].0).count();
            if off_grid + not_increasing > 0 {
                c.problems.push(format!(
                    "{device}: {off_grid} times off the {POLL:?} grid, {not_increasing} not increasing"
                ));
            }
            continue;
        }
        let have: BTreeSet<u64> = values.iter().copied().collect();
        let missing: Vec<u64> = (1..=n).filter(|v| !have.contains(v)).collect();
        let duplicates = values.len() - have.len();
        let extra: Vec<u64> = have.iter().copied().filter(|v| *v == 0 || *v > n).collect();
        // When the missing ones were polled: the times of their neighbours.
        let when = |v: u64| {
            let before = series.iter().filter(|r| r.1 < v).map(|r| r.0).max();
            let after = series.iter().filter(|r| r.1 > v).map(|r| r.0).min();
            format!("{v} (between t={before:?} and t={after:?})")
        };
        c.problems.push(format!(
            "{device}: served 1..={n}, found {} values: {} missing ({}{}), {duplicates} duplicates, extra {extra:?}, in time order: {}",
            values.len(),
            missing.len(),
            ranges(&missing),
            missing.first().map(|v| format!("; first {}", when(*v))).unwrap_or_default(),
            values.windows(2).all(|w| w[0] < w[1]),
        ));
    }
    for device in found.keys().filter(|d| !served.contains_key(*d)) {
        c.problems
            .push(format!("{device}: in the data but not a device"));
    }
    c
}

/// `1-4, 9, 12-13`.
fn ranges(v: &[u64]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < v.len() {
        let mut j = i;
        while j + 1 < v.len() && v[j + 1] == v[j] + 1 {
            j += 1;
        }
        parts.push(if i == j {
            v[i].to_string()
        } else {
            format!("{}-{}", v[i], v[j])
        });
        i = j + 1;
    }
    parts.join(", ")
}

/// Sends SIGTERM and waits for the exit: how long it took. Panics when vigie fails, or
/// takes longer than [`STOP_BOUND`].
pub fn stop(vigie: &mut VigieChild, what: &str) -> Duration {
    let t = Instant::now();
    vigie.terminate();
    let status = vigie.wait_exit(STOP_BOUND * 3, "vigie to exit after SIGTERM");
    let took = t.elapsed();
    assert!(
        status.success(),
        "{what}: vigie exited with {status}\n{}",
        vigie.output()
    );
    assert!(
        took <= STOP_BOUND,
        "{what}: vigie took {took:?} to stop (bound {STOP_BOUND:?})\n{}",
        vigie.output()
    );
    took
}

/// The sum of a metric's samples (every label set) on `/metrics`; None when absent.
pub fn metric(base: &str, name: &str) -> Option<f64> {
    let (status, body) = http("GET", &format!("{base}/metrics"), "");
    assert_eq!(status, 200, "/metrics: {body}");
    let values: Vec<f64> = body
        .lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|r| r.starts_with(' ') || r.starts_with('{'))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

/// Waits until every device has a `served` value in InfluxDB at `url`.
pub fn wait_all_in_influx(url: &str, devices: &[Device], timeout: Duration) {
    eventually(timeout, "a sample of every device in InfluxDB", || {
        let s = influx_series(url, devices);
        (devices.iter().filter(|d| s.contains_key(&d.id)).count() == devices.len()).then_some(())
    });
}

/// A loopback TCP listener that accepts connections and never reads or answers: an
/// InfluxDB that hangs. Stops accepting on drop.
pub struct Hang {
    pub url: String,
    pub accepted: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Hang {
    pub fn start() -> Hang {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let accepted = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (count, quit) = (accepted.clone(), stop.clone());
        let thread = thread::spawn(move || {
            let mut held = Vec::new();
            while !quit.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        count.fetch_add(1, Ordering::Relaxed);
                        held.push(stream);
                    }
                    Err(_) => thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Hang {
            url,
            accepted,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Hang {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
