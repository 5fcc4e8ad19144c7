//! Minimum night flow (MNF) per water zone (issue 4): the zone's inflow from its feeding
//! sites' flow meters (`[[zones]] inflow`), averaged per bucket; each night the minimum
//! bucket of the window (02:00–04:00 local time by default), compared to the median of the
//! zone's previous valid nights. A rising MNF is the classic sign of a new leak (demand is
//! lowest at night, leakage is not) and joins the classification (rule 2b of
//! [`crate::correlate::classify`]).
//!
//! - [`config`] reads `[correlate.night_flow]`;
//! - [`window`] cuts nights' windows in local time (DST);
//! - [`flow`] makes buckets, the night's minimum and coverage (pure);
//! - [`baseline`] holds the median baseline and the rise rule (pure);
//! - [`sink`] is the drain stage (bucket lines to InfluxDB);
//! - [`record`] is the thread that judges, stores and writes each night;
//! - [`store`] keeps the `night_flow` table in `alarms.sqlite`.

pub mod baseline;
pub mod config;
pub mod flow;
pub mod record;
pub mod sink;
pub mod store;
pub mod window;

#[cfg(test)]
mod tests;

use crate::config::Config;
use crate::config::catalog::Catalog;
use crate::config::zones::{FlowDirection, to_m3_per_h};
use crate::sink::influx::batch::Handoff;
use std::sync::mpsc;

/// Why the stage cannot start.
#[derive(Debug, thiserror::Error)]
pub enum NightFlowError {
    #[error("[correlate.night_flow]: {0}")]
    Config(#[from] config::NightFlowConfigError),
    #[error(transparent)]
    Store(#[from] store::NightFlowStoreError),
    #[error("cannot start the night flow thread: {0}")]
    Thread(std::io::Error),
}

/// Starts the stage for the water zones with inflow points: the drain's sink and the
/// recorder thread (it ends once the sink is dropped, after the drain's last records).
/// None when no zone has inflow points.
pub fn start(
    cfg: &Config,
    catalog: &Catalog,
    influx: Handoff,
) -> Result<Option<(sink::NightFlowSink, std::thread::JoinHandle<()>)>, NightFlowError> {
    let nf = &cfg.correlate.night_flow;
    let mut zones = Vec::new();
    for z in cfg.zones.iter().filter(|z| !z.inflow.is_empty()) {
        let mut points = Vec::new();
        for f in &z.inflow {
            // `vigie check` refuses unknown points; a zone missing one has no inflow.
            let Some(id) = catalog.find(&f.site, &f.device, &f.point) else {
                tracing::warn!(zone = %z.id, site = %f.site, device = %f.device, point = %f.point, "inflow point not found: the zone gets no night flow");
                points.clear();
                break;
            };
            let sign = match f.direction {
                FlowDirection::In => 1.0,
                FlowDirection::Out => -1.0,
            };
            // `vigie check` refuses a unit that is not a flow rate; a zone with one gets none.
            let unit = &catalog.point(id).unit;
            let Some(factor) = to_m3_per_h(unit) else {
                tracing::warn!(zone = %z.id, site = %f.site, device = %f.device, point = %f.point, unit = %unit, "inflow point is not a flow rate: the zone gets no night flow");
                points.clear();
                break;
            };
            points.push((id.0, sign * factor));
        }
        if !points.is_empty() {
            zones.push((z.id.clone(), points));
        }
    }
    if zones.is_empty() {
        return Ok(None);
    }
    let windows = window::Windows {
        start: nf.window_start,
        end: nf.window_end,
        tz: nf.tz()?,
    };
    tracing::info!(zones = zones.len(), start = %nf.window_start, end = %nf.window_end, tz = windows.tz.iana_name().unwrap_or("system"), "minimum night flow");
    let store = store::NightFlowStore::open(&cfg.daemon.data_dir)?;
    let (tx, rx) = mpsc::channel();
    let (rcfg, rinflux) = (nf.clone(), influx.clone());
    let thread = std::thread::Builder::new()
        .name("vigie-night-flow".into())
        .spawn(move || record::run(store, rx, rcfg, rinflux))
        .map_err(NightFlowError::Thread)?;
    let sink = sink::NightFlowSink::new(zones, windows, nf.bucket_ns(), nf.settle_ns(), influx, tx);
    Ok(Some((sink, thread)))
}
