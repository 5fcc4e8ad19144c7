//! Escalation levels: telling a route's levels in turn while an activation stays
//! unacknowledged, and keeping the next one in `notify_escalation` (see
//! [`super::outbox`]), under the route's stable key ([`super::route::route_key`]).
//!
//! - A level is told at the activation's time plus its `after`; one whose time is older
//!   than `max_age` when the notifier gets to it (after a long stop) is not told, like an
//!   old activation, and counted in `too_old`.
//! - A level that reaches nobody now (nobody on duty in its roster, nobody with an
//!   address for its `via`) is passed, with a warning, to the next level at once.
//! - A pending escalation whose route key no longer exists (the route was edited or
//!   removed) is dropped, with a warning; one whose alarm has changed since (its latest
//!   journal event is not that activation any more) is dropped quietly.

use super::message::{AlarmData, Kind};
use super::outbox::rank;
use super::plan::{Note, enqueue, nanos, timestamp};
use super::route::Router;
use crate::alarm::StateName;
use rusqlite::{OptionalExtension, Transaction, params};

/// One activation followed along one route.
pub(super) struct Escalation {
    pub activation_seq: i64,
    pub route_key: String,
    pub alarm_id: String,
    pub activation_ns: i64,
    /// The activation's [`AlarmData`] as JSON.
    pub payload: String,
    /// [`rank`] of the alarm's priority.
    pub priority: i64,
}

/// Tells `level` of `route` (due now; at once when `at_activation`, whose age the caller
/// has checked) and every level after it that is due, or passed to because the one before
/// reached nobody; then schedules the next level or ends the escalation. Returns (rows
/// added, levels too old).
#[allow(clippy::too_many_arguments)]
pub(super) fn advance(
    tx: &Transaction<'_>,
    router: &Router,
    route: usize,
    esc: &Escalation,
    mut level: usize,
    at_activation: bool,
    now_ns: i64,
    max_age_ns: i64,
) -> rusqlite::Result<(usize, usize)> {
    let levels = router.levels(route);
    let now = timestamp(now_ns);
    let oldest_ns = now_ns.saturating_sub(max_age_ns);
    let (mut added, mut too_old) = (0, 0);
    // `forced`: told now, at the activation or because the level before reached nobody;
    // `raised`: still at the activation (kind `raised`).
    let (mut forced, mut raised) = (at_activation, at_activation);
    loop {
        if level >= levels {
            tx.execute(
                "DELETE FROM notify_escalation WHERE activation_seq = ?1 AND route_key = ?2",
                params![esc.activation_seq, esc.route_key],
            )?;
            return Ok((added, too_old));
        }
        let after = router.after(route, level).map_or(0, nanos);
        let due = esc.activation_ns.saturating_add(after);
        if !forced {
            if due > now_ns {
                tx.execute(
                    "INSERT OR REPLACE INTO notify_escalation(activation_seq, route_key,
                        alarm_id, activation_ns, next_level, due_ns, payload)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![
                        esc.activation_seq,
                        esc.route_key,
                        esc.alarm_id,
                        esc.activation_ns,
                        level as i64,
                        due,
                        esc.payload
                    ],
                )?;
                return Ok((added, too_old));
            }
            if due < oldest_ns {
                tracing::info!(
                    alarm_id = %esc.alarm_id,
                    level,
                    "escalation level not notified: its time is older than max_age"
                );
                too_old += 1;
                raised = false;
                level += 1;
                continue;
            }
        }
        let reach = router.reach(route, level, now);
        let kind = if raised {
            Kind::Raised
        } else {
            Kind::Escalated
        };
        for t in &reach.targets {
            let n = Note {
                event_seq: esc.activation_seq,
                activation_seq: esc.activation_seq,
                level: level as i64,
                kind,
                alarm_id: &esc.alarm_id,
                payload: &esc.payload,
                priority: esc.priority,
            };
            added += enqueue(tx, now_ns, t, &n)?;
        }
        forced = reach.nobody && level + 1 < levels;
        if forced {
            tracing::warn!(
                alarm_id = %esc.alarm_id,
                route = %esc.route_key,
                level,
                "level {level} reaches nobody now: level {} is told at once",
                level + 1
            );
        } else {
            if reach.nobody {
                tracing::warn!(
                    alarm_id = %esc.alarm_id,
                    route = %esc.route_key,
                    level,
                    "level {level}, the route's last, reaches nobody now"
                );
            }
            raised = false;
        }
        level += 1;
    }
}

/// Turns the escalations due at `now_ns` into notifications, for alarms still
/// unacknowledged; schedules each route's next level or ends it. Returns (rows added,
/// levels too old).
pub(super) fn escalate(
    tx: &Transaction<'_>,
    router: &Router,
    now_ns: i64,
    max_age_ns: i64,
) -> rusqlite::Result<(usize, usize)> {
    let (mut added, mut too_old) = (0, 0);
    loop {
        let due: Vec<(i64, String, String, i64, i64, String)> = {
            let mut stmt = tx.prepare_cached(
                "SELECT activation_seq, route_key, alarm_id, activation_ns, next_level, payload
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
            return Ok((added, too_old));
        }
        for (seq, key, alarm_id, activation_ns, level, payload) in due {
            let latest: Option<(i64, String)> = tx
                .query_row(
                    "SELECT seq, to_state FROM alarm_events WHERE alarm_id = ?1 ORDER BY seq DESC LIMIT 1",
                    [&alarm_id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let still = latest.is_some_and(|(s, state)| {
                s == seq && state == StateName::ActiveUnacknowledged.as_str()
            });
            let data = serde_json::from_str::<AlarmData>(&payload).ok();
            let route = router.by_key(&key);
            if still && route.is_none() {
                tracing::warn!(
                    alarm_id = %alarm_id,
                    route = %key,
                    "pending escalation dropped: its route was changed or removed from the configuration"
                );
            }
            let (Some(route), Some(data), Ok(level), true) =
                (route, data, usize::try_from(level), still)
            else {
                tx.execute(
                    "DELETE FROM notify_escalation WHERE activation_seq = ?1 AND route_key = ?2",
                    params![seq, key],
                )?;
                continue;
            };
            let esc = Escalation {
                activation_seq: seq,
                route_key: key,
                alarm_id,
                activation_ns,
                payload,
                priority: rank(data.priority),
            };
            let (a, old) = advance(tx, router, route, &esc, level, false, now_ns, max_age_ns)?;
            added += a;
            too_old += old;
        }
    }
}
