//! The drain's night-flow stage: takes the samples of the zones' inflow points, writes each
//! closed bucket's `zone_flow,zone=Z inflow_m3_per_h=…` line (at the bucket's start) and
//! sends finished nights to the recorder thread ([`super::record`]).

use super::flow::{NightMnf, Output, ZoneFlow};
use super::window::Windows;
use crate::buffer::drain::Sink;
use crate::sample::{Quality, Record, now_ns};
use crate::sink::influx::batch::Handoff;
use crate::sink::influx::line::{Field, encode_line};
use std::collections::HashMap;
use std::sync::mpsc;

/// The measurement (DESIGN.md "InfluxDB schema").
pub const MEASUREMENT: &str = "zone_flow";

/// The drain sink; see the module docs.
pub struct NightFlowSink {
    zones: Vec<(String, ZoneFlow)>,
    /// Point id → (zone index, inflow point index) for every zone the point feeds.
    by_point: HashMap<u32, Vec<(usize, usize)>>,
    windows: Windows,
    influx: Handoff,
    nights: mpsc::Sender<NightMnf>,
    out: Vec<Output>,
}

impl NightFlowSink {
    /// `zones`: (zone id, its inflow points as (point id, sign × factor to m³/h)).
    pub fn new(
        zones: Vec<(String, Vec<(u32, f64)>)>,
        windows: Windows,
        bucket_ns: i64,
        settle_ns: i64,
        influx: Handoff,
        nights: mpsc::Sender<NightMnf>,
    ) -> NightFlowSink {
        let mut by_point: HashMap<u32, Vec<(usize, usize)>> = HashMap::new();
        let mut flows = Vec::new();
        for (zi, (zone, points)) in zones.into_iter().enumerate() {
            for (pi, (id, _)) in points.iter().enumerate() {
                by_point.entry(*id).or_default().push((zi, pi));
            }
            let signs = points.iter().map(|(_, s)| *s).collect();
            let flow = ZoneFlow::new(&zone, signs, bucket_ns, settle_ns);
            flows.push((zone, flow));
        }
        NightFlowSink {
            zones: flows,
            by_point,
            windows,
            influx,
            nights,
            out: Vec::new(),
        }
    }
}

impl Sink for NightFlowSink {
    fn record(&mut self, record: &Record) {
        let Record::Sample(s) = record else {
            return;
        };
        let Some(targets) = self.by_point.get(&s.point.0) else {
            return;
        };
        let value = match s.quality {
            Quality::Good => s.value.as_ref().and_then(|v| v.as_f64()),
            _ => None,
        };
        for &(zi, pi) in targets {
            if let Some((_, z)) = self.zones.get_mut(zi) {
                z.sample(pi, s.time_ns, value);
            }
        }
    }

    fn tick(&mut self) {
        let now = now_ns();
        let mut lines = Vec::new();
        for (zone, z) in &mut self.zones {
            self.out.clear();
            z.advance(now, &self.windows, &mut self.out);
            for o in self.out.drain(..) {
                match o {
                    Output::Bucket(b) => {
                        encode_line(
                            &mut lines,
                            MEASUREMENT,
                            &[("zone", zone.as_str())],
                            &[("inflow_m3_per_h", Field::F64(b.inflow_m3_per_h))],
                            b.start_ns,
                        );
                    }
                    Output::Night(n) => {
                        if self.nights.send(n).is_err() {
                            tracing::warn!(%zone, "night flow recorder gone: a night is lost");
                        }
                    }
                }
            }
        }
        if !lines.is_empty() {
            self.influx.hand(lines.into());
        }
    }
}
