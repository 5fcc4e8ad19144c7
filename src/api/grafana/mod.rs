//! The Grafana JSON datasource under `/grafana` (issue 5): the simpod-json-datasource
//! protocol (`GET /`, `POST /metrics`, `/metric-payload-options` and its older name
//! `/options`, `/query`, `/variable`, `/tag-keys`, `/tag-values`) and the legacy
//! simple-json endpoints (`/search`, `/annotations` with its CORS preflight).
//!
//! Shapes and sources: reference/alarms-integration.md §4.1 (simPod/GrafanaJsonDatasource
//! README and openapi.yaml) and §4.2 (grafana/simple-json-datasource README). The metrics
//! and their payloads are listed in README "Grafana JSON datasource".
//!
//! - [`request`]: the request bodies, read leniently (Grafana adds fields);
//! - [`metrics`]: the metric list, payload options, `/search`;
//! - [`query`]: `/query` dispatch and point series; [`series`]: range cut and downsampling;
//! - [`tables`]: alarms, KPIs, incidents, outages, sites, consumption alerts;
//! - [`annotations`]: alarm episodes and floods, legacy `/annotations`;
//! - [`variable`]: `/variable`, `/tag-keys`, `/tag-values`.
//!
//! A body that is not a JSON object, or asks for something vigie does not have, is a 400
//! `{"error": "…"}`; a store that cannot answer is a 503.

pub mod annotations;
pub mod metrics;
pub mod query;
pub mod request;
pub mod series;
pub mod tables;
pub mod variable;

use super::shared::{Failure, IntoFailure};
use super::{ApiState, auth, error};
use crate::sample::now_ns;
use request::{Adhoc, OtherRequest, Range};
use serde::de::DeserializeOwned;
use serde_json::{Value as Json, json};
use warp::http::{HeaderValue, StatusCode};
use warp::{Filter, Rejection, Reply};

/// The largest request body, bytes (a dashboard's query with many targets is a few KiB).
const MAX_BODY: u64 = 256 * 1024;

/// What a query's parts read: the API state, the range, now, the ad hoc filters.
pub struct Ctx<'a> {
    pub api: &'a ApiState,
    pub range: Range,
    pub now_ns: i64,
    pub adhoc: Adhoc,
}

/// A 400 answer.
pub fn bad(message: impl Into<String>) -> Failure {
    (StatusCode::BAD_REQUEST, message.into())
}

/// A 503 answer: `what` cannot answer now.
pub fn unavailable(what: &str) -> Failure {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        format!("{what} unavailable"),
    )
}

/// A store error that has no answer of its own: 503 with its message.
pub struct StoreFailure(pub String);

impl IntoFailure for StoreFailure {
    fn into_failure(self) -> Failure {
        (StatusCode::SERVICE_UNAVAILABLE, self.0)
    }
}

/// Reads a body: empty means `{}`; anything but a JSON object is a 400.
fn parse<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, Failure> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    let v: Json = serde_json::from_slice(body).map_err(|e| bad(format!("body: {e}")))?;
    if !v.is_object() {
        return Err(bad("body: expected a JSON object, as Grafana sends"));
    }
    serde_json::from_value(v).map_err(|e| bad(format!("body: {e}")))
}

/// One POST route: `name` is the path's last segment. None: no such route (404).
async fn answer(name: &str, body: &[u8], a: &ApiState) -> Option<Result<Json, Failure>> {
    Some(match name {
        "query" => match parse(body) {
            Ok(q) => query::query(a, q).await,
            Err(f) => Err(f),
        },
        "metrics" => parse::<OtherRequest>(body).map(|_| metrics::list()),
        "metric-payload-options" | "options" => {
            parse::<OtherRequest>(body).and_then(|r| metrics::payload_options(a, &r).map_err(bad))
        }
        "variable" => {
            parse::<OtherRequest>(body).and_then(|r| variable::variable(a, &r).map_err(bad))
        }
        "tag-keys" => parse::<OtherRequest>(body).map(|_| variable::tag_keys()),
        "tag-values" => {
            parse::<OtherRequest>(body).map(|r| variable::tag_values(a, r.key.as_deref()))
        }
        "search" => parse::<OtherRequest>(body).map(|r| metrics::search(a, r.target.as_deref())),
        "annotations" => match parse::<OtherRequest>(body) {
            Ok(r) => legacy_annotations(a, r).await,
            Err(f) => Err(f),
        },
        _ => return None,
    })
}

/// The legacy `/annotations`: `annotation.query` names `alarm_events` or `alarm_floods`
/// with `key=value` filters.
async fn legacy_annotations(a: &ApiState, r: OtherRequest) -> Result<Json, Failure> {
    let now = now_ns();
    let range = r.range.resolve(now).map_err(bad)?;
    let text = r
        .annotation
        .get("query")
        .and_then(Json::as_str)
        .unwrap_or_default();
    let (metric, payload) = annotations::parse_query(text).map_err(bad)?;
    let ctx = Ctx {
        api: a,
        range,
        now_ns: now,
        adhoc: Adhoc::default(),
    };
    let table = if metric == "alarm_floods" {
        annotations::alarm_floods(&ctx).await?
    } else {
        annotations::alarm_events(&ctx, &payload).await?
    };
    Ok(annotations::legacy(&r, &table))
}

/// Every answer may be read by a browser on another origin (Grafana's direct access).
fn with_cors(mut r: warp::reply::Response) -> warp::reply::Response {
    r.headers_mut()
        .insert("access-control-allow-origin", HeaderValue::from_static("*"));
    r
}

/// The routes under `/grafana`.
pub fn routes(
    api: ApiState,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    let guard = api.clone();
    let with = move || {
        let a = api.clone();
        warp::any().map(move || a.clone())
    };
    // "Test connection": GET {url}/, with or without the trailing slash.
    let test = warp::path("grafana")
        .and(warp::path::end())
        .and(warp::get())
        .and(guard.allow(auth::READ))
        .map(|| warp::reply::json(&json!({"status": "ok", "datasource": "vigie"})).into_response());
    // The legacy datasource's preflight for direct (browser) access; browsers send it
    // without credentials, so it takes no token, and it allows the Authorization header.
    let preflight = warp::path("grafana")
        .and(warp::path::tail())
        .and(warp::options())
        .map(|_| {
            let mut r = warp::reply::with_status("", StatusCode::OK).into_response();
            let h = r.headers_mut();
            h.insert(
                "access-control-allow-headers",
                HeaderValue::from_static("accept, authorization, content-type"),
            );
            h.insert(
                "access-control-allow-methods",
                HeaderValue::from_static("POST"),
            );
            r
        });
    let post = warp::path!("grafana" / String)
        .and(warp::post())
        .and(guard.allow(auth::READ))
        .and(warp::body::content_length_limit(MAX_BODY))
        .and(warp::body::bytes())
        .and(with())
        .and_then(|name: String, body: bytes::Bytes, a: ApiState| async move {
            Ok::<_, Rejection>(match answer(&name, &body, &a).await {
                // Answered here: a rejection would merge with the other routes' and
                // come out as 405.
                None => error(
                    StatusCode::NOT_FOUND,
                    format!("no route /grafana/{name}; see README.md \"Grafana JSON datasource\""),
                ),
                Some(Ok(j)) => warp::reply::json(&j).into_response(),
                Some(Err((status, m))) => error(status, m),
            })
        });
    test.or(preflight).unify().or(post).unify().map(with_cors)
}
