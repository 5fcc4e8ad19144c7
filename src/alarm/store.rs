//! Alarm state and the event journal, in SQLite (WAL) at `<data_dir>/alarms.sqlite`.
//!
//! Tables:
//! - `alarm_state(alarm_id TEXT PRIMARY KEY, state TEXT)`: each alarm's [`AlarmState`] and
//!   condition timers as JSON, so that after a restart active, acknowledged and shelved alarms
//!   are exactly as before, and on-delays keep counting (the ThingsBoard lesson,
//!   reference/alarms-integration.md §2.3).
//! - `alarm_events(seq INTEGER PRIMARY KEY AUTOINCREMENT, time_ns, alarm_id, site, device,
//!   point, condition, priority, from_state, to_state, value, limit_value, message, operator,
//!   comment)`: the journal, one row per [`AlarmEvent`]; `seq` only grows, and the notifier
//!   follows it with its own cursor (`crate::notify`).
//!
//! Each batch of events is written with the states it produced in one transaction, with
//! `synchronous=FULL`: once `commit` returns, a power cut loses nothing of it.

use super::{AlarmEvent, Priority, StateName};
use crate::sql_filter::Filter;
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Store errors.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("alarm database {path}: {source}")]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("alarm database {path}: bad stored state of {alarm_id}: {source}")]
    BadState {
        path: PathBuf,
        alarm_id: String,
        source: serde_json::Error,
    },
}

/// The database file's name in the data directory.
pub const FILE_NAME: &str = "alarms.sqlite";

/// What is persisted for one alarm: its ISA state and its condition's timers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Persisted {
    pub state: super::AlarmState,
    pub tracker: super::condition::Tracker,
    /// Its `suppressed_while` point had the suppressing value at the last sample (the other
    /// cause of suppression, an active suppressor alarm, is recomputed at start-up).
    pub point_suppressed: bool,
}

/// An open alarm database.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

/// A filter on the journal (`GET /api/v1/alarms/history`).
#[derive(Debug, Clone, Default)]
pub struct HistoryQuery {
    /// Events at or after this time (ns).
    pub from_ns: Option<i64>,
    /// Events before this time (ns).
    pub to_ns: Option<i64>,
    /// Events with `seq` below this (the previous page's `next_cursor`): pages go back in time.
    pub before_seq: Option<i64>,
    /// Events with `seq` above this, oldest first (to follow the journal as it grows).
    pub after_seq: Option<i64>,
    pub site: Option<String>,
    pub alarm_id: Option<String>,
    pub priority: Option<Priority>,
    /// At most this many events (newest first).
    pub limit: usize,
}

impl Store {
    /// Opens (creating) the database in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        let path = data_dir.join(FILE_NAME);
        let err = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let conn = Connection::open(&path).map_err(err)?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL;
             PRAGMA synchronous=FULL;
             PRAGMA busy_timeout=5000;
             CREATE TABLE IF NOT EXISTS alarm_state(
                alarm_id TEXT PRIMARY KEY,
                state TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS alarm_events(
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                time_ns INTEGER NOT NULL,
                alarm_id TEXT NOT NULL,
                site TEXT NOT NULL,
                device TEXT NOT NULL,
                point TEXT,
                condition TEXT NOT NULL,
                priority TEXT NOT NULL,
                from_state TEXT NOT NULL,
                to_state TEXT NOT NULL,
                value REAL,
                limit_value REAL,
                message TEXT NOT NULL,
                operator TEXT,
                comment TEXT);
             CREATE INDEX IF NOT EXISTS alarm_events_time ON alarm_events(time_ns);
             CREATE INDEX IF NOT EXISTS alarm_events_alarm ON alarm_events(alarm_id, seq);",
        )
        .map_err(err)?;
        Ok(Store { conn, path })
    }

    fn err(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// Every persisted alarm, by id.
    pub fn load(&self) -> Result<HashMap<String, Persisted>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT alarm_id, state FROM alarm_state")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(|e| self.err(e))?;
        let mut out = HashMap::new();
        for row in rows {
            let (id, json) = row.map_err(|e| self.err(e))?;
            let p = serde_json::from_str(&json).map_err(|source| StoreError::BadState {
                path: self.path.clone(),
                alarm_id: id.clone(),
                source,
            })?;
            out.insert(id, p);
        }
        Ok(out)
    }

    /// Appends `events` to the journal and saves `states`, in one transaction; fills in each
    /// event's `seq`.
    pub fn commit(
        &mut self,
        events: &mut [AlarmEvent],
        states: &[(String, Persisted)],
    ) -> Result<(), StoreError> {
        let path = self.path.clone();
        let err = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(err)?;
        {
            let mut ins = tx
                .prepare_cached(
                    "INSERT INTO alarm_events(time_ns, alarm_id, site, device, point, condition,
                        priority, from_state, to_state, value, limit_value, message, operator, comment)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
                )
                .map_err(err)?;
            for e in events.iter_mut() {
                ins.execute(params![
                    e.time_ns,
                    e.alarm_id,
                    e.site,
                    e.device,
                    e.point,
                    e.condition,
                    e.priority.as_str(),
                    e.from_state.as_str(),
                    e.to_state.as_str(),
                    e.value,
                    e.limit,
                    e.message,
                    e.operator,
                    e.comment,
                ])
                .map_err(err)?;
                e.seq = tx.last_insert_rowid();
            }
            let mut up = tx
                .prepare_cached(
                    "INSERT INTO alarm_state(alarm_id, state) VALUES (?1, ?2)
                     ON CONFLICT(alarm_id) DO UPDATE SET state = excluded.state",
                )
                .map_err(err)?;
            for (id, p) in states {
                let json = serde_json::to_string(p).unwrap_or_default();
                up.execute(params![id, json]).map_err(err)?;
            }
        }
        tx.commit().map_err(err)
    }

    /// Journal events matching `q`, newest first (oldest first with `after_seq`).
    pub fn history(&self, q: &HistoryQuery) -> Result<Vec<AlarmEvent>, StoreError> {
        history(&self.conn, q).map_err(|e| self.err(e))
    }

    /// Activations (events into `active_unacknowledged`) since `from_ns`, oldest first:
    /// (time ns, alarm id, priority). What the EEMUA 191 figures are computed from.
    pub fn activations(&self, from_ns: i64) -> Result<Vec<(i64, String, Priority)>, StoreError> {
        activations(&self.conn, from_ns).map_err(|e| self.err(e))
    }

    /// Deletes journal events older than `before_ns`; returns how many.
    pub fn prune(&self, before_ns: i64) -> Result<usize, StoreError> {
        self.conn
            .execute("DELETE FROM alarm_events WHERE time_ns < ?1", [before_ns])
            .map_err(|e| self.err(e))
    }

    /// The highest journal sequence number (0 when empty).
    pub fn last_seq(&self) -> Result<i64, StoreError> {
        self.conn
            .query_row("SELECT MAX(seq) FROM alarm_events", [], |r| {
                r.get::<_, Option<i64>>(0)
            })
            .optional()
            .map(|v| v.flatten().unwrap_or(0))
            .map_err(|e| self.err(e))
    }
}

/// Reads one journal row (columns in the table's order).
pub fn event_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AlarmEvent> {
    let state = |i: usize| -> rusqlite::Result<StateName> {
        let s: String = r.get(i)?;
        StateName::parse(&s).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                i,
                rusqlite::types::Type::Text,
                format!("unknown alarm state {s:?}").into(),
            )
        })
    };
    let priority: String = r.get(7)?;
    let priority =
        serde_json::from_value(serde_json::Value::String(priority.clone())).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(7, rusqlite::types::Type::Text, e.into())
        })?;
    Ok(AlarmEvent {
        seq: r.get(0)?,
        time_ns: r.get(1)?,
        alarm_id: r.get(2)?,
        site: r.get(3)?,
        device: r.get(4)?,
        point: r.get(5)?,
        condition: r.get(6)?,
        priority,
        from_state: state(8)?,
        to_state: state(9)?,
        value: r.get(10)?,
        limit: r.get(11)?,
        message: r.get(12)?,
        operator: r.get(13)?,
        comment: r.get(14)?,
    })
}

/// The journal's columns in table order, for `SELECT`s that feed [`event_from_row`].
pub const EVENT_COLUMNS: &str = "seq, time_ns, alarm_id, site, device, point, condition, \
    priority, from_state, to_state, value, limit_value, message, operator, comment";

fn history(conn: &Connection, q: &HistoryQuery) -> rusqlite::Result<Vec<AlarmEvent>> {
    let mut f = Filter::new(&format!("SELECT {EVENT_COLUMNS} FROM alarm_events"));
    f.and("time_ns >=", q.from_ns);
    f.and("time_ns <", q.to_ns);
    f.and("seq <", q.before_seq);
    f.and("seq >", q.after_seq);
    f.and("site =", q.site.clone());
    f.and("alarm_id =", q.alarm_id.clone());
    f.and("priority =", q.priority.map(|p| p.as_str().to_string()));
    let order = if q.after_seq.is_some() {
        "seq ASC"
    } else {
        "seq DESC"
    };
    let (sql, args) = f.finish(order, q.limit);
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(args), event_from_row)?;
    rows.collect()
}

fn activations(conn: &Connection, from_ns: i64) -> rusqlite::Result<Vec<(i64, String, Priority)>> {
    let mut stmt = conn.prepare(
        "SELECT time_ns, alarm_id, priority FROM alarm_events
         WHERE to_state = 'active_unacknowledged' AND time_ns >= ?1 ORDER BY time_ns, seq",
    )?;
    let rows = stmt.query_map([from_ns], |r| {
        let p: String = r.get(2)?;
        let p = serde_json::from_value(serde_json::Value::String(p)).unwrap_or(Priority::Low);
        Ok((r.get(0)?, r.get(1)?, p))
    })?;
    rows.collect()
}
