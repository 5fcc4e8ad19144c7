//! Planning: journal events after the cursor become outbox rows and escalations, and the
//! escalations due become outbox rows, in the caller's transaction (see [`super::outbox`]
//! for the tables, [`super::escalate`] for the levels).
//!
//! - An event older than `max_age` is not notified, whatever its kind (counted in
//!   [`Planned::too_old`]).
//! - An activation (to `active_unacknowledged`): level 0 of every matching route is told
//!   (`raised`; rosters read now), and the route's next level is scheduled at the
//!   activation's time plus its `after`. A level that reaches nobody now (a roster gap)
//!   is passed at once to the next one, with a warning.
//! - Any event of an alarm ends its pending escalations (acknowledged, shelved, returned
//!   to normal, suppressed…); an activation then starts anew.
//! - An event to `normal`, when a matching route has `notify_on_clear`: a `cleared` row for
//!   every target and channel told (or about to be told) of the alarm's latest activation
//!   in the journal; one that is in the end not told gets nothing ([`super::batch`]).
//! - When the cursor is behind the journal's oldest event (events deleted by the journal's
//!   retention before they were read), the gap is reported in [`Planned::gap`].

use super::escalate::{Escalation, advance, escalate};
use super::message::{AlarmData, Kind};
use super::outbox::rank;
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
    /// Events (activations, returns to normal) and escalation levels not notified
    /// because they were older than `max_age`.
    pub too_old: usize,
    /// More journal events are waiting (plan again at once).
    pub more: bool,
    /// Journal events that were deleted before they were read: the first and last `seq`
    /// missing.
    pub gap: Option<(i64, i64)>,
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
        Some(c) => {
            let oldest: Option<i64> =
                tx.query_row("SELECT MIN(seq) FROM alarm_events", [], |r| r.get(0))?;
            if let Some(o) = oldest.filter(|&o| o > c.saturating_add(1)) {
                p.gap = Some((c.saturating_add(1), o - 1));
            }
            c
        }
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
    let oldest_ns = now_ns.saturating_sub(max_age_ns);
    for e in &events {
        // Any change of an alarm ends its pending escalations; an activation starts anew.
        tx.execute(
            "DELETE FROM notify_escalation WHERE alarm_id = ?1",
            [&e.alarm_id],
        )?;
        let routes = router.matching(&e.site, e.priority);
        let clears =
            e.to_state == StateName::Normal && routes.iter().any(|&r| router.notify_on_clear(r));
        if !(e.is_activation() && !routes.is_empty() || clears) {
            continue;
        }
        if e.time_ns < oldest_ns {
            p.too_old += 1;
            continue;
        }
        let payload = serde_json::to_string(&AlarmData::from(e)).unwrap_or_default();
        if e.is_activation() {
            for &route in &routes {
                let Some(key) = router.key(route) else {
                    continue;
                };
                let esc = Escalation {
                    activation_seq: e.seq,
                    route_key: key.to_string(),
                    alarm_id: e.alarm_id.clone(),
                    activation_ns: e.time_ns,
                    payload: payload.clone(),
                    priority: rank(e.priority),
                };
                let (added, old) = advance(tx, router, route, &esc, 0, true, now_ns, max_age_ns)?;
                p.notifications += added;
                p.too_old += old;
            }
        } else {
            p.notifications += plan_clear(tx, e, &payload, now_ns)?;
        }
    }
    if let Some(last) = last_seq {
        tx.execute("UPDATE notify_cursor SET seq = ?1 WHERE id = 1", [last])?;
    }
    if !p.more {
        let (added, old) = escalate(tx, router, now_ns, max_age_ns)?;
        p.notifications += added;
        p.too_old += old;
    }
    Ok(p)
}

/// `cleared` rows for the return to normal `e`: to every target and channel told (sent)
/// or about to be told (pending) of the alarm's latest activation in the journal.
fn plan_clear(
    tx: &Transaction<'_>,
    e: &crate::alarm::AlarmEvent,
    payload: &str,
    now_ns: i64,
) -> rusqlite::Result<usize> {
    let activation: Option<i64> = tx.query_row(
        "SELECT MAX(seq) FROM alarm_events WHERE alarm_id = ?1 AND to_state = ?2 AND seq < ?3",
        params![e.alarm_id, StateName::ActiveUnacknowledged.as_str(), e.seq],
        |r| r.get(0),
    )?;
    let Some(activation) = activation else {
        return Ok(0);
    };
    let told: Vec<(String, String)> = {
        let mut stmt = tx.prepare_cached(
            "SELECT DISTINCT target, channel FROM notify_outbox
             WHERE alarm_id = ?1 AND activation_seq = ?2 AND kind != 'cleared'
                AND status IN ('sent', 'pending')
             ORDER BY target, channel",
        )?;
        let rows = stmt.query_map(params![e.alarm_id, activation], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let mut added = 0;
    for (id, channel) in told {
        let Some(channel) = Channel::parse(&channel) else {
            continue;
        };
        let n = Note {
            event_seq: e.seq,
            activation_seq: activation,
            level: 0,
            kind: Kind::Cleared,
            alarm_id: &e.alarm_id,
            payload,
            priority: rank(e.priority),
        };
        added += enqueue(tx, now_ns, &Target { id, channel }, &n)?;
    }
    Ok(added)
}

/// One notification to plan, for [`enqueue`].
pub(super) struct Note<'a> {
    /// The journal event (for escalations, the activation).
    pub event_seq: i64,
    /// The activation it tells of.
    pub activation_seq: i64,
    pub level: i64,
    pub kind: Kind,
    pub alarm_id: &'a str,
    pub payload: &'a str,
    /// [`rank`] of the alarm's priority.
    pub priority: i64,
}

/// Adds one outbox row (nothing when the same event, level and kind already has one for
/// this target and channel); returns the rows added.
pub(super) fn enqueue(
    tx: &Transaction<'_>,
    now_ns: i64,
    t: &Target,
    n: &Note<'_>,
) -> rusqlite::Result<usize> {
    tx.prepare_cached(
        "INSERT OR IGNORE INTO notify_outbox(created_ns, due_ns, target, channel, alarm_id,
            event_seq, level, kind, payload, priority, activation_seq)
         VALUES (?1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        now_ns,
        t.id,
        t.channel.as_str(),
        n.alarm_id,
        n.event_seq,
        n.level,
        n.kind.as_str(),
        n.payload,
        n.priority,
        n.activation_seq
    ])
}

pub(super) fn nanos(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

pub(super) fn timestamp(ns: i64) -> Timestamp {
    Timestamp::from_nanosecond(i128::from(ns)).unwrap_or(Timestamp::UNIX_EPOCH)
}
