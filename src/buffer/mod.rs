//! Bounded lock-free ring buffers between pollers and sinks (DESIGN.md "Data flow").
//!
//! Each connection's poller owns the producer side of its own SPSC ring buffer (ringbuf's
//! `HeapRb`: wait-free push and pop, no allocation after start-up); one drain task owns
//! every consumer side. A full buffer refuses the new record: it is counted
//! ([`BufferStats::overflow`], exposed at `/metrics`) and logged, never dropped silently.
//!
//! The drain takes a poll's records whole: [`Consumer::pop_flushed_into`] stops at the
//! producer's last [`Producer::flush`], so a drain pass that falls in the middle of a poll
//! leaves that poll's first records for the next pass, and one poll is never split over two
//! `telemetry` lines in two batches.

pub mod drain;

use crate::sample::Record;
use ringbuf::traits::{Consumer as _, Observer as _, Producer as _, Split as _};
use ringbuf::{HeapCons, HeapProd, HeapRb};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Counters of one ring buffer, shared with `/metrics`.
#[derive(Debug)]
pub struct BufferStats {
    /// The connection it belongs to (`host:port`).
    pub name: String,
    /// Records it holds at most.
    pub capacity: usize,
    /// Records accepted since start-up.
    pub pushed: AtomicU64,
    /// Records refused because the buffer was full.
    pub overflow: AtomicU64,
    /// Records waiting, as last seen by the producer.
    pub occupied: AtomicUsize,
    /// Records accepted up to the producer's last [`Producer::flush`].
    flushed: AtomicU64,
}

/// The poller's end.
pub struct Producer {
    inner: HeapProd<Record>,
    stats: Arc<BufferStats>,
    wake: Arc<Notify>,
    last_overflow_log: Option<Instant>,
    /// Records accepted since start-up (the producer's own count of `stats.pushed`).
    accepted: u64,
}

/// The drain task's end.
pub struct Consumer {
    inner: HeapCons<Record>,
    pub stats: Arc<BufferStats>,
    /// Records popped since start-up.
    taken: u64,
}

/// A new ring buffer of `capacity` records; `wake` is notified when a poll completes.
pub fn channel(name: &str, capacity: usize, wake: Arc<Notify>) -> (Producer, Consumer) {
    let (p, c) = HeapRb::<Record>::new(capacity.max(1)).split();
    let stats = Arc::new(BufferStats {
        name: name.to_string(),
        capacity,
        pushed: AtomicU64::new(0),
        overflow: AtomicU64::new(0),
        occupied: AtomicUsize::new(0),
        flushed: AtomicU64::new(0),
    });
    (
        Producer {
            inner: p,
            stats: stats.clone(),
            wake,
            last_overflow_log: None,
            accepted: 0,
        },
        Consumer {
            inner: c,
            stats,
            taken: 0,
        },
    )
}

impl Producer {
    /// Pushes one record; false (and counted, and logged at most every 10 s) when full.
    pub fn push(&mut self, record: Record) -> bool {
        let ok = self.inner.try_push(record).is_ok();
        if ok {
            self.accepted += 1;
            self.stats.pushed.fetch_add(1, Ordering::Relaxed);
        } else {
            let n = self.stats.overflow.fetch_add(1, Ordering::Relaxed) + 1;
            let now = Instant::now();
            if self
                .last_overflow_log
                .is_none_or(|t| now - t > Duration::from_secs(10))
            {
                self.last_overflow_log = Some(now);
                tracing::error!(
                    buffer = %self.stats.name,
                    capacity = self.stats.capacity,
                    overflow_total = n,
                    "ring buffer full: samples refused (the drain or a sink is not keeping up)"
                );
            }
        }
        self.stats
            .occupied
            .store(self.inner.occupied_len(), Ordering::Relaxed);
        ok
    }

    /// Tells the drain task that a poll's records are complete: they may be drained now.
    pub fn flush(&self) {
        // Release: the records pushed before are in the ring for a consumer that reads this.
        self.stats.flushed.store(self.accepted, Ordering::Release);
        self.wake.notify_one();
    }

    /// The buffer's counters.
    pub fn stats(&self) -> &Arc<BufferStats> {
        &self.stats
    }
}

impl Consumer {
    /// Moves up to `max` records into `out`, flushed or not (at shutdown, and where nothing
    /// flushes); returns how many.
    pub fn pop_into(&mut self, out: &mut Vec<Record>, max: usize) -> usize {
        self.pop_at_most(out, max)
    }

    /// Moves up to `max` records pushed before the producer's last [`Producer::flush`] into
    /// `out` (whole polls); returns how many.
    pub fn pop_flushed_into(&mut self, out: &mut Vec<Record>, max: usize) -> usize {
        let flushed = self.stats.flushed.load(Ordering::Acquire);
        let ready = usize::try_from(flushed.saturating_sub(self.taken)).unwrap_or(usize::MAX);
        self.pop_at_most(out, max.min(ready))
    }

    fn pop_at_most(&mut self, out: &mut Vec<Record>, max: usize) -> usize {
        if max == 0 {
            return 0;
        }
        let before = out.len();
        out.extend(self.inner.pop_iter().take(max));
        self.stats
            .occupied
            .store(self.inner.occupied_len(), Ordering::Relaxed);
        let n = out.len() - before;
        self.taken += n as u64;
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::{PointId, Quality, Sample};

    fn rec(i: i64) -> Record {
        Record::Sample(Sample {
            point: PointId(0),
            time_ns: i,
            value: None,
            quality: Quality::Good,
        })
    }

    #[test]
    fn full_buffer_counts_and_refuses_newest() {
        let (mut p, mut c) = channel("t", 4, Arc::new(Notify::new()));
        for i in 0..6 {
            p.push(rec(i));
        }
        assert_eq!(p.stats().overflow.load(Ordering::Relaxed), 2);
        assert_eq!(p.stats().pushed.load(Ordering::Relaxed), 4);
        let mut out = Vec::new();
        assert_eq!(c.pop_into(&mut out, 100), 4);
        assert_eq!(out, (0..4).map(rec).collect::<Vec<_>>());
    }

    #[test]
    fn the_drain_takes_only_flushed_records() {
        let (mut p, mut c) = channel("t", 16, Arc::new(Notify::new()));
        let mut out = Vec::new();
        for i in 0..3 {
            p.push(rec(i));
        }
        assert_eq!(c.pop_flushed_into(&mut out, 100), 0);
        p.flush();
        p.push(rec(3));
        p.push(rec(4));
        assert_eq!(c.pop_flushed_into(&mut out, 2), 2);
        assert_eq!(c.pop_flushed_into(&mut out, 100), 1);
        assert_eq!(out, (0..3).map(rec).collect::<Vec<_>>());
        // Unflushed records wait for the flush, or for a final `pop_into`.
        assert_eq!(c.pop_flushed_into(&mut out, 100), 0);
        p.flush();
        assert_eq!(c.pop_flushed_into(&mut out, 100), 2);
        p.push(rec(5));
        assert_eq!(c.pop_into(&mut out, 100), 1);
        p.flush();
        assert_eq!(c.pop_flushed_into(&mut out, 100), 0);
        assert_eq!(out, (0..6).map(rec).collect::<Vec<_>>());
    }

    #[test]
    fn refused_records_are_not_counted_as_flushed() {
        let (mut p, mut c) = channel("t", 2, Arc::new(Notify::new()));
        for i in 0..4 {
            p.push(rec(i));
        }
        p.flush();
        let mut out = Vec::new();
        assert_eq!(c.pop_flushed_into(&mut out, 100), 2);
        p.push(rec(9));
        p.flush();
        assert_eq!(c.pop_flushed_into(&mut out, 100), 1);
        assert_eq!(out, vec![rec(0), rec(1), rec(9)]);
    }

    #[test]
    fn order_is_kept_across_threads() {
        let (mut p, mut c) = channel("t", 1024, Arc::new(Notify::new()));
        let t = std::thread::spawn(move || {
            let mut i = 0;
            while i < 100_000 {
                if p.push(rec(i)) {
                    i += 1;
                }
            }
        });
        let mut out = Vec::new();
        let mut next = 0;
        while next < 100_000 {
            out.clear();
            c.pop_into(&mut out, 256);
            for r in &out {
                assert_eq!(*r, rec(next));
                next += 1;
            }
        }
        t.join().unwrap();
    }
}
