//! Planning, escalation, batching, limits and expiry on a real SQLite file.

use super::event;
use super::fixture::{S, fixture, limits, row};
use crate::alarm::{Priority, StateName};
use crate::notify::route::Channel;
use std::collections::HashSet;

const ROUTE: &str = r#"
[[notify.routes]]
priorities = ["critical"]
notify_on_clear = true
levels = [
  { recipients = ["amina"], via = ["email"], webhooks = ["hook"] },
  { after = "2s", recipients = ["chef"], via = ["email"] },
  { after = "4s", webhooks = ["hook"] },
]
"#;

#[test]
fn notify_planning_starts_at_the_journal_end_and_escalates_until_acknowledged() {
    let mut f = fixture(ROUTE);
    let t0 = 1_000 * S;
    let a = "PS-01:pump1:discharge_pressure_bar:low_low";
    // History before the first start is not notified (but for its last minute).
    f.commit(vec![event(
        0,
        a,
        StateName::ActiveUnacknowledged,
        Priority::Critical,
        t0 - 61 * S,
    )]);
    assert_eq!(f.plan(t0).events, 0);
    assert!(f.rows().is_empty());

    f.commit(vec![event(
        0,
        a,
        StateName::ActiveUnacknowledged,
        Priority::Critical,
        t0,
    )]);
    // A low-priority alarm matches no route.
    f.commit(vec![event(
        0,
        "SS-12:x:trip",
        StateName::ActiveUnacknowledged,
        Priority::Low,
        t0,
    )]);
    let p = f.plan(t0);
    assert_eq!((p.events, p.notifications), (2, 2));
    assert_eq!(
        f.rows(),
        [
            row("amina", "email", "raised", 0),
            row("hook", "webhook", "raised", 0)
        ]
    );
    // Planning again adds nothing; before 2 s nothing escalates.
    assert_eq!(f.plan(t0 + S).notifications, 0);
    // At 2 s the chef is told, at 4 s the webhook again (level 2).
    assert_eq!(f.plan(t0 + 2 * S).notifications, 1);
    assert_eq!(f.rows()[2], row("chef", "email", "escalated", 1));
    assert_eq!(f.plan(t0 + 4 * S).notifications, 1);
    assert_eq!(f.rows()[3], row("hook", "webhook", "escalated", 2));
    assert_eq!(f.plan(t0 + 60 * S).notifications, 0);

    // A second activation, acknowledged within 2 s: no escalation.
    let b = "PS-01:pump2:discharge_pressure_bar:low_low";
    f.commit(vec![event(
        0,
        b,
        StateName::ActiveUnacknowledged,
        Priority::Critical,
        t0 + 100 * S,
    )]);
    assert_eq!(f.plan(t0 + 100 * S).notifications, 2);
    f.commit(vec![event(
        0,
        b,
        StateName::ActiveAcknowledged,
        Priority::Critical,
        t0 + 101 * S,
    )]);
    assert_eq!(f.plan(t0 + 110 * S).notifications, 0);
    // Back to normal: a cleared message to everyone told of the activation.
    f.commit(vec![event(
        0,
        b,
        StateName::Normal,
        Priority::Critical,
        t0 + 120 * S,
    )]);
    assert_eq!(f.plan(t0 + 120 * S).notifications, 2);
    let rows = f.rows();
    assert_eq!(
        rows[rows.len() - 2..],
        [
            row("amina", "email", "cleared", 0),
            row("hook", "webhook", "cleared", 0)
        ]
    );
}

#[test]
fn notify_old_activations_are_not_notified() {
    let mut f = fixture(ROUTE);
    f.plan(0);
    let now = 100_000 * S;
    f.commit(vec![event(
        0,
        "PS-01:a:b",
        StateName::ActiveUnacknowledged,
        Priority::Critical,
        now - 25 * 3600 * S,
    )]);
    let p = f.plan(now);
    assert_eq!((p.too_old, p.notifications), (1, 0));
    assert!(f.rows().is_empty());
}

#[test]
fn notify_batches_consolidate_respect_limits_and_retry_unchanged() {
    let mut f = fixture(
        r#"
[[notify.routes]]
levels = [{ recipients = ["amina"], via = ["email"] }]
"#,
    );
    let t0 = 1_000 * S;
    f.plan(t0);
    let events = (0..5)
        .map(|i| {
            event(
                0,
                &format!("PS-01:p{i}:x"),
                StateName::ActiveUnacknowledged,
                Priority::High,
                t0,
            )
        })
        .collect();
    f.commit(events);
    assert_eq!(f.plan(t0).notifications, 5);
    let none = HashSet::new();
    let lim = |_: &str, _: Channel| limits(30, 2);
    // One message with at most 3 notifications.
    let b = f.db.take_batches(t0, &none, &lim).unwrap();
    assert_eq!(b.len(), 1);
    let first = &b[0];
    assert_eq!(
        (first.target.as_str(), first.channel, first.items.len()),
        ("amina", Channel::Email, 3)
    );
    let ids: Vec<i64> = first.items.iter().map(|i| i.outbox_id).collect();
    assert_eq!(first.id, ids[0]);
    // While it is in flight (busy), nothing else goes to amina by e-mail.
    let busy: HashSet<_> = [("amina".to_string(), Channel::Email)].into();
    assert!(f.db.take_batches(t0, &busy, &lim).unwrap().is_empty());
    // It fails: retried later as the same message, not before its due time.
    f.db.mark_retry(first.id, t0 + 5 * S, "connection refused")
        .unwrap();
    assert!(
        f.db.take_batches(t0 + 4 * S, &none, &lim)
            .unwrap()
            .is_empty()
    );
    let again = f.db.take_batches(t0 + 5 * S, &none, &lim).unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(
        again[0]
            .items
            .iter()
            .map(|i| i.outbox_id)
            .collect::<Vec<_>>(),
        ids
    );
    assert_eq!((again[0].id, again[0].attempts), (first.id, 1));
    f.db.mark_sent(first.id, t0 + 5 * S).unwrap();
    assert_eq!(f.db.pending().unwrap(), 2);
    // min_interval: the rest waits 30 s after the last message.
    assert!(
        f.db.take_batches(t0 + 20 * S, &none, &lim)
            .unwrap()
            .is_empty()
    );
    let rest = f.db.take_batches(t0 + 35 * S, &none, &lim).unwrap();
    assert_eq!(rest[0].items.len(), 2);
    f.db.mark_sent(rest[0].id, t0 + 35 * S).unwrap();
    // Rate limit: 2 messages per hour reached; a new notification waits for the window.
    f.commit(vec![event(
        0,
        "PS-01:late:x",
        StateName::ActiveUnacknowledged,
        Priority::High,
        t0 + 40 * S,
    )]);
    assert_eq!(f.plan(t0 + 40 * S).notifications, 1);
    assert!(
        f.db.take_batches(t0 + 100 * S, &none, &lim)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        f.db.take_batches(t0 + 3606 * S, &none, &lim).unwrap().len(),
        1
    );
    // Nothing waits past max_age: an old pending row is given up.
    let expired = f.db.expire(t0 + 2 * 86_400 * S, 86_400 * S).unwrap();
    assert_eq!(expired.len(), 1);
    assert_eq!(f.db.pending().unwrap(), 0);
}

#[test]
fn notify_a_retried_message_keeps_its_id_when_its_first_notification_expires() {
    let mut f = fixture(
        r#"
[[notify.routes]]
levels = [{ recipients = ["amina"], via = ["email"] }]
"#,
    );
    let t0 = 1_000 * S;
    f.plan(t0);
    f.commit(vec![event(
        0,
        "PS-01:a:x",
        StateName::ActiveUnacknowledged,
        Priority::High,
        t0,
    )]);
    f.plan(t0);
    f.commit(vec![event(
        0,
        "PS-01:b:x",
        StateName::ActiveUnacknowledged,
        Priority::High,
        t0 + 10 * S,
    )]);
    f.plan(t0 + 10 * S);
    let none = HashSet::new();
    let lim = |_: &str, _: Channel| limits(0, 20);
    let b = f.db.take_batches(t0 + 10 * S, &none, &lim).unwrap();
    assert_eq!(b[0].items.len(), 2);
    let id = b[0].id;
    f.db.mark_retry(id, t0 + 20 * S, "timeout").unwrap();
    // max_age 15 s: the first notification (planned at t0) expires, the second does not.
    assert_eq!(f.db.expire(t0 + 20 * S, 15 * S).unwrap().len(), 1);
    let again = f.db.take_batches(t0 + 20 * S, &none, &lim).unwrap();
    assert_eq!(
        (again[0].id, again[0].items.len(), again[0].attempts),
        (id, 1, 1)
    );
    f.db.mark_sent(again[0].id, t0 + 20 * S).unwrap();
    assert_eq!(f.db.pending().unwrap(), 0);
}
