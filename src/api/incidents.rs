//! Incident routes (DESIGN.md "HTTP API"):
//!
//! - `POST /api/v1/incidents` (honours `Idempotency-Key`): 201 with the new incident; the
//!   same key and body again: 200 with the same incident; the key with another body: 409.
//! - `GET /api/v1/incidents`: newest first (`status`, `zone`, `site`, `priority`, `from`,
//!   `to`, `limit`, `cursor`).
//! - `GET /api/v1/incidents/{id}`: the incident with its history (creation, changes,
//!   comments).
//! - `PATCH /api/v1/incidents/{id}`: `status`, `assignee`, `estimated_restoration`,
//!   `comment`, by `actor`.
//! - `POST /api/v1/incidents/{id}/comments`: `{"actor", "text"}`.

use super::alarms::{check_range, parse_priority, parse_time};
use super::auth;
use super::page::Page;
use super::shared::{Failure, IntoFailure, check_place, nullable, text_ok, with_store};
use super::{ApiState, error, rfc3339};
use crate::alarm::Priority;
use crate::incident::store::{Change, IncidentError, IncidentQuery, NewIncident};
use crate::incident::{Incident, Links, Status};
use crate::sample::now_ns;
use serde::Deserialize;
use serde_json::{Value as Json, json};
use std::collections::HashMap;
use warp::http::StatusCode;
use warp::{Filter, Rejection, Reply};

const MAX_BODY: u64 = 64 * 1024;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    title: String,
    #[serde(default)]
    description: String,
    priority: Priority,
    zone: Option<String>,
    site: Option<String>,
    assignee: Option<String>,
    /// RFC 3339.
    estimated_restoration: Option<String>,
    #[serde(default)]
    links: Links,
    /// Who opens it (default `api`).
    actor: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchBody {
    actor: String,
    status: Option<Status>,
    #[serde(default, deserialize_with = "nullable")]
    assignee: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    estimated_restoration: Option<Option<String>>,
    comment: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CommentBody {
    actor: String,
    text: String,
}

fn incident_json(i: &Incident) -> Json {
    let mut j = serde_json::to_value(i).unwrap_or(Json::Null);
    j["opened_at"] = rfc3339(i.opened_ns);
    j["updated_at"] = rfc3339(i.updated_ns);
    j["estimated_restoration"] = i
        .estimated_restoration_ns
        .map(rfc3339)
        .unwrap_or(Json::Null);
    j
}

impl IntoFailure for IncidentError {
    fn into_failure(self) -> Failure {
        let status = match self {
            IncidentError::NotFound(_) => StatusCode::NOT_FOUND,
            IncidentError::BadTransition { .. } | IncidentError::KeyReused(_) => {
                StatusCode::CONFLICT
            }
            IncidentError::Sqlite { .. } => StatusCode::SERVICE_UNAVAILABLE,
        };
        (status, self.to_string())
    }
}

fn fail((status, message): Failure) -> warp::reply::Response {
    error(status, message)
}

async fn create(
    key: Option<String>,
    body: bytes::Bytes,
    a: ApiState,
) -> Result<warp::reply::Response, Rejection> {
    let b: CreateBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return Ok(error(StatusCode::BAD_REQUEST, format!("body: {e}"))),
    };
    let restoration = match b
        .estimated_restoration
        .as_deref()
        .map(parse_time)
        .transpose()
    {
        Ok(t) => t,
        Err(m) => {
            return Ok(error(
                StatusCode::BAD_REQUEST,
                format!("estimated_restoration: {m}"),
            ));
        }
    };
    let actor = b.actor.clone().unwrap_or_else(|| "api".into());
    let checks = [
        text_ok("title", &b.title, 200),
        text_ok("actor", &actor, 64),
        b.assignee
            .as_deref()
            .map_or(Ok(()), |who| text_ok("assignee", who, 64)),
        check_place(&a.config, "zone", &b.zone, b.site.as_ref()),
        key.as_deref()
            .map_or(Ok(()), |k| text_ok("Idempotency-Key", k, 255)),
    ];
    if let Some(Err(m)) = checks.into_iter().find(Result::is_err) {
        return Ok(error(StatusCode::BAD_REQUEST, m));
    }
    let new = NewIncident {
        title: b.title,
        description: b.description,
        priority: b.priority,
        zone: b.zone,
        site: b.site,
        assignee: b.assignee,
        estimated_restoration_ns: restoration,
        source: "api".into(),
        reason: String::new(),
        links: b.links,
    };
    // The request as the idempotency key remembers it: the body's canonical JSON.
    let request = serde_json::from_slice::<Json>(&body)
        .map(|v| v.to_string())
        .unwrap_or_default();
    let r = with_store(&a.incidents, move |s| {
        s.create(
            &new,
            &actor,
            key.as_deref().map(|k| (k, request.as_str())),
            now_ns(),
        )
    })
    .await;
    Ok(match r {
        Ok((i, created)) => warp::reply::with_status(
            warp::reply::json(&incident_json(&i)),
            if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            },
        )
        .into_response(),
        Err(f) => fail(f),
    })
}

async fn list(q: HashMap<String, String>, a: ApiState) -> Result<warp::reply::Response, Rejection> {
    let mut iq = IncidentQuery::default();
    let mut page = Page::default();
    for (k, v) in &q {
        if let Some(r) = page.take(k, v) {
            if let Err(m) = r {
                return Ok(error(StatusCode::BAD_REQUEST, m));
            }
            continue;
        }
        let r: Result<(), String> = match k.as_str() {
            "status" => Status::parse(v)
                .map(|s| iq.status = Some(s))
                .ok_or_else(|| {
                    format!(
                        "status: open, acknowledged, in_progress, resolved or closed, not {v:?}"
                    )
                }),
            "zone" => {
                iq.zone = Some(v.clone());
                Ok(())
            }
            "site" => {
                iq.site = Some(v.clone());
                Ok(())
            }
            "priority" => parse_priority(v).map(|p| iq.priority = Some(p)),
            "from" => parse_time(v).map(|t| iq.from_ns = Some(t)),
            "to" => parse_time(v).map(|t| iq.to_ns = Some(t)),
            _ => Err(format!(
                "unknown parameter {k:?}; use status, zone, site, priority, from, to, limit, cursor"
            )),
        };
        if let Err(m) = r {
            return Ok(error(StatusCode::BAD_REQUEST, m));
        }
    }
    if let Err(m) = check_range(iq.from_ns, iq.to_ns) {
        return Ok(error(StatusCode::BAD_REQUEST, m));
    }
    iq.limit = page.fetch();
    iq.before_id = page.cursor;
    Ok(match with_store(&a.incidents, move |s| s.list(&iq)).await {
        Ok(mut list) => {
            let next = page.cut(&mut list, |i| i.id);
            let items: Vec<Json> = list.iter().map(incident_json).collect();
            warp::reply::json(&json!({"incidents": items, "next_cursor": next})).into_response()
        }
        Err(f) => fail(f),
    })
}

async fn one(id: i64, a: ApiState) -> Result<warp::reply::Response, Rejection> {
    let r = with_store(&a.incidents, move |s| {
        Ok::<_, IncidentError>((s.get(id)?, s.history(id)?))
    })
    .await;
    Ok(match r {
        Ok((i, history)) => {
            let mut j = incident_json(&i);
            j["history"] = serde_json::to_value(&history).unwrap_or(Json::Null);
            warp::reply::json(&j).into_response()
        }
        Err(f) => fail(f),
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
    let checks = [
        text_ok("actor", &b.actor, 64),
        b.comment
            .as_deref()
            .map_or(Ok(()), |c| text_ok("comment", c, 4000)),
        match &b.assignee {
            Some(Some(who)) => text_ok("assignee", who, 64),
            _ => Ok(()),
        },
    ];
    if let Some(Err(m)) = checks.into_iter().find(Result::is_err) {
        return Ok(error(StatusCode::BAD_REQUEST, m));
    }
    let restoration = match b.estimated_restoration {
        None => None,
        Some(None) => Some(None),
        Some(Some(t)) => match parse_time(&t) {
            Ok(ns) => Some(Some(ns)),
            Err(m) => {
                return Ok(error(
                    StatusCode::BAD_REQUEST,
                    format!("estimated_restoration: {m}"),
                ));
            }
        },
    };
    let change = Change {
        status: b.status,
        assignee: b.assignee,
        estimated_restoration_ns: restoration,
        comment: b.comment,
    };
    let actor = b.actor;
    Ok(
        match with_store(&a.incidents, move |s| {
            s.update(id, &change, &actor, now_ns())
        })
        .await
        {
            Ok(i) => warp::reply::json(&incident_json(&i)).into_response(),
            Err(f) => fail(f),
        },
    )
}

async fn comment(
    id: i64,
    body: bytes::Bytes,
    a: ApiState,
) -> Result<warp::reply::Response, Rejection> {
    let b: CommentBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return Ok(error(StatusCode::BAD_REQUEST, format!("body: {e}"))),
    };
    if let Err(m) = text_ok("actor", &b.actor, 64).and(text_ok("text", &b.text, 4000)) {
        return Ok(error(StatusCode::BAD_REQUEST, m));
    }
    let change = Change {
        comment: Some(b.text),
        ..Default::default()
    };
    let actor = b.actor;
    Ok(
        match with_store(&a.incidents, move |s| {
            s.update(id, &change, &actor, now_ns())
        })
        .await
        {
            Ok(i) => {
                warp::reply::with_status(warp::reply::json(&incident_json(&i)), StatusCode::CREATED)
                    .into_response()
            }
            Err(f) => fail(f),
        },
    )
}

/// The incident routes.
pub fn routes(
    api: ApiState,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    let guard = api.clone();
    let with = move || {
        let a = api.clone();
        warp::any().map(move || a.clone())
    };
    let body = || warp::body::content_length_limit(MAX_BODY).and(warp::body::bytes());
    let create = warp::path!("api" / "v1" / "incidents")
        .and(warp::post())
        .and(guard.allow(auth::ENGINEER))
        .and(warp::header::optional::<String>("idempotency-key"))
        .and(body())
        .and(with())
        .and_then(create);
    let list = warp::path!("api" / "v1" / "incidents")
        .and(warp::get())
        .and(guard.allow(auth::READ_SHARED))
        .and(warp::query::<HashMap<String, String>>())
        .and(with())
        .and_then(list);
    let one = warp::path!("api" / "v1" / "incidents" / i64)
        .and(warp::get())
        .and(guard.allow(auth::READ_SHARED))
        .and(with())
        .and_then(one);
    let patch = warp::path!("api" / "v1" / "incidents" / i64)
        .and(warp::patch())
        .and(guard.allow(auth::ENGINEER))
        .and(body())
        .and(with())
        .and_then(patch);
    let comment = warp::path!("api" / "v1" / "incidents" / i64 / "comments")
        .and(warp::post())
        .and(guard.allow(auth::ENGINEER))
        .and(body())
        .and(with())
        .and_then(comment);
    create
        .or(list)
        .unify()
        .or(one)
        .unify()
        .or(patch)
        .unify()
        .or(comment)
        .unify()
}
