//! Alarm conditions: from a point's good samples or a device's poll results to "abnormal or
//! not", with deadband, on-delay and off-delay (OPC UA Part 9 B.1.5; ISA-18.2 §10.4).
//!
//! Two steps, both pure:
//! 1. [`Condition::raw`]: the raw condition of one value, with the deadband's hysteresis: a
//!    high alarm starts above its limit and ends only below `limit - deadband`.
//! 2. [`Tracker::filter`]: the raw condition must hold for `on_delay` before the alarm is
//!    raised, and be gone for `off_delay` before it returns to normal. Times are the samples'
//!    scheduled poll times, so a restart or a slow drain does not shift them.

use crate::config::alarms::{Direction, LimitSide};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// What makes an alarm abnormal.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// Analog limit in engineering units, with its deadband (≥ 0).
    Limit {
        side: LimitSide,
        limit: f64,
        deadband: f64,
    },
    /// Abnormal when the value differs from `normal` (false = 0, true = 1).
    Discrete { normal: f64 },
    /// Abnormal when the value moved by `limit` or more within the last `per_ns` (the window
    /// reaches back to the last sample at or before `per_ns` ago).
    Rate {
        limit: f64,
        per_ns: i64,
        direction: Direction,
    },
    /// Abnormal while the device's polls fail.
    CommFailure,
    /// Abnormal when nothing good was seen for `after_ns`.
    Stale { after_ns: i64 },
    /// vigie's own condition (not a device's): set from the daemon's state at each drain
    /// pass ([`SystemCondition`]).
    System(SystemCondition),
}

/// vigie's own conditions, raised as built-in alarms of the pseudo-site `vigie`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SystemCondition {
    /// The disk spool is full: batches are refused (or the oldest dropped) and samples lost.
    SpoolFull,
}

impl Condition {
    /// The limit to report with the alarm (analog and rate alarms).
    pub fn limit(&self) -> Option<f64> {
        match self {
            Condition::Limit { limit, .. } | Condition::Rate { limit, .. } => Some(*limit),
            _ => None,
        }
    }

    /// The raw condition for a good `value` at `time_ns`, given the previous raw condition
    /// (for the deadband) and the tracker's rate window. Not for `CommFailure` and `Stale`
    /// (they are set from poll results and the clock).
    pub fn raw(&self, value: f64, time_ns: i64, tracker: &mut Tracker) -> bool {
        let was = tracker.raw;
        match *self {
            Condition::Limit {
                side,
                limit,
                deadband,
            } => match (side, was) {
                (LimitSide::High, false) => value > limit,
                (LimitSide::High, true) => value >= limit - deadband,
                (LimitSide::Low, false) => value < limit,
                (LimitSide::Low, true) => value <= limit + deadband,
            },
            Condition::Discrete { normal } => value != normal,
            Condition::Rate {
                limit,
                per_ns,
                direction,
            } => {
                let w = &mut tracker.window;
                // After a system clock step back, samples "from the future" are dropped.
                while w.back().is_some_and(|(t, _)| *t > time_ns) {
                    w.pop_back();
                }
                w.push_back((time_ns, value));
                // Keep one sample at or before `time - per`, so a full window spans `per`.
                while w.get(1).is_some_and(|(t, _)| *t <= time_ns - per_ns) {
                    w.pop_front();
                }
                let (lo, hi) = w
                    .iter()
                    .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), (_, v)| {
                        (lo.min(*v), hi.max(*v))
                    });
                let fell = hi - value >= limit;
                let rose = value - lo >= limit;
                let now = match direction {
                    Direction::Falling => fell,
                    Direction::Rising => rose,
                    Direction::Either => fell || rose,
                };
                // The window is not persisted: after a restart an active alarm holds until
                // the window spans `per` again, rather than clearing on one sample.
                let span = w.front().map_or(0, |(t, _)| time_ns - t);
                now || (was && span < per_ns)
            }
            Condition::CommFailure | Condition::Stale { .. } | Condition::System(_) => was,
        }
    }
}

/// A condition's timers and memory; persisted with the alarm's state (except the rate
/// window, which refills within one `per`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Tracker {
    /// The raw condition at the last evaluation.
    pub raw: bool,
    /// When `raw` last changed, ns; None restarts the delays at the next evaluation
    /// (after bad samples: the delay counts time with data only).
    pub raw_since_ns: Option<i64>,
    /// Rate of change: recent (time ns, value), oldest first, spanning at most `per`.
    #[serde(skip)]
    pub window: VecDeque<(i64, f64)>,
    /// Stale: the time of the last good sample (point) or poll result (device), ns.
    pub last_seen_ns: Option<i64>,
}

impl Tracker {
    /// Applies the raw condition at `time_ns` and returns the filtered condition, given the
    /// current one: on after `raw` held for `on_delay_ns`, off after it was gone for
    /// `off_delay_ns`.
    pub fn filter(
        &mut self,
        raw: bool,
        filtered: bool,
        time_ns: i64,
        on_delay_ns: i64,
        off_delay_ns: i64,
    ) -> bool {
        // A new raw state, a restarted delay (bad samples), or a clock stepped back.
        if raw != self.raw || self.raw_since_ns.is_none_or(|t| t > time_ns) {
            self.raw = raw;
            self.raw_since_ns = Some(time_ns);
        }
        if raw == filtered {
            return filtered;
        }
        let held = time_ns.saturating_sub(self.raw_since_ns.unwrap_or(time_ns));
        let delay = if raw { on_delay_ns } else { off_delay_ns };
        if held >= delay { raw } else { filtered }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn high(limit: f64, deadband: f64) -> Condition {
        Condition::Limit {
            side: LimitSide::High,
            limit,
            deadband,
        }
    }

    #[test]
    fn deadband_holds_a_high_alarm_until_the_value_is_back_by_the_deadband() {
        let c = high(6.0, 0.2);
        let mut t = Tracker::default();
        let mut seq = Vec::new();
        for v in [5.9, 6.0, 6.1, 5.9, 5.81, 5.8, 5.79, 6.0, 6.01] {
            t.raw = c.raw(v, 0, &mut t);
            seq.push(t.raw);
        }
        assert_eq!(
            seq,
            [false, false, true, true, true, true, false, false, true]
        );
    }

    #[test]
    fn low_limit_with_deadband() {
        let c = Condition::Limit {
            side: LimitSide::Low,
            limit: 2.0,
            deadband: 0.1,
        };
        let mut t = Tracker::default();
        let mut seq = Vec::new();
        for v in [2.5, 1.99, 2.05, 2.1, 2.11] {
            t.raw = c.raw(v, 0, &mut t);
            seq.push(t.raw);
        }
        assert_eq!(seq, [false, true, true, true, false]);
    }

    #[test]
    fn on_delay_needs_the_condition_to_hold_and_restarts_when_it_breaks() {
        let mut t = Tracker::default();
        let s = 1_000_000_000;
        let mut f = false;
        f = t.filter(true, f, 0, 5 * s, 0);
        assert!(!f);
        f = t.filter(true, f, 4 * s, 5 * s, 0);
        assert!(!f);
        f = t.filter(false, f, 4 * s + 1, 5 * s, 0);
        assert!(!f);
        f = t.filter(true, f, 6 * s, 5 * s, 0);
        assert!(!f, "the on-delay restarts after a break");
        f = t.filter(true, f, 11 * s, 5 * s, 0);
        assert!(f);
    }

    #[test]
    fn off_delay_keeps_the_alarm_through_brief_dips() {
        let mut t = Tracker::default();
        let s = 1_000_000_000;
        let mut f = t.filter(true, false, 0, 0, 3 * s);
        assert!(f);
        f = t.filter(false, f, s, 0, 3 * s);
        assert!(f);
        f = t.filter(true, f, 2 * s, 0, 3 * s);
        assert!(f);
        f = t.filter(false, f, 3 * s, 0, 3 * s);
        f = t.filter(false, f, 5 * s, 0, 3 * s);
        assert!(f, "2 s below the limit is within the off-delay");
        f = t.filter(false, f, 6 * s, 0, 3 * s);
        assert!(!f);
    }

    #[test]
    fn rate_of_change_sees_a_fall_within_its_window_only() {
        let s = 1_000_000_000;
        let c = Condition::Rate {
            limit: 0.5,
            per_ns: 60 * s,
            direction: Direction::Falling,
        };
        let mut t = Tracker::default();
        // A slow fall: 0.2 bar per minute never trips it.
        let mut any = false;
        for i in 0..300 {
            let v = 5.0 - 0.2 * (i as f64) / 60.0;
            any |= c.raw(v, i * s, &mut t);
        }
        assert!(!any);
        // A burst: 1 bar in 20 s.
        let mut t = Tracker::default();
        let mut first = None;
        for i in 0..120 {
            let v = if i < 30 {
                5.0
            } else {
                5.0 - ((i - 30) as f64 / 20.0).min(1.0)
            };
            if c.raw(v, i * s, &mut t) && first.is_none() {
                first = Some(i);
            }
        }
        assert_eq!(first, Some(40), "0.5 bar gone 10 s into the burst");
        // A minute after the burst the window no longer holds the drop.
        assert!(!c.raw(4.0, 200 * s, &mut t));
    }

    #[test]
    fn discrete_compares_with_the_normal_state() {
        let c = Condition::Discrete { normal: 0.0 };
        let mut t = Tracker::default();
        assert!(!c.raw(0.0, 0, &mut t));
        assert!(c.raw(1.0, 0, &mut t));
        assert!(c.raw(3.0, 0, &mut t));
    }
}
