//! Rule 2b: rising minimum night flow in the classification.

use super::tests::{DAY, H, alert, all, burst, class_of, oct1, october, zones};
use super::*;

/// A rise of `zone` on the night `oct1() + day` days, 02:00–04:00 UTC.
fn rise(zone: &str, day: i64) -> NightFlowRise {
    let start = oct1() + day * DAY + 2 * H;
    NightFlowRise {
        zone: zone.to_string(),
        night_start_ns: start,
        night_end_ns: start + 2 * H,
        mnf_m3_per_h: 14.0,
        baseline_m3_per_h: 9.5,
    }
}

fn run(alerts: &[StoredAlert], eps: &[AlarmEpisode], rises: &[NightFlowRise]) -> Classification {
    classify(
        alerts,
        eps,
        rises,
        &zones(),
        &ClassifyConfig::default(),
        oct1() + 60 * DAY,
    )
}

#[test]
fn several_alerts_and_rising_nights_are_one_leak_incident() {
    let alerts = october("N", "Z-NORTH", 4);
    let rises = [
        rise("Z-NORTH", 10),
        rise("Z-NORTH", 11),
        rise("Z-NORTH", 12),
    ];
    let c = run(&alerts, &[], &rises);
    // Not explained: a network leak does not raise customers' bills.
    assert!(all(&c, AlertClass::UnsupervisedCluster), "{c:?}");
    assert_eq!(
        c.incidents.len(),
        1,
        "consecutive nights are one event, and the alerts it links open no cluster incident"
    );
    let i = &c.incidents[0];
    assert_eq!(i.kind, IncidentKind::LeakSuspected);
    assert_eq!(i.key, format!("mnf:Z-NORTH:{}", rises[0].night_start_ns));
    assert_eq!(
        i.title,
        "Rising minimum night flow in zone Z-NORTH (leak suspected)"
    );
    assert_eq!(i.alert_ids, ["N-00", "N-01", "N-02", "N-03"]);
    assert!(i.alarm_ids.is_empty());
    assert_eq!(i.start_ns, rises[0].night_start_ns);
    assert!(i.reason.contains("3 nights"), "{}", i.reason);
    assert!(
        i.reason
            .contains("14.00 m³/h against a baseline of 9.50 m³/h")
    );
    assert!(i.reason.contains("engineers investigate"), "{}", i.reason);
    // The same whatever the order of the rises.
    let mut rev = rises.to_vec();
    rev.reverse();
    assert_eq!(run(&alerts, &[], &rev), c);
}

#[test]
fn a_rise_with_fewer_alerts_than_min_cluster_explains_nothing() {
    let alerts = october("N", "Z-NORTH", 2);
    let c = run(&alerts, &[], &[rise("Z-NORTH", 10)]);
    assert!(all(&c, AlertClass::CustomerSide));
    assert!(c.incidents.is_empty());
}

#[test]
fn a_rise_in_another_zone_or_far_in_time_does_not_count() {
    let alerts = october("N", "Z-NORTH", 3);
    // Z-SOUTH's rise, and Z-NORTH's own rise 60 days after the periods (beyond 48 h).
    let c = run(&alerts, &[], &[rise("Z-SOUTH", 10), rise("Z-NORTH", 100)]);
    assert!(all(&c, AlertClass::UnsupervisedCluster), "{c:?}");
    assert_eq!(c.incidents.len(), 1);
    assert_eq!(c.incidents[0].kind, IncidentKind::SuspectedNetworkAnomaly);
}

#[test]
fn a_rise_just_within_the_window_after_a_period_counts() {
    // N-00 ends on 31 October, N-01 and N-02 later: a night 26 h after N-00's end counts.
    let alerts = october("N", "Z-NORTH", 3);
    let c = run(&alerts, &[], &[rise("Z-NORTH", 31)]);
    assert!(all(&c, AlertClass::UnsupervisedCluster), "{c:?}");
    let kinds: Vec<IncidentKind> = c.incidents.iter().map(|i| i.kind).collect();
    assert_eq!(kinds, [IncidentKind::LeakSuspected]);
    assert!(c.incidents[0].alert_ids.contains(&"N-00".to_string()));
    // A night more than 48 h after N-00's end leaves it out, and the rise with it: the
    // three alerts are a plain cluster.
    let c = run(&alerts, &[], &[rise("Z-NORTH", 33)]);
    assert!(all(&c, AlertClass::UnsupervisedCluster), "{c:?}");
    let kinds: Vec<IncidentKind> = c.incidents.iter().map(|i| i.kind).collect();
    assert_eq!(kinds, [IncidentKind::SuspectedNetworkAnomaly]);
}

#[test]
fn alarms_and_a_rise_both_link_the_alerts() {
    let alerts = october("N", "Z-NORTH", 5);
    // The burst is on day 14 at 03:00, the rising night on day 15.
    let c = run(&alerts, &burst(), &[rise("Z-NORTH", 15)]);
    assert!(all(&c, AlertClass::ExplainedByNetworkEvent));
    let kinds: Vec<IncidentKind> = c.incidents.iter().map(|i| i.kind).collect();
    assert_eq!(
        kinds,
        [IncidentKind::NetworkEvent, IncidentKind::LeakSuspected]
    );
    assert_eq!(c.incidents[0].alert_ids, c.incidents[1].alert_ids);
    // Without the rise, the alarms alone give the same classes and only their incident.
    let without = run(&alerts, &burst(), &[]);
    assert_eq!(without.alerts, c.alerts);
    assert_eq!(without.incidents, c.incidents[..1]);
}

#[test]
fn a_rise_leaves_alerts_explained_by_alarms_explained_and_flags_the_others() {
    // N-00..N-02 over October, explained by the burst of day 14; M-00 and M-01 from day 32,
    // after it. The rising night of day 31 overlaps all five.
    let mut alerts = october("N", "Z-NORTH", 3);
    for n in 0..2 {
        let start = oct1() + 32 * DAY;
        let id = format!("M-{n:02}");
        alerts.push(alert(&id, "Z-NORTH", start, start + 30 * DAY, start));
    }
    let c = run(&alerts, &burst(), &[rise("Z-NORTH", 31)]);
    for id in ["N-00", "N-01", "N-02"] {
        assert_eq!(
            class_of(&c, id),
            AlertClass::ExplainedByNetworkEvent,
            "{id}"
        );
    }
    for id in ["M-00", "M-01"] {
        assert_eq!(class_of(&c, id), AlertClass::UnsupervisedCluster, "{id}");
    }
    let kinds: Vec<IncidentKind> = c.incidents.iter().map(|i| i.kind).collect();
    assert_eq!(
        kinds,
        [IncidentKind::NetworkEvent, IncidentKind::LeakSuspected]
    );
    assert_eq!(c.incidents[0].alert_ids, ["N-00", "N-01", "N-02"]);
    assert_eq!(
        c.incidents[1].alert_ids,
        ["M-00", "M-01", "N-00", "N-01", "N-02"]
    );
}
