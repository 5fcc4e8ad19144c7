//! The recorder thread: judges each finished night against the zone's previous valid
//! nights ([`super::baseline`]), stores it ([`super::store`]), writes
//! `zone_flow,zone=Z min_night_flow_m3_per_h=…` at the window's start for a night that
//! counts (coverage ≥ `min_coverage`) and that the store kept, and logs rises.
//!
//! A night the store cannot take (SQLite busy beyond its 5 s timeout, a disk full for a
//! moment) is tried again [`STORE_TRIES`] times in all, waiting 1 s doubling between tries,
//! each failure logged; then it is given up with an error. A night seen twice (vigie
//! restarted inside its window) is written to InfluxDB only when its row replaced the
//! stored one (higher coverage): a second, partial view must not overwrite a better value
//! there (same series and timestamp).

use super::baseline::judge;
use super::config::NightFlowConfig;
use super::flow::NightMnf;
use super::sink::MEASUREMENT;
use super::store::{NightFlowStore, NightRow};
use crate::sink::influx::batch::Handoff;
use crate::sink::influx::line::{Field, encode_line};
use std::sync::mpsc;
use std::time::Duration;

/// Tries at judging and storing a night before it is given up.
pub const STORE_TRIES: u32 = 5;
/// The wait after the first failed try, doubling after each (1 + 2 + 4 + 8 = 15 s in all,
/// plus each try's busy timeout): long enough for another connection's write to finish,
/// short next to the day until the next night.
const STORE_RETRY_FIRST: Duration = Duration::from_secs(1);

/// A night as judged, and whether the store kept it.
#[derive(Debug, Clone, PartialEq)]
pub struct Judged {
    pub row: NightRow,
    /// The row was stored: new, or replacing one of lower coverage. False when the store
    /// holds a row of that night with coverage as high or higher.
    pub kept: bool,
}

/// Judges and stores one night; returns its row and whether the store kept it. Errors:
/// the table cannot be read or written.
pub fn judge_and_store(
    store: &NightFlowStore,
    n: &NightMnf,
    cfg: &NightFlowConfig,
) -> Result<Judged, super::store::NightFlowStoreError> {
    let previous = store.previous_valid(
        &n.zone,
        n.night.start_ns,
        cfg.min_coverage,
        cfg.baseline_nights,
    )?;
    let v = judge(n.mnf_m3_per_h, n.coverage, &previous, cfg);
    let row = NightRow {
        zone: n.zone.clone(),
        night: n.night.date.to_string(),
        start_ns: n.night.start_ns,
        end_ns: n.night.end_ns,
        mnf_m3_per_h: n.mnf_m3_per_h,
        coverage: n.coverage,
        baseline_m3_per_h: v.baseline,
        rising: v.rising,
    };
    let kept = store.put(&row)?;
    Ok(Judged { row, kept })
}

/// [`judge_and_store`], tried up to [`STORE_TRIES`] times (each failure logged); None when
/// every try failed (logged as an error).
fn judge_and_store_retrying(
    store: &NightFlowStore,
    n: &NightMnf,
    cfg: &NightFlowConfig,
) -> Option<Judged> {
    let mut wait = STORE_RETRY_FIRST;
    for attempt in 1..=STORE_TRIES {
        match judge_and_store(store, n, cfg) {
            Ok(j) => return Some(j),
            Err(e) if attempt == STORE_TRIES => {
                tracing::error!(error = %e, zone = %n.zone, night = %n.night.date, mnf_m3_per_h = n.mnf_m3_per_h, coverage = n.coverage, attempts = attempt, "cannot store a night's minimum flow: night given up");
            }
            Err(e) => {
                tracing::warn!(error = %e, zone = %n.zone, night = %n.night.date, attempt, "cannot store a night's minimum flow; retry in {}", humantime::format_duration(wait));
                std::thread::sleep(wait);
                wait = wait.saturating_mul(2);
            }
        }
    }
    None
}

/// Runs until every sender is gone (the drain closed its sink).
pub fn run(
    store: NightFlowStore,
    nights: mpsc::Receiver<NightMnf>,
    cfg: NightFlowConfig,
    influx: Handoff,
) {
    for n in nights {
        let Some(Judged { row, kept }) = judge_and_store_retrying(&store, &n, &cfg) else {
            continue;
        };
        if !kept {
            tracing::info!(zone = %row.zone, night = %row.night, mnf_m3_per_h = row.mnf_m3_per_h, coverage = row.coverage, "minimum night flow seen again with no higher coverage (vigie restarted inside the window): the stored night stands");
            continue;
        }
        let baseline = row.baseline_m3_per_h.unwrap_or(f64::NAN);
        if row.rising {
            tracing::warn!(zone = %row.zone, night = %row.night, mnf_m3_per_h = row.mnf_m3_per_h, baseline_m3_per_h = baseline, "minimum night flow rising: leak suspected");
        } else {
            tracing::info!(zone = %row.zone, night = %row.night, mnf_m3_per_h = row.mnf_m3_per_h, coverage = row.coverage, baseline_m3_per_h = baseline, "minimum night flow");
        }
        if row.coverage >= cfg.min_coverage {
            let mut line = Vec::new();
            encode_line(
                &mut line,
                MEASUREMENT,
                &[("zone", row.zone.as_str())],
                &[("min_night_flow_m3_per_h", Field::F64(row.mnf_m3_per_h))],
                row.start_ns,
            );
            influx.hand(line.into());
        }
    }
}
