//! Where the alarm engine meets the rest of vigie: the drain's [`AlarmSink`], and the
//! recorder thread that owns the SQLite [`Store`], commits events with their states, wakes
//! the notifier and hands `alarm_events` lines to the InfluxDB writer.
//!
//! Order is kept: changes are taken from the engine and queued to the recorder under the
//! engine's lock, whether they come from samples, the clock or an operator.

use super::condition::SystemCondition;
use super::engine::{Action, Engine, EngineError};
use super::store::{HistoryQuery, Persisted, Store, StoreError};
use super::{AlarmEvent, Priority};
use crate::buffer::drain::Sink;
use crate::sample::{Record, now_ns};
use crate::sink::influx::batch::Handoff;
use crate::sink::influx::line::{Field, encode_line};
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use tokio::sync::{Notify, oneshot};

/// An activation: (time ns, alarm id, priority).
pub type Activation = (i64, String, Priority);

/// What the recorder thread is asked to do.
enum Command {
    Commit {
        events: Vec<AlarmEvent>,
        states: Vec<(String, Persisted)>,
        done: Option<oneshot::Sender<Result<Vec<AlarmEvent>, String>>>,
    },
    History {
        query: HistoryQuery,
        reply: oneshot::Sender<Result<Vec<AlarmEvent>, String>>,
    },
    Activations {
        from_ns: i64,
        reply: oneshot::Sender<Result<Vec<Activation>, String>>,
    },
    /// Commit what is queued and end the thread.
    Close,
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct AlarmMetrics {
    /// Events written to the journal.
    pub events: AtomicU64,
    /// Commits that failed (the events are logged and kept for the next try).
    pub store_errors: AtomicU64,
}

/// The engine and its recorder, shared by the drain sink and the API. Cheap to clone.
#[derive(Clone)]
pub struct Alarms {
    pub engine: Arc<Mutex<Engine>>,
    tx: mpsc::Sender<Command>,
    pub metrics: Arc<AlarmMetrics>,
}

/// Why the API could not do what it asked.
#[derive(Debug, thiserror::Error)]
pub enum AlarmsError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("alarm database: {0}")]
    Store(String),
    #[error("the alarm engine is stopping")]
    Gone,
}

impl Alarms {
    /// Starts the recorder thread over `store`. `wake` is notified after each commit (the
    /// notifier follows the journal); `influx` gets the `alarm_events` lines. The thread ends
    /// on [`Alarms::close`] or when every [`Alarms`] clone is dropped, after committing what
    /// was queued.
    pub fn start(
        engine: Engine,
        mut store: Store,
        retention: std::time::Duration,
        wake: Arc<Notify>,
        influx: Handoff,
    ) -> (Alarms, std::thread::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel::<Command>();
        let metrics = Arc::new(AlarmMetrics::default());
        let m = metrics.clone();
        let retention_ns = i64::try_from(retention.as_nanos()).unwrap_or(i64::MAX);
        let thread = std::thread::Builder::new()
            .name("vigie-alarms".into())
            .spawn(move || record(&mut store, rx, &m, retention_ns, &wake, &influx))
            .unwrap_or_else(|e| {
                // Spawning a thread fails only when the system is out of resources.
                tracing::error!(error = %e, "cannot start the alarm recorder thread");
                std::thread::spawn(|| {})
            });
        let alarms = Alarms {
            engine: Arc::new(Mutex::new(engine)),
            tx,
            metrics,
        };
        // Changes made while building the engine (out-of-service from the config).
        alarms.flush(None);
        (alarms, thread)
    }

    /// Queues the engine's pending changes; `done` hears when they are committed.
    fn flush_locked(
        &self,
        engine: &mut Engine,
        done: Option<oneshot::Sender<Result<Vec<AlarmEvent>, String>>>,
    ) {
        let (events, states) = engine.take_changes();
        if events.is_empty() && states.is_empty() && done.is_none() {
            return;
        }
        let _ = self.tx.send(Command::Commit {
            events,
            states,
            done,
        });
    }

    fn flush(&self, done: Option<oneshot::Sender<Result<Vec<AlarmEvent>, String>>>) {
        if let Ok(mut e) = self.engine.lock() {
            self.flush_locked(&mut e, done);
        }
    }

    /// Applies records (from the drain) and the clock, and queues the changes.
    pub fn apply(&self, records: &[Record], now_ns: i64) {
        self.apply_with_system(records, &[], now_ns);
    }

    /// [`Alarms::apply`], with vigie's own conditions as they are now.
    pub fn apply_with_system(
        &self,
        records: &[Record],
        system: &[(SystemCondition, bool)],
        now_ns: i64,
    ) {
        let Ok(mut e) = self.engine.lock() else {
            return;
        };
        for &(which, active) in system {
            e.on_system(which, active, now_ns);
        }
        // Time order across buffers; within one poll time, the points that suppress by
        // design first, so a pump stopped on purpose hides its low-flow alarm in the same slot.
        let mut order: Vec<&Record> = records.iter().collect();
        order.sort_by_key(|r| match r {
            Record::Sample(s) => (s.time_ns, !e.is_watched(s.point)),
            Record::Poll(p) => (p.time_ns, true),
        });
        for r in order {
            match r {
                Record::Sample(s) => e.on_sample(s),
                Record::Poll(p) => e.on_poll(p),
            }
        }
        e.tick(now_ns);
        self.flush_locked(&mut e, None);
    }

    /// An operator's action; answers once its event is committed to the journal.
    /// Returns the events it produced (one, or none when it changed nothing visible).
    pub async fn act(
        &self,
        id: &str,
        action: Action,
        operator: &str,
        comment: &str,
    ) -> Result<Vec<AlarmEvent>, AlarmsError> {
        let (done, committed) = oneshot::channel();
        {
            let mut e = self.engine.lock().map_err(|_| AlarmsError::Gone)?;
            e.act(id, &action, operator, comment, now_ns())?;
            self.flush_locked(&mut e, Some(done));
        }
        committed
            .await
            .map_err(|_| AlarmsError::Gone)?
            .map_err(AlarmsError::Store)
    }

    /// Ends the recorder thread once what is queued is committed (at shutdown, after the
    /// drain and the API stopped). Later changes are not recorded.
    pub fn close(&self) {
        self.flush(None);
        let _ = self.tx.send(Command::Close);
    }

    /// Journal events, newest first.
    pub async fn history(&self, query: HistoryQuery) -> Result<Vec<AlarmEvent>, AlarmsError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::History { query, reply })
            .map_err(|_| AlarmsError::Gone)?;
        rx.await
            .map_err(|_| AlarmsError::Gone)?
            .map_err(AlarmsError::Store)
    }

    /// Activations since `from_ns`, oldest first (for the EEMUA 191 figures).
    pub async fn activations(&self, from_ns: i64) -> Result<Vec<Activation>, AlarmsError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::Activations { from_ns, reply })
            .map_err(|_| AlarmsError::Gone)?;
        rx.await
            .map_err(|_| AlarmsError::Gone)?
            .map_err(AlarmsError::Store)
    }
}

fn record(
    store: &mut Store,
    rx: mpsc::Receiver<Command>,
    metrics: &AlarmMetrics,
    retention_ns: i64,
    wake: &Notify,
    influx: &Handoff,
) {
    let mut last_prune = 0i64;
    let mut waiting: Vec<AlarmEvent> = Vec::new();
    let mut states: Vec<(String, Persisted)> = Vec::new();
    let mut done = Vec::new();
    let mut closing = false;
    while !closing {
        // While a failed commit waits, retry every half second even when nothing comes.
        let first = if waiting.is_empty() && states.is_empty() {
            match rx.recv() {
                Ok(c) => Some(c),
                Err(_) => break,
            }
        } else {
            match rx.recv_timeout(std::time::Duration::from_millis(500)) {
                Ok(c) => Some(c),
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        };
        // Everything queued goes in one transaction: an alarm flood is one fsync, not many.
        let mut next = first;
        while let Some(cmd) = next.take().or_else(|| rx.try_recv().ok()) {
            match cmd {
                Command::Commit {
                    events,
                    states: s,
                    done: d,
                } => {
                    waiting.extend(events);
                    states.extend(s);
                    done.extend(d);
                }
                Command::History { query, reply } => {
                    let _ = reply.send(store.history(&query).map_err(|e| e.to_string()));
                }
                Command::Activations { from_ns, reply } => {
                    let _ = reply.send(store.activations(from_ns).map_err(|e| e.to_string()));
                }
                Command::Close => closing = true,
            }
        }
        if waiting.is_empty() && states.is_empty() && done.is_empty() {
            continue;
        }
        // The journal and the states first; a failure keeps them for the next try.
        dedup_states(&mut states);
        match store.commit(&mut waiting, &states) {
            Ok(()) => {
                metrics
                    .events
                    .fetch_add(waiting.len() as u64, Ordering::Relaxed);
                for e in &waiting {
                    tracing::info!(alarm = %e.alarm_id, from = e.from_state.as_str(), to = e.to_state.as_str(), message = %e.message, "alarm");
                }
                if !waiting.is_empty() {
                    wake.notify_one();
                    influx.hand(lines(&waiting).into());
                }
                let events = std::mem::take(&mut waiting);
                for d in done.drain(..) {
                    let _ = d.send(Ok(events.clone()));
                }
                states.clear();
            }
            Err(e) => {
                metrics.store_errors.fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %e, events = waiting.len(), "cannot commit alarm events; will retry");
                for d in done.drain(..) {
                    let _ = d.send(Err(format!(
                        "{e} (the action is applied and will be written when the database answers)"
                    )));
                }
            }
        }
        let now = now_ns();
        if now - last_prune > 3_600_000_000_000 {
            last_prune = now;
            if let Err(e) = store.prune(now.saturating_sub(retention_ns)) {
                tracing::warn!(error = %e, "cannot prune the alarm journal");
            }
        }
    }
    // Closing, or every sender is gone: commit what is left (after a failed commit).
    if waiting.is_empty() && states.is_empty() {
        return;
    }
    dedup_states(&mut states);
    match store.commit(&mut waiting, &states) {
        Ok(()) => influx.hand(lines(&waiting).into()),
        Err(e) => {
            tracing::error!(error = %e, events = waiting.len(), "cannot commit the last alarm events; they are lost")
        }
    }
}

/// Keeps the last state of each alarm.
fn dedup_states(states: &mut Vec<(String, Persisted)>) {
    let mut seen = HashSet::new();
    let mut out: Vec<(String, Persisted)> = states
        .drain(..)
        .rev()
        .filter(|(id, _)| seen.insert(id.clone()))
        .collect();
    out.reverse();
    *states = out;
}

/// The `alarm_events` lines (DESIGN.md "InfluxDB schema"): tags `site`, `device`, `point`
/// (point alarms), `alarm` (the condition: `low_low`, `comm_failure`...) and `priority`;
/// fields `state`, `value`, `limit`, `message`, and `operator` for operator actions.
pub fn lines(events: &[AlarmEvent]) -> Vec<u8> {
    let mut buf = Vec::new();
    for e in events {
        let mut tags = vec![("site", e.site.as_str()), ("device", e.device.as_str())];
        if let Some(p) = &e.point {
            tags.push(("point", p.as_str()));
        }
        tags.push(("alarm", e.condition.as_str()));
        tags.push(("priority", e.priority.as_str()));
        let mut fields = vec![
            ("state", Field::Str(e.to_state.as_str())),
            ("message", Field::Str(&e.message)),
        ];
        if let Some(v) = e.value {
            fields.push(("value", Field::F64(v)));
        }
        if let Some(l) = e.limit {
            fields.push(("limit", Field::F64(l)));
        }
        if let Some(o) = &e.operator {
            fields.push(("operator", Field::Str(o)));
        }
        encode_line(&mut buf, "alarm_events", &tags, &fields, e.time_ns);
    }
    buf
}

/// The drain's alarm stage: keeps the records the alarms look at, applies them once per pass.
pub struct AlarmSink {
    alarms: Alarms,
    /// Where vigie's own conditions are read (the spool's `full` flag); None in unit tests.
    metrics: Option<Arc<crate::metrics::Metrics>>,
    points: HashSet<u32>,
    devices: HashSet<u32>,
    pending: Vec<Record>,
}

impl AlarmSink {
    pub fn new(alarms: Alarms) -> AlarmSink {
        let (mut points, mut devices) = (HashSet::new(), HashSet::new());
        if let Ok(e) = alarms.engine.lock() {
            for d in e.defs() {
                match (d.point, d.device) {
                    (Some(p), _) => points.insert(p.0),
                    (None, Some(dev)) => devices.insert(dev.0),
                    (None, None) => false,
                };
                if let Some((p, _)) = d.suppressed_while {
                    points.insert(p.0);
                }
            }
        }
        AlarmSink {
            alarms,
            metrics: None,
            points,
            devices,
            pending: Vec::new(),
        }
    }
}

impl AlarmSink {
    /// The same sink, also raising vigie's own alarms from `metrics` (the spool's state).
    pub fn with_system(mut self, metrics: Arc<crate::metrics::Metrics>) -> AlarmSink {
        self.metrics = Some(metrics);
        self
    }
}

impl Sink for AlarmSink {
    fn record(&mut self, record: &Record) {
        let wanted = match record {
            Record::Sample(s) => self.points.contains(&s.point.0),
            Record::Poll(p) => self.devices.contains(&p.device.0),
        };
        if wanted {
            self.pending.push(record.clone());
        }
    }

    fn tick(&mut self) {
        let system = self.metrics.as_ref().map(|m| {
            let full = m.writer.spool_full.load(Ordering::Relaxed) != 0;
            [(SystemCondition::SpoolFull, full)]
        });
        self.alarms.apply_with_system(
            &self.pending,
            system.as_ref().map_or(&[], |s| &s[..]),
            now_ns(),
        );
        self.pending.clear();
    }

    fn close(&mut self) {
        self.tick();
    }
}

impl From<StoreError> for AlarmsError {
    fn from(e: StoreError) -> Self {
        AlarmsError::Store(e.to_string())
    }
}
