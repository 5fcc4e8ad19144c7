//! The ring buffers between pollers and the drain (`vigie::buffer`), as vigie uses them:
//! one [`Producer`] per connection pushes [`Record`]s (a poll's samples, then its
//! [`PollStatus`]), one [`Consumer`] pops them in batches. The counter is records.
//!
//! - `same_thread`: push a poll's records, then pop them (no contention: the floor).
//! - `two_threads`: single producer on a thread of its own, single consumer on the
//!   benchmark's thread, both at once (what the poller tasks and the drain task do on a
//!   multi-threaded runtime); measures the time for the consumer to receive every record.
//!
//! Run: `cargo bench --bench ring_buffer`.

use divan::Bencher;
use divan::counter::ItemsCount;
use std::sync::Arc;
use tokio::sync::Notify;
use vigie::buffer::channel;
use vigie::sample::{DeviceId, PointId, PollStatus, Quality, Record, Sample, Value};

fn main() {
    divan::main();
}

/// Samples of one poll (an energy meter's 20 points) followed by its poll status.
fn poll_records(device: u32, time_ns: i64) -> Vec<Record> {
    let mut out: Vec<Record> = (0..20)
        .map(|i| {
            Record::Sample(Sample {
                point: PointId(device * 20 + i),
                time_ns,
                value: Some(Value::F64(230.0 + f64::from(i) * 0.1)),
                quality: Quality::Good,
            })
        })
        .collect();
    out.push(Record::Poll(Box::new(PollStatus {
        device: DeviceId(device),
        time_ns,
        up: true,
        latency_ms: Some(1.2),
        timeouts: 0,
        errors: 0,
    })));
    out
}

/// `[buffer] capacity`'s default (`vigie::config::BufferConfig`).
const CAPACITY: usize = 65_536;

#[divan::bench(args = [1, 16])]
fn same_thread(bencher: Bencher, polls: usize) {
    let (mut p, mut c) = channel("bench", CAPACITY, Arc::new(Notify::new()));
    let records: Vec<Record> = (0..polls as u32)
        .flat_map(|d| poll_records(d, 1_700_000_000_000_000_000))
        .collect();
    let mut out = Vec::with_capacity(records.len());
    bencher
        .counter(ItemsCount::new(records.len()))
        .with_inputs(|| records.clone())
        .bench_local_values(|batch| {
            for r in batch {
                p.push(r);
            }
            out.clear();
            c.pop_into(&mut out, usize::MAX);
            divan::black_box(&out);
        });
}

/// Records per measured run in `two_threads`.
const STREAM: usize = 100_000;

#[divan::bench(sample_count = 20)]
fn two_threads(bencher: Bencher) {
    let template = poll_records(7, 1_700_000_000_000_000_000);
    bencher.counter(ItemsCount::new(STREAM)).bench_local(|| {
        let (mut p, mut c) = channel("bench", CAPACITY, Arc::new(Notify::new()));
        let records = template.clone();
        let producer = std::thread::spawn(move || {
            let mut sent = 0;
            while sent < STREAM {
                let r = records[sent % records.len()].clone();
                // A full buffer refuses the record: retry it (vigie counts it instead).
                while !p.push(r.clone()) {
                    std::hint::spin_loop();
                }
                sent += 1;
            }
        });
        let mut out = Vec::with_capacity(1024);
        let mut received = 0;
        while received < STREAM {
            out.clear();
            received += c.pop_into(&mut out, 1024);
            divan::black_box(&out);
        }
        if producer.join().is_err() {
            panic!("producer thread panicked");
        }
    });
}
