//! The tables `POST /grafana/query` answers (`{"type": "table", "columns", "rows"}`):
//! active alarms and their counts by priority, EEMUA 191 KPIs, incidents, outages, sites,
//! and consumption alerts. Times are epoch ms; a missing value is null.

use super::metrics::PRIORITIES;
use super::request::{Facets, Payload};
use super::{Ctx, bad, unavailable};
use crate::api::alarms::{alarm_json, kpis_24h};
use crate::api::shared::{Failure, with_store};
use crate::correlate::store::AlertQuery;
use crate::incident::Status;
use crate::incident::store::IncidentQuery;
use crate::outage::OutageStatus;
use crate::outage::store::OutageQuery;
use serde_json::{Value as Json, json};
use std::collections::BTreeMap;

/// The most rows a store table lists (newest first).
pub const MAX_ROWS: usize = 1000;
/// The most consumption alerts counted per query.
pub const MAX_ALERTS: usize = 100_000;

/// A table: columns (name, Grafana type: `time`, `string`, `number`, `boolean`) and rows.
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub columns: Vec<(&'static str, &'static str)>,
    pub rows: Vec<Vec<Json>>,
}

impl Table {
    pub fn new(columns: &[(&'static str, &'static str)]) -> Table {
        Table {
            columns: columns.to_vec(),
            rows: Vec::new(),
        }
    }

    /// The answer's shape: `{"type": "table", "columns": [{"text", "type"}], "rows"}`.
    pub fn to_json(&self) -> Json {
        let columns: Vec<Json> = self
            .columns
            .iter()
            .map(|(t, k)| json!({"text": t, "type": k}))
            .collect();
        json!({"type": "table", "columns": columns, "rows": self.rows})
    }
}

/// A time in ns as epoch ms; null for none.
pub fn ms_json(ns: Option<i64>) -> Json {
    ns.map_or(Json::Null, |t| json!(super::series::ms(t)))
}

/// The zones a site feeds (`zones[].fed_by`).
pub fn zones_of_site(ctx: &Ctx, site: &str) -> Vec<String> {
    ctx.api
        .config
        .zones
        .iter()
        .filter(|z| z.fed_by.iter().any(|s| s == site))
        .map(|z| z.id.clone())
        .collect()
}

/// The listed alarms (every state but normal, as `GET /api/v1/alarms`) passing the payload's
/// `site` and `priority` and the ad hoc filters: (engine index, raised ns, priority).
/// A listed alarm: its engine index, when it was raised (ns), its priority's name.
type Listed = (usize, Option<i64>, &'static str);

fn active(ctx: &Ctx, p: &Payload) -> Result<Vec<Listed>, Failure> {
    let site = p.one("site");
    let priorities = p.priorities().map_err(bad)?;
    let e = ctx
        .api
        .alarms
        .engine
        .lock()
        .map_err(|_| unavailable("alarm engine"))?;
    let mut out = Vec::new();
    for (i, (d, st)) in e.defs().iter().zip(e.states()).enumerate() {
        let facets = Facets {
            site: Some(d.site.clone()),
            zones: d.zones.clone(),
            priority: Some(d.priority),
        };
        if e.state_name(i).is_listed()
            && site.as_ref().is_none_or(|s| *s == d.site)
            && (priorities.is_empty() || priorities.contains(&d.priority))
            && ctx.adhoc.keeps(&["site", "zone", "priority"], &facets)
        {
            out.push((i, st.state.raised_ns, d.priority.as_str()));
        }
    }
    Ok(out)
}

fn rank(priority: &str) -> usize {
    PRIORITIES
        .iter()
        .position(|p| *p == priority)
        .unwrap_or(PRIORITIES.len())
}

/// `active_alarms`: most urgent first, then newest first.
pub fn active_alarms(ctx: &Ctx, p: &Payload) -> Result<Table, Failure> {
    let mut list = active(ctx, p)?;
    list.sort_by(|a, b| rank(a.2).cmp(&rank(b.2)).then(b.1.cmp(&a.1)));
    let mut t = Table::new(&[
        ("time", "time"),
        ("site", "string"),
        ("device", "string"),
        ("point", "string"),
        ("alarm", "string"),
        ("priority", "string"),
        ("state", "string"),
        ("value", "number"),
        ("limit", "number"),
        ("message", "string"),
        ("id", "string"),
    ]);
    for (i, raised, _) in list {
        let j = alarm_json(ctx.api, i);
        t.rows.push(vec![
            ms_json(raised),
            j["site"].clone(),
            j["device"].clone(),
            j["point"].clone(),
            j["condition"].clone(),
            j["priority"].clone(),
            j["state"].clone(),
            j["value"].clone(),
            j["limit"].clone(),
            j["message"].clone(),
            j["id"].clone(),
        ]);
    }
    Ok(t)
}

/// `alarm_counts`: one row per priority, most urgent first, with its listed alarms.
pub fn alarm_counts(ctx: &Ctx, p: &Payload) -> Result<Table, Failure> {
    let site_only = Payload(
        p.0.iter()
            .filter(|(k, _)| *k == "site")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    );
    let list = active(ctx, &site_only)?;
    let mut t = Table::new(&[("priority", "string"), ("count", "number")]);
    for pr in PRIORITIES {
        let n = list.iter().filter(|(_, _, x)| *x == pr).count();
        t.rows.push(vec![json!(pr), json!(n)]);
    }
    Ok(t)
}

/// `alarm_kpis`: one row of the EEMUA 191 figures of `/metrics` (last 24 h, at now).
pub async fn alarm_kpis(ctx: &Ctx<'_>) -> Result<Table, Failure> {
    let k = kpis_24h(ctx.api)
        .await
        .map_err(|e| unavailable(&e.to_string()))?;
    let mut t = Table::new(&[
        ("last_10_minutes", "number"),
        ("peak_10_minutes_24h", "number"),
        ("standing", "number"),
        ("chattering_24h", "number"),
        ("floods_24h", "number"),
        ("in_flood", "boolean"),
        ("activations_24h", "number"),
    ]);
    t.rows.push(vec![
        json!(k.last_10_minutes),
        json!(k.peak_10_minutes),
        json!(k.standing.len()),
        json!(k.chattering.len()),
        json!(k.floods.len()),
        json!(k.floods.last().is_some_and(|f| f.end_ns.is_none())),
        json!(k.range.activations),
    ]);
    Ok(t)
}

/// `incidents`: the chosen statuses (default every one but `closed`), in `zone` when
/// given, newest first, at most [`MAX_ROWS`] per status.
pub async fn incidents(ctx: &Ctx<'_>, p: &Payload) -> Result<Table, Failure> {
    let mut statuses = p
        .list("status")
        .iter()
        .map(|s| {
            Status::parse(s).ok_or_else(|| {
                bad(format!(
                    "payload.status: {s:?} is not open, acknowledged, in_progress, resolved or closed"
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if statuses.is_empty() {
        statuses = vec![
            Status::Open,
            Status::Acknowledged,
            Status::InProgress,
            Status::Resolved,
        ];
    }
    let zone = p.one("zone");
    let list = with_store(&ctx.api.incidents, move |s| {
        let mut all = Vec::new();
        for st in statuses {
            all.extend(s.list(&IncidentQuery {
                status: Some(st),
                zone: zone.clone(),
                limit: MAX_ROWS,
                ..IncidentQuery::default()
            })?);
        }
        Ok::<_, crate::incident::store::IncidentError>(all)
    })
    .await?;
    let mut list = list;
    list.sort_by_key(|i| std::cmp::Reverse(i.id));
    let mut t = Table::new(&[
        ("id", "number"),
        ("opened", "time"),
        ("status", "string"),
        ("priority", "string"),
        ("zone", "string"),
        ("site", "string"),
        ("title", "string"),
        ("assignee", "string"),
        ("estimated_restoration", "time"),
    ]);
    for i in list {
        let facets = Facets {
            site: i.site.clone(),
            zones: i.zone.iter().cloned().collect(),
            priority: Some(i.priority),
        };
        if !ctx.adhoc.keeps(&["site", "zone", "priority"], &facets) {
            continue;
        }
        t.rows.push(vec![
            json!(i.id),
            ms_json(Some(i.opened_ns)),
            json!(i.status.as_str()),
            json!(i.priority.as_str()),
            json!(i.zone),
            json!(i.site),
            json!(i.title),
            json!(i.assignee),
            ms_json(i.estimated_restoration_ns),
        ]);
    }
    Ok(t)
}

/// `outages`: the chosen statuses (default planned and active), affecting `zone` when
/// given, newest first, at most [`MAX_ROWS`]. `zones` is the list joined with ", ".
pub async fn outages(ctx: &Ctx<'_>, p: &Payload) -> Result<Table, Failure> {
    let mut statuses = p
        .list("status")
        .iter()
        .map(|s| {
            OutageStatus::parse(s).ok_or_else(|| {
                bad(format!(
                    "payload.status: {s:?} is not planned, active, ended or cancelled"
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if statuses.is_empty() {
        statuses = vec![OutageStatus::Planned, OutageStatus::Active];
    }
    let q = OutageQuery {
        statuses,
        zones: p.one("zone").map(|z| vec![z]),
        limit: MAX_ROWS,
        ..OutageQuery::default()
    };
    let list = with_store(&ctx.api.outages, move |s| s.list(&q)).await?;
    let mut t = Table::new(&[
        ("id", "number"),
        ("status", "string"),
        ("cause", "string"),
        ("zones", "string"),
        ("start", "time"),
        ("estimated_restoration", "time"),
        ("end", "time"),
        ("description", "string"),
    ]);
    for o in list {
        let facets = Facets {
            site: o.site.clone(),
            zones: o.zones.clone(),
            priority: None,
        };
        if !ctx.adhoc.keeps(&["site", "zone"], &facets) {
            continue;
        }
        t.rows.push(vec![
            json!(o.id),
            json!(o.status.as_str()),
            json!(o.cause.as_str()),
            json!(o.zones.join(", ")),
            ms_json(Some(o.start_ns)),
            ms_json(o.estimated_restoration_ns),
            ms_json(o.end_ns),
            json!(o.description),
        ]);
    }
    Ok(t)
}

/// `sites`: each site with its devices whose last poll answered (`devices_up`), its
/// devices, and `up` when every device answered (a site without devices is not up).
pub fn sites(ctx: &Ctx) -> Table {
    let c = &ctx.api.live.catalog;
    let polls = ctx.api.live.devices();
    let mut t = Table::new(&[
        ("site", "string"),
        ("name", "string"),
        ("devices_up", "number"),
        ("devices", "number"),
        ("up", "boolean"),
    ]);
    for (si, s) in c.sites.iter().enumerate() {
        let facets = Facets {
            site: Some(s.id.clone()),
            zones: zones_of_site(ctx, &s.id),
            priority: None,
        };
        if !ctx.adhoc.keeps(&["site", "zone"], &facets) {
            continue;
        }
        let devices: Vec<usize> = (0..c.devices.len())
            .filter(|&d| c.devices[d].site == si)
            .collect();
        let up = devices
            .iter()
            .filter(|&&d| polls.get(d).copied().flatten().is_some_and(|p| p.up))
            .count();
        t.rows.push(vec![
            json!(s.id),
            json!(s.name),
            json!(up),
            json!(devices.len()),
            json!(!devices.is_empty() && up == devices.len()),
        ]);
    }
    t
}

/// `consumption_alerts`: alerts whose period overlaps the range, counted by zone and
/// classification (`unclassified` until the correlator classifies them); at most
/// [`MAX_ALERTS`] newest alerts are counted.
pub async fn consumption_alerts(ctx: &Ctx<'_>, p: &Payload) -> Result<Table, Failure> {
    let q = AlertQuery {
        zone: p.one("zone"),
        from_ns: Some(ctx.range.from_ns),
        to_ns: Some(ctx.range.to_ns.saturating_add(1)),
        limit: MAX_ALERTS,
        ..AlertQuery::default()
    };
    let list = with_store(&ctx.api.consumption, move |s| {
        s.list(&q).map_err(|e| super::StoreFailure(e.to_string()))
    })
    .await?;
    let mut counts: BTreeMap<(String, String), usize> = BTreeMap::new();
    for a in list {
        let facets = Facets {
            zones: vec![a.alert.zone.clone()],
            ..Facets::default()
        };
        if !ctx.adhoc.keeps(&["zone"], &facets) {
            continue;
        }
        let class = a.classification.unwrap_or_else(|| "unclassified".into());
        *counts.entry((a.alert.zone, class)).or_default() += 1;
    }
    let mut t = Table::new(&[
        ("zone", "string"),
        ("classification", "string"),
        ("count", "number"),
    ]);
    for ((zone, class), n) in counts {
        t.rows.push(vec![json!(zone), json!(class), json!(n)]);
    }
    Ok(t)
}
