//! `[correlate.night_flow]` in vigie.toml: when a night's window is, how the inflow is
//! averaged, what baseline a night is compared to and what makes it a rise; with the
//! reasoning of each default.

use crate::config::duration;
use jiff::civil::Time;
use jiff::tz::TimeZone;
use serde::{Deserialize, Deserializer};
use std::time::Duration;

/// Default window start, 02:00 local time, and end, 04:00 (issue 4). Demand is lowest when
/// customers sleep: the MNF of urban DMAs usually occurs between 2 and 4 a.m. (IWA Water
/// Loss Task Force practice, as taught in AWWA-style water-loss texts; Bentley's "MNFs and
/// DMAs" note puts it "somewhere between 1 a.m. and 5 a.m.").
pub const DEFAULT_WINDOW_START: Time = Time::constant(2, 0, 0, 0);
/// See [`DEFAULT_WINDOW_START`].
pub const DEFAULT_WINDOW_END: Time = Time::constant(4, 0, 0, 0);

/// Default [`NightFlowConfig::bucket`]: 15 min. MNF is taken over averaged flow so that one
/// dip (a meter's pulse gap, a pump changeover) is not the night's minimum; 15 min is the
/// logging interval UK practice standardised on for night-flow leakage estimates (UKWIR
/// 99/WM/08/21 "Leakage Estimation from Night Flow Analysis": "15 minutes flow sampling
/// intervals"), and it divides the 2-hour window into 8 buckets.
pub const DEFAULT_BUCKET: Duration = Duration::from_secs(15 * 60);

/// The smallest bucket accepted: 1 s (tests and short polls; a real network wants minutes).
pub const MIN_BUCKET: Duration = Duration::from_secs(1);

/// Default [`NightFlowConfig::settle`]: 60 s. A bucket is closed when every inflow point has
/// a sample past its end, or at the latest this long after its end by the clock: longer
/// than a poll's timeouts plus the drain's period, so a slow meter's last sample still
/// counts, short enough that the night's MNF is known a minute after the window.
pub const DEFAULT_SETTLE: Duration = Duration::from_secs(60);

/// Default [`NightFlowConfig::min_coverage`]: 0.75. A night counts (is compared, and joins
/// later baselines) only when buckets with every inflow point good cover at least 3/4 of its
/// window: a minimum over half the window may miss the real minimum and would read high.
pub const DEFAULT_MIN_COVERAGE: f64 = 0.75;

/// Default [`NightFlowConfig::baseline_nights`]: 14. Two weeks hold every weekday twice
/// (Saturday nights differ) and are short enough to follow the seasons; the median of them
/// ignores a few odd nights (a hot night's garden watering, a main flushed at night).
pub const DEFAULT_BASELINE_NIGHTS: usize = 14;

/// Default [`NightFlowConfig::min_baseline_nights`]: 7, half the baseline: with fewer valid
/// nights the median is one or two nights' noise, so no rise is decided.
pub const DEFAULT_MIN_BASELINE_NIGHTS: usize = 7;

/// Default [`NightFlowConfig::rise_ratio`]: 1.2. Night-to-night MNF of a quiet DMA varies by
/// about ±10 % (night use is a few percent of customers flushing a toilet); a night 20 %
/// above the two-week median is outside that noise. Practice, not a standard.
pub const DEFAULT_RISE_RATIO: f64 = 1.2;

/// Default [`NightFlowConfig::min_rise_m3_per_h`]: 1 m³/h (0.28 L/s). In a small zone whose
/// MNF is 1–2 m³/h, +20 % is a few hundred litres an hour: within a meter's low-flow error
/// and a single customer's night use. 1 m³/h is about a burst on a service pipe, the
/// smallest leak worth a crew at night. Practice, not a standard.
pub const DEFAULT_MIN_RISE_M3_PER_H: f64 = 1.0;

/// `[correlate.night_flow]`: minimum night flow (MNF) per water zone.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NightFlowConfig {
    /// Start of each night's window, local time `"HH:MM"` or `"HH:MM:SS"`; default
    /// [`DEFAULT_WINDOW_START`].
    #[serde(default = "default_start", deserialize_with = "de_time")]
    pub window_start: Time,
    /// End of the window, after `window_start` on the same day; default
    /// [`DEFAULT_WINDOW_END`].
    #[serde(default = "default_end", deserialize_with = "de_time")]
    pub window_end: Time,
    /// The IANA time zone of the window (`"Europe/Paris"`); default: the system's (`TZ`,
    /// then `/etc/localtime`; UTC when neither is set). Set it when vigie runs in a
    /// container, which is usually UTC.
    #[serde(default)]
    pub time_zone: Option<String>,
    /// Averaging bucket of the inflow (a duration, at least [`MIN_BUCKET`]); buckets are
    /// aligned on multiples of it since the Unix epoch. Default [`DEFAULT_BUCKET`].
    #[serde(default = "default_bucket", deserialize_with = "duration::de")]
    pub bucket: Duration,
    /// How long after its end a bucket may still receive late samples; default
    /// [`DEFAULT_SETTLE`].
    #[serde(default = "default_settle", deserialize_with = "duration::de")]
    pub settle: Duration,
    /// The share of the window (0 < x ≤ 1) complete buckets must cover for a night to
    /// count; default [`DEFAULT_MIN_COVERAGE`].
    #[serde(default = "default_min_coverage")]
    pub min_coverage: f64,
    /// How many previous valid nights the baseline (their median) is taken over; default
    /// [`DEFAULT_BASELINE_NIGHTS`].
    #[serde(default = "default_baseline_nights")]
    pub baseline_nights: usize,
    /// The fewest valid previous nights a rise is decided on; default
    /// [`DEFAULT_MIN_BASELINE_NIGHTS`].
    #[serde(default = "default_min_baseline_nights")]
    pub min_baseline_nights: usize,
    /// A night rises when its MNF > baseline × this ratio (> 1) ...; default
    /// [`DEFAULT_RISE_RATIO`].
    #[serde(default = "default_rise_ratio")]
    pub rise_ratio: f64,
    /// ... and MNF − baseline ≥ this, m³/h; default [`DEFAULT_MIN_RISE_M3_PER_H`].
    #[serde(default = "default_min_rise")]
    pub min_rise_m3_per_h: f64,
}

fn default_start() -> Time {
    DEFAULT_WINDOW_START
}
fn default_end() -> Time {
    DEFAULT_WINDOW_END
}
fn default_bucket() -> Duration {
    DEFAULT_BUCKET
}
fn default_settle() -> Duration {
    DEFAULT_SETTLE
}
fn default_min_coverage() -> f64 {
    DEFAULT_MIN_COVERAGE
}
fn default_baseline_nights() -> usize {
    DEFAULT_BASELINE_NIGHTS
}
fn default_min_baseline_nights() -> usize {
    DEFAULT_MIN_BASELINE_NIGHTS
}
fn default_rise_ratio() -> f64 {
    DEFAULT_RISE_RATIO
}
fn default_min_rise() -> f64 {
    DEFAULT_MIN_RISE_M3_PER_H
}

impl Default for NightFlowConfig {
    fn default() -> Self {
        NightFlowConfig {
            window_start: DEFAULT_WINDOW_START,
            window_end: DEFAULT_WINDOW_END,
            time_zone: None,
            bucket: DEFAULT_BUCKET,
            settle: DEFAULT_SETTLE,
            min_coverage: DEFAULT_MIN_COVERAGE,
            baseline_nights: DEFAULT_BASELINE_NIGHTS,
            min_baseline_nights: DEFAULT_MIN_BASELINE_NIGHTS,
            rise_ratio: DEFAULT_RISE_RATIO,
            min_rise_m3_per_h: DEFAULT_MIN_RISE_M3_PER_H,
        }
    }
}

/// Reads `"HH:MM"` or `"HH:MM:SS"` (24-hour clock).
pub fn parse_time(s: &str) -> Result<Time, String> {
    let bad =
        || format!("invalid local time {s:?}: write \"HH:MM\" or \"HH:MM:SS\", e.g. \"02:00\"");
    let parts: Vec<&str> = s.trim().split(':').collect();
    if !(2..=3).contains(&parts.len()) {
        return Err(bad());
    }
    let mut n = [0i8; 3];
    for (slot, p) in n.iter_mut().zip(&parts) {
        if p.len() != 2 {
            return Err(bad());
        }
        *slot = p.parse().map_err(|_| bad())?;
    }
    Time::new(n[0], n[1], n[2], 0).map_err(|_| bad())
}

fn de_time<'de, D: Deserializer<'de>>(d: D) -> Result<Time, D::Error> {
    let s = String::deserialize(d)?;
    parse_time(&s).map_err(serde::de::Error::custom)
}

/// A problem in `[correlate.night_flow]` (for `vigie check`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NightFlowConfigError {
    #[error("window_end {end} is not after window_start {start} (a window within one day)")]
    EmptyWindow { start: String, end: String },
    #[error("time_zone {0:?} is not an IANA time zone name (e.g. \"Europe/Paris\")")]
    UnknownTimeZone(String),
    #[error("bucket {0:?} is below the minimum of 1s")]
    BucketTooSmall(Duration),
    #[error("bucket {0:?} is longer than the window: a night would hold no whole bucket")]
    BucketLongerThanWindow(Duration),
    #[error("min_coverage = {0}: a share, above 0 and at most 1")]
    Coverage(String),
    #[error("baseline_nights must be at least 1 and min_baseline_nights between 1 and it")]
    BaselineNights,
    #[error("rise_ratio = {0}: above 1 (a night equal to its baseline is no rise)")]
    RiseRatio(String),
    #[error("min_rise_m3_per_h = {0}: a flow, 0 or more")]
    MinRise(String),
}

impl NightFlowConfigError {
    /// The key at fault under `[correlate.night_flow]`.
    pub fn key(&self) -> &'static str {
        match self {
            NightFlowConfigError::EmptyWindow { .. } => "window_end",
            NightFlowConfigError::UnknownTimeZone(_) => "time_zone",
            NightFlowConfigError::BucketTooSmall(_)
            | NightFlowConfigError::BucketLongerThanWindow(_) => "bucket",
            NightFlowConfigError::Coverage(_) => "min_coverage",
            NightFlowConfigError::BaselineNights => "min_baseline_nights",
            NightFlowConfigError::RiseRatio(_) => "rise_ratio",
            NightFlowConfigError::MinRise(_) => "min_rise_m3_per_h",
        }
    }
}

impl NightFlowConfig {
    /// The time zone of the window: `time_zone`, or the system's.
    pub fn tz(&self) -> Result<TimeZone, NightFlowConfigError> {
        match &self.time_zone {
            Some(name) => {
                TimeZone::get(name).map_err(|_| NightFlowConfigError::UnknownTimeZone(name.clone()))
            }
            None => Ok(TimeZone::system()),
        }
    }

    /// `bucket` in ns.
    pub fn bucket_ns(&self) -> i64 {
        i64::try_from(self.bucket.as_nanos()).unwrap_or(i64::MAX)
    }

    /// `settle` in ns.
    pub fn settle_ns(&self) -> i64 {
        i64::try_from(self.settle.as_nanos()).unwrap_or(i64::MAX)
    }

    /// Every problem in the section (empty when it is fine).
    pub fn problems(&self) -> Vec<NightFlowConfigError> {
        let mut out = Vec::new();
        if self.window_end <= self.window_start {
            out.push(NightFlowConfigError::EmptyWindow {
                start: self.window_start.to_string(),
                end: self.window_end.to_string(),
            });
        }
        if let Err(e) = self.tz() {
            out.push(e);
        }
        if self.bucket < MIN_BUCKET {
            out.push(NightFlowConfigError::BucketTooSmall(self.bucket));
        } else if self.window_end > self.window_start {
            let window = self.window_end.duration_since(self.window_start);
            if jiff::SignedDuration::try_from(self.bucket).is_ok_and(|b| b > window) {
                out.push(NightFlowConfigError::BucketLongerThanWindow(self.bucket));
            }
        }
        if !(self.min_coverage > 0.0 && self.min_coverage <= 1.0) {
            out.push(NightFlowConfigError::Coverage(
                self.min_coverage.to_string(),
            ));
        }
        if self.baseline_nights == 0
            || self.min_baseline_nights == 0
            || self.min_baseline_nights > self.baseline_nights
        {
            out.push(NightFlowConfigError::BaselineNights);
        }
        if !(self.rise_ratio > 1.0 && self.rise_ratio.is_finite()) {
            out.push(NightFlowConfigError::RiseRatio(self.rise_ratio.to_string()));
        }
        if !(self.min_rise_m3_per_h >= 0.0 && self.min_rise_m3_per_h.is_finite()) {
            out.push(NightFlowConfigError::MinRise(
                self.min_rise_m3_per_h.to_string(),
            ));
        }
        out
    }
}
