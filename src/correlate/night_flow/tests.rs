use super::baseline::{judge, median};
use super::config::{NightFlowConfig, NightFlowConfigError, parse_time};
use super::flow::{NightMnf, Output, ZoneFlow};
use super::store::{NightFlowStore, NightRow};
use super::window::Windows;
use jiff::civil::{Time, date};
use jiff::tz::TimeZone;

const S: i64 = 1_000_000_000;
const MIN: i64 = 60 * S;
const H: i64 = 60 * MIN;

fn paris() -> Windows {
    Windows {
        start: Time::constant(2, 0, 0, 0),
        end: Time::constant(4, 0, 0, 0),
        tz: TimeZone::get("Europe/Paris").unwrap(),
    }
}

/// ns of a UTC civil time.
fn utc(y: i16, m: i8, d: i8, h: i8, mi: i8) -> i64 {
    TimeZone::UTC
        .to_timestamp(date(y, m, d).at(h, mi, 0, 0))
        .unwrap()
        .as_nanosecond() as i64
}

/// Feeds one point with `f(t)` every minute over `[from, to)`, closing as it goes.
fn feed(
    z: &mut ZoneFlow,
    w: &Windows,
    points: usize,
    from: i64,
    to: i64,
    f: impl Fn(usize, i64) -> Option<f64>,
) -> Vec<Output> {
    let mut out = Vec::new();
    let mut t = from;
    while t < to {
        for p in 0..points {
            z.sample(p, t, f(p, t));
        }
        z.advance(t, w, &mut out);
        t += MIN;
    }
    out
}

fn buckets(out: &[Output]) -> Vec<(i64, f64)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Bucket(b) => Some((b.start_ns, b.inflow_m3_per_h)),
            _ => None,
        })
        .collect()
}

fn nights(out: &[Output]) -> Vec<NightMnf> {
    out.iter()
        .filter_map(|o| match o {
            Output::Night(n) => Some(n.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_bucket_is_the_signed_sum_of_each_points_mean() {
    let w = paris();
    let mut z = ZoneFlow::new("Z", vec![1.0, -1.0], 15 * MIN, MIN);
    let t0 = utc(2026, 6, 1, 12, 0);
    // Point 0: 10, 20, 30 (mean 20) in the first bucket; point 1 (out): 4 then 6 (mean 5).
    z.sample(0, t0, Some(10.0));
    z.sample(0, t0 + MIN, Some(20.0));
    z.sample(0, t0 + 2 * MIN, Some(30.0));
    z.sample(1, t0, Some(4.0));
    z.sample(1, t0 + MIN, None); // bad: left out of the mean
    z.sample(1, t0 + 2 * MIN, Some(6.0));
    let mut out = Vec::new();
    z.advance(t0 + 3 * MIN, &w, &mut out);
    assert!(out.is_empty(), "the bucket is still open");
    // Both points past the bucket's end: closed by the samples, before `settle`.
    z.sample(0, t0 + 15 * MIN, Some(1.0));
    z.sample(1, t0 + 15 * MIN, Some(1.0));
    z.advance(t0 + 15 * MIN, &w, &mut out);
    assert_eq!(buckets(&out), vec![(t0, 15.0)]);
    // A late sample for the closed bucket is dropped and counted.
    z.sample(0, t0 + 14 * MIN, Some(1000.0));
    assert_eq!(z.late, 1);
}

#[test]
fn a_bucket_without_a_good_sample_of_every_point_has_no_inflow() {
    let w = paris();
    let mut z = ZoneFlow::new("Z", vec![1.0, 1.0], 15 * MIN, MIN);
    let t0 = utc(2026, 6, 1, 12, 0);
    let out = feed(&mut z, &w, 2, t0, t0 + 45 * MIN, |p, t| {
        // Point 1 is bad during the second bucket.
        (p == 0 || !(t0 + 15 * MIN..t0 + 30 * MIN).contains(&t)).then_some(5.0)
    });
    assert_eq!(buckets(&out), vec![(t0, 10.0)]);
    // The third closes by the clock once `settle` has passed, even with no more samples.
    let mut out = Vec::new();
    z.advance(t0 + 46 * MIN, &w, &mut out);
    assert_eq!(buckets(&out), vec![(t0 + 30 * MIN, 10.0)]);
}

#[test]
fn the_night_mnf_is_the_minimum_bucket_inside_the_window() {
    let w = paris();
    let mut z = ZoneFlow::new("Z-NORTH", vec![1.0], 15 * MIN, MIN);
    // 2026-06-10, CEST: the window is 00:00–02:00 UTC. Flow is lowest (3) in the bucket of
    // 01:15 UTC, and lower still (1) before and after the window, which must not count.
    let day0 = utc(2026, 6, 9, 23, 0);
    let low = utc(2026, 6, 10, 1, 15);
    let out = feed(&mut z, &w, 1, day0, day0 + 4 * H, |_, t| {
        Some(
            if t < utc(2026, 6, 10, 0, 0) || t >= utc(2026, 6, 10, 2, 0) {
                1.0
            } else if (low..low + 15 * MIN).contains(&t) {
                3.0
            } else {
                8.0 + (t / MIN % 3) as f64
            },
        )
    });
    let n = nights(&out);
    assert_eq!(n.len(), 1, "{out:?}");
    assert_eq!(n[0].night.date, date(2026, 6, 10));
    assert_eq!(n[0].night.start_ns, utc(2026, 6, 10, 0, 0));
    assert_eq!(n[0].mnf_m3_per_h, 3.0);
    assert_eq!(n[0].coverage, 1.0);
    assert_eq!(n[0].zone, "Z-NORTH");
}

#[test]
fn spring_forward_night_is_one_hour_and_fully_covered() {
    // 2026-03-29 in Paris: 02:00 CET jumps to 03:00 CEST; the window is 01:00–02:00 UTC.
    let w = paris();
    let n = w.of_date(date(2026, 3, 29)).unwrap();
    assert_eq!(
        (n.start_ns, n.end_ns),
        (utc(2026, 3, 29, 1, 0), utc(2026, 3, 29, 2, 0))
    );
    let mut z = ZoneFlow::new("Z", vec![1.0], 15 * MIN, MIN);
    let out = feed(
        &mut z,
        &w,
        1,
        utc(2026, 3, 28, 23, 0),
        utc(2026, 3, 29, 3, 0),
        |_, t| {
            Some(if t < utc(2026, 3, 29, 1, 30) {
                6.0
            } else {
                4.0
            })
        },
    );
    let ns = nights(&out);
    assert_eq!(ns.len(), 1);
    assert_eq!(ns[0].coverage, 1.0);
    assert_eq!(ns[0].mnf_m3_per_h, 4.0);
}

#[test]
fn fall_back_night_is_three_hours() {
    // 2026-10-25 in Paris: 03:00 CEST goes back to 02:00 CET; the window runs from the first
    // 02:00 (00:00 UTC) to 04:00 CET (03:00 UTC).
    let w = paris();
    let n = w.of_date(date(2026, 10, 25)).unwrap();
    assert_eq!(
        (n.start_ns, n.end_ns),
        (utc(2026, 10, 25, 0, 0), utc(2026, 10, 25, 3, 0))
    );
    // The second 02:30 (01:30 UTC) is in the window.
    assert_eq!(w.containing(utc(2026, 10, 25, 1, 30)), Some(n));
    let mut z = ZoneFlow::new("Z", vec![1.0], 15 * MIN, MIN);
    // The lowest flow during the repeated hour counts.
    let out = feed(
        &mut z,
        &w,
        1,
        utc(2026, 10, 24, 23, 0),
        utc(2026, 10, 25, 4, 0),
        |_, t| {
            Some(
                if (utc(2026, 10, 25, 1, 30)..utc(2026, 10, 25, 1, 45)).contains(&t) {
                    2.5
                } else {
                    5.0
                },
            )
        },
    );
    let ns = nights(&out);
    assert_eq!(ns.len(), 1);
    assert_eq!((ns[0].coverage, ns[0].mnf_m3_per_h), (1.0, 2.5));
}

#[test]
fn a_night_seen_in_part_has_its_coverage() {
    // vigie starts at 03:00 local (01:00 UTC in June): half of the window.
    let w = paris();
    let mut z = ZoneFlow::new("Z", vec![1.0], 15 * MIN, MIN);
    let out = feed(
        &mut z,
        &w,
        1,
        utc(2026, 6, 10, 1, 0),
        utc(2026, 6, 10, 3, 0),
        |_, _| Some(7.0),
    );
    let ns = nights(&out);
    assert_eq!(ns.len(), 1);
    assert_eq!(ns[0].coverage, 0.5);
    let cfg = NightFlowConfig::default();
    // Below min_coverage: never a rise, whatever the baseline.
    assert!(!judge(100.0, ns[0].coverage, &[1.0; 14], &cfg).rising);
}

#[test]
fn median_and_rise_rule() {
    assert_eq!(median(&[]), None);
    assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
    assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
    let cfg = NightFlowConfig::default(); // ratio 1.2, at least +1 m³/h, 7 of 14 nights
    let prev = [10.0, 10.5, 9.5, 10.0, 30.0, 10.0, 9.0];
    let v = judge(12.5, 1.0, &prev, &cfg);
    assert_eq!(v.baseline, Some(10.0));
    assert!(v.rising, "12.5 > 10 × 1.2 and +2.5 ≥ 1");
    assert!(!judge(11.9, 1.0, &prev, &cfg).rising, "below the ratio");
    // A small zone: +25 % but only +0.5 m³/h.
    assert!(!judge(2.5, 1.0, &[2.0; 7], &cfg).rising);
    // Too few previous nights: no baseline, no rise.
    let v = judge(50.0, 1.0, &[10.0; 6], &cfg);
    assert_eq!(
        v,
        super::baseline::Verdict {
            baseline: None,
            rising: false
        }
    );
    // Only the newest `baseline_nights` count.
    let mut many = vec![10.0; 14];
    many.extend([100.0; 10]);
    assert_eq!(judge(13.0, 1.0, &many, &cfg).baseline, Some(10.0));
}

#[test]
fn config_defaults_and_problems() {
    let cfg = NightFlowConfig::default();
    assert!(cfg.problems().is_empty());
    assert_eq!(parse_time("02:00"), Ok(Time::constant(2, 0, 0, 0)));
    assert_eq!(parse_time("16:05:30"), Ok(Time::constant(16, 5, 30, 0)));
    assert!(parse_time("2h").is_err());
    assert!(parse_time("25:00").is_err());
    let bad = NightFlowConfig {
        window_start: Time::constant(4, 0, 0, 0),
        window_end: Time::constant(2, 0, 0, 0),
        time_zone: Some("Europe/Nowhere".into()),
        min_coverage: 0.0,
        rise_ratio: 1.0,
        min_baseline_nights: 20,
        ..NightFlowConfig::default()
    };
    let keys: Vec<&str> = bad
        .problems()
        .iter()
        .map(NightFlowConfigError::key)
        .collect();
    assert_eq!(
        keys,
        [
            "window_end",
            "time_zone",
            "min_coverage",
            "min_baseline_nights",
            "rise_ratio"
        ]
    );
}

#[test]
fn store_keeps_nights_baselines_and_rises() {
    let dir = tempfile::tempdir().unwrap();
    let store = NightFlowStore::open(dir.path()).unwrap();
    let cfg = NightFlowConfig {
        min_baseline_nights: 2,
        ..NightFlowConfig::default()
    };
    let w = paris();
    let mut rows = Vec::new();
    for (i, (mnf, cov)) in [
        (10.0, 1.0),
        (11.0, 1.0),
        (50.0, 0.5),
        (9.0, 1.0),
        (14.0, 1.0),
    ]
    .into_iter()
    .enumerate()
    {
        let night = w.of_date(date(2026, 6, 1 + i as i8)).unwrap();
        let n = NightMnf {
            zone: "Z-NORTH".into(),
            night,
            mnf_m3_per_h: mnf,
            coverage: cov,
        };
        let judged = super::record::judge_and_store(&store, &n, &cfg).unwrap();
        assert!(judged.kept, "a new night is stored");
        rows.push(judged.row);
    }
    // The night of coverage 0.5 is kept but left out of the baseline.
    assert_eq!(
        rows[1].baseline_m3_per_h, None,
        "one previous night is too few"
    );
    assert_eq!(rows[3].baseline_m3_per_h, Some(10.5));
    assert!(!rows[3].rising);
    assert_eq!(rows[4].baseline_m3_per_h, Some(10.0));
    assert!(rows[4].rising);
    // Reopened (a restart): the nights are there, a lower-coverage copy does not replace.
    drop(store);
    let store = NightFlowStore::open(dir.path()).unwrap();
    let worse = NightRow {
        coverage: 0.2,
        mnf_m3_per_h: 0.0,
        ..rows[4].clone()
    };
    assert!(
        !store.put(&worse).unwrap(),
        "a lower-coverage copy is not kept"
    );
    assert_eq!(store.nights(Some("Z-NORTH")).unwrap(), rows);
    let rises = store.rises(0).unwrap();
    assert_eq!(rises.len(), 1);
    assert_eq!(rises[0].night_start_ns, rows[4].start_ns);
    assert_eq!(rises[0].baseline_m3_per_h, 10.0);
}

/// The recorder on a real store and a real InfluxDB handoff (its queue read back): a night
/// seen again after a restart is written only when its row replaced the stored one.
#[test]
fn recorder_writes_a_night_to_influxdb_only_when_the_store_kept_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = NightFlowStore::open(dir.path()).unwrap();
    let metrics = std::sync::Arc::new(crate::metrics::Metrics::default());
    let spool =
        crate::sink::spool::Spool::open(&dir.path().join("spool"), 1 << 20, metrics).unwrap();
    let (out, mut queue) = tokio::sync::mpsc::channel(16);
    let influx = crate::sink::influx::batch::Handoff::new(
        out,
        std::sync::Arc::new(std::sync::Mutex::new(spool)),
    );
    let night = paris().of_date(date(2026, 6, 1)).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    // Seen in part (0.8), then whole after a restart (1.0), then in part again (0.9).
    for (coverage, mnf) in [(0.8, 12.0), (1.0, 10.0), (0.9, 5.0)] {
        tx.send(NightMnf {
            zone: "Z-NORTH".into(),
            night,
            mnf_m3_per_h: mnf,
            coverage,
        })
        .unwrap();
    }
    drop(tx);
    super::record::run(store, rx, NightFlowConfig::default(), influx);
    let mut lines = Vec::new();
    while let Ok(b) = queue.try_recv() {
        lines.push(String::from_utf8(b.data.to_vec()).unwrap());
    }
    let t = night.start_ns;
    assert_eq!(
        lines,
        [
            format!("zone_flow,zone=Z-NORTH min_night_flow_m3_per_h=12 {t}\n"),
            format!("zone_flow,zone=Z-NORTH min_night_flow_m3_per_h=10 {t}\n"),
        ]
    );
    let stored = NightFlowStore::open(dir.path())
        .unwrap()
        .nights(None)
        .unwrap();
    assert_eq!(
        stored
            .iter()
            .map(|r| (r.coverage, r.mnf_m3_per_h))
            .collect::<Vec<_>>(),
        [(1.0, 10.0)]
    );
}

/// The correlator's read creates nothing and finds the rises stored after its first call.
#[test]
fn rises_since_runs_no_ddl_and_sees_later_nights() {
    let dir = tempfile::tempdir().unwrap();
    let rises = super::store::rises_since(dir.path(), 0).unwrap();
    assert!(rises.is_empty());
    let db = dir.path().join(crate::alarm::store::FILE_NAME);
    let tables = |db: &std::path::Path| -> i64 {
        rusqlite::Connection::open(db)
            .unwrap()
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE name = 'night_flow'",
                [],
                |r| r.get(0),
            )
            .unwrap()
    };
    assert_eq!(tables(&db), 0, "no table created by a read");
    let store = NightFlowStore::open(dir.path()).unwrap();
    let night = paris().of_date(date(2026, 6, 2)).unwrap();
    let row = NightRow {
        zone: "Z-NORTH".into(),
        night: night.date.to_string(),
        start_ns: night.start_ns,
        end_ns: night.end_ns,
        mnf_m3_per_h: 14.0,
        coverage: 1.0,
        baseline_m3_per_h: Some(10.0),
        rising: true,
    };
    assert!(store.put(&row).unwrap());
    // The same (kept) connection sees the table made since.
    let rises = super::store::rises_since(dir.path(), 0).unwrap();
    assert_eq!(rises.len(), 1);
    assert_eq!(
        (rises[0].night_start_ns, rises[0].mnf_m3_per_h),
        (night.start_ns, 14.0)
    );
}
