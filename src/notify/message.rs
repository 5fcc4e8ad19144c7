//! What a message says: the notifications it carries, rendered as an e-mail, an SMS, or a
//! webhook payload (generic JSON, Slack, Teams).
//!
//! Every notification in a message carries the alarm id, site, priority, state, message
//! text, the time (ISO 8601 in the configured time zone), its outbox id (`notification`:
//! a receiver that sees an id twice has seen the same notification twice, which can
//! happen once after a crash between a send and its record) and the acknowledge link:
//! `POST {public_url}/api/v1/alarms/{alarm_id}/ack` with a JSON body
//! `{"operator": "…", "comment": "…"}` (an operator's token).

use crate::alarm::{AlarmEvent, Priority, StateName};
use crate::config::Config;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::fmt::Write;
use std::time::Duration;

/// Why a notification is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// The alarm became active and unacknowledged (level 0 of a route).
    Raised,
    /// Still unacknowledged after a level's `after` (levels 1…).
    Escalated,
    /// Back to normal (routes with `notify_on_clear`).
    Cleared,
}

impl Kind {
    /// The name stored in the outbox and sent in payloads.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Raised => "raised",
            Kind::Escalated => "escalated",
            Kind::Cleared => "cleared",
        }
    }

    /// Parses [`Kind::as_str`].
    pub fn parse(s: &str) -> Option<Kind> {
        [Kind::Raised, Kind::Escalated, Kind::Cleared]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// What a notification tells of its journal event (kept as JSON in the outbox).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlarmData {
    pub alarm_id: String,
    pub site: String,
    pub device: String,
    pub point: Option<String>,
    pub condition: String,
    pub priority: Priority,
    /// The state the event led to.
    pub state: StateName,
    pub value: Option<f64>,
    pub limit: Option<f64>,
    pub message: String,
    /// The event's time, ns since the epoch.
    pub time_ns: i64,
}

impl From<&AlarmEvent> for AlarmData {
    fn from(e: &AlarmEvent) -> AlarmData {
        AlarmData {
            alarm_id: e.alarm_id.clone(),
            site: e.site.clone(),
            device: e.device.clone(),
            point: e.point.clone(),
            condition: e.condition.clone(),
            priority: e.priority,
            state: e.to_state,
            value: e.value,
            limit: e.limit,
            message: e.message.clone(),
            time_ns: e.time_ns,
        }
    }
}

/// One notification (one outbox row) in a message.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// The outbox row's id: receivers deduplicate on it.
    pub outbox_id: i64,
    pub kind: Kind,
    /// The escalation level (0 at the activation).
    pub level: u32,
    /// When the notification was planned, ns.
    pub created_ns: i64,
    pub alarm: AlarmData,
}

/// What rendering needs: the ack link's base, the time zone, site names.
#[derive(Debug, Clone)]
pub struct Render {
    public_url: String,
    tz: TimeZone,
    site_names: HashMap<String, String>,
}

impl Render {
    /// `public_url` without its trailing `/`.
    pub fn new(public_url: &str, tz: TimeZone, config: &Config) -> Render {
        Render {
            public_url: public_url.trim_end_matches('/').to_string(),
            tz,
            site_names: config
                .sites
                .iter()
                .filter(|s| !s.name.is_empty())
                .map(|s| (s.id.clone(), s.name.clone()))
                .collect(),
        }
    }

    /// `{public_url}/api/v1/alarms/{alarm_id}/ack`, the id percent-encoded as a path
    /// segment (`:` kept).
    pub fn ack_url(&self, alarm_id: &str) -> String {
        format!(
            "{}/api/v1/alarms/{}/ack",
            self.public_url,
            encode_segment(alarm_id)
        )
    }

    /// ISO 8601 with the offset, e.g. `2025-06-02T14:03:00+01:00`.
    pub fn time(&self, ns: i64) -> String {
        match Timestamp::from_nanosecond(i128::from(ns)) {
            Ok(t) => t
                .to_zoned_datetime(self.tz.clone())
                .strftime("%Y-%m-%dT%H:%M:%S%:z")
                .to_string(),
            Err(_) => format!("{ns} ns"),
        }
    }

    fn site(&self, id: &str) -> String {
        match self.site_names.get(id) {
            Some(name) => format!("{id} ({name})"),
            None => id.to_string(),
        }
    }

    /// `CRITICAL alarm raised at PS-01 (name): message`, or escalated / cleared.
    pub fn headline(&self, item: &Item) -> String {
        let a = &item.alarm;
        let p = a.priority.as_str().to_ascii_uppercase();
        match item.kind {
            Kind::Raised => format!("{p} alarm at {}: {}", self.site(&a.site), a.message),
            Kind::Escalated => format!(
                "ESCALATED {p} alarm at {}, unacknowledged for {}: {}",
                self.site(&a.site),
                unacked_for(item),
                a.message
            ),
            Kind::Cleared => format!("CLEARED {p} alarm at {}: {}", self.site(&a.site), a.message),
        }
    }

    /// An e-mail subject: the one headline, or `N alarms: <first headline> (+N-1 more)`.
    pub fn subject(&self, items: &[Item]) -> String {
        match items {
            [] => "[vigie] no alarm".into(),
            [one] => format!("[vigie] {}", self.headline(one)),
            [first, ..] => format!(
                "[vigie] {} alarms: {} (+{} more)",
                items.len(),
                self.headline(first),
                items.len() - 1
            ),
        }
    }

    /// The plain-text e-mail body: one block per notification, each with every field and
    /// its acknowledge link.
    pub fn text(&self, items: &[Item]) -> String {
        let mut out = String::new();
        if items.len() > 1 {
            let _ = writeln!(out, "{} alarms:\n", items.len());
        }
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                out.push_str("\n----\n\n");
            }
            let a = &item.alarm;
            let _ = writeln!(out, "{}\n", self.headline(item));
            let _ = writeln!(out, "Alarm:        {}", a.alarm_id);
            let _ = writeln!(out, "Site:         {}", self.site(&a.site));
            let mut device = a.device.clone();
            if let Some(p) = &a.point {
                let _ = write!(device, ", point {p}");
            }
            let _ = writeln!(out, "Device:       {device}");
            let _ = writeln!(out, "Condition:    {}", a.condition);
            let _ = writeln!(out, "Priority:     {}", a.priority.as_str());
            let _ = writeln!(out, "State:        {}", a.state.as_str());
            let _ = writeln!(out, "Time:         {}", self.time(a.time_ns));
            if let Some(v) = a.value {
                let _ = match a.limit {
                    Some(l) => writeln!(out, "Value:        {v} (limit {l})"),
                    None => writeln!(out, "Value:        {v}"),
                };
            }
            let _ = writeln!(
                out,
                "Notification: {} ({})",
                item.outbox_id,
                item.kind.as_str()
            );
            let _ = writeln!(
                out,
                "\nAcknowledge:  POST {}\n  with the JSON body {{\"operator\": \"<your name>\", \"comment\": \"<what you do>\"}}",
                self.ack_url(&a.alarm_id)
            );
        }
        out
    }

    /// A compact SMS: per notification its headline, alarm id, state, time, id and ack
    /// link.
    pub fn sms(&self, items: &[Item]) -> String {
        let mut out = String::from("vigie: ");
        if items.len() > 1 {
            let _ = write!(out, "{} alarms.", items.len());
        }
        for (i, item) in items.iter().enumerate() {
            let a = &item.alarm;
            if items.len() > 1 {
                let _ = write!(out, "\n{}) ", i + 1);
            }
            let _ = write!(
                out,
                "{}. {} {} {} #{}. Ack: POST {} {{\"operator\",\"comment\"}}",
                self.headline(item),
                a.alarm_id,
                a.state.as_str(),
                self.time(a.time_ns),
                item.outbox_id,
                self.ack_url(&a.alarm_id)
            );
        }
        out
    }

    /// Slack incoming-webhook payload: `{"text": …}` in mrkdwn (`&`, `<`, `>` escaped).
    pub fn slack(&self, items: &[Item]) -> Value {
        let mut text = String::new();
        if items.len() > 1 {
            let _ = writeln!(text, "*{} alarms*", items.len());
        }
        for item in items {
            let a = &item.alarm;
            let _ = writeln!(
                text,
                "{} *{}*\n`{}` · {} · {} · #{}\nAcknowledge: `POST {}` with `{{\"operator\": \"…\", \"comment\": \"…\"}}`",
                icon(item),
                slack_escape(&self.headline(item)),
                slack_escape(&a.alarm_id),
                a.state.as_str(),
                self.time(a.time_ns),
                item.outbox_id,
                slack_escape(&self.ack_url(&a.alarm_id)),
            );
        }
        json!({ "text": text.trim_end() })
    }

    /// Microsoft Teams incoming-webhook payload: a legacy `MessageCard`, coloured by the
    /// highest priority, one section with facts per notification. The ack link is in the
    /// text (an `OpenUri` action would GET it, and the ack is a POST).
    pub fn teams(&self, items: &[Item]) -> Value {
        let top = items
            .iter()
            .max_by_key(|i| (i.kind != Kind::Cleared, i.alarm.priority));
        let color = match top.map(|i| (i.kind, i.alarm.priority)) {
            Some((Kind::Cleared, _)) => "107C10",
            Some((_, Priority::Critical)) => "D13438",
            Some((_, Priority::High)) => "FF8C00",
            Some((_, Priority::Medium)) => "FFB900",
            Some((_, Priority::Low)) | None => "0078D7",
        };
        let title = match items {
            [one] => self.headline(one),
            _ => format!("{} alarms", items.len()),
        };
        let sections: Vec<Value> = items
            .iter()
            .map(|item| {
                let a = &item.alarm;
                let ack = self.ack_url(&a.alarm_id);
                json!({
                    "activityTitle": self.headline(item),
                    "facts": [
                        {"name": "Alarm", "value": a.alarm_id},
                        {"name": "Site", "value": self.site(&a.site)},
                        {"name": "Priority", "value": a.priority.as_str()},
                        {"name": "State", "value": a.state.as_str()},
                        {"name": "Time", "value": self.time(a.time_ns)},
                        {"name": "Notification", "value": item.outbox_id.to_string()},
                    ],
                    "text": format!("Acknowledge: POST [{ack}]({ack}) with JSON {{\"operator\": \"…\", \"comment\": \"…\"}}"),
                })
            })
            .collect();
        json!({
            "@type": "MessageCard",
            "@context": "https://schema.org/extensions",
            "summary": title,
            "themeColor": color,
            "title": title,
            "text": format!("vigie: {}", self.subject(items).trim_start_matches("[vigie] ")),
            "sections": sections,
        })
    }

    /// The generic webhook payload: `{"source": "vigie", "message_id", "count", "text",
    /// "notifications": [{"notification", "kind", "level", "alarm_id", "site",
    /// "site_name", "device", "point", "condition", "priority", "state", "message",
    /// "value", "limit", "time", "time_ns", "ack_url", "ack": {"method", "url",
    /// "body"}}]}`.
    pub fn generic(&self, message_id: &str, items: &[Item]) -> Value {
        let notifications: Vec<Value> = items
            .iter()
            .map(|item| {
                let a = &item.alarm;
                let ack = self.ack_url(&a.alarm_id);
                json!({
                    "notification": item.outbox_id,
                    "kind": item.kind.as_str(),
                    "level": item.level,
                    "alarm_id": a.alarm_id,
                    "site": a.site,
                    "site_name": self.site_names.get(&a.site),
                    "device": a.device,
                    "point": a.point,
                    "condition": a.condition,
                    "priority": a.priority.as_str(),
                    "state": a.state.as_str(),
                    "message": a.message,
                    "value": a.value,
                    "limit": a.limit,
                    "time": self.time(a.time_ns),
                    "time_ns": a.time_ns,
                    "headline": self.headline(item),
                    "ack_url": ack,
                    "ack": {
                        "method": "POST",
                        "url": ack,
                        "body": {"operator": "", "comment": ""},
                    },
                })
            })
            .collect();
        json!({
            "source": "vigie",
            "message_id": message_id,
            "count": items.len(),
            "text": self.subject(items).trim_start_matches("[vigie] "),
            "notifications": notifications,
        })
    }
}

/// How long the alarm has been unacknowledged when the escalation was planned, in whole
/// minutes from one minute on.
fn unacked_for(item: &Item) -> String {
    let secs = u64::try_from((item.created_ns - item.alarm.time_ns) / 1_000_000_000).unwrap_or(0);
    let secs = if secs >= 60 { secs / 60 * 60 } else { secs };
    humantime::format_duration(Duration::from_secs(secs)).to_string()
}

fn icon(item: &Item) -> &'static str {
    match (item.kind, item.alarm.priority) {
        (Kind::Cleared, _) => ":white_check_mark:",
        (_, Priority::Critical) => ":rotating_light:",
        (_, Priority::High) => ":red_circle:",
        (_, Priority::Medium) => ":large_orange_circle:",
        (_, Priority::Low) => ":large_blue_circle:",
    }
}

/// Slack's mrkdwn control characters.
pub fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Percent-encodes a URL path segment: unreserved characters and `:` stay.
pub fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b':' => {
                out.push(b as char)
            }
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}
