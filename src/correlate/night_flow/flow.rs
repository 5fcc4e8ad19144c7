//! One zone's inflow, bucket by bucket, and its nights' minimum (pure: samples and the
//! clock in, closed buckets and finished nights out).
//!
//! - A **bucket** is `[k·bucket, (k+1)·bucket)` ns since the epoch. Its inflow is, for each
//!   inflow point, the mean of its good samples in the bucket, summed with the point's sign
//!   (`in` +, `out` −) times its unit's factor to m³/h, m³/h. A bucket in which some point had no good sample has no inflow.
//! - A bucket is **closed** when every point has a sample (any quality) at or after its end
//!   (each point's samples arrive in time order), or at the latest `settle` after its end by
//!   the clock. Samples for a closed bucket are dropped (counted in [`ZoneFlow::late`]).
//! - A bucket **belongs to a night** when it lies wholly inside the night's window. The
//!   night's **MNF** is the minimum inflow of its buckets; its **coverage** is the time its
//!   buckets with an inflow cover over the window's length (0..=1). A night is finished
//!   once the horizon passes its end; nights in which vigie closed no bucket with an inflow
//!   are not reported.

use super::window::{Night, Windows};
use std::collections::BTreeMap;

/// A closed bucket's inflow.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BucketFlow {
    /// Bucket start, ns since the epoch.
    pub start_ns: i64,
    /// Σ sign × mean, m³/h.
    pub inflow_m3_per_h: f64,
}

/// A finished night.
#[derive(Debug, Clone, PartialEq)]
pub struct NightMnf {
    pub zone: String,
    pub night: Night,
    /// Minimum bucket inflow in the window, m³/h.
    pub mnf_m3_per_h: f64,
    /// Share of the window covered by buckets with an inflow (0..=1).
    pub coverage: f64,
}

/// What [`ZoneFlow::advance`] produced.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    Bucket(BucketFlow),
    Night(NightMnf),
}

/// The night being collected.
struct NightAcc {
    night: Night,
    min: f64,
    buckets: i64,
}

/// One zone's buckets in progress.
pub struct ZoneFlow {
    zone: String,
    /// Per inflow point: +1.0 (`in`) or −1.0 (`out`), times the factor from the point's
    /// unit to m³/h ([`crate::config::zones::to_m3_per_h`]; 1.0 for m³/h).
    signs: Vec<f64>,
    bucket_ns: i64,
    settle_ns: i64,
    /// Open buckets by start: per point (sum, count) of good values.
    open: BTreeMap<i64, Vec<(f64, u32)>>,
    /// Per point, the latest sample time seen.
    seen: Vec<i64>,
    /// Buckets starting before this are closed.
    closed_to: i64,
    night: Option<NightAcc>,
    /// Samples that came after their bucket was closed.
    pub late: u64,
}

impl ZoneFlow {
    /// A zone whose inflow points have these `signs`.
    pub fn new(zone: &str, signs: Vec<f64>, bucket_ns: i64, settle_ns: i64) -> ZoneFlow {
        let n = signs.len();
        ZoneFlow {
            zone: zone.to_string(),
            signs,
            bucket_ns: bucket_ns.max(1),
            settle_ns,
            open: BTreeMap::new(),
            seen: vec![i64::MIN; n],
            closed_to: i64::MIN,
            night: None,
            late: 0,
        }
    }

    fn bucket_of(&self, t_ns: i64) -> i64 {
        t_ns - t_ns.rem_euclid(self.bucket_ns)
    }

    /// A sample of inflow point `point` at `t_ns`: `value` in m³/h when good, None otherwise.
    pub fn sample(&mut self, point: usize, t_ns: i64, value: Option<f64>) {
        let Some(seen) = self.seen.get_mut(point) else {
            return;
        };
        *seen = (*seen).max(t_ns);
        let b = self.bucket_of(t_ns);
        if b < self.closed_to {
            self.late += 1;
            return;
        }
        if let Some(v) = value.filter(|v| v.is_finite()) {
            let n = self.signs.len();
            let slot = &mut self.open.entry(b).or_insert_with(|| vec![(0.0, 0); n])[point];
            slot.0 += v;
            slot.1 += 1;
        }
    }

    /// Closes what the samples seen and `now_ns` allow; appends closed buckets (with an
    /// inflow) and finished nights to `out`, in time order.
    pub fn advance(&mut self, now_ns: i64, windows: &Windows, out: &mut Vec<Output>) {
        let by_samples = self.seen.iter().copied().min().unwrap_or(i64::MIN);
        let horizon = by_samples.max(now_ns.saturating_sub(self.settle_ns));
        // Buckets whose end is at or before the horizon.
        let limit = self.bucket_of(horizon);
        if limit > self.closed_to {
            self.closed_to = limit;
        }
        while let Some(entry) = self.open.first_entry() {
            if *entry.key() >= self.closed_to {
                break;
            }
            let (start, sums) = entry.remove_entry();
            let Some(flow) = self.inflow(&sums) else {
                continue;
            };
            out.push(Output::Bucket(BucketFlow {
                start_ns: start,
                inflow_m3_per_h: flow,
            }));
            self.count(start, flow, windows, out);
        }
        if let Some(acc) = &self.night
            && acc.night.end_ns <= horizon
        {
            self.finish(out);
        }
    }

    fn inflow(&self, sums: &[(f64, u32)]) -> Option<f64> {
        let mut total = 0.0;
        for ((sum, n), sign) in sums.iter().zip(&self.signs) {
            if *n == 0 {
                return None;
            }
            total += sign * sum / f64::from(*n);
        }
        Some(total)
    }

    /// Adds a closed bucket to its night, if it lies wholly in one.
    fn count(&mut self, start: i64, flow: f64, windows: &Windows, out: &mut Vec<Output>) {
        let Some(night) = windows.containing(start) else {
            return;
        };
        if start.saturating_add(self.bucket_ns) > night.end_ns {
            return;
        }
        if self.night.as_ref().is_some_and(|a| a.night != night) {
            self.finish(out);
        }
        let acc = self.night.get_or_insert(NightAcc {
            night,
            min: f64::INFINITY,
            buckets: 0,
        });
        acc.min = acc.min.min(flow);
        acc.buckets += 1;
    }

    fn finish(&mut self, out: &mut Vec<Output>) {
        let Some(acc) = self.night.take() else {
            return;
        };
        let covered = acc.buckets.saturating_mul(self.bucket_ns) as f64;
        out.push(Output::Night(NightMnf {
            zone: self.zone.clone(),
            night: acc.night,
            mnf_m3_per_h: acc.min,
            coverage: (covered / acc.night.len_ns() as f64).min(1.0),
        }));
    }
}
