//! The tracker's reconciliation on real SQLite files: restarts, unknown verdicts, removed
//! rules.

use super::OutageStatus;
use super::rules::{Condition, Rule, Verdict};
use super::run::reconcile;
use super::store::OutageStore;
use crate::config::outages::OutageCause;
use crate::incident::store::IncidentStore;
use std::collections::HashMap;

fn rule(key: &str) -> Rule {
    Rule {
        key: key.into(),
        site: "SS-1".into(),
        cause: OutageCause::BreakerTrip,
        description: "Feeder F1 tripped".into(),
        zones: vec!["Z-1".into()],
        utility: None,
        priority: None,
        min_duration_ns: 0,
        conditions: vec![Condition::Alarm("SS-1:F1:breaker_tripped:discrete".into())],
    }
}

fn verdict(holds: Option<bool>, since: i64) -> Verdict {
    Verdict {
        holds,
        since_ns: Some(since),
        alarms: vec!["SS-1:F1:breaker_tripped:discrete".into()],
    }
}

fn stores(dir: &std::path::Path) -> (OutageStore, IncidentStore) {
    (
        OutageStore::open(dir).unwrap(),
        IncidentStore::open(dir).unwrap(),
    )
}

#[test]
fn a_rule_that_holds_opens_one_outage_with_one_incident_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let rules = [rule("SS-1:F1")];
    let none = HashMap::new();
    {
        let (mut o, mut i) = stores(dir.path());
        reconcile(
            &rules,
            &[verdict(Some(true), 100)],
            &none,
            &mut o,
            &mut i,
            200,
        )
        .unwrap();
    }
    // After a restart the rule holds again, or cannot be told yet: the same outage.
    let (mut o, mut i) = stores(dir.path());
    reconcile(&rules, &[verdict(None, 0)], &none, &mut o, &mut i, 300).unwrap();
    reconcile(
        &rules,
        &[verdict(Some(true), 100)],
        &none,
        &mut o,
        &mut i,
        400,
    )
    .unwrap();
    let active = o.active_derived().unwrap();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].start_ns, 100);
    let incident = active[0].incident_id.unwrap();
    assert_eq!(
        i.get(incident).unwrap().links.outages,
        vec![active[0].id.to_string()]
    );

    // The cause clears: ended at that pass, said on the incident.
    reconcile(
        &rules,
        &[verdict(Some(false), 0)],
        &none,
        &mut o,
        &mut i,
        500,
    )
    .unwrap();
    let ended = o.get(active[0].id).unwrap();
    assert_eq!(
        (ended.status, ended.end_ns),
        (OutageStatus::Ended, Some(500))
    );
    assert!(
        i.history(incident)
            .unwrap()
            .iter()
            .any(|h| h.kind == "comment")
    );
    // It holds again: a new outage, a new incident.
    reconcile(
        &rules,
        &[verdict(Some(true), 600)],
        &none,
        &mut o,
        &mut i,
        700,
    )
    .unwrap();
    let again = o.active_derived().unwrap();
    assert_eq!(again.len(), 1);
    assert_ne!(again[0].id, ended.id);
    assert_ne!(again[0].incident_id, Some(incident));
}

#[test]
fn the_outage_of_a_rule_taken_out_of_the_configuration_ends() {
    let dir = tempfile::tempdir().unwrap();
    let (mut o, mut i) = stores(dir.path());
    let none = HashMap::new();
    reconcile(
        &[rule("SS-1:F1")],
        &[verdict(Some(true), 1)],
        &none,
        &mut o,
        &mut i,
        2,
    )
    .unwrap();
    reconcile(&[], &[], &none, &mut o, &mut i, 3).unwrap();
    assert!(o.active_derived().unwrap().is_empty());
}

#[test]
fn a_momentary_interruption_shorter_than_min_duration_opens_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (mut o, mut i) = stores(dir.path());
    let none = HashMap::new();
    let rules = [Rule {
        min_duration_ns: 60,
        ..rule("SS-1:F1")
    }];
    // Tripped at 100, reclosed at 130: no outage.
    reconcile(
        &rules,
        &[verdict(Some(true), 100)],
        &none,
        &mut o,
        &mut i,
        130,
    )
    .unwrap();
    reconcile(
        &rules,
        &[verdict(Some(false), 0)],
        &none,
        &mut o,
        &mut i,
        131,
    )
    .unwrap();
    assert!(o.active_derived().unwrap().is_empty());
    // Tripped again at 200 and held: the outage opens at 260, starting at 200.
    reconcile(
        &rules,
        &[verdict(Some(true), 200)],
        &none,
        &mut o,
        &mut i,
        250,
    )
    .unwrap();
    assert!(o.active_derived().unwrap().is_empty());
    reconcile(
        &rules,
        &[verdict(Some(true), 200)],
        &none,
        &mut o,
        &mut i,
        260,
    )
    .unwrap();
    let active = o.active_derived().unwrap();
    assert_eq!((active.len(), active[0].start_ns), (1, 200));
}
