//! Time series for `POST /query`: a point's short history cut to the asked range and
//! downsampled to what the panel can show. Pure functions.
//!
//! The rule (README "Grafana JSON datasource"):
//! - keep the samples inside `range` (both ends included) whose value is a finite number
//!   (text points and bad samples have none; booleans are 0 and 1 already);
//! - when more than `maxDataPoints` remain, or two samples are closer than `intervalMs`,
//!   cut the range into buckets of `max(intervalMs, ⌈span / maxDataPoints⌉)` ms from its
//!   start and give each non-empty bucket the mean of its samples, stamped at the bucket's
//!   start. With `span` the range's length in ms, there are at most
//!   `⌈span / width⌉ ≤ maxDataPoints` buckets, so the answer never has more points than asked.

/// What the panel asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// The range, ns since the epoch, both ends included.
    pub from_ns: i64,
    pub to_ns: i64,
    /// Grafana's `intervalMs`: the finest spacing wanted, ms (0: any).
    pub interval_ms: i64,
    /// Grafana's `maxDataPoints` (at least 1); None: no limit.
    pub max_points: Option<usize>,
}

const NS_PER_MS: i64 = 1_000_000;

/// ns to epoch ms (floor).
pub fn ms(ns: i64) -> i64 {
    ns.div_euclid(NS_PER_MS)
}

/// The datapoints `[value, epoch ms]`, oldest first, from `history` (time ns, value; None
/// for a bad sample) in any order. See the module's rule.
pub fn datapoints(
    history: impl IntoIterator<Item = (i64, Option<f64>)>,
    s: Shape,
) -> Vec<(f64, i64)> {
    let mut pts: Vec<(i64, f64)> = history
        .into_iter()
        .filter(|(t, _)| (s.from_ns..=s.to_ns).contains(t))
        .filter_map(|(t, v)| v.filter(|x| x.is_finite()).map(|x| (ms(t), x)))
        .collect();
    // After a system clock step back the history is not in time order.
    pts.sort_by_key(|p| p.0);
    let too_many = s.max_points.is_some_and(|m| pts.len() > m);
    let too_fine = s.interval_ms > 0 && pts.windows(2).any(|w| w[1].0 - w[0].0 < s.interval_ms);
    if !too_many && !too_fine {
        return pts.into_iter().map(|(t, v)| (v, t)).collect();
    }
    let (from, to) = (ms(s.from_ns), ms(s.to_ns));
    let span = i128::from(to) - i128::from(from) + 1;
    let per_point = s
        .max_points
        .map_or(1, |m| (span + m.max(1) as i128 - 1) / m.max(1) as i128);
    let width = per_point.max(i128::from(s.interval_ms)).max(1);
    let mut out: Vec<(f64, i64)> = Vec::new();
    let mut i = 0;
    while i < pts.len() {
        let bucket = (i128::from(pts[i].0) - i128::from(from)) / width;
        let mut j = i;
        while j < pts.len() && (i128::from(pts[j].0) - i128::from(from)) / width == bucket {
            j += 1;
        }
        let n = (j - i) as f64;
        // Each term divided first: no overflow near f64::MAX.
        let mean = pts[i..j].iter().map(|p| p.1 / n).sum::<f64>();
        let start = i128::from(from) + bucket * width;
        out.push((mean, i64::try_from(start).unwrap_or(from)));
        i = j;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const S: i64 = 1_000_000_000;

    #[test]
    fn few_points_come_back_as_they_are_without_bad_ones() {
        let h = vec![
            (10 * S, Some(1.0)),
            (11 * S, None),
            (12 * S, Some(f64::NAN)),
            (13 * S, Some(3.0)),
        ];
        let shape = Shape {
            from_ns: 0,
            to_ns: 100 * S,
            interval_ms: 1000,
            max_points: Some(10),
        };
        assert_eq!(datapoints(h, shape), vec![(1.0, 10_000), (3.0, 13_000)]);
    }

    #[test]
    fn too_many_points_are_averaged_per_bucket() {
        // 10 samples a second apart over a 10 s range, at most 5 points: 2 s buckets.
        let h: Vec<_> = (0..10).map(|i| (i * S, Some(i as f64))).collect();
        let shape = Shape {
            from_ns: 0,
            to_ns: 10 * S - 1,
            interval_ms: 0,
            max_points: Some(5),
        };
        assert_eq!(
            datapoints(h, shape),
            vec![(0.5, 0), (2.5, 2000), (4.5, 4000), (6.5, 6000), (8.5, 8000)]
        );
    }

    #[test]
    fn samples_finer_than_the_interval_are_averaged() {
        let h: Vec<_> = (0..4).map(|i| (i * S / 2, Some(i as f64))).collect();
        let shape = Shape {
            from_ns: 0,
            to_ns: 10 * S,
            interval_ms: 1000,
            max_points: None,
        };
        assert_eq!(datapoints(h, shape), vec![(0.5, 0), (2.5, 1000)]);
    }

    #[test]
    fn out_of_range_samples_are_left_out() {
        let h = vec![(S, Some(1.0)), (5 * S, Some(2.0)), (9 * S, Some(3.0))];
        let shape = Shape {
            from_ns: 2 * S,
            to_ns: 8 * S,
            interval_ms: 0,
            max_points: Some(100),
        };
        assert_eq!(datapoints(h, shape), vec![(2.0, 5000)]);
    }

    proptest! {
        #[test]
        fn never_more_than_asked_and_all_in_range(
            raw in proptest::collection::vec(
                (-5_000i64..200_000, prop_oneof![
                    Just(None), Just(Some(f64::NAN)), Just(Some(f64::INFINITY)),
                    (-1e300f64..1e300).prop_map(Some)]),
                0..400),
            from_ms in -1_000i64..100_000,
            len_ms in 0i64..150_000,
            interval_ms in 0i64..20_000,
            max_points in 1usize..300,
        ) {
            let history: Vec<(i64, Option<f64>)> =
                raw.iter().map(|(t, v)| (t * NS_PER_MS + t.rem_euclid(7), *v)).collect();
            let shape = Shape {
                from_ns: from_ms * NS_PER_MS,
                to_ns: (from_ms + len_ms) * NS_PER_MS,
                interval_ms,
                max_points: Some(max_points),
            };
            let out = datapoints(history.clone(), shape);
            prop_assert!(out.len() <= max_points, "{} points for at most {}", out.len(), max_points);
            let inside: Vec<f64> = history.iter()
                .filter(|(t, v)| (shape.from_ns..=shape.to_ns).contains(t)
                    && v.is_some_and(f64::is_finite))
                .filter_map(|(_, v)| *v)
                .collect();
            let lo = inside.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = inside.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            for w in out.windows(2) {
                prop_assert!(w[0].1 <= w[1].1, "time order");
            }
            for (v, t) in &out {
                prop_assert!((from_ms..=from_ms + len_ms).contains(t), "{t} outside the range");
                prop_assert!(v.is_finite());
                // A mean lies between the smallest and largest sample (rounding aside).
                let slack = 1e-9 * hi.abs().max(lo.abs());
                prop_assert!(*v >= lo - slack && *v <= hi + slack);
            }
            prop_assert_eq!(out.is_empty(), inside.is_empty());
        }
    }
}
