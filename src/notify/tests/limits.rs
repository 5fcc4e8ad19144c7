//! Rate limits and priorities: critical first and exempt from the hourly budget, not held
//! back by a message being retried; notifications superseded by a later journal event.

use super::fixture::{Fixture, S, fixture, limits, status};
use crate::alarm::{Priority, StateName};
use crate::notify::outbox::Limits;

const TO_AMINA: &str = r#"
[[notify.routes]]
levels = [{ recipients = ["amina"], via = ["email"] }]
"#;

fn raise(f: &mut Fixture, alarm: &str, priority: Priority, t: i64) {
    f.push(alarm, StateName::ActiveUnacknowledged, priority, t);
    assert_eq!(f.plan(t).notifications, 1, "{alarm}");
}

/// The alarm ids of a message, in its order.
fn alarms(b: &crate::notify::outbox::Batch) -> Vec<&str> {
    b.items.iter().map(|i| i.alarm.alarm_id.as_str()).collect()
}

#[test]
fn notify_critical_skips_the_spent_rate_limit_but_not_min_interval() {
    let mut f = fixture(TO_AMINA);
    let t0 = 1_000 * S;
    f.plan(t0);
    // One message per hour, 30 s apart: the first goes.
    let lim = limits(30, 1);
    raise(&mut f, "PS-01:a:x", Priority::High, t0);
    let first = f.take(t0, lim);
    f.db.mark_sent(first[0].id, t0).unwrap();
    // The hour's budget is spent: a high alarm waits…
    raise(&mut f, "PS-01:b:x", Priority::High, t0 + 10 * S);
    assert!(f.take(t0 + 40 * S, lim).is_empty());
    // …a critical one does not, but still waits min_interval, and takes what waits along,
    // itself first.
    raise(&mut f, "PS-01:c:x", Priority::Critical, t0 + 20 * S);
    assert!(f.take(t0 + 29 * S, lim).is_empty(), "min_interval holds");
    let crit = t0 + 30 * S;
    let b = f.take(crit, lim);
    assert_eq!(b.len(), 1);
    assert_eq!(alarms(&b[0]), ["PS-01:c:x", "PS-01:b:x"]);
    f.db.mark_sent(b[0].id, crit).unwrap();
    // Without the exemption, a critical alarm waits for the budget like the others.
    raise(&mut f, "PS-01:d:x", Priority::Critical, t0 + 100 * S);
    let strict = Limits {
        exempt: None,
        ..lim
    };
    assert!(f.take(t0 + 100 * S, strict).is_empty());
    assert_eq!(f.take(t0 + 3700 * S, strict).len(), 1);
}

#[test]
fn notify_a_message_takes_the_most_urgent_notifications_first() {
    let mut f = fixture(TO_AMINA);
    let t0 = 1_000 * S;
    f.plan(t0);
    for (i, p) in [
        Priority::Low,
        Priority::High,
        Priority::Medium,
        Priority::Low,
        Priority::Critical,
    ]
    .into_iter()
    .enumerate()
    {
        raise(&mut f, &format!("PS-01:p{i}:x"), p, t0 + i as i64);
    }
    // At most 3 per message: critical, high, medium; the lows wait.
    let b = f.take(t0 + 10, limits(0, 20));
    assert_eq!(alarms(&b[0]), ["PS-01:p4:x", "PS-01:p1:x", "PS-01:p2:x"]);
    // The message id is still its smallest outbox id.
    let min = b[0].items.iter().map(|i| i.outbox_id).min().unwrap();
    assert_eq!(b[0].id, min);
}

#[test]
fn notify_a_retrying_message_does_not_hold_back_a_critical_one() {
    let mut f = fixture(TO_AMINA);
    let t0 = 1_000 * S;
    f.plan(t0);
    let lim = limits(0, 20);
    raise(&mut f, "PS-01:a:x", Priority::High, t0);
    let a = f.take(t0, lim);
    f.db.mark_retry(a[0].id, t0 + 300 * S, "HTTP 503").unwrap();
    // A high alarm waits behind the retry…
    raise(&mut f, "PS-01:b:x", Priority::High, t0 + 5 * S);
    assert!(f.take(t0 + 5 * S, lim).is_empty());
    // …a critical one forms its own message, and what waits goes along.
    raise(&mut f, "PS-01:c:x", Priority::Critical, t0 + 10 * S);
    let c = f.take(t0 + 10 * S, lim);
    assert_eq!(c.len(), 1);
    assert_ne!(c[0].id, a[0].id);
    assert_eq!(alarms(&c[0]), ["PS-01:c:x", "PS-01:b:x"]);
    f.db.mark_sent(c[0].id, t0 + 10 * S).unwrap();
    // The retried message goes at its time, as it was.
    assert!(f.take(t0 + 200 * S, lim).is_empty());
    let again = f.take(t0 + 300 * S, lim);
    assert_eq!(
        (again[0].id, alarms(&again[0])),
        (a[0].id, vec!["PS-01:a:x"])
    );
}

#[test]
fn notify_notifications_superseded_by_an_ack_are_not_sent() {
    let mut f = fixture(TO_AMINA);
    let t0 = 1_000 * S;
    f.plan(t0);
    let lim = limits(0, 20);
    // Acknowledged before its message is built: not sent, not failed, not pending.
    raise(&mut f, "PS-01:a:x", Priority::Critical, t0);
    f.push(
        "PS-01:a:x",
        StateName::ActiveAcknowledged,
        Priority::Critical,
        t0 + S,
    );
    f.plan(t0 + S);
    assert!(f.take(t0 + 2 * S, lim).is_empty());
    assert_eq!(
        f.statuses("PS-01:a:x"),
        [status("amina", "raised", "superseded")]
    );
    assert_eq!(f.db.pending().unwrap(), 0);
    // In a message being retried: dropped from it, and a message left empty is not sent.
    raise(&mut f, "PS-01:b:x", Priority::High, t0 + 10 * S);
    let b = f.take(t0 + 10 * S, lim);
    f.db.mark_retry(b[0].id, t0 + 20 * S, "timeout").unwrap();
    f.push("PS-01:b:x", StateName::Shelved, Priority::High, t0 + 15 * S);
    f.plan(t0 + 15 * S);
    assert!(f.take(t0 + 20 * S, lim).is_empty());
    assert_eq!(
        f.statuses("PS-01:b:x"),
        [status("amina", "raised", "superseded")]
    );
    // Superseded rows are not given up (failed) at max_age either.
    assert!(f.db.expire(t0 + 100 * S, 10 * S).unwrap().is_empty());
    // An alarm raised again: the new activation is sent, the old one's row superseded.
    raise(&mut f, "PS-01:c:x", Priority::High, t0 + 30 * S);
    f.push("PS-01:c:x", StateName::Normal, Priority::High, t0 + 31 * S);
    raise(&mut f, "PS-01:c:x", Priority::High, t0 + 32 * S);
    let c = f.take(t0 + 33 * S, lim);
    assert_eq!(c[0].items.len(), 1);
    assert_eq!(c[0].items[0].alarm.time_ns, t0 + 32 * S);
}
