//! A night against its zone's recent nights: the baseline (median) and the rise rule.

use super::config::NightFlowConfig;

/// The median of `values` (the mean of the two middle ones for an even count); None when
/// empty. Non-finite values are ignored.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    })
}

/// The verdict on one night.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    /// Median MNF of the previous valid nights, m³/h; None with fewer than
    /// `min_baseline_nights` of them.
    pub baseline: Option<f64>,
    /// `mnf > baseline × rise_ratio` and `mnf − baseline ≥ min_rise_m3_per_h`, for a night
    /// whose coverage reaches `min_coverage`.
    pub rising: bool,
}

/// Judges a night of MNF `mnf` (m³/h) and `coverage` against `previous`: the MNF of the
/// zone's previous valid nights, newest first (only the first `baseline_nights` are used).
pub fn judge(mnf: f64, coverage: f64, previous: &[f64], cfg: &NightFlowConfig) -> Verdict {
    let recent = &previous[..previous.len().min(cfg.baseline_nights)];
    let baseline = if recent.len() >= cfg.min_baseline_nights.max(1) {
        median(recent)
    } else {
        None
    };
    let rising = coverage >= cfg.min_coverage
        && baseline.is_some_and(|b| mnf > b * cfg.rise_ratio && mnf - b >= cfg.min_rise_m3_per_h);
    Verdict { baseline, rising }
}
