//! The notifier (`vigie::notify::run`) against real receivers on loopback ports: an HTTP
//! server for webhooks and the SMS gateway (`tests/peers/http_receiver.py`) and an SMTP
//! server (aiosmtpd, `tests/peers/smtp_receiver.py`). Alarm events are appended to the
//! journal with `Store::commit`, as the alarm engine does.

mod support;

#[path = "notify/escalation.rs"]
mod escalation;
#[path = "notify/failures.rs"]
mod failures;
#[path = "notify/floods.rs"]
mod floods;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use support::eventually;
use support::free_ports;
use support::receivers::{HttpReceiver, SmtpReceiver};
use tokio::sync::{Notify, watch};
use vigie::alarm::store::Store;
use vigie::alarm::{AlarmEvent, Priority, StateName};
use vigie::config::Config;
use vigie::notify::{self, NotifyMetrics};

const NETWORK: &str = r#"
[[zones]]
id = "Z-NORTH"
utility = "water"
fed_by = ["PS-01"]
[[sites]]
id = "PS-01"
name = "Station Nord"
kind = "pumping_station"
[[sites]]
id = "SS-12"
kind = "substation"
"#;

const PUBLIC_URL: &str = "http://vigie.example.net:8080";

/// `notify::run` on its own runtime, stopped on drop.
struct Notifier {
    rt: tokio::runtime::Runtime,
    stop: watch::Sender<bool>,
    handle: Option<tokio::task::JoinHandle<()>>,
    wake: Arc<Notify>,
    metrics: Arc<NotifyMetrics>,
}

impl Notifier {
    /// Starts the notifier with `[notify]` `text` (after [`NETWORK`]) on `data_dir`; the
    /// configuration must pass `validate`.
    fn start(text: &str, data_dir: &Path) -> Notifier {
        let config: Config = toml::from_str(&format!("{NETWORK}{text}"))
            .unwrap_or_else(|e| panic!("test config: {e}"));
        let cfg = config.notify.clone().expect("[notify] in the test config");
        let problems = vigie::config::notify::validate(&cfg, &config);
        assert!(problems.is_empty(), "test config: {problems:?}");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let (stop, stop_rx) = watch::channel(false);
        let wake = Arc::new(Notify::new());
        let metrics = Arc::new(NotifyMetrics::default());
        let handle = rt.spawn(notify::run(
            cfg,
            Arc::new(config),
            data_dir.to_path_buf(),
            wake.clone(),
            metrics.clone(),
            stop_rx,
        ));
        Notifier {
            rt,
            stop,
            handle: Some(handle),
            wake,
            metrics,
        }
    }

    /// What the alarm store does after a commit.
    fn wake(&self) {
        self.wake.notify_one();
    }

    fn sent(&self) -> u64 {
        self.metrics.sent.load(Ordering::Relaxed)
    }
    fn failed(&self) -> u64 {
        self.metrics.failed.load(Ordering::Relaxed)
    }
    fn retried(&self) -> u64 {
        self.metrics.retried.load(Ordering::Relaxed)
    }
    fn pending(&self) -> u64 {
        self.metrics.pending.load(Ordering::Relaxed)
    }

    /// Sets `stop` and waits (at most 10 s) for `run` to return; false when it did not.
    fn shutdown(&mut self) -> bool {
        let _ = self.stop.send(true);
        match self.handle.take() {
            Some(h) => matches!(
                self.rt
                    .block_on(async { tokio::time::timeout(Duration::from_secs(10), h).await }),
                Ok(Ok(()))
            ),
            None => true,
        }
    }

    /// [`Notifier::shutdown`], which must succeed.
    fn stop(&mut self) {
        assert!(self.shutdown(), "notify::run did not stop within 10 s");
    }
}

impl Drop for Notifier {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// The journal, written as the alarm engine writes it.
struct Journal {
    store: Store,
}

impl Journal {
    fn open(dir: &Path) -> Journal {
        Journal {
            store: Store::open(dir).expect("open the alarm store"),
        }
    }

    /// Appends one event of `alarm_id` (`SITE:DEVICE:POINT:CONDITION`) at `time_ns`.
    fn push_at(
        &mut self,
        alarm_id: &str,
        priority: Priority,
        to: StateName,
        time_ns: i64,
    ) -> AlarmEvent {
        let mut parts = alarm_id.split(':');
        let site = parts.next().unwrap_or_default().to_string();
        let device = parts.next().unwrap_or_default().to_string();
        let point = parts.next().map(str::to_string);
        let from = if to == StateName::ActiveUnacknowledged {
            StateName::Normal
        } else {
            StateName::ActiveUnacknowledged
        };
        let operator = (to == StateName::ActiveAcknowledged).then(|| "Amina".to_string());
        let mut events = [AlarmEvent {
            seq: 0,
            time_ns,
            alarm_id: alarm_id.to_string(),
            site,
            device,
            point,
            condition: "low_low".into(),
            priority,
            from_state: from,
            to_state: to,
            value: Some(1.2),
            limit: Some(1.5),
            message: format!("{alarm_id} pressure low-low"),
            operator,
            comment: None,
        }];
        self.store
            .commit(&mut events, &[])
            .expect("commit an event");
        events[0].clone()
    }

    fn push(&mut self, alarm_id: &str, priority: Priority, to: StateName) -> AlarmEvent {
        self.push_at(alarm_id, priority, to, now_ns())
    }
}

fn data_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("vigie-notify-")
        .tempdir()
        .expect("create temp dir")
}

/// The generic payloads' notifications among `requests`, as (alarm id, kind, level).
fn notifications(requests: &[Value]) -> Vec<(String, String, u64)> {
    requests
        .iter()
        .flat_map(|r| {
            let body: Value =
                serde_json::from_str(r["body"].as_str().unwrap_or("")).unwrap_or(Value::Null);
            body["notifications"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .map(|n| {
            (
                n["alarm_id"].as_str().unwrap_or_default().to_string(),
                n["kind"].as_str().unwrap_or_default().to_string(),
                n["level"].as_u64().unwrap_or(99),
            )
        })
        .collect()
}

/// Every outbox row's status, by id.
fn outbox_statuses(dir: &Path) -> Vec<String> {
    outbox(dir, "status")
}

/// One column of every outbox row, by id.
fn outbox(dir: &Path, column: &str) -> Vec<String> {
    let conn = rusqlite::Connection::open(dir.join("alarms.sqlite")).expect("open the database");
    let mut stmt = conn
        .prepare(&format!(
            "SELECT COALESCE({column}, '') FROM notify_outbox ORDER BY id"
        ))
        .expect("query the outbox");
    stmt.query_map([], |r| r.get(0))
        .expect("query the outbox")
        .collect::<Result<_, _>>()
        .expect("read the outbox")
}

/// The database's instance id, in every message id.
fn instance(dir: &Path) -> String {
    let conn = rusqlite::Connection::open(dir.join("alarms.sqlite")).expect("open the database");
    conn.query_row("SELECT instance FROM notify_instance", [], |r| r.get(0))
        .expect("the instance id")
}

const ALARM: &str = "PS-01:pump1:discharge_pressure_bar:low_low";

#[test]
fn an_activation_reaches_webhook_email_and_sms_with_the_ack_link() {
    let hook = HttpReceiver::start(0);
    // The SMS gateway is overloaded at first: 503 to its first request.
    let gateway = HttpReceiver::start(1);
    let [smtp_port] = free_ports::<1>();
    let smtp = SmtpReceiver::start_on(smtp_port);
    let dir = data_dir();
    let text = format!(
        r#"
[notify]
public_url = "{PUBLIC_URL}"
timezone = "Africa/Casablanca"
min_interval = "0s"
[notify.smtp]
host = "127.0.0.1"
port = {smtp_port}
tls = "none"
from = "vigie <vigie@example.net>"
timeout = "5s"
[notify.sms]
url = "{sms}?to={{to}}"
body = '{{"to": "{{to}}", "message": "{{text}}"}}'
headers = {{ Authorization = "Bearer test-token" }}
[[notify.webhooks]]
id = "control-room"
url = "{hook}"
headers = {{ "X-Test" = "yes" }}
[[notify.recipients]]
id = "amina"
email = "amina@example.net"
phone = "+212600000001"
[[notify.routes]]
zones = ["Z-NORTH"]
priorities = ["critical"]
levels = [{{ recipients = ["amina"], via = ["email", "sms"], webhooks = ["control-room"] }}]
"#,
        sms = gateway.url("/send"),
        hook = hook.url("/hook"),
    );
    // The alarm store first, as the daemon opens it before the notifier starts.
    let mut journal = Journal::open(dir.path());
    let n = Notifier::start(&text, dir.path());
    let e = journal.push(ALARM, Priority::Critical, StateName::ActiveUnacknowledged);
    // Another site's alarm matches no route (the route is for zone Z-NORTH).
    journal.push(
        "SS-12:feeder2:trip",
        Priority::Critical,
        StateName::ActiveUnacknowledged,
    );
    n.wake();

    let ack_url = format!("{PUBLIC_URL}/api/v1/alarms/{ALARM}/ack");
    let tz = jiff::tz::TimeZone::get("Africa/Casablanca").expect("tzdata: Africa/Casablanca");
    let local_time = jiff::Timestamp::from_nanosecond(i128::from(e.time_ns))
        .expect("event time")
        .to_zoned_datetime(tz)
        .strftime("%Y-%m-%dT%H:%M:%S%:z")
        .to_string();

    // The webhook: the generic JSON.
    let hooks = eventually(Duration::from_secs(10), "the webhook", || {
        Some(hook.delivered("/hook")).filter(|r| !r.is_empty())
    });
    let r = &hooks[0];
    assert_eq!(r["method"], "POST");
    assert_eq!(r["headers"]["content-type"], "application/json");
    assert_eq!(r["headers"]["x-test"], "yes");
    let key = r["headers"]["idempotency-key"].as_str().unwrap_or_default();
    let prefix = format!("vigie-notify-{}-", instance(dir.path()));
    assert_eq!(prefix.len(), "vigie-notify-".len() + 17);
    assert!(key.starts_with(&prefix), "{prefix}: {r}");
    let body: Value = serde_json::from_str(r["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["message_id"], key);
    assert_eq!(body["count"], 1);
    let one = &body["notifications"][0];
    assert_eq!(one["alarm_id"], ALARM);
    assert_eq!(one["site"], "PS-01");
    assert_eq!(one["site_name"], "Station Nord");
    assert_eq!(one["priority"], "critical");
    assert_eq!(one["state"], "active_unacknowledged");
    assert_eq!(one["kind"], "raised");
    assert_eq!(one["message"], format!("{ALARM} pressure low-low"));
    assert_eq!(one["time"], local_time);
    assert_eq!(one["ack_url"], ack_url);
    assert_eq!(one["ack"]["method"], "POST");
    assert!(one["notification"].as_i64().is_some());

    // The e-mail, through a real SMTP server.
    let mails = eventually(Duration::from_secs(10), "the e-mail", || {
        Some(smtp.messages()).filter(|m| !m.is_empty())
    });
    let m = &mails[0];
    assert_eq!(m["mail_from"], "vigie@example.net");
    assert_eq!(m["rcpt_tos"], serde_json::json!(["amina@example.net"]));
    let subject = m["subject"].as_str().unwrap_or_default();
    assert!(
        subject.contains("CRITICAL alarm at PS-01 (Station Nord)"),
        "subject: {subject}"
    );
    let message_id = m["message_id"].as_str().unwrap_or_default();
    assert!(
        message_id.starts_with(&format!("<{prefix}")) && message_id.ends_with("@example.net>"),
        "{message_id}"
    );
    let mail_body = m["body"].as_str().unwrap_or_default();
    for part in [
        format!("Alarm:        {ALARM}"),
        "Priority:     critical".to_string(),
        "State:        active_unacknowledged".to_string(),
        format!("Time:         {local_time}"),
        format!("Acknowledge:  POST {ack_url}"),
        "\"operator\"".to_string(),
    ] {
        assert!(
            mail_body.contains(&part),
            "{part:?} not in the e-mail:\n{mail_body}"
        );
    }

    // The SMS: refused once (503), delivered on the retry with the same message id.
    let sms = eventually(Duration::from_secs(15), "the SMS after its retry", || {
        Some(gateway.requests()).filter(|r| r.len() >= 2)
    });
    assert_eq!(sms[0]["status"], 503);
    assert_eq!(sms[1]["status"], 200);
    assert_eq!(
        sms[0]["headers"]["idempotency-key"],
        sms[1]["headers"]["idempotency-key"]
    );
    assert_eq!(sms[1]["path"], "/send?to=%2B212600000001");
    assert_eq!(sms[1]["headers"]["authorization"], "Bearer test-token");
    let sms_body: Value = serde_json::from_str(sms[1]["body"].as_str().unwrap()).unwrap();
    assert_eq!(sms_body["to"], "+212600000001");
    let sms_text = sms_body["message"].as_str().unwrap_or_default();
    assert!(
        sms_text.contains(ALARM) && sms_text.contains(&format!("Ack: POST {ack_url}")),
        "{sms_text}"
    );

    eventually(
        Duration::from_secs(5),
        "metrics: 3 sent, 1 retried, 0 pending",
        || (n.sent() == 3 && n.retried() == 1 && n.pending() == 0).then_some(()),
    );
    thread::sleep(Duration::from_secs(2));
    assert_eq!(hook.requests().len(), 1, "one webhook call");
    assert_eq!(smtp.messages().len(), 1, "one e-mail");
    assert_eq!(gateway.requests().len(), 2, "one SMS, tried twice");
    assert_eq!(outbox_statuses(dir.path()), ["sent", "sent", "sent"]);
}
