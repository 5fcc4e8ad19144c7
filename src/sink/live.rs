//! The live state: each point's last value, quality and short history, and each device's
//! last poll status; what the API serves.

use crate::buffer::drain::Sink;
use crate::config::catalog::Catalog;
use crate::metrics::Metrics;
use crate::sample::{PollStatus, Quality, Record, Value};
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};

pub mod history;

/// A point's latest sample (its short history: [`LiveState::history`]).
#[derive(Debug, Clone)]
pub struct PointState {
    /// The last sample's value; None when it was bad.
    pub value: Option<Value>,
    /// The last good value and its time (ns), kept while later samples are bad.
    pub last_good: Option<(i64, Value)>,
    pub quality: Quality,
    /// Scheduled time of the last sample, ns since the epoch (0: never polled).
    pub time_ns: i64,
    /// When the last sample arrived, on the monotonic clock (staleness survives clock steps).
    pub received_at: Option<std::time::Instant>,
}

/// Shared live state; cheap to clone.
#[derive(Clone)]
pub struct LiveState {
    inner: Arc<RwLock<Inner>>,
    pub catalog: Arc<Catalog>,
}

struct Inner {
    points: Vec<PointState>,
    devices: Vec<Option<PollStatus>>,
    /// Short history: each device's poll times, each point's values at them.
    history: history::History,
}

impl LiveState {
    /// Empty state for every point of the catalog, keeping `history` samples per point.
    pub fn new(catalog: Arc<Catalog>, history: usize) -> LiveState {
        let points = (0..catalog.point_count())
            .map(|_| PointState {
                value: None,
                last_good: None,
                quality: Quality::Bad(crate::sample::BadReason::Stale),
                time_ns: 0,
                received_at: None,
            })
            .collect();
        let devices = vec![None; catalog.devices.len()];
        let history = history::History::new(catalog.devices.len(), catalog.point_count(), history);
        LiveState {
            inner: Arc::new(RwLock::new(Inner {
                points,
                devices,
                history,
            })),
            catalog,
        }
    }

    /// One point's short history, oldest first: (scheduled time ns, value; None when bad),
    /// at most `[buffer] history` samples; empty for an unknown point.
    pub fn history(&self, id: crate::sample::PointId) -> Vec<(i64, Option<f64>)> {
        if id.0 as usize >= self.catalog.point_count() {
            return Vec::new();
        }
        let Ok(inner) = self.inner.read() else {
            return Vec::new();
        };
        let device = self.catalog.device_id_of(id).0 as usize;
        inner.history.read(device, id.0 as usize)
    }

    /// A copy of every point's state, in catalog order.
    pub fn points(&self) -> Vec<PointState> {
        self.inner
            .read()
            .map(|i| i.points.clone())
            .unwrap_or_default()
    }

    /// (points whose last sample is good, all points), counted without copying the state.
    pub fn good_points(&self) -> (usize, usize) {
        self.inner
            .read()
            .map(|i| {
                let good = i.points.iter().filter(|p| p.quality == Quality::Good);
                (good.count(), i.points.len())
            })
            .unwrap_or((0, self.catalog.point_count()))
    }

    /// A copy of one point's state.
    pub fn point(&self, id: crate::sample::PointId) -> Option<PointState> {
        self.inner.read().ok()?.points.get(id.0 as usize).cloned()
    }

    /// Each device's last poll status, in catalog order.
    pub fn devices(&self) -> Vec<Option<PollStatus>> {
        self.inner
            .read()
            .map(|i| i.devices.clone())
            .unwrap_or_default()
    }

    /// Applies records in arrival order (one buffer's records arrive in push order; after a
    /// system clock step back, timestamps go back too, and the newest sample still wins).
    fn apply(&self, records: &[Record]) {
        let Ok(mut guard) = self.inner.write() else {
            return;
        };
        let inner = &mut *guard;
        let now = std::time::Instant::now();
        for r in records {
            match r {
                Record::Sample(s) => {
                    let Some(p) = inner.points.get_mut(s.point.0 as usize) else {
                        continue;
                    };
                    p.time_ns = s.time_ns;
                    p.quality = s.quality;
                    p.received_at = Some(now);
                    p.value = s.value.clone();
                    if let Some(v) = &s.value {
                        p.last_good = Some((s.time_ns, v.clone()));
                    }
                    let device = self.catalog.device_id_of(s.point).0 as usize;
                    let value = s.value.as_ref().and_then(Value::as_f64);
                    inner
                        .history
                        .push(device, s.point.0 as usize, s.time_ns, value);
                }
                Record::Poll(st) => {
                    if let Some(d) = inner.devices.get_mut(st.device.0 as usize) {
                        *d = Some(**st);
                    }
                }
            }
        }
    }
}

/// The drain's view of the live state: collects records, applies them once per pass.
pub struct LiveSink {
    state: LiveState,
    metrics: Arc<Metrics>,
    pending: Vec<Record>,
}

impl LiveSink {
    pub fn new(state: LiveState, metrics: Arc<Metrics>) -> LiveSink {
        LiveSink {
            state,
            metrics,
            pending: Vec::with_capacity(4096),
        }
    }
}

impl Sink for LiveSink {
    fn record(&mut self, record: &Record) {
        if let Record::Sample(s) = record {
            self.metrics.samples_total.fetch_add(1, Ordering::Relaxed);
            if s.quality == Quality::Good {
                self.metrics.samples_good.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.pending.push(record.clone());
    }

    fn tick(&mut self) {
        if !self.pending.is_empty() {
            self.state.apply(&self.pending);
            self.pending.clear();
        }
    }

    fn close(&mut self) {
        self.tick();
    }
}
