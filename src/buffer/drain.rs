//! The drain task: empties every ring buffer, in each buffer's order, into the sinks.

use super::Consumer;
use crate::sample::Record;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, watch};

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
/// Wakes when a poller signals `wake`, and at least every `period`.
pub async fn run(
    mut consumers: Vec<Consumer>,
    mut sinks: Vec<Box<dyn Sink>>,
    wake: Arc<Notify>,
    period: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut batch = Vec::with_capacity(4096);
    let mut sender_gone = false;
    loop {
        let stopping = sender_gone || *stop.borrow();
        loop {
            let mut moved = 0;
            for c in &mut consumers {
                batch.clear();
                moved += c.pop_into(&mut batch, 4096);
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
    }
    for s in &mut sinks {
        s.close();
    }
}
