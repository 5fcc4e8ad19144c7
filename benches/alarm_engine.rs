//! Alarm evaluation (`vigie::alarm::engine::Engine`): evaluations/s for the demo's alarm
//! definitions (analog limits with deadband and delays, rate of change, discrete trips,
//! comm failure with suppression, suppressed_while) over a stream of samples.
//!
//! One iteration is one 1 s poll slot of the whole demo network, fed as the recorder feeds
//! the engine (`vigie::alarm::recorder`): every point's sample and every device's poll
//! status, then the clock (`tick`), then `take_changes`. Values swing across the alarm
//! limits (a 2-minute cycle) so alarms raise and clear. The engine keeps its state from one
//! iteration to the next, as it does in vigie. An evaluation is one (sample, alarm on that
//! point) or (poll status, comm-failure or stale alarm of that device) pair; the counter is
//! evaluations.
//!
//! Run: `cargo bench --bench alarm_engine`.

use divan::Bencher;
use divan::counter::ItemsCount;
use std::collections::HashMap;
use vigie::alarm::condition::Condition;
use vigie::alarm::definition::{AlarmDef, build};
use vigie::alarm::engine::Engine;
use vigie::config::catalog::Catalog;
use vigie::profile::DataType;
use vigie::sample::{DeviceId, PointId, PollStatus, Quality, Record, Sample, Value};

mod common;

fn main() {
    divan::main();
}

const SECOND: i64 = 1_000_000_000;
const START: i64 = 1_764_547_200 * SECOND;

/// The range a point's values swing over: just past its alarm limits, or a default.
fn swing(defs: &[AlarmDef], point: PointId) -> (f64, f64) {
    let limits: Vec<f64> = defs
        .iter()
        .filter(|d| d.point == Some(point))
        .filter_map(|d| match d.condition {
            Condition::Limit { limit, .. } => Some(limit),
            _ => None,
        })
        .collect();
    let lo = limits.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = limits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if limits.is_empty() {
        (0.0, 100.0)
    } else {
        let margin = (hi - lo).max(1.0) * 0.2;
        (lo - margin, hi + margin)
    }
}

/// The records of the poll slot at `t` for every device of the catalog.
fn slot(catalog: &Catalog, defs: &[AlarmDef], t: i64) -> Vec<Record> {
    let phase = (t - START) as f64 / SECOND as f64 / 120.0 * std::f64::consts::TAU;
    let mut out = Vec::with_capacity(catalog.point_count() + catalog.devices.len());
    for (d, dev) in catalog.devices.iter().enumerate() {
        for (i, p) in dev.profile.points.iter().enumerate() {
            let id = dev.point_id(i);
            let (lo, hi) = swing(defs, id);
            let value = match p.data_type {
                DataType::Bool => Value::Bool(phase.sin() > 0.5),
                DataType::Bitfield => Value::I64(3),
                DataType::String => Value::Text(Box::new("SN-2026-000001".into())),
                _ => Value::F64(lo + (hi - lo) * (0.5 + 0.5 * (phase + i as f64).sin())),
            };
            out.push(Record::Sample(Sample {
                point: id,
                time_ns: t,
                value: Some(value),
                quality: Quality::Good,
            }));
        }
        // The gateways of one site go down for 10 s of every 2 minutes.
        let up = (t - START) / SECOND % 120 >= 10 || dev.site % 2 == 1;
        out.push(Record::Poll(Box::new(PollStatus {
            device: DeviceId(d as u32),
            time_ns: t,
            up,
            latency_ms: up.then_some(1.2),
            timeouts: 0,
            errors: 0,
        })));
    }
    out
}

/// Evaluations one slot makes: alarms per sampled point plus device alarms per poll.
fn evaluations(defs: &[AlarmDef], records: &[Record]) -> usize {
    let mut per_point: HashMap<PointId, usize> = HashMap::new();
    let mut per_device: HashMap<DeviceId, usize> = HashMap::new();
    for d in defs {
        match (d.point, d.device) {
            (Some(p), _) => *per_point.entry(p).or_default() += 1,
            (None, Some(dev)) => *per_device.entry(dev).or_default() += 1,
            (None, None) => {}
        }
    }
    records
        .iter()
        .map(|r| match r {
            Record::Sample(s) => per_point.get(&s.point).copied().unwrap_or(0),
            Record::Poll(p) => per_device.get(&p.device).copied().unwrap_or(0),
        })
        .sum()
}

#[divan::bench]
fn demo_slot(bencher: Bencher) {
    let (network, catalog) = common::demo_network();
    let defs = build(&network.config, &catalog);
    // Two minutes of slots, replayed in a loop: a whole swing of every value.
    let mut slots: Vec<Vec<Record>> = (0..120)
        .map(|s| slot(&catalog, &defs, START + s * SECOND))
        .collect();
    let per_slot = evaluations(&defs, &slots[0]);
    eprintln!(
        "alarm_engine: {} alarms, {} records and {per_slot} evaluations per slot",
        defs.len(),
        slots[0].len()
    );
    let mut engine = Engine::new(
        defs,
        HashMap::new(),
        std::time::Duration::from_secs(3600),
        START,
    );
    let mut n: i64 = 0;
    bencher.counter(ItemsCount::new(per_slot)).bench_local(|| {
        // Time moves on across replays, so delays and rate windows keep working.
        let t = START + n * SECOND;
        for r in &mut slots[(n % 120) as usize] {
            match r {
                Record::Sample(s) => {
                    s.time_ns = t;
                    engine.on_sample(s);
                }
                Record::Poll(p) => {
                    p.time_ns = t;
                    engine.on_poll(p);
                }
            }
        }
        engine.tick(t);
        divan::black_box(engine.take_changes());
        n += 1;
    });
}
