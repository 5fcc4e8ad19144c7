//! The notifier's tables ([`super::outbox`] describes them): created when missing, and
//! those of an earlier vigie brought up to date (columns `priority` and `activation_seq`
//! added and filled; escalations keyed by route position moved to route keys).

use super::route::Router;
use rusqlite::{Connection, TransactionBehavior, params};

const TABLES: &str = "
    PRAGMA busy_timeout=5000;
    PRAGMA synchronous=FULL;
    CREATE TABLE IF NOT EXISTS notify_cursor(
        id INTEGER PRIMARY KEY CHECK (id = 1),
        seq INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS notify_instance(
        id INTEGER PRIMARY KEY CHECK (id = 1),
        instance TEXT NOT NULL);
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
        priority INTEGER NOT NULL DEFAULT 0,
        activation_seq INTEGER,
        UNIQUE(event_seq, level, kind, target, channel));";

const ESCALATION_TABLE: &str = "
    CREATE TABLE IF NOT EXISTS notify_escalation(
        activation_seq INTEGER NOT NULL,
        route_key TEXT NOT NULL,
        alarm_id TEXT NOT NULL,
        activation_ns INTEGER NOT NULL,
        next_level INTEGER NOT NULL,
        due_ns INTEGER NOT NULL,
        payload TEXT NOT NULL,
        PRIMARY KEY(activation_seq, route_key));";

const INDEXES: &str = "
    CREATE INDEX IF NOT EXISTS notify_outbox_pending ON notify_outbox(status, due_ns);
    CREATE INDEX IF NOT EXISTS notify_outbox_target ON notify_outbox(target, channel, status, sent_ns);
    CREATE INDEX IF NOT EXISTS notify_outbox_alarm ON notify_outbox(alarm_id, event_seq);
    CREATE INDEX IF NOT EXISTS notify_outbox_activation ON notify_outbox(alarm_id, activation_seq);
    CREATE INDEX IF NOT EXISTS notify_outbox_batch ON notify_outbox(batch);
    CREATE INDEX IF NOT EXISTS notify_escalation_alarm ON notify_escalation(alarm_id);
    CREATE INDEX IF NOT EXISTS notify_escalation_due ON notify_escalation(due_ns);";

/// The table a database made by an earlier vigie keeps its escalations in until they are
/// moved to `notify_escalation` ([`super::outbox::Db::plan`]): keyed by route position then.
const LEGACY_ESCALATIONS: &str = "notify_escalation_legacy";

pub(super) fn table_exists(conn: &Connection, name: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT COUNT(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = ?1",
        [name],
        |r| r.get(0),
    )
}

fn has_column(conn: &Connection, table: &str, column: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        &format!("SELECT COUNT(*) > 0 FROM pragma_table_info('{table}') WHERE name = ?1"),
        [column],
        |r| r.get(0),
    )
}

/// This database's instance id (16 hex digits): made once, at the first call, and kept in
/// `notify_instance` (created when missing). Part of every notification's message id and
/// of the CRM's `Idempotency-Key`s ([`super::crm`]), so that two vigie installations never
/// make the same id.
pub(crate) fn instance(conn: &Connection) -> rusqlite::Result<String> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS notify_instance(
            id INTEGER PRIMARY KEY CHECK (id = 1),
            instance TEXT NOT NULL);",
    )?;
    conn.execute(
        "INSERT OR IGNORE INTO notify_instance(id, instance) VALUES (1, ?1)",
        [format!("{:016x}", rand::random::<u64>())],
    )?;
    conn.query_row(
        "SELECT instance FROM notify_instance WHERE id = 1",
        [],
        |r| r.get(0),
    )
}

/// Creates the tables, brings those of an earlier vigie up to date, and reads (or makes)
/// the instance id. Returns it, and whether escalations keyed by route position wait to
/// be moved.
pub(super) fn migrate(conn: &mut Connection) -> rusqlite::Result<(String, bool)> {
    conn.execute_batch(TABLES)?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    for (column, fill) in [
        (
            "priority",
            "UPDATE notify_outbox SET priority = CASE json_extract(payload, '$.priority')
                WHEN 'critical' THEN 3 WHEN 'high' THEN 2 WHEN 'medium' THEN 1 ELSE 0 END",
        ),
        (
            "activation_seq",
            "UPDATE notify_outbox SET activation_seq = event_seq WHERE kind != 'cleared'",
        ),
    ] {
        if !has_column(&tx, "notify_outbox", column)? {
            let ty = if column == "priority" {
                "INTEGER NOT NULL DEFAULT 0"
            } else {
                "INTEGER"
            };
            tx.execute_batch(&format!(
                "ALTER TABLE notify_outbox ADD COLUMN {column} {ty}; {fill};"
            ))?;
        }
    }
    if table_exists(&tx, "notify_escalation")?
        && !has_column(&tx, "notify_escalation", "route_key")?
    {
        tx.execute_batch(&format!(
            "ALTER TABLE notify_escalation RENAME TO {LEGACY_ESCALATIONS};
             DROP INDEX IF EXISTS notify_escalation_alarm;
             DROP INDEX IF EXISTS notify_escalation_due;"
        ))?;
    }
    tx.execute_batch(ESCALATION_TABLE)?;
    tx.execute_batch(INDEXES)?;
    let instance = instance(&tx)?;
    let legacy = table_exists(&tx, LEGACY_ESCALATIONS)?;
    tx.commit()?;
    Ok((instance, legacy))
}

/// Moves escalations keyed by route position (an earlier vigie) to route keys, reading the
/// positions in the configuration as it is now; those of a position that no longer
/// exists are dropped. Logged.
pub(super) fn move_legacy_escalations(
    conn: &mut Connection,
    router: &Router,
) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if !table_exists(&tx, LEGACY_ESCALATIONS)? {
        return Ok(());
    }
    let rows: Vec<(i64, i64)> = {
        let mut stmt = tx.prepare(&format!(
            "SELECT activation_seq, route FROM {LEGACY_ESCALATIONS}"
        ))?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let (mut moved, mut dropped) = (0, 0);
    for (seq, route) in rows {
        let key = usize::try_from(route)
            .ok()
            .and_then(|r| router.key(r).map(str::to_string));
        let Some(key) = key else {
            dropped += 1;
            continue;
        };
        moved += tx.execute(
            &format!(
                "INSERT OR IGNORE INTO notify_escalation(activation_seq, route_key, alarm_id,
                    activation_ns, next_level, due_ns, payload)
                 SELECT activation_seq, ?3, alarm_id, activation_ns, next_level, due_ns, payload
                 FROM {LEGACY_ESCALATIONS} WHERE activation_seq = ?1 AND route = ?2"
            ),
            params![seq, route, key],
        )?;
    }
    tx.execute_batch(&format!("DROP TABLE {LEGACY_ESCALATIONS};"))?;
    tx.commit()?;
    tracing::info!(
        moved,
        dropped,
        "pending escalations of an earlier vigie moved to route keys"
    );
    Ok(())
}
