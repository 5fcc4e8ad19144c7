//! The CRM feed's delivery worker: one request at a time, in event order (see [`super`] for
//! the guarantees).
//!
//! A request is `POST webhook_url` with `[crm] headers`, `Content-Type: application/json`,
//! `Idempotency-Key: vigie-crm-{instance}-{first}-{last}` (its first and last event ids) and
//! the body
//! `{"events": [{"id", "kind", "key", "time" (RFC 3339, UTC), "data"}, …]}` of up to
//! `[crm] batch_size` events. The outbox is read every [`POLL`] (and at once after a
//! delivery), so an event goes out about half a second after its transaction commits.

use super::outbox::{Batch, Outbox};
use super::{CrmError, CrmMetrics};
use crate::config::crm::{CrmConfig, default_retention};
use crate::notify::channels::http_failure;
use crate::notify::channels::webhook::error_chain;
use crate::notify::deliver::backoff;
use crate::notify::open_retrying;
use crate::sample::now_ns;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How often the outbox is read when idle.
pub const POLL: Duration = Duration::from_millis(500);
/// How often, without `[crm]`, pending events are discarded.
const DISCARD_EVERY: Duration = Duration::from_secs(60);
/// How often old events are deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// How long a request in flight may finish once stopping.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// Tries at recording a request's outcome.
const RECORD_TRIES: u32 = 5;

/// The `Idempotency-Key` of a request: `vigie-crm-{instance}-{first}-{last}`, its first and
/// last event ids.
///
/// A key denotes exactly one body: a request's events are fixed when it is made (the same
/// on every retry and after a restart), and the only change a request ever undergoes, a
/// split, makes single-event requests `{id}-{id}`, whose keys differ from the multi-event
/// request's (its first id differs from its last). The request's stored id (its first
/// event's) would not do: the first event sent alone after a split would reuse it with
/// another body, and a CRM dropping seen keys would lose that event (one following the IETF
/// Idempotency-Key draft answers 422).
pub fn idempotency_key(instance: &str, batch: &Batch) -> String {
    let first = batch.events.first().map_or(batch.id, |e| e.id);
    let last = batch.events.last().map_or(batch.id, |e| e.id);
    format!("vigie-crm-{instance}-{first}-{last}")
}

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Failure {
    /// `CRM webhook: HTTP {status}: {the answer's first 200 characters}`, or the
    /// connection error.
    pub message: String,
    pub kind: FailureKind,
}

/// What a failed request's answer says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The CRM refuses this content and would refuse it again (400, 409, 413, 422): a
    /// request of several events is split, an event refused alone given up.
    Refused,
    /// The request did not reach a CRM that accepts it (401, 403, 404): an expired token, a
    /// wrong URL, a gateway during a deploy. Retried, logged as an error: the events wait
    /// until the configuration or the CRM is fixed.
    Misconfigured,
    /// Anything else (connection error, timeout, 5xx, 408, 429, 405…): retried.
    Transient,
}

impl FailureKind {
    /// The meaning of an HTTP status other than 2xx.
    pub fn of(status: reqwest::StatusCode) -> FailureKind {
        match status.as_u16() {
            400 | 409 | 413 | 422 => FailureKind::Refused,
            401 | 403 | 404 => FailureKind::Misconfigured,
            _ => FailureKind::Transient,
        }
    }
}

/// A request's body: `{"events": [{"id", "kind", "key", "time", "data"}, …]}`, in id
/// order; `time` in RFC 3339 UTC (ns precision when it has any).
pub fn body(batch: &Batch) -> Value {
    let events: Vec<Value> = batch
        .events
        .iter()
        .map(|e| {
            let time = jiff::Timestamp::from_nanosecond(i128::from(e.time_ns))
                .map(|t| t.to_string())
                .unwrap_or_default();
            json!({"id": e.id, "kind": e.kind, "key": e.key, "time": time, "data": e.data})
        })
        .collect();
    json!({ "events": events })
}

/// POSTs `body` to the CRM: Ok on a 2xx; otherwise the failure, its kind by
/// [`FailureKind::of`] (a connection error or timeout is [`FailureKind::Transient`]).
pub async fn send(
    client: &reqwest::Client,
    cfg: &CrmConfig,
    key: &str,
    body: &Value,
) -> Result<(), Failure> {
    let mut req = client
        .post(&cfg.webhook_url)
        .timeout(cfg.timeout)
        .header("Idempotency-Key", key)
        .json(body);
    for (k, v) in &cfg.headers {
        req = req.header(k.as_str(), v.as_str());
    }
    // Without the URL in messages: a webhook's URL may hold its secret.
    let resp = req.send().await.map_err(|e| Failure {
        message: format!("CRM webhook: {}", error_chain(&e.without_url())),
        kind: FailureKind::Transient,
    })?;
    let status = resp.status();
    if status.is_success() {
        Ok(())
    } else {
        let message = http_failure("CRM webhook", resp).await.message;
        Err(Failure {
            message,
            kind: FailureKind::of(status),
        })
    }
}

/// Runs until `stop` turns true (or its sender is dropped). With `cfg`, delivers the
/// outbox's events to the CRM; without, discards them (see [`super`]). Deletes old events
/// either way. Errors are logged, never fatal.
pub async fn run(
    cfg: Option<CrmConfig>,
    data_dir: PathBuf,
    metrics: Arc<CrmMetrics>,
    mut stop: watch::Receiver<bool>,
) {
    let open = move || Outbox::open(&data_dir).map(|o| Arc::new(Mutex::new(o)));
    let Some(db) = open_retrying("CRM feed", &mut stop, open).await else {
        return;
    };
    let retention = cfg
        .as_ref()
        .map(|c| c.retention)
        .unwrap_or_else(default_retention);
    match cfg {
        Some(cfg) => deliver(cfg, db, retention, metrics, stop).await,
        None => discard(db, retention, stop).await,
    }
}

/// Without `[crm]`: discards pending events each minute and prunes.
async fn discard(db: Arc<Mutex<Outbox>>, retention: Duration, mut stop: watch::Receiver<bool>) {
    let mut last_prune: Option<Instant> = None;
    loop {
        match blocking(&db, |o| o.discard_pending()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(events = n, "no [crm] configured: CRM events discarded"),
            Err(e) => tracing::warn!("discarding CRM events: {e}"),
        }
        prune(&db, retention, &mut last_prune).await;
        tokio::select! {
            changed = stop.changed() => if changed.is_err() || *stop.borrow() { break },
            _ = tokio::time::sleep(DISCARD_EVERY) => {}
        }
    }
}

/// Deletes events no longer pending older than `retention`, at most hourly.
async fn prune(db: &Arc<Mutex<Outbox>>, retention: Duration, last: &mut Option<Instant>) {
    if last.is_some_and(|t| t.elapsed() < PRUNE_EVERY) {
        return;
    }
    *last = Some(Instant::now());
    let before = now_ns().saturating_sub(nanos(retention));
    match blocking(db, move |o| o.prune(before)).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(events = n, "old CRM events pruned"),
        Err(e) => tracing::warn!("pruning old CRM events: {e}"),
    }
}

/// The delivery loop.
async fn deliver(
    cfg: CrmConfig,
    db: Arc<Mutex<Outbox>>,
    retention: Duration,
    metrics: Arc<CrmMetrics>,
    mut stop: watch::Receiver<bool>,
) {
    let client = match reqwest::Client::builder()
        .user_agent(concat!("vigie/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(
                "CRM feed: cannot build the HTTP client: {e}; events wait in the outbox"
            );
            return;
        }
    };
    let instance = db
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .instance()
        .to_string();
    tracing::info!(batch_size = cfg.batch_size, "CRM feed started");
    let mut last_prune: Option<Instant> = None;
    let mut last_error = String::new();
    loop {
        if *stop.borrow() {
            break;
        }
        prune(&db, retention, &mut last_prune).await;
        let max = cfg.batch_size;
        let next = blocking(&db, move |o| {
            let b = o.next_batch(max)?;
            Ok((b, o.pending()?))
        })
        .await;
        let mut wait = POLL;
        match next {
            Ok((batch, pending)) => {
                last_error.clear();
                metrics.pending.store(pending, Ordering::Relaxed);
                if let Some(b) = batch {
                    let now = now_ns();
                    if b.due_ns <= now {
                        let key = idempotency_key(&instance, &b);
                        let body = body(&b);
                        let sending = send(&client, &cfg, &key, &body);
                        tokio::pin!(sending);
                        let result = tokio::select! {
                            r = &mut sending => r,
                            _ = stop.changed() => {
                                match tokio::time::timeout(STOP_GRACE, &mut sending).await {
                                    Ok(r) => r,
                                    Err(_) => {
                                        tracing::warn!(batch = b.id, "stopping: a CRM request cut short; its events stay in the outbox");
                                        break;
                                    }
                                }
                            }
                        };
                        record(&db, &b, result, &metrics).await;
                        continue;
                    }
                    let left = u64::try_from(b.due_ns.saturating_sub(now)).unwrap_or(0);
                    wait = Duration::from_nanos(left).min(POLL);
                }
            }
            Err(e) => {
                let text = e.to_string();
                if text != last_error {
                    tracing::error!("CRM feed: {text} (retrying)");
                    last_error = text;
                }
            }
        }
        tokio::select! {
            changed = stop.changed() => if changed.is_err() { break },
            _ = tokio::time::sleep(wait) => {}
        }
    }
    tracing::info!("CRM feed stopped");
}

/// What to do with a request's events after an answer.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Outcome {
    Sent,
    /// Try again at this time, ns.
    Retry(i64),
    /// Refused: give the (single) event up.
    Failed,
    /// Refused: send each event alone to find those refused.
    Split,
}

/// What an answer means for a request of `events` events after `attempts` failed ones.
pub(super) fn outcome(
    result: &Result<(), Failure>,
    events: usize,
    attempts: u32,
    now: i64,
) -> Outcome {
    match result {
        Ok(()) => Outcome::Sent,
        Err(e) if e.kind == FailureKind::Refused && events > 1 => Outcome::Split,
        Err(e) if e.kind == FailureKind::Refused => Outcome::Failed,
        Err(_) => Outcome::Retry(now.saturating_add(nanos(backoff(attempts + 1)))),
    }
}

/// Records a request's outcome (logged and counted); retried a few times, since a delivered
/// request left pending would be sent again.
async fn record(
    db: &Arc<Mutex<Outbox>>,
    b: &Batch,
    result: Result<(), Failure>,
    metrics: &CrmMetrics,
) {
    let n = b.events.len();
    let (first, last) = (
        b.events.first().map_or(0, |e| e.id),
        b.events.last().map_or(0, |e| e.id),
    );
    let now = now_ns();
    let out = outcome(&result, n, b.attempts, now);
    let misconfigured = matches!(&result, Err(e) if e.kind == FailureKind::Misconfigured);
    let message = result.err().map(|e| e.message).unwrap_or_default();
    match &out {
        Outcome::Sent => {
            metrics.sent.fetch_add(n as u64, Ordering::Relaxed);
            tracing::debug!(batch = b.id, events = n, first, last, "CRM events sent");
        }
        Outcome::Retry(due) => {
            metrics.delivery_errors.fetch_add(1, Ordering::Relaxed);
            let secs = u64::try_from(due.saturating_sub(now) / 1_000_000_000).unwrap_or(0);
            let retry = humantime::format_duration(Duration::from_secs(secs.max(1)));
            if misconfigured {
                tracing::error!(
                    batch = b.id,
                    events = n,
                    attempt = b.attempts + 1,
                    "CRM events not delivered: {message}; check [crm] webhook_url and headers \
                     (token) and the CRM; retry in {retry}"
                );
            } else {
                tracing::warn!(
                    batch = b.id,
                    events = n,
                    attempt = b.attempts + 1,
                    "CRM events not delivered: {message}; retry in {retry}"
                );
            }
        }
        Outcome::Split => tracing::warn!(
            batch = b.id,
            events = n,
            first,
            last,
            "the CRM refused a request: {message}; sending its events one by one to find the refused ones"
        ),
        Outcome::Failed => {
            metrics.failed.fetch_add(n as u64, Ordering::Relaxed);
            tracing::error!(
                event = first,
                kind = b.events.first().map_or("", |e| e.kind.as_str()),
                key = b.events.first().map_or("", |e| e.key.as_str()),
                "CRM event given up, the CRM refused it: {message}"
            );
        }
    }
    let batch = b.id;
    for attempt in 1..=RECORD_TRIES {
        let (out, message) = (out.clone(), message.clone());
        let recorded = blocking(db, move |o| match out {
            Outcome::Sent => o.mark_sent(batch, now_ns()),
            Outcome::Retry(due) => o.mark_retry(batch, due, &message),
            Outcome::Failed => o.mark_failed(batch, &message),
            Outcome::Split => o.split(batch, &message),
        })
        .await;
        match recorded {
            Ok(()) => return,
            Err(e) if attempt == RECORD_TRIES => {
                tracing::error!(batch, "cannot record a CRM request's outcome: {e}");
            }
            Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
        }
    }
}

/// Runs `f` on the outbox on a blocking thread.
async fn blocking<T: Send + 'static>(
    db: &Arc<Mutex<Outbox>>,
    f: impl FnOnce(&mut Outbox) -> Result<T, CrmError> + Send + 'static,
) -> Result<T, CrmError> {
    let db = db.clone();
    tokio::task::spawn_blocking(move || f(&mut db.lock().unwrap_or_else(PoisonError::into_inner)))
        .await
        .map_err(|e| CrmError::Task(e.to_string()))?
}

fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}
