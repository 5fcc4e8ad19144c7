//! Alarm annotations: `alarm_events` (alarm episodes) and `alarm_floods` (EEMUA 191 flood
//! periods) as tables with `time`, `timeEnd`, `title`, `text` and `tags` (how simpod serves
//! annotations since it dropped its annotation endpoint, simPod/GrafanaJsonDatasource#252),
//! and the legacy simple-json `POST /annotations` answer `[{annotation, time, timeEnd,
//! title, text, tags}]`.

use super::request::{Facets, OtherRequest, Payload};
use super::tables::{Table, ms_json, zones_of_site};
use super::{Ctx, bad, unavailable};
use crate::alarm::store::HistoryQuery;
use crate::alarm::{AlarmEvent, Priority, StateName, kpi};
use crate::api::shared::Failure;
use serde_json::{Map, Value as Json, json};
use std::collections::HashMap;

/// How far before the range the journal is read to find where episodes open at the range's
/// start began: 24 h. An episode begun earlier still shows (from the engine's raise time
/// while it is active; else from this look-back's start).
pub const LOOKBACK_NS: i64 = 86_400_000_000_000;
/// The most journal events read per query (newest first).
pub const MAX_EVENTS: usize = 20_000;
/// The longest range floods are computed over: 31 days (as `GET /api/v1/alarms/kpis`).
pub const MAX_FLOOD_RANGE_NS: i64 = 31 * 86_400_000_000_000;

/// One alarm episode: from its activation to its return to `normal`.
#[derive(Debug, Clone, PartialEq)]
pub struct Episode {
    pub alarm_id: String,
    pub site: String,
    pub device: String,
    pub point: Option<String>,
    pub condition: String,
    pub priority: Priority,
    /// Its activation, ns (or the look-back's start when it began before).
    pub start_ns: i64,
    /// Its return to normal, ns; None while it goes on.
    pub end_ns: Option<i64>,
    /// The message at its activation.
    pub message: String,
}

fn episode(e: &AlarmEvent, start_ns: i64) -> Episode {
    Episode {
        alarm_id: e.alarm_id.clone(),
        site: e.site.clone(),
        device: e.device.clone(),
        point: e.point.clone(),
        condition: e.condition.clone(),
        priority: e.priority,
        start_ns,
        end_ns: None,
        message: e.message.clone(),
    }
}

/// The episodes in `events` (oldest first), read from `window_from_ns`: an episode opens at
/// an activation (into `active_unacknowledged`) and closes at the alarm's next event into
/// `normal`. A return to normal with no activation seen began before the window: it opens
/// at `window_from_ns`. Ordered by start.
pub fn episodes(events: &[AlarmEvent], window_from_ns: i64) -> Vec<Episode> {
    let mut open: HashMap<&str, Episode> = HashMap::new();
    let mut out = Vec::new();
    for e in events {
        if e.to_state == StateName::Normal {
            let ep = open.remove(e.alarm_id.as_str()).or_else(|| {
                (e.from_state != StateName::Normal).then(|| episode(e, window_from_ns))
            });
            if let Some(mut ep) = ep {
                ep.end_ns = Some(e.time_ns);
                out.push(ep);
            }
        } else if e.is_activation() && !open.contains_key(e.alarm_id.as_str()) {
            open.insert(&e.alarm_id, episode(e, e.time_ns));
        }
    }
    out.extend(open.into_values());
    out.sort_by(|a, b| {
        a.start_ns
            .cmp(&b.start_ns)
            .then(a.alarm_id.cmp(&b.alarm_id))
    });
    out
}

fn annotation_table() -> Table {
    Table::new(&[
        ("time", "time"),
        ("timeEnd", "time"),
        ("title", "string"),
        ("text", "string"),
        ("tags", "other"),
    ])
}

/// `alarm_events`: the alarm episodes overlapping the range, filtered by the payload's
/// `site` and `priority` and the ad hoc filters (site, zone, priority). An episode still
/// going on ends at the range's end or now, whichever is first. Tags: site, device, point,
/// condition, priority.
pub async fn alarm_events(ctx: &Ctx<'_>, p: &Payload) -> Result<Table, Failure> {
    let site = p.one("site");
    let priorities = p.priorities().map_err(bad)?;
    let window_from = ctx.range.from_ns.saturating_sub(LOOKBACK_NS);
    let q = HistoryQuery {
        from_ns: Some(window_from),
        to_ns: Some(ctx.range.to_ns.saturating_add(1)),
        site: site.clone(),
        priority: (priorities.len() == 1).then(|| priorities[0]),
        limit: MAX_EVENTS,
        ..HistoryQuery::default()
    };
    let mut events = ctx
        .api
        .alarms
        .history(q)
        .await
        .map_err(|e| unavailable(&e.to_string()))?;
    events.reverse();
    let mut list = episodes(&events, window_from);
    // Alarms still raised since before the window: from the engine.
    if let Ok(e) = ctx.api.alarms.engine.lock() {
        for (i, (d, st)) in e.defs().iter().zip(e.states()).enumerate() {
            let Some(raised) = st.state.raised_ns else {
                continue;
            };
            if raised < window_from
                && e.state_name(i) != StateName::Normal
                && !list.iter().any(|x| x.alarm_id == d.id)
            {
                list.push(Episode {
                    alarm_id: d.id.clone(),
                    site: d.site.clone(),
                    device: d.device_name.clone(),
                    point: d.point_name.clone(),
                    condition: d.condition_name.to_string(),
                    priority: d.priority,
                    start_ns: raised,
                    end_ns: None,
                    message: d.message(e.value(i)),
                });
            }
        }
    }
    let end_now = ctx.range.to_ns.min(ctx.now_ns);
    let mut t = annotation_table();
    for ep in list {
        let facets = Facets {
            site: Some(ep.site.clone()),
            zones: zones_of_site(ctx, &ep.site),
            priority: Some(ep.priority),
        };
        let overlaps =
            ep.start_ns <= ctx.range.to_ns && ep.end_ns.is_none_or(|e| e >= ctx.range.from_ns);
        if !overlaps
            || site.as_ref().is_some_and(|s| *s != ep.site)
            || (!priorities.is_empty() && !priorities.contains(&ep.priority))
            || !ctx.adhoc.keeps(&["site", "zone", "priority"], &facets)
        {
            continue;
        }
        let place = match &ep.point {
            Some(pt) => format!("{}/{}/{pt}", ep.site, ep.device),
            None => format!("{}/{}", ep.site, ep.device),
        };
        let mut tags = vec![ep.site.clone(), ep.device.clone()];
        tags.extend(ep.point.clone());
        tags.push(ep.condition.clone());
        tags.push(ep.priority.as_str().to_string());
        t.rows.push(vec![
            ms_json(Some(ep.start_ns)),
            ms_json(Some(ep.end_ns.unwrap_or(end_now.max(ep.start_ns)))),
            json!(format!(
                "{place} {} ({})",
                ep.condition,
                ep.priority.as_str()
            )),
            json!(ep.message),
            json!(tags),
        ]);
    }
    Ok(t)
}

/// `alarm_floods`: the EEMUA 191 floods (more than 10 activations in 10 minutes, per
/// `crate::alarm::kpi`) overlapping the range, as bands; one still going on ends at the
/// range's end or now. Floods are computed from 10 minutes before the range (at most 31
/// days back), so one begun just before is seen.
pub async fn alarm_floods(ctx: &Ctx<'_>) -> Result<Table, Failure> {
    let end = ctx.range.to_ns.min(ctx.now_ns);
    let from = ctx
        .range
        .from_ns
        .saturating_sub(kpi::WINDOW_NS)
        .max(end.saturating_sub(MAX_FLOOD_RANGE_NS));
    let acts = ctx
        .api
        .alarms
        .activations(from)
        .await
        .map_err(|e| unavailable(&e.to_string()))?;
    let k = kpi::compute(&acts, &[], from, end);
    let mut t = annotation_table();
    for f in k.floods {
        if f.start_ns > ctx.range.to_ns || f.end_ns.is_some_and(|e| e < ctx.range.from_ns) {
            continue;
        }
        t.rows.push(vec![
            ms_json(Some(f.start_ns)),
            ms_json(Some(f.end_ns.unwrap_or(end))),
            json!("Alarm flood"),
            json!(format!(
                "{} alarms, at most {} in 10 minutes (EEMUA 191 flood: more than {} in 10 minutes)",
                f.activations,
                f.peak_10_minutes,
                kpi::FLOOD_START
            )),
            json!(["alarm_flood"]),
        ]);
    }
    Ok(t)
}

/// The legacy annotation query text: `alarm_events` (the default) or `alarm_floods`,
/// followed by `key=value` filters (`site=PS-01 priority=critical,high`).
pub fn parse_query(text: &str) -> Result<(String, Payload), String> {
    let mut words = text.split_whitespace();
    let metric = match words.next() {
        None => "alarm_events".to_string(),
        Some(w) if w.contains('=') => {
            return parse_query(&format!("alarm_events {text}"));
        }
        Some(w) => w.trim_start_matches('#').to_string(),
    };
    if metric != "alarm_events" && metric != "alarm_floods" {
        return Err(format!(
            "annotation.query: {metric:?}; use alarm_events or alarm_floods, then key=value filters"
        ));
    }
    let mut m = Map::new();
    for w in words {
        let Some((k, v)) = w.split_once('=') else {
            return Err(format!("annotation.query: {w:?} is not key=value"));
        };
        let list: Vec<Json> = v.split(',').map(|x| json!(x)).collect();
        m.insert(k.to_string(), Json::Array(list));
    }
    Ok((metric, Payload(m)))
}

/// The legacy `/annotations` answer: each row of the table as `{annotation, time, timeEnd,
/// isRegion, title, text, tags}`.
pub fn legacy(r: &OtherRequest, t: &Table) -> Json {
    t.rows
        .iter()
        .map(|row| {
            let mut o = Map::new();
            o.insert("annotation".into(), r.annotation.clone());
            for ((name, _), v) in t.columns.iter().zip(row) {
                o.insert((*name).to_string(), v.clone());
            }
            o.insert("isRegion".into(), json!(row.first() != row.get(1)));
            Json::Object(o)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(t: i64, id: &str, from: StateName, to: StateName) -> AlarmEvent {
        AlarmEvent {
            seq: 0,
            time_ns: t,
            alarm_id: id.into(),
            site: "PS-01".into(),
            device: "PT-101".into(),
            point: Some("pressure_bar".into()),
            condition: "low".into(),
            priority: Priority::High,
            from_state: from,
            to_state: to,
            value: None,
            limit: None,
            message: format!("{id} at {t}"),
            operator: None,
            comment: None,
        }
    }

    #[test]
    fn an_episode_runs_from_activation_to_normal() {
        use StateName::*;
        let events = [
            ev(10, "A", Normal, ActiveUnacknowledged),
            ev(20, "A", ActiveUnacknowledged, ActiveAcknowledged),
            ev(25, "B", ActiveAcknowledged, Normal),
            ev(30, "A", ActiveAcknowledged, Normal),
            ev(40, "A", Normal, ActiveUnacknowledged),
            ev(50, "A", ActiveUnacknowledged, RtnUnacknowledged),
            ev(55, "A", RtnUnacknowledged, ActiveUnacknowledged),
            ev(60, "C", Normal, OutOfService),
        ];
        let e = episodes(&events, 0);
        let spans: Vec<_> = e
            .iter()
            .map(|x| (x.alarm_id.as_str(), x.start_ns, x.end_ns))
            .collect();
        assert_eq!(
            spans,
            [("B", 0, Some(25)), ("A", 10, Some(30)), ("A", 40, None)]
        );
        assert_eq!(e[1].message, "A at 10");
    }

    #[test]
    fn legacy_queries_name_a_metric_and_filters() {
        let (m, p) = parse_query("alarm_events site=PS-01 priority=critical,high").unwrap();
        assert_eq!(m, "alarm_events");
        assert_eq!(p.one("site").as_deref(), Some("PS-01"));
        assert_eq!(
            p.priorities().unwrap(),
            [Priority::Critical, Priority::High]
        );
        assert_eq!(parse_query("").unwrap().0, "alarm_events");
        assert_eq!(
            parse_query("site=SS-12").unwrap().1.one("site").as_deref(),
            Some("SS-12")
        );
        assert_eq!(parse_query("#alarm_floods").unwrap().0, "alarm_floods");
        assert!(parse_query("#deploy").is_err());
    }
}
