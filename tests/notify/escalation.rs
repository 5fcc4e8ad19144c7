//! Escalation end to end: a level told while unacknowledged, cancelled by an ack, a
//! return to normal or a shelve, and resumed after the notifier's restart.

use super::{Journal, Notifier, PUBLIC_URL, data_dir, notifications};
use crate::support::eventually;
use crate::support::receivers::HttpReceiver;
use serde_json::Value;
use std::thread;
use std::time::Duration;
use vigie::alarm::{Priority, StateName};

/// Two webhooks on `hook`: `/on-call` at the activation, `/chef` `after` it.
fn two_levels(hook: &HttpReceiver, after: &str) -> String {
    format!(
        r#"
[notify]
public_url = "{PUBLIC_URL}"
min_interval = "0s"
[[notify.webhooks]]
id = "on-call"
url = "{first}"
[[notify.webhooks]]
id = "chef"
url = "{second}"
[[notify.routes]]
levels = [
  {{ webhooks = ["on-call"] }},
  {{ after = "{after}", webhooks = ["chef"] }},
]
"#,
        first = hook.url("/on-call"),
        second = hook.url("/chef"),
    )
}

#[test]
fn escalation_follows_when_unacknowledged_and_an_ack_cancels_it() {
    let hook = HttpReceiver::start(0);
    let dir = data_dir();
    let text = two_levels(&hook, "2s");
    // The alarm store first, as the daemon opens it before the notifier starts.
    let mut journal = Journal::open(dir.path());
    let n = Notifier::start(&text, dir.path());
    let ignored = "PS-01:pump1:discharge_pressure_bar:low_low";
    let acked = "PS-01:pump2:discharge_pressure_bar:low_low";
    let start = journal
        .push(ignored, Priority::High, StateName::ActiveUnacknowledged)
        .time_ns;
    journal.push(acked, Priority::High, StateName::ActiveUnacknowledged);
    n.wake();
    thread::sleep(Duration::from_millis(500));
    // The operator acknowledges the second one within the 2 s.
    journal.push(acked, Priority::High, StateName::ActiveAcknowledged);
    n.wake();

    let escalated = eventually(Duration::from_secs(10), "the escalation", || {
        Some(hook.delivered("/chef")).filter(|r| !r.is_empty())
    });
    let at = escalated[0]["time"].as_f64().unwrap_or(0.0);
    assert!(
        at >= start as f64 / 1e9 + 2.0,
        "escalated {:.2} s after the activation, before its 2 s",
        at - start as f64 / 1e9
    );
    thread::sleep(Duration::from_secs(3));
    let mut first = notifications(&hook.delivered("/on-call"));
    first.sort();
    assert_eq!(
        first,
        [
            (ignored.to_string(), "raised".to_string(), 0),
            (acked.to_string(), "raised".to_string(), 0)
        ]
    );
    assert_eq!(
        notifications(&hook.delivered("/chef")),
        [(ignored.to_string(), "escalated".to_string(), 1)],
        "only the unacknowledged alarm escalates"
    );
    let body: Value = serde_json::from_str(escalated[0]["body"].as_str().unwrap()).unwrap();
    let headline = body["notifications"][0]["headline"]
        .as_str()
        .unwrap_or_default();
    assert!(
        headline.starts_with("ESCALATED HIGH alarm at PS-01"),
        "{headline}"
    );
}

#[test]
fn escalation_is_cancelled_by_a_return_to_normal_and_by_a_shelve() {
    let hook = HttpReceiver::start(0);
    let dir = data_dir();
    let mut journal = Journal::open(dir.path());
    let n = Notifier::start(&two_levels(&hook, "2s"), dir.path());
    let kept = "PS-01:pump1:pressure:low";
    let cleared = "PS-01:pump2:pressure:low";
    let normal = "PS-01:pump3:pressure:low";
    let shelved = "PS-01:pump4:pressure:low";
    for a in [kept, cleared, normal, shelved] {
        journal.push(a, Priority::High, StateName::ActiveUnacknowledged);
    }
    n.wake();
    eventually(Duration::from_secs(10), "the four on-call messages", || {
        (notifications(&hook.delivered("/on-call")).len() == 4).then_some(())
    });
    // Within the 2 s: one clears unacknowledged, one goes back to normal, one is shelved.
    journal.push(cleared, Priority::High, StateName::RtnUnacknowledged);
    journal.push(normal, Priority::High, StateName::Normal);
    journal.push(shelved, Priority::High, StateName::Shelved);
    n.wake();
    eventually(Duration::from_secs(10), "the escalation", || {
        Some(hook.delivered("/chef")).filter(|r| !r.is_empty())
    });
    thread::sleep(Duration::from_secs(3));
    assert_eq!(
        notifications(&hook.delivered("/chef")),
        [(kept.to_string(), "escalated".to_string(), 1)],
        "only the alarm still active and unacknowledged escalates"
    );
}

#[test]
fn a_pending_escalation_survives_a_restart_of_the_notifier_and_fires_once() {
    let hook = HttpReceiver::start(0);
    let dir = data_dir();
    let text = two_levels(&hook, "4s");
    let mut journal = Journal::open(dir.path());
    let mut first = Notifier::start(&text, dir.path());
    let start = journal
        .push(
            super::ALARM,
            Priority::Critical,
            StateName::ActiveUnacknowledged,
        )
        .time_ns;
    first.wake();
    eventually(Duration::from_secs(10), "the on-call message", || {
        Some(hook.delivered("/on-call")).filter(|r| !r.is_empty())
    });
    first.stop();
    drop(first);
    // Stopped past the escalation's time: it is told at the next start, once.
    thread::sleep(Duration::from_secs(5));
    assert!(hook.delivered("/chef").is_empty());
    let second = Notifier::start(&text, dir.path());
    let chef = eventually(
        Duration::from_secs(10),
        "the escalation after the restart",
        || Some(hook.delivered("/chef")).filter(|r| !r.is_empty()),
    );
    let at = chef[0]["time"].as_f64().unwrap_or(0.0);
    assert!(at >= start as f64 / 1e9 + 4.0);
    thread::sleep(Duration::from_secs(3));
    assert_eq!(
        notifications(&hook.delivered("/chef")),
        [(super::ALARM.to_string(), "escalated".to_string(), 1)]
    );
    assert_eq!(notifications(&hook.delivered("/on-call")).len(), 1);
    assert_eq!((second.sent(), second.pending()), (1, 0));
}
