//! Floods: a burst consolidated under the rate limit, nothing lost.

use super::{Journal, Notifier, PUBLIC_URL, data_dir, notifications};
use crate::support::eventually;
use crate::support::receivers::HttpReceiver;
use std::thread;
use std::time::Duration;
use vigie::alarm::{Priority, StateName};

#[test]
fn a_burst_is_consolidated_under_the_rate_limit_and_nothing_is_lost() {
    let hook = HttpReceiver::start(0);
    let dir = data_dir();
    let text = format!(
        r#"
[notify]
public_url = "{PUBLIC_URL}"
min_interval = "1s"
[[notify.webhooks]]
id = "hook"
url = "{url}"
rate_limit = {{ messages = 2, per = "4s" }}
[[notify.routes]]
levels = [{{ webhooks = ["hook"] }}]
"#,
        url = hook.url("/hook"),
    );
    // The alarm store first, as the daemon opens it before the notifier starts.
    let mut journal = Journal::open(dir.path());
    let n = Notifier::start(&text, dir.path());
    let ids: Vec<String> = (0..20)
        .map(|i| format!("PS-01:pump{i}:pressure:low"))
        .collect();
    for id in &ids {
        journal.push(id, Priority::Medium, StateName::ActiveUnacknowledged);
        n.wake();
        thread::sleep(Duration::from_millis(200));
    }
    let requests = eventually(Duration::from_secs(20), "all 20 alarms", || {
        let r = hook.delivered("/hook");
        (notifications(&r).len() >= ids.len()).then_some(r)
    });
    thread::sleep(Duration::from_secs(2));
    assert_eq!(hook.requests().len(), requests.len(), "no more messages");
    let mut got: Vec<String> = notifications(&requests)
        .into_iter()
        .map(|(id, _, _)| id)
        .collect();
    got.sort();
    let mut want = ids.clone();
    want.sort();
    assert_eq!(got, want, "each alarm exactly once");
    assert!(
        requests.len() <= 6,
        "20 alarms in {} messages: not consolidated",
        requests.len()
    );
    let times: Vec<f64> = requests
        .iter()
        .map(|r| r["time"].as_f64().unwrap_or(0.0))
        .collect();
    for w in times.windows(2) {
        assert!(w[1] - w[0] >= 0.95, "min_interval 1 s broken: {times:?}");
    }
    for w in times.windows(3) {
        assert!(
            w[2] - w[0] >= 3.95,
            "rate limit 2 per 4 s broken: {times:?}"
        );
    }
    assert_eq!(n.pending(), 0);
}

#[test]
fn a_critical_alarm_is_not_held_by_a_spent_rate_limit() {
    let hook = HttpReceiver::start(0);
    let dir = data_dir();
    let text = format!(
        r#"
[notify]
public_url = "{PUBLIC_URL}"
min_interval = "1s"
[[notify.webhooks]]
id = "hook"
url = "{url}"
rate_limit = {{ messages = 1, per = "1h" }}
[[notify.routes]]
levels = [{{ webhooks = ["hook"] }}]
"#,
        url = hook.url("/hook"),
    );
    let mut journal = Journal::open(dir.path());
    let n = Notifier::start(&text, dir.path());
    journal.push(
        "PS-01:a:p:low",
        Priority::High,
        StateName::ActiveUnacknowledged,
    );
    n.wake();
    eventually(Duration::from_secs(10), "the first message", || {
        Some(hook.delivered("/hook")).filter(|r| !r.is_empty())
    });
    // The hour's one message is spent: a high alarm waits…
    journal.push(
        "PS-01:b:p:low",
        Priority::High,
        StateName::ActiveUnacknowledged,
    );
    n.wake();
    thread::sleep(Duration::from_secs(2));
    assert_eq!(hook.requests().len(), 1);
    // …a critical one goes (after min_interval), first, and takes the waiting one along.
    journal.push(
        "PS-01:c:p:low",
        Priority::Critical,
        StateName::ActiveUnacknowledged,
    );
    n.wake();
    let r = eventually(Duration::from_secs(10), "the critical alarm", || {
        Some(hook.delivered("/hook")).filter(|r| r.len() == 2)
    });
    let second: Vec<String> = notifications(&r[1..])
        .into_iter()
        .map(|(id, _, _)| id)
        .collect();
    assert_eq!(second, ["PS-01:c:p:low", "PS-01:b:p:low"]);
    assert_eq!(n.pending(), 0);
}
