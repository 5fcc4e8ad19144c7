//! EEMUA 191 / ISA-18.2 alarm-system performance figures, as pure functions of the
//! journal's activations ([`super::store::Store::activations`]) and the standing alarms.
//!
//! The targets and definitions come from reference/alarms-integration.md §1.3. Neither
//! standard is freely available: the numbers are the ones secondary sources quote (the
//! `alarmkpi` PyPI tool, the Inductive Automation "quick alarm system self-audit", the
//! Nimmo KPI grid), named on each figure.
//!
//! Conventions used by every figure:
//! - An *activation* is an alarm annunciated to the operator: an event into
//!   `active_unacknowledged` ([`super::AlarmEvent::is_activation`]). The rates count these.
//! - The range is `[from_ns, now_ns]`: activations before `from_ns` or after `now_ns` are
//!   ignored, so a flood already under way at `from_ns` is seen from its first activation in
//!   the range.
//! - A window of length `w` ending at `T` is the half-open interval `(T − w, T]`: two
//!   activations exactly `w` apart never fall in the same window. "The count in the trailing
//!   10 minutes" at `T` is the number of activations in `(T − 10 min, T]`.
//! - Activations may be given in any order (a copy is sorted by time). Everything is
//!   O(n log n) in the number of activations (the sort, and a map per alarm); the windows
//!   are two-pointer sweeps.

use super::Priority;
use serde::Serialize;
use std::collections::BTreeMap;

const NS_PER_S: i64 = 1_000_000_000;
const HOUR_NS: i64 = 3_600 * NS_PER_S;
const DAY_NS: i64 = 24 * HOUR_NS;

/// The rate window: 10 minutes. ISA-18.2 (per `alarmkpi`) and EEMUA 191 (per the Nimmo KPI
/// grid) state the operator's alarm rate and the flood threshold per 10 minutes.
pub const WINDOW_NS: i64 = 10 * 60 * NS_PER_S;

/// A flood starts when *more than* this many activations fall in a 10-minute window.
/// EEMUA 191 ("more than 10 alarms in 10 minutes", per tipstalk.tipsweb.com), the IA
/// self-audit and `alarmkpi` agree.
pub const FLOOD_START: usize = 10;

/// A flood ends when the count in the trailing 10 minutes falls *below* this (`alarmkpi`:
/// "a flood starts above 10 per 10 min and ends below 5").
pub const FLOOD_END: usize = 5;

/// An alarm chatters when it is activated this many times or more within
/// [`CHATTER_WINDOW_NS`]. IA self-audit: alarms that "go from active to clear three or
/// more times in one minute"; `alarmkpi` (target 0). Every new occurrence of an alarm is
/// an activation, so activations stand for the active-to-clear cycles.
pub const CHATTER_COUNT: usize = 3;

/// The chattering window: one minute (IA self-audit, `alarmkpi`).
pub const CHATTER_WINDOW_NS: i64 = 60 * NS_PER_S;

/// An alarm is standing (stale) when its condition has been active for *more than* this.
/// IA self-audit: it "stays in the alarm state continuously for over 24 hours" (target
/// ≤ 20 per week now, 0 long term).
pub const STANDING_NS: i64 = DAY_NS;

/// How many "bad actors" the Pareto lists (`alarmkpi`; sytech's ISA-18.2 reports).
pub const TOP_N: usize = 10;

/// The alarm-system performance figures over a range.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Kpis {
    /// The range and the number of activations in it.
    pub range: KpiRange,
    /// Average activations per 10 minutes over the range (activations × 10 min / range
    /// length; 0 for an empty range). ISA-18.2 per `alarmkpi`: ≈ 1 acceptable, ≈ 2 maximum
    /// manageable; EEMUA 191 "manageable steady state 1 per 10 minutes" (Nimmo grid).
    pub per_10_minutes: f64,
    /// Average activations per hour. ISA-18.2 per `alarmkpi`: ≈ 6 acceptable, ≈ 12 maximum
    /// manageable; EEMUA 191 average 5 per hour, peak 15 per hour (Nimmo grid).
    pub per_hour: f64,
    /// Average activations per day. ISA-18.2 per `alarmkpi`: ≈ 150 acceptable, ≈ 300
    /// maximum manageable (the IA self-audit says the same).
    pub per_day: f64,
    /// The most activations in any 10-minute window `(T − 10 min, T]` of the range, sliding
    /// (not only clock-aligned buckets). `alarmkpi` target ≤ 10.
    pub peak_10_minutes: usize,
    /// Activations in the last 10 minutes, `(now − 10 min, now]`.
    pub last_10_minutes: usize,
    /// The flood episodes, oldest first (see [`Flood`]). IA self-audit: ≤ 20 floods per
    /// week now, 0 long term.
    pub floods: Vec<Flood>,
    /// The share of the range spent in flood, in percent: the sum of the floods' lengths
    /// (`end_ns − start_ns`, up to now for an ongoing flood) over the range length.
    /// `alarmkpi` target < 1 %.
    pub percent_time_in_flood: f64,
    /// The chattering alarms, worst first (highest count in a minute, then most
    /// activations, then by id). IA self-audit and `alarmkpi` target: 0.
    pub chattering: Vec<Chattering>,
    /// The standing alarms, oldest first (then by id). IA self-audit target: 0 long term.
    pub standing: Vec<StandingAlarm>,
    /// The [`TOP_N`] most frequent alarms ("bad actors"), most activations first, ties
    /// broken by id.
    pub top_10: Vec<TopAlarm>,
    /// The top 10's share of all activations, in percent (the sum of their shares).
    /// `alarmkpi`: about 1 % to 5 % at most.
    pub top_10_share_percent: f64,
    /// Activations per priority, always the four priorities from low to critical. EEMUA
    /// 191 (Nimmo grid): about 80 % low, 15 % medium, 5 % high; IA: critical under 5 %.
    pub priority_distribution: Vec<PriorityShare>,
}

/// The range the figures cover.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KpiRange {
    /// The range's start (inclusive), ns since the epoch.
    pub from_ns: i64,
    /// The range's end (inclusive): the time the figures were computed, ns since the epoch.
    pub to_ns: i64,
    /// Activations in `[from_ns, to_ns]`.
    pub activations: usize,
}

/// One alarm flood (EEMUA 191: more than 10 alarms in 10 minutes; `alarmkpi`: it starts
/// above [`FLOOD_START`] and ends below [`FLOOD_END`] per 10 minutes).
///
/// With `c(T)` the number of activations in the trailing window `(T − 10 min, T]`:
/// - The flood is *detected* at the first activation time `T` where `c(T) > 10`.
///   [`Flood::start_ns`] is placed earlier, at the first activation of that window (the
///   oldest of the 11 activations), since the burst began there; but never before the
///   previous flood's end: when the window still holds activations of the previous flood,
///   the start is the first activation at or after that end.
/// - It ends at the first `T` after detection where `c(T) < 5`. Between activations
///   `c` only falls, one step each time an activation leaves the window, so the end is
///   computed exactly: with `t₅` the fifth most recent activation so far, the count drops
///   to 4 at `t₅ + 10 min` (the moment `t₅` leaves the window), unless a new activation
///   arrives before (or at the same instant, and keeps the count at 5 or more).
/// - A flood's activations are those in `[start_ns, end_ns)` (up to now while ongoing).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Flood {
    /// The first activation of the flood, ns since the epoch.
    pub start_ns: i64,
    /// When the trailing 10-minute count fell below 5, ns since the epoch; None while the
    /// flood goes on at now.
    pub end_ns: Option<i64>,
    /// Activations during the flood.
    pub activations: usize,
    /// The most activations in a 10-minute window during the flood.
    pub peak_10_minutes: usize,
}

/// An alarm with [`CHATTER_COUNT`] or more activations within [`CHATTER_WINDOW_NS`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Chattering {
    pub alarm_id: String,
    /// The most activations of this alarm in any one-minute window `(T − 60 s, T]`.
    pub max_per_minute: usize,
    /// All its activations in the range.
    pub activations: usize,
}

/// An alarm whose condition has been active for more than [`STANDING_NS`] at now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StandingAlarm {
    pub alarm_id: String,
    /// When the current occurrence was raised, ns since the epoch.
    pub raised_ns: i64,
    /// How long it has stood at now, in hours.
    pub hours: f64,
}

/// One of the most frequent alarms.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TopAlarm {
    pub alarm_id: String,
    /// Its activations in the range.
    pub count: usize,
    /// Its share of all activations in the range, in percent.
    pub percent: f64,
}

/// Activations of one priority.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PriorityShare {
    pub priority: Priority,
    pub count: usize,
    /// Its share of all activations in the range, in percent (0 when there are none).
    pub percent: f64,
}

/// The figures for the range `[from_ns, now_ns]`.
///
/// `activations`: `(time_ns, alarm_id, priority)` of each activation, in any order (the
/// journal gives them oldest first); those outside the range are ignored. `standing`:
/// `(alarm_id, raised_ns)` of every alarm whose condition is active at now.
pub fn compute(
    activations: &[(i64, String, Priority)],
    standing: &[(String, i64)],
    from_ns: i64,
    now_ns: i64,
) -> Kpis {
    let mut acts: Vec<(i64, &str, Priority)> = activations
        .iter()
        .filter(|(t, _, _)| (from_ns..=now_ns).contains(t))
        .map(|(t, id, p)| (*t, id.as_str(), *p))
        .collect();
    if !acts.is_sorted_by_key(|a| a.0) {
        acts.sort_by_key(|a| a.0);
    }
    let times: Vec<i64> = acts.iter().map(|a| a.0).collect();
    let n = times.len();
    let duration_ns = now_ns.saturating_sub(from_ns).max(0);

    let floods = floods(&times, now_ns);
    let in_flood_ns: i64 = floods
        .iter()
        .map(|f| f.end_ns.unwrap_or(now_ns) - f.start_ns)
        .sum();

    // Each alarm's activation times, oldest first.
    let mut by_alarm: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for &(t, id, _) in &acts {
        by_alarm.entry(id).or_default().push(t);
    }

    let mut chattering: Vec<Chattering> = by_alarm
        .iter()
        .filter_map(|(id, ts)| {
            let max = peak_in_window(ts, CHATTER_WINDOW_NS);
            (max >= CHATTER_COUNT).then(|| Chattering {
                alarm_id: (*id).to_owned(),
                max_per_minute: max,
                activations: ts.len(),
            })
        })
        .collect();
    chattering.sort_by(|a, b| {
        b.max_per_minute
            .cmp(&a.max_per_minute)
            .then(b.activations.cmp(&a.activations))
            .then_with(|| a.alarm_id.cmp(&b.alarm_id))
    });

    let mut counts: Vec<(&str, usize)> = by_alarm.iter().map(|(id, ts)| (*id, ts.len())).collect();
    counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let top_10: Vec<TopAlarm> = counts
        .iter()
        .take(TOP_N)
        .map(|&(id, count)| TopAlarm {
            alarm_id: id.to_owned(),
            count,
            percent: percent(count, n),
        })
        .collect();
    let top_10_share_percent = percent(top_10.iter().map(|t| t.count).sum(), n);

    let priority_distribution = [
        Priority::Low,
        Priority::Medium,
        Priority::High,
        Priority::Critical,
    ]
    .into_iter()
    .map(|priority| {
        let count = acts.iter().filter(|a| a.2 == priority).count();
        PriorityShare {
            priority,
            count,
            percent: percent(count, n),
        }
    })
    .collect();

    let mut standing: Vec<StandingAlarm> = standing
        .iter()
        .filter(|(_, raised)| now_ns.saturating_sub(*raised) > STANDING_NS)
        .map(|(id, raised)| StandingAlarm {
            alarm_id: id.clone(),
            raised_ns: *raised,
            hours: now_ns.saturating_sub(*raised) as f64 / HOUR_NS as f64,
        })
        .collect();
    standing.sort_by(|a, b| {
        a.raised_ns
            .cmp(&b.raised_ns)
            .then_with(|| a.alarm_id.cmp(&b.alarm_id))
    });

    Kpis {
        range: KpiRange {
            from_ns,
            to_ns: now_ns,
            activations: n,
        },
        per_10_minutes: rate(n, WINDOW_NS, duration_ns),
        per_hour: rate(n, HOUR_NS, duration_ns),
        per_day: rate(n, DAY_NS, duration_ns),
        peak_10_minutes: peak_in_window(&times, WINDOW_NS),
        last_10_minutes: n - times.partition_point(|&t| t <= now_ns.saturating_sub(WINDOW_NS)),
        floods,
        percent_time_in_flood: if duration_ns > 0 {
            (in_flood_ns as f64 * 100.0 / duration_ns as f64).min(100.0)
        } else {
            0.0
        },
        chattering,
        standing,
        top_10,
        top_10_share_percent,
        priority_distribution,
    }
}

/// `n` events over `duration_ns`, per `per_ns` (0 for an empty range).
fn rate(n: usize, per_ns: i64, duration_ns: i64) -> f64 {
    if duration_ns <= 0 {
        0.0
    } else {
        n as f64 * per_ns as f64 / duration_ns as f64
    }
}

/// `part` of `whole` in percent (0 when `whole` is 0).
fn percent(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

/// The most of `times` (sorted) in any window `(T − window_ns, T]`: a two-pointer sweep,
/// O(n). The maximum is reached with `T` at an activation.
fn peak_in_window(times: &[i64], window_ns: i64) -> usize {
    debug_assert!(times.is_sorted());
    let mut lo = 0;
    let mut peak = 0;
    for (hi, &t) in times.iter().enumerate() {
        while t.saturating_sub(times[lo]) >= window_ns {
            lo += 1;
        }
        peak = peak.max(hi + 1 - lo);
    }
    peak
}

/// The flood episodes of `times` (sorted), as defined on [`Flood`]: one sweep over the
/// activations, a group of equal times at once, O(n).
fn floods(times: &[i64], now_ns: i64) -> Vec<Flood> {
    debug_assert!(times.is_sorted());
    struct Open {
        start_idx: usize,
        peak: usize,
    }
    let close = |f: &Open, end_ns: Option<i64>, end_idx: usize| Flood {
        start_ns: times[f.start_idx],
        end_ns,
        activations: end_idx - f.start_idx,
        peak_10_minutes: f.peak,
    };
    // When the trailing count falls below FLOOD_END if nothing arrives after `last`: when
    // the FLOOD_END-th most recent activation leaves the window.
    let end_after = |last: usize| times[last + 1 - FLOOD_END].saturating_add(WINDOW_NS);

    let n = times.len();
    let mut out = Vec::new();
    let mut open: Option<Open> = None;
    // The first activation that no earlier flood holds.
    let mut floor = 0;
    // The window: times[lo..=b] at the current group's time.
    let mut lo = 0;
    let mut a = 0;
    while a < n {
        let t = times[a];
        let mut b = a;
        while b + 1 < n && times[b + 1] == t {
            b += 1;
        }
        // Did the flood end between the previous activation and this one? (While in flood
        // the window held at least FLOOD_END activations, so a ≥ FLOOD_END.)
        if let Some(f) = &open {
            let end = end_after(a - 1);
            if end < t {
                out.push(close(f, Some(end), a));
                open = None;
                floor = a;
            }
        }
        while t.saturating_sub(times[lo]) >= WINDOW_NS {
            lo += 1;
        }
        let count = b + 1 - lo;
        match &mut open {
            // The count fell below FLOOD_END exactly as this group arrived (the previous
            // ones left at this very instant).
            Some(f) if count < FLOOD_END => {
                out.push(close(f, Some(t), a));
                open = None;
                floor = a;
            }
            Some(f) => f.peak = f.peak.max(count),
            None if count > FLOOD_START => {
                open = Some(Open {
                    start_idx: lo.max(floor),
                    peak: count,
                });
            }
            None => {}
        }
        a = b + 1;
    }
    if let Some(f) = &open {
        let end = end_after(n - 1);
        out.push(close(f, (end <= now_ns).then_some(end), n));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const S: i64 = NS_PER_S;
    const MIN: i64 = 60 * S;

    fn low(times: &[i64], id: &str) -> Vec<(i64, String, Priority)> {
        times
            .iter()
            .map(|&t| (t, id.to_owned(), Priority::Low))
            .collect()
    }

    fn approx(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9 * b.abs().max(1.0)
    }

    /// Brute force: the most activations in a window ending at an activation, O(n²).
    fn brute_peak(times: &[i64], window_ns: i64) -> usize {
        times
            .iter()
            .map(|&end| {
                times
                    .iter()
                    .filter(|&&t| t <= end && t > end - window_ns)
                    .count()
            })
            .max()
            .unwrap_or(0)
    }

    /// Brute force: the flood state machine evaluated at every instant the trailing count
    /// can change (each activation, and each activation + 10 min), up to now.
    fn brute_floods(times: &[i64], now_ns: i64) -> Vec<Flood> {
        let count = |at: i64| {
            times
                .iter()
                .filter(|&&t| t <= at && t > at - WINDOW_NS)
                .count()
        };
        let mut instants: Vec<i64> = times
            .iter()
            .flat_map(|&t| [t, t + WINDOW_NS])
            .filter(|&t| t <= now_ns)
            .collect();
        instants.sort_unstable();
        instants.dedup();
        let mut out: Vec<Flood> = Vec::new();
        let mut open: Option<(i64, usize)> = None;
        let mut prev_end = i64::MIN;
        for at in instants {
            let c = count(at);
            match open {
                None if c > FLOOD_START => {
                    let start = times
                        .iter()
                        .copied()
                        .filter(|&t| t > at - WINDOW_NS && t <= at && t >= prev_end)
                        .min()
                        .unwrap();
                    open = Some((start, c));
                }
                Some((start, peak)) if c < FLOOD_END => {
                    out.push(Flood {
                        start_ns: start,
                        end_ns: Some(at),
                        activations: times.iter().filter(|&&t| t >= start && t < at).count(),
                        peak_10_minutes: peak,
                    });
                    open = None;
                    prev_end = at;
                }
                Some((start, peak)) => open = Some((start, peak.max(c))),
                None => {}
            }
        }
        if let Some((start, peak)) = open {
            out.push(Flood {
                start_ns: start,
                end_ns: None,
                activations: times.iter().filter(|&&t| t >= start).count(),
                peak_10_minutes: peak,
            });
        }
        out
    }

    #[test]
    fn empty_input() {
        let k = compute(&[], &[], 0, 3_600 * S);
        assert_eq!(
            k.range,
            KpiRange {
                from_ns: 0,
                to_ns: 3_600 * S,
                activations: 0
            }
        );
        assert_eq!((k.per_10_minutes, k.per_hour, k.per_day), (0.0, 0.0, 0.0));
        assert_eq!((k.peak_10_minutes, k.last_10_minutes), (0, 0));
        assert!(k.floods.is_empty());
        assert_eq!(k.percent_time_in_flood, 0.0);
        assert!(k.chattering.is_empty() && k.standing.is_empty() && k.top_10.is_empty());
        assert_eq!(k.top_10_share_percent, 0.0);
        assert_eq!(k.priority_distribution.len(), 4);
        assert!(
            k.priority_distribution
                .iter()
                .all(|p| p.count == 0 && p.percent == 0.0)
        );
        // An empty range: no division by zero.
        let k = compute(&low(&[5], "a"), &[], 5, 5);
        assert_eq!(k.range.activations, 1);
        assert_eq!((k.per_10_minutes, k.percent_time_in_flood), (0.0, 0.0));
        let k = compute(&low(&[5], "a"), &[], 10, 0);
        assert_eq!(k.range.activations, 0);
        assert_eq!(k.per_day, 0.0);
    }

    #[test]
    fn averages_over_the_range() {
        // 11 activations in one hour.
        let times: Vec<i64> = (0..11).map(|i| i * 5 * MIN).collect();
        let k = compute(&low(&times, "a"), &[], 0, 60 * MIN);
        assert_eq!(k.range.activations, 11);
        assert!(approx(k.per_10_minutes, 11.0 / 6.0), "{}", k.per_10_minutes);
        assert!(approx(k.per_hour, 11.0));
        assert!(approx(k.per_day, 264.0));
        // 5 min apart: at most 2 in a window (0 and 5 min, not 0 and 10 min).
        assert_eq!(k.peak_10_minutes, 2);
    }

    #[test]
    fn activations_outside_the_range_are_ignored() {
        let mut acts = low(&[-1, 0, 100 * S, 3_600 * S], "a");
        acts.push((3_600 * S + 1, "a".into(), Priority::Critical));
        let k = compute(&acts, &[], 0, 3_600 * S);
        assert_eq!(k.range.activations, 3, "from and now are inclusive");
        assert_eq!(k.priority_distribution[3].count, 0);
        assert_eq!(k.top_10[0].count, 3);
    }

    #[test]
    fn last_10_minutes_is_the_trailing_window_before_now() {
        let now = 3_600 * S;
        let times = [
            now - 20 * MIN,
            now - WINDOW_NS,
            now - WINDOW_NS + 1,
            now - S,
            now,
        ];
        let k = compute(&low(&times, "a"), &[], 0, now);
        assert_eq!(k.last_10_minutes, 3);
    }

    #[test]
    fn sliding_peak_across_a_bucket_boundary() {
        // 6 at 9:58–9:59 and 6 at 10:01: 6 in each aligned 10-minute bucket, 12 sliding.
        let h = 60 * MIN;
        let mut times: Vec<i64> = (0..6).map(|i| 9 * h + 58 * MIN + i * 12 * S).collect();
        times.extend((0..6).map(|i| 10 * h + MIN + i * 10 * S));
        let k = compute(&low(&times, "a"), &[], 0, 12 * h);
        assert_eq!(k.peak_10_minutes, 12);
        // It is a flood too: from 9:58:00 until the fifth most recent (10:01:10) leaves
        // the window at 10:11:10.
        assert_eq!(
            k.floods,
            vec![Flood {
                start_ns: 9 * h + 58 * MIN,
                end_ns: Some(10 * h + 11 * MIN + 10 * S),
                activations: 12,
                peak_10_minutes: 12,
            }]
        );
    }

    #[test]
    fn exact_flood_episodes() {
        // 11 activations every 30 s from 0 to 300 s: the 11th makes 11 in the trailing
        // 10 minutes. One more at 700 s: the window (100 s, 700 s] then holds 120…300 s and
        // 700 s, 8 activations. Nothing else: the fifth most recent is 210 s, which leaves
        // the window at 810 s (at 809 s the window (209, 809] still holds 5).
        let mut times: Vec<i64> = (0..11).map(|i| i * 30 * S).collect();
        times.push(700 * S);
        // A second burst, 11 one second apart from 2000 s: detected at 2010 s, the fifth
        // most recent is 2006 s, it leaves at 2606 s.
        times.extend((0..11).map(|i| (2_000 + i) * S));
        // Below the threshold: 10 in 10 s.
        times.extend((0..10).map(|i| (3_000 + i) * S));
        let now = 3_600 * S;
        let k = compute(&low(&times, "a"), &[], 0, now);
        assert_eq!(
            k.floods,
            vec![
                Flood {
                    start_ns: 0,
                    end_ns: Some(810 * S),
                    activations: 12,
                    peak_10_minutes: 11,
                },
                Flood {
                    start_ns: 2_000 * S,
                    end_ns: Some(2_606 * S),
                    activations: 11,
                    peak_10_minutes: 11,
                },
            ]
        );
        assert!(approx(
            k.percent_time_in_flood,
            (810.0 + 606.0) / 3_600.0 * 100.0
        ));
        assert_eq!(k.peak_10_minutes, 11);
        assert_eq!(k.floods, brute_floods(&times, now));
    }

    #[test]
    fn a_flood_still_going_on_at_now() {
        // 11 every 30 s from 0 to 300 s: the flood ends at 780 s (180 s + 10 min).
        let times: Vec<i64> = (0..11).map(|i| i * 30 * S).collect();
        let k = compute(&low(&times, "a"), &[], 0, 779 * S);
        assert_eq!(
            k.floods,
            vec![Flood {
                start_ns: 0,
                end_ns: None,
                activations: 11,
                peak_10_minutes: 11,
            }]
        );
        assert!(approx(k.percent_time_in_flood, 100.0));
        let k = compute(&low(&times, "a"), &[], 0, 780 * S);
        assert_eq!(k.floods[0].end_ns, Some(780 * S));
        // Serialised as null while ongoing.
        let k = compute(&low(&times, "a"), &[], 0, 700 * S);
        let json = serde_json::to_value(&k).unwrap();
        assert_eq!(json["floods"][0]["end_ns"], serde_json::Value::Null);
        assert_eq!(json["priority_distribution"][0]["priority"], "low");
        // Only half the range in flood.
        let k = compute(&low(&times, "a"), &[], -700 * S, 700 * S);
        assert!(approx(k.percent_time_in_flood, 50.0));
    }

    #[test]
    fn a_new_flood_starts_after_the_previous_end() {
        // 11 at 0…10 s: the flood ends when 6 s leaves the window, at 606 s; the window then
        // holds 7…10 s (4). 7 more at 606.1…606.7 s make 11 again at 606.7 s, before 7 s
        // leaves: a new flood, which starts at 606.1 s, not at 7 s (held by the first).
        let ms = S / 1_000;
        let mut times: Vec<i64> = (0..11).map(|i| i * S).collect();
        times.extend((1..8).map(|i| 606 * S + i * 100 * ms));
        let now = 3_600 * S;
        let k = compute(&low(&times, "a"), &[], 0, now);
        assert_eq!(
            k.floods,
            vec![
                Flood {
                    start_ns: 0,
                    end_ns: Some(606 * S),
                    activations: 11,
                    peak_10_minutes: 11,
                },
                Flood {
                    start_ns: 606 * S + 100 * ms,
                    // The fifth most recent, 606.3 s, leaves at 1206.3 s.
                    end_ns: Some(1_206 * S + 300 * ms),
                    activations: 7,
                    peak_10_minutes: 11,
                },
            ]
        );
        assert_eq!(k.floods, brute_floods(&times, now));
    }

    #[test]
    fn an_activation_arriving_as_the_flood_ends() {
        // 9 at 0 s, then 1 s, 2 s, 3 s: a flood from 0 s (11 at 2 s). The fifth most recent
        // is at 0 s with four others: at 600 s they all leave together, leaving 3.
        let mut times = vec![0; 9];
        times.extend([S, 2 * S, 3 * S]);
        let now = 3_600 * S;
        // One arrival at 600 s: 4 in the window, the flood ends at 600 s without it.
        let mut one = times.clone();
        one.push(600 * S);
        let k = compute(&low(&one, "a"), &[], 0, now);
        assert_eq!(
            k.floods,
            vec![Flood {
                start_ns: 0,
                end_ns: Some(600 * S),
                activations: 12,
                peak_10_minutes: 12,
            }]
        );
        assert_eq!(k.floods, brute_floods(&one, now));
        // Two: 5 in the window, it goes on until 1 s leaves at 601 s.
        let mut two = times.clone();
        two.extend([600 * S, 600 * S]);
        let k = compute(&low(&two, "a"), &[], 0, now);
        assert_eq!(k.floods[0].end_ns, Some(601 * S));
        assert_eq!(k.floods[0].activations, 14);
        assert_eq!(k.floods, brute_floods(&two, now));
    }

    #[test]
    fn simultaneous_activations() {
        // 12 at the same instant: one window holds all of them; the flood ends when they
        // all leave, 10 minutes later.
        let times = vec![100 * S; 12];
        let k = compute(&low(&times, "a"), &[], 0, 3_600 * S);
        assert_eq!(k.peak_10_minutes, 12);
        assert_eq!(
            k.floods,
            vec![Flood {
                start_ns: 100 * S,
                end_ns: Some(700 * S),
                activations: 12,
                peak_10_minutes: 12,
            }]
        );
    }

    #[test]
    fn chattering() {
        let mut acts = low(&[0, 30 * S, 59 * S], "yes_59s");
        acts.extend(low(&[0, 30 * S, 61 * S], "no_61s"));
        acts.extend(low(&[0, 30 * S, 60 * S], "no_exactly_60s"));
        acts.extend(low(&[0, 10 * S, 20 * S, 50 * S, 600 * S], "four"));
        acts.extend(low(&[100 * S, 120 * S, 140 * S], "also_3"));
        let k = compute(&acts, &[], 0, 3_600 * S);
        let got: Vec<(&str, usize, usize)> = k
            .chattering
            .iter()
            .map(|c| (c.alarm_id.as_str(), c.max_per_minute, c.activations))
            .collect();
        assert_eq!(
            got,
            vec![("four", 4, 5), ("also_3", 3, 3), ("yes_59s", 3, 3)]
        );
    }

    #[test]
    fn standing_alarms() {
        let now = 10 * DAY_NS;
        let standing = vec![
            ("young".to_owned(), now - HOUR_NS),
            ("exactly_24h".to_owned(), now - DAY_NS),
            ("old".to_owned(), now - 25 * HOUR_NS),
            ("older".to_owned(), now - 2 * DAY_NS),
            ("just_over".to_owned(), now - DAY_NS - 1),
        ];
        let k = compute(&[], &standing, 0, now);
        let got: Vec<&str> = k.standing.iter().map(|s| s.alarm_id.as_str()).collect();
        assert_eq!(got, vec!["older", "old", "just_over"]);
        assert_eq!(k.standing[0].raised_ns, now - 2 * DAY_NS);
        assert!(approx(k.standing[0].hours, 48.0));
        assert!(approx(k.standing[1].hours, 25.0));
    }

    #[test]
    fn top_10_ordering_and_shares() {
        // 21 activations: x 5, a 3, b 3, c 2, and d…k once each.
        let mut acts = Vec::new();
        let mut t = 0;
        let mut add = |id: &str, n: usize| {
            for _ in 0..n {
                acts.push((t, id.to_owned(), Priority::Low));
                t += HOUR_NS;
            }
        };
        add("b", 3);
        add("x", 5);
        add("c", 2);
        add("a", 3);
        for id in ["k", "j", "i", "h", "g", "f", "e", "d"] {
            add(id, 1);
        }
        let k = compute(&acts, &[], 0, 30 * HOUR_NS);
        assert_eq!(k.range.activations, 21);
        let got: Vec<(&str, usize)> = k
            .top_10
            .iter()
            .map(|t| (t.alarm_id.as_str(), t.count))
            .collect();
        assert_eq!(
            got,
            vec![
                ("x", 5),
                ("a", 3),
                ("b", 3),
                ("c", 2),
                ("d", 1),
                ("e", 1),
                ("f", 1),
                ("g", 1),
                ("h", 1),
                ("i", 1)
            ]
        );
        assert!(approx(k.top_10[0].percent, 500.0 / 21.0));
        assert!(approx(k.top_10[9].percent, 100.0 / 21.0));
        assert!(approx(k.top_10_share_percent, 1_900.0 / 21.0));
    }

    #[test]
    fn priority_distribution() {
        let mut acts = low(&(0..8).collect::<Vec<_>>(), "l");
        acts.push((8, "m".into(), Priority::Medium));
        acts.push((9, "h".into(), Priority::High));
        let k = compute(&acts, &[], 0, 10);
        let got: Vec<(Priority, usize)> = k
            .priority_distribution
            .iter()
            .map(|p| (p.priority, p.count))
            .collect();
        assert_eq!(
            got,
            vec![
                (Priority::Low, 8),
                (Priority::Medium, 1),
                (Priority::High, 1),
                (Priority::Critical, 0)
            ]
        );
        let pct: Vec<f64> = k.priority_distribution.iter().map(|p| p.percent).collect();
        assert!(approx(pct[0], 80.0) && approx(pct[1], 10.0) && approx(pct[2], 10.0));
        assert_eq!(pct[3], 0.0);
    }

    #[test]
    fn out_of_order_input_gives_the_same_figures() {
        let mut acts = low(&(0..15).map(|i| i * 20 * S).collect::<Vec<_>>(), "a");
        acts.extend(low(&[5 * S, 6 * S, 7 * S], "b"));
        let sorted = {
            let mut s = acts.clone();
            s.sort_by_key(|a| a.0);
            s
        };
        acts.reverse();
        let now = 3_600 * S;
        assert_eq!(compute(&acts, &[], 0, now), compute(&sorted, &[], 0, now));
        assert_eq!(compute(&acts, &[], 0, now).floods.len(), 1);
    }

    fn arb_times() -> impl Strategy<Value = Vec<i64>> {
        // Spans from 1 minute to 2 hours, in nanoseconds, or in seconds, 10 s or minutes (with
        // many ties, and activations exactly 10 minutes apart).
        (
            prop::sample::select(vec![60, 600, 1_200, 3_600, 7_200]),
            prop::sample::select(vec![1, S, 10 * S, 60 * S]),
        )
            .prop_flat_map(|(span_s, unit)| {
                let max = span_s * S / unit;
                prop::collection::vec(0..max, 0..250)
                    .prop_map(move |v| v.into_iter().map(|t| t * unit).collect())
            })
    }

    proptest! {
        #[test]
        fn peak_matches_brute_force(mut times in arb_times()) {
            let k = compute(&low(&times, "a"), &[], 0, 7_200 * S);
            times.sort_unstable();
            prop_assert_eq!(k.peak_10_minutes, brute_peak(&times, WINDOW_NS));
        }

        #[test]
        fn floods_match_brute_force(mut times in arb_times(), now_s in 0i64..7_800) {
            let now = now_s * S;
            times.retain(|&t| t <= now);
            times.sort_unstable();
            let k = compute(&low(&times, "a"), &[], 0, now);
            prop_assert_eq!(&k.floods, &brute_floods(&times, now));
            for f in &k.floods {
                prop_assert!(f.peak_10_minutes > FLOOD_START);
                prop_assert!(f.end_ns.is_none_or(|e| e > f.start_ns));
            }
            prop_assert!((0.0..=100.0).contains(&k.percent_time_in_flood));
        }

        #[test]
        fn chattering_matches_brute_force(
            acts in prop::collection::vec((0i64..600, 0usize..4), 0..60),
        ) {
            let ids = ["a", "b", "c", "d"];
            let acts: Vec<(i64, String, Priority)> = acts
                .into_iter()
                .map(|(t, i)| (t * S, ids[i].to_owned(), Priority::Low))
                .collect();
            let k = compute(&acts, &[], 0, 600 * S);
            for id in ids {
                let mut ts: Vec<i64> =
                    acts.iter().filter(|a| a.1 == id).map(|a| a.0).collect();
                ts.sort_unstable();
                let max = brute_peak(&ts, CHATTER_WINDOW_NS);
                let got = k.chattering.iter().find(|c| c.alarm_id == id);
                if max >= CHATTER_COUNT {
                    prop_assert_eq!(got.map(|c| (c.max_per_minute, c.activations)), Some((max, ts.len())));
                } else {
                    prop_assert!(got.is_none());
                }
            }
        }
    }
}
