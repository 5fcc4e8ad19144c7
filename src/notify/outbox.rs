//! The notifier's tables, in the alarm database (`<data_dir>/alarms.sqlite`, WAL), beside
//! the journal they follow:
//!
//! - `notify_cursor(id = 1, seq)`: the last journal `seq` planned. On the very first start
//!   it is set past the events more than a minute old, so that old history is not
//!   notified (the last minute is: the engine may commit just before the first read).
//! - `notify_outbox`: one row per notification to deliver (one target, one channel):
//!   `id` (also the notification's id in messages), `created_ns`, `due_ns` (not sent
//!   before), `attempts`, `target` (recipient or webhook id), `channel` (`email`, `sms`,
//!   `webhook`), `alarm_id`, `event_seq` (the journal event; for escalations, the
//!   activation), `level`, `kind` (`raised`, `escalated`, `cleared`), `payload` (the
//!   event's data as JSON, rendered at delivery), `status` (`pending`, `sent`, `failed`),
//!   `last_error`, `sent_ns`, and `batch`: the message it went out in (the smallest outbox
//!   id of that message), set before the first attempt and kept across retries, so that a
//!   retried message is the same message. `UNIQUE(event_seq, level, kind, target,
//!   channel)`: planning the same event twice adds nothing.
//! - `notify_escalation`: pending escalations, one per (activation, route): `alarm_id`,
//!   `activation_ns`, `next_level`, `due_ns`, `payload`.
//!
//! Planning ([`super::plan`]) reads the journal after the cursor, adds outbox and
//! escalation rows, and moves the cursor, in one transaction: an event is planned exactly
//! once, whatever stops when.

use super::NotifyError;
use super::message::{AlarmData, Item, Kind};
use super::plan::Planned;
use super::route::{Channel, Router};
use crate::alarm::store::{FILE_NAME, Store};
use rusqlite::{Connection, Transaction, TransactionBehavior, params};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

const SCHEMA: &str = "
    PRAGMA busy_timeout=5000;
    PRAGMA synchronous=FULL;
    CREATE TABLE IF NOT EXISTS notify_cursor(
        id INTEGER PRIMARY KEY CHECK (id = 1),
        seq INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS notify_outbox(
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        created_ns INTEGER NOT NULL,
        due_ns INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        target TEXT NOT NULL,
        channel TEXT NOT NULL,
        alarm_id TEXT NOT NULL,
        event_seq INTEGER NOT NULL,
        level INTEGER NOT NULL,
        kind TEXT NOT NULL,
        payload TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending',
        last_error TEXT,
        sent_ns INTEGER,
        batch INTEGER,
        UNIQUE(event_seq, level, kind, target, channel));
    CREATE INDEX IF NOT EXISTS notify_outbox_pending ON notify_outbox(status, due_ns);
    CREATE INDEX IF NOT EXISTS notify_outbox_target ON notify_outbox(target, channel, status, sent_ns);
    CREATE INDEX IF NOT EXISTS notify_outbox_alarm ON notify_outbox(alarm_id, event_seq);
    CREATE INDEX IF NOT EXISTS notify_outbox_batch ON notify_outbox(batch);
    CREATE TABLE IF NOT EXISTS notify_escalation(
        activation_seq INTEGER NOT NULL,
        route INTEGER NOT NULL,
        alarm_id TEXT NOT NULL,
        activation_ns INTEGER NOT NULL,
        next_level INTEGER NOT NULL,
        due_ns INTEGER NOT NULL,
        payload TEXT NOT NULL,
        PRIMARY KEY(activation_seq, route));
    CREATE INDEX IF NOT EXISTS notify_escalation_alarm ON notify_escalation(alarm_id);
    CREATE INDEX IF NOT EXISTS notify_escalation_due ON notify_escalation(due_ns);";

/// One message to send: notifications for one target on one channel.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// The message's id (`batch` in the outbox): its smallest outbox id when it was first
    /// tried; the same on every retry.
    pub id: i64,
    pub target: String,
    pub channel: Channel,
    /// Attempts already made.
    pub attempts: u32,
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
}

/// One connection to the alarm database for the notifier's tables.
pub struct Db {
    conn: Connection,
    path: PathBuf,
}

impl Db {
    /// Opens `<data_dir>/alarms.sqlite`, creating the journal (with the alarm store's own
    /// code, when the file has none yet) and the notifier's tables when missing.
    pub fn open(data_dir: &Path) -> Result<Db, NotifyError> {
        let path = data_dir.join(FILE_NAME);
        let err = |source| NotifyError::Sqlite {
            path: path.clone(),
            source,
        };
        let conn = Connection::open(&path).map_err(err)?;
        conn.execute_batch("PRAGMA busy_timeout=5000;")
            .map_err(err)?;
        let has_journal: bool = conn
            .query_row(
                "SELECT COUNT(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'alarm_events'",
                [],
                |r| r.get(0),
            )
            .map_err(err)?;
        if !has_journal {
            drop(Store::open(data_dir)?);
        }
        conn.execute_batch(SCHEMA).map_err(err)?;
        Ok(Db { conn, path })
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> NotifyError + '_ {
        |source| NotifyError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// Plans up to 500 journal events after the cursor, then (once the
    /// journal is caught up) the escalations due at `now_ns`, in one transaction.
    /// Activations older than `max_age_ns` are not notified.
    pub fn plan(
        &mut self,
        router: &Router,
        now_ns: i64,
        max_age_ns: i64,
    ) -> Result<Planned, NotifyError> {
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|source| NotifyError::Sqlite {
                path: path.clone(),
                source,
            })?;
        let planned = super::plan::plan_in(&tx, router, now_ns, max_age_ns)
            .and_then(|p| tx.commit().map(|()| p));
        planned.map_err(|source| NotifyError::Sqlite { path, source })
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

    /// The messages to send now: for each target and channel that has notifications due,
    /// is not `busy` (a message to it in flight), and whose `limits` allow a message now:
    /// a message already tried (retried as it was), or else a new one gathering its due
    /// notifications, oldest first. New messages get their `batch` recorded before they
    /// are returned.
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

    /// Deletes delivered and failed notifications planned before `before_ns`; returns how
    /// many.
    pub fn prune(&mut self, before_ns: i64) -> Result<usize, NotifyError> {
        self.conn
            .execute(
                "DELETE FROM notify_outbox WHERE status != 'pending' AND created_ns < ?1",
                [before_ns],
            )
            .map_err(self.err())
    }
}

/// The message for one target and channel, if one may go now (see [`Db::take_batches`]).
fn group_batch(
    tx: &Transaction<'_>,
    target: &str,
    channel: Channel,
    now_ns: i64,
    limits: &Limits,
) -> rusqlite::Result<Option<Batch>> {
    let ch = channel.as_str();
    let started: Option<i64> = tx.query_row(
        "SELECT MIN(batch) FROM notify_outbox
         WHERE status = 'pending' AND target = ?1 AND channel = ?2 AND batch IS NOT NULL",
        params![target, ch],
        |r| r.get(0),
    )?;
    let select = "SELECT id, kind, level, created_ns, payload, attempts, due_ns FROM notify_outbox";
    let (batch, rows) = match started {
        Some(batch) => {
            let rows = load(
                tx,
                &format!("{select} WHERE batch = ?1 AND status = 'pending' ORDER BY id"),
                params![batch],
            )?;
            if rows.iter().any(|r| r.due_ns > now_ns) {
                return Ok(None); // waiting for its retry
            }
            (batch, rows)
        }
        None => {
            let last: Option<i64> = tx.query_row(
                "SELECT MAX(sent_ns) FROM notify_outbox
                 WHERE target = ?1 AND channel = ?2 AND status = 'sent'",
                params![target, ch],
                |r| r.get(0),
            )?;
            let recent: i64 = tx.query_row(
                "SELECT COUNT(DISTINCT batch) FROM notify_outbox
                 WHERE target = ?1 AND channel = ?2 AND status = 'sent' AND sent_ns > ?3",
                params![target, ch, now_ns.saturating_sub(limits.per_ns)],
                |r| r.get(0),
            )?;
            let too_soon = last.is_some_and(|l| l.saturating_add(limits.min_interval_ns) > now_ns);
            if too_soon || recent >= i64::from(limits.messages) {
                if !too_soon {
                    tracing::debug!(
                        target,
                        channel = ch,
                        "rate limit reached: notifications wait"
                    );
                }
                return Ok(None);
            }
            let rows = load(
                tx,
                &format!(
                    "{select} WHERE status = 'pending' AND batch IS NULL AND target = ?1
                     AND channel = ?2 AND due_ns <= ?3 ORDER BY id LIMIT {}",
                    limits.max_items.max(1)
                ),
                params![target, ch, now_ns],
            )?;
            let Some(first) = rows.first().map(|r| r.id) else {
                return Ok(None);
            };
            for r in &rows {
                tx.execute(
                    "UPDATE notify_outbox SET batch = ?1 WHERE id = ?2",
                    params![first, r.id],
                )?;
            }
            (first, rows)
        }
    };
    // The message keeps its first id even when that notification has expired since.
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

struct Row {
    id: i64,
    kind: String,
    level: i64,
    created_ns: i64,
    payload: String,
    attempts: i64,
    due_ns: i64,
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
            due_ns: r.get(6)?,
        })
    })?;
    rows.collect()
}
