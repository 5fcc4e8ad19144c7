//! The HTTP API (warp), DESIGN.md "HTTP API": health, Prometheus metrics, and live points.
//! Every answer is JSON except `/metrics`; errors are `{"error": "..."}` with a 4xx status.

pub mod alarms;
pub mod auth;
pub mod consumption;
pub mod grafana;
pub mod incidents;
pub mod outages;
pub mod page;
pub mod serve;
pub mod shared;
pub mod tls;

use crate::metrics::Metrics;
use crate::sample::{BadReason, PointId, Quality, Value};
use crate::sink::live::{LiveState, PointState};
use serde_json::{Value as Json, json};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use warp::http::StatusCode;
use warp::{Filter, Rejection, Reply};

/// A sample older than this many poll intervals is reported `stale`.
pub const STALE_AFTER_INTERVALS: u32 = 3;

/// What the routes read.
#[derive(Clone)]
pub struct ApiState {
    pub live: LiveState,
    pub metrics: Arc<Metrics>,
    pub alarms: crate::alarm::recorder::Alarms,
    pub notify: Arc<crate::notify::NotifyMetrics>,
    /// The CRM feed's counters.
    pub crm: Arc<crate::notify::crm::CrmMetrics>,
    /// The configuration (zones, for checking consumption alerts).
    pub config: Arc<crate::config::Config>,
    pub consumption: Arc<std::sync::Mutex<crate::correlate::store::AlertStore>>,
    pub incidents: Arc<std::sync::Mutex<crate::incident::store::IncidentStore>>,
    pub outages: Arc<std::sync::Mutex<crate::outage::store::OutageStore>>,
    /// Bearer tokens, roles and rates.
    pub guard: Arc<auth::Guard>,
}

impl ApiState {
    /// A filter passing requests whose token has one of the `accepted` roles (see
    /// [`auth`]); put it after the route's path and method.
    pub fn allow(
        &self,
        accepted: auth::Access,
    ) -> impl Filter<Extract = (), Error = Rejection> + Clone + use<> {
        auth::require(self.guard.clone(), accepted)
    }
}

fn value_json(v: &Option<Value>) -> Json {
    match v {
        Some(Value::F64(x)) if x.is_finite() => json!(x),
        Some(Value::I64(x)) => json!(x),
        Some(Value::Bool(b)) => json!(b),
        Some(Value::Text(s)) => json!(s),
        _ => Json::Null,
    }
}

fn rfc3339(ns: i64) -> Json {
    if ns <= 0 {
        return Json::Null;
    }
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_nanos(ns as u64);
    json!(humantime::format_rfc3339_millis(t).to_string())
}

/// A point's JSON: site, device, point, value, unit, quality (with reason), timestamp.
fn point_json(api: &ApiState, id: PointId, st: &PointState) -> Json {
    let c = &api.live.catalog;
    let d = c.device_of(id);
    let p = c.point(id);
    // Measured on the monotonic clock, so a system clock step does not hide a frozen value.
    let stale_after =
        d.poll_interval.saturating_mul(STALE_AFTER_INTERVALS) + Duration::from_secs(1);
    let quality = match st.received_at {
        Some(at) if at.elapsed() <= stale_after => st.quality,
        _ => Quality::Bad(BadReason::Stale),
    };
    // A bad or stale sample has no value: the last good one comes with its own time.
    let value = if quality == Quality::Good {
        value_json(&st.value)
    } else {
        Json::Null
    };
    json!({
        "site": c.site_of(d).id,
        "device": d.id,
        "point": p.name,
        "value": value,
        "last_good_value": st.last_good.as_ref().map(|(_, v)| value_json(&Some(v.clone()))),
        "last_good_time": st.last_good.as_ref().map(|(t, _)| rfc3339(*t)),
        "unit": p.unit,
        "quality": quality.class(),
        "reason": quality.reason().map(|r| r.to_string()),
        "time": rfc3339(st.time_ns),
        "time_ns": st.time_ns,
    })
}

fn error(status: StatusCode, message: impl Into<String>) -> warp::reply::Response {
    warp::reply::with_status(warp::reply::json(&json!({"error": message.into()})), status)
        .into_response()
}

/// All routes.
pub fn routes(
    api: ApiState,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Infallible> + Clone {
    let counted = {
        let m = api.metrics.clone();
        warp::any()
            .map(move || {
                m.http_requests.fetch_add(1, Ordering::Relaxed);
            })
            .untuple_one()
    };
    // One request from the caller's rate bucket, before any route is tried; probes, the
    // scrape and CORS preflights are not limited (every other path is, even a new one).
    let throttled = {
        let guard = api.guard.clone();
        warp::method()
            .and(warp::path::full())
            .and(auth::authorization())
            .and_then(
                move |method: warp::http::Method, path: warp::path::FullPath, h: Option<String>| {
                    let guard = guard.clone();
                    async move {
                        let limited = method != warp::http::Method::OPTIONS
                            && !matches!(path.as_str(), "/health" | "/ready" | "/metrics");
                        if limited {
                            guard.throttle(h.as_deref()).map_err(warp::reject::custom)
                        } else {
                            Ok(())
                        }
                    }
                },
            )
            .untuple_one()
    };
    let api_for_alarms = api.clone();
    let with = move || {
        let a = api.clone();
        warp::any().map(move || a.clone())
    };
    let health = warp::path!("health")
        .and(warp::get())
        .map(|| warp::reply::json(&json!({"status": "ok"})).into_response());
    let ready = warp::path!("ready")
        .and(warp::get())
        .and(with())
        .map(|a: ApiState| {
            let polled = a.live.devices().iter().any(Option::is_some);
            let body = json!({"ready": polled, "devices": a.live.catalog.devices.len()});
            let status = if polled || a.live.catalog.devices.is_empty() {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            warp::reply::with_status(warp::reply::json(&body), status).into_response()
        });
    let metrics =
        warp::path!("metrics")
            .and(warp::get())
            .and(with())
            .then(|a: ApiState| async move {
                // The per-device families go out piece by piece as they are rendered
                // (`Metrics::chunks`); the small rest is rendered first and sent last.
                let mut rest = alarms::metrics_text(&a).await;
                rest.push_str(&a.crm.render());
                rest.push_str(&a.guard.metrics_text());
                let pieces = a
                    .metrics
                    .chunks()
                    .chain(std::iter::once(rest))
                    .map(Ok::<_, std::convert::Infallible>);
                warp::reply::with_header(
                    warp::reply::stream(futures::stream::iter(pieces)),
                    "content-type",
                    "text/plain; version=0.0.4",
                )
                .into_response()
            });
    let points = warp::path!("api" / "v1" / "points")
        .and(warp::get())
        .and(api_for_alarms.allow(auth::READ))
        .and(with())
        .map(|a: ApiState| {
            let states = a.live.points();
            let list: Vec<Json> = states
                .iter()
                .enumerate()
                .map(|(i, st)| point_json(&a, PointId(i as u32), st))
                .collect();
            warp::reply::json(&list).into_response()
        });
    let point = warp::path!("api" / "v1" / "points" / String / String / String)
        .and(warp::get())
        .and(api_for_alarms.allow(auth::READ))
        .and(with())
        .map(|site: String, device: String, name: String, a: ApiState| {
            let Some(id) = a.live.catalog.find(&site, &device, &name) else {
                return error(
                    StatusCode::NOT_FOUND,
                    format!("no point {site}/{device}/{name}"),
                );
            };
            let Some(st) = a.live.point(id) else {
                return error(StatusCode::NOT_FOUND, "no state");
            };
            let mut j = point_json(&a, id, &st);
            j["history"] = a
                .live
                .history(id)
                .iter()
                .map(|(t, v)| json!({"time_ns": t, "value": v}))
                .collect();
            warp::reply::json(&j).into_response()
        });
    // Boxed: each route group's filter type is deep; nested unboxed, the whole tree's type
    // overflows rustc's recursion limit in release builds.
    let alarm_routes = alarms::routes(api_for_alarms.clone()).boxed();
    let consumption_routes = consumption::routes(api_for_alarms.clone()).boxed();
    let incident_routes = incidents::routes(api_for_alarms.clone()).boxed();
    let guard = api_for_alarms.guard.clone();
    let outage_routes = outages::routes(api_for_alarms.clone()).boxed();
    let grafana_routes = grafana::routes(api_for_alarms).boxed();
    counted
        .and(throttled)
        .and(
            alarm_routes
                .or(consumption_routes)
                .unify()
                .or(incident_routes)
                .unify()
                .or(outage_routes)
                .unify()
                .or(grafana_routes)
                .unify()
                .or(health)
                .unify()
                .or(ready)
                .unify()
                .or(metrics)
                .unify()
                .or(points)
                .unify()
                .or(point)
                .unify(),
        )
        .recover(move |r| handle_rejection(r, guard.clone()))
        .unify()
}

async fn handle_rejection(
    r: Rejection,
    guard: Arc<auth::Guard>,
) -> Result<warp::reply::Response, Infallible> {
    if let Some(d) = r.find::<auth::Denied>() {
        guard.count(d);
        let (status, message, header) = d.answer();
        let mut reply = error(status, message);
        if let Some((k, v)) = header
            && let Ok(v) = warp::http::HeaderValue::from_str(&v)
        {
            reply.headers_mut().insert(k, v);
        }
        return Ok(reply);
    }
    Ok(if r.is_not_found() {
        error(
            StatusCode::NOT_FOUND,
            "no such route; see README.md \"HTTP API\"",
        )
    } else if r.find::<warp::reject::LengthRequired>().is_some() {
        error(
            StatusCode::BAD_REQUEST,
            "send a JSON body, e.g. {\"operator\": \"amina\", \"comment\": \"crew sent\"}",
        )
    } else if r.find::<warp::reject::PayloadTooLarge>().is_some() {
        error(StatusCode::PAYLOAD_TOO_LARGE, "body too large")
    } else if r.find::<warp::reject::MethodNotAllowed>().is_some() {
        error(
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed on this route",
        )
    } else {
        error(StatusCode::BAD_REQUEST, format!("bad request: {r:?}"))
    })
}

/// Serves the API on `listener` as `[api]` says (HTTPS with `[api.tls]`, timeouts) until
/// `stop` resolves, then lets requests in flight finish for [`serve::SHUTDOWN_GRACE`].
/// A certificate that cannot be loaded (only when the configuration skipped `vigie check`)
/// is logged as an error and nothing is served.
pub async fn serve(
    api: ApiState,
    listener: tokio::net::TcpListener,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let settings = match serve::Settings::from_config(&api.config.api) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "API not served: api.tls");
            return;
        }
    };
    let counters = api.metrics.api_serve.clone();
    serve::serve(
        warp::service(routes(api)),
        listener,
        settings,
        counters,
        stop,
    )
    .await;
}

/// Binds the listen address with a clear error.
pub async fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))
}
