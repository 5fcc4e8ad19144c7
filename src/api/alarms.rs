//! Alarm routes (DESIGN.md "HTTP API"), under `/api/v1/alarms`:
//!
//! - `GET /alarms`: alarms not in `normal` (filters `site`, `zone`, `priority`, `state`;
//!   `state=all` lists every alarm).
//! - `GET /alarms/{id}`: one alarm.
//! - `POST /alarms/{id}/ack`, `/shelve`, `/unshelve`, `/reset`: operator actions, body
//!   `{"operator": "...", "comment": "..."}` (+ `"duration": "2h"` for shelve); the answer
//!   comes once the event is in the journal.
//! - `GET /alarms/history`: the journal, newest first (`from`, `to`, `site`, `alarm`,
//!   `priority`, `limit`, `cursor`).
//! - `GET /alarms/kpis`: EEMUA 191 figures (`from`, default the last 24 h).

use super::auth;
use super::page::Page;
use super::{ApiState, error, rfc3339};
use crate::alarm::engine::{Action, EngineError};
use crate::alarm::recorder::AlarmsError;
use crate::alarm::store::HistoryQuery;
use crate::alarm::{AlarmEvent, Priority, StateName, kpi};
use crate::sample::now_ns;
use serde::Deserialize;
use serde_json::{Value as Json, json};
use std::collections::HashMap;
use warp::http::StatusCode;
use warp::{Filter, Rejection, Reply};

/// The longest range `GET /alarms/kpis` computes over: 31 days, ns.
const MAX_KPI_RANGE_NS: i64 = 31 * 86_400_000_000_000;
/// Largest body of an operator action, bytes.
const MAX_BODY: u64 = 16 * 1024;

/// An operator action's body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionBody {
    operator: String,
    #[serde(default)]
    comment: String,
    /// Shelve only: `"30m"`, `"2h"`.
    duration: Option<String>,
}

fn decode_id(id: &str) -> String {
    percent_encoding::percent_decode_str(id)
        .decode_utf8_lossy()
        .into_owned()
}

/// A list's `from`..`to` window: `to` before `from` is a mistake (400), not an empty page.
pub fn check_range(from_ns: Option<i64>, to_ns: Option<i64>) -> Result<(), String> {
    match (from_ns, to_ns) {
        (Some(from), Some(to)) if to < from => Err("to: before from".to_string()),
        _ => Ok(()),
    }
}

/// A time from a query string: RFC 3339 (`2026-11-30T08:00:00Z`) or epoch milliseconds.
pub fn parse_time(s: &str) -> Result<i64, String> {
    if let Ok(ms) = s.parse::<i64>() {
        return ms
            .checked_mul(1_000_000)
            .ok_or_else(|| format!("time {s:?} is out of range"));
    }
    let t = s
        .parse::<jiff::Timestamp>()
        .map_err(|e| format!("time {s:?}: {e}; give RFC 3339 or epoch milliseconds"))?;
    i64::try_from(t.as_nanosecond())
        .map_err(|_| format!("time {s:?} is out of range (1677-09-21 to 2262-04-11)"))
}

/// Alarm `i` of the engine as the API serves it (also the Grafana tables' source).
pub(crate) fn alarm_json(a: &ApiState, i: usize) -> Json {
    let Ok(e) = a.alarms.engine.lock() else {
        return Json::Null;
    };
    let d = &e.defs()[i];
    let p = &e.states()[i].state;
    json!({
        "id": d.id,
        "site": d.site,
        "site_name": d.site_name,
        "zones": d.zones,
        "device": d.device_name,
        "point": d.point_name,
        "condition": d.condition_name,
        "priority": d.priority,
        "state": p.name().as_str(),
        "condition_active": p.condition,
        "acknowledged": p.acked,
        "latched": p.latched,
        "shelved": p.shelved.as_ref().map(|s| json!({
            "until": rfc3339(s.until_ns), "by": s.by, "comment": s.comment})),
        "suppressed": p.suppressed,
        "out_of_service": p.out_of_service,
        "raised_at": p.raised_ns.map(rfc3339),
        "value": e.value(i),
        "limit": d.condition.limit(),
        "unit": d.unit,
        "message": d.message(e.value(i)),
    })
}

fn event_json(e: &AlarmEvent) -> Json {
    let mut j = serde_json::to_value(e).unwrap_or(Json::Null);
    j["time"] = rfc3339(e.time_ns);
    j
}

fn list(a: &ApiState, q: &HashMap<String, String>) -> warp::reply::Response {
    for k in q.keys() {
        if !["site", "zone", "priority", "state"].contains(&k.as_str()) {
            return error(
                StatusCode::BAD_REQUEST,
                format!("unknown parameter {k:?}; use site, zone, priority, state"),
            );
        }
    }
    let priority = match q.get("priority").map(|p| parse_priority(p)).transpose() {
        Ok(p) => p,
        Err(m) => return error(StatusCode::BAD_REQUEST, m),
    };
    let state = match q.get("state").map(String::as_str) {
        None => None,
        Some("all") => Some(None),
        Some(s) => match StateName::parse(s) {
            Some(n) => Some(Some(n)),
            None => return error(StatusCode::BAD_REQUEST, format!("unknown state {s:?}")),
        },
    };
    if let Some(site) = q.get("site")
        && !a.live.catalog.sites.iter().any(|s| &s.id == site)
    {
        return error(StatusCode::BAD_REQUEST, format!("no site {site:?}"));
    }
    let indices: Vec<usize> = {
        let Ok(e) = a.alarms.engine.lock() else {
            return error(StatusCode::SERVICE_UNAVAILABLE, "alarm engine unavailable");
        };
        (0..e.defs().len())
            .filter(|&i| {
                let d = &e.defs()[i];
                let name = e.state_name(i);
                q.get("site").is_none_or(|s| *s == d.site)
                    && q.get("zone").is_none_or(|z| d.zones.contains(z))
                    && priority.is_none_or(|p| p == d.priority)
                    && match state {
                        None => name.is_listed(),
                        Some(None) => true,
                        Some(Some(n)) => n == name,
                    }
            })
            .collect()
    };
    let list: Vec<Json> = indices.into_iter().map(|i| alarm_json(a, i)).collect();
    warp::reply::json(&list).into_response()
}

/// A priority from a query string, with the message for a 400.
pub(super) fn parse_priority(p: &str) -> Result<Priority, String> {
    serde_json::from_value(Json::String(p.to_string()))
        .map_err(|_| format!("unknown priority {p:?}; use critical, high, medium or low"))
}

fn action_error(e: AlarmsError) -> warp::reply::Response {
    match e {
        AlarmsError::Engine(EngineError::UnknownAlarm(_)) => {
            error(StatusCode::NOT_FOUND, e.to_string())
        }
        AlarmsError::Engine(EngineError::Refused(_)) => error(StatusCode::CONFLICT, e.to_string()),
        AlarmsError::Engine(EngineError::BadShelveDuration { .. }) => {
            error(StatusCode::BAD_REQUEST, e.to_string())
        }
        AlarmsError::Store(_) | AlarmsError::Gone => {
            error(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
        }
    }
}

async fn act(
    id: String,
    verb: String,
    body: bytes::Bytes,
    a: ApiState,
) -> Result<warp::reply::Response, Rejection> {
    let id = decode_id(&id);
    let body: ActionBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => {
            return Ok(error(
                StatusCode::BAD_REQUEST,
                format!("body: {e}; expected {{\"operator\": \"...\", \"comment\": \"...\"}}"),
            ));
        }
    };
    let operator = body.operator.trim();
    if operator.is_empty() || operator.len() > 64 {
        return Ok(error(
            StatusCode::BAD_REQUEST,
            "operator: give the operator's name (1-64 characters)",
        ));
    }
    if let Err(m) = super::shared::no_controls("operator", operator)
        .and_then(|()| super::shared::no_controls("comment", &body.comment))
    {
        return Ok(error(StatusCode::BAD_REQUEST, m));
    }
    if body.comment.len() > 1000 {
        return Ok(error(
            StatusCode::BAD_REQUEST,
            "comment: at most 1000 characters",
        ));
    }
    let action = match (verb.as_str(), &body.duration) {
        ("ack", None) => Action::Acknowledge,
        ("reset", None) => Action::Reset,
        ("unshelve", None) => Action::Unshelve,
        ("shelve", Some(d)) => {
            if body.comment.trim().is_empty() {
                return Ok(error(
                    StatusCode::BAD_REQUEST,
                    "comment: say why the alarm is shelved",
                ));
            }
            match crate::config::duration::parse(d) {
                Ok(d) => Action::Shelve(d),
                Err(m) => return Ok(error(StatusCode::BAD_REQUEST, format!("duration: {m}"))),
            }
        }
        ("shelve", None) => {
            return Ok(error(
                StatusCode::BAD_REQUEST,
                "duration: how long to shelve, e.g. \"2h\"",
            ));
        }
        (_, Some(_)) => {
            return Ok(error(
                StatusCode::BAD_REQUEST,
                format!("duration: only shelve takes a duration, not {verb}"),
            ));
        }
        _ => return Err(warp::reject::not_found()),
    };
    match a.alarms.act(&id, action, operator, &body.comment).await {
        Ok(_) => {
            let i = a
                .alarms
                .engine
                .lock()
                .ok()
                .and_then(|e| e.index(&id))
                .unwrap_or(0);
            Ok(warp::reply::json(&alarm_json(&a, i)).into_response())
        }
        Err(e) => Ok(action_error(e)),
    }
}

async fn history(
    q: HashMap<String, String>,
    a: ApiState,
) -> Result<warp::reply::Response, Rejection> {
    let mut hq = HistoryQuery::default();
    let mut page = Page::default();
    for (k, v) in &q {
        if let Some(r) = page.take(k, v) {
            if let Err(m) = r {
                return Ok(error(StatusCode::BAD_REQUEST, m));
            }
            continue;
        }
        let r: Result<(), String> = match k.as_str() {
            "from" => parse_time(v).map(|t| hq.from_ns = Some(t)),
            "to" => parse_time(v).map(|t| hq.to_ns = Some(t)),
            "site" => {
                hq.site = Some(v.clone());
                Ok(())
            }
            "alarm" => {
                hq.alarm_id = Some(v.clone());
                Ok(())
            }
            "priority" => parse_priority(v).map(|p| hq.priority = Some(p)),
            _ => Err(format!(
                "unknown parameter {k:?}; use from, to, site, alarm, priority, limit, cursor"
            )),
        };
        if let Err(m) = r {
            return Ok(error(StatusCode::BAD_REQUEST, m));
        }
    }
    if let Err(m) = check_range(hq.from_ns, hq.to_ns) {
        return Ok(error(StatusCode::BAD_REQUEST, m));
    }
    hq.limit = page.fetch();
    hq.before_seq = page.cursor;
    match a.alarms.history(hq).await {
        Ok(mut events) => {
            let next = page.cut(&mut events, |e| e.seq);
            let list: Vec<Json> = events.iter().map(event_json).collect();
            Ok(warp::reply::json(&json!({"events": list, "next_cursor": next})).into_response())
        }
        Err(e) => Ok(action_error(e)),
    }
}

async fn kpis(q: HashMap<String, String>, a: ApiState) -> Result<warp::reply::Response, Rejection> {
    let now = now_ns();
    let from = match q.get("from").map(|f| parse_time(f)).transpose() {
        Ok(f) => f.unwrap_or(now - 86_400_000_000_000),
        Err(m) => return Ok(error(StatusCode::BAD_REQUEST, m)),
    };
    if from < now - MAX_KPI_RANGE_NS {
        return Ok(error(
            StatusCode::BAD_REQUEST,
            "from: at most 31 days back (EEMUA 191 reviews are weekly or monthly)",
        ));
    }
    if let Some(k) = q.keys().find(|k| k.as_str() != "from") {
        return Ok(error(
            StatusCode::BAD_REQUEST,
            format!("unknown parameter {k:?}; use from"),
        ));
    }
    let acts = match a.alarms.activations(from).await {
        Ok(v) => v,
        Err(e) => return Ok(action_error(e)),
    };
    let standing = standing(&a);
    Ok(warp::reply::json(&kpi::compute(&acts, &standing, from, now)).into_response())
}

/// Alarms whose condition is active now, with when they were raised.
pub fn standing(a: &ApiState) -> Vec<(String, i64)> {
    let Ok(e) = a.alarms.engine.lock() else {
        return Vec::new();
    };
    e.defs()
        .iter()
        .zip(e.states())
        .filter(|(_, p)| p.state.condition)
        .filter_map(|(d, p)| p.state.raised_ns.map(|t| (d.id.clone(), t)))
        .collect()
}

/// The alarm routes.
pub fn routes(
    api: ApiState,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    let guard = api.clone();
    let with = move || {
        let a = api.clone();
        warp::any().map(move || a.clone())
    };
    let query = || warp::query::<HashMap<String, String>>();
    let list = warp::path!("api" / "v1" / "alarms")
        .and(warp::get())
        .and(guard.allow(auth::READ))
        .and(query())
        .and(with())
        .map(|q: HashMap<String, String>, a: ApiState| list(&a, &q));
    let history = warp::path!("api" / "v1" / "alarms" / "history")
        .and(warp::get())
        .and(guard.allow(auth::READ))
        .and(query())
        .and(with())
        .and_then(history);
    let kpis = warp::path!("api" / "v1" / "alarms" / "kpis")
        .and(warp::get())
        .and(guard.allow(auth::READ))
        .and(query())
        .and(with())
        .and_then(kpis);
    let one = warp::path!("api" / "v1" / "alarms" / String)
        .and(warp::get())
        .and(guard.allow(auth::READ))
        .and(with())
        .map(|id: String, a: ApiState| {
            let id = decode_id(&id);
            let i = a.alarms.engine.lock().ok().and_then(|e| e.index(&id));
            match i {
                Some(i) => warp::reply::json(&alarm_json(&a, i)).into_response(),
                None => error(StatusCode::NOT_FOUND, format!("no alarm {id:?}")),
            }
        });
    let action = warp::path!("api" / "v1" / "alarms" / String / String)
        .and(warp::post())
        .and(guard.allow(auth::OPERATE))
        .and(warp::body::content_length_limit(MAX_BODY))
        .and(warp::body::bytes())
        .and(with())
        .and_then(act);
    history
        .or(kpis)
        .unify()
        .or(list)
        .unify()
        .or(one)
        .unify()
        .or(action)
        .unify()
}

/// The alarm part of `/metrics` (Prometheus text format): alarms by state and priority,
/// journal counters, and the EEMUA 191 figures over the last 24 h.
pub async fn metrics_text(a: &ApiState) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    let mut by: HashMap<(&'static str, &'static str), u64> = HashMap::new();
    if let Ok(e) = a.alarms.engine.lock() {
        for (i, d) in e.defs().iter().enumerate() {
            *by.entry((e.state_name(i).as_str(), d.priority.as_str()))
                .or_default() += 1;
        }
    }
    let _ = writeln!(
        o,
        "# HELP vigie_alarms Configured alarms by ISA-18.2 state and priority.\n# TYPE vigie_alarms gauge"
    );
    for s in crate::alarm::state::ALL_STATES {
        for p in [
            Priority::Critical,
            Priority::High,
            Priority::Medium,
            Priority::Low,
        ] {
            let n = by.get(&(s.as_str(), p.as_str())).copied().unwrap_or(0);
            let _ = writeln!(
                o,
                "vigie_alarms{{state=\"{}\",priority=\"{}\"}} {n}",
                s.as_str(),
                p.as_str()
            );
        }
    }
    let m = &a.alarms.metrics;
    let g = |v: &std::sync::atomic::AtomicU64| v.load(std::sync::atomic::Ordering::Relaxed);
    let _ = writeln!(
        o,
        "# HELP vigie_alarm_events_total Alarm events written to the journal.\n# TYPE vigie_alarm_events_total counter\nvigie_alarm_events_total {}",
        g(&m.events)
    );
    let _ = writeln!(
        o,
        "# HELP vigie_alarm_store_errors_total Failed commits to the alarm database (retried).\n# TYPE vigie_alarm_store_errors_total counter\nvigie_alarm_store_errors_total {}",
        g(&m.store_errors)
    );
    let n = &a.notify;
    let notify: [(&str, &str, &str, u64); 5] = [
        (
            "vigie_notifications_sent_total",
            "counter",
            "Notification messages delivered (a consolidated message counts once).",
            g(&n.sent),
        ),
        (
            "vigie_notifications_failed_total",
            "counter",
            "Notifications given up (not delivered within max_age, or their target removed).",
            g(&n.failed),
        ),
        (
            "vigie_notification_retries_total",
            "counter",
            "Failed notification attempts that will be retried.",
            g(&n.retried),
        ),
        (
            "vigie_notify_journal_gaps_total",
            "counter",
            "Times the notifier found journal events pruned before it read them (notifications lost).",
            g(&n.journal_gaps),
        ),
        (
            "vigie_notifications_pending",
            "gauge",
            "Notifications waiting in the outbox.",
            g(&n.pending),
        ),
    ];
    for (name, kind, help, v) in notify {
        let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}");
    }
    if let Ok(k) = kpis_24h(a).await {
        let gauges: [(&str, &str, f64); 7] = [
            (
                "vigie_alarm_activations_24h",
                "Alarm activations in the last 24 h.",
                k.range.activations as f64,
            ),
            (
                "vigie_alarm_last_10_minutes",
                "Alarm activations in the last 10 minutes (EEMUA 191: about 1 per 10 min is manageable).",
                k.last_10_minutes as f64,
            ),
            (
                "vigie_alarm_peak_10_minutes_24h",
                "Most activations in any 10 minutes of the last 24 h (target at most 10).",
                k.peak_10_minutes as f64,
            ),
            (
                "vigie_alarm_floods_24h",
                "Alarm floods (more than 10 in 10 minutes) in the last 24 h.",
                k.floods.len() as f64,
            ),
            (
                "vigie_alarm_in_flood",
                "1 while an alarm flood is going on.",
                f64::from(u8::from(
                    k.floods.last().is_some_and(|f| f.end_ns.is_none()),
                )),
            ),
            (
                "vigie_alarm_chattering_24h",
                "Alarms with 3 or more activations in one minute in the last 24 h.",
                k.chattering.len() as f64,
            ),
            (
                "vigie_alarm_standing",
                "Alarms active for more than 24 h.",
                k.standing.len() as f64,
            ),
        ];
        for (name, help, v) in gauges {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        }
    }
    o
}

/// The EEMUA 191 figures over the last 24 h, as `/metrics` serves them (and the Grafana
/// `alarm_kpis` table).
pub(crate) async fn kpis_24h(a: &ApiState) -> Result<kpi::Kpis, AlarmsError> {
    let now = now_ns();
    let from = now - 86_400_000_000_000;
    let acts = a.alarms.activations(from).await?;
    Ok(kpi::compute(&acts, &standing(a), from, now))
}
