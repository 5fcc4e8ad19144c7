//! `[crm]`: the CRM's webhook. vigie posts each consumption alert's classification and each
//! outage's start, update and end to it, through a persisted outbox (README "CRM").

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
}

fn default_timeout() -> Duration {
    Duration::from_secs(10)
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
    out
}
