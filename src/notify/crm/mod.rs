//! The CRM webhook feed (issue 4 "Outages for the CRM"): each consumption alert's
//! classification and each outage's declaration (planned works), start, update and end, POSTed to `[crm] webhook_url`
//! so that the CRM need not poll.
//!
//! - [`outbox`]: the table `crm_outbox` in `<data_dir>/alarms.sqlite` and [`publish`],
//!   which other stages call inside their own transaction (the correlator when an alert's
//!   class changes, the outage tracker on each outage change);
//! - [`deliver`]: the delivery worker, one request at a time, in event order.
//!
//! Guarantees:
//!
//! - **in order**: events go out by id (the order their transactions committed), one
//!   request at a time; a request being retried holds back every later event, so the CRM
//!   never sees an outage's end before its start;
//! - **nothing lost** while the CRM is down or vigie restarts: a request is retried with
//!   backoff (5 s doubling to 5 min, ±20 %) on a connection error, a timeout, and any
//!   answer but a refusal (below), for as long as it takes; 401, 403 and 404 (an expired
//!   token, a wrong URL, a gateway during a CRM deploy) are logged as errors, since they
//!   need someone to fix the configuration or the CRM;
//! - **at least once, with a key to drop repeats**: each request carries an
//!   `Idempotency-Key` `vigie-crm-{instance}-{first}-{last}` (the database's instance id, as
//!   in notifications, and the request's first and last event ids), the same on every retry
//!   and after a restart, and never the same for two bodies; each event its `id`. vigie
//!   stopping between a 2xx and recording it sends that request again at the next start;
//! - **a refused event does not block the feed**: 400, 409, 413 and 422 say the CRM will
//!   never take this content: a request of several events is split into one request per
//!   event, and an event refused alone is marked `failed`, logged with the answer's first
//!   200 characters and counted (`vigie_crm_events_failed_total`); the next events go.
//!
//! Events are recorded whether or not `[crm]` is configured (their producers do not read
//! the configuration). Without `[crm]`, the worker marks them `discarded` at start and each
//! minute, so that a CRM configured later receives only what happens from then on, not
//! months of history (`GET /api/v1/outages` and `GET /api/v1/consumption-alerts` give it the
//! present state). Events no longer pending are deleted after `[crm] retention` (30 days by
//! default; without `[crm]`, 30 days); pending events are never deleted.

pub mod deliver;
pub mod outbox;

#[cfg(test)]
mod tests;

pub use outbox::{CrmEvent, CrmEventKind, create_tables, publish};

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

/// CRM feed errors.
#[derive(Debug, thiserror::Error)]
pub enum CrmError {
    /// The alarm database (which holds the outbox) could not be opened or used.
    #[error("CRM outbox in {path}: {source}")]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
    /// A database task died.
    #[error("CRM outbox task: {0}")]
    Task(String),
}

/// The CRM feed's counters, for `/metrics`.
#[derive(Debug, Default)]
pub struct CrmMetrics {
    /// Events delivered (2xx), since start.
    pub sent: AtomicU64,
    /// Events the CRM refused (400, 409, 413, 422), given up, since start.
    pub failed: AtomicU64,
    /// Events waiting in the outbox now (a gauge).
    pub pending: AtomicU64,
    /// Failed requests that will be retried (connection errors, timeouts, any status but
    /// 400, 409, 413 and 422), since start.
    pub delivery_errors: AtomicU64,
}

impl CrmMetrics {
    /// The counters in Prometheus text format.
    pub fn render(&self) -> String {
        use std::fmt::Write as _;
        let g = |v: &AtomicU64| v.load(Ordering::Relaxed);
        let mut o = String::new();
        for (name, kind, help, v) in [
            (
                "vigie_crm_events_sent_total",
                "counter",
                "Events delivered to the CRM webhook.",
                g(&self.sent),
            ),
            (
                "vigie_crm_events_failed_total",
                "counter",
                "Events the CRM webhook refused (400, 409, 413, 422), given up.",
                g(&self.failed),
            ),
            (
                "vigie_crm_delivery_errors_total",
                "counter",
                "Failed requests to the CRM webhook that will be retried.",
                g(&self.delivery_errors),
            ),
            (
                "vigie_crm_events_pending",
                "gauge",
                "Events waiting in the CRM outbox.",
                g(&self.pending),
            ),
        ] {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}");
        }
        o
    }
}
