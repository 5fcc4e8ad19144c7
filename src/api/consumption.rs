//! Consumption alert routes (DESIGN.md "HTTP API"), for the CRM:
//!
//! - `POST /api/v1/consumption-alerts`: a JSON array of alerts. Each is checked on its own:
//!   the valid ones are stored, the others come back with their index and reason. Idempotent
//!   by `alert_id`: a resent alert changes nothing; an id reused with other content is
//!   refused.
//! - `GET /api/v1/consumption-alerts`: stored alerts, newest first (`zone`, `utility`,
//!   `classification`, `from`, `to`, `limit`, `cursor`).

use super::alarms::{check_range, parse_time};
use super::auth;
use super::page::Page;
use super::{ApiState, error};
use crate::correlate::alerts::ConsumptionAlert;
use crate::correlate::store::{AlertQuery, Insert};
use crate::sample::now_ns;
use serde_json::{Value as Json, json};
use std::collections::HashMap;
use warp::http::StatusCode;
use warp::{Filter, Rejection, Reply};

/// The most alerts in one batch.
pub const MAX_BATCH: usize = 10_000;
/// The largest batch body, bytes.
const MAX_BODY: u64 = 8 << 20;

async fn post(body: bytes::Bytes, a: ApiState) -> Result<warp::reply::Response, Rejection> {
    let records: Vec<Json> = match serde_json::from_slice(&body) {
        Ok(Json::Array(v)) => v,
        Ok(_) => {
            return Ok(error(
                StatusCode::BAD_REQUEST,
                "expected a JSON array of alerts",
            ));
        }
        Err(e) => return Ok(error(StatusCode::BAD_REQUEST, format!("body: {e}"))),
    };
    if records.len() > MAX_BATCH {
        return Ok(error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("at most {MAX_BATCH} alerts per batch"),
        ));
    }
    let mut valid = Vec::new();
    let mut index_of = Vec::new();
    let mut rejected = Vec::new();
    for (i, r) in records.iter().enumerate() {
        match ConsumptionAlert::from_json(r, &a.config) {
            Ok(alert) => {
                valid.push(alert);
                index_of.push(i);
            }
            Err(reason) => rejected.push(json!({
                "index": i,
                // Only a string: the field echoes the record's id, never a value that is not one.
                "alert_id": r.get("alert_id").and_then(|v| v.as_str()),
                "error": reason,
            })),
        }
    }
    let store = a.consumption.clone();
    let batch = valid.clone();
    let result = tokio::task::spawn_blocking(move || {
        store
            .lock()
            .map_err(|_| "consumption alert store unavailable".to_string())?
            .insert(&batch, now_ns())
            .map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())
    .and_then(|r| r);
    let outcome = match result {
        Ok(o) => o,
        Err(m) => return Ok(error(StatusCode::SERVICE_UNAVAILABLE, m)),
    };
    let (mut stored, mut duplicates) = (0, 0);
    for ((o, alert), i) in outcome.iter().zip(&valid).zip(&index_of) {
        match o {
            Insert::Stored => stored += 1,
            Insert::Duplicate => duplicates += 1,
            Insert::Conflict => rejected.push(json!({
                "index": i,
                "alert_id": alert.alert_id,
                "error": "alert_id: already received with other content (an alert id is never reused)",
            })),
        }
    }
    rejected.sort_by_key(|r| r["index"].as_u64());
    Ok(warp::reply::json(&json!({
        "stored": stored,
        "duplicates": duplicates,
        "rejected": rejected,
    }))
    .into_response())
}

async fn list(q: HashMap<String, String>, a: ApiState) -> Result<warp::reply::Response, Rejection> {
    let mut aq = AlertQuery::default();
    let mut page = Page::default();
    for (k, v) in &q {
        if let Some(r) = page.take(k, v) {
            if let Err(m) = r {
                return Ok(error(StatusCode::BAD_REQUEST, m));
            }
            continue;
        }
        let r: Result<(), String> = match k.as_str() {
            "zone" => {
                aq.zone = Some(v.clone());
                Ok(())
            }
            "utility" if v == "water" || v == "electricity" => {
                aq.utility = Some(v.clone());
                Ok(())
            }
            "utility" => Err(format!("utility: water or electricity, not {v:?}")),
            "classification" => {
                aq.classification = Some(v.clone());
                Ok(())
            }
            "from" => parse_time(v).map(|t| aq.from_ns = Some(t)),
            "to" => parse_time(v).map(|t| aq.to_ns = Some(t)),
            _ => Err(format!(
                "unknown parameter {k:?}; use zone, utility, classification, from, to, limit, cursor"
            )),
        };
        if let Err(m) = r {
            return Ok(error(StatusCode::BAD_REQUEST, m));
        }
    }
    if let Err(m) = check_range(aq.from_ns, aq.to_ns) {
        return Ok(error(StatusCode::BAD_REQUEST, m));
    }
    aq.limit = page.fetch();
    aq.before_seq = page.cursor;
    let store = a.consumption.clone();
    let result = tokio::task::spawn_blocking(move || {
        store
            .lock()
            .map_err(|_| "consumption alert store unavailable".to_string())?
            .list(&aq)
            .map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())
    .and_then(|r| r);
    match result {
        Ok(mut alerts) => {
            let next = page.cut(&mut alerts, |s| s.seq);
            // Each classified alert with what the CRM tells the customer (as in the webhook).
            let items: Vec<serde_json::Value> = alerts
                .iter()
                .map(|s| {
                    let mut j = serde_json::to_value(s).unwrap_or(serde_json::Value::Null);
                    j["advice"] = s
                        .classification
                        .as_deref()
                        .map(|c| json!(crate::correlate::store::advice(c)))
                        .unwrap_or(serde_json::Value::Null);
                    j
                })
                .collect();
            Ok(warp::reply::json(&json!({"alerts": items, "next_cursor": next})).into_response())
        }
        Err(m) => Ok(error(StatusCode::SERVICE_UNAVAILABLE, m)),
    }
}

/// The consumption alert routes.
pub fn routes(
    api: ApiState,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    let guard = api.clone();
    let with = move || {
        let a = api.clone();
        warp::any().map(move || a.clone())
    };
    let post = warp::path!("api" / "v1" / "consumption-alerts")
        .and(warp::post())
        .and(guard.allow(auth::CRM_WRITE))
        .and(warp::body::content_length_limit(MAX_BODY))
        .and(warp::body::bytes())
        .and(with())
        .and_then(post);
    let list = warp::path!("api" / "v1" / "consumption-alerts")
        .and(warp::get())
        .and(guard.allow(auth::READ_SHARED))
        .and(warp::query::<HashMap<String, String>>())
        .and(with())
        .and_then(list);
    post.or(list).unify()
}
