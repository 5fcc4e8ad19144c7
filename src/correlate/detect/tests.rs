use super::*;

fn d(s: &str) -> Date {
    s.parse().unwrap()
}

/// A water row of customer C-1 on meter `meter`, zone DMA-1.
fn row(line: u64, meter: &str, start: &str, end: &str, m3: f64) -> Row {
    Row {
        line,
        customer_ref: "C-1".into(),
        meter_id: meter.into(),
        utility: Utility::Water,
        zone: "DMA-1".into(),
        period_start: d(start),
        period_end: d(end),
        consumption: m3,
        unit: "m3".into(),
    }
}

fn zones() -> Vec<ZoneConfig> {
    let z = |id: &str, utility| ZoneConfig::new(id, utility);
    vec![z("DMA-1", Utility::Water), z("FA-1", Utility::Electricity)]
}

fn only_evaluation(report: &DetectReport, line: u64) -> &Evaluation {
    let e: Vec<_> = report
        .evaluations
        .iter()
        .filter(|e| e.row.line == line)
        .collect();
    assert_eq!(e.len(), 1, "{report:#?}");
    e[0]
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn shifting_keeps_calendar_dates_and_moves_29_february_to_1_march() {
    assert_eq!(shift_years(d("2024-02-01"), 1), Some(d("2023-02-01")));
    assert_eq!(shift_years(d("2024-02-29"), 1), Some(d("2023-03-01")));
    assert_eq!(shift_years(d("2024-02-29"), 4), Some(d("2020-02-29")));
    assert_eq!(shift_years(d("2025-03-01"), 1), Some(d("2024-03-01")));
}

#[test]
fn leap_february_is_compared_by_daily_average() {
    // 1 m³/day in February 2023 (28 days) and 2024 (29 days): normal, reference 29 m³.
    let rows = [
        row(2, "W1", "2023-02-01", "2023-03-01", 28.0),
        row(3, "W1", "2024-02-01", "2024-03-01", 29.0),
    ];
    let report = detect(&rows, &DetectConfig::default());
    let e = only_evaluation(&report, 3);
    assert!(close(e.reference_consumption, 29.0), "{e:?}");
    assert!(!e.abnormal);
    assert!(close(e.ratio(), 1.0));
    assert_eq!(report.no_reference.len(), 1); // February 2023 itself
    assert!(report.rejected.is_empty());

    // 80 m³ in February 2024: far above 29 m³.
    let rows = [
        rows[0].clone(),
        row(3, "W1", "2024-02-01", "2024-03-01", 80.0),
    ];
    let report = detect(&rows, &DetectConfig::default());
    let alerts = report.alerts();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].alert_id, "csv:water:W1:2024-02-01:2024-03-01");
    assert_eq!(alerts[0].reference_consumption, 29.0);
    assert_eq!(alerts[0].period_end, "2024-03-01");
}

#[test]
fn a_period_bounded_by_29_february_maps_to_1_march() {
    // 2024-01-01..2024-02-29 is January and 1..28 February: 2023-01-01..2023-03-01.
    let rows = [
        row(2, "W1", "2023-01-01", "2023-02-01", 31.0),
        row(3, "W1", "2023-02-01", "2023-03-01", 28.0),
        row(4, "W1", "2024-01-01", "2024-02-29", 59.0),
        row(5, "W1", "2024-02-29", "2024-03-01", 1.0),
    ];
    let report = detect(&rows, &DetectConfig::default());
    assert!(close(
        only_evaluation(&report, 4).reference_consumption,
        59.0
    ));
    // 29 February alone has no equivalent in 2023.
    let n = report.no_reference.iter().find(|n| n.line == 5).unwrap();
    assert_eq!(n.missing, Missing::NoEquivalentDay { years_back: 1 });
}

#[test]
fn unequal_periods_are_compared_by_weighted_daily_average() {
    // 2023 monthly: January 1 m³/day, February 2 m³/day; 2024 bimonthly January-February.
    let rows = [
        row(2, "W1", "2023-01-01", "2023-02-01", 31.0),
        row(3, "W1", "2023-02-01", "2023-03-01", 56.0),
        row(4, "W1", "2024-01-01", "2024-03-01", 90.0),
    ];
    let report = detect(&rows, &DetectConfig::default());
    let e = only_evaluation(&report, 4);
    // (31 + 56) m³ over the 59 days of 2023, × the 60 days of 2024.
    assert!(close(e.reference_consumption, 87.0 / 59.0 * 60.0), "{e:?}");
    assert!(!e.abnormal);

    // The other way: a bimonthly 2023 period split into two monthly 2024 ones.
    let rows = [
        row(2, "W1", "2023-03-01", "2023-05-01", 61.0),
        row(3, "W1", "2024-03-01", "2024-04-01", 31.0),
        row(4, "W1", "2024-04-01", "2024-05-01", 95.0),
    ];
    let report = detect(&rows, &DetectConfig::default());
    assert!(close(
        only_evaluation(&report, 3).reference_consumption,
        31.0
    ));
    let e = only_evaluation(&report, 4);
    assert!(close(e.reference_consumption, 30.0));
    assert!(e.abnormal, "95 m³ against 30 m³");
}

#[test]
fn three_year_average_with_ratio_two_is_the_french_rule() {
    let config = DetectConfig {
        years: 3,
        ..DetectConfig::default()
    };
    let history = [
        row(2, "W1", "2021-06-01", "2021-07-01", 10.0),
        row(3, "W1", "2022-06-01", "2022-07-01", 20.0),
        row(4, "W1", "2023-06-01", "2023-07-01", 30.0),
    ];
    // Average 20 m³: 40 m³ is double, not more; 41 m³ exceeds double.
    for (m3, abnormal) in [(40.0, false), (41.0, true)] {
        let mut rows = history.to_vec();
        rows.push(row(5, "W1", "2024-06-01", "2024-07-01", m3));
        let report = detect(&rows, &config);
        let e = only_evaluation(&report, 5);
        assert!(close(e.reference_consumption, 20.0), "{e:?}");
        assert_eq!(e.abnormal, abnormal, "{m3} m³");
    }
    // With one year only, 41 m³ against 30 m³ is normal.
    let mut rows = history.to_vec();
    rows.push(row(5, "W1", "2024-06-01", "2024-07-01", 41.0));
    assert!(!only_evaluation(&detect(&rows, &DetectConfig::default()), 5).abnormal);
    // Two previous years only: no reference under the three-year rule.
    let report = detect(&rows[1..], &config);
    assert!(report.evaluations.is_empty());
    let n = report.no_reference.iter().find(|n| n.line == 5).unwrap();
    assert_eq!(n.missing.years_back(), 3);
}

#[test]
fn a_small_excess_is_not_an_alert() {
    // 2 m³ against 1 m³, even with a lower ratio: the excess is under 5 m³.
    let config = DetectConfig {
        ratio: 1.5,
        ..DetectConfig::default()
    };
    let rows = [
        row(2, "W1", "2023-06-01", "2023-07-01", 1.0),
        row(3, "W1", "2024-06-01", "2024-07-01", 2.0),
    ];
    assert!(!only_evaluation(&detect(&rows, &config), 3).abnormal);
    // Three times the reference, 2 m³ more: still not.
    let rows = [
        rows[0].clone(),
        row(3, "W1", "2024-06-01", "2024-07-01", 3.0),
    ];
    assert!(!only_evaluation(&detect(&rows, &DetectConfig::default()), 3).abnormal);
    // With a 1 m³ minimum it is.
    let mut config = DetectConfig::default();
    config.set_min_excess("1m3".parse().unwrap());
    assert!(only_evaluation(&detect(&rows, &config), 3).abnormal);
    // An exact 5 m³ excess, given in litres, is enough.
    let mut litres = row(3, "W1", "2024-06-01", "2024-07-01", 6000.0);
    litres.unit = "L".into();
    let report = detect(&[rows[0].clone(), litres], &DetectConfig::default());
    let e = only_evaluation(&report, 3);
    assert!(e.abnormal);
    assert!(
        close(e.reference_consumption, 1000.0),
        "in the row's unit: {e:?}"
    );
}

#[test]
fn electricity_uses_its_own_minimum_and_converts_units() {
    let mut before = row(2, "E1", "2023-01-01", "2023-02-01", 0.4);
    before.utility = Utility::Electricity;
    before.unit = "MWh".into();
    before.zone = "FA-1".into();
    let mut now = before.clone();
    now.line = 3;
    now.period_start = d("2024-01-01");
    now.period_end = d("2024-02-01");
    now.unit = "kWh".into();
    for (kwh, abnormal) in [(850.0, false), (1300.0, true)] {
        now.consumption = kwh;
        let report = detect(&[before.clone(), now.clone()], &DetectConfig::default());
        let e = only_evaluation(&report, 3);
        assert!(close(e.reference_consumption, 400.0));
        assert_eq!(e.abnormal, abnormal, "{kwh} kWh against 400 kWh");
    }
    assert_eq!(
        only_evaluation(&detect(&[before, now], &DetectConfig::default()), 3).alert_id(),
        "csv:electricity:E1:2024-01-01:2024-02-01"
    );
}

#[test]
fn periods_without_reference_are_reported_not_guessed() {
    let mut new_customer = row(5, "W2", "2024-03-01", "2024-04-01", 90.0);
    new_customer.customer_ref = "C-2".into();
    let rows = [
        // W1: a gap in 2023 (no 15..31 March).
        row(2, "W1", "2023-03-01", "2023-03-15", 14.0),
        row(3, "W1", "2024-03-01", "2024-04-01", 90.0),
        // W2: the meter changed hands.
        row(4, "W2", "2023-03-01", "2023-04-01", 31.0),
        new_customer,
        // W3: only 2024.
        row(6, "W3", "2024-03-01", "2024-04-01", 90.0),
    ];
    let report = detect(&rows, &DetectConfig::default());
    assert!(report.evaluations.is_empty(), "{report:#?}");
    let missing = |line| {
        report
            .no_reference
            .iter()
            .find(|n| n.line == line)
            .map(|n| n.missing.clone())
    };
    assert_eq!(
        missing(3),
        Some(Missing::Partial {
            years_back: 1,
            start: d("2023-03-01"),
            end: d("2023-04-01"),
            covered_days: 14,
            days: 31
        })
    );
    assert!(matches!(missing(5), Some(Missing::OtherCustomer { .. })));
    assert!(matches!(missing(6), Some(Missing::NoReading { .. })));
    assert_eq!(report.no_reference.len(), 5);
}

#[test]
fn repeated_and_overlapping_periods_are_rejected() {
    let rows = [
        row(2, "W1", "2023-01-01", "2023-02-01", 31.0),
        row(3, "W1", "2023-01-01", "2023-02-01", 31.0), // an identical copy
        row(4, "W1", "2024-01-01", "2024-02-01", 100.0),
        row(5, "W1", "2024-01-01", "2024-02-01", 30.0), // same period, other value
        row(6, "W2", "2023-01-01", "2023-03-01", 59.0),
        row(7, "W2", "2023-02-15", "2023-04-01", 45.0), // overlaps line 6
        row(8, "W2", "2024-01-01", "2024-02-01", 95.0),
    ];
    let report = detect(&rows, &DetectConfig::default());
    let lines: Vec<u64> = report.rejected.iter().map(|r| r.line).collect();
    assert_eq!(lines, [3, 4, 5, 6, 7], "{:#?}", report.rejected);
    assert!(report.rejected[0].reason.contains("repeats line 2"));
    assert!(report.rejected[1].reason.contains("also on line 5"));
    assert!(
        report.rejected[3]
            .reason
            .contains("overlaps 2023-02-15..2023-04-01 on line 7")
    );
    // Line 2 is kept and has no reference; line 8 lost its reference with line 6.
    assert!(report.evaluations.is_empty());
    assert!(report.no_reference.iter().any(|n| n.line == 2));
    assert!(report.no_reference.iter().any(|n| n.line == 8));
}

#[test]
fn periods_longer_than_a_year_do_not_use_their_own_days() {
    let rows = [
        row(2, "W1", "2022-12-25", "2024-01-04", 375.0),
        row(3, "W1", "2024-01-04", "2025-01-08", 370.0),
    ];
    let report = detect(&rows, &DetectConfig::default());
    // Window 2023-01-04..2024-01-04 (cut at 2024-01-04, 365 days): 1 m³/day.
    assert!(close(
        only_evaluation(&report, 3).reference_consumption,
        370.0
    ));
}

#[test]
fn the_file_is_read_row_by_row_with_reasons() {
    let csv = "\u{feff}customer_ref,meter_id,utility,zone,period_start,period_end,consumption,unit,comment
C-1,W1,water,DMA-1,2023-02-01,2023-03-01,28,m3,
C-1,W1,water,DMA-1,2024-02-01,2024-03-01,80,m3,leak
C-1,W2,water,DMA-1,2024-02-30,2024-03-01,1,m3,
C-1,W3,water,DMA-1,2024-02-01,2024-03-01,-1,m3,
C-1,W4,water,DMA-9,2024-02-01,2024-03-01,1,m3,
C-1,W5,water,DMA-1,2024-02-01,2024-03-01,1,kWh,
C-1,W6,water,FA-1,2024-03-01,2024-02-01,1,m3,
C-1,W7,gas,DMA-1,01/02/2024,2024-03-01,x,m3,
C-1,W8,water,DMA-1
C-1,E1,electricity,FA-1,2024-02-01,2024-03-01,1.5,MWh,
";
    let report = import(csv.as_bytes(), &zones(), &DetectConfig::default()).unwrap();
    assert_eq!(report.rows_read, 10);
    let rejected: Vec<(u64, &str)> = report
        .rejected
        .iter()
        .map(|r| (r.line, r.reason.as_str()))
        .collect();
    assert_eq!(rejected.len(), 7, "{rejected:#?}");
    assert_eq!(
        rejected[0],
        (4, "period_start: \"2024-02-30\" is not a calendar date")
    );
    assert_eq!(
        rejected[1],
        (5, "consumption: \"-1\" is not a number, 0 or more")
    );
    assert_eq!(
        rejected[2],
        (6, "zone: no zone \"DMA-9\" in vigie's configuration")
    );
    assert_eq!(
        rejected[3],
        (7, "unit: \"kWh\" is not a water unit; use m3 or L")
    );
    assert_eq!(
        rejected[4],
        (
            8,
            "zone: \"FA-1\" distributes electricity, not water; period_end: 2024-02-01 is not after period_start 2024-03-01"
        )
    );
    assert_eq!(rejected[5].0, 9);
    assert!(rejected[5].1.contains("utility: \"gas\""));
    assert!(
        rejected[5]
            .1
            .contains("period_start: \"01/02/2024\" is not a date YYYY-MM-DD")
    );
    assert!(rejected[5].1.contains("consumption: \"x\""));
    assert_eq!(rejected[6].0, 10);
    assert!(rejected[6].1.contains("4 fields where the header has 9"));
    assert_eq!(report.alerts().len(), 1);
    assert_eq!(report.no_reference.len(), 2);
    let parsed = read_csv(csv.as_bytes(), &zones()).unwrap();
    assert_eq!(parsed.ignored_columns, ["comment"]);
}

#[test]
fn semicolon_files_use_decimal_commas() {
    let csv = "meter_id;customer_ref;utility;zone;period_start;period_end;consumption;unit
W1;C-1;water;DMA-1;2023-05-01;2023-06-01;3,5;m3
W1;C-1;water;DMA-1;2024-05-01;2024-06-01;12,25;m3
";
    let report = import(csv.as_bytes(), &zones(), &DetectConfig::default()).unwrap();
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    let e = only_evaluation(&report, 3);
    assert_eq!(e.row.consumption, 12.25);
    assert!(close(e.reference_consumption, 3.5));
    assert!(e.abnormal);
}

#[test]
fn a_file_without_its_header_is_not_read() {
    let data = "C-1,W1,water,DMA-1,2023-05-01,2023-06-01,3.5,m3\n";
    let e = import(data.as_bytes(), &zones(), &DetectConfig::default()).unwrap_err();
    assert!(matches!(e, DetectError::MissingColumns { .. }), "{e}");
    assert!(e.to_string().contains("customer_ref, meter_id"), "{e}");
    assert!(matches!(
        import(b"", &zones(), &DetectConfig::default()),
        Err(DetectError::Empty)
    ));
    let twice =
        "customer_ref,meter_id,meter_id,utility,zone,period_start,period_end,consumption,unit\n";
    assert!(matches!(
        import(twice.as_bytes(), &zones(), &DetectConfig::default()),
        Err(DetectError::DuplicateColumn(_))
    ));
}

#[test]
fn settings_are_checked() {
    let bad = [
        DetectConfig {
            ratio: 0.5,
            ..DetectConfig::default()
        },
        DetectConfig {
            ratio: f64::NAN,
            ..DetectConfig::default()
        },
        DetectConfig {
            years: 0,
            ..DetectConfig::default()
        },
        DetectConfig {
            min_excess_kwh: -1.0,
            ..DetectConfig::default()
        },
    ];
    for c in bad {
        assert!(c.validate().is_err(), "{c:?}");
    }
    assert!(DetectConfig::default().validate().is_ok());
    let m: MinExcess = "0.3MWh".parse().unwrap();
    assert_eq!(m.utility, Some(Utility::Electricity));
    assert!(close(m.base, 300.0));
    let m: MinExcess = "8000L".parse().unwrap();
    assert!(close(m.base, 8.0));
    assert_eq!("7".parse::<MinExcess>().unwrap().utility, None);
    assert!("5 gallons".parse::<MinExcess>().is_err());
    assert!("-5m3".parse::<MinExcess>().is_err());
}
