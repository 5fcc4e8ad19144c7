//! The delivery worker: takes the outbox's due notifications, one message per target and
//! channel (several notifications consolidated into it), sends the messages concurrently
//! (at most one in flight per target and channel), and records each outcome.
//!
//! A failed send is retried after 5 s, doubling to at most 5 min (±20 % jitter), until
//! `max_age` after its planning; then its notifications are marked failed, logged and
//! counted. A failure no retry can fix (a 4xx answer other than 408 and 429, a target no
//! longer configured) marks them failed at once, logged and counted. Over a target's rate
//! limit or within `min_interval` of its last message, notifications wait in the outbox
//! and go together in the next message allowed; those of `rate_limit_exempt`'s priority
//! and above do not wait for the rate limit (see [`super::batch`]).

use super::channels::{Channels, SendError};
use super::outbox::{Batch, Db, Limits};
use super::route::Channel;
use super::{NotifyError, NotifyMetrics, blocking, now_ns};
use crate::alarm::Priority;
use crate::config::notify::{NotifyConfig, RateLimitConfig};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

/// First retry delay.
const BACKOFF_FIRST: Duration = Duration::from_secs(5);
/// Longest retry delay.
const BACKOFF_MAX: Duration = Duration::from_secs(300);
/// Tries at recording a send's outcome.
const RECORD_TRIES: u32 = 5;
/// How long sends in flight may finish once stopping.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// The delay before attempt `attempts + 1`, after `attempts` failed ones (≥ 1):
/// 5 s × 2^(attempts-1), at most 5 min, ±20 % jitter.
pub fn backoff(attempts: u32) -> Duration {
    let base = BACKOFF_FIRST.saturating_mul(1u32 << attempts.saturating_sub(1).min(16));
    let base = base.min(BACKOFF_MAX);
    base.mul_f64(rand::random_range(0.8..1.2))
}

/// Notifications per message at most, by channel (an SMS stays readable: beyond what
/// fits in [`super::message::SMS_MAX_CHARS`], the others are listed by alarm id).
fn max_items(channel: Channel) -> usize {
    match channel {
        Channel::Sms => 10,
        Channel::Email | Channel::Webhook => 50,
    }
}

/// Each target's limits.
pub struct LimitTable {
    min_interval_ns: i64,
    exempt: Option<Priority>,
    rates: HashMap<String, RateLimitConfig>,
    webhook_rates: HashMap<String, RateLimitConfig>,
}

impl LimitTable {
    /// The limits `cfg` sets: `min_interval`, `rate_limit_exempt`, each recipient's and
    /// webhook's `rate_limit`.
    pub fn new(cfg: &NotifyConfig) -> LimitTable {
        LimitTable {
            min_interval_ns: nanos(cfg.min_interval),
            exempt: cfg.rate_limit_exempt,
            rates: cfg
                .recipients
                .iter()
                .map(|r| (r.id.clone(), r.rate_limit.unwrap_or_default()))
                .collect(),
            webhook_rates: cfg
                .webhooks
                .iter()
                .map(|w| (w.id.clone(), w.rate_limit.unwrap_or_default()))
                .collect(),
        }
    }

    /// The limits of `target` on `channel` (defaults for an unknown one).
    pub fn get(&self, target: &str, channel: Channel) -> Limits {
        let rate = match channel {
            Channel::Webhook => self.webhook_rates.get(target),
            Channel::Email | Channel::Sms => self.rates.get(target),
        }
        .copied()
        .unwrap_or_default();
        Limits {
            min_interval_ns: self.min_interval_ns,
            messages: rate.messages.max(1),
            per_ns: nanos(rate.per),
            max_items: max_items(channel),
            exempt: self.exempt,
        }
    }
}

/// The outcome of one send.
struct Sent {
    batch: i64,
    target: String,
    channel: Channel,
    attempts: u32,
    count: usize,
    result: Result<(), SendError>,
}

/// Runs until `stop` turns true: delivers due messages each second and whenever `kick`
/// is notified (the planner added rows).
pub async fn run(
    db: Arc<Mutex<Db>>,
    channels: Arc<Channels>,
    limits: Arc<LimitTable>,
    max_age: Duration,
    kick: Arc<Notify>,
    metrics: Arc<NotifyMetrics>,
    mut stop: watch::Receiver<bool>,
) {
    let max_age_ns = nanos(max_age);
    let mut inflight: JoinSet<Sent> = JoinSet::new();
    let mut keys: HashMap<tokio::task::Id, (String, Channel)> = HashMap::new();
    let mut last_error = String::new();
    loop {
        if *stop.borrow() {
            break;
        }
        let busy: HashSet<(String, Channel)> = keys.values().cloned().collect();
        match round(&db, &limits, max_age_ns, busy, &metrics).await {
            Ok(batches) => {
                last_error.clear();
                for b in batches {
                    let key = (b.target.clone(), b.channel);
                    let channels = channels.clone();
                    let handle = inflight.spawn(async move {
                        let result = channels.send(&b).await;
                        Sent {
                            batch: b.id,
                            count: b.items.len(),
                            target: b.target,
                            channel: b.channel,
                            attempts: b.attempts,
                            result,
                        }
                    });
                    keys.insert(handle.id(), key);
                }
            }
            Err(e) => {
                let text = e.to_string();
                if text != last_error {
                    tracing::error!("notification delivery: {text} (retrying each second)");
                    last_error = text;
                }
            }
        }
        tokio::select! {
            changed = stop.changed() => {
                if changed.is_err() {
                    break;
                }
            }
            Some(done) = inflight.join_next_with_id() => {
                finish(done, &mut keys, &db, &metrics).await;
            }
            _ = kick.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
    // Let sends in flight finish (and be recorded) for a moment; those cut short stay
    // pending and go again at the next start.
    let grace = tokio::time::sleep(STOP_GRACE);
    tokio::pin!(grace);
    while !inflight.is_empty() {
        tokio::select! {
            Some(done) = inflight.join_next_with_id() => finish(done, &mut keys, &db, &metrics).await,
            _ = &mut grace => {
                tracing::warn!(
                    messages = inflight.len(),
                    "stopping: notifications still being sent are cut short; they stay in the outbox"
                );
                inflight.abort_all();
                break;
            }
        }
    }
}

/// Expires old notifications, updates the pending gauge and takes the messages due.
async fn round(
    db: &Arc<Mutex<Db>>,
    limits: &Arc<LimitTable>,
    max_age_ns: i64,
    busy: HashSet<(String, Channel)>,
    metrics: &Arc<NotifyMetrics>,
) -> Result<Vec<Batch>, NotifyError> {
    let limits = limits.clone();
    let (expired, pending, batches) = blocking(db, move |db| {
        let now = now_ns();
        let expired = db.expire(now, max_age_ns)?;
        let batches = db.take_batches(now, &busy, &|t, c| limits.get(t, c))?;
        let pending = db.pending()?;
        Ok((expired, pending, batches))
    })
    .await?;
    for (id, target, channel, alarm_id) in &expired {
        tracing::error!(
            notification = id,
            target = %target,
            channel = %channel,
            alarm_id = %alarm_id,
            "notification given up: not delivered within max_age"
        );
    }
    metrics
        .failed
        .fetch_add(expired.len() as u64, Ordering::Relaxed);
    metrics.pending.store(pending, Ordering::Relaxed);
    Ok(batches)
}

/// Records a finished send.
async fn finish(
    done: Result<(tokio::task::Id, Sent), tokio::task::JoinError>,
    keys: &mut HashMap<tokio::task::Id, (String, Channel)>,
    db: &Arc<Mutex<Db>>,
    metrics: &Arc<NotifyMetrics>,
) {
    let s = match done {
        Ok((id, s)) => {
            keys.remove(&id);
            s
        }
        Err(e) => {
            // A send task that panicked or was aborted: its rows stay pending and are
            // retried as they were.
            keys.remove(&e.id());
            tracing::error!("a notification send task failed: {e}");
            return;
        }
    };
    let (batch, channel, target) = (s.batch, s.channel.as_str(), s.target.clone());
    let delay = backoff(s.attempts + 1);
    let mut failure: Option<SendError> = None;
    match &s.result {
        Ok(()) => {
            metrics.sent.fetch_add(1, Ordering::Relaxed);
            tracing::info!(
                message = batch, target = %target, channel, notifications = s.count,
                "notification sent"
            );
        }
        Err(e) if e.permanent => {
            metrics.failed.fetch_add(s.count as u64, Ordering::Relaxed);
            tracing::error!(
                message = batch, target = %target, channel, notifications = s.count,
                "notification given up: {}", e.message
            );
            failure = Some(e.clone());
        }
        Err(e) => {
            metrics.retried.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                message = batch, target = %target, channel, attempt = s.attempts + 1,
                "notification not delivered: {}; retry in {}",
                e.message,
                humantime::format_duration(Duration::from_secs(delay.as_secs().max(1)))
            );
            failure = Some(e.clone());
        }
    }
    // Recording a delivery must not fail lightly: a delivered message left pending would
    // be sent again. Try a few times (the database may be busy for a moment).
    for attempt in 1..=RECORD_TRIES {
        let now = now_ns();
        let f = failure.clone();
        let recorded = blocking(db, move |db| match f {
            None => db.mark_sent(batch, now),
            Some(e) if e.permanent => db.mark_failed(batch, &e.message),
            Some(e) => db.mark_retry(batch, now.saturating_add(nanos(delay)), &e.message),
        })
        .await;
        match recorded {
            Ok(()) => return,
            Err(e) if attempt == RECORD_TRIES => {
                tracing::error!(
                    message = batch,
                    "cannot record a notification's outcome: {e}"
                );
            }
            Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
        }
    }
}

fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_backoff_doubles_from_5s_to_5min_with_jitter() {
        for (attempts, base) in [
            (1, 5.0),
            (2, 10.0),
            (3, 20.0),
            (6, 160.0),
            (7, 300.0),
            (40, 300.0),
        ] {
            for _ in 0..20 {
                let d = backoff(attempts).as_secs_f64();
                assert!(
                    d >= base * 0.8 - 1e-9 && d <= base * 1.2 + 1e-9,
                    "attempt {attempts}: {d} s"
                );
            }
        }
    }
}
