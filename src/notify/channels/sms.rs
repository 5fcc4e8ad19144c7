//! An HTTP SMS gateway: one request per message, built from `[notify.sms]`'s templates
//! with `{to}` and `{text}` replaced: percent-encoded in the URL, and in the body escaped
//! as `encoding` says (inside a JSON string, form-urlencoded, or raw).

use super::webhook::error_chain;
use super::{SendError, http_failure};
use crate::config::notify::{SmsConfig, SmsEncoding};
use std::fmt::Write;
use std::time::Duration;

/// One request to the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsRequest {
    /// Upper case.
    pub method: String,
    pub url: String,
    /// The configured headers, plus a `Content-Type` for the encoding when they have none
    /// and there is a body.
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
}

/// Builds the request sending `text` to `to`.
pub fn build(cfg: &SmsConfig, to: &str, text: &str) -> SmsRequest {
    let url = fill(&cfg.url, to, text, percent);
    let body =
        (!cfg.body.is_empty()).then(|| fill(&cfg.body, to, text, |s| escape(cfg.encoding, s)));
    let mut headers: Vec<(String, String)> = cfg
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let has_type = headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-type"));
    if body.is_some() && !has_type {
        let ct = match cfg.encoding {
            SmsEncoding::Json => "application/json",
            SmsEncoding::Form => "application/x-www-form-urlencoded",
            SmsEncoding::Raw => "text/plain; charset=utf-8",
        };
        headers.push(("Content-Type".into(), ct.into()));
    }
    SmsRequest {
        method: cfg.method.to_ascii_uppercase(),
        url,
        headers,
        body,
    }
}

/// Replaces `{to}` and `{text}` in one pass (a `{to}` inside the text stays as it is).
fn fill(template: &str, to: &str, text: &str, esc: impl Fn(&str) -> String) -> String {
    let mut out = String::with_capacity(template.len() + text.len());
    let mut rest = template;
    while let Some(i) = rest.find('{') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix("{to}") {
            out.push_str(&esc(to));
            rest = after;
        } else if let Some(after) = tail.strip_prefix("{text}") {
            out.push_str(&esc(text));
            rest = after;
        } else {
            out.push('{');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    out
}

/// Escapes a value for the body.
pub fn escape(encoding: SmsEncoding, s: &str) -> String {
    match encoding {
        SmsEncoding::Json => {
            let quoted = serde_json::Value::String(s.to_string()).to_string();
            quoted[1..quoted.len() - 1].to_string()
        }
        SmsEncoding::Form => {
            let mut out = String::with_capacity(s.len());
            for b in s.bytes() {
                match b {
                    b' ' => out.push('+'),
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                        out.push(b as char)
                    }
                    _ => {
                        let _ = write!(out, "%{b:02X}");
                    }
                }
            }
            out
        }
        SmsEncoding::Raw => s.to_string(),
    }
}

/// Percent-encodes everything but unreserved characters (RFC 3986), for the URL.
pub fn percent(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

/// Sends the request; any 2xx is a success, a 4xx but 408 and 429 a final failure.
pub async fn send(
    client: &reqwest::Client,
    req: &SmsRequest,
    timeout: Duration,
    message_id: &str,
) -> Result<(), SendError> {
    let method = reqwest::Method::from_bytes(req.method.as_bytes())
        .map_err(|_| SendError::permanent(format!("bad SMS method {:?}", req.method)))?;
    let mut r = client
        .request(method, &req.url)
        .timeout(timeout)
        .header("Idempotency-Key", message_id);
    for (k, v) in &req.headers {
        r = r.header(k.as_str(), v.as_str());
    }
    if let Some(body) = &req.body {
        r = r.body(body.clone());
    }
    let resp = r.send().await.map_err(|e| {
        // Without the URL: it may hold an API key.
        let e = e.without_url();
        SendError::retry(format!("SMS gateway: {}", error_chain(&e)))
    })?;
    if resp.status().is_success() {
        Ok(())
    } else {
        Err(http_failure("SMS gateway", resp).await)
    }
}
