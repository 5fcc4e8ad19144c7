//! Consumption alerts in the data directory's SQLite file (the alarm journal's,
//! [`crate::alarm::store::FILE_NAME`]), table `consumption_alerts`: one row per `alert_id`,
//! with the time it was received and its classification (None until the correlator has
//! seen it).
//!
//! Each change of an alert's classification is published to the CRM feed
//! ([`crate::notify::crm`], event `alert_classified`) in the transaction that stores it.

use super::alerts::{ConsumptionAlert, parse_period, utility_name};
use crate::notify::crm::{self, CrmEvent, CrmEventKind};
use crate::sql_filter::Filter;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
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

/// An alert's class as a correlation pass found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Classified<'a> {
    pub alert_id: &'a str,
    /// `explained_by_network_event`, `customer_side` or `unsupervised_cluster`.
    pub class: &'a str,
    /// The incident that links the alert (the oldest, when several do), if any.
    pub incident_id: Option<i64>,
}

/// How much of the network a class involves: `customer_side` 0, `unsupervised_cluster` 1,
/// `explained_by_network_event` 2. A stored class only moves up. More evidence (an alarm, a
/// neighbour's alert) can only arrive; a lower class on a later pass means evidence left the
/// correlator's look-back (90 days of journal and alerts), and a customer told that the
/// network was at fault must not be told to check the installation months later.
pub fn rank(class: &str) -> u8 {
    match class {
        "explained_by_network_event" => 2,
        "unsupervised_cluster" => 1,
        _ => 0,
    }
}

/// What the CRM should tell the customer, per class.
pub fn advice(class: &str) -> &'static str {
    match class {
        "explained_by_network_event" => {
            "a network event in the customer's zone explains the consumption; do not advise a leak search at home"
        }
        "customer_side" => {
            "no network event: advise the customer to check the internal installation"
        }
        "unsupervised_cluster" => {
            "several customers of the zone are affected; engineers investigate a suspected network anomaly"
        }
        _ => "",
    }
}

/// The `data` of an `alert_classified` event: `alert_id`, `customer_ref`, `meter_id`,
/// `utility`, `zone` (null when the stored alert cannot be read back), `classification`,
/// `previous_classification` (null the first time), `incident_id` (or null) and `advice`.
pub fn classified_event(
    c: &Classified<'_>,
    alert: Option<&ConsumptionAlert>,
    previous: Option<&str>,
) -> serde_json::Value {
    serde_json::json!({
        "alert_id": c.alert_id,
        "customer_ref": alert.map(|a| a.customer_ref.as_str()),
        "meter_id": alert.map(|a| a.meter_id.as_str()),
        "utility": alert.map(|a| utility_name(a.utility)),
        "zone": alert.map(|a| a.zone.as_str()),
        "classification": c.class,
        "previous_classification": previous,
        "incident_id": c.incident_id,
        "advice": advice(c.class),
    })
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
        crm::create_tables(&conn).map_err(err)?;
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
        // Immediate: these transactions read before they write; a deferred one would fail
        // at once when another connection writes meanwhile.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
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

    /// Sets the classification of each alert that changed (upwards only, see [`rank`]) and,
    /// in the same transaction,
    /// publishes an `alert_classified` event for it (see [`classified_event`]); `now_ns`
    /// is the events' time. Returns how many changed.
    pub fn set_classifications(
        &mut self,
        classes: &[Classified<'_>],
        now_ns: i64,
    ) -> Result<usize, AlertStoreError> {
        let path = self.path.clone();
        let err = |source| AlertStoreError {
            path: path.clone(),
            source,
        };
        // Immediate: these transactions read before they write; a deferred one would fail
        // at once when another connection writes meanwhile.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let mut changed = 0;
        for c in classes {
            let row: Option<(String, Option<String>)> = tx
                .query_row(
                    "SELECT body, classification FROM consumption_alerts WHERE alert_id = ?1",
                    [c.alert_id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(err)?;
            let Some((body, previous)) = row else {
                continue;
            };
            if previous.as_deref() == Some(c.class)
                || previous.as_deref().is_some_and(|p| rank(p) > rank(c.class))
            {
                continue;
            }
            tx.execute(
                "UPDATE consumption_alerts SET classification = ?2 WHERE alert_id = ?1",
                params![c.alert_id, c.class],
            )
            .map_err(err)?;
            changed += 1;
            let alert: Option<ConsumptionAlert> = serde_json::from_str(&body).ok();
            let event = CrmEvent {
                kind: CrmEventKind::AlertClassified,
                key: c.alert_id,
                time_ns: now_ns,
                data: classified_event(c, alert.as_ref(), previous.as_deref()),
            };
            crm::publish(&tx, &event).map_err(err)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Utility;

    #[test]
    fn a_class_only_moves_up_and_each_move_is_one_crm_event() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = AlertStore::open(dir.path()).unwrap();
        crate::notify::crm::create_tables(&store.conn).unwrap();
        let alert = ConsumptionAlert {
            alert_id: "A-1".into(),
            customer_ref: "C-1".into(),
            meter_id: "M-1".into(),
            utility: Utility::Water,
            zone: "Z".into(),
            period_start: "2026-10-01".into(),
            period_end: "2026-11-01".into(),
            consumption: 50.0,
            reference_consumption: 10.0,
            unit: "m3".into(),
        };
        store.insert(&[alert], 1).unwrap();
        let set = |store: &mut AlertStore, class: &str| {
            let c = Classified {
                alert_id: "A-1",
                class,
                incident_id: None,
            };
            store.set_classifications(&[c], 2).unwrap()
        };
        assert_eq!(set(&mut store, "customer_side"), 1);
        assert_eq!(set(&mut store, "explained_by_network_event"), 1);
        // The burst's alarm left the look-back: the alert stays explained.
        assert_eq!(set(&mut store, "customer_side"), 0);
        assert_eq!(set(&mut store, "unsupervised_cluster"), 0);
        let list = store
            .list(&AlertQuery {
                limit: 10,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(
            list[0].classification.as_deref(),
            Some("explained_by_network_event")
        );
        let events: i64 = store
            .conn
            .query_row("SELECT COUNT(*) FROM crm_outbox", [], |r| r.get(0))
            .unwrap();
        assert_eq!(events, 2);
    }
}
