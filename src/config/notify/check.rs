//! [`validate`]: every problem of `[notify]`, as (key path, message).

use super::routing::{Known, check_first_level_rosters, check_roster, check_route};
use super::{
    NotifyConfig, RateLimitConfig, RecipientConfig, RosterConfig, SmsConfig, SmtpConfig, SmtpTls,
};
use std::collections::{BTreeMap, HashMap, HashSet};

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
pub(super) struct Problems(Vec<(String, String)>);

impl Problems {
    pub(super) fn add(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.0.push((key.into(), message.into()));
    }
}

/// Problems in `[notify]`, each as (key path, message), e.g.
/// (`notify.routes[0].levels[1].roster`, `unknown roster "x"`). Empty when it is usable.
pub fn validate(notify: &NotifyConfig, config: &crate::config::Config) -> Vec<(String, String)> {
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
    let retention = config.alarms.journal_retention;
    if retention < notify.max_age {
        p.add(
            "alarms.journal_retention",
            format!(
                "{} is shorter than [notify] max_age {}: journal events could be deleted before they are notified",
                humantime::format_duration(retention),
                humantime::format_duration(notify.max_age)
            ),
        );
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
    check_first_level_rosters(notify, &mut p);
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
