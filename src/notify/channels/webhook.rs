//! Webhooks: one JSON POST per message, with an `Idempotency-Key` header (the message id,
//! the same on each retry) so that a receiver can drop a repeat.

use super::{SendError, http_failure};
use crate::config::notify::{WebhookConfig, WebhookFormat};
use crate::notify::message::{Item, Render};
use serde_json::Value;

/// The body for `format`: generic JSON, Slack `{"text"}` or a Teams Adaptive Card.
pub fn payload(format: WebhookFormat, render: &Render, message_id: &str, items: &[Item]) -> Value {
    match format {
        WebhookFormat::Generic => render.generic(message_id, items),
        WebhookFormat::Slack => render.slack(items),
        WebhookFormat::Teams => render.teams(items),
    }
}

/// POSTs `body` to the webhook; any 2xx is a success, a 4xx but 408 and 429 a final
/// failure, anything else an error to retry.
pub async fn send(
    client: &reqwest::Client,
    hook: &WebhookConfig,
    message_id: &str,
    body: &Value,
) -> Result<(), SendError> {
    let mut req = client
        .post(&hook.url)
        .timeout(hook.timeout)
        .header("Idempotency-Key", message_id)
        .json(body);
    for (k, v) in &hook.headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let resp = req.send().await.map_err(|e| {
        // Without the URL: a webhook's URL is often its secret.
        let e = e.without_url();
        SendError::retry(format!("webhook {:?}: {}", hook.id, error_chain(&e)))
    })?;
    if resp.status().is_success() {
        Ok(())
    } else {
        Err(http_failure(&format!("webhook {:?}", hook.id), resp).await)
    }
}

/// An error with its sources ("error sending request: connection refused").
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        let text = inner.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        source = inner.source();
    }
    s
}
