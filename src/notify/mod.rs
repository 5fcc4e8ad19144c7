//! Notifications to maintenance engineers (DESIGN.md "Data flow": alarm engine →
//! notifications): e-mail, SMS through an HTTP gateway, webhooks (generic JSON, Slack,
//! Teams), with on-call rosters, escalation, consolidation and rate limits.
//!
//! The notifier is decoupled from the alarm engine through the journal (`alarm_events` in
//! `<data_dir>/alarms.sqlite`): it follows it with its own cursor and keeps what it has to
//! deliver in an outbox in the same database ([`outbox`] lists the tables). So:
//!
//! - no event is lost between the engine's commit and the notifier, and none is planned
//!   twice: reading events, adding their notifications and moving the cursor is one
//!   transaction;
//! - a notification survives vigie's restart and a receiver being down: it is delivered
//!   once the receiver is back, retried with backoff until `max_age`;
//! - it is delivered once. The one exception: vigie stopping between a successful send and
//!   its record repeats that message at the next start. Every message carries an id
//!   (`vigie-notify-{instance}-{n}`: the database's random instance id and the message's
//!   number, the same on each retry; the `Idempotency-Key` header of webhooks and SMS
//!   requests, the `Message-ID` of e-mails) and each notification in it its outbox id, so
//!   that receivers can drop a repeat.
//!
//! The parts: [`route`] and [`roster`] (who is told), [`plan`] and [`escalate`] (from the
//! journal to the outbox), [`outbox`] (the tables; `schema` creates and updates them), [`batch`] (what goes together in one
//! message, and when), [`deliver`] (the delivery worker), [`message`] and [`payload`]
//! (what a message says), [`channels`] (e-mail, SMS, webhook).
//!
//! [`crm`] is the CRM's webhook feed (alert classifications, outages): its own outbox in
//! the same database and its own delivery worker, sharing the instance id, the HTTP
//! failure rules and the backoff.

pub mod batch;
pub mod channels;
pub mod crm;
pub mod deliver;
pub mod escalate;
pub mod message;
pub mod outbox;
pub mod payload;
pub mod plan;
pub mod roster;
pub mod route;
mod schema;

#[cfg(test)]
mod tests;

use crate::alarm::store::StoreError;
use crate::config::Config;
use crate::config::notify::NotifyConfig;
use jiff::tz::TimeZone;
use outbox::Db;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{Notify, watch};

/// Notifier errors.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The alarm database could not be opened or used.
    #[error("notification database {path}: {source}")]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
    /// The alarm store (which creates the journal) could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A database task died.
    #[error("notifier database task: {0}")]
    Task(String),
}

/// The notifier's counters, for `/metrics`.
#[derive(Debug, Default)]
pub struct NotifyMetrics {
    /// Messages delivered (a consolidated message counts once), since start.
    pub sent: AtomicU64,
    /// Notifications given up, since start: not delivered within `max_age`, or their
    /// target removed from the configuration.
    pub failed: AtomicU64,
    /// Failed attempts that will be retried (one per message and attempt), since start.
    pub retried: AtomicU64,
    /// Notifications waiting in the outbox now (a gauge), including those waiting for a
    /// retry or a rate limit.
    pub pending: AtomicU64,
    /// Times the notifier found journal events deleted (by `[alarms] journal_retention`)
    /// before it had read them, since start: those events were never notified.
    pub journal_gaps: AtomicU64,
}

/// How often the journal is read when nothing wakes the planner.
const PLAN_EVERY: Duration = Duration::from_secs(1);
/// How often delivered and failed notifications are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// Delivered and failed notifications are kept at least this long (clear messages go to
/// whoever was told of the activation, read from them).
const KEEP: Duration = Duration::from_secs(30 * 24 * 3600);

/// Runs the notifier until `stop` is true (or its sender is dropped): plans notifications
/// from the journal in `<data_dir>/alarms.sqlite` and delivers them.
///
/// `wake` should be notified (`notify_one`) by the alarm store after each commit; the
/// journal is also read every second. A database that cannot be opened is logged and
/// retried (1 s doubling to 30 s); errors are logged, never fatal; it does not panic.
/// `config` gives site names and zones; `[notify] timezone` should have been validated
/// (an unknown one is logged and UTC used).
pub async fn run(
    cfg: NotifyConfig,
    config: Arc<Config>,
    data_dir: PathBuf,
    wake: Arc<Notify>,
    metrics: Arc<NotifyMetrics>,
    mut stop: watch::Receiver<bool>,
) {
    let tz = TimeZone::get(&cfg.timezone).unwrap_or_else(|e| {
        tracing::error!(
            "[notify] timezone {:?}: {e}; using UTC (run vigie check)",
            cfg.timezone
        );
        TimeZone::UTC
    });
    let router = Arc::new(route::Router::new(&cfg, &config, tz.clone()));
    let render = message::Render::new(&cfg.public_url, tz, &config);
    let limits = Arc::new(deliver::LimitTable::new(&cfg));
    let open = || {
        let dir = data_dir.clone();
        move || Db::open(&dir).map(|db| Arc::new(Mutex::new(db)))
    };
    let Some(plan_db) = open_retrying("notifier", &mut stop, open()).await else {
        return;
    };
    let Some(send_db) = open_retrying("notifier", &mut stop, open()).await else {
        return;
    };
    let instance = send_db
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .instance()
        .to_string();
    let channels = Arc::new(channels::Channels::new(&cfg, render, &instance));
    tracing::info!(
        routes = cfg.routes.len(),
        recipients = cfg.recipients.len(),
        webhooks = cfg.webhooks.len(),
        "notifier started"
    );
    let kick = Arc::new(Notify::new());
    let planner = plan_loop(
        plan_db,
        router,
        cfg.max_age,
        wake,
        kick.clone(),
        metrics.clone(),
        stop.clone(),
    );
    let delivery = deliver::run(send_db, channels, limits, cfg.max_age, kick, metrics, stop);
    tokio::join!(planner, delivery);
    tracing::info!("notifier stopped");
}

/// Runs `open` on a blocking thread, retrying (1 s doubling to 30 s, each failure logged
/// as `{what}: {error}`) until it works or `stop` turns true (None).
pub(crate) async fn open_retrying<T, E>(
    what: &str,
    stop: &mut watch::Receiver<bool>,
    open: impl Fn() -> Result<T, E> + Clone + Send + 'static,
) -> Option<T>
where
    T: Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    let mut delay = Duration::from_secs(1);
    loop {
        if *stop.borrow() {
            return None;
        }
        let opened = tokio::task::spawn_blocking(open.clone())
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string()));
        match opened {
            Ok(db) => return Some(db),
            Err(e) => tracing::error!(
                "{what}: {e}; retrying in {}",
                humantime::format_duration(delay)
            ),
        }
        tokio::select! {
            changed = stop.changed() => if changed.is_err() { return None; },
            _ = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(Duration::from_secs(30));
    }
}

async fn plan_loop(
    db: Arc<Mutex<Db>>,
    router: Arc<route::Router>,
    max_age: Duration,
    wake: Arc<Notify>,
    kick: Arc<Notify>,
    metrics: Arc<NotifyMetrics>,
    mut stop: watch::Receiver<bool>,
) {
    let max_age_ns = i64::try_from(max_age.as_nanos()).unwrap_or(i64::MAX);
    let mut last_prune: Option<Instant> = None;
    let mut last_error = String::new();
    loop {
        if *stop.borrow() {
            break;
        }
        let r = router.clone();
        match blocking(&db, move |db| db.plan(&r, now_ns(), max_age_ns)).await {
            Ok(p) => {
                last_error.clear();
                if p.notifications > 0 {
                    tracing::debug!(
                        events = p.events,
                        notifications = p.notifications,
                        "planned"
                    );
                    kick.notify_one();
                }
                if p.too_old > 0 {
                    tracing::warn!(
                        notifications = p.too_old,
                        "journal events and escalation levels older than max_age were not notified"
                    );
                }
                if let Some((first, last)) = p.gap {
                    metrics.journal_gaps.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(
                        first_seq = first,
                        last_seq = last,
                        "journal events {first}..={last} were deleted before the notifier read them: never notified (is [alarms] journal_retention shorter than the notifier was stopped?)"
                    );
                }
                if p.more {
                    continue;
                }
            }
            Err(e) => {
                let text = e.to_string();
                if text != last_error {
                    tracing::error!("notification planning: {text} (retrying each second)");
                    last_error = text;
                }
            }
        }
        if last_prune.is_none_or(|t| t.elapsed() >= PRUNE_EVERY) {
            last_prune = Some(Instant::now());
            let keep = i64::try_from(KEEP.max(max_age * 2).as_nanos()).unwrap_or(i64::MAX);
            match blocking(&db, move |db| db.prune(now_ns().saturating_sub(keep))).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(notifications = n, "old notifications pruned"),
                Err(e) => tracing::warn!("pruning old notifications: {e}"),
            }
        }
        tokio::select! {
            changed = stop.changed() => if changed.is_err() { break; },
            _ = wake.notified() => {}
            _ = tokio::time::sleep(PLAN_EVERY) => {}
        }
    }
}

/// Runs `f` on the database on a blocking thread.
pub(crate) async fn blocking<T: Send + 'static>(
    db: &Arc<Mutex<Db>>,
    f: impl FnOnce(&mut Db) -> Result<T, NotifyError> + Send + 'static,
) -> Result<T, NotifyError> {
    let db = db.clone();
    tokio::task::spawn_blocking(move || {
        let mut guard = db.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut guard)
    })
    .await
    .map_err(|e| NotifyError::Task(e.to_string()))?
}

/// The wall clock, ns since the epoch.
pub(crate) fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_nanos()).ok())
        .unwrap_or(0)
}

impl NotifyMetrics {
    /// (sent, failed, retried, pending) now.
    pub fn snapshot(&self) -> (u64, u64, u64, u64) {
        (
            self.sent.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
            self.retried.load(Ordering::Relaxed),
            self.pending.load(Ordering::Relaxed),
        )
    }
}
