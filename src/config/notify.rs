//! `[notify]`: notification channels, recipients, on-call rosters, routes and escalation.
//!
//! What the notifier (`crate::notify`) does with it: every activation of an alarm that a
//! route matches goes at once to the route's first level (a roster's people on duty,
//! named recipients, webhooks); while the alarm stays unacknowledged, each further level is
//! told `after` its delay (counted from the activation). [`validate`] reports every problem
//! as (key path, message); `vigie check` prints them.

mod check;
mod routing;

pub use check::validate;

use super::alarms::Priority;
use super::duration;
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::time::Duration;

/// `[notify]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    /// vigie's API as the engineers reach it, e.g. `http://vigie.example.net:8080`: every
    /// message carries the acknowledge link `{public_url}/api/v1/alarms/{alarm_id}/ack`.
    pub public_url: String,
    /// IANA time zone name (`Africa/Casablanca`): roster shifts are read in it and message
    /// times are written in it. Default `UTC`.
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// A notification not delivered this long after it was planned is given up (marked
    /// failed, logged, counted); until then a failed send is retried with backoff. An
    /// activation older than this when the notifier reads it is not notified. Default 24 h.
    #[serde(default = "default_max_age", deserialize_with = "duration::de")]
    pub max_age: Duration,
    /// Least time between two messages to one recipient (or webhook) on one channel; what
    /// comes in between waits and goes out together in the next message, so that a burst
    /// of alarms is one SMS, not twenty. Default 30 s; `"0s"` sends each at once.
    #[serde(default = "default_min_interval", deserialize_with = "duration::de")]
    pub min_interval: Duration,
    /// Notifications of this priority or higher skip the `rate_limit` of their recipient
    /// or webhook (they still wait `min_interval`), go first into a message, and do not
    /// wait behind a message being retried; what else waits goes along with them. `"critical"` (default), `"high"`, `"medium"`,
    /// `"low"`, or `"none"` (every priority counts against the rate limit).
    #[serde(default = "default_exempt", deserialize_with = "de_exempt")]
    pub rate_limit_exempt: Option<Priority>,
    /// `[notify.smtp]`: e-mail (needed by `via = ["email"]`).
    pub smtp: Option<SmtpConfig>,
    /// `[notify.sms]`: an HTTP SMS gateway (needed by `via = ["sms"]`).
    pub sms: Option<SmsConfig>,
    #[serde(default)]
    pub webhooks: Vec<WebhookConfig>,
    #[serde(default)]
    pub recipients: Vec<RecipientConfig>,
    #[serde(default)]
    pub rosters: Vec<RosterConfig>,
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
}

fn default_timezone() -> String {
    "UTC".into()
}
fn default_max_age() -> Duration {
    Duration::from_secs(24 * 3600)
}
fn default_min_interval() -> Duration {
    Duration::from_secs(30)
}
fn default_exempt() -> Option<Priority> {
    Some(Priority::Critical)
}
fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain text (a trusted local relay only). Default port 25.
    None,
    /// Plain connection upgraded with STARTTLS, which the server must offer. Default port 587.
    #[default]
    Starttls,
    /// TLS from the first byte (SMTPS). Default port 465.
    Tls,
}

/// `[notify.smtp]`: the mail relay.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    /// Default: 25, 587 or 465 by `tls`.
    pub port: Option<u16>,
    /// `none`, `starttls` (default) or `tls`.
    #[serde(default)]
    pub tls: SmtpTls,
    /// Empty: no authentication.
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password: String,
    /// The sender, `vigie <vigie@example.net>` or `vigie@example.net`.
    pub from: String,
    /// Bound on one whole delivery (connect, dialogue, data). Default 10 s.
    #[serde(default = "default_timeout", deserialize_with = "duration::de")]
    pub timeout: Duration,
}

impl SmtpConfig {
    /// The port to connect to: `port`, or the usual one for `tls`.
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(match self.tls {
            SmtpTls::None => 25,
            SmtpTls::Starttls => 587,
            SmtpTls::Tls => 465,
        })
    }
}

/// How `{to}` and `{text}` are escaped in an SMS request's body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmsEncoding {
    /// As the inside of a JSON string (the template supplies the quotes).
    #[default]
    Json,
    /// `application/x-www-form-urlencoded` (space as `+`).
    Form,
    /// Unchanged.
    Raw,
}

/// `[notify.sms]`: an HTTP SMS gateway, called once per message with a request built from
/// templates in which `{to}` (the recipient's `phone`) and `{text}` are replaced.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsConfig {
    /// `http(s)://…`; `{to}` and `{text}` in it are percent-encoded.
    pub url: String,
    /// `POST` (default), `GET` or `PUT`.
    #[serde(default = "default_method")]
    pub method: String,
    /// Sent as they are (no placeholders).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The body template; empty: no body.
    #[serde(default)]
    pub body: String,
    /// How `{to}` and `{text}` are escaped in `body`.
    #[serde(default)]
    pub encoding: SmsEncoding,
    #[serde(default = "default_timeout", deserialize_with = "duration::de")]
    pub timeout: Duration,
}

fn default_method() -> String {
    "POST".into()
}

/// A webhook's payload shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookFormat {
    /// A JSON object with every field of every alarm (see `crate::notify::message`).
    #[default]
    Generic,
    /// Slack incoming webhook: `{"text": …}` in mrkdwn.
    Slack,
    /// Microsoft Teams through a Workflows webhook ("Post to a channel when a webhook
    /// request is received"): a `message` with an Adaptive Card 1.4.
    Teams,
}

/// `[[notify.webhooks]]`: an HTTP endpoint that receives a JSON POST per message.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub id: String,
    pub url: String,
    #[serde(default)]
    pub format: WebhookFormat,
    /// Extra headers (e.g. `Authorization`).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default = "default_timeout", deserialize_with = "duration::de")]
    pub timeout: Duration,
    /// Default: 20 messages per hour.
    pub rate_limit: Option<RateLimitConfig>,
}

/// At most `messages` messages per `per` to one recipient on one channel; over it,
/// notifications wait and go together in the next message allowed (never dropped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    pub messages: u32,
    #[serde(deserialize_with = "duration::de")]
    pub per: Duration,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            messages: 20,
            per: Duration::from_secs(3600),
        }
    }
}

/// `[[notify.recipients]]`: a person.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecipientConfig {
    pub id: String,
    #[serde(default)]
    pub name: String,
    /// For `via = ["email"]`.
    pub email: Option<String>,
    /// For `via = ["sms"]`, as the SMS gateway wants it (e.g. `+212600000001`).
    pub phone: Option<String>,
    /// Default: 20 messages per hour on each channel.
    pub rate_limit: Option<RateLimitConfig>,
}

/// `[[notify.rosters]]`: who is on duty when.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RosterConfig {
    pub id: String,
    #[serde(default)]
    pub name: String,
    pub shifts: Vec<ShiftConfig>,
}

/// One shift of a roster: `recipients` are on duty from `from` to `to` (local time in
/// `[notify] timezone`) on each day of `days`; a shift whose `to` is not after its `from`
/// runs past midnight into the next day (`days` names the day it starts), and `from = to`
/// is 24 hours.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShiftConfig {
    pub recipients: Vec<String>,
    /// `mon-fri`, `sat,sun`, `fri-mon`, `mon,wed,fri`; default `mon-sun`.
    #[serde(default = "default_days")]
    pub days: String,
    /// `HH:MM`, default `00:00`.
    #[serde(default = "default_midnight")]
    pub from: String,
    /// `HH:MM` or `24:00`, default `24:00`.
    #[serde(default = "default_end_of_day")]
    pub to: String,
}

fn default_days() -> String {
    "mon-sun".into()
}
fn default_midnight() -> String {
    "00:00".into()
}
fn default_end_of_day() -> String {
    "24:00".into()
}

/// A person's channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    Email,
    Sms,
}

impl Via {
    /// The name used in config and in the outbox.
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Email => "email",
            Via::Sms => "sms",
        }
    }
}

/// `[[notify.routes]]`: which alarms go to whom. An alarm matches when its site is in
/// `sites` or feeds one of `zones` (both empty: any site) and its priority is in
/// `priorities` (empty: any). Every matching route is followed; a person reached twice by
/// one activation on one channel gets one message.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    #[serde(default)]
    pub sites: Vec<String>,
    #[serde(default)]
    pub zones: Vec<String>,
    #[serde(default)]
    pub priorities: Vec<Priority>,
    /// Also tell everyone who was told of the activation when the alarm is back to
    /// `normal`. Default false.
    #[serde(default)]
    pub notify_on_clear: bool,
    /// Level 0 at the activation, then each level `after` the activation while the alarm
    /// is still unacknowledged.
    pub levels: Vec<LevelConfig>,
}

/// One escalation level: its targets and when.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LevelConfig {
    /// Delay from the activation; none on the first level, required on the others.
    #[serde(default, deserialize_with = "duration::de_opt")]
    pub after: Option<Duration>,
    /// Everyone on duty in this roster when the level is reached.
    pub roster: Option<String>,
    #[serde(default)]
    pub recipients: Vec<String>,
    #[serde(default)]
    pub webhooks: Vec<String>,
    /// How people (roster, recipients) are reached: `email`, `sms` or both.
    #[serde(default)]
    pub via: Vec<Via>,
}

/// Reads `rate_limit_exempt`: a priority name or `"none"`.
fn de_exempt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Priority>, D::Error> {
    let s = String::deserialize(d)?;
    match s.trim().to_ascii_lowercase().as_str() {
        "none" => Ok(None),
        "critical" => Ok(Some(Priority::Critical)),
        "high" => Ok(Some(Priority::High)),
        "medium" => Ok(Some(Priority::Medium)),
        "low" => Ok(Some(Priority::Low)),
        _ => Err(serde::de::Error::custom(format!(
            "rate_limit_exempt {s:?}: write \"critical\", \"high\", \"medium\", \"low\" or \"none\""
        ))),
    }
}

/// Parses a shift's `days` into a flag per weekday, Monday first: comma-separated day
/// names (`mon` … `sun`, or in full) or ranges `first-last`, which may wrap (`fri-mon`).
pub fn parse_days(s: &str) -> Result<[bool; 7], String> {
    const NAMES: [&str; 7] = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    let day = |name: &str| -> Result<usize, String> {
        let n = name.trim().to_ascii_lowercase();
        NAMES
            .iter()
            .position(|full| n.len() >= 3 && full.starts_with(&n))
            .ok_or_else(|| {
                format!("{s:?}: unknown day {name:?}; write e.g. \"mon-fri\" or \"sat,sun\"")
            })
    };
    let mut days = [false; 7];
    for item in s.split(',') {
        match item.split_once('-') {
            Some((a, b)) => {
                let (first, last) = (day(a)?, day(b)?);
                let mut d = first;
                loop {
                    days[d] = true;
                    if d == last {
                        break;
                    }
                    d = (d + 1) % 7;
                }
            }
            None => days[day(item)?] = true,
        }
    }
    Ok(days)
}

/// Parses `HH:MM` (24-hour) into minutes after midnight; `24:00` (1440) when `end_of_day`
/// is allowed.
pub fn parse_clock(s: &str, end_of_day: bool) -> Result<u32, String> {
    let bad = || format!("{s:?} is not a time of day; write \"HH:MM\", e.g. \"08:00\"");
    let (h, m) = s.trim().split_once(':').ok_or_else(bad)?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return Err(bad());
    }
    let h: u32 = h.parse().map_err(|_| bad())?;
    let m: u32 = m.parse().map_err(|_| bad())?;
    match (h, m) {
        (24, 0) if end_of_day => Ok(1440),
        (0..=23, 0..=59) => Ok(h * 60 + m),
        _ => Err(bad()),
    }
}
