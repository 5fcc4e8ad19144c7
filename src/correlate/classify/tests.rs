use super::*;
use crate::config::Utility;
use crate::correlate::alerts::ConsumptionAlert;
use proptest::prelude::*;

pub(super) const H: i64 = 3_600_000_000_000;
pub(super) const DAY: i64 = 24 * H;
const W: i64 = 48 * H;

/// 2026-10-01T00:00:00Z.
pub(super) fn oct1() -> i64 {
    parse_period("2026-10-01").unwrap()
}

fn day(ns: i64) -> String {
    jiff::Timestamp::from_nanosecond(i128::from(ns))
        .unwrap()
        .to_string()
}

pub(super) fn alert(id: &str, zone: &str, start: i64, end: i64, received_ns: i64) -> StoredAlert {
    StoredAlert {
        alert: ConsumptionAlert {
            alert_id: id.to_string(),
            customer_ref: format!("C-{id}"),
            meter_id: format!("M-{id}"),
            utility: Utility::Water,
            zone: zone.to_string(),
            period_start: day(start),
            period_end: day(end),
            consumption: 40.0,
            reference_consumption: 12.0,
            unit: "m3".to_string(),
        },
        received_ns,
        classification: None,
        seq: received_ns,
    }
}

fn episode(
    site: &str,
    condition: &str,
    priority: Priority,
    start_ns: i64,
    end_ns: Option<i64>,
) -> AlarmEpisode {
    AlarmEpisode {
        alarm_id: format!("{site}:PT-101:pressure_bar:{condition}"),
        site: site.to_string(),
        condition: condition.to_string(),
        device: "PT-101".to_string(),
        point: Some("pressure_bar".to_string()),
        priority,
        start_ns,
        end_ns,
    }
}

fn zone(id: &str, fed_by: &[&str]) -> ZoneConfig {
    ZoneConfig {
        fed_by: fed_by.iter().map(|s| s.to_string()).collect(),
        ..ZoneConfig::new(id, Utility::Water)
    }
}

pub(super) fn zones() -> Vec<ZoneConfig> {
    vec![
        zone("Z-NORTH", &["PS-01"]),
        zone("Z-SOUTH", &["PS-02"]),
        zone("Z-QUIET", &["RES-09"]),
    ]
}

/// `n` alerts in `zone`, October billing periods shifted by a few days each.
pub(super) fn october(prefix: &str, zone: &str, n: usize) -> Vec<StoredAlert> {
    (0..n)
        .map(|i| {
            let s = oct1() + (i as i64 % 5) * DAY;
            alert(
                &format!("{prefix}-{i:02}"),
                zone,
                s,
                s + 30 * DAY,
                1000 + i as i64,
            )
        })
        .collect()
}

pub(super) fn class_of(c: &Classification, id: &str) -> AlertClass {
    c.alerts
        .iter()
        .find(|(a, _)| a == id)
        .map(|(_, k)| *k)
        .unwrap_or_else(|| panic!("{id} not classified"))
}

pub(super) fn all(c: &Classification, class: AlertClass) -> bool {
    c.alerts.iter().all(|(_, k)| *k == class)
}

fn run(alerts: &[StoredAlert], episodes: &[AlarmEpisode]) -> Classification {
    classify(
        alerts,
        episodes,
        &[],
        &zones(),
        &ClassifyConfig::default(),
        oct1() + 60 * DAY,
    )
}

pub(super) fn burst() -> Vec<AlarmEpisode> {
    let t = oct1() + 14 * DAY + 3 * H;
    vec![
        episode(
            "PS-01",
            "rate_of_change",
            Priority::Critical,
            t,
            Some(t + 120_000_000_000),
        ),
        episode(
            "PS-01",
            "low_low",
            Priority::Critical,
            t + 30_000_000_000,
            Some(t + 4 * H),
        ),
    ]
}

#[test]
fn a_burst_explains_its_zones_twenty_alerts_in_one_incident() {
    let alerts = october("N", "Z-NORTH", 20);
    let c = run(&alerts, &burst());
    assert_eq!(c.alerts.len(), 20);
    assert!(all(&c, AlertClass::ExplainedByNetworkEvent));
    assert_eq!(c.incidents.len(), 1);
    let i = &c.incidents[0];
    assert_eq!(i.kind, IncidentKind::NetworkEvent);
    assert_eq!(i.zone, "Z-NORTH");
    assert_eq!(
        i.alarm_ids,
        [
            "PS-01:PT-101:pressure_bar:low_low",
            "PS-01:PT-101:pressure_bar:rate_of_change"
        ]
    );
    assert_eq!(i.alert_ids.len(), 20);
    assert_eq!(i.sites, ["PS-01"]);
    let t = oct1() + 14 * DAY + 3 * H;
    assert_eq!(i.start_ns, t);
    assert_eq!(
        i.key,
        format!("net:Z-NORTH:PS-01:PT-101:pressure_bar:rate_of_change:{t}")
    );
    assert!(i.reason.contains("20 consumption alerts"), "{}", i.reason);
    assert!(i.reason.contains("within 48h"), "{}", i.reason);
    assert!(i.reason.contains("2026-10-15T03:00:00Z"), "{}", i.reason);
    assert!(c.skipped.is_empty());
}

#[test]
fn a_lone_alert_in_a_quiet_zone_is_customer_side() {
    let alerts = vec![alert("Q-1", "Z-QUIET", oct1(), oct1() + 30 * DAY, 1)];
    let c = run(&alerts, &burst());
    assert_eq!(c.alerts, [("Q-1".to_string(), AlertClass::CustomerSide)]);
    assert!(c.incidents.is_empty());
}

#[test]
fn five_alerts_and_no_alarm_are_a_suspected_anomaly() {
    let alerts = october("S", "Z-SOUTH", 5);
    let c = run(&alerts, &[]);
    assert!(all(&c, AlertClass::UnsupervisedCluster));
    assert_eq!(c.incidents.len(), 1);
    let i = &c.incidents[0];
    assert_eq!(i.kind, IncidentKind::SuspectedNetworkAnomaly);
    assert_eq!(i.title, "Suspected network anomaly in zone Z-SOUTH");
    assert_eq!(i.key, "cluster:Z-SOUTH:S-00");
    assert_eq!(i.alert_ids, ["S-00", "S-01", "S-02", "S-03", "S-04"]);
    assert!(i.alarm_ids.is_empty());
    assert_eq!(i.start_ns, oct1());
    assert!(i.reason.contains("(PS-02)"), "{}", i.reason);
}

#[test]
fn the_cluster_key_names_the_earliest_received_alert() {
    let mut alerts = october("S", "Z-SOUTH", 5);
    // Received later, period earlier: the key does not move when it arrives.
    alerts.push(alert(
        "A-LATE",
        "Z-SOUTH",
        oct1() - 3 * DAY,
        oct1() + DAY,
        9_999,
    ));
    let c = run(&alerts, &[]);
    assert_eq!(c.incidents.len(), 1);
    assert_eq!(c.incidents[0].key, "cluster:Z-SOUTH:S-00");
    assert_eq!(c.incidents[0].start_ns, oct1() - 3 * DAY);
}

#[test]
fn an_alarm_on_a_site_that_does_not_feed_the_zone_explains_nothing() {
    let mut alerts = october("S", "Z-SOUTH", 5);
    alerts.push(alert("Q-1", "Z-QUIET", oct1(), oct1() + 30 * DAY, 1));
    // The burst is on PS-01, which feeds Z-NORTH only.
    let c = run(&alerts, &burst());
    assert_eq!(class_of(&c, "Q-1"), AlertClass::CustomerSide);
    for i in 0..5 {
        assert_eq!(
            class_of(&c, &format!("S-{i:02}")),
            AlertClass::UnsupervisedCluster
        );
    }
    assert_eq!(c.incidents.len(), 1);
    assert_eq!(c.incidents[0].kind, IncidentKind::SuspectedNetworkAnomaly);
}

#[test]
fn comm_failure_and_stale_are_not_network_alarms() {
    let alerts = october("N", "Z-NORTH", 5);
    let t = oct1() + 10 * DAY;
    let mut eps = vec![
        episode("PS-01", "comm_failure", Priority::Critical, t, Some(t + H)),
        episode("PS-01", "stale", Priority::Critical, t, None),
    ];
    eps[0].point = None;
    let c = run(&alerts, &eps);
    assert!(all(&c, AlertClass::UnsupervisedCluster));
    assert_eq!(c.incidents.len(), 1);
    assert_eq!(c.incidents[0].kind, IncidentKind::SuspectedNetworkAnomaly);
}

#[test]
fn alarms_below_min_priority_do_not_count() {
    let alerts = october("N", "Z-NORTH", 5);
    let t = oct1() + 10 * DAY;
    let eps = [
        episode("PS-01", "low", Priority::Medium, t, Some(t + H)),
        episode("PS-01", "high", Priority::Low, t, Some(t + H)),
    ];
    let c = run(&alerts, &eps);
    assert!(all(&c, AlertClass::UnsupervisedCluster));
    // With min_priority = low they do.
    let cfg = ClassifyConfig {
        min_priority: Priority::Low,
        ..ClassifyConfig::default()
    };
    let c = classify(&alerts, &eps, &[], &zones(), &cfg, oct1() + 60 * DAY);
    assert!(all(&c, AlertClass::ExplainedByNetworkEvent));
    assert_eq!(c.incidents.len(), 1);
    assert!(c.incidents[0].reason.contains("priority low or above"));
}

#[test]
fn two_alerts_with_an_alarm_are_customer_side_and_no_incident() {
    let alerts = october("N", "Z-NORTH", 2);
    let c = run(&alerts, &burst());
    assert!(all(&c, AlertClass::CustomerSide));
    assert!(c.incidents.is_empty());
}

#[test]
fn a_cluster_touched_by_a_weak_event_names_it() {
    // Two alerts overlap the burst; three more, chained to them within the window but
    // after it, do not: five unexplained alerts form a cluster, whose reason names the
    // alarms that overlapped two of them.
    let t = oct1() + 14 * DAY + 3 * H;
    let mut alerts = vec![
        alert("A", "Z-NORTH", t - 30 * DAY, t + DAY, 1),
        alert("B", "Z-NORTH", t - 30 * DAY, t + DAY, 2),
    ];
    for (i, id) in ["C", "D", "E"].iter().enumerate() {
        let s = t + 3 * DAY + i as i64 * DAY;
        alerts.push(alert(id, "Z-NORTH", s, s + 30 * DAY, 3 + i as i64));
    }
    let c = run(&alerts, &burst());
    assert!(all(&c, AlertClass::UnsupervisedCluster), "{c:?}");
    assert_eq!(c.incidents.len(), 1);
    let i = &c.incidents[0];
    assert_eq!(i.key, "cluster:Z-NORTH:A");
    assert!(
        i.reason
            .contains("PS-01:PT-101:pressure_bar:low_low (critical, once, from")
            && i.reason.contains("overlapped only 2 of them"),
        "{}",
        i.reason
    );
}

#[test]
fn an_alert_of_an_unconfigured_zone_is_customer_side_only() {
    let alerts = october("X", "Z-GONE", 5);
    let c = run(&alerts, &burst());
    assert!(all(&c, AlertClass::CustomerSide));
    assert_eq!(c.alerts.len(), 5);
    assert!(c.incidents.is_empty());
}

#[test]
fn unreadable_periods_are_skipped_with_the_reason() {
    let mut a = alert("BAD", "Z-NORTH", oct1(), oct1() + DAY, 1);
    a.alert.period_start = "yesterday".to_string();
    let mut b = alert("EMPTY", "Z-NORTH", oct1(), oct1() + DAY, 2);
    b.alert.period_end = b.alert.period_start.clone();
    let c = run(&[a, b], &[]);
    assert!(c.alerts.is_empty());
    assert_eq!(c.skipped.len(), 2);
    assert_eq!(c.skipped[0].alert_id, "BAD");
    assert!(matches!(c.skipped[0].error, AlertPeriodError::Start(_)));
    assert!(matches!(c.skipped[1].error, AlertPeriodError::Empty { .. }));
    assert!(c.skipped[1].error.to_string().contains("is not after"));
}

#[test]
fn a_repeated_alert_counts_once() {
    let mut alerts = october("N", "Z-NORTH", 2);
    alerts.push(alerts[0].clone());
    alerts.push(alerts[1].clone());
    let c = run(&alerts, &burst());
    assert_eq!(c.alerts.len(), 2);
    assert!(all(&c, AlertClass::CustomerSide));
    assert!(c.incidents.is_empty());
}

#[test]
fn duplicate_zones_merge_their_feeding_sites() {
    let alerts = october("N", "Z-NORTH", 3);
    let zs = [zone("Z-NORTH", &["PS-07"]), zone("Z-NORTH", &["PS-01"])];
    let c = classify(
        &alerts,
        &burst(),
        &[],
        &zs,
        &ClassifyConfig::default(),
        oct1() + 60 * DAY,
    );
    assert!(all(&c, AlertClass::ExplainedByNetworkEvent));
}

/// Three alerts with period [s, e) and one critical `low_low` episode.
fn edge(s: i64, e: i64, ep_start: i64, ep_end: Option<i64>, now: i64) -> Classification {
    let alerts: Vec<_> = (0..3)
        .map(|i| alert(&format!("E-{i}"), "Z-NORTH", s, e, i))
        .collect();
    let eps = [episode(
        "PS-01",
        "low_low",
        Priority::Critical,
        ep_start,
        ep_end,
    )];
    classify(
        &alerts,
        &eps,
        &[],
        &zones(),
        &ClassifyConfig::default(),
        now,
    )
}

#[test]
fn window_edges_are_included() {
    let (s, e) = (oct1(), oct1() + 30 * DAY);
    let now = e + 100 * DAY;
    let explained = |c: &Classification| all(c, AlertClass::ExplainedByNetworkEvent);
    // Starting exactly `window` after the period's end: in; a nanosecond later: out.
    assert!(explained(&edge(s, e, e + W, Some(e + W + H), now)));
    assert!(!explained(&edge(s, e, e + W + 1, Some(e + W + H), now)));
    // Ending exactly `window` before the period's start: in; a nanosecond earlier: out.
    assert!(explained(&edge(s, e, s - W - H, Some(s - W), now)));
    assert!(!explained(&edge(s, e, s - W - H, Some(s - W - 1), now)));
    // Started long before and held through the period: in.
    assert!(explained(&edge(s, e, s - 20 * DAY, Some(s + DAY), now)));
    // Still active: lasts until now.
    assert!(explained(&edge(s, e, s - 20 * DAY, None, s - W)));
    assert!(!explained(&edge(s, e, s - 20 * DAY, None, s - W - 1)));
    // Out-of-window alerts fall back to the cluster rule (3 alerts, same period).
    assert!(all(
        &edge(s, e, e + W + 1, None, now),
        AlertClass::UnsupervisedCluster
    ));
}

#[test]
fn cluster_edges_are_included() {
    // Chained periods, each starting exactly `window` after the previous one's end.
    let chain = |gap: i64| {
        let alerts: Vec<_> = (0..3)
            .map(|i| {
                let s = oct1() + i * (10 * DAY + gap);
                alert(&format!("K-{i}"), "Z-SOUTH", s, s + 10 * DAY, i)
            })
            .collect();
        run(&alerts, &[])
    };
    assert!(all(&chain(W), AlertClass::UnsupervisedCluster));
    assert!(all(&chain(W + 1), AlertClass::CustomerSide));
}

#[test]
fn episodes_more_than_a_window_apart_are_two_events() {
    // Three alerts in October, three in December; one burst each, far apart.
    let mut alerts = october("N", "Z-NORTH", 3);
    let dec = oct1() + 61 * DAY;
    for i in 0..3 {
        alerts.push(alert(
            &format!("D-{i}"),
            "Z-NORTH",
            dec,
            dec + 30 * DAY,
            50 + i,
        ));
    }
    let t1 = oct1() + 10 * DAY;
    let t2 = dec + 10 * DAY;
    let eps = [
        episode("PS-01", "low_low", Priority::Critical, t1, Some(t1 + H)),
        episode("PS-01", "low_low", Priority::Critical, t2, Some(t2 + H)),
    ];
    let c = classify(
        &alerts,
        &eps,
        &[],
        &zones(),
        &ClassifyConfig::default(),
        dec + 60 * DAY,
    );
    assert!(all(&c, AlertClass::ExplainedByNetworkEvent));
    assert_eq!(c.incidents.len(), 2);
    assert_eq!(c.incidents[0].alert_ids, ["N-00", "N-01", "N-02"]);
    assert_eq!(c.incidents[1].alert_ids, ["D-0", "D-1", "D-2"]);
    assert_ne!(c.incidents[0].key, c.incidents[1].key);

    // Within the window of each other: one event, linking both episodes.
    let eps = [
        episode("PS-01", "low_low", Priority::Critical, t1, Some(t1 + H)),
        episode(
            "PS-01",
            "low",
            Priority::High,
            t1 + H + W,
            Some(t1 + 2 * H + W),
        ),
    ];
    let c = run(&october("N", "Z-NORTH", 3), &eps);
    assert_eq!(c.incidents.len(), 1);
    assert_eq!(c.incidents[0].alarm_ids.len(), 2);
}

#[test]
fn one_alarm_feeding_two_zones_makes_one_incident_per_zone() {
    let zs = [zone("Z-A", &["PS-01"]), zone("Z-B", &["PS-01", "PS-02"])];
    let mut alerts = october("A", "Z-A", 3);
    alerts.extend(october("B", "Z-B", 3));
    let c = classify(
        &alerts,
        &burst(),
        &[],
        &zs,
        &ClassifyConfig::default(),
        oct1() + 60 * DAY,
    );
    assert!(all(&c, AlertClass::ExplainedByNetworkEvent));
    let keys: Vec<_> = c.incidents.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(keys.len(), 2);
    assert!(keys[0].starts_with("net:Z-A:") && keys[1].starts_with("net:Z-B:"));
}

#[test]
fn the_same_input_in_any_order_gives_the_same_output() {
    let mut alerts = october("N", "Z-NORTH", 20);
    alerts.extend(october("S", "Z-SOUTH", 5));
    alerts.push(alert("Q-1", "Z-QUIET", oct1(), oct1() + 30 * DAY, 1));
    let mut eps = burst();
    eps.push(episode(
        "PS-02",
        "comm_failure",
        Priority::High,
        oct1(),
        None,
    ));
    let mut zs = zones();
    let now = oct1() + 60 * DAY;
    let cfg = ClassifyConfig::default();
    let first = classify(&alerts, &eps, &[], &zs, &cfg, now);
    for _ in 0..3 {
        alerts.reverse();
        alerts.rotate_left(7);
        eps.reverse();
        zs.rotate_left(1);
        assert_eq!(classify(&alerts, &eps, &[], &zs, &cfg, now), first);
    }
    let ids: Vec<_> = first.alerts.iter().map(|(a, _)| a.clone()).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted);
}

#[test]
fn config_defaults_and_problems() {
    let cfg: ClassifyConfig = toml::from_str("").unwrap();
    assert_eq!(cfg, ClassifyConfig::default());
    assert_eq!(cfg.window, Duration::from_secs(172_800));
    assert!(cfg.problems().is_empty());
    let cfg: ClassifyConfig = toml::from_str(
        "window = \"6h\"\nmin_cluster = 1\nnetwork_conditions = [\"low\", \"lowlow\"]\n\
         min_priority = \"critical\"",
    )
    .unwrap();
    assert_eq!(cfg.window, Duration::from_secs(6 * 3600));
    assert_eq!(cfg.min_priority, Priority::Critical);
    let p = cfg.problems();
    assert_eq!(p.len(), 2);
    assert_eq!(p[0].key(), "min_cluster");
    assert_eq!(p[1].key(), "network_conditions[1]");
    assert!(p[1].to_string().contains("\"lowlow\""));
    assert!(toml::from_str::<ClassifyConfig>("windows = \"1h\"").is_err());
    assert!(toml::from_str::<ClassifyConfig>("window = 3600").is_err());
    // min_cluster below the floor is applied as the floor: one alert alone is not a
    // cluster.
    let c = classify(
        &october("Q", "Z-QUIET", 1),
        &[],
        &[],
        &zones(),
        &cfg,
        oct1(),
    );
    assert!(all(&c, AlertClass::CustomerSide));
}

#[test]
fn names_match_serde() {
    for c in [
        AlertClass::ExplainedByNetworkEvent,
        AlertClass::CustomerSide,
        AlertClass::UnsupervisedCluster,
    ] {
        assert_eq!(
            serde_json::to_value(c).unwrap(),
            serde_json::json!(c.as_str())
        );
    }
    for k in [
        IncidentKind::NetworkEvent,
        IncidentKind::SuspectedNetworkAnomaly,
    ] {
        assert_eq!(
            serde_json::to_value(k).unwrap(),
            serde_json::json!(k.as_str())
        );
    }
    for name in DEFAULT_NETWORK_CONDITIONS {
        assert!(CONDITIONS.contains(&name));
    }
}

fn arb_alert() -> impl Strategy<Value = StoredAlert> {
    (
        0usize..40,
        prop::sample::select(vec!["Z-NORTH", "Z-SOUTH", "Z-QUIET", "Z-GONE"]),
        0i64..120,
        1i64..60,
        0i64..1000,
    )
        .prop_map(|(id, zone, start, len, rx)| {
            let s = oct1() + start * DAY;
            alert(&format!("P-{id:02}"), zone, s, s + len * DAY, rx)
        })
}

fn arb_episode() -> impl Strategy<Value = AlarmEpisode> {
    (
        prop::sample::select(vec!["PS-01", "PS-02", "RES-09", "XX"]),
        prop::sample::select(CONDITIONS.to_vec()),
        prop::sample::select(vec![
            Priority::Low,
            Priority::Medium,
            Priority::High,
            Priority::Critical,
        ]),
        0i64..3000,
        prop::option::of(0i64..200),
    )
        .prop_map(|(site, cond, prio, start, len)| {
            let s = oct1() + start * H;
            episode(site, cond, prio, s, len.map(|l| s + l * H))
        })
}

proptest! {
    #[test]
    fn every_alert_once_and_incidents_consistent(
        alerts in prop::collection::vec(arb_alert(), 0..40),
        eps in prop::collection::vec(arb_episode(), 0..12),
    ) {
        let now = oct1() + 200 * DAY;
        let cfg = ClassifyConfig::default();
        let c = classify(&alerts, &eps, &[], &zones(), &cfg, now);
        let ids: BTreeSet<&str> = alerts.iter().map(|a| a.alert.alert_id.as_str()).collect();
        prop_assert_eq!(c.alerts.len(), ids.len());
        prop_assert!(c.alerts.windows(2).all(|w| w[0].0 < w[1].0));
        let mut net: BTreeSet<&str> = BTreeSet::new();
        let mut clustered: BTreeSet<&str> = BTreeSet::new();
        let mut keys = BTreeSet::new();
        for i in &c.incidents {
            prop_assert!(keys.insert(i.key.as_str()), "duplicate key {}", i.key);
            prop_assert!(i.alert_ids.len() >= cfg.min_cluster);
            prop_assert!(i.alert_ids.windows(2).all(|w| w[0] < w[1]));
            match i.kind {
                IncidentKind::NetworkEvent => {
                    prop_assert!(!i.alarm_ids.is_empty());
                    net.extend(i.alert_ids.iter().map(String::as_str));
                }
                IncidentKind::SuspectedNetworkAnomaly => {
                    for a in &i.alert_ids {
                        prop_assert!(clustered.insert(a.as_str()), "{} in two clusters", a);
                    }
                }
                IncidentKind::LeakSuspected => prop_assert!(false, "no night-flow rise was given"),
            }
        }
        for (id, class) in &c.alerts {
            let id = id.as_str();
            match class {
                AlertClass::ExplainedByNetworkEvent => {
                    prop_assert!(net.contains(id) && !clustered.contains(id));
                }
                AlertClass::UnsupervisedCluster => {
                    prop_assert!(clustered.contains(id) && !net.contains(id));
                }
                AlertClass::CustomerSide => {
                    prop_assert!(!clustered.contains(id) && !net.contains(id));
                }
            }
        }
        // Order does not matter.
        let mut rev_a = alerts.clone();
        rev_a.reverse();
        let mut rev_e = eps.clone();
        rev_e.reverse();
        prop_assert_eq!(classify(&rev_a, &rev_e, &[], &zones(), &cfg, now), c);
    }
}
