//! The drain task: empties every ring buffer, in each buffer's order, into the sinks.

use super::Consumer;
use crate::sample::Record;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

/// A stage fed by the drain (live state, InfluxDB batcher, ...).
pub trait Sink: Send {
    /// Takes one record; records of one buffer arrive in push order.
    fn record(&mut self, record: &Record);
    /// Called after each drain pass (batch deadlines, ...).
    fn tick(&mut self) {}
    /// Called once at shutdown, after the last records.
    fn close(&mut self) {}
}

/// Runs until `stop` turns true, then drains what is left and closes the sinks.
/// Wakes when a poller signals `wake`, and at least every `period`; passes start at least
/// `min_gap` apart, so the polls of a burst (every connection polls on the same grid instant)
/// are drained together rather than one pass per poll: a pass visits every ring buffer and
/// writes its lines to the spool (one `write`), and waking the drain from another worker
/// thread costs a futex wake-up and a context switch (BENCHMARKS.md "Profile with kernel
/// time"). A record waits at most `min_gap` more before a pass takes it.
pub async fn run(
    mut consumers: Vec<Consumer>,
    mut sinks: Vec<Box<dyn Sink>>,
    wake: Arc<Notify>,
    period: Duration,
    min_gap: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut batch = Vec::with_capacity(4096);
    let mut sender_gone = false;
    loop {
        let pass_started = Instant::now();
        let stopping = sender_gone || *stop.borrow();
        loop {
            let mut moved = 0;
            for c in &mut consumers {
                batch.clear();
                // Whole polls while running; everything when stopping.
                moved += if stopping {
                    c.pop_into(&mut batch, 4096)
                } else {
                    c.pop_flushed_into(&mut batch, 4096)
                };
                for r in &batch {
                    for s in &mut sinks {
                        s.record(r);
                    }
                }
            }
            if moved == 0 {
                break;
            }
        }
        for s in &mut sinks {
            s.tick();
        }
        if stopping {
            break;
        }
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(period) => {}
            changed = stop.changed() => {
                // The sender is gone: drain what is left and close.
                sender_gone = changed.is_err();
            }
        }
        // Let the rest of a burst land; a stop ends the wait.
        let next_pass = pass_started + min_gap;
        if !sender_gone && !*stop.borrow() && Instant::now() < next_pass {
            tokio::select! {
                _ = tokio::time::sleep_until(next_pass) => {}
                changed = stop.changed() => sender_gone = changed.is_err(),
            }
        }
    }
    for s in &mut sinks {
        s.close();
    }
}
