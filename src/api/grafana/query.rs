//! `POST /grafana/query`: each target (hidden ones skipped) becomes a time series
//! `{"target", "datapoints": [[value, epoch ms], …]}` or a table; see README "Grafana JSON
//! datasource" for the metrics.

use super::request::{Adhoc, Facets, QueryRequest, Target};
use super::series::{Shape, datapoints};
use super::tables::{self, Table, zones_of_site};
use super::{Ctx, annotations, bad, metrics};
use crate::api::shared::Failure;
use crate::sample::now_ns;
use serde_json::{Value as Json, json};

/// The most points any series may be asked for (a larger `maxDataPoints` counts as this).
pub const MAX_POINTS: usize = 1_000_000;

/// The answer to a query: one entry per target (none for a hidden or empty one; a point
/// target whose site an ad hoc filter excludes has none either).
pub async fn query(a: &crate::api::ApiState, r: QueryRequest) -> Result<Json, Failure> {
    let now = now_ns();
    let range = r.range.resolve(now).map_err(bad)?;
    let adhoc = Adhoc::new(&r.adhoc_filters).map_err(bad)?;
    let interval_ms = match r.interval_ms {
        None => 0,
        Some(i) if i.is_finite() && i >= 0.0 => i.min(1e15).ceil() as i64,
        Some(i) => return Err(bad(format!("intervalMs: {i} is not a duration in ms"))),
    };
    let max_points = match r.max_data_points {
        None => None,
        Some(m) if m.is_finite() && m >= 1.0 => Some(m.min(MAX_POINTS as f64).floor() as usize),
        Some(m) => return Err(bad(format!("maxDataPoints: {m}; ask for 1 or more"))),
    };
    let shape = Shape {
        from_ns: range.from_ns,
        to_ns: range.to_ns,
        interval_ms,
        max_points,
    };
    let ctx = Ctx {
        api: a,
        range,
        now_ns: now,
        adhoc,
    };
    let mut out = Vec::new();
    for t in &r.targets {
        if t.hide == Some(true) {
            continue;
        }
        let Some(name) = t.target.as_deref().map(str::trim).filter(|s| !s.is_empty()) else {
            continue;
        };
        out.extend(target(&ctx, t, name, shape).await?);
    }
    Ok(Json::Array(out))
}

async fn target(
    ctx: &Ctx<'_>,
    t: &Target,
    name: &str,
    shape: Shape,
) -> Result<Option<Json>, Failure> {
    let p = t.payload();
    let table = |t: Table| Ok(Some(t.to_json()));
    match name {
        "point" => {
            let (Some(s), Some(d), Some(pt)) = (p.one("site"), p.one("device"), p.one("point"))
            else {
                return Err(bad(
                    "point: choose the payload's site, device and point (or give SITE/DEVICE/POINT as the target)",
                ));
            };
            point(ctx, t, &s, &d, &pt, shape)
        }
        "active_alarms" => table(tables::active_alarms(ctx, &p)?),
        "alarm_counts" => table(tables::alarm_counts(ctx, &p)?),
        "alarm_events" => table(annotations::alarm_events(ctx, &p).await?),
        "alarm_floods" => table(annotations::alarm_floods(ctx).await?),
        "alarm_kpis" => table(tables::alarm_kpis(ctx).await?),
        "incidents" => table(tables::incidents(ctx, &p).await?),
        "outages" => table(tables::outages(ctx, &p).await?),
        "sites" => table(tables::sites(ctx)),
        "consumption_alerts" => table(tables::consumption_alerts(ctx, &p).await?),
        path => match path.split('/').collect::<Vec<_>>()[..] {
            [s, d, pt] => point(ctx, t, s, d, pt, shape),
            _ => Err(bad(format!(
                "target: {path:?} is neither a metric ({}) nor SITE/DEVICE/POINT",
                metrics::names().collect::<Vec<_>>().join(", ")
            ))),
        },
    }
}

/// A point's series from the live short history, named `SITE/DEVICE/POINT (unit)`; with the
/// legacy `"type": "table"`, a table of time and value instead.
fn point(
    ctx: &Ctx,
    t: &Target,
    site: &str,
    device: &str,
    name: &str,
    shape: Shape,
) -> Result<Option<Json>, Failure> {
    let c = &ctx.api.live.catalog;
    let Some(id) = c.find(site, device, name) else {
        return Err(bad(format!("point: no point {site}/{device}/{name}")));
    };
    let facets = Facets {
        site: Some(site.to_string()),
        zones: zones_of_site(ctx, site),
        priority: None,
    };
    if !ctx.adhoc.keeps(&["site", "zone"], &facets) {
        return Ok(None);
    }
    let history = ctx.api.live.history(id);
    let points = datapoints(history, shape);
    if t.kind.as_deref() == Some("table") {
        let mut table = Table::new(&[("time", "time"), ("value", "number")]);
        table.rows = points
            .iter()
            .map(|(v, t)| vec![json!(t), json!(v)])
            .collect();
        return Ok(Some(table.to_json()));
    }
    let unit = &c.point(id).unit;
    let target = if unit.is_empty() {
        format!("{site}/{device}/{name}")
    } else {
        format!("{site}/{device}/{name} ({unit})")
    };
    let datapoints: Vec<Json> = points.iter().map(|(v, t)| json!([v, t])).collect();
    Ok(Some(json!({"target": target, "datapoints": datapoints})))
}
