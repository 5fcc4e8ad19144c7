//! Incidents in the data directory's SQLite file ([`crate::alarm::store::FILE_NAME`]):
//! table `incidents` (one row each, with its idempotency key when it was created with one)
//! and `incident_history` (the audit trail: creation, every field change, every comment).
//! Each change is one transaction with its history lines: a ticket survives restarts and
//! crashes as it was last answered.

use super::{HistoryEntry, Incident, Links, Status};
use crate::alarm::Priority;
use crate::idempotency::Seen;
use crate::sample::rfc3339;
use crate::sql_filter::Filter;
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use std::path::{Path, PathBuf};

/// Store errors.
#[derive(Debug, thiserror::Error)]
pub enum IncidentError {
    #[error("incidents in {path}: {source}")]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("no incident {0}")]
    NotFound(i64),
    #[error("status: an incident cannot go from {from} to {to}")]
    BadTransition {
        from: &'static str,
        to: &'static str,
    },
    #[error(
        "Idempotency-Key {0:?} was used for another request; send a new key for a new incident"
    )]
    KeyReused(String),
}

/// A new incident.
#[derive(Debug, Clone, PartialEq)]
pub struct NewIncident {
    pub title: String,
    pub description: String,
    pub priority: Priority,
    pub zone: Option<String>,
    pub site: Option<String>,
    pub assignee: Option<String>,
    pub estimated_restoration_ns: Option<i64>,
    pub source: String,
    pub reason: String,
    pub links: Links,
}

/// A change to an incident (`PATCH`); None leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Change {
    pub status: Option<Status>,
    /// Some(None) clears the assignee.
    pub assignee: Option<Option<String>>,
    pub estimated_restoration_ns: Option<Option<i64>>,
    pub comment: Option<String>,
}

/// A filter on incidents (`GET /api/v1/incidents`).
#[derive(Debug, Clone, Default)]
pub struct IncidentQuery {
    pub status: Option<Status>,
    pub zone: Option<String>,
    pub site: Option<String>,
    pub priority: Option<Priority>,
    /// Opened at or after (ns).
    pub from_ns: Option<i64>,
    /// Opened before (ns).
    pub to_ns: Option<i64>,
    /// Ids below this (the previous page's cursor); newest first.
    pub before_id: Option<i64>,
    pub limit: usize,
}

/// The open tables.
pub struct IncidentStore {
    conn: Connection,
    path: PathBuf,
}

const COLUMNS: &str = "id, title, description, status, priority, zone, site, assignee, \
    estimated_restoration_ns, opened_ns, updated_ns, source, reason, links";

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Incident> {
    let text = |i: usize, s: String| {
        rusqlite::Error::FromSqlConversionFailure(
            i,
            rusqlite::types::Type::Text,
            format!("unknown value {s:?}").into(),
        )
    };
    let status: String = r.get(3)?;
    let priority: String = r.get(4)?;
    let links: String = r.get(13)?;
    Ok(Incident {
        id: r.get(0)?,
        title: r.get(1)?,
        description: r.get(2)?,
        status: Status::parse(&status).ok_or_else(|| text(3, status.clone()))?,
        priority: serde_json::from_value(serde_json::Value::String(priority.clone()))
            .map_err(|_| text(4, priority))?,
        zone: r.get(5)?,
        site: r.get(6)?,
        assignee: r.get(7)?,
        estimated_restoration_ns: r.get(8)?,
        opened_ns: r.get(9)?,
        updated_ns: r.get(10)?,
        source: r.get(11)?,
        reason: r.get(12)?,
        links: serde_json::from_str(&links).unwrap_or_default(),
    })
}

/// One history line to write: (kind, field, old, new, comment).
type Line<'a> = (
    &'a str,
    Option<&'a str>,
    Option<String>,
    Option<String>,
    Option<&'a str>,
);

fn history_line(
    tx: &Transaction<'_>,
    id: i64,
    now_ns: i64,
    actor: &str,
    (kind, field, old, new, comment): Line<'_>,
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO incident_history(incident_id, time_ns, actor, kind, field, old, new, comment)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![id, now_ns, actor, kind, field, old, new, comment],
    )?;
    Ok(())
}

impl IncidentStore {
    /// Opens (creating) the tables in `<data_dir>/alarms.sqlite`.
    pub fn open(data_dir: &Path) -> Result<IncidentStore, IncidentError> {
        let path = data_dir.join(crate::alarm::store::FILE_NAME);
        let err = |source| IncidentError::Sqlite {
            path: path.clone(),
            source,
        };
        let conn = Connection::open(&path).map_err(err)?;
        conn.execute_batch(
            "PRAGMA busy_timeout=5000;
             PRAGMA synchronous=FULL;
             CREATE TABLE IF NOT EXISTS incidents(
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                idempotency_key TEXT UNIQUE,
                request TEXT,
                title TEXT NOT NULL,
                description TEXT NOT NULL,
                status TEXT NOT NULL,
                priority TEXT NOT NULL,
                zone TEXT,
                site TEXT,
                assignee TEXT,
                estimated_restoration_ns INTEGER,
                opened_ns INTEGER NOT NULL,
                updated_ns INTEGER NOT NULL,
                source TEXT NOT NULL,
                reason TEXT NOT NULL,
                links TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS incident_history(
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                incident_id INTEGER NOT NULL,
                time_ns INTEGER NOT NULL,
                actor TEXT NOT NULL,
                kind TEXT NOT NULL,
                field TEXT,
                old TEXT,
                new TEXT,
                comment TEXT);
             CREATE INDEX IF NOT EXISTS incident_history_incident
                ON incident_history(incident_id, seq);",
        )
        .map_err(err)?;
        Ok(IncidentStore { conn, path })
    }

    fn err(&self, source: rusqlite::Error) -> IncidentError {
        IncidentError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// Creates an incident, by `actor`. With an idempotency key already used for the same
    /// `request` (the request's canonical text), returns that incident and false; with a key
    /// used for another request, [`IncidentError::KeyReused`]. Otherwise the new incident
    /// and true.
    pub fn create(
        &mut self,
        new: &NewIncident,
        actor: &str,
        key: Option<(&str, &str)>,
        now_ns: i64,
    ) -> Result<(Incident, bool), IncidentError> {
        if let Some((k, request)) = key {
            match crate::idempotency::seen(&self.conn, "incidents", k, request)
                .map_err(|e| self.err(e))?
            {
                Seen::New => {}
                Seen::Same(id) => return Ok((self.get(id)?, false)),
                Seen::Other => return Err(IncidentError::KeyReused(k.to_string())),
            }
        }
        let path = self.path.clone();
        let err = |source| IncidentError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(err)?;
        tx.execute(
            "INSERT INTO incidents(idempotency_key, request, title, description, status,
                priority, zone, site, assignee, estimated_restoration_ns, opened_ns, updated_ns,
                source, reason, links)
             VALUES (?1, ?2, ?3, ?4, 'open', ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?11, ?12, ?13)",
            params![
                key.map(|k| k.0),
                key.map(|k| k.1),
                new.title,
                new.description,
                new.priority.as_str(),
                new.zone,
                new.site,
                new.assignee,
                new.estimated_restoration_ns,
                now_ns,
                new.source,
                new.reason,
                serde_json::to_string(&new.links).unwrap_or_else(|_| "{}".into()),
            ],
        )
        .map_err(err)?;
        let id = tx.last_insert_rowid();
        history_line(&tx, id, now_ns, actor, ("created", None, None, None, None)).map_err(err)?;
        tx.commit().map_err(err)?;
        Ok((self.get(id)?, true))
    }

    /// The incident the correlator (or the outage tracker) opened under `key`, created when new; when it exists
    /// with other links or reason, they are updated (a history line each). Returns it and
    /// whether it was created.
    pub fn upsert_correlated(
        &mut self,
        key: &str,
        new: &NewIncident,
        now_ns: i64,
    ) -> Result<(Incident, bool), IncidentError> {
        let key = format!("correlation:{key}");
        // Who opened it: the correlator, or the outage tracker (`source: outage`).
        let actor = match new.source.as_str() {
            "outage" => "outage tracker".to_string(),
            _ => "correlator".to_string(),
        };
        let id: Option<i64> = self
            .conn
            .query_row(
                "SELECT id FROM incidents WHERE idempotency_key = ?1",
                [&key],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        let Some(id) = id else {
            return self.create(new, &actor, Some((&key, "")), now_ns);
        };
        let before = self.get(id)?;
        if before.links == new.links && before.reason == new.reason {
            return Ok((before, false));
        }
        let path = self.path.clone();
        let err = |source| IncidentError::Sqlite {
            path: path.clone(),
            source,
        };
        let links = serde_json::to_string(&new.links).unwrap_or_else(|_| "{}".into());
        let tx = self.conn.transaction().map_err(err)?;
        tx.execute(
            "UPDATE incidents SET links = ?1, reason = ?2, updated_ns = ?3 WHERE id = ?4",
            params![links, new.reason, now_ns, id],
        )
        .map_err(err)?;
        history_line(
            &tx,
            id,
            now_ns,
            &actor,
            (
                "changed",
                Some("links"),
                Some(serde_json::to_string(&before.links).unwrap_or_default()),
                Some(links.clone()),
                Some(new.reason.as_str()),
            ),
        )
        .map_err(err)?;
        tx.commit().map_err(err)?;
        Ok((self.get(id)?, false))
    }

    /// One incident.
    pub fn get(&self, id: i64) -> Result<Incident, IncidentError> {
        self.conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM incidents WHERE id = ?1"),
                [id],
                from_row,
            )
            .optional()
            .map_err(|e| self.err(e))?
            .ok_or(IncidentError::NotFound(id))
    }

    /// An incident's history, oldest first.
    pub fn history(&self, id: i64) -> Result<Vec<HistoryEntry>, IncidentError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT seq, time_ns, actor, kind, field, old, new, comment
                 FROM incident_history WHERE incident_id = ?1 ORDER BY seq",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([id], |r| {
                Ok(HistoryEntry {
                    seq: r.get(0)?,
                    time_ns: r.get(1)?,
                    actor: r.get(2)?,
                    kind: r.get(3)?,
                    field: r.get(4)?,
                    old: r.get(5)?,
                    new: r.get(6)?,
                    comment: r.get(7)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Applies `change` by `actor`: each changed field and the comment are history lines,
    /// all in one transaction. Errors: unknown incident, a status move the life cycle does
    /// not allow.
    pub fn update(
        &mut self,
        id: i64,
        change: &Change,
        actor: &str,
        now_ns: i64,
    ) -> Result<Incident, IncidentError> {
        let before = self.get(id)?;
        if let Some(to) = change.status
            && to != before.status
            && !before.status.can_become(to)
        {
            return Err(IncidentError::BadTransition {
                from: before.status.as_str(),
                to: to.as_str(),
            });
        }
        let path = self.path.clone();
        let err = |source| IncidentError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(err)?;
        let mut changed = false;
        if let Some(to) = change.status.filter(|s| *s != before.status) {
            tx.execute(
                "UPDATE incidents SET status = ?1 WHERE id = ?2",
                params![to.as_str(), id],
            )
            .map_err(err)?;
            history_line(
                &tx,
                id,
                now_ns,
                actor,
                (
                    "changed",
                    Some("status"),
                    Some(before.status.as_str().into()),
                    Some(to.as_str().into()),
                    None,
                ),
            )
            .map_err(err)?;
            changed = true;
        }
        if let Some(a) = change.assignee.clone().filter(|a| *a != before.assignee) {
            tx.execute(
                "UPDATE incidents SET assignee = ?1 WHERE id = ?2",
                params![a, id],
            )
            .map_err(err)?;
            history_line(
                &tx,
                id,
                now_ns,
                actor,
                (
                    "changed",
                    Some("assignee"),
                    before.assignee.clone(),
                    a,
                    None,
                ),
            )
            .map_err(err)?;
            changed = true;
        }
        if let Some(t) = change
            .estimated_restoration_ns
            .filter(|t| *t != before.estimated_restoration_ns)
        {
            tx.execute(
                "UPDATE incidents SET estimated_restoration_ns = ?1 WHERE id = ?2",
                params![t, id],
            )
            .map_err(err)?;
            history_line(
                &tx,
                id,
                now_ns,
                actor,
                (
                    "changed",
                    Some("estimated_restoration"),
                    before.estimated_restoration_ns.map(rfc3339),
                    t.map(rfc3339),
                    None,
                ),
            )
            .map_err(err)?;
            changed = true;
        }
        if let Some(c) = &change.comment {
            history_line(
                &tx,
                id,
                now_ns,
                actor,
                ("comment", None, None, None, Some(c)),
            )
            .map_err(err)?;
            changed = true;
        }
        if changed {
            tx.execute(
                "UPDATE incidents SET updated_ns = ?1 WHERE id = ?2",
                params![now_ns, id],
            )
            .map_err(err)?;
        }
        tx.commit().map_err(err)?;
        self.get(id)
    }

    /// Incidents matching `q`, newest first.
    pub fn list(&self, q: &IncidentQuery) -> Result<Vec<Incident>, IncidentError> {
        let mut f = Filter::new(&format!("SELECT {COLUMNS} FROM incidents"));
        f.and("status =", q.status.map(|s| s.as_str().to_string()));
        f.and("zone =", q.zone.clone());
        f.and("site =", q.site.clone());
        f.and("priority =", q.priority.map(|p| p.as_str().to_string()));
        f.and("opened_ns >=", q.from_ns);
        f.and("opened_ns <", q.to_ns);
        f.and("id <", q.before_id);
        let (sql, args) = f.finish("id DESC", q.limit);
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(args), from_row)
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }
}
