//! `[notify]`: notification channels, recipients, on-call rosters, routes and escalation.
//!
//! What the notifier (`crate::notify`) does with it: every activation of an alarm that a
//! route matches goes at once to the route's first level (a roster's people on duty,
//! named recipients, webhooks); while the alarm stays unacknowledged, each further level is
//! told `after` its delay (counted from the activation). [`validate`] reports every problem
//! as (key path, message); `vigie check` prints them.

use super::alarms::Priority;
use super::duration;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap, HashSet};
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
    /// Microsoft Teams incoming webhook: a legacy `MessageCard`.
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

/// Checks an `http(s)://` URL with a host.
fn check_url(url: &str) -> Result<(), String> {
    check_url_as(url, url)
}

/// Checks `parse` (`shown`, its placeholders filled in) as an `http(s)://` URL with a host.
fn check_url_as(parse: &str, url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(parse).map_err(|e| format!("{url:?} is not a URL ({e})"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("{url:?} must start with http:// or https://"));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(format!("{url:?} has no host"));
    }
    Ok(())
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Problems found, as (key path, message).
#[derive(Default)]
struct Problems(Vec<(String, String)>);

impl Problems {
    fn add(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.0.push((key.into(), message.into()));
    }
}

/// Problems in `[notify]`, each as (key path, message), e.g.
/// (`notify.routes[0].levels[1].roster`, `unknown roster "x"`). Empty when it is usable.
pub fn validate(notify: &NotifyConfig, config: &super::Config) -> Vec<(String, String)> {
    let mut p = Problems::default();
    let url = &notify.public_url;
    match check_url(url) {
        Ok(()) if url.contains(['?', '#']) => p.add(
            "notify.public_url",
            format!("{url:?}: no query or fragment (the ack path is appended)"),
        ),
        Ok(()) => {}
        Err(m) => p.add("notify.public_url", m),
    }
    if let Err(e) = jiff::tz::TimeZone::get(&notify.timezone) {
        let tz = &notify.timezone;
        p.add(
            "notify.timezone",
            format!("unknown time zone {tz:?} ({e}); write an IANA name such as \"Africa/Casablanca\" or \"UTC\""),
        );
    }
    if notify.max_age.is_zero() {
        p.add("notify.max_age", "must be more than 0");
    }
    if let Some(smtp) = &notify.smtp {
        check_smtp(smtp, &mut p);
    }
    if let Some(sms) = &notify.sms {
        check_sms(sms, &mut p);
    }
    let mut webhook_ids = HashSet::new();
    for (i, w) in notify.webhooks.iter().enumerate() {
        let key = format!("notify.webhooks[{i}]");
        check_id(
            &w.id,
            &format!("{key}.id"),
            "webhook",
            &mut webhook_ids,
            &mut p,
        );
        if let Err(m) = check_url(&w.url) {
            p.add(format!("{key}.url"), m);
        }
        check_headers(&w.headers, &format!("{key}.headers"), &mut p);
        check_rate(w.rate_limit.as_ref(), &format!("{key}.rate_limit"), &mut p);
    }
    let mut recipients: HashMap<&str, &RecipientConfig> = HashMap::new();
    let mut recipient_ids = HashSet::new();
    for (i, r) in notify.recipients.iter().enumerate() {
        let key = format!("notify.recipients[{i}]");
        check_id(
            &r.id,
            &format!("{key}.id"),
            "recipient",
            &mut recipient_ids,
            &mut p,
        );
        recipients.entry(r.id.as_str()).or_insert(r);
        check_recipient(r, &key, &mut p);
    }
    let mut roster_ids = HashSet::new();
    let mut rosters: HashMap<&str, &RosterConfig> = HashMap::new();
    for (i, r) in notify.rosters.iter().enumerate() {
        let key = format!("notify.rosters[{i}]");
        check_id(
            &r.id,
            &format!("{key}.id"),
            "roster",
            &mut roster_ids,
            &mut p,
        );
        rosters.entry(r.id.as_str()).or_insert(r);
        check_roster(r, &key, &recipients, &mut p);
    }
    let known = Known {
        sites: config.sites.iter().map(|s| s.id.as_str()).collect(),
        zones: config.zones.iter().map(|z| z.id.as_str()).collect(),
        recipients,
        rosters,
        webhooks: webhook_ids,
    };
    for (i, route) in notify.routes.iter().enumerate() {
        check_route(
            notify,
            route,
            &format!("notify.routes[{i}]"),
            &known,
            &mut p,
        );
    }
    p.0
}

/// The ids a route may name.
struct Known<'a> {
    sites: HashSet<&'a str>,
    zones: HashSet<&'a str>,
    recipients: HashMap<&'a str, &'a RecipientConfig>,
    rosters: HashMap<&'a str, &'a RosterConfig>,
    webhooks: HashSet<String>,
}

fn check_smtp(smtp: &SmtpConfig, p: &mut Problems) {
    if smtp.host.trim().is_empty() {
        p.add("notify.smtp.host", "empty host");
    }
    if smtp.port == Some(0) {
        p.add("notify.smtp.port", "port 0; use 1..=65535");
    }
    if let Err(e) = smtp.from.parse::<lettre::message::Mailbox>() {
        let from = &smtp.from;
        p.add(
            "notify.smtp.from",
            format!("{from:?} is not a mailbox ({e}); write e.g. \"vigie <vigie@example.net>\""),
        );
    }
    if smtp.username.is_empty() != smtp.password.is_empty() {
        p.add(
            "notify.smtp.password",
            "set both username and password, or neither",
        );
    }
    if !smtp.username.is_empty() && smtp.tls == SmtpTls::None && !is_loopback(&smtp.host) {
        p.add(
            "notify.smtp.tls",
            "tls = \"none\" would send the password in clear text over the network; use \"starttls\" or \"tls\"",
        );
    }
    if smtp.timeout.is_zero() {
        p.add("notify.smtp.timeout", "must be more than 0");
    }
}

fn check_sms(sms: &SmsConfig, p: &mut Problems) {
    let probe = sms.url.replace("{to}", "0").replace("{text}", "x");
    if let Err(m) = check_url_as(&probe, &sms.url) {
        p.add("notify.sms.url", m);
    }
    if !matches!(
        sms.method.to_ascii_uppercase().as_str(),
        "POST" | "GET" | "PUT"
    ) {
        p.add(
            "notify.sms.method",
            format!("{:?}: use POST, GET or PUT", sms.method),
        );
    }
    if !(sms.url.contains("{text}") || sms.body.contains("{text}")) {
        p.add(
            "notify.sms.body",
            "neither url nor body has a {text} placeholder: the message would not be sent",
        );
    }
    if !(sms.url.contains("{to}") || sms.body.contains("{to}")) {
        p.add(
            "notify.sms.body",
            "neither url nor body has a {to} placeholder: the gateway would not know whom to send to",
        );
    }
    check_headers(&sms.headers, "notify.sms.headers", p);
    if sms.timeout.is_zero() {
        p.add("notify.sms.timeout", "must be more than 0");
    }
}

fn check_recipient(r: &RecipientConfig, key: &str, p: &mut Problems) {
    if let Some(email) = &r.email
        && let Err(e) = email.parse::<lettre::Address>()
    {
        p.add(
            format!("{key}.email"),
            format!("{email:?} is not an e-mail address ({e})"),
        );
    }
    if let Some(phone) = &r.phone {
        let allowed =
            |c: char| c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '(' | ')' | '.');
        if phone.chars().filter(char::is_ascii_digit).count() < 3 || !phone.chars().all(allowed) {
            p.add(
                format!("{key}.phone"),
                format!("{phone:?} is not a phone number; write e.g. \"+212600000001\""),
            );
        }
    }
    check_rate(r.rate_limit.as_ref(), &format!("{key}.rate_limit"), p);
}

fn check_roster(
    r: &RosterConfig,
    key: &str,
    recipients: &HashMap<&str, &RecipientConfig>,
    p: &mut Problems,
) {
    if r.shifts.is_empty() {
        p.add(format!("{key}.shifts"), "a roster needs at least one shift");
    }
    for (j, s) in r.shifts.iter().enumerate() {
        let key = format!("{key}.shifts[{j}]");
        if s.recipients.is_empty() {
            p.add(format!("{key}.recipients"), "nobody on this shift");
        }
        for (k, id) in s.recipients.iter().enumerate() {
            if !recipients.contains_key(id.as_str()) {
                p.add(
                    format!("{key}.recipients[{k}]"),
                    format!("unknown recipient {id:?} (not in [[notify.recipients]])"),
                );
            }
        }
        if let Err(m) = parse_days(&s.days) {
            p.add(format!("{key}.days"), m);
        }
        if let Err(m) = parse_clock(&s.from, false) {
            p.add(format!("{key}.from"), m);
        }
        if let Err(m) = parse_clock(&s.to, true) {
            p.add(format!("{key}.to"), m);
        }
    }
}

fn check_route(
    notify: &NotifyConfig,
    route: &RouteConfig,
    key: &str,
    known: &Known<'_>,
    p: &mut Problems,
) {
    for (j, s) in route.sites.iter().enumerate() {
        if !known.sites.contains(s.as_str()) {
            p.add(
                format!("{key}.sites[{j}]"),
                format!("unknown site {s:?} (not in [[sites]])"),
            );
        }
    }
    for (j, z) in route.zones.iter().enumerate() {
        if !known.zones.contains(z.as_str()) {
            p.add(
                format!("{key}.zones[{j}]"),
                format!("unknown zone {z:?} (not in [[zones]])"),
            );
        }
    }
    if route.levels.is_empty() {
        p.add(format!("{key}.levels"), "a route needs at least one level");
    }
    let mut previous = Duration::ZERO;
    for (l, level) in route.levels.iter().enumerate() {
        let key = format!("{key}.levels[{l}]");
        match (l, level.after) {
            (0, Some(_)) => p.add(
                format!("{key}.after"),
                "the first level is told at the activation: remove `after` (or add a level before it)",
            ),
            (0, None) => {}
            (_, None) => p.add(
                format!("{key}.after"),
                "an escalation level needs `after` (the delay from the activation, e.g. \"15m\")",
            ),
            (_, Some(after)) => {
                if after <= previous {
                    p.add(
                        format!("{key}.after"),
                        format!(
                            "{} is not after the previous level's {}: each level's `after` counts from the activation and must grow",
                            humantime::format_duration(after),
                            humantime::format_duration(previous)
                        ),
                    );
                }
                previous = previous.max(after);
            }
        }
        check_level(notify, level, &key, known, p);
    }
}

fn check_level(
    notify: &NotifyConfig,
    level: &LevelConfig,
    key: &str,
    known: &Known<'_>,
    p: &mut Problems,
) {
    if level.roster.is_none() && level.recipients.is_empty() && level.webhooks.is_empty() {
        p.add(key, "nobody to tell: give a roster, recipients or webhooks");
    }
    // The people this level may reach, with the key that names them.
    let mut people: Vec<(String, &RecipientConfig)> = Vec::new();
    if let Some(id) = &level.roster {
        match known.rosters.get(id.as_str()) {
            None => p.add(
                format!("{key}.roster"),
                format!("unknown roster {id:?} (not in [[notify.rosters]])"),
            ),
            Some(r) => {
                let on_it = r.shifts.iter().flat_map(|s| &s.recipients);
                for rc in on_it.filter_map(|id| known.recipients.get(id.as_str())) {
                    people.push((format!("{key}.roster"), rc));
                }
            }
        }
    }
    for (k, id) in level.recipients.iter().enumerate() {
        match known.recipients.get(id.as_str()) {
            None => p.add(
                format!("{key}.recipients[{k}]"),
                format!("unknown recipient {id:?} (not in [[notify.recipients]])"),
            ),
            Some(rc) => people.push((format!("{key}.recipients[{k}]"), rc)),
        }
    }
    for (k, id) in level.webhooks.iter().enumerate() {
        if !known.webhooks.contains(id) {
            p.add(
                format!("{key}.webhooks[{k}]"),
                format!("unknown webhook {id:?} (not in [[notify.webhooks]])"),
            );
        }
    }
    let names_people = level.roster.is_some() || !level.recipients.is_empty();
    if names_people && level.via.is_empty() {
        p.add(
            format!("{key}.via"),
            "say how people are reached: via = [\"sms\"], [\"email\"] or both",
        );
    }
    if !names_people && !level.via.is_empty() {
        p.add(
            format!("{key}.via"),
            "`via` is for people (roster, recipients), and this level names none",
        );
    }
    let mut reported = HashSet::new();
    for via in &level.via {
        match via {
            Via::Email if notify.smtp.is_none() => {
                p.add(format!("{key}.via"), "via \"email\" needs [notify.smtp]")
            }
            Via::Sms if notify.sms.is_none() => {
                p.add(format!("{key}.via"), "via \"sms\" needs [notify.sms]")
            }
            _ => {}
        }
        for (at, rc) in &people {
            let missing = match via {
                Via::Email => rc.email.is_none().then_some("email"),
                Via::Sms => rc.phone.is_none().then_some("phone"),
            };
            if let Some(field) = missing
                && reported.insert((rc.id.as_str(), field))
            {
                let (id, via) = (&rc.id, via.as_str());
                p.add(
                    at.clone(),
                    format!("recipient {id:?} has no {field}, needed by via \"{via}\""),
                );
            }
        }
    }
}

fn check_id(id: &str, key: &str, what: &str, seen: &mut HashSet<String>, p: &mut Problems) {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if id.is_empty() || id.len() > 64 || !id.chars().all(allowed) {
        p.add(
            key,
            format!("{id:?}: an id is 1-64 letters, digits, '-', '_' or '.'"),
        );
    }
    if !seen.insert(id.to_string()) {
        p.add(key, format!("duplicate {what} id {id:?}"));
    }
}

fn check_headers(headers: &BTreeMap<String, String>, key: &str, p: &mut Problems) {
    for (name, value) in headers {
        if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
            p.add(
                format!("{key}.{name}"),
                format!("{name:?} is not a header name"),
            );
        }
        if reqwest::header::HeaderValue::from_str(value).is_err() {
            p.add(
                format!("{key}.{name}"),
                "not a valid header value (control characters?)",
            );
        }
    }
}

fn check_rate(rate: Option<&RateLimitConfig>, key: &str, p: &mut Problems) {
    if let Some(r) = rate {
        if r.messages == 0 {
            p.add(
                format!("{key}.messages"),
                "0 would hold every notification forever; at least 1",
            );
        }
        if r.per.is_zero() {
            p.add(format!("{key}.per"), "must be more than 0");
        }
    }
}
