//! Nights in the data directory's SQLite file (the alarm journal's,
//! [`crate::alarm::store::FILE_NAME`]), table `night_flow`: one row per (zone, night), so
//! that baselines survive restarts and the correlator reads the rises.
//!
//! `night_flow(zone TEXT, night TEXT (local date YYYY-MM-DD), start_ns, end_ns (the
//! window, ns UTC), mnf_m3_per_h REAL, coverage REAL (0..=1), baseline_m3_per_h REAL (NULL:
//! too few previous valid nights), rising INTEGER (0/1))`, primary key (zone, night). A night
//! seen twice (vigie restarted inside its window) keeps the row of higher coverage.

use crate::correlate::classify::NightFlowRise;
use rusqlite::{Connection, params};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// How long a statement waits for another connection's write lock (as `busy_timeout=5000`
/// in [`NightFlowStore::open`]).
const BUSY: Duration = Duration::from_secs(5);

/// Store errors.
#[derive(Debug, thiserror::Error)]
#[error("night flow table in {path}: {source}")]
pub struct NightFlowStoreError {
    path: PathBuf,
    source: rusqlite::Error,
}

/// One night's row.
#[derive(Debug, Clone, PartialEq)]
pub struct NightRow {
    pub zone: String,
    /// Local date of the window, `YYYY-MM-DD`.
    pub night: String,
    /// The window, ns since the epoch (UTC).
    pub start_ns: i64,
    pub end_ns: i64,
    /// m³/h.
    pub mnf_m3_per_h: f64,
    /// 0..=1.
    pub coverage: f64,
    /// m³/h; None with too few previous valid nights.
    pub baseline_m3_per_h: Option<f64>,
    pub rising: bool,
}

/// The open table.
pub struct NightFlowStore {
    conn: Connection,
    path: PathBuf,
}

impl NightFlowStore {
    /// Opens (creating) the table in `<data_dir>/alarms.sqlite`.
    pub fn open(data_dir: &Path) -> Result<NightFlowStore, NightFlowStoreError> {
        let path = data_dir.join(crate::alarm::store::FILE_NAME);
        let conn = Connection::open(&path).and_then(|c| {
            c.execute_batch(
                "PRAGMA busy_timeout=5000;
                 PRAGMA synchronous=FULL;
                 CREATE TABLE IF NOT EXISTS night_flow(
                    zone TEXT NOT NULL,
                    night TEXT NOT NULL,
                    start_ns INTEGER NOT NULL,
                    end_ns INTEGER NOT NULL,
                    mnf_m3_per_h REAL NOT NULL,
                    coverage REAL NOT NULL,
                    baseline_m3_per_h REAL,
                    rising INTEGER NOT NULL,
                    PRIMARY KEY(zone, night));",
            )?;
            Ok(c)
        });
        match conn {
            Ok(conn) => Ok(NightFlowStore { conn, path }),
            Err(source) => Err(NightFlowStoreError { path, source }),
        }
    }

    /// Opens `<data_dir>/alarms.sqlite` to read, without creating the table.
    fn open_reader(data_dir: &Path) -> Result<NightFlowStore, NightFlowStoreError> {
        let path = data_dir.join(crate::alarm::store::FILE_NAME);
        match Connection::open(&path).and_then(|c| c.busy_timeout(BUSY).map(|()| c)) {
            Ok(conn) => Ok(NightFlowStore { conn, path }),
            Err(source) => Err(NightFlowStoreError { path, source }),
        }
    }

    fn err(&self, source: rusqlite::Error) -> NightFlowStoreError {
        NightFlowStoreError {
            path: self.path.clone(),
            source,
        }
    }

    /// The MNF of `zone`'s nights that started before `before_ns` with coverage at least
    /// `min_coverage`, newest first, at most `limit`.
    pub fn previous_valid(
        &self,
        zone: &str,
        before_ns: i64,
        min_coverage: f64,
        limit: usize,
    ) -> Result<Vec<f64>, NightFlowStoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let run = || -> rusqlite::Result<Vec<f64>> {
            let mut st = self.conn.prepare_cached(
                "SELECT mnf_m3_per_h FROM night_flow WHERE zone = ?1 AND start_ns < ?2
                 AND coverage >= ?3 ORDER BY start_ns DESC LIMIT ?4",
            )?;
            st.query_map(params![zone, before_ns, min_coverage, limit], |r| r.get(0))?
                .collect()
        };
        run().map_err(|e| self.err(e))
    }

    /// Stores a night; a row already there is replaced only by one of higher coverage.
    /// Returns whether `n` was stored (false: the row there has coverage as high or higher).
    pub fn put(&self, n: &NightRow) -> Result<bool, NightFlowStoreError> {
        self.conn
            .execute(
                "INSERT INTO night_flow(zone, night, start_ns, end_ns, mnf_m3_per_h, coverage,
                    baseline_m3_per_h, rising) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT(zone, night) DO UPDATE SET start_ns = excluded.start_ns,
                    end_ns = excluded.end_ns, mnf_m3_per_h = excluded.mnf_m3_per_h,
                    coverage = excluded.coverage, baseline_m3_per_h = excluded.baseline_m3_per_h,
                    rising = excluded.rising
                 WHERE excluded.coverage > night_flow.coverage",
                params![
                    n.zone,
                    n.night,
                    n.start_ns,
                    n.end_ns,
                    n.mnf_m3_per_h,
                    n.coverage,
                    n.baseline_m3_per_h,
                    n.rising
                ],
            )
            .map(|changed| changed > 0)
            .map_err(|e| self.err(e))
    }

    /// Every night of `zone` (or all zones), oldest first.
    pub fn nights(&self, zone: Option<&str>) -> Result<Vec<NightRow>, NightFlowStoreError> {
        let run = || -> rusqlite::Result<Vec<NightRow>> {
            let mut st = self.conn.prepare_cached(
                "SELECT zone, night, start_ns, end_ns, mnf_m3_per_h, coverage,
                    baseline_m3_per_h, rising FROM night_flow
                 WHERE ?1 IS NULL OR zone = ?1 ORDER BY start_ns, zone",
            )?;
            st.query_map(params![zone], |r| {
                Ok(NightRow {
                    zone: r.get(0)?,
                    night: r.get(1)?,
                    start_ns: r.get(2)?,
                    end_ns: r.get(3)?,
                    mnf_m3_per_h: r.get(4)?,
                    coverage: r.get(5)?,
                    baseline_m3_per_h: r.get(6)?,
                    rising: r.get(7)?,
                })
            })?
            .collect()
        };
        run().map_err(|e| self.err(e))
    }

    /// The rising nights that ended at or after `from_ns`, oldest first (for the
    /// correlator); none while the table does not exist (no zone has inflow points).
    pub fn rises(&self, from_ns: i64) -> Result<Vec<NightFlowRise>, NightFlowStoreError> {
        let run = || -> rusqlite::Result<Vec<NightFlowRise>> {
            let exists: bool = self.conn.prepare_cached(
                "SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'night_flow')",
            )?
            .query_row([], |r| r.get(0))?;
            if !exists {
                return Ok(Vec::new());
            }
            let mut st = self.conn.prepare_cached(
                "SELECT zone, start_ns, end_ns, mnf_m3_per_h, baseline_m3_per_h FROM night_flow
                 WHERE rising = 1 AND baseline_m3_per_h IS NOT NULL AND end_ns >= ?1
                 ORDER BY start_ns, zone",
            )?;
            st.query_map(params![from_ns], |r| {
                Ok(NightFlowRise {
                    zone: r.get(0)?,
                    night_start_ns: r.get(1)?,
                    night_end_ns: r.get(2)?,
                    mnf_m3_per_h: r.get(3)?,
                    baseline_m3_per_h: r.get(4)?,
                })
            })?
            .collect()
        };
        run().map_err(|e| self.err(e))
    }
}

/// The correlator's connection for [`rises_since`]: opened at the first read, kept for later
/// passes (for the last data directory asked; the daemon has one).
struct Reader {
    data_dir: PathBuf,
    store: NightFlowStore,
}

static READER: Mutex<Option<Reader>> = Mutex::new(None);

/// The rising nights since `from_ns` in `<data_dir>/alarms.sqlite` (the correlator's
/// pass). Cheap: one connection opened at the first call and kept, no DDL (no table yet:
/// no rises); a failed read drops the connection, so the next call opens it again.
pub fn rises_since(
    data_dir: &Path,
    from_ns: i64,
) -> Result<Vec<NightFlowRise>, NightFlowStoreError> {
    let mut reader = READER.lock().unwrap_or_else(PoisonError::into_inner);
    let store = match reader.take() {
        Some(r) if r.data_dir == data_dir => r.store,
        _ => NightFlowStore::open_reader(data_dir)?,
    };
    let rises = store.rises(from_ns)?;
    *reader = Some(Reader {
        data_dir: data_dir.to_path_buf(),
        store,
    });
    Ok(rises)
}
