//! Outages in the data directory's SQLite file ([`crate::alarm::store::FILE_NAME`]), table
//! `outages`. Every change is one transaction with its event in the CRM's outbox
//! ([`crate::notify::crm`]): `outage_started`, `outage_updated`, `outage_ended`, carrying the
//! outage as [`Outage::to_json`] gives it. So the CRM hears of every change exactly when it
//! is committed, and of none that was not.
//!
//! At most one active outage per rule (a unique index): a rule that holds again after a
//! restart finds its outage instead of opening a second one.

use super::{Outage, OutageSource, OutageStatus};
use crate::config::Utility;
use crate::config::outages::OutageCause;
use crate::notify::crm::{self, CrmEvent, CrmEventKind};
use crate::sql_filter::Filter;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use std::path::{Path, PathBuf};

mod declared;
pub use declared::{Declared, DeclaredChange};

/// Store errors.
#[derive(Debug, thiserror::Error)]
pub enum OutageError {
    #[error("outages in {path}: {source}")]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("no outage {0}")]
    NotFound(i64),
    #[error("outage {0} is derived from alarms: it ends when its cause clears")]
    Derived(i64),
    #[error("outage {id} is {status}: it can no longer change")]
    Finished { id: i64, status: &'static str },
    #[error("Idempotency-Key {0:?} was used for another request; send a new key for a new outage")]
    KeyReused(String),
    #[error("outage {0} has not started: cancel it (status cancelled) rather than end it")]
    NotStarted(i64),
    #[error("end: outage {0} would end before it starts")]
    EndBeforeStart(i64),
}

/// An outage a rule derived.
#[derive(Debug, Clone, PartialEq)]
pub struct Derived {
    /// `SITE:RULE_ID`.
    pub rule: String,
    pub cause: OutageCause,
    pub description: String,
    pub utility: Option<Utility>,
    pub site: String,
    pub zones: Vec<String>,
    pub alarms: Vec<String>,
    pub start_ns: i64,
}

/// A filter on outages (`GET /api/v1/outages`).
#[derive(Debug, Clone, Default)]
pub struct OutageQuery {
    /// Only these statuses; empty: planned and active ones, and those ended or cancelled at
    /// or after `recent_since_ns`.
    pub statuses: Vec<OutageStatus>,
    pub recent_since_ns: i64,
    /// Outages affecting any of these zones (None: every zone).
    pub zones: Option<Vec<String>>,
    pub site: Option<String>,
    /// Started before `to_ns` and not ended before `from_ns`.
    pub from_ns: Option<i64>,
    pub to_ns: Option<i64>,
    /// Ids below this (the previous page's cursor); newest first.
    pub before_id: Option<i64>,
    pub limit: usize,
}

/// The open table.
pub struct OutageStore {
    conn: Connection,
    path: PathBuf,
}

const COLUMNS: &str = "id, status, planned, source, rule, cause, description, utility, site, \
    zones, start_ns, end_ns, planned_end_ns, etr_ns, incident_id, alarms, reference, \
    created_ns, updated_ns";

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Outage> {
    let bad = |i: usize, s: &str| {
        rusqlite::Error::FromSqlConversionFailure(
            i,
            rusqlite::types::Type::Text,
            format!("unknown value {s:?}").into(),
        )
    };
    let status: String = r.get(1)?;
    let source: String = r.get(3)?;
    let cause: String = r.get(5)?;
    let utility: Option<String> = r.get(7)?;
    let zones: String = r.get(9)?;
    let alarms: String = r.get(15)?;
    Ok(Outage {
        id: r.get(0)?,
        status: OutageStatus::parse(&status).ok_or_else(|| bad(1, &status))?,
        planned: r.get(2)?,
        source: OutageSource::parse(&source).ok_or_else(|| bad(3, &source))?,
        rule: r.get(4)?,
        cause: OutageCause::parse(&cause).ok_or_else(|| bad(5, &cause))?,
        description: r.get(6)?,
        utility: utility.and_then(|u| serde_json::from_value(serde_json::Value::String(u)).ok()),
        site: r.get(8)?,
        zones: serde_json::from_str(&zones).map_err(|_| bad(9, &zones))?,
        start_ns: r.get(10)?,
        end_ns: r.get(11)?,
        planned_end_ns: r.get(12)?,
        estimated_restoration_ns: r.get(13)?,
        incident_id: r.get(14)?,
        alarms: serde_json::from_str(&alarms).map_err(|_| bad(15, &alarms))?,
        reference: r.get(16)?,
        created_ns: r.get(17)?,
        updated_ns: r.get(18)?,
    })
}

fn utility_str(u: Option<Utility>) -> Option<&'static str> {
    u.map(crate::correlate::alerts::utility_name)
}

/// Turns a SQLite error into [`OutageError::Sqlite`] naming the file.
fn sql_err(path: &Path) -> impl Fn(rusqlite::Error) -> OutageError + use<> {
    let path = path.to_path_buf();
    move |source| OutageError::Sqlite {
        path: path.clone(),
        source,
    }
}

fn json_list(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

fn get_in(conn: &Connection, id: i64) -> rusqlite::Result<Option<Outage>> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM outages WHERE id = ?1"),
        [id],
        from_row,
    )
    .optional()
}

/// Publishes the outage as it now is in `tx`.
fn announce(
    tx: &Transaction<'_>,
    id: i64,
    kind: CrmEventKind,
    now_ns: i64,
) -> rusqlite::Result<()> {
    if let Some(o) = get_in(tx, id)? {
        crm::publish(
            tx,
            &CrmEvent {
                kind,
                key: &id.to_string(),
                time_ns: now_ns,
                data: o.to_json(),
            },
        )?;
    }
    Ok(())
}

impl OutageStore {
    /// Opens (creating) the table, and the CRM's outbox, in `<data_dir>/alarms.sqlite`.
    pub fn open(data_dir: &Path) -> Result<OutageStore, OutageError> {
        let path = data_dir.join(crate::alarm::store::FILE_NAME);
        let err = |source| OutageError::Sqlite {
            path: path.clone(),
            source,
        };
        let conn = Connection::open(&path).map_err(&err)?;
        conn.execute_batch(
            "PRAGMA busy_timeout=5000;
             PRAGMA synchronous=FULL;
             CREATE TABLE IF NOT EXISTS outages(
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                status TEXT NOT NULL,
                planned INTEGER NOT NULL,
                source TEXT NOT NULL,
                rule TEXT,
                cause TEXT NOT NULL,
                description TEXT NOT NULL,
                utility TEXT,
                site TEXT,
                zones TEXT NOT NULL,
                start_ns INTEGER NOT NULL,
                end_ns INTEGER,
                planned_end_ns INTEGER,
                etr_ns INTEGER,
                incident_id INTEGER,
                alarms TEXT NOT NULL,
                reference TEXT,
                idempotency_key TEXT UNIQUE,
                request TEXT,
                created_ns INTEGER NOT NULL,
                updated_ns INTEGER NOT NULL);
             CREATE UNIQUE INDEX IF NOT EXISTS outages_rule_active
                ON outages(rule) WHERE status = 'active';
             CREATE INDEX IF NOT EXISTS outages_status ON outages(status, end_ns);",
        )
        .map_err(&err)?;
        crm::create_tables(&conn).map_err(&err)?;
        Ok(OutageStore { conn, path })
    }

    fn err(&self, source: rusqlite::Error) -> OutageError {
        OutageError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// One outage.
    pub fn get(&self, id: i64) -> Result<Outage, OutageError> {
        get_in(&self.conn, id)
            .map_err(|e| self.err(e))?
            .ok_or(OutageError::NotFound(id))
    }

    /// Runs `f` in one transaction and commits it.
    fn write<T>(
        &mut self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, OutageError>,
    ) -> Result<T, OutageError> {
        let err = sql_err(&self.path);
        // Immediate: the write lock from the start (waiting up to busy_timeout for it), so a
        // read in the transaction never has to upgrade while another connection writes.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&err)?;
        let out = f(&tx)?;
        tx.commit().map_err(&err)?;
        Ok(out)
    }

    /// Opens the outage of `d.rule`; when one is already active for it, returns that one
    /// and false.
    pub fn open_derived(
        &mut self,
        d: &Derived,
        now_ns: i64,
    ) -> Result<(Outage, bool), OutageError> {
        let err = sql_err(&self.path);
        let existing: Option<i64> = self
            .conn
            .query_row(
                "SELECT id FROM outages WHERE rule = ?1 AND status = 'active'",
                [&d.rule],
                |r| r.get(0),
            )
            .optional()
            .map_err(&err)?;
        if let Some(id) = existing {
            return Ok((self.get(id)?, false));
        }
        let id = self.write(|tx| {
            tx.execute(
                "INSERT INTO outages(status, planned, source, rule, cause, description, utility,
                    site, zones, start_ns, alarms, created_ns, updated_ns)
                 VALUES ('active', 0, 'alarms', ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)",
                params![
                    d.rule,
                    d.cause.as_str(),
                    d.description,
                    utility_str(d.utility),
                    d.site,
                    json_list(&d.zones),
                    d.start_ns,
                    json_list(&d.alarms),
                    now_ns,
                ],
            )
            .map_err(&err)?;
            let id = tx.last_insert_rowid();
            announce(tx, id, CrmEventKind::OutageStarted, now_ns).map_err(&err)?;
            Ok(id)
        })?;
        Ok((self.get(id)?, true))
    }

    /// Ends an active outage at `end_ns` (its cause cleared, or its declared end passed).
    pub fn end(&mut self, id: i64, end_ns: i64, now_ns: i64) -> Result<Outage, OutageError> {
        self.finish(id, OutageStatus::Ended, Some(end_ns), now_ns)
    }

    fn finish(
        &mut self,
        id: i64,
        status: OutageStatus,
        end_ns: Option<i64>,
        now_ns: i64,
    ) -> Result<Outage, OutageError> {
        let before = self.get(id)?;
        if matches!(before.status, OutageStatus::Ended | OutageStatus::Cancelled) {
            return Err(OutageError::Finished {
                id,
                status: before.status.as_str(),
            });
        }
        let err = sql_err(&self.path);
        self.write(|tx| {
            tx.execute(
                "UPDATE outages SET status = ?1, end_ns = ?2, updated_ns = ?3 WHERE id = ?4",
                params![status.as_str(), end_ns, now_ns, id],
            )
            .map_err(&err)?;
            announce(tx, id, CrmEventKind::OutageEnded, now_ns).map_err(&err)
        })?;
        self.get(id)
    }

    /// Active outages derived by rules.
    pub fn active_derived(&self) -> Result<Vec<Outage>, OutageError> {
        let mut st = self
            .conn
            .prepare(&format!(
                "SELECT {COLUMNS} FROM outages WHERE status = 'active' AND rule IS NOT NULL"
            ))
            .map_err(|e| self.err(e))?;
        st.query_map([], from_row)
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(|e| self.err(e))
    }

    /// Planned or active outages (what the tracker follows).
    pub fn open_outages(&self) -> Result<Vec<Outage>, OutageError> {
        self.list(&OutageQuery {
            statuses: vec![OutageStatus::Planned, OutageStatus::Active],
            limit: 100_000,
            ..Default::default()
        })
    }

    /// Links the outage to its incident (an `outage_updated` event).
    pub fn set_incident(
        &mut self,
        id: i64,
        incident_id: i64,
        now_ns: i64,
    ) -> Result<(), OutageError> {
        let err = sql_err(&self.path);
        self.write(|tx| {
            tx.execute(
                "UPDATE outages SET incident_id = ?1, updated_ns = ?2 WHERE id = ?3",
                params![incident_id, now_ns, id],
            )
            .map_err(&err)?;
            announce(tx, id, CrmEventKind::OutageUpdated, now_ns).map_err(&err)
        })
    }

    /// Sets the estimated restoration time; an `outage_updated` event when it changed.
    /// Returns whether it changed.
    pub fn set_estimated_restoration(
        &mut self,
        id: i64,
        etr_ns: Option<i64>,
        now_ns: i64,
    ) -> Result<bool, OutageError> {
        if self.get(id)?.estimated_restoration_ns == etr_ns {
            return Ok(false);
        }
        let err = sql_err(&self.path);
        self.write(|tx| {
            tx.execute(
                "UPDATE outages SET etr_ns = ?1, updated_ns = ?2 WHERE id = ?3",
                params![etr_ns, now_ns, id],
            )
            .map_err(&err)?;
            announce(tx, id, CrmEventKind::OutageUpdated, now_ns).map_err(&err)
        })?;
        Ok(true)
    }

    /// Outages matching `q`, newest first.
    pub fn list(&self, q: &OutageQuery) -> Result<Vec<Outage>, OutageError> {
        let mut f = Filter::new(&format!("SELECT {COLUMNS} FROM outages"));
        if q.statuses.is_empty() {
            f.and_expr(
                "status IN ('planned', 'active') OR end_ns >= ?",
                vec![q.recent_since_ns],
            );
        } else {
            let marks = vec!["?"; q.statuses.len()].join(", ");
            f.and_expr(
                &format!("status IN ({marks})"),
                q.statuses.iter().map(|s| s.as_str().to_string()).collect(),
            );
        }
        if let Some(zones) = &q.zones {
            let marks = vec!["?"; zones.len()].join(", ");
            f.and_expr(
                &format!(
                    "EXISTS (SELECT 1 FROM json_each(outages.zones) z WHERE z.value IN ({marks}))"
                ),
                zones.clone(),
            );
        }
        f.and("site =", q.site.clone());
        f.and("start_ns <", q.to_ns);
        if let Some(from) = q.from_ns {
            f.and_expr("end_ns IS NULL OR end_ns >= ?", vec![from]);
        }
        f.and("id <", q.before_id);
        let (sql, args) = f.finish("id DESC", q.limit);
        let mut st = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        st.query_map(rusqlite::params_from_iter(args), from_row)
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(|e| self.err(e))
    }
}
