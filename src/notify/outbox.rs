//! The notifier's tables, in the alarm database (`<data_dir>/alarms.sqlite`, WAL), beside
//! the journal they follow:
//!
//! - `notify_cursor(id = 1, seq)`: the last journal `seq` planned. On the very first start
//!   it is set past the events more than a minute old, so that old history is not
//!   notified (the last minute is: the engine may commit just before the first read).
//! - `notify_instance(id = 1, instance)`: a random id made once for this database, part of
//!   every message id, so that message ids of two vigie installations never collide.
//! - `notify_outbox`: one row per notification to deliver (one target, one channel):
//!   `id` (also the notification's id in messages), `created_ns`, `due_ns` (not sent
//!   before), `attempts`, `target` (recipient or webhook id), `channel` (`email`, `sms`,
//!   `webhook`), `alarm_id`, `event_seq` (the journal event; for escalations, the
//!   activation), `activation_seq` (the activation it tells of; for `cleared`, the
//!   alarm's activation before the return to normal), `priority` (0 low … 3 critical),
//!   `level`, `kind` (`raised`, `escalated`, `cleared`), `payload` (the event's data as
//!   JSON, rendered at delivery), `status` (`pending`, `sent`, `failed`, `superseded`:
//!   no longer true when its message was built, see [`super::batch`]), `last_error`,
//!   `sent_ns`, and `batch`: the message it went out in (the smallest outbox id of that
//!   message), set before the first attempt and kept across retries, so that a retried
//!   message is the same message. `UNIQUE(event_seq, level, kind, target, channel)`:
//!   planning the same event twice adds nothing.
//! - `notify_escalation`: pending escalations, one per (activation, route): `route_key`
//!   (the stable key of the route's configuration, [`super::route::route_key`]),
//!   `alarm_id`, `activation_ns`, `next_level`, `due_ns`, `payload`.
//!
//! Planning ([`super::plan`]) reads the journal after the cursor, adds outbox and
//! escalation rows, and moves the cursor, in one transaction: an event is planned exactly
//! once, whatever stops when.

use super::NotifyError;
use super::batch::group_batch;
use super::message::Item;
use super::plan::Planned;
use super::route::{Channel, Router};
use super::schema::{migrate, move_legacy_escalations, table_exists};
use crate::alarm::Priority;
use crate::alarm::store::{FILE_NAME, Store};
use rusqlite::{Connection, TransactionBehavior, params};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// One message to send: notifications for one target on one channel.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// The message's id (`batch` in the outbox): its smallest outbox id when it was first
    /// tried; the same on every retry.
    pub id: i64,
    /// The recipient or webhook id.
    pub target: String,
    /// How it travels.
    pub channel: Channel,
    /// Attempts already made.
    pub attempts: u32,
    /// Its notifications, highest priority first, then oldest first.
    pub items: Vec<Item>,
}

/// How often one target may be sent to on one channel.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Least time between two messages, ns.
    pub min_interval_ns: i64,
    /// At most this many messages…
    pub messages: u32,
    /// …per this window, ns.
    pub per_ns: i64,
    /// Notifications in one message at most.
    pub max_items: usize,
    /// Notifications of this priority or higher do not count against `messages` per
    /// `per_ns` (nor wait behind a message being retried); None: all do.
    pub exempt: Option<Priority>,
}

/// The rank of a priority in the outbox's `priority` column: low 0 … critical 3.
pub fn rank(p: Priority) -> i64 {
    match p {
        Priority::Low => 0,
        Priority::Medium => 1,
        Priority::High => 2,
        Priority::Critical => 3,
    }
}

/// One connection to the alarm database for the notifier's tables.
pub struct Db {
    conn: Connection,
    path: PathBuf,
    instance: String,
    /// Escalations in [`LEGACY_ESCALATIONS`] wait to be moved.
    legacy: bool,
}

impl Db {
    /// Opens `<data_dir>/alarms.sqlite`, creating the journal (with the alarm store's own
    /// code, when the file has none yet) and the notifier's tables when missing, and
    /// bringing tables of an earlier vigie up to date.
    pub fn open(data_dir: &Path) -> Result<Db, NotifyError> {
        let path = data_dir.join(FILE_NAME);
        let err = |source| NotifyError::Sqlite {
            path: path.clone(),
            source,
        };
        let mut conn = Connection::open(&path).map_err(err)?;
        conn.execute_batch("PRAGMA busy_timeout=5000;")
            .map_err(err)?;
        let has_journal = table_exists(&conn, "alarm_events").map_err(err)?;
        if !has_journal {
            drop(Store::open(data_dir)?);
        }
        let (instance, legacy) = migrate(&mut conn).map_err(err)?;
        Ok(Db {
            conn,
            path,
            instance,
            legacy,
        })
    }

    /// This database's instance id (16 hex digits), made once and kept.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> NotifyError + '_ {
        |source| NotifyError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// Plans up to 500 journal events after the cursor, then (once the
    /// journal is caught up) the escalations due at `now_ns`, in one transaction.
    /// Events and escalation levels older than `max_age_ns` are not notified.
    pub fn plan(
        &mut self,
        router: &Router,
        now_ns: i64,
        max_age_ns: i64,
    ) -> Result<Planned, NotifyError> {
        let path = self.path.clone();
        let err = |source| NotifyError::Sqlite {
            path: path.clone(),
            source,
        };
        if self.legacy {
            move_legacy_escalations(&mut self.conn, router).map_err(err)?;
            self.legacy = false;
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let planned = super::plan::plan_in(&tx, router, now_ns, max_age_ns)
            .and_then(|p| tx.commit().map(|()| p));
        planned.map_err(err)
    }

    /// Marks pending notifications planned more than `max_age_ns` ago as failed; returns
    /// them as (outbox id, target, channel, alarm id).
    pub fn expire(
        &mut self,
        now_ns: i64,
        max_age_ns: i64,
    ) -> Result<Vec<(i64, String, String, String)>, NotifyError> {
        let limit = now_ns.saturating_sub(max_age_ns);
        let run = |conn: &mut Connection| -> rusqlite::Result<Vec<(i64, String, String, String)>> {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let rows = {
                let mut stmt = tx.prepare(
                    "SELECT id, target, channel, alarm_id FROM notify_outbox
                     WHERE status = 'pending' AND created_ns < ?1 ORDER BY id",
                )?;
                let rows = stmt.query_map([limit], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })?;
                rows.collect::<rusqlite::Result<Vec<_>>>()?
            };
            tx.execute(
                "UPDATE notify_outbox SET status = 'failed',
                    last_error = 'not delivered within max_age' || COALESCE(': ' || last_error, '')
                 WHERE status = 'pending' AND created_ns < ?1",
                [limit],
            )?;
            tx.commit()?;
            Ok(rows)
        };
        let path = self.path.clone();
        run(&mut self.conn).map_err(|source| NotifyError::Sqlite { path, source })
    }

    /// How many notifications wait to be delivered.
    pub fn pending(&self) -> Result<u64, NotifyError> {
        self.conn
            .query_row(
                "SELECT COUNT(*) FROM notify_outbox WHERE status = 'pending'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| u64::try_from(n).unwrap_or(0))
            .map_err(self.err())
    }

    /// The messages to send now: for each target and channel that has notifications due
    /// and is not `busy` (a message to it in flight), a message already tried and due for
    /// its retry, or else a new one if its `limits` allow (see [`super::batch`]). New
    /// messages get their `batch` recorded before they are returned.
    pub fn take_batches(
        &mut self,
        now_ns: i64,
        busy: &HashSet<(String, Channel)>,
        limits: &dyn Fn(&str, Channel) -> Limits,
    ) -> Result<Vec<Batch>, NotifyError> {
        let path = self.path.clone();
        let run = |conn: &mut Connection| -> rusqlite::Result<Vec<Batch>> {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let groups: Vec<(String, String)> = {
                let mut stmt = tx.prepare(
                    "SELECT DISTINCT target, channel FROM notify_outbox
                     WHERE status = 'pending' AND due_ns <= ?1 ORDER BY target, channel",
                )?;
                let rows = stmt.query_map([now_ns], |r| Ok((r.get(0)?, r.get(1)?)))?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            let mut out = Vec::new();
            for (target, channel_name) in groups {
                let Some(channel) = Channel::parse(&channel_name) else {
                    tx.execute(
                        "UPDATE notify_outbox SET status = 'failed', last_error = 'unknown channel'
                         WHERE status = 'pending' AND channel = ?1",
                        [&channel_name],
                    )?;
                    continue;
                };
                if busy.contains(&(target.clone(), channel)) {
                    continue;
                }
                if let Some(b) =
                    group_batch(&tx, &target, channel, now_ns, &limits(&target, channel))?
                {
                    out.push(b);
                }
            }
            tx.commit()?;
            Ok(out)
        };
        run(&mut self.conn).map_err(|source| NotifyError::Sqlite { path, source })
    }

    /// Records a delivered message.
    pub fn mark_sent(&mut self, batch: i64, now_ns: i64) -> Result<(), NotifyError> {
        self.conn
            .execute(
                "UPDATE notify_outbox SET status = 'sent', sent_ns = ?2, attempts = attempts + 1,
                    last_error = NULL
                 WHERE batch = ?1 AND status = 'pending'",
                params![batch, now_ns],
            )
            .map(drop)
            .map_err(self.err())
    }

    /// Records a failed attempt: the message is tried again at `due_ns`.
    pub fn mark_retry(&mut self, batch: i64, due_ns: i64, error: &str) -> Result<(), NotifyError> {
        self.conn
            .execute(
                "UPDATE notify_outbox SET attempts = attempts + 1, due_ns = ?2, last_error = ?3
                 WHERE batch = ?1 AND status = 'pending'",
                params![batch, due_ns, error],
            )
            .map(drop)
            .map_err(self.err())
    }

    /// Gives a message up (an error no retry can fix).
    pub fn mark_failed(&mut self, batch: i64, error: &str) -> Result<(), NotifyError> {
        self.conn
            .execute(
                "UPDATE notify_outbox SET status = 'failed', attempts = attempts + 1, last_error = ?2
                 WHERE batch = ?1 AND status = 'pending'",
                params![batch, error],
            )
            .map(drop)
            .map_err(self.err())
    }

    /// Deletes delivered, failed and superseded notifications planned before `before_ns`;
    /// returns how many.
    pub fn prune(&mut self, before_ns: i64) -> Result<usize, NotifyError> {
        self.conn
            .execute(
                "DELETE FROM notify_outbox WHERE status != 'pending' AND created_ns < ?1",
                [before_ns],
            )
            .map_err(self.err())
    }
}
