//! The benchmark's floor (scripts/bench.sh): a bare tokio-modbus poller of the simulator's
//! devices, what no supervision program can beat. One connection per server of `sim.toml`
//! (a gateway or a device), its units polled one after the other on a 1 s grid aligned to
//! the clock, each with the reads vigie plans for its profile. No decoding, no storage.
//! With `--spread`, each unit's grid is shifted by the phase vigie gives it with
//! `[daemon] poll_spread = true` (`vigie::poll::grid::device_phase_ns` of the server's
//! `listen`, the units spaced evenly over the second in `sim.toml` order, as gen.py lists
//! them in vigie.toml).
//!
//! It measures itself like vigie does: a device's lateness is its poll's start minus its
//! grid slot; a slot already over when the connection gets to it is a missed slot. Only the
//! slots in the window (`--window-start`, `--window-end`], Unix seconds, are counted; it
//! writes its figures as JSON to `--out` and exits 1.5 s after the window.
//!
//! `cargo run --release --example bench_floor -- --sim sim.toml --window-start S
//! --window-end E --out floor.json [--spread]`

use anyhow::Context as _;
use clap::Parser;
use std::path::PathBuf;
use std::time::Duration;
use tokio_modbus::client::{Client as _, Context};
use tokio_modbus::prelude::SlaveContext as _;
use tokio_modbus::{Request, Slave};
use vigie::poll::grid::{device_phase_ns, next_slot};
use vigie::poll::plan::{self, ReadRequest};
use vigie::profile::{Profile, RegisterKind};
use vigie::sample::now_ns;
use vigie::sim::SimConfig;

const INTERVAL_NS: i64 = 1_000_000_000;

#[derive(Parser)]
struct Args {
    /// The simulator's configuration: its servers are the connections, its units the devices.
    #[arg(long)]
    sim: PathBuf,
    /// Slots after this Unix second are counted...
    #[arg(long)]
    window_start: i64,
    /// ...up to and including this one; the program ends after it.
    #[arg(long)]
    window_end: i64,
    /// Where the JSON figures go.
    #[arg(long)]
    out: PathBuf,
    /// Per request, as vigie's default `timeout`.
    #[arg(long, default_value = "500")]
    timeout_ms: u64,
    /// Each unit's grid at the phase vigie's `poll_spread = true` gives it.
    #[arg(long)]
    spread: bool,
}

/// One device behind a connection: its unit id, its reads and their point counts.
struct Device {
    unit_id: u8,
    reads: Vec<ReadRequest>,
}

/// What one connection measured over the window.
#[derive(Default)]
struct Figures {
    /// Lateness of every poll in the window, µs.
    lateness_us: Vec<u64>,
    missed_slots: u64,
    requests: u64,
    requests_failed: u64,
    /// Points covered by answered reads.
    samples: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let sim = SimConfig::load(&args.sim)?;
    let mut profiles: std::collections::HashMap<String, Vec<ReadRequest>> = Default::default();
    let mut tasks = Vec::new();
    for server in &sim.servers {
        let mut devices = Vec::new();
        for u in &server.units {
            if !profiles.contains_key(&u.profile) {
                let p = Profile::load(&sim.profiles_dir, &u.profile)?;
                profiles.insert(u.profile.clone(), plan::plan(&p));
            }
            devices.push(Device {
                unit_id: u.unit_id,
                reads: profiles[&u.profile].clone(),
            });
        }
        let window = (
            args.window_start * INTERVAL_NS,
            args.window_end * INTERVAL_NS,
        );
        let timeout = Duration::from_millis(args.timeout_ms);
        // The address as gen.py writes it in vigie.toml (`127.0.0.1:PORT`).
        let count = devices.len();
        let phases = (0..count)
            .map(|k| match args.spread {
                true => device_phase_ns(&server.listen.to_string(), k, count, INTERVAL_NS),
                false => 0,
            })
            .collect();
        tasks.push(tokio::spawn(poll_connection(
            server.listen,
            devices,
            (window, phases),
            timeout,
        )));
    }
    let mut all = Figures::default();
    for t in tasks {
        let f = t.await.context("a connection's task failed")?;
        all.lateness_us.extend(f.lateness_us);
        all.missed_slots += f.missed_slots;
        all.requests += f.requests;
        all.requests_failed += f.requests_failed;
        all.samples += f.samples;
    }
    all.lateness_us.sort_unstable();
    let q = |p: f64| -> u64 {
        let n = all.lateness_us.len();
        if n == 0 {
            return 0;
        }
        all.lateness_us[((p * n as f64).ceil() as usize).clamp(1, n) - 1]
    };
    let json = serde_json::json!({
        "polls": all.lateness_us.len(),
        "requests": all.requests,
        "requests_failed": all.requests_failed,
        "samples": all.samples,
        "missed_slots": all.missed_slots,
        "lateness_p50_ms": q(0.50) as f64 / 1e3,
        "lateness_p99_ms": q(0.99) as f64 / 1e3,
        "lateness_max_ms": all.lateness_us.last().copied().unwrap_or(0) as f64 / 1e3,
    });
    std::fs::write(&args.out, json.to_string())
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    // Alive until 1.5 s after the window, so that the harness reads the CPU and peak RSS
    // of a running process.
    let linger = (args.window_end * INTERVAL_NS + 1_500_000_000 - now_ns()).max(0) as u64;
    tokio::time::sleep(Duration::from_nanos(linger)).await;
    Ok(())
}

/// Polls `devices` over one connection until the window's end; (start, end] in ns, each
/// device's grid phase in ns.
async fn poll_connection(
    address: std::net::SocketAddr,
    devices: Vec<Device>,
    ((start, end), phases): ((i64, i64), Vec<i64>),
    timeout: Duration,
) -> Figures {
    let mut f = Figures::default();
    let mut ctx: Option<Context> = None;
    let now = now_ns();
    let mut due: Vec<i64> = phases
        .iter()
        .map(|&phase| next_slot(now, INTERVAL_NS, phase))
        .collect();
    loop {
        // The device due first (the first one listed on a tie), as vigie picks it.
        let Some(i) = (0..devices.len()).min_by_key(|&i| due[i]) else {
            return f;
        };
        if due[i] > end {
            return f;
        }
        let wait = (due[i] - now_ns()).max(0) as u64;
        tokio::time::sleep(Duration::from_nanos(wait)).await;
        let now = now_ns();
        let late = now - due[i];
        let mut slot = due[i];
        let missed = if late >= INTERVAL_NS {
            late / INTERVAL_NS
        } else {
            0
        };
        slot += missed * INTERVAL_NS;
        let counted = slot > start && slot <= end;
        if counted {
            f.missed_slots += missed as u64;
            f.lateness_us.push(((now - slot) / 1000) as u64);
        }
        due[i] = slot + INTERVAL_NS;
        if ctx.is_none() {
            ctx = connect(address, timeout).await;
        }
        let Some(c) = ctx.as_mut() else {
            continue;
        };
        c.set_slave(Slave(devices[i].unit_id));
        for r in &devices[i].reads {
            let request = match r.register {
                RegisterKind::Holding => Request::ReadHoldingRegisters(r.start, r.count),
                RegisterKind::Input => Request::ReadInputRegisters(r.start, r.count),
                RegisterKind::Coil => Request::ReadCoils(r.start, r.count),
                RegisterKind::Discrete => Request::ReadDiscreteInputs(r.start, r.count),
            };
            let ok = matches!(
                tokio::time::timeout(timeout, c.call(request)).await,
                Ok(Ok(Ok(_)))
            );
            if counted {
                f.requests += 1;
                if ok {
                    f.samples += r.points.len() as u64;
                } else {
                    f.requests_failed += 1;
                }
            }
            if !ok {
                // As vigie does: a late reply must not answer the next request.
                ctx = None;
                break;
            }
        }
    }
}

/// A connection with Nagle off, as vigie opens it; None when it fails.
async fn connect(address: std::net::SocketAddr, timeout: Duration) -> Option<Context> {
    let attempt = async {
        let stream = tokio::net::TcpStream::connect(address).await?;
        stream.set_nodelay(true)?;
        Ok::<_, std::io::Error>(tokio_modbus::client::tcp::attach(stream))
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(Ok(ctx)) => Some(ctx),
        _ => None,
    }
}
