//! Outage routes (DESIGN.md "HTTP API"), what the CRM asks when a customer calls:
//!
//! - `GET /api/v1/outages`: planned and active outages and those ended in the last 24 h
//!   (or `status=planned,active,ended,cancelled`, several comma-separated), by `zone`, by
//!   `site`, or by `lat` + `lon` (WGS 84 degrees: the outages of the zones whose area holds
//!   the point; the answer lists those zones, so "no outage" and "no zone here" differ);
//!   `from`, `to`, `limit`, `cursor`. Newest first.
//! - `GET /api/v1/outages/{id}`.
//! - `GET /api/v1/outages.geojson`: planned and active outages as a GeoJSON
//!   FeatureCollection, each feature the union of its zones' areas.
//! - `POST /api/v1/outages` (honours `Idempotency-Key`): declares an outage (planned works
//!   by default): `zones`, `start`, `end` (announced), `cause`, `description`, `site`,
//!   `reference`. 201; the same key and body again: 200 with the same outage; the key with
//!   another body: 409.
//! - `PATCH /api/v1/outages/{id}`: a declared outage's `description`, `end`, or `status`
//!   `ended` (supply back now) or `cancelled`. An outage derived from alarms ends when its
//!   cause clears: 409.

use super::alarms::{check_range, parse_time};
use super::auth;
use super::page::Page;
use super::shared::{Failure, IntoFailure, check_place, nullable, text_ok, with_store};
use super::{ApiState, error};
use crate::config::outages::OutageCause;
use crate::outage::area::{feature_collection, zones_at};
use crate::outage::store::{Declared, DeclaredChange, OutageError, OutageQuery};
use crate::outage::{Outage, OutageStatus};
use crate::sample::now_ns;
use serde::Deserialize;
use serde_json::{Value as Json, json};
use std::collections::HashMap;
use warp::http::StatusCode;
use warp::{Filter, Rejection, Reply};

const MAX_BODY: u64 = 64 * 1024;
/// What "recent" means for ended outages in the default list: 24 h.
pub const RECENT_NS: i64 = 24 * 3600 * 1_000_000_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeclareBody {
    zones: Vec<String>,
    /// RFC 3339 or epoch ms; default now.
    start: Option<String>,
    /// The announced end.
    end: Option<String>,
    #[serde(default = "planned_works")]
    cause: OutageCause,
    description: String,
    site: Option<String>,
    reference: Option<String>,
}

fn planned_works() -> OutageCause {
    OutageCause::PlannedWorks
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchBody {
    description: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    end: Option<Option<String>>,
    status: Option<String>,
}

impl IntoFailure for OutageError {
    fn into_failure(self) -> Failure {
        let status = match self {
            OutageError::NotFound(_) => StatusCode::NOT_FOUND,
            OutageError::Derived(_)
            | OutageError::Finished { .. }
            | OutageError::KeyReused(_)
            | OutageError::NotStarted(_) => StatusCode::CONFLICT,
            OutageError::EndBeforeStart(_) => StatusCode::BAD_REQUEST,
            OutageError::Sqlite { .. } => StatusCode::SERVICE_UNAVAILABLE,
        };
        (status, self.to_string())
    }
}

fn reply(r: Result<Json, Failure>, ok: StatusCode) -> warp::reply::Response {
    match r {
        Ok(j) => warp::reply::with_status(warp::reply::json(&j), ok).into_response(),
        Err((status, m)) => error(status, m),
    }
}

fn coordinate(name: &str, v: &str, max: f64) -> Result<f64, String> {
    match v.parse::<f64>() {
        Ok(x) if x.is_finite() && x.abs() <= max => Ok(x),
        _ => Err(format!(
            "{name}: decimal degrees from -{max} to {max}, not {v:?}"
        )),
    }
}

fn statuses(v: &str) -> Result<Vec<OutageStatus>, String> {
    v.split(',')
        .map(|s| {
            OutageStatus::parse(s.trim()).ok_or_else(|| {
                format!("status: planned, active, ended or cancelled (comma-separated), not {s:?}")
            })
        })
        .collect()
}

async fn list(q: HashMap<String, String>, a: ApiState) -> Result<warp::reply::Response, Rejection> {
    let now = now_ns();
    let mut oq = OutageQuery {
        recent_since_ns: now - RECENT_NS,
        ..Default::default()
    };
    let mut page = Page::default();
    let (mut lat, mut lon) = (None, None);
    for (k, v) in &q {
        if let Some(r) = page.take(k, v) {
            if let Err(m) = r {
                return Ok(error(StatusCode::BAD_REQUEST, m));
            }
            continue;
        }
        let r: Result<(), String> = match k.as_str() {
            "status" => statuses(v).map(|s| oq.statuses = s),
            "zone" => {
                oq.zones = Some(vec![v.clone()]);
                Ok(())
            }
            "site" => {
                oq.site = Some(v.clone());
                Ok(())
            }
            "lat" => coordinate("lat", v, 90.0).map(|x| lat = Some(x)),
            "lon" => coordinate("lon", v, 180.0).map(|x| lon = Some(x)),
            "from" => parse_time(v).map(|t| oq.from_ns = Some(t)),
            "to" => parse_time(v).map(|t| oq.to_ns = Some(t)),
            _ => Err(format!(
                "unknown parameter {k:?}; use zone, site, lat and lon, status, from, to, limit, cursor"
            )),
        };
        if let Err(m) = r {
            return Ok(error(StatusCode::BAD_REQUEST, m));
        }
    }
    if let Err(m) = check_range(oq.from_ns, oq.to_ns) {
        return Ok(error(StatusCode::BAD_REQUEST, m));
    }
    let at_point = match (lat, lon) {
        (Some(lat), Some(lon)) => {
            if q.contains_key("zone") {
                return Ok(error(
                    StatusCode::BAD_REQUEST,
                    "give zone, or lat and lon, not both",
                ));
            }
            let zones = zones_at(&a.config.zones, lon, lat);
            oq.zones = Some(zones.clone());
            Some(zones)
        }
        (None, None) => None,
        _ => {
            return Ok(error(
                StatusCode::BAD_REQUEST,
                "lat and lon go together (WGS 84 decimal degrees)",
            ));
        }
    };
    if let Some(z) = oq.zones.as_ref().and_then(|z| z.first())
        && at_point.is_none()
        && !a.config.zones.iter().any(|x| &x.id == z)
    {
        return Ok(error(StatusCode::NOT_FOUND, format!("no zone {z:?}")));
    }
    if let Some(site) = &oq.site
        && !a.config.sites.iter().any(|x| &x.id == site)
    {
        return Ok(error(StatusCode::NOT_FOUND, format!("no site {site:?}")));
    }
    oq.limit = page.fetch();
    oq.before_id = page.cursor;
    let r = with_store(&a.outages, move |s| s.list(&oq)).await;
    Ok(reply(
        r.map(|mut list| {
            let next = page.cut(&mut list, |o| o.id);
            let items: Vec<Json> = list.iter().map(Outage::to_json).collect();
            let mut j = json!({"outages": items, "next_cursor": next});
            if let Some(zones) = at_point {
                j["zones"] = json!(zones);
            }
            j
        }),
        StatusCode::OK,
    ))
}

async fn geojson(a: ApiState) -> Result<warp::reply::Response, Rejection> {
    let q = OutageQuery {
        statuses: vec![OutageStatus::Planned, OutageStatus::Active],
        limit: 10_000,
        ..Default::default()
    };
    Ok(match with_store(&a.outages, move |s| s.list(&q)).await {
        Ok(list) => {
            let fc = feature_collection(&list, &a.config.zones);
            warp::reply::with_header(
                warp::reply::json(&fc),
                "content-type",
                "application/geo+json",
            )
            .into_response()
        }
        Err((status, m)) => error(status, m),
    })
}

async fn one(id: i64, a: ApiState) -> Result<warp::reply::Response, Rejection> {
    let r = with_store(&a.outages, move |s| s.get(id)).await;
    Ok(reply(r.map(|o| o.to_json()), StatusCode::OK))
}

async fn declare(
    key: Option<String>,
    body: bytes::Bytes,
    a: ApiState,
) -> Result<warp::reply::Response, Rejection> {
    let b: DeclareBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return Ok(error(StatusCode::BAD_REQUEST, format!("body: {e}"))),
    };
    let now = now_ns();
    let times = (
        b.start.as_deref().map(parse_time).transpose(),
        b.end.as_deref().map(parse_time).transpose(),
    );
    let (start, end) = match times {
        (Ok(s), Ok(e)) => (s.unwrap_or(now), e),
        (Err(m), _) => return Ok(error(StatusCode::BAD_REQUEST, format!("start: {m}"))),
        (_, Err(m)) => return Ok(error(StatusCode::BAD_REQUEST, format!("end: {m}"))),
    };
    let checks = [
        if b.zones.is_empty() {
            Err("zones: at least one zone".to_string())
        } else {
            check_place(&a.config, "zones", &b.zones, b.site.as_ref())
        },
        text_ok("description", &b.description, 2000),
        b.reference
            .as_deref()
            .map_or(Ok(()), |r| text_ok("reference", r, 200)),
        key.as_deref()
            .map_or(Ok(()), |k| text_ok("Idempotency-Key", k, 255)),
        match end {
            Some(e) if e <= start => Err("end: after start".to_string()),
            _ => Ok(()),
        },
    ];
    if let Some(Err(m)) = checks.into_iter().find(Result::is_err) {
        return Ok(error(StatusCode::BAD_REQUEST, m));
    }
    let utility = b
        .zones
        .first()
        .and_then(|z| a.config.zones.iter().find(|x| &x.id == z))
        .map(|z| z.utility);
    let d = Declared {
        cause: b.cause,
        description: b.description,
        utility,
        site: b.site,
        zones: b.zones,
        start_ns: start,
        planned_end_ns: end,
        reference: b.reference,
    };
    let request = serde_json::from_slice::<Json>(&body)
        .map(|v| v.to_string())
        .unwrap_or_default();
    let r = with_store(&a.outages, move |s| {
        s.declare(&d, key.as_deref().map(|k| (k, request.as_str())), now)
    })
    .await;
    Ok(match r {
        Ok((o, created)) => reply(
            Ok(o.to_json()),
            if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            },
        ),
        Err((status, m)) => error(status, m),
    })
}

async fn patch(
    id: i64,
    body: bytes::Bytes,
    a: ApiState,
) -> Result<warp::reply::Response, Rejection> {
    let b: PatchBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return Ok(error(StatusCode::BAD_REQUEST, format!("body: {e}"))),
    };
    let status = match b.status.as_deref() {
        None => None,
        Some("ended") => Some(OutageStatus::Ended),
        Some("cancelled") => Some(OutageStatus::Cancelled),
        Some(s) => {
            return Ok(error(
                StatusCode::BAD_REQUEST,
                format!("status: ended or cancelled, not {s:?}"),
            ));
        }
    };
    let end = match b.end {
        None => None,
        Some(None) => Some(None),
        Some(Some(t)) => match parse_time(&t) {
            Ok(ns) => Some(Some(ns)),
            Err(m) => return Ok(error(StatusCode::BAD_REQUEST, format!("end: {m}"))),
        },
    };
    if let Some(d) = &b.description
        && let Err(m) = text_ok("description", d, 2000)
    {
        return Ok(error(StatusCode::BAD_REQUEST, m));
    }
    let change = DeclaredChange {
        description: b.description,
        planned_end_ns: end,
        status,
    };
    let r = with_store(&a.outages, move |s| {
        s.change_declared(id, &change, now_ns())
    })
    .await;
    Ok(reply(r.map(|o| o.to_json()), StatusCode::OK))
}

/// The outage routes.
pub fn routes(
    api: ApiState,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    let guard = api.clone();
    let with = move || {
        let a = api.clone();
        warp::any().map(move || a.clone())
    };
    let body = || warp::body::content_length_limit(MAX_BODY).and(warp::body::bytes());
    let list = warp::path!("api" / "v1" / "outages")
        .and(warp::get())
        .and(guard.allow(auth::READ_SHARED))
        .and(warp::query::<HashMap<String, String>>())
        .and(with())
        .and_then(list);
    let geojson = warp::path!("api" / "v1" / "outages.geojson")
        .and(warp::get())
        .and(guard.allow(auth::READ_SHARED))
        .and(with())
        .and_then(geojson);
    let one = warp::path!("api" / "v1" / "outages" / i64)
        .and(warp::get())
        .and(guard.allow(auth::READ_SHARED))
        .and(with())
        .and_then(one);
    let declare = warp::path!("api" / "v1" / "outages")
        .and(warp::post())
        .and(guard.allow(auth::ENGINEER))
        .and(warp::header::optional::<String>("idempotency-key"))
        .and(body())
        .and(with())
        .and_then(declare);
    let patch = warp::path!("api" / "v1" / "outages" / i64)
        .and(warp::patch())
        .and(guard.allow(auth::ENGINEER))
        .and(body())
        .and(with())
        .and_then(patch);
    list.or(geojson)
        .unify()
        .or(one)
        .unify()
        .or(declare)
        .unify()
        .or(patch)
        .unify()
}
