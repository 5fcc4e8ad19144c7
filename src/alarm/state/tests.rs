//! The ISA-18.2 transitions of reference/alarms-integration.md §1.1, one by one.

use super::*;

/// When the occurrence every fixture starts from was raised.
const RAISED: i64 = 1_000;
/// When the fixtures' later changes happen.
const LATER: i64 = 2_000;
/// When a test's own action happens.
const NOW: i64 = 5_000;

/// An event or operator action applied to an alarm.
#[derive(Debug, Clone, Copy)]
enum Ev {
    /// The filtered condition becomes `active`; `latch` from the definition.
    Cond {
        active: bool,
        latch: bool,
    },
    Ack,
    Reset,
    Shelve,
    Unshelve,
    Suppress(bool),
    OutOfService(bool),
}

const RAISE: Ev = Ev::Cond {
    active: true,
    latch: false,
};
const RTN: Ev = Ev::Cond {
    active: false,
    latch: false,
};
const RAISE_LATCHING: Ev = Ev::Cond {
    active: true,
    latch: true,
};
const RTN_LATCHING: Ev = Ev::Cond {
    active: false,
    latch: true,
};

fn shelve_until(until_ns: i64) -> Shelve {
    Shelve {
        until_ns,
        by: "operator".into(),
        comment: "nuisance".into(),
    }
}

fn apply(s: &mut AlarmState, ev: Ev, time_ns: i64) -> Result<(), ActionError> {
    match ev {
        Ev::Cond { active, latch } => {
            s.set_condition(active, latch, time_ns);
            Ok(())
        }
        Ev::Ack => s.acknowledge(),
        Ev::Reset => s.reset(),
        Ev::Shelve => s.shelve(shelve_until(time_ns + 3_600)),
        Ev::Unshelve => s.unshelve(time_ns),
        Ev::Suppress(on) => {
            s.set_suppressed(on, time_ns);
            Ok(())
        }
        Ev::OutOfService(on) => {
            s.set_out_of_service(on, time_ns);
            Ok(())
        }
    }
}

/// An alarm in `name`, reached through ordinary transitions (the occurrence, if any,
/// raised at [`RAISED`]; hidden states hide an active unacknowledged alarm).
fn reach(name: StateName) -> AlarmState {
    use StateName::*;
    let steps: &[Ev] = match name {
        Normal => &[],
        ActiveUnacknowledged => &[RAISE],
        ActiveAcknowledged => &[RAISE, Ev::Ack],
        RtnUnacknowledged => &[RAISE, RTN],
        LatchedUnacknowledged => &[RAISE_LATCHING, RTN_LATCHING],
        LatchedAcknowledged => &[RAISE_LATCHING, RTN_LATCHING, Ev::Ack],
        Shelved => &[RAISE, Ev::Shelve],
        Suppressed => &[RAISE, Ev::Suppress(true)],
        OutOfService => &[RAISE, Ev::OutOfService(true)],
    };
    let mut s = AlarmState::default();
    for (i, ev) in steps.iter().enumerate() {
        let t = if i == 0 { RAISED } else { LATER };
        apply(&mut s, *ev, t).unwrap_or_else(|e| panic!("reaching {name:?}: {ev:?}: {e}"));
    }
    assert_eq!(s.name(), name, "fixture");
    s
}

#[test]
fn a_new_alarm_is_normal() {
    assert_eq!(AlarmState::default().name(), StateName::Normal);
    assert_eq!(AlarmState::default().raised_ns, None);
}

#[test]
fn every_fixture_state_is_reachable() {
    for name in ALL_STATES {
        reach(name);
    }
}

#[test]
fn state_names_round_trip() {
    for name in ALL_STATES {
        assert_eq!(StateName::parse(name.as_str()), Some(name));
        let json = serde_json::to_value(name).unwrap();
        assert_eq!(json, serde_json::Value::String(name.as_str().into()));
        assert_eq!(name.is_listed(), name != StateName::Normal);
    }
    assert_eq!(StateName::parse("unknown"), None);
}

/// The accepted transitions: (from, event, to, raised_ns after). The event happens at
/// [`NOW`].
#[test]
fn transitions() {
    use StateName::*;
    let table: &[(StateName, Ev, StateName, Option<i64>)] = &[
        // ISA-18.2 A→B, B→C, B→D, C→A, D→A, D→B.
        (Normal, RAISE, ActiveUnacknowledged, Some(NOW)),
        (
            ActiveUnacknowledged,
            Ev::Ack,
            ActiveAcknowledged,
            Some(RAISED),
        ),
        (ActiveUnacknowledged, RTN, RtnUnacknowledged, Some(RAISED)),
        (ActiveAcknowledged, RTN, Normal, None),
        (RtnUnacknowledged, Ev::Ack, Normal, None),
        (RtnUnacknowledged, RAISE, ActiveUnacknowledged, Some(NOW)),
        // Latching: the return to normal leads to E, reset to A, a new condition to B.
        (Normal, RAISE_LATCHING, ActiveUnacknowledged, Some(NOW)),
        (
            ActiveUnacknowledged,
            RTN_LATCHING,
            LatchedUnacknowledged,
            Some(RAISED),
        ),
        (
            ActiveAcknowledged,
            RTN_LATCHING,
            LatchedAcknowledged,
            Some(RAISED),
        ),
        (
            LatchedUnacknowledged,
            Ev::Ack,
            LatchedAcknowledged,
            Some(RAISED),
        ),
        (LatchedAcknowledged, Ev::Reset, Normal, None),
        (LatchedUnacknowledged, Ev::Reset, Normal, None),
        (
            LatchedAcknowledged,
            RAISE_LATCHING,
            ActiveUnacknowledged,
            Some(NOW),
        ),
        (
            LatchedUnacknowledged,
            RAISE_LATCHING,
            ActiveUnacknowledged,
            Some(NOW),
        ),
        // A repeated condition changes nothing.
        (Normal, RTN, Normal, None),
        (
            ActiveUnacknowledged,
            RAISE,
            ActiveUnacknowledged,
            Some(RAISED),
        ),
        (ActiveAcknowledged, RAISE, ActiveAcknowledged, Some(RAISED)),
        (RtnUnacknowledged, RTN, RtnUnacknowledged, Some(RAISED)),
        (
            LatchedAcknowledged,
            RTN_LATCHING,
            LatchedAcknowledged,
            Some(RAISED),
        ),
        // Shelve from every shown state (A to E).
        (Normal, Ev::Shelve, Shelved, None),
        (ActiveUnacknowledged, Ev::Shelve, Shelved, Some(RAISED)),
        (ActiveAcknowledged, Ev::Shelve, Shelved, Some(RAISED)),
        (RtnUnacknowledged, Ev::Shelve, Shelved, Some(RAISED)),
        (LatchedUnacknowledged, Ev::Shelve, Shelved, Some(RAISED)),
        (LatchedAcknowledged, Ev::Shelve, Shelved, Some(RAISED)),
        // Suppression by design and out of service apply to any state.
        (Normal, Ev::Suppress(true), Suppressed, None),
        (
            ActiveAcknowledged,
            Ev::Suppress(true),
            Suppressed,
            Some(RAISED),
        ),
        (
            RtnUnacknowledged,
            Ev::Suppress(true),
            Suppressed,
            Some(RAISED),
        ),
        (Shelved, Ev::Suppress(true), Suppressed, Some(RAISED)),
        (Normal, Ev::OutOfService(true), OutOfService, None),
        (
            ActiveAcknowledged,
            Ev::OutOfService(true),
            OutOfService,
            Some(RAISED),
        ),
        (Shelved, Ev::OutOfService(true), OutOfService, Some(RAISED)),
        (
            Suppressed,
            Ev::OutOfService(true),
            OutOfService,
            Some(RAISED),
        ),
        // Shown again with the condition still active: B, to acknowledge again, but the
        // occurrence continues and keeps its raised_ns.
        (Shelved, Ev::Unshelve, ActiveUnacknowledged, Some(RAISED)),
        (
            Suppressed,
            Ev::Suppress(false),
            ActiveUnacknowledged,
            Some(RAISED),
        ),
        (
            OutOfService,
            Ev::OutOfService(false),
            ActiveUnacknowledged,
            Some(RAISED),
        ),
        // A repeated suppression or out-of-service changes nothing.
        (Suppressed, Ev::Suppress(true), Suppressed, Some(RAISED)),
        (
            OutOfService,
            Ev::OutOfService(true),
            OutOfService,
            Some(RAISED),
        ),
        (Normal, Ev::Suppress(false), Normal, None),
        (
            ActiveUnacknowledged,
            Ev::OutOfService(false),
            ActiveUnacknowledged,
            Some(RAISED),
        ),
    ];
    for &(from, ev, to, raised) in table {
        let mut s = reach(from);
        apply(&mut s, ev, NOW).unwrap_or_else(|e| panic!("{from:?} + {ev:?}: refused: {e}"));
        assert_eq!(s.name(), to, "{from:?} + {ev:?}");
        assert_eq!(s.raised_ns, raised, "{from:?} + {ev:?}: raised_ns");
    }
}

/// The refused operator actions: (from, action, error). A refused action leaves the state
/// untouched.
#[test]
fn refused_actions() {
    use ActionError::*;
    use StateName::*;
    let table: &[(StateName, Ev, ActionError)] = &[
        // Nothing to acknowledge.
        (Normal, Ev::Ack, NothingToAck("normal")),
        (
            ActiveAcknowledged,
            Ev::Ack,
            NothingToAck("active_acknowledged"),
        ),
        (
            LatchedAcknowledged,
            Ev::Ack,
            NothingToAck("latched_acknowledged"),
        ),
        (Shelved, Ev::Ack, NothingToAck("shelved")),
        (Suppressed, Ev::Ack, NothingToAck("suppressed")),
        (OutOfService, Ev::Ack, NothingToAck("out_of_service")),
        // Reset only from a latched state, whose condition has cleared.
        (Normal, Ev::Reset, NotResettable("normal")),
        (
            ActiveUnacknowledged,
            Ev::Reset,
            NotResettable("active_unacknowledged"),
        ),
        (
            ActiveAcknowledged,
            Ev::Reset,
            NotResettable("active_acknowledged"),
        ),
        (
            RtnUnacknowledged,
            Ev::Reset,
            NotResettable("rtn_unacknowledged"),
        ),
        (Shelved, Ev::Reset, NotResettable("shelved")),
        (Suppressed, Ev::Reset, NotResettable("suppressed")),
        (OutOfService, Ev::Reset, NotResettable("out_of_service")),
        // Shelve: not twice, not when already hidden by design or maintenance.
        (Shelved, Ev::Shelve, NotShelvable("shelved")),
        (Suppressed, Ev::Shelve, NotShelvable("suppressed")),
        (OutOfService, Ev::Shelve, NotShelvable("out_of_service")),
        // Unshelve only a shelved alarm.
        (Normal, Ev::Unshelve, NotShelved),
        (ActiveUnacknowledged, Ev::Unshelve, NotShelved),
        (Suppressed, Ev::Unshelve, NotShelved),
        (OutOfService, Ev::Unshelve, NotShelved),
    ];
    for (from, ev, err) in table {
        let mut s = reach(*from);
        let before = s.clone();
        assert_eq!(
            apply(&mut s, *ev, NOW),
            Err(err.clone()),
            "{from:?} + {ev:?}"
        );
        assert_eq!(s, before, "{from:?} + {ev:?} changed the state");
    }
}

#[test]
fn action_errors_name_the_state() {
    let e = reach(StateName::Normal).acknowledge().unwrap_err();
    assert_eq!(
        e.to_string(),
        "the alarm is normal: there is nothing to acknowledge"
    );
    let e = reach(StateName::ActiveAcknowledged).reset().unwrap_err();
    assert!(e.to_string().contains("active_acknowledged"), "{e}");
}

#[test]
fn raised_ns_is_kept_through_the_occurrence_and_cleared_at_normal() {
    // B→C→A.
    let mut s = AlarmState::default();
    s.set_condition(true, false, 10);
    assert_eq!(s.raised_ns, Some(10));
    s.acknowledge().unwrap();
    assert_eq!(s.raised_ns, Some(10));
    s.set_condition(false, false, 20);
    assert_eq!((s.name(), s.raised_ns), (StateName::Normal, None));

    // B→D→A.
    s.set_condition(true, false, 30);
    s.set_condition(false, false, 40);
    assert_eq!(
        (s.name(), s.raised_ns),
        (StateName::RtnUnacknowledged, Some(30))
    );
    s.acknowledge().unwrap();
    assert_eq!((s.name(), s.raised_ns), (StateName::Normal, None));

    // B→D→B: the re-alarm is a new occurrence.
    s.set_condition(true, false, 50);
    s.set_condition(false, false, 60);
    s.set_condition(true, false, 70);
    assert_eq!(
        (s.name(), s.raised_ns),
        (StateName::ActiveUnacknowledged, Some(70))
    );

    // Latched: kept through E until the reset.
    let mut s = AlarmState::default();
    s.set_condition(true, true, 100);
    s.set_condition(false, true, 110);
    s.acknowledge().unwrap();
    assert_eq!(
        (s.name(), s.raised_ns),
        (StateName::LatchedAcknowledged, Some(100))
    );
    s.reset().unwrap();
    assert_eq!((s.name(), s.raised_ns), (StateName::Normal, None));
    assert_eq!(s, AlarmState::default());
}

#[test]
fn a_latched_alarm_stays_until_reset_and_reset_is_refused_while_active() {
    let mut s = AlarmState::default();
    s.set_condition(true, true, 10);
    assert_eq!(
        s.reset(),
        Err(ActionError::NotResettable("active_unacknowledged"))
    );
    s.acknowledge().unwrap();
    assert_eq!(
        s.reset(),
        Err(ActionError::NotResettable("active_acknowledged"))
    );
    // C→E on the return to normal (not C→A).
    s.set_condition(false, true, 20);
    assert_eq!(s.name(), StateName::LatchedAcknowledged);
    assert!(s.latched);
    // Acknowledging does not clear it either.
    assert_eq!(
        s.acknowledge(),
        Err(ActionError::NothingToAck("latched_acknowledged"))
    );
    assert_eq!(s.name(), StateName::LatchedAcknowledged);
    // The condition comes back before the reset: a new occurrence, not latched.
    s.set_condition(true, true, 30);
    assert_eq!(s.name(), StateName::ActiveUnacknowledged);
    assert!(!s.latched);
    assert_eq!(s.raised_ns, Some(30));
    // B→E(unacked) on the return to normal; ack → E(acked); reset → A.
    s.set_condition(false, true, 40);
    assert_eq!(s.name(), StateName::LatchedUnacknowledged);
    s.acknowledge().unwrap();
    assert_eq!(s.name(), StateName::LatchedAcknowledged);
    s.reset().unwrap();
    assert_eq!(s.name(), StateName::Normal);
    assert_eq!(s.reset(), Err(ActionError::NotResettable("normal")));
}

#[test]
fn reset_of_an_unacknowledged_latched_alarm_acknowledges_it() {
    let mut s = reach(StateName::LatchedUnacknowledged);
    s.reset().unwrap();
    assert_eq!(s.name(), StateName::Normal);
    assert!(s.acked);
    assert!(!s.latched);
}

#[test]
fn shelve_expiry() {
    let mut s = reach(StateName::ActiveAcknowledged);
    assert!(!s.shelve_expired(i64::MAX), "not shelved");
    s.shelve(shelve_until(10_000)).unwrap();
    assert_eq!(s.shelved.as_ref().map(|s| s.by.as_str()), Some("operator"));
    assert!(!s.shelve_expired(9_999));
    assert!(s.shelve_expired(10_000));
    assert!(s.shelve_expired(10_001));
    // The engine unshelves on expiry: the condition still holds → B, to acknowledge again;
    // the occurrence continues.
    s.unshelve(10_000).unwrap();
    assert_eq!(s.name(), StateName::ActiveUnacknowledged);
    assert_eq!(s.raised_ns, Some(RAISED));
    assert!(s.shelved.is_none());
    assert!(!s.shelve_expired(10_001));
}

#[test]
fn unshelve_after_the_condition_cleared_is_normal_only_if_acknowledged() {
    // Shelved in C, the condition clears: A at the unshelve.
    let mut s = reach(StateName::ActiveAcknowledged);
    s.shelve(shelve_until(10_000)).unwrap();
    s.set_condition(false, false, 3_000);
    assert_eq!(s.name(), StateName::Shelved);
    s.unshelve(4_000).unwrap();
    assert_eq!(s.name(), StateName::Normal);
    assert_eq!(s, AlarmState::default());

    // Shelved in B, the condition clears: D at the unshelve, still to acknowledge.
    let mut s = reach(StateName::ActiveUnacknowledged);
    s.shelve(shelve_until(10_000)).unwrap();
    s.set_condition(false, false, 3_000);
    assert_eq!(s.name(), StateName::Shelved);
    s.unshelve(4_000).unwrap();
    assert_eq!(
        (s.name(), s.raised_ns),
        (StateName::RtnUnacknowledged, Some(RAISED))
    );
    s.acknowledge().unwrap();
    assert_eq!(s, AlarmState::default());
}

#[test]
fn condition_changes_while_shelved_are_not_annunciated() {
    let mut s = reach(StateName::Normal);
    s.shelve(shelve_until(10_000)).unwrap();
    // A→B hidden: no occurrence raised, nothing to acknowledge.
    s.set_condition(true, false, 3_000);
    assert_eq!(s.name(), StateName::Shelved);
    assert!(s.condition, "still evaluated");
    assert_eq!(s.raised_ns, None);
    assert!(s.acked);
    assert_eq!(s.acknowledge(), Err(ActionError::NothingToAck("shelved")));
    // And back: no D, no latch.
    s.set_condition(false, true, 4_000);
    assert_eq!(s.name(), StateName::Shelved);
    assert!(!s.latched);
    s.unshelve(5_000).unwrap();
    assert_eq!(s, AlarmState::default());

    // Shelved in A, the condition comes and stays: B at the unshelve.
    s.shelve(shelve_until(10_000)).unwrap();
    s.set_condition(true, false, 6_000);
    s.unshelve(7_000).unwrap();
    assert_eq!(s.name(), StateName::ActiveUnacknowledged);
    assert_eq!(s.raised_ns, Some(7_000));
}

#[test]
fn suppression_hides_and_its_end_reevaluates() {
    // Suppressed while active; the condition clears and returns while suppressed.
    let mut s = reach(StateName::ActiveAcknowledged);
    s.set_suppressed(true, 3_000);
    assert_eq!(s.name(), StateName::Suppressed);
    s.set_condition(false, false, 3_100);
    assert_eq!(s.name(), StateName::Suppressed);
    s.set_condition(true, false, 3_200);
    assert_eq!(s.name(), StateName::Suppressed);
    assert_eq!(s.raised_ns, Some(RAISED), "nothing raised while hidden");
    s.set_suppressed(false, 4_000);
    assert_eq!(s.name(), StateName::ActiveUnacknowledged);
    assert_eq!(s.raised_ns, Some(RAISED), "the occurrence continues");

    // Suppressed acknowledged, the condition clears: A when it ends.
    let mut s = reach(StateName::ActiveAcknowledged);
    s.set_suppressed(true, 3_000);
    s.set_condition(false, false, 3_100);
    s.set_suppressed(false, 4_000);
    assert_eq!(s, AlarmState::default());

    // Suppressed unacknowledged, the condition clears: D when it ends.
    let mut s = reach(StateName::ActiveUnacknowledged);
    s.set_suppressed(true, 3_000);
    s.set_condition(false, false, 3_100);
    s.set_suppressed(false, 4_000);
    assert_eq!(
        (s.name(), s.raised_ns),
        (StateName::RtnUnacknowledged, Some(RAISED))
    );

    // Suppressed in A, the condition comes: B when it ends.
    let mut s = AlarmState::default();
    s.set_suppressed(true, 3_000);
    s.set_condition(true, false, 3_100);
    assert_eq!((s.name(), s.raised_ns), (StateName::Suppressed, None));
    s.set_suppressed(false, 4_000);
    assert_eq!(
        (s.name(), s.raised_ns),
        (StateName::ActiveUnacknowledged, Some(4_000))
    );
}

#[test]
fn out_of_service_hides_and_its_end_reevaluates() {
    let mut s = reach(StateName::RtnUnacknowledged);
    s.set_out_of_service(true, 3_000);
    assert_eq!(s.name(), StateName::OutOfService);
    s.set_condition(true, false, 3_100);
    assert_eq!(
        (s.name(), s.raised_ns),
        (StateName::OutOfService, Some(RAISED))
    );
    s.set_out_of_service(false, 4_000);
    assert_eq!(
        (s.name(), s.raised_ns),
        (StateName::ActiveUnacknowledged, Some(RAISED))
    );

    // Out of service acknowledged, the condition clears: A when it ends.
    let mut s = reach(StateName::ActiveAcknowledged);
    s.set_out_of_service(true, 3_000);
    s.set_condition(false, false, 3_100);
    s.set_out_of_service(false, 4_000);
    assert_eq!(s, AlarmState::default());

    // Out of service unacknowledged, the condition clears: D when it ends.
    let mut s = reach(StateName::ActiveUnacknowledged);
    s.set_out_of_service(true, 3_000);
    s.set_condition(false, false, 3_100);
    s.set_out_of_service(false, 4_000);
    assert_eq!(
        (s.name(), s.raised_ns),
        (StateName::RtnUnacknowledged, Some(RAISED))
    );

    // Out of service in A, the condition comes: B when it ends, raised then.
    let mut s = AlarmState::default();
    s.set_out_of_service(true, 3_000);
    s.set_condition(true, false, 3_100);
    assert_eq!((s.name(), s.raised_ns), (StateName::OutOfService, None));
    s.set_out_of_service(false, 4_000);
    assert_eq!(
        (s.name(), s.raised_ns),
        (StateName::ActiveUnacknowledged, Some(4_000))
    );
}

#[test]
fn hidden_states_nest_and_the_alarm_shows_only_when_none_is_left() {
    // Out of service hides over suppression, suppression over shelving.
    let mut s = reach(StateName::ActiveUnacknowledged);
    s.shelve(shelve_until(10_000)).unwrap();
    s.set_suppressed(true, 3_000);
    s.set_out_of_service(true, 3_100);
    assert_eq!(s.name(), StateName::OutOfService);
    s.set_out_of_service(false, 3_200);
    assert_eq!(s.name(), StateName::Suppressed);
    s.set_suppressed(false, 3_300);
    assert_eq!(s.name(), StateName::Shelved);
    assert_eq!(
        s.raised_ns,
        Some(RAISED),
        "not re-evaluated while still hidden"
    );
    // Expired while suppressed: unshelving shows nothing yet.
    s.set_suppressed(true, 3_400);
    assert!(s.shelve_expired(10_000));
    s.unshelve(10_000).unwrap();
    assert_eq!(s.name(), StateName::Suppressed);
    assert_eq!(s.raised_ns, Some(RAISED));
    s.set_suppressed(false, 11_000);
    assert_eq!(
        (s.name(), s.raised_ns),
        (StateName::ActiveUnacknowledged, Some(RAISED))
    );
}

#[test]
fn a_shelve_is_refused_while_suppressed_or_out_of_service_but_kept_through_them() {
    let mut s = reach(StateName::Normal);
    s.set_suppressed(true, 1);
    assert_eq!(
        s.shelve(shelve_until(10)),
        Err(ActionError::NotShelvable("suppressed"))
    );
    s.set_suppressed(false, 2);
    s.set_out_of_service(true, 3);
    assert_eq!(
        s.shelve(shelve_until(10)),
        Err(ActionError::NotShelvable("out_of_service"))
    );
    s.set_out_of_service(false, 4);
    s.shelve(shelve_until(10)).unwrap();
    assert_eq!(
        s.shelve(shelve_until(20)),
        Err(ActionError::NotShelvable("shelved"))
    );
    assert_eq!(
        s.shelved.as_ref().map(|s| s.until_ns),
        Some(10),
        "first kept"
    );
}

/// Each way of hiding an alarm, with the event that shows it again.
const HIDE_SHOW: [(Ev, Ev); 3] = [
    (Ev::Shelve, Ev::Unshelve),
    (Ev::Suppress(true), Ev::Suppress(false)),
    (Ev::OutOfService(true), Ev::OutOfService(false)),
];

#[test]
fn a_latched_alarm_stays_latched_while_hidden_and_only_reset_clears_it() {
    use StateName::*;
    for latched in [LatchedUnacknowledged, LatchedAcknowledged] {
        for (hide, show) in HIDE_SHOW {
            let what = format!("{latched:?} through {hide:?}/{show:?}");
            let mut s = reach(latched);
            let before = s.clone();
            apply(&mut s, hide, 3_000).unwrap();
            assert!(s.latched, "{what}: hidden");
            let hidden = s.name().as_str();
            assert_eq!(s.reset(), Err(ActionError::NotResettable(hidden)), "{what}");
            apply(&mut s, show, 4_000).unwrap();
            assert_eq!(s, before, "{what}: shown again");
            // Acknowledging does not clear it.
            if latched == LatchedUnacknowledged {
                s.acknowledge().unwrap();
            }
            assert_eq!(
                s.acknowledge(),
                Err(ActionError::NothingToAck("latched_acknowledged")),
                "{what}"
            );
            assert_eq!(
                (s.name(), s.raised_ns),
                (LatchedAcknowledged, Some(RAISED)),
                "{what}"
            );
            // Only the reset does.
            s.reset().unwrap();
            assert_eq!(s, AlarmState::default(), "{what}: reset");
        }

        // All three at once, shown again one by one.
        let mut s = reach(latched);
        let before = s.clone();
        s.shelve(shelve_until(10_000)).unwrap();
        s.set_suppressed(true, 3_000);
        s.set_out_of_service(true, 3_100);
        s.set_out_of_service(false, 3_200);
        s.set_suppressed(false, 3_300);
        assert_eq!(s.name(), Shelved);
        s.unshelve(10_000).unwrap();
        assert_eq!(s, before, "{latched:?} through all three");

        // The condition comes and goes while hidden: nothing annunciated, still latched.
        let mut s = reach(latched);
        s.shelve(shelve_until(10_000)).unwrap();
        s.set_condition(true, true, 3_000);
        s.set_condition(false, true, 3_100);
        s.unshelve(4_000).unwrap();
        assert_eq!(s, before, "{latched:?}: condition blip while shelved");

        // The condition comes back while hidden and holds: B when shown again, no longer
        // latched, the occurrence continuing.
        let mut s = reach(latched);
        s.set_suppressed(true, 3_000);
        s.set_condition(true, true, 3_100);
        s.set_suppressed(false, 4_000);
        assert_eq!(
            (s.name(), s.raised_ns, s.latched),
            (ActiveUnacknowledged, Some(RAISED), false),
            "{latched:?}: condition back while suppressed"
        );
    }
}

#[test]
fn an_unacknowledged_return_to_normal_stays_unacknowledged_while_hidden() {
    for (hide, show) in HIDE_SHOW {
        let what = format!("through {hide:?}/{show:?}");
        let mut s = reach(StateName::RtnUnacknowledged);
        let before = s.clone();
        apply(&mut s, hide, 3_000).unwrap();
        apply(&mut s, show, 4_000).unwrap();
        assert_eq!(s, before, "{what}: still D, raised_ns kept");
        // The acknowledgement is still owed, and it brings the alarm back to A.
        s.acknowledge().unwrap();
        assert_eq!(s, AlarmState::default(), "{what}: acknowledged");
    }

    // Shelved in D until the shelve expires.
    let mut s = reach(StateName::RtnUnacknowledged);
    s.shelve(shelve_until(10_000)).unwrap();
    assert!(s.shelve_expired(10_000));
    s.unshelve(10_000).unwrap();
    assert_eq!(
        (s.name(), s.raised_ns, s.acked),
        (StateName::RtnUnacknowledged, Some(RAISED), false)
    );
}

#[test]
fn a_standing_alarm_keeps_its_raised_ns_while_hidden() {
    const HOUR_NS: i64 = 3_600 * 1_000_000_000;
    // Raised, acknowledged, and still active 30 hours later when it is shelved for 8.
    let mut s = AlarmState::default();
    s.set_condition(true, false, RAISED);
    s.acknowledge().unwrap();
    let shelved_at = RAISED + 30 * HOUR_NS;
    let until = shelved_at + 8 * HOUR_NS;
    s.shelve(shelve_until(until)).unwrap();
    assert!(s.shelve_expired(until));
    s.unshelve(until).unwrap();
    // To acknowledge again, but the same occurrence: still standing since RAISED.
    assert_eq!(
        (s.name(), s.raised_ns),
        (StateName::ActiveUnacknowledged, Some(RAISED))
    );
    // Unshelved by the operator this time, from B.
    s.shelve(shelve_until(until + 8 * HOUR_NS)).unwrap();
    s.unshelve(until + HOUR_NS).unwrap();
    assert_eq!(
        (s.name(), s.raised_ns),
        (StateName::ActiveUnacknowledged, Some(RAISED))
    );
    // Suppression and out of service keep it too.
    for (hide, show) in HIDE_SHOW {
        let mut s = reach(StateName::ActiveAcknowledged);
        apply(&mut s, hide, shelved_at).unwrap();
        apply(&mut s, show, until).unwrap();
        assert_eq!(
            (s.name(), s.raised_ns),
            (StateName::ActiveUnacknowledged, Some(RAISED)),
            "through {hide:?}/{show:?}"
        );
    }
    // Only the return to normal ends the occurrence; the next one is raised anew.
    s.acknowledge().unwrap();
    s.set_condition(false, false, until + 2 * HOUR_NS);
    assert_eq!((s.name(), s.raised_ns), (StateName::Normal, None));
    s.set_condition(true, false, until + 3 * HOUR_NS);
    assert_eq!(s.raised_ns, Some(until + 3 * HOUR_NS));
}
