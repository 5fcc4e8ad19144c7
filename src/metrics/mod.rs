//! Counters shared by every stage and rendered at `GET /metrics` in the Prometheus text
//! exposition format (prometheus.io/docs/instrumenting/exposition_formats).

use crate::buffer::BufferStats;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

mod render;
pub use render::{CHUNK_BYTES, TextChunks};

/// Upper bounds of the latency and lateness histograms, in seconds: fine below 50 ms, so
/// that a p99 lateness can be told against a 20 ms target (scripts/bench.sh).
pub const BUCKETS_S: [f64; 17] = [
    0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.2, 0.5, 1.0,
    2.0, 5.0,
];

/// A cumulative histogram of durations.
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; BUCKETS_S.len()],
    count: AtomicU64,
    sum_us: AtomicU64,
}

impl Histogram {
    /// Records one observation, in seconds.
    pub fn observe(&self, seconds: f64) {
        for (b, le) in self.buckets.iter().zip(BUCKETS_S) {
            if seconds <= le {
                b.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us
            .fetch_add((seconds.max(0.0) * 1e6) as u64, Ordering::Relaxed);
    }
}

/// Per-device poll counters.
#[derive(Debug, Default)]
pub struct DeviceCounters {
    pub site: String,
    pub device: String,
    pub polls: AtomicU64,
    pub requests: AtomicU64,
    pub timeouts: AtomicU64,
    pub errors: AtomicU64,
    pub exceptions: AtomicU64,
    pub missed_slots: AtomicU64,
    /// 1 when the last poll got every reply.
    pub up: AtomicU64,
    pub poll_latency: Histogram,
    /// How late a poll started against its grid slot.
    pub lateness: Histogram,
}

/// InfluxDB writer and spool counters.
#[derive(Debug, Default)]
pub struct WriterCounters {
    pub batches_sent: AtomicU64,
    pub lines_sent: AtomicU64,
    pub batches_failed: AtomicU64,
    pub batches_rejected: AtomicU64,
    pub retries: AtomicU64,
    pub batches_spooled: AtomicU64,
    pub batches_replayed: AtomicU64,
    pub spool_bytes: AtomicU64,
    pub spool_refused: AtomicU64,
    /// Batches waiting in the spool for replay (gauge).
    pub spool_backlog: AtomicU64,
    /// Waiting batches dropped to make room (`spool_full = "drop_oldest"`).
    pub spool_dropped: AtomicU64,
    /// 1 while the spool cannot keep every batch (one was refused or dropped, or the disk
    /// failed), until it has drained below its bound with a margin (or, after a disk error,
    /// until a batch is sealed again); else 0.
    pub spool_full: AtomicU64,
    /// Writes to the spool that failed on the disk (full before `spool_max_mib`, I/O error).
    pub spool_errors: AtomicU64,
    pub fields_dropped_non_finite: AtomicU64,
}

/// Every counter of the daemon.
#[derive(Debug, Default)]
pub struct Metrics {
    pub devices: Vec<DeviceCounters>,
    pub buffers: Mutex<Vec<Arc<BufferStats>>>,
    pub writer: WriterCounters,
    pub samples_total: AtomicU64,
    pub samples_good: AtomicU64,
    pub http_requests: AtomicU64,
    /// The API's connections: TLS handshake failures, timeouts.
    pub api_serve: Arc<crate::api::serve::ServeCounters>,
    /// Passes the drain task made (one at least every 100 ms while it runs): the systemd
    /// watchdog's proof that the pipeline moves ([`crate::systemd::watchdog`]).
    pub drain_passes: AtomicU64,
}

impl Metrics {
    /// One set of device counters per catalog device, in catalog order.
    pub fn new(devices: impl IntoIterator<Item = (String, String)>) -> Metrics {
        Metrics {
            devices: devices
                .into_iter()
                .map(|(site, device)| DeviceCounters {
                    site,
                    device,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }
}
