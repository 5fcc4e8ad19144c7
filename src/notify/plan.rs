//! Planning: journal events after the cursor become outbox rows and escalations, and the
//! escalations due become outbox rows, in the caller's transaction (see [`super::outbox`]
//! for the tables).
//!
//! - An activation (to `active_unacknowledged`) not older than `max_age`: a `raised` row
//!   for each target of level 0 of every matching route (rosters read now), and an
//!   escalation to level 1 at the activation's time plus its `after`.
//! - Any event of an alarm ends its pending escalations (acknowledged, shelved, returned
//!   to normal, suppressed…); an activation then starts anew.
//! - An event to `normal`, when a matching route has `notify_on_clear`: a `cleared` row for
//!   every target and channel that was told of the alarm's last activation.
//! - A due escalation of an alarm whose last journal event is still an activation:
//!   `escalated` rows for that level's targets, and the next level scheduled, if any.

use super::message::{AlarmData, Kind};
use super::route::{Channel, Router, Target};
use crate::alarm::StateName;
use crate::alarm::store::{EVENT_COLUMNS, event_from_row};
use jiff::Timestamp;
use rusqlite::{OptionalExtension, Transaction, params};

/// At the very first start, journal events older than this are history, not notified.
const FIRST_START_LOOKBACK_NS: i64 = 60 * 1_000_000_000;

/// Journal events read per transaction.
const EVENTS_PER_PLAN: usize = 500;

/// What one planning pass did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Planned {
    /// Journal events read.
    pub events: usize,
    /// Outbox rows added.
    pub notifications: usize,
    /// Activations not notified because they were older than `max_age`.
    pub too_old: usize,
    /// More journal events are waiting (plan again at once).
    pub more: bool,
}

/// Plans journal events after the cursor (at most [`EVENTS_PER_PLAN`]; the first time,
/// sets the cursor), then, once the journal is caught up, the escalations due at `now_ns`.
pub(super) fn plan_in(
    tx: &Transaction<'_>,
    router: &Router,
    now_ns: i64,
    max_age_ns: i64,
) -> rusqlite::Result<Planned> {
    let mut p = Planned::default();
    let cursor: Option<i64> = tx
        .query_row("SELECT seq FROM notify_cursor WHERE id = 1", [], |r| {
            r.get(0)
        })
        .optional()?;
    let cursor = match cursor {
        Some(c) => c,
        None => {
            // First start: skip the history, all but its last minute (the engine may have
            // committed a moment before this first read).
            let c: i64 = tx.query_row(
                "SELECT COALESCE(MAX(seq), 0) FROM alarm_events WHERE time_ns < ?1",
                [now_ns.saturating_sub(FIRST_START_LOOKBACK_NS)],
                |r| r.get(0),
            )?;
            tx.execute("INSERT INTO notify_cursor(id, seq) VALUES (1, ?1)", [c])?;
            c
        }
    };
    // A row that does not read as an event (written by a newer vigie?) is logged and
    // passed over, so that it cannot hold up every notification after it.
    let rows = {
        let mut stmt = tx.prepare_cached(&format!(
            "SELECT {EVENT_COLUMNS} FROM alarm_events WHERE seq > ?1 ORDER BY seq LIMIT {EVENTS_PER_PLAN}"
        ))?;
        let rows = stmt.query_map([cursor], |r| Ok((r.get::<_, i64>(0)?, event_from_row(r))))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()?
    };
    p.events = rows.len();
    p.more = rows.len() == EVENTS_PER_PLAN;
    let last_seq = rows.last().map(|(seq, _)| *seq);
    let mut events = Vec::with_capacity(rows.len());
    for (seq, e) in rows {
        match e {
            Ok(e) => events.push(e),
            Err(err) => tracing::error!(seq, "journal event not notified: unreadable ({err})"),
        }
    }
    let now = timestamp(now_ns);
    for e in &events {
        // Any change of an alarm ends its pending escalations; an activation starts anew.
        tx.execute(
            "DELETE FROM notify_escalation WHERE alarm_id = ?1",
            [&e.alarm_id],
        )?;
        let routes = router.matching(&e.site, e.priority);
        let payload = serde_json::to_string(&AlarmData::from(e)).unwrap_or_default();
        if e.is_activation() {
            if e.time_ns < now_ns.saturating_sub(max_age_ns) {
                p.too_old += 1;
                continue;
            }
            for &route in &routes {
                for t in router.targets(route, 0, now) {
                    let n = Note {
                        event_seq: e.seq,
                        level: 0,
                        kind: Kind::Raised,
                        alarm_id: &e.alarm_id,
                        payload: &payload,
                    };
                    p.notifications += enqueue(tx, now_ns, &t, &n)?;
                }
                if let Some(after) = router.after(route, 1) {
                    tx.execute(
                        "INSERT OR REPLACE INTO notify_escalation(activation_seq, route, alarm_id,
                            activation_ns, next_level, due_ns, payload)
                         VALUES (?1, ?2, ?3, ?4, 1, ?5, ?6)",
                        params![
                            e.seq,
                            route as i64,
                            e.alarm_id,
                            e.time_ns,
                            e.time_ns.saturating_add(nanos(after)),
                            payload
                        ],
                    )?;
                }
            }
        } else if e.to_state == StateName::Normal
            && routes.iter().any(|&r| router.notify_on_clear(r))
        {
            // Tell everyone who was told of the last activation.
            let told: Vec<(String, String)> = {
                let mut stmt = tx.prepare_cached(
                    "SELECT DISTINCT target, channel FROM notify_outbox
                     WHERE alarm_id = ?1 AND kind != 'cleared' AND event_seq = (
                        SELECT MAX(event_seq) FROM notify_outbox
                        WHERE alarm_id = ?1 AND kind != 'cleared')
                     ORDER BY target, channel",
                )?;
                let rows = stmt.query_map([&e.alarm_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            for (id, channel) in told {
                let Some(channel) = Channel::parse(&channel) else {
                    continue;
                };
                let t = Target { id, channel };
                let n = Note {
                    event_seq: e.seq,
                    level: 0,
                    kind: Kind::Cleared,
                    alarm_id: &e.alarm_id,
                    payload: &payload,
                };
                p.notifications += enqueue(tx, now_ns, &t, &n)?;
            }
        }
    }
    if let Some(last) = last_seq {
        tx.execute("UPDATE notify_cursor SET seq = ?1 WHERE id = 1", [last])?;
    }
    if !p.more {
        p.notifications += escalate(tx, router, now_ns)?;
    }
    Ok(p)
}

/// Turns the escalations due at `now_ns` into notifications, for alarms still
/// unacknowledged; schedules each route's next level or ends it. Returns the rows added.
fn escalate(tx: &Transaction<'_>, router: &Router, now_ns: i64) -> rusqlite::Result<usize> {
    let now = timestamp(now_ns);
    let mut added = 0;
    loop {
        let due: Vec<(i64, i64, String, i64, i64, String)> = {
            let mut stmt = tx.prepare_cached(
                "SELECT activation_seq, route, alarm_id, activation_ns, next_level, payload
                 FROM notify_escalation WHERE due_ns <= ?1 ORDER BY due_ns LIMIT 100",
            )?;
            let rows = stmt.query_map([now_ns], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            })?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        if due.is_empty() {
            return Ok(added);
        }
        for (seq, route, alarm_id, activation_ns, level, payload) in due {
            let delete = |tx: &Transaction<'_>| {
                tx.execute(
                    "DELETE FROM notify_escalation WHERE activation_seq = ?1 AND route = ?2",
                    params![seq, route],
                )
            };
            let latest: Option<String> = tx
                .query_row(
                    "SELECT to_state FROM alarm_events WHERE alarm_id = ?1 ORDER BY seq DESC LIMIT 1",
                    [&alarm_id],
                    |r| r.get(0),
                )
                .optional()?;
            let readable = serde_json::from_str::<AlarmData>(&payload).is_ok();
            let (Ok(r), Ok(l), true) = (usize::try_from(route), usize::try_from(level), readable)
            else {
                delete(tx)?;
                continue;
            };
            if latest.as_deref() != Some(StateName::ActiveUnacknowledged.as_str())
                || l >= router.levels(r)
            {
                delete(tx)?;
                continue;
            }
            for t in router.targets(r, l, now) {
                let n = Note {
                    event_seq: seq,
                    level,
                    kind: Kind::Escalated,
                    alarm_id: &alarm_id,
                    payload: &payload,
                };
                added += enqueue(tx, now_ns, &t, &n)?;
            }
            match router.after(r, l + 1) {
                Some(after) => {
                    tx.execute(
                        "UPDATE notify_escalation SET next_level = ?3, due_ns = ?4
                         WHERE activation_seq = ?1 AND route = ?2",
                        params![
                            seq,
                            route,
                            level + 1,
                            activation_ns.saturating_add(nanos(after))
                        ],
                    )?;
                }
                None => {
                    delete(tx)?;
                }
            }
        }
    }
}

/// One notification to plan, for [`enqueue`].
struct Note<'a> {
    event_seq: i64,
    level: i64,
    kind: Kind,
    alarm_id: &'a str,
    payload: &'a str,
}

/// Adds one outbox row (nothing when the same event, level and kind already has one for
/// this target and channel); returns the rows added.
fn enqueue(tx: &Transaction<'_>, now_ns: i64, t: &Target, n: &Note<'_>) -> rusqlite::Result<usize> {
    tx.prepare_cached(
        "INSERT OR IGNORE INTO notify_outbox(created_ns, due_ns, target, channel, alarm_id,
            event_seq, level, kind, payload)
         VALUES (?1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        now_ns,
        t.id,
        t.channel.as_str(),
        n.alarm_id,
        n.event_seq,
        n.level,
        n.kind.as_str(),
        n.payload
    ])
}

fn nanos(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

fn timestamp(ns: i64) -> Timestamp {
    Timestamp::from_nanosecond(i128::from(ns)).unwrap_or(Timestamp::UNIX_EPOCH)
}
