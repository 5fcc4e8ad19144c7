//! Escalation: roster gaps passed to the next level, escalations keyed by their route's
//! configuration, cancelled by any change of the alarm, levels older than max_age, and a
//! pending escalation across a restart.

use super::fixture::{S, at, fixture, router, row, unchecked};
use crate::alarm::{Priority, StateName};
use crate::notify::outbox::Db;
use crate::notify::route::route_key;

const A: &str = "PS-01:pump1:discharge_pressure_bar:low_low";

#[test]
fn notify_a_roster_gap_passes_to_the_next_level_at_once() {
    // Amina is on duty on weekdays only: vigie check says so, and the notifier copes.
    let mut f = unchecked(
        r#"
[[notify.rosters]]
id = "weekdays"
shifts = [{ recipients = ["amina"], days = "mon-fri", from = "08:00", to = "18:00" }]
[[notify.routes]]
levels = [
  { roster = "weekdays", via = ["email"] },
  { after = "15m", recipients = ["chef"], via = ["email"] },
  { after = "30m", webhooks = ["hook"] },
]
"#,
    );
    // Saturday noon: nobody on duty, the chef is told at the activation.
    let sat = at("2025-06-07T12:00:00Z");
    f.plan(sat);
    f.push(A, StateName::ActiveUnacknowledged, Priority::High, sat);
    assert_eq!(f.plan(sat).notifications, 1);
    assert_eq!(f.rows(), [row("chef", "email", "raised", 1)]);
    // Level 2 keeps its time (30 min after the activation); level 1 is not told twice.
    assert_eq!(f.plan(sat + 15 * 60 * S).notifications, 0);
    assert_eq!(f.plan(sat + 30 * 60 * S).notifications, 1);
    assert_eq!(f.rows()[1], row("hook", "webhook", "escalated", 2));
    assert!(f.escalations().is_empty());
    // Monday 10:00: amina on duty, level 1 waits its 15 minutes.
    let mon = at("2025-06-09T10:00:00Z");
    let b = "PS-01:pump2:discharge_pressure_bar:low_low";
    f.push(b, StateName::ActiveUnacknowledged, Priority::High, mon);
    assert_eq!(f.plan(mon).notifications, 1);
    assert_eq!(f.rows()[2], row("amina", "email", "raised", 0));
    assert_eq!(f.escalations()[0].2, 1);
}

const TWO_ROUTES: &str = r#"
[[notify.routes]]
sites = ["PS-01"]
levels = [{ webhooks = ["hook"] }, { after = "2s", recipients = ["amina"], via = ["email"] }]
[[notify.routes]]
sites = ["SS-12"]
levels = [{ webhooks = ["hook"] }, { after = "2s", recipients = ["chef"], via = ["email"] }]
"#;

#[test]
fn notify_escalations_keep_their_route_when_the_routes_are_reordered_or_edited() {
    let mut f = fixture(TWO_ROUTES);
    let t0 = 1_000 * S;
    f.plan(t0);
    f.push(A, StateName::ActiveUnacknowledged, Priority::High, t0);
    f.plan(t0);
    let key = f.escalations()[0].1.clone();
    assert_eq!(key.len(), 16);
    // The configuration changes: the same routes, the other way round.
    let (first, second) = TWO_ROUTES.split_at(TWO_ROUTES.rfind("[[notify.routes]]").unwrap());
    f.router = router(&format!("{second}{first}"), true);
    assert_eq!(f.router.key(1), Some(key.as_str()));
    assert_eq!(f.plan(t0 + 2 * S).notifications, 1);
    assert_eq!(f.rows()[1], row("amina", "email", "escalated", 1));

    // Edited: the route's pending escalation is dropped, not sent to its new level.
    let b = "PS-01:pump2:discharge_pressure_bar:low_low";
    f.push(
        b,
        StateName::ActiveUnacknowledged,
        Priority::High,
        t0 + 10 * S,
    );
    f.plan(t0 + 10 * S);
    assert_eq!(f.escalations().len(), 1);
    f.router = router(&TWO_ROUTES.replacen("\"2s\"", "\"3s\"", 1), true);
    assert_eq!(f.plan(t0 + 20 * S).notifications, 0);
    assert!(f.escalations().is_empty());
}

#[test]
fn notify_route_keys_are_stable_and_canonical() {
    let c = super::config(&format!(
        "[notify]\npublic_url = \"http://x\"\n[[notify.webhooks]]\nid = \"h\"\nurl = \"http://x/\"\n[[notify.webhooks]]\nid = \"g\"\nurl = \"http://x/\"\n{}",
        r#"
[[notify.routes]]
sites = ["PS-01", "SS-12"]
levels = [{ webhooks = ["h", "g"] }]
[[notify.routes]]
sites = ["SS-12", "PS-01"]
levels = [{ webhooks = ["g", "h"] }]
[[notify.routes]]
sites = ["SS-12", "PS-01"]
levels = [{ webhooks = ["g", "h"] }, { after = "1m", webhooks = ["g"] }]
"#
    ));
    let routes = &c.notify.as_ref().unwrap().routes;
    let keys: Vec<String> = routes.iter().map(route_key).collect();
    assert_eq!(keys[0], keys[1], "the order of ids means nothing");
    assert_ne!(keys[1], keys[2]);
    // FNV-1a of the canonical text: the same in every build (a change here strands the
    // pending escalations of every installation).
    assert_eq!(
        crate::notify::route::canonical(&routes[0]),
        r#"sites=["PS-01","SS-12"];zones=[];priorities=[];notify_on_clear=false;levels=[{after_ns=0;roster=null;recipients=[];webhooks=["g","h"];via=[]}]"#
    );
    assert_eq!(keys[0], "1805f57d5b4c04cd", "FNV-1a 64 of that text");
}

#[test]
fn notify_escalation_is_cancelled_by_return_to_normal_and_by_shelve() {
    let mut f = fixture(TWO_ROUTES);
    let t0 = 1_000 * S;
    f.plan(t0);
    let [rtn, shelved, normal, kept] = ["a", "b", "c", "d"].map(|d| format!("PS-01:{d}:p:low"));
    for a in [&rtn, &shelved, &normal, &kept] {
        f.push(a, StateName::ActiveUnacknowledged, Priority::High, t0);
    }
    f.plan(t0);
    assert_eq!(f.escalations().len(), 4);
    f.push(&rtn, StateName::RtnUnacknowledged, Priority::High, t0 + S);
    f.push(&shelved, StateName::Shelved, Priority::High, t0 + S);
    f.push(&normal, StateName::Normal, Priority::High, t0 + S);
    f.plan(t0 + S);
    assert_eq!(f.escalations().len(), 1);
    assert_eq!(f.plan(t0 + 3 * S).notifications, 1);
    for a in [&rtn, &shelved, &normal] {
        assert_eq!(f.statuses(a).len(), 1, "{a}: only its raised row");
    }
    assert_eq!(f.statuses(&kept).len(), 2);
}

#[test]
fn notify_escalation_levels_older_than_max_age_are_not_told_after_a_stop() {
    let mut f = fixture(
        r#"
[[notify.routes]]
levels = [
  { webhooks = ["hook"] },
  { after = "2s", recipients = ["chef"], via = ["email"] },
  { after = "20s", recipients = ["amina"], via = ["email"] },
]
"#,
    );
    let t0 = 1_000 * S;
    let max_age = 10 * S;
    f.plan_aged(t0, max_age);
    f.push(A, StateName::ActiveUnacknowledged, Priority::High, t0);
    assert_eq!(f.plan_aged(t0, max_age).notifications, 1);
    // The notifier was stopped 15 s: level 1 (due at 2 s) is too old, level 2 waits.
    let p = f.plan_aged(t0 + 15 * S, max_age);
    assert_eq!((p.notifications, p.too_old), (0, 1));
    assert_eq!(f.escalations()[0].2, 2);
    assert_eq!(f.plan_aged(t0 + 20 * S, max_age).notifications, 1);
    assert_eq!(f.rows()[1], row("amina", "email", "escalated", 2));
}

#[test]
fn notify_a_pending_escalation_survives_a_restart_and_fires_once() {
    let mut f = fixture(TWO_ROUTES);
    let t0 = 1_000 * S;
    f.plan(t0);
    f.push(A, StateName::ActiveUnacknowledged, Priority::High, t0);
    f.plan(t0);
    // The notifier stops and starts again: a new connection, the same file.
    f.db = Db::open(f.dir.path()).unwrap();
    assert_eq!(f.escalations().len(), 1);
    assert_eq!(f.plan(t0 + 2 * S).notifications, 1);
    f.db = Db::open(f.dir.path()).unwrap();
    assert_eq!(f.plan(t0 + 3 * S).notifications, 0);
    assert_eq!(
        f.rows(),
        [
            row("hook", "webhook", "raised", 0),
            row("amina", "email", "escalated", 1)
        ]
    );
}

#[test]
fn notify_an_activation_stamped_a_moment_ahead_is_told_at_once() {
    let mut f = fixture(TWO_ROUTES);
    let t0 = 1_000 * S;
    f.plan(t0);
    // The event's time (its poll's scheduled time) is a little after the notifier's clock.
    f.push(
        A,
        StateName::ActiveUnacknowledged,
        Priority::High,
        t0 + S / 2,
    );
    assert_eq!(f.plan(t0).notifications, 1);
    assert_eq!(f.rows(), [row("hook", "webhook", "raised", 0)]);
    assert_eq!(f.escalations()[0].2, 1);
}
