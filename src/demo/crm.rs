//! The demo's stand-in for the CRM: it posts customers' overconsumption alerts to vigie's
//! API as a real CRM would (`POST /api/v1/consumption-alerts`), so that `vigie demo` shows
//! the correlation at work:
//!
//! - at start, one alert in the quiet zone Z-SOUTH (no network alarm there: the correlator
//!   marks it `customer_side`);
//! - a few seconds after each burst at PS-01 (its pressure alarms in the journal), 20 alerts
//!   of customers of Z-NORTH, downstream of the burst: the correlator opens one incident
//!   linking the burst's alarms and the 20 alerts, and marks them
//!   `explained_by_network_event`.
//!
//! Alerts carry a billing period that ends today (the previous 30 days) and a reference of the
//! same period a year before, as the CRM's alerts do (issue 4).

use crate::alarm::recorder::Alarms;
use crate::alarm::store::HistoryQuery;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::watch;

/// The quiet zone's alert and the burst's zone.
pub const QUIET_ZONE: &str = "Z-SOUTH";
pub const BURST_ZONE: &str = "Z-NORTH";
/// Customers of the burst's zone whose meters show it.
pub const BURST_CUSTOMERS: usize = 20;
/// The alarms that tell the stand-in a burst has begun.
const BURST_ALARM_PREFIX: &str = "PS-01:PT-101:pressure_bar:";
/// How long after the burst's first alarm the alerts are posted.
const DELAY: Duration = Duration::from_secs(5);

/// One alert as the CRM sends it: `consumption` against `reference` (m³) over the 30 days
/// before `today`.
fn alert(
    id: &str,
    customer: &str,
    zone: &str,
    today: jiff::civil::Date,
    consumption: f64,
    reference: f64,
) -> serde_json::Value {
    let start = today
        .checked_sub(jiff::Span::new().days(30))
        .unwrap_or(today);
    serde_json::json!({
        "alert_id": id,
        "customer_ref": customer,
        "meter_id": format!("M-{customer}"),
        "utility": "water",
        "zone": zone,
        "period_start": start.to_string(),
        "period_end": today.to_string(),
        "consumption": consumption,
        "reference_consumption": reference,
        "unit": "m3",
    })
}

fn today() -> jiff::civil::Date {
    jiff::Timestamp::now()
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .date()
}

/// Posts `alerts`; returns how many vigie stored, or why it could not.
async fn post(
    client: &reqwest::Client,
    api: SocketAddr,
    token: &str,
    alerts: &[serde_json::Value],
) -> Result<u64, String> {
    let r = client
        .post(format!("http://{api}/api/v1/consumption-alerts"))
        .bearer_auth(token)
        .json(alerts)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = r.status();
    let body: serde_json::Value = r.json().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("{status}: {body}"));
    }
    Ok(body["stored"].as_u64().unwrap_or(0))
}

/// Runs until `stop` turns true, posting with the `crm` role's `token`; `say` prints what
/// it does.
pub async fn run(
    api: SocketAddr,
    token: String,
    alarms: Alarms,
    say: impl Fn(String) + Send + 'static,
    mut stop: watch::Receiver<bool>,
) {
    let client = reqwest::Client::new();
    // Only bursts from now on: the journal keeps earlier runs' (the demo's data folder
    // persists), and their alerts were posted then.
    let newest = HistoryQuery {
        limit: 1,
        ..Default::default()
    };
    let mut last_seq = alarms
        .history(newest)
        .await
        .ok()
        .and_then(|e| e.first().map(|e| e.seq))
        .unwrap_or(0);
    let mut last_burst: Option<i64> = None;
    let mut pending: Option<tokio::time::Instant> = None;
    let mut quiet_sent = false;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            r = stop.changed() => if r.is_err() || *stop.borrow() { return },
        }
        if !quiet_sent {
            let a = alert(
                "DEMO-SOUTH-0001",
                "C-S-0001",
                QUIET_ZONE,
                today(),
                48.0,
                21.0,
            );
            match post(&client, api, &token, &[a]).await {
                Ok(_) => {
                    say(format!(
                        "CRM: 1 overconsumption alert posted for {QUIET_ZONE}, a quiet zone (48 m3 against 21 m3 a year ago)"
                    ));
                    quiet_sent = true;
                }
                Err(e) => tracing::warn!(error = %e, "demo CRM: cannot post"),
            }
        }
        let q = HistoryQuery {
            after_seq: Some(last_seq),
            limit: 1000,
            ..Default::default()
        };
        if let Ok(events) = alarms.history(q).await {
            for e in &events {
                last_seq = last_seq.max(e.seq);
                // One batch per burst: the first pressure alarm, then none for 10 minutes.
                let new_burst = last_burst.is_none_or(|t| e.time_ns - t > 600_000_000_000);
                if e.alarm_id.starts_with(BURST_ALARM_PREFIX) && e.is_activation() && new_burst {
                    last_burst = Some(e.time_ns);
                    pending = Some(tokio::time::Instant::now() + DELAY);
                }
            }
        }
        if pending.is_some_and(|at| tokio::time::Instant::now() >= at) {
            pending = None;
            let batch = last_burst.unwrap_or_default() / 1_000_000_000;
            let alerts: Vec<_> = (1..=BURST_CUSTOMERS)
                .map(|k| {
                    alert(
                        &format!("DEMO-{batch}-{k:02}"),
                        &format!("C-N-{k:04}"),
                        BURST_ZONE,
                        today(),
                        30.0 + k as f64,
                        12.0,
                    )
                })
                .collect();
            match post(&client, api, &token, &alerts).await {
                Ok(n) => say(format!(
                    "CRM: {n} overconsumption alerts posted for {BURST_ZONE}, customers downstream of the burst"
                )),
                Err(e) => tracing::warn!(error = %e, "demo CRM: cannot post"),
            }
        }
    }
}
