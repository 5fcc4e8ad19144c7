//! Sending one message on its channel: e-mail (SMTP), SMS (an HTTP gateway), webhook.
//!
//! Every message carries an id, `vigie-notify-{instance}-{batch}` (the database's random
//! instance id, so that two vigie installations never make the same id, and the smallest
//! outbox id in it; the same on each retry), and each notification in it its outbox id: a
//! receiver can drop a message or notification it has already seen, which can happen once
//! when vigie stops between a successful send and recording it. Webhooks and the SMS
//! gateway get the id in an `Idempotency-Key` header, e-mail in its `Message-ID`.
//!
//! An HTTP answer other than 2xx is retried when it is a 5xx, 408 or 429; any other 4xx
//! is final (the gateway or webhook refuses this request and would refuse it again): the
//! message is given up at once, counted and logged with the status and the reply's first
//! 200 characters.

pub mod email;
pub mod sms;
pub mod webhook;

use super::message::Render;
use super::outbox::Batch;
use super::route::Channel;
use crate::config::notify::{NotifyConfig, RecipientConfig, SmsConfig, WebhookConfig};
use std::collections::HashMap;

/// Why a send failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SendError {
    pub message: String,
    /// No retry can succeed (the target is no longer configured, an address does not
    /// parse, the receiver answered a 4xx other than 408 and 429): the notifications are
    /// given up at once.
    pub permanent: bool,
}

impl SendError {
    /// A failure worth retrying (connection refused, timeout, a 5xx, 408, 429).
    pub fn retry(message: impl Into<String>) -> SendError {
        SendError {
            message: message.into(),
            permanent: false,
        }
    }

    /// A failure no retry can fix.
    pub fn permanent(message: impl Into<String>) -> SendError {
        SendError {
            message: message.into(),
            permanent: true,
        }
    }
}

/// The message id of a batch, also its `Idempotency-Key`: `vigie-notify-{instance}-{batch}`.
pub fn message_id(instance: &str, batch: i64) -> String {
    format!("vigie-notify-{instance}-{batch}")
}

/// Every channel, ready to send.
pub struct Channels {
    http: Result<reqwest::Client, String>,
    smtp: Option<Result<email::Smtp, String>>,
    sms: Option<SmsConfig>,
    webhooks: HashMap<String, WebhookConfig>,
    recipients: HashMap<String, RecipientConfig>,
    render: Render,
    instance: String,
}

impl Channels {
    /// Builds the HTTP client and the SMTP transport; a failure is kept and returned by
    /// each send on that channel (and so logged and retried). `instance` is the
    /// database's instance id, part of every message id.
    pub fn new(cfg: &NotifyConfig, render: Render, instance: &str) -> Channels {
        let http = reqwest::Client::builder()
            .user_agent(concat!("vigie/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"));
        let smtp = cfg.smtp.as_ref().map(email::Smtp::new);
        for e in [
            http.as_ref().err(),
            smtp.as_ref().and_then(|s| s.as_ref().err()),
        ]
        .into_iter()
        .flatten()
        {
            tracing::error!("notifications: {e}; messages on that channel wait in the outbox");
        }
        Channels {
            http,
            smtp,
            sms: cfg.sms.clone(),
            webhooks: cfg
                .webhooks
                .iter()
                .map(|w| (w.id.clone(), w.clone()))
                .collect(),
            recipients: cfg
                .recipients
                .iter()
                .map(|r| (r.id.clone(), r.clone()))
                .collect(),
            render,
            instance: instance.to_string(),
        }
    }

    /// How notifications are rendered.
    pub fn render(&self) -> &Render {
        &self.render
    }

    fn http(&self) -> Result<&reqwest::Client, SendError> {
        self.http.as_ref().map_err(|e| SendError::retry(e.clone()))
    }

    /// Sends `batch` as one message to its target.
    pub async fn send(&self, batch: &Batch) -> Result<(), SendError> {
        let id = message_id(&self.instance, batch.id);
        match batch.channel {
            Channel::Webhook => {
                let hook = self.webhooks.get(&batch.target).ok_or_else(|| {
                    SendError::permanent(format!(
                        "webhook {:?} is no longer configured",
                        batch.target
                    ))
                })?;
                let body = webhook::payload(hook.format, &self.render, &id, &batch.items);
                webhook::send(self.http()?, hook, &id, &body).await
            }
            Channel::Sms => {
                let sms = self
                    .sms
                    .as_ref()
                    .ok_or_else(|| SendError::permanent("[notify.sms] is no longer configured"))?;
                let phone = self.address(&batch.target, |r| r.phone.as_deref())?;
                let text = self.render.sms(&batch.items);
                let req = sms::build(sms, phone, &text);
                sms::send(self.http()?, &req, sms.timeout, &id).await
            }
            Channel::Email => {
                let smtp = match &self.smtp {
                    None => {
                        return Err(SendError::permanent(
                            "[notify.smtp] is no longer configured",
                        ));
                    }
                    Some(Err(e)) => return Err(SendError::retry(e.clone())),
                    Some(Ok(s)) => s,
                };
                let to = self.address(&batch.target, |r| r.email.as_deref())?;
                let subject = self.render.subject(&batch.items);
                let body = self.render.text(&batch.items);
                let ids: Vec<i64> = batch.items.iter().map(|i| i.outbox_id).collect();
                smtp.send(to, &id, &ids, &subject, &body).await
            }
        }
    }

    fn address<'a>(
        &'a self,
        recipient: &str,
        get: impl Fn(&'a RecipientConfig) -> Option<&'a str>,
    ) -> Result<&'a str, SendError> {
        let r = self.recipients.get(recipient).ok_or_else(|| {
            SendError::permanent(format!("recipient {recipient:?} is no longer configured"))
        })?;
        get(r).ok_or_else(|| {
            SendError::permanent(format!(
                "recipient {recipient:?} no longer has that address"
            ))
        })
    }
}

/// Whether an HTTP status other than 2xx is worth retrying: 5xx, 408 (request timeout),
/// 429 (too many requests), and anything that is not a 4xx.
pub fn retryable(status: reqwest::StatusCode) -> bool {
    !status.is_client_error() || matches!(status.as_u16(), 408 | 429)
}

/// An HTTP answer that is not 2xx, as an error: `{what}: HTTP {status}: {the reply's first
/// 200 characters}`, final unless [`retryable`].
pub(crate) async fn http_failure(what: &str, resp: reqwest::Response) -> SendError {
    let status = resp.status();
    let body = resp.text().await.unwrap_or_default();
    let body: String = body.trim().chars().take(200).collect();
    let message = format!("{what}: HTTP {status}: {body}");
    if retryable(status) {
        SendError::retry(message)
    } else {
        SendError::permanent(message)
    }
}
