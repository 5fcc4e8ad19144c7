//! The recorder thread: judges each finished night against the zone's previous valid
//! nights ([`super::baseline`]), stores it ([`super::store`]), writes
//! `zone_flow,zone=Z min_night_flow_m3_per_h=…` at the window's start for a night that
//! counts (coverage ≥ `min_coverage`), and logs rises.

use super::baseline::judge;
use super::config::NightFlowConfig;
use super::flow::NightMnf;
use super::sink::MEASUREMENT;
use super::store::{NightFlowStore, NightRow};
use crate::sink::influx::batch::Handoff;
use crate::sink::influx::line::{Field, encode_line};
use std::sync::mpsc;

/// Judges and stores one night; returns its row. Errors: the table cannot be read or
/// written.
pub fn judge_and_store(
    store: &NightFlowStore,
    n: &NightMnf,
    cfg: &NightFlowConfig,
) -> Result<NightRow, super::store::NightFlowStoreError> {
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
    store.put(&row)?;
    Ok(row)
}

/// Runs until every sender is gone (the drain closed its sink).
pub fn run(
    store: NightFlowStore,
    nights: mpsc::Receiver<NightMnf>,
    cfg: NightFlowConfig,
    influx: Handoff,
) {
    for n in nights {
        let row = match judge_and_store(&store, &n, &cfg) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, zone = %n.zone, night = %n.night.date, mnf = n.mnf_m3_per_h, "cannot store a night's minimum flow");
                continue;
            }
        };
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
