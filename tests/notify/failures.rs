//! Receivers that fail: down at first, refusing (4xx), busy (429), and the notifier
//! restarted with notifications pending.

use super::{
    ALARM, Journal, Notifier, PUBLIC_URL, data_dir, notifications, now_ns, outbox, outbox_statuses,
};
use crate::support::eventually;
use crate::support::free_ports;
use crate::support::receivers::{HttpReceiver, SmtpReceiver};
use std::collections::HashMap;
use std::thread;
use std::time::{Duration, Instant};
use vigie::alarm::{Priority, StateName};

#[test]
fn a_4xx_answer_is_final_but_408_and_429_are_retried() {
    // The gateway refuses the request (400, with a long explanation), one webhook is gone
    // (404), the other rate-limits (429) once.
    let gateway = HttpReceiver::start_with(0, 0, 503, &[("/send", 400)]);
    let hooks = HttpReceiver::start_with(0, 1, 429, &[("/gone", 404)]);
    let dir = data_dir();
    let text = format!(
        r#"
[notify]
public_url = "{PUBLIC_URL}"
min_interval = "0s"
[notify.sms]
url = "{sms}?to={{to}}"
body = '{{"to": "{{to}}", "message": "{{text}}"}}'
[[notify.webhooks]]
id = "gone"
url = "{gone}"
[[notify.webhooks]]
id = "busy"
url = "{busy}"
[[notify.recipients]]
id = "amina"
phone = "+212600000001"
[[notify.routes]]
levels = [{{ recipients = ["amina"], via = ["sms"], webhooks = ["gone", "busy"] }}]
"#,
        sms = gateway.url("/send"),
        gone = hooks.url("/gone"),
        busy = hooks.url("/busy"),
    );
    let mut journal = Journal::open(dir.path());
    let n = Notifier::start(&text, dir.path());
    let started = Instant::now();
    journal.push(ALARM, Priority::Critical, StateName::ActiveUnacknowledged);
    n.wake();
    eventually(
        Duration::from_secs(15),
        "the busy webhook after its retry",
        || Some(hooks.delivered("/busy")).filter(|r| !r.is_empty()),
    );
    // Past the first retry's latest time (5 s + 20 %): the refused ones were not retried.
    thread::sleep(Duration::from_secs(8).saturating_sub(started.elapsed()));
    assert_eq!(gateway.requests().len(), 1, "{:?}", gateway.requests());
    assert_eq!(gateway.requests()[0]["status"], 400);
    let gone = hooks
        .requests()
        .into_iter()
        .filter(|r| r["path"] == "/gone")
        .count();
    assert_eq!(gone, 1);
    let busy: Vec<_> = hooks
        .requests()
        .into_iter()
        .filter(|r| r["path"] == "/busy")
        .collect();
    assert_eq!(busy.len(), 2);
    assert_eq!(
        (busy[0]["status"].as_u64(), busy[1]["status"].as_u64()),
        (Some(429), Some(200))
    );
    assert_eq!(
        (n.sent(), n.failed(), n.retried(), n.pending()),
        (1, 2, 1, 0),
        "sent, failed, retried, pending"
    );
    // Recorded with the status and the reply's first 200 characters.
    let errors: HashMap<String, (String, String)> = outbox(dir.path(), "target")
        .into_iter()
        .zip(
            outbox(dir.path(), "status")
                .into_iter()
                .zip(outbox(dir.path(), "last_error")),
        )
        .collect();
    let (status, error) = &errors["amina"];
    assert_eq!(status, "failed");
    let head = "SMS gateway: HTTP 400 Bad Request: rejected: ";
    assert!(error.starts_with(head), "{error}");
    assert_eq!(
        error.chars().count(),
        head.len() - "rejected: ".len() + 200,
        "{error}"
    );
    let (status, error) = &errors["gone"];
    assert_eq!(status, "failed");
    assert!(
        error.starts_with("webhook \"gone\": HTTP 404 Not Found: rejected: x"),
        "{error}"
    );
    assert_eq!(errors["busy"], ("sent".to_string(), String::new()));
}

#[test]
fn a_receiver_down_at_first_gets_the_notification_once_it_is_back_exactly_once() {
    let [hook_port, smtp_port] = free_ports::<2>();
    let dir = data_dir();
    let text = format!(
        r#"
[notify]
public_url = "{PUBLIC_URL}"
min_interval = "0s"
[notify.smtp]
host = "127.0.0.1"
port = {smtp_port}
tls = "none"
from = "vigie@example.net"
timeout = "3s"
[[notify.webhooks]]
id = "hook"
url = "http://127.0.0.1:{hook_port}/hook"
timeout = "3s"
[[notify.recipients]]
id = "amina"
email = "amina@example.net"
[[notify.routes]]
levels = [{{ recipients = ["amina"], via = ["email"], webhooks = ["hook"] }}]
"#
    );
    // The alarm store first, as the daemon opens it before the notifier starts.
    let mut journal = Journal::open(dir.path());
    let n = Notifier::start(&text, dir.path());
    journal.push(ALARM, Priority::High, StateName::ActiveUnacknowledged);
    n.wake();
    // Nothing listens: both sends fail and are scheduled again.
    eventually(Duration::from_secs(10), "two failed attempts", || {
        (n.retried() >= 2).then_some(())
    });
    assert_eq!(n.pending(), 2);
    let hook = HttpReceiver::start_on(hook_port, 0);
    let smtp = SmtpReceiver::start_on(smtp_port);
    eventually(
        Duration::from_secs(15),
        "delivery once the receivers are back",
        || (hook.delivered("/hook").len() == 1 && smtp.messages().len() == 1).then_some(()),
    );
    // Later: still exactly once.
    thread::sleep(Duration::from_secs(6));
    assert_eq!(hook.requests().len(), 1, "{:?}", hook.requests());
    assert_eq!(smtp.messages().len(), 1);
    assert_eq!(
        notifications(&hook.requests()),
        [(ALARM.to_string(), "raised".to_string(), 0)]
    );
    assert_eq!((n.sent(), n.pending()), (2, 0));
}

#[test]
fn a_restart_delivers_pending_notifications_once_and_does_not_renotify_the_journal() {
    let [port] = free_ports::<1>();
    let dir = data_dir();
    let text = format!(
        r#"
[notify]
public_url = "{PUBLIC_URL}"
min_interval = "0s"
[[notify.webhooks]]
id = "hook"
url = "http://127.0.0.1:{port}/hook"
timeout = "2s"
[[notify.routes]]
levels = [{{ webhooks = ["hook"] }}]
"#
    );
    let mut journal = Journal::open(dir.path());
    // History from before the first start is not notified.
    journal.push_at(
        "PS-01:old:pressure:low",
        Priority::High,
        StateName::ActiveUnacknowledged,
        now_ns() - 120_000_000_000,
    );
    let mut first = Notifier::start(&text, dir.path());
    thread::sleep(Duration::from_millis(1500));
    journal.push(
        "PS-01:a:pressure:low",
        Priority::High,
        StateName::ActiveUnacknowledged,
    );
    first.wake();
    eventually(Duration::from_secs(10), "a failed attempt", || {
        (first.retried() >= 1).then_some(())
    });
    first.stop();
    // While vigie's notifier is stopped, the engine goes on.
    journal.push(
        "PS-01:b:pressure:low",
        Priority::High,
        StateName::ActiveUnacknowledged,
    );

    let hook = HttpReceiver::start_on(port, 0);
    let second = Notifier::start(&text, dir.path());
    let want = |ids: &[&str]| -> Vec<(String, String, u64)> {
        ids.iter()
            .map(|i| (i.to_string(), "raised".to_string(), 0))
            .collect()
    };
    eventually(
        Duration::from_secs(15),
        "both notifications after the restart",
        || (notifications(&hook.delivered("/hook")).len() >= 2).then_some(()),
    );
    thread::sleep(Duration::from_secs(3));
    let mut got = notifications(&hook.requests());
    got.sort();
    assert_eq!(got, want(&["PS-01:a:pressure:low", "PS-01:b:pressure:low"]));
    assert_eq!(second.pending(), 0);
    let mut second = second;
    second.stop();

    // A third start reads nothing new and sends nothing.
    let before = hook.requests().len();
    let third = Notifier::start(&text, dir.path());
    third.wake();
    thread::sleep(Duration::from_secs(3));
    assert_eq!(hook.requests().len(), before);
    let mut again = notifications(&hook.requests());
    again.sort();
    assert_eq!(again, got, "nothing sent again");
    assert_eq!(third.sent(), 0);
    let statuses: HashMap<String, usize> =
        outbox_statuses(dir.path())
            .into_iter()
            .fold(HashMap::new(), |mut m, s| {
                *m.entry(s).or_default() += 1;
                m
            });
    assert_eq!(statuses, HashMap::from([("sent".to_string(), 2)]));
}
