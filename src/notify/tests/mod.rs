//! Unit tests of the notifier: configuration checks ([`config_check`]), message shapes and SMS
//! templates ([`render`]), and on a real SQLite file ([`fixture`]) planning and batching
//! ([`planning`]), rate limits, priorities and superseded notifications ([`limits`]),
//! escalation ([`escalation`]), clears, journal gaps, instance ids and older databases
//! ([`journal`]); no network.

mod config_check;
mod escalation;
mod fixture;
mod journal;
mod limits;
mod planning;
mod render;

use super::message::{AlarmData, Item, Kind};
use crate::alarm::{AlarmEvent, Priority, StateName};
use crate::config::Config;
use crate::config::notify::validate;

pub(super) const NETWORK: &str = r#"
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

/// The brief's example, completed.
pub(super) const NOTIFY: &str = r#"
[notify]
public_url = "http://vigie.example.net:8080/"
timezone = "Africa/Casablanca"
max_age = "24h"
[notify.smtp]
host = "127.0.0.1"
port = 25
tls = "none"
from = "vigie <vigie@example.net>"
[notify.sms]
url = "https://sms.example.ma/api/send?to={to}"
method = "POST"
headers = { Authorization = "Bearer xyz", "Content-Type" = "application/json" }
body = '{"to": "{to}", "message": "{text}"}'
encoding = "json"
[[notify.webhooks]]
id = "control-room"
url = "https://hooks.slack.com/services/T/B/X"
format = "slack"
[[notify.recipients]]
id = "amina"
name = "Amina B."
email = "amina@example.net"
phone = "+212600000001"
rate_limit = { messages = 20, per = "1h" }
[[notify.recipients]]
id = "youssef"
phone = "+212600000002"
email = "youssef@example.net"
[[notify.recipients]]
id = "chef"
phone = "+212600000003"
[[notify.rosters]]
id = "north-on-call"
shifts = [
  { recipients = ["amina"], days = "mon-fri", from = "08:00", to = "18:00" },
  { recipients = ["youssef"], days = "mon-sun", from = "18:00", to = "08:00" },
  { recipients = ["youssef"], days = "sat,sun", from = "08:00", to = "18:00" },
]
[[notify.routes]]
sites = ["PS-01"]
zones = ["Z-NORTH"]
priorities = ["critical", "high"]
notify_on_clear = true
levels = [
  { roster = "north-on-call", via = ["sms", "email"] },
  { after = "15m", recipients = ["chef"], via = ["sms"] },
  { after = "30m", webhooks = ["control-room"] },
]
"#;

pub(super) fn config(text: &str) -> Config {
    toml::from_str(&format!("{NETWORK}{text}")).unwrap_or_else(|e| panic!("{e}"))
}

pub(super) fn problems(text: &str) -> Vec<(String, String)> {
    let c = config(text);
    validate(c.notify.as_ref().unwrap(), &c)
}

pub(super) fn has(problems: &[(String, String)], key: &str, words: &str) -> bool {
    problems.iter().any(|(k, m)| k == key && m.contains(words))
}

pub(super) fn event(
    seq: i64,
    alarm: &str,
    to: StateName,
    priority: Priority,
    time_ns: i64,
) -> AlarmEvent {
    let site = alarm.split(':').next().unwrap_or_default().to_string();
    AlarmEvent {
        seq,
        time_ns,
        alarm_id: alarm.into(),
        site,
        device: "pump1".into(),
        point: Some("discharge_pressure_bar".into()),
        condition: "low_low".into(),
        priority,
        from_state: StateName::Normal,
        to_state: to,
        value: Some(1.2),
        limit: Some(1.5),
        message: "Discharge pressure low-low".into(),
        operator: None,
        comment: None,
    }
}

pub(super) fn item(id: i64, kind: Kind, alarm: &str, priority: Priority) -> Item {
    let e = event(
        1,
        alarm,
        StateName::ActiveUnacknowledged,
        priority,
        1_748_872_980_000_000_000,
    );
    Item {
        outbox_id: id,
        kind,
        level: u32::from(kind == Kind::Escalated),
        created_ns: e.time_ns + 15 * 60 * 1_000_000_000 + 7_000_000_000,
        alarm: AlarmData::from(&e),
    }
}
