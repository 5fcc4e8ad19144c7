//! The CRM outbox: table `crm_outbox` in `<data_dir>/alarms.sqlite` (WAL), one row per event:
//!
//! - `id` (AUTOINCREMENT): the event's sequence number, its `id` in the request; events are
//!   delivered in this order;
//! - `created_ns` (when it was recorded, ns since the epoch), `time_ns` (the event's own
//!   time: a classification's pass, an outage's start, update or end);
//! - `kind` ([`CrmEventKind::as_str`]), `key` (an alert id, an outage id), `data` (JSON);
//! - `status`: `pending` (to deliver), `sent` (the CRM answered 2xx), `failed` (the CRM
//!   refused it: 400, 409, 413, 422), `discarded` (recorded while no `[crm]` was configured);
//! - `attempts`, `due_ns` (not sent before; set on a failed attempt), `last_error`,
//!   `sent_ns`;
//! - `batch`: the request it goes in (its first event's id), set before the first attempt
//!   and kept across retries and restarts, so that a retried request carries the same
//!   events and the same `Idempotency-Key` (made of its first and last event ids, see
//!   [`super::deliver::idempotency_key`]); a split makes one request per event.
//!
//! Other stages record events with [`publish`] inside their own transaction, on their own
//! connection to the file: an event exists exactly when the change that causes it is
//! committed. The delivery worker ([`super::deliver`]) reads the table with [`Outbox`].

use super::CrmError;
use crate::alarm::store::FILE_NAME;
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;
use std::path::{Path, PathBuf};

const TABLE: &str = "
    CREATE TABLE IF NOT EXISTS crm_outbox(
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        created_ns INTEGER NOT NULL,
        time_ns INTEGER NOT NULL,
        kind TEXT NOT NULL,
        key TEXT NOT NULL,
        data TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        due_ns INTEGER NOT NULL DEFAULT 0,
        batch INTEGER,
        last_error TEXT,
        sent_ns INTEGER);
    CREATE INDEX IF NOT EXISTS crm_outbox_status ON crm_outbox(status, id);
    CREATE INDEX IF NOT EXISTS crm_outbox_batch ON crm_outbox(batch);
    CREATE INDEX IF NOT EXISTS crm_outbox_created ON crm_outbox(created_ns);";

/// Idempotent: creates the table and indexes when missing. Every store that publishes calls
/// it when it opens its connection (the correlator's [`crate::correlate::store::AlertStore`]
/// does).
pub fn create_tables(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    conn.execute_batch(TABLE)
}

/// What an event tells the CRM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrmEventKind {
    /// A consumption alert's classification was set or changed (`key`: the alert id).
    AlertClassified,
    /// A planned outage (works) was declared, before it begins (`key`: the outage id): the
    /// CRM's first event about that id.
    OutagePlanned,
    /// An outage began (`key`: the outage id).
    OutageStarted,
    /// An ongoing outage changed (estimated restoration, customers, area…).
    OutageUpdated,
    /// An outage ended: supply is restored.
    OutageEnded,
}

impl CrmEventKind {
    /// The name in the outbox and in requests: `alert_classified`, `outage_planned`,
    /// `outage_started`, `outage_updated`, `outage_ended`.
    pub fn as_str(self) -> &'static str {
        match self {
            CrmEventKind::AlertClassified => "alert_classified",
            CrmEventKind::OutagePlanned => "outage_planned",
            CrmEventKind::OutageStarted => "outage_started",
            CrmEventKind::OutageUpdated => "outage_updated",
            CrmEventKind::OutageEnded => "outage_ended",
        }
    }
}

/// One event for the CRM.
#[derive(Debug, Clone, PartialEq)]
pub struct CrmEvent<'a> {
    pub kind: CrmEventKind,
    /// What it is about: an alert id, an outage id (as a string).
    pub key: &'a str,
    /// When it happened, ns since the epoch (sent as RFC 3339).
    pub time_ns: i64,
    /// The event's content, sent as is: the alert's classification, the outage as
    /// `GET /api/v1/outages` serves it.
    pub data: serde_json::Value,
}

/// Records `event` in the outbox on `conn` (pass the caller's transaction: the event is
/// then recorded if and only if it commits); returns the event's id. The table must exist:
/// call [`create_tables`] when opening the connection.
///
/// A transaction that reads before it writes should be begun `IMMEDIATE`
/// (`transaction_with_behavior(TransactionBehavior::Immediate)`): a deferred one fails at
/// once with "database is locked" when another connection (the delivery worker, the alarm
/// recorder) writes at that moment, instead of waiting its busy timeout.
pub fn publish(conn: &rusqlite::Connection, event: &CrmEvent<'_>) -> rusqlite::Result<i64> {
    conn.execute(
        "INSERT INTO crm_outbox(created_ns, time_ns, kind, key, data)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            crate::sample::now_ns(),
            event.time_ns,
            event.kind.as_str(),
            event.key,
            event.data.to_string()
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

/// An event as stored, to deliver.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub id: i64,
    pub kind: String,
    pub key: String,
    pub time_ns: i64,
    pub data: Value,
}

/// The next request: the oldest pending events.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// Its first event's id; the same on every retry.
    pub id: i64,
    /// Attempts already made.
    pub attempts: u32,
    /// Not sent before this time, ns.
    pub due_ns: i64,
    /// In id order.
    pub events: Vec<StoredEvent>,
}

/// The delivery worker's connection to the outbox.
pub struct Outbox {
    conn: Connection,
    path: PathBuf,
    instance: String,
}

impl Outbox {
    /// Opens `<data_dir>/alarms.sqlite`, creating the table when missing, and reads (or
    /// makes) the database's instance id.
    pub fn open(data_dir: &Path) -> Result<Outbox, CrmError> {
        let path = data_dir.join(FILE_NAME);
        let err = |source| CrmError::Sqlite {
            path: path.clone(),
            source,
        };
        let conn = Connection::open(&path).map_err(err)?;
        conn.execute_batch("PRAGMA busy_timeout=5000; PRAGMA synchronous=FULL;")
            .map_err(err)?;
        create_tables(&conn).map_err(err)?;
        let instance = crate::notify::schema::instance(&conn).map_err(err)?;
        Ok(Outbox {
            conn,
            path,
            instance,
        })
    }

    /// The database's instance id, part of every `Idempotency-Key`.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> CrmError + '_ {
        |source| CrmError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// The oldest pending event's request: the one it was already tried in, or else a new
    /// one of up to `max` pending events (recorded before it is returned). None when
    /// nothing is pending.
    ///
    /// Reads without a transaction and writes only to record a new request: polling an
    /// idle outbox never takes the database's write lock (other stages' transactions that
    /// read before they write would fail on it at once, without waiting).
    pub fn next_batch(&mut self, max: usize) -> Result<Option<Batch>, CrmError> {
        let head: Option<(i64, Option<i64>)> = self
            .conn
            .query_row(
                "SELECT id, batch FROM crm_outbox WHERE status = 'pending' ORDER BY id LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(self.err())?;
        let Some((head, batch)) = head else {
            return Ok(None);
        };
        let batch = match batch {
            Some(b) => b,
            None => {
                // One statement: atomic. Only this worker assigns requests, and events
                // published meanwhile have higher ids.
                self.conn
                    .execute(
                        "UPDATE crm_outbox SET batch = ?1 WHERE id IN (
                            SELECT id FROM crm_outbox WHERE status = 'pending' AND batch IS NULL
                            ORDER BY id LIMIT ?2)",
                        params![head, i64::try_from(max.max(1)).unwrap_or(i64::MAX)],
                    )
                    .map_err(self.err())?;
                head
            }
        };
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, kind, key, time_ns, data, attempts, due_ns FROM crm_outbox
                 WHERE batch = ?1 AND status = 'pending' ORDER BY id",
            )
            .map_err(self.err())?;
        let (mut attempts, mut due_ns) = (0i64, 0i64);
        let rows = stmt
            .query_map([batch], |r| {
                attempts = r.get(5)?;
                due_ns = r.get(6)?;
                let data: String = r.get(4)?;
                Ok(StoredEvent {
                    id: r.get(0)?,
                    kind: r.get(1)?,
                    key: r.get(2)?,
                    time_ns: r.get(3)?,
                    // Written by `publish` from a `Value`; kept as text if it ever is not JSON.
                    data: serde_json::from_str(&data).unwrap_or(Value::String(data)),
                })
            })
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>());
        let events = rows.map_err(|source| CrmError::Sqlite {
            path: self.path.clone(),
            source,
        })?;
        Ok(Some(Batch {
            id: batch,
            attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
            due_ns,
            events,
        }))
    }

    /// Records a delivered request.
    pub fn mark_sent(&mut self, batch: i64, now_ns: i64) -> Result<(), CrmError> {
        self.conn
            .execute(
                "UPDATE crm_outbox SET status = 'sent', sent_ns = ?2, attempts = attempts + 1,
                    last_error = NULL
                 WHERE batch = ?1 AND status = 'pending'",
                params![batch, now_ns],
            )
            .map(drop)
            .map_err(self.err())
    }

    /// Records a failed attempt: the request is tried again at `due_ns`.
    pub fn mark_retry(&mut self, batch: i64, due_ns: i64, error: &str) -> Result<(), CrmError> {
        self.conn
            .execute(
                "UPDATE crm_outbox SET attempts = attempts + 1, due_ns = ?2, last_error = ?3
                 WHERE batch = ?1 AND status = 'pending'",
                params![batch, due_ns, error],
            )
            .map(drop)
            .map_err(self.err())
    }

    /// Gives a request's events up: the CRM refused them.
    pub fn mark_failed(&mut self, batch: i64, error: &str) -> Result<(), CrmError> {
        self.conn
            .execute(
                "UPDATE crm_outbox SET status = 'failed', attempts = attempts + 1,
                    last_error = ?2
                 WHERE batch = ?1 AND status = 'pending'",
                params![batch, error],
            )
            .map(drop)
            .map_err(self.err())
    }

    /// Splits a refused request of several events into one request per event, so that
    /// only the events the CRM refuses are given up.
    pub fn split(&mut self, batch: i64, error: &str) -> Result<(), CrmError> {
        self.conn
            .execute(
                "UPDATE crm_outbox SET batch = id, attempts = attempts + 1, last_error = ?2
                 WHERE batch = ?1 AND status = 'pending'",
                params![batch, error],
            )
            .map(drop)
            .map_err(self.err())
    }

    /// Marks every pending event `discarded` (no `[crm]` is configured); returns how many.
    pub fn discard_pending(&mut self) -> Result<usize, CrmError> {
        self.conn
            .execute(
                "UPDATE crm_outbox SET status = 'discarded', last_error = 'no [crm] configured'
                 WHERE status = 'pending'",
                [],
            )
            .map_err(self.err())
    }

    /// Deletes events no longer pending recorded before `before_ns`; returns how many.
    pub fn prune(&mut self, before_ns: i64) -> Result<usize, CrmError> {
        self.conn
            .execute(
                "DELETE FROM crm_outbox WHERE status != 'pending' AND created_ns < ?1",
                [before_ns],
            )
            .map_err(self.err())
    }

    /// How many events wait to be delivered.
    pub fn pending(&self) -> Result<u64, CrmError> {
        self.conn
            .query_row(
                "SELECT COUNT(*) FROM crm_outbox WHERE status = 'pending'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| u64::try_from(n).unwrap_or(0))
            .map_err(self.err())
    }
}
