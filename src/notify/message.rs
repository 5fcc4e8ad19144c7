//! What a message says: the notifications it carries, rendered as an e-mail or an SMS
//! (webhook payloads: [`super::payload`]).
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
use std::collections::HashMap;
use std::fmt::Write;
use std::time::Duration;

/// The longest SMS text, in characters (three concatenated SMS of 160 characters).
pub const SMS_MAX_CHARS: usize = 480;

const SMS_PREFIX: &str = "vigie: ";

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
    pub(crate) site_names: HashMap<String, String>,
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

    /// `{public_url}/api/v1/alarms/{alarm_id}`: the alarm's page (GET).
    pub fn alarm_url(&self, alarm_id: &str) -> String {
        format!(
            "{}/api/v1/alarms/{}",
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

    /// `PS-01 (Station Nord)`, or the id alone when the site has no name.
    pub(crate) fn site(&self, id: &str) -> String {
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

    /// A compact SMS, at most [`SMS_MAX_CHARS`] characters: per notification its
    /// headline, alarm id, state, time, id and ack link. When that is longer, the first
    /// notification (the most urgent) in full and the others by alarm id: `+N more: id1,
    /// id2, …`, cut to fit (and the first's headline cut if even it alone is too long).
    pub fn sms(&self, items: &[Item]) -> String {
        let full = self.sms_full(items);
        let Some(first) = items.first() else {
            return full;
        };
        if full.chars().count() <= SMS_MAX_CHARS {
            return full;
        }
        let more = match items.len() {
            1 => String::new(),
            n => format!("\n+{} more: ", n - 1),
        };
        // Room kept for `more` and at least one character of the list.
        let reserved = more.chars().count() + usize::from(items.len() > 1);
        let rest = self.sms_details(first);
        let fixed = SMS_PREFIX.chars().count() + rest.chars().count() + reserved;
        let headline = cut(&self.headline(first), SMS_MAX_CHARS.saturating_sub(fixed));
        let mut out = cut(
            &format!("{SMS_PREFIX}{headline}{rest}"),
            SMS_MAX_CHARS.saturating_sub(reserved),
        );
        if items.len() > 1 {
            out.push_str(&more);
            let ids: Vec<&str> = items[1..]
                .iter()
                .map(|i| i.alarm.alarm_id.as_str())
                .collect();
            let room = SMS_MAX_CHARS.saturating_sub(out.chars().count());
            out.push_str(&cut(&ids.join(", "), room));
        }
        out
    }

    /// Every notification of an SMS in full.
    fn sms_full(&self, items: &[Item]) -> String {
        let mut out = String::from(SMS_PREFIX);
        if items.len() > 1 {
            let _ = write!(out, "{} alarms.", items.len());
        }
        for (i, item) in items.iter().enumerate() {
            if items.len() > 1 {
                let _ = write!(out, "\n{}) ", i + 1);
            }
            out.push_str(&self.headline(item));
            out.push_str(&self.sms_details(item));
        }
        out
    }

    /// What follows a notification's headline in an SMS.
    fn sms_details(&self, item: &Item) -> String {
        let a = &item.alarm;
        format!(
            ". {} {} {} #{}. Ack: POST {} {{\"operator\",\"comment\"}}",
            a.alarm_id,
            a.state.as_str(),
            self.time(a.time_ns),
            item.outbox_id,
            self.ack_url(&a.alarm_id)
        )
    }
}

/// `s` cut to `max` characters, the last of them `…` when it was cut.
fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    match max {
        0 => String::new(),
        _ => {
            let mut out: String = s.chars().take(max - 1).collect();
            out.push('…');
            out
        }
    }
}

/// How long the alarm has been unacknowledged when the escalation was planned, in whole
/// minutes from one minute on.
fn unacked_for(item: &Item) -> String {
    let secs = u64::try_from((item.created_ns - item.alarm.time_ns) / 1_000_000_000).unwrap_or(0);
    let secs = if secs >= 60 { secs / 60 * 60 } else { secs };
    humantime::format_duration(Duration::from_secs(secs)).to_string()
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
