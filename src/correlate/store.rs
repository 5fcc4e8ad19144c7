//! Consumption alerts in the data directory's SQLite file (the alarm journal's,
//! [`crate::alarm::store::FILE_NAME`]), table `consumption_alerts`: one row per `alert_id`,
//! with the time it was received and its classification (None until the correlator has
//! seen it).

use super::alerts::{ConsumptionAlert, parse_period};
use crate::sql_filter::Filter;
use rusqlite::{Connection, OptionalExtension, params};
use std::path::{Path, PathBuf};

/// Store errors.
#[derive(Debug, thiserror::Error)]
#[error("consumption alerts in {path}: {source}")]
pub struct AlertStoreError {
    path: PathBuf,
    source: rusqlite::Error,
}

/// What became of one alert of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Insert {
    /// New: stored.
    Stored,
    /// Already received with the same content: nothing changed.
    Duplicate,
    /// Already received with other content: refused (an alert id is never reused).
    Conflict,
}

/// A stored alert with what vigie knows of it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StoredAlert {
    #[serde(flatten)]
    pub alert: ConsumptionAlert,
    /// When vigie received it, ns since the epoch.
    pub received_ns: i64,
    /// `explained_by_network_event`, `customer_side`, `unsupervised_cluster`; None until
    /// classified.
    pub classification: Option<String>,
    /// The store's row number: the pagination cursor.
    pub seq: i64,
}

/// A filter on stored alerts (`GET /api/v1/consumption-alerts`).
#[derive(Debug, Clone, Default)]
pub struct AlertQuery {
    pub zone: Option<String>,
    pub utility: Option<String>,
    pub classification: Option<String>,
    /// Alerts whose period ends at or after this time (ns).
    pub from_ns: Option<i64>,
    /// Alerts whose period starts before this time (ns).
    pub to_ns: Option<i64>,
    /// Rows below this `seq` (the previous page's cursor); newest first.
    pub before_seq: Option<i64>,
    pub limit: usize,
}

/// The open table.
pub struct AlertStore {
    conn: Connection,
    path: PathBuf,
}

impl AlertStore {
    /// Opens (creating) the table in `<data_dir>/alarms.sqlite`.
    pub fn open(data_dir: &Path) -> Result<AlertStore, AlertStoreError> {
        let path = data_dir.join(crate::alarm::store::FILE_NAME);
        let err = |source| AlertStoreError {
            path: path.clone(),
            source,
        };
        let conn = Connection::open(&path).map_err(err)?;
        conn.execute_batch(
            "PRAGMA busy_timeout=5000;
             PRAGMA synchronous=FULL;
             CREATE TABLE IF NOT EXISTS consumption_alerts(
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                alert_id TEXT NOT NULL UNIQUE,
                body TEXT NOT NULL,
                zone TEXT NOT NULL,
                utility TEXT NOT NULL,
                period_start_ns INTEGER NOT NULL,
                period_end_ns INTEGER NOT NULL,
                received_ns INTEGER NOT NULL,
                classification TEXT);
             CREATE INDEX IF NOT EXISTS consumption_alerts_zone
                ON consumption_alerts(zone, period_end_ns);",
        )
        .map_err(err)?;
        Ok(AlertStore { conn, path })
    }

    fn err(&self, source: rusqlite::Error) -> AlertStoreError {
        AlertStoreError {
            path: self.path.clone(),
            source,
        }
    }

    /// Stores valid alerts in one transaction; for each, whether it was new, a duplicate
    /// or a conflicting reuse of its id.
    pub fn insert(
        &mut self,
        alerts: &[ConsumptionAlert],
        received_ns: i64,
    ) -> Result<Vec<Insert>, AlertStoreError> {
        let path = self.path.clone();
        let err = |source| AlertStoreError {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(err)?;
        let mut out = Vec::with_capacity(alerts.len());
        for a in alerts {
            let body = serde_json::to_string(a).unwrap_or_default();
            let existing: Option<String> = tx
                .query_row(
                    "SELECT body FROM consumption_alerts WHERE alert_id = ?1",
                    [&a.alert_id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(err)?;
            match existing {
                Some(b) if b == body => out.push(Insert::Duplicate),
                Some(_) => out.push(Insert::Conflict),
                None => {
                    tx.execute(
                        "INSERT INTO consumption_alerts(alert_id, body, zone, utility,
                            period_start_ns, period_end_ns, received_ns)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                        params![
                            a.alert_id,
                            body,
                            a.zone,
                            super::alerts::utility_name(a.utility),
                            parse_period(&a.period_start).unwrap_or(0),
                            parse_period(&a.period_end).unwrap_or(0),
                            received_ns
                        ],
                    )
                    .map_err(err)?;
                    out.push(Insert::Stored);
                }
            }
        }
        tx.commit().map_err(err)?;
        Ok(out)
    }

    /// Sets the classification of each alert (by id) that changed; returns how many did.
    pub fn set_classifications(
        &mut self,
        classes: &[(String, &str)],
    ) -> Result<usize, AlertStoreError> {
        let path = self.path.clone();
        let err = |source| AlertStoreError {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(err)?;
        let mut changed = 0;
        for (id, class) in classes {
            changed += tx
                .execute(
                    "UPDATE consumption_alerts SET classification = ?2
                     WHERE alert_id = ?1 AND classification IS NOT ?2",
                    params![id, class],
                )
                .map_err(err)?;
        }
        tx.commit().map_err(err)?;
        Ok(changed)
    }

    /// Stored alerts matching `q`, newest first.
    pub fn list(&self, q: &AlertQuery) -> Result<Vec<StoredAlert>, AlertStoreError> {
        let mut f =
            Filter::new("SELECT seq, body, received_ns, classification FROM consumption_alerts");
        f.and("zone =", q.zone.clone());
        f.and("utility =", q.utility.clone());
        f.and("classification =", q.classification.clone());
        f.and("period_end_ns >=", q.from_ns);
        f.and("period_start_ns <", q.to_ns);
        f.and("seq <", q.before_seq);
        let (sql, args) = f.finish("seq DESC", q.limit);
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(args), |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, Option<String>>(3)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, body, received_ns, classification) = row.map_err(|e| self.err(e))?;
            // A body vigie wrote itself; one it cannot read back is skipped, not fatal.
            if let Ok(alert) = serde_json::from_str(&body) {
                out.push(StoredAlert {
                    alert,
                    received_ns,
                    classification,
                    seq,
                });
            }
        }
        Ok(out)
    }
}
