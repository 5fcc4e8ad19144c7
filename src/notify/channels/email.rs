//! E-mail through an SMTP relay (lettre): a plain-text message per batch, its
//! `Message-ID` `<vigie-notify-{instance}-{batch}@{sender's domain}>` (the same on each
//! retry) and an
//! `X-Vigie-Notifications` header listing the outbox ids it carries.

use super::SendError;
use super::webhook::error_chain;
use crate::config::notify::{SmtpConfig, SmtpTls};
use lettre::message::Mailbox;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::time::Duration;

/// A configured relay.
pub struct Smtp {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    timeout: Duration,
}

impl Smtp {
    /// Builds the transport (no connection yet); errors name what is wrong.
    pub fn new(cfg: &SmtpConfig) -> Result<Smtp, String> {
        let from: Mailbox = cfg
            .from
            .parse()
            .map_err(|e| format!("[notify.smtp] from {:?}: {e}", cfg.from))?;
        let tls = match cfg.tls {
            SmtpTls::None => Tls::None,
            SmtpTls::Starttls | SmtpTls::Tls => {
                let params = TlsParameters::new(cfg.host.clone())
                    .map_err(|e| format!("[notify.smtp] TLS for {:?}: {e}", cfg.host))?;
                if cfg.tls == SmtpTls::Tls {
                    Tls::Wrapper(params)
                } else {
                    Tls::Required(params)
                }
            }
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(cfg.host.clone())
            .port(cfg.port())
            .tls(tls)
            .timeout(Some(cfg.timeout));
        if !cfg.username.is_empty() {
            builder =
                builder.credentials(Credentials::new(cfg.username.clone(), cfg.password.clone()));
        }
        Ok(Smtp {
            transport: builder.build(),
            from,
            timeout: cfg.timeout,
        })
    }

    /// Sends one message to `to`; `message_id` is its id (without `<@domain>`), `ids` the
    /// outbox ids it carries.
    pub async fn send(
        &self,
        to: &str,
        message_id: &str,
        ids: &[i64],
        subject: &str,
        body: &str,
    ) -> Result<(), SendError> {
        let to: Mailbox = to
            .parse()
            .map_err(|e| SendError::permanent(format!("e-mail address {to:?}: {e}")))?;
        let domain = self.from.email.domain().to_string();
        let mut message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .message_id(Some(format!("<{message_id}@{domain}>")))
            .header(ContentType::TEXT_PLAIN)
            .body(body.to_string())
            .map_err(|e| SendError::permanent(format!("cannot build the e-mail: {e}")))?;
        let list: Vec<String> = ids.iter().map(i64::to_string).collect();
        message.headers_mut().insert_raw(HeaderValue::new(
            HeaderName::new_from_ascii_str("X-Vigie-Notifications"),
            list.join(", "),
        ));
        // lettre's timeout bounds each SMTP command; this bounds the whole delivery.
        match tokio::time::timeout(self.timeout, self.transport.send(message)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(SendError::retry(format!("SMTP: {}", error_chain(&e)))),
            Err(_) => Err(SendError::retry(format!(
                "SMTP: no answer within {}",
                humantime::format_duration(self.timeout)
            ))),
        }
    }
}
