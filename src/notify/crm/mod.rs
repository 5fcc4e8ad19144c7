//! The CRM feed's outbox: events for the CRM (alert classifications, outages' start, update
//! and end), recorded in `<data_dir>/alarms.sqlite` in the same transaction as the change
//! that causes them.

use rusqlite::{Connection, params};

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrmEventKind {
    AlertClassified,
    OutageStarted,
    OutageUpdated,
    OutageEnded,
}

impl CrmEventKind {
    /// The name in the outbox and the CRM's payload.
    pub fn as_str(self) -> &'static str {
        match self {
            CrmEventKind::AlertClassified => "alert_classified",
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
    /// The alert id or the outage id.
    pub key: &'a str,
    /// When it happened, ns since the epoch.
    pub time_ns: i64,
    pub data: serde_json::Value,
}

/// Creates the outbox table when missing.
pub fn create_tables(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS crm_outbox(
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            created_ns INTEGER NOT NULL,
            kind TEXT NOT NULL,
            key TEXT NOT NULL,
            data TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending',
            attempts INTEGER NOT NULL DEFAULT 0,
            due_ns INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            sent_ns INTEGER);",
    )
}

/// Records `event`; call it inside the transaction that makes the change. Returns its id.
pub fn publish(conn: &Connection, event: &CrmEvent<'_>) -> rusqlite::Result<i64> {
    conn.execute(
        "INSERT INTO crm_outbox(created_ns, kind, key, data) VALUES (?1, ?2, ?3, ?4)",
        params![
            event.time_ns,
            event.kind.as_str(),
            event.key,
            event.data.to_string()
        ],
    )?;
    Ok(conn.last_insert_rowid())
}
