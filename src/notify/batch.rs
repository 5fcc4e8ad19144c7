//! One message for one target and channel, from the outbox ([`super::outbox::Db::take_batches`]).
//!
//! - A message already tried whose retry is due goes again as it was (same id), less what
//!   has been superseded since.
//! - Otherwise a new message may go once `min_interval` has passed since the last one
//!   sent to that target on that channel. It gathers the due notifications, highest
//!   priority first, then oldest, at most `max_items`. When the target's rate limit
//!   (`messages` per `per`) is spent, or a message to it waits for its retry, a new
//!   message goes only if a notification of the exempt priority (`rate_limit_exempt`,
//!   default critical) is due; what else waits goes along in it.
//! - Before a message is built, each of its notifications is checked against the journal
//!   and marked `superseded` (neither sent nor failed) when it is no longer true: a
//!   `raised` or `escalated` one whose alarm's latest event is not that activation in
//!   `active_unacknowledged` any more (acknowledged, shelved, back to normal…), a
//!   `cleared` one whose target was never told of the activation.

use super::message::{AlarmData, Item, Kind};
use super::outbox::{Batch, Limits, rank};
use super::route::Channel;
use crate::alarm::StateName;
use rusqlite::{OptionalExtension, Transaction, params};

/// One outbox row, as a message needs it.
struct Row {
    id: i64,
    kind: String,
    level: i64,
    created_ns: i64,
    payload: String,
    attempts: i64,
    alarm_id: String,
    event_seq: i64,
    activation_seq: Option<i64>,
    priority: i64,
}

const SELECT: &str = "SELECT id, kind, level, created_ns, payload, attempts, alarm_id, event_seq,
    activation_seq, priority FROM notify_outbox";

/// The message for one target and channel, if one may go now (see the module's text).
pub(super) fn group_batch(
    tx: &Transaction<'_>,
    target: &str,
    channel: Channel,
    now_ns: i64,
    limits: &Limits,
) -> rusqlite::Result<Option<Batch>> {
    let ch = channel.as_str();
    // Messages already tried, the most urgent first, with when their retry is due.
    let started: Vec<(i64, i64)> = {
        let mut stmt = tx.prepare_cached(
            "SELECT batch, MAX(due_ns) FROM notify_outbox
             WHERE status = 'pending' AND target = ?1 AND channel = ?2 AND batch IS NOT NULL
             GROUP BY batch ORDER BY MAX(priority) DESC, batch",
        )?;
        let rows = stmt.query_map(params![target, ch], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let mut retry_waits = false;
    for (batch, due) in started {
        if due > now_ns {
            retry_waits = true;
            continue;
        }
        let rows = load(
            tx,
            &format!("{SELECT} WHERE batch = ?1 AND status = 'pending' ORDER BY priority DESC, id"),
            params![batch],
        )?;
        let rows = drop_superseded(tx, target, ch, rows)?;
        // The message keeps its first id even when that notification is gone since.
        if let Some(b) = build(tx, batch, target, channel, rows)? {
            return Ok(Some(b));
        }
    }

    let last: Option<i64> = tx.query_row(
        "SELECT MAX(sent_ns) FROM notify_outbox
         WHERE target = ?1 AND channel = ?2 AND status = 'sent'",
        params![target, ch],
        |r| r.get(0),
    )?;
    if last.is_some_and(|l| l.saturating_add(limits.min_interval_ns) > now_ns) {
        return Ok(None);
    }
    let recent: i64 = tx.query_row(
        "SELECT COUNT(DISTINCT batch) FROM notify_outbox
         WHERE target = ?1 AND channel = ?2 AND status = 'sent' AND sent_ns > ?3",
        params![target, ch, now_ns.saturating_sub(limits.per_ns)],
        |r| r.get(0),
    )?;
    let spent = recent >= i64::from(limits.messages);
    // Only an exempt notification may start a message now.
    let urgent_from = if spent || retry_waits {
        let Some(p) = limits.exempt else {
            return Ok(None);
        };
        let urgent: bool = tx.query_row(
            "SELECT EXISTS(SELECT 1 FROM notify_outbox WHERE status = 'pending'
                AND batch IS NULL AND target = ?1 AND channel = ?2 AND due_ns <= ?3
                AND priority >= ?4)",
            params![target, ch, now_ns, rank(p)],
            |r| r.get(0),
        )?;
        if !urgent {
            if spent {
                tracing::debug!(
                    target,
                    channel = ch,
                    "rate limit reached: notifications wait"
                );
            }
            return Ok(None);
        }
        Some(rank(p))
    } else {
        None
    };
    let rows = load(
        tx,
        &format!(
            "{SELECT} WHERE status = 'pending' AND batch IS NULL AND target = ?1
             AND channel = ?2 AND due_ns <= ?3 ORDER BY priority DESC, id"
        ),
        params![target, ch, now_ns],
    )?;
    let mut rows = drop_superseded(tx, target, ch, rows)?;
    if let Some(from) = urgent_from
        && !rows.iter().any(|r| r.priority >= from)
    {
        return Ok(None);
    }
    rows.truncate(limits.max_items.max(1));
    let Some(first) = rows.iter().map(|r| r.id).min() else {
        return Ok(None);
    };
    for r in &rows {
        tx.execute(
            "UPDATE notify_outbox SET batch = ?1 WHERE id = ?2",
            params![first, r.id],
        )?;
    }
    build(tx, first, target, channel, rows)
}

/// Marks the rows that are no longer true `superseded` (see the module's text); returns
/// the others, in their order.
fn drop_superseded(
    tx: &Transaction<'_>,
    target: &str,
    channel: &str,
    rows: Vec<Row>,
) -> rusqlite::Result<Vec<Row>> {
    let mut live = Vec::with_capacity(rows.len());
    for r in rows {
        let activation = r.activation_seq.unwrap_or(r.event_seq);
        let superseded = if r.kind == Kind::Cleared.as_str() {
            // A cleared row of an earlier vigie has no activation: sent as it is.
            let told: bool = match r.activation_seq {
                None => true,
                Some(a) => tx.query_row(
                    "SELECT EXISTS(SELECT 1 FROM notify_outbox WHERE alarm_id = ?1
                        AND activation_seq = ?2 AND target = ?3 AND channel = ?4
                        AND kind != 'cleared' AND status = 'sent')",
                    params![r.alarm_id, a, target, channel],
                    |row| row.get(0),
                )?,
            };
            !told
        } else {
            let latest: Option<(i64, String)> = tx
                .prepare_cached(
                    "SELECT seq, to_state FROM alarm_events WHERE alarm_id = ?1
                     ORDER BY seq DESC LIMIT 1",
                )?
                .query_row([&r.alarm_id], |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()?;
            // No event left (pruned): nothing says otherwise.
            latest.is_some_and(|(seq, state)| {
                seq != activation || state != StateName::ActiveUnacknowledged.as_str()
            })
        };
        if superseded {
            tx.execute(
                "UPDATE notify_outbox SET status = 'superseded', batch = NULL WHERE id = ?1",
                [r.id],
            )?;
            tracing::info!(
                notification = r.id,
                alarm_id = %r.alarm_id,
                kind = %r.kind,
                target,
                channel,
                "notification superseded: no longer true, not sent"
            );
        } else {
            live.push(r);
        }
    }
    Ok(live)
}

/// The message `batch` of `rows`; an unreadable row is given up. None when no row is left.
fn build(
    tx: &Transaction<'_>,
    batch: i64,
    target: &str,
    channel: Channel,
    rows: Vec<Row>,
) -> rusqlite::Result<Option<Batch>> {
    let attempts = rows
        .iter()
        .map(|r| u32::try_from(r.attempts).unwrap_or(0))
        .max()
        .unwrap_or(0);
    let mut items = Vec::with_capacity(rows.len());
    for r in rows {
        let data = serde_json::from_str::<AlarmData>(&r.payload);
        match (Kind::parse(&r.kind), data) {
            (Some(kind), Ok(alarm)) => items.push(Item {
                outbox_id: r.id,
                kind,
                level: u32::try_from(r.level).unwrap_or(0),
                created_ns: r.created_ns,
                alarm,
            }),
            _ => {
                tracing::error!(
                    outbox_id = r.id,
                    "unreadable notification in the outbox: given up"
                );
                tx.execute(
                    "UPDATE notify_outbox SET status = 'failed', last_error = 'unreadable row' WHERE id = ?1",
                    [r.id],
                )?;
            }
        }
    }
    if items.is_empty() {
        return Ok(None);
    }
    Ok(Some(Batch {
        id: batch,
        target: target.to_string(),
        channel,
        attempts,
        items,
    }))
}

fn load(
    tx: &Transaction<'_>,
    sql: &str,
    args: impl rusqlite::Params,
) -> rusqlite::Result<Vec<Row>> {
    let mut stmt = tx.prepare(sql)?;
    let rows = stmt.query_map(args, |r| {
        Ok(Row {
            id: r.get(0)?,
            kind: r.get(1)?,
            level: r.get(2)?,
            created_ns: r.get(3)?,
            payload: r.get(4)?,
            attempts: r.get(5)?,
            alarm_id: r.get(6)?,
            event_seq: r.get(7)?,
            activation_seq: r.get(8)?,
            priority: r.get(9)?,
        })
    })?;
    rows.collect()
}
