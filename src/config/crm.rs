//! `[crm]`: the CRM's webhook. vigie posts each consumption alert's classification and each
//! outage's start, update and end to it, through a persisted outbox (README "CRM webhook",
//! [`crate::notify::crm`]).

use super::duration;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// `[crm]` in vigie.toml.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrmConfig {
    /// Where events are POSTed (`http://` or `https://`).
    pub webhook_url: String,
    /// Extra headers (e.g. `Authorization = "Bearer …"`).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Per request; default 10 s.
    #[serde(default = "default_timeout", deserialize_with = "duration::de")]
    pub timeout: Duration,
    /// Events in one request at most; default 100, 1 to [`MAX_BATCH_SIZE`].
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Events delivered, refused or discarded are kept this long in the outbox (for
    /// inspection), then deleted; events waiting for the CRM are never deleted. Default
    /// 30 days, at least 1 hour.
    #[serde(default = "default_retention", deserialize_with = "duration::de")]
    pub retention: Duration,
}

/// The most events in one request.
pub const MAX_BATCH_SIZE: usize = 1000;

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

fn default_batch_size() -> usize {
    100
}

/// The default `retention`: 30 days.
pub fn default_retention() -> Duration {
    Duration::from_secs(30 * 86_400)
}

/// Checks `[crm]`; `(key, message)` per problem.
pub fn validate(c: &CrmConfig) -> Vec<(String, String)> {
    let mut out = Vec::new();
    match reqwest::Url::parse(&c.webhook_url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
        Ok(_) => out.push((
            "crm.webhook_url".into(),
            "must be an http:// or https:// URL with a host".into(),
        )),
        Err(e) => out.push(("crm.webhook_url".into(), format!("not a URL: {e}"))),
    }
    if c.timeout.is_zero() {
        out.push(("crm.timeout".into(), "must be more than 0s".into()));
    }
    if !(1..=MAX_BATCH_SIZE).contains(&c.batch_size) {
        out.push((
            "crm.batch_size".into(),
            format!("must be 1 to {MAX_BATCH_SIZE}"),
        ));
    }
    if c.retention < Duration::from_secs(3600) {
        out.push(("crm.retention".into(), "must be at least 1h".into()));
    }
    for (name, value) in &c.headers {
        let bad_name = reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err();
        if bad_name || reqwest::header::HeaderValue::from_str(value).is_err() {
            out.push((
                format!("crm.headers.{name}"),
                "not a valid HTTP header name and value".into(),
            ));
        }
        if name.eq_ignore_ascii_case("idempotency-key") || name.eq_ignore_ascii_case("content-type")
        {
            out.push((
                format!("crm.headers.{name}"),
                "set by vigie; remove it".into(),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(text: &str) -> Vec<String> {
        let c: CrmConfig = toml::from_str(text).expect("parses");
        validate(&c).into_iter().map(|(k, _)| k).collect()
    }

    #[test]
    fn crm_defaults_are_valid() {
        let c: CrmConfig =
            toml::from_str("webhook_url = \"https://crm.example.net/h\"").expect("parses");
        assert_eq!(
            (c.timeout, c.batch_size, c.retention),
            (Duration::from_secs(10), 100, default_retention())
        );
        assert!(validate(&c).is_empty());
    }

    #[test]
    fn crm_validation_names_each_bad_key() {
        let text = r#"
            webhook_url = "ftp://crm.example.net/h"
            timeout = "0s"
            batch_size = 0
            retention = "5m"
            headers = { "Idempotency-Key" = "mine", "Bad Name" = "x" }
        "#;
        assert_eq!(
            keys(text),
            [
                "crm.webhook_url",
                "crm.timeout",
                "crm.batch_size",
                "crm.retention",
                "crm.headers.Bad Name",
                "crm.headers.Idempotency-Key"
            ]
        );
        assert_eq!(
            keys("webhook_url = \"http://h/\"\nbatch_size = 1001"),
            ["crm.batch_size"]
        );
    }
}
