//! `POST /grafana/metrics` (the metric list of the query builder), `POST
//! /grafana/metric-payload-options` (also `/options`, its older name) and the legacy
//! `POST /grafana/search`.
//!
//! The metric names and payloads are a contract with the dashboards (README "Grafana JSON
//! datasource"): keep them. Select options are not listed inline: simpod asks
//! `/metric-payload-options` when a select has none, and the answer comes from the live
//! catalog and configuration.

use super::request::{OtherRequest, Payload};
use crate::api::ApiState;
use serde_json::{Value as Json, json};

/// A payload of a metric: name, label, type (`select` or `multi-select`), and whether
/// choosing it reloads the metric (so the next selects' options follow it).
struct PayloadDef {
    name: &'static str,
    label: &'static str,
    multi: bool,
    reload: bool,
}

const fn one(name: &'static str, label: &'static str, reload: bool) -> PayloadDef {
    PayloadDef {
        name,
        label,
        multi: false,
        reload,
    }
}

const fn many(name: &'static str, label: &'static str) -> PayloadDef {
    PayloadDef {
        name,
        label,
        multi: true,
        reload: false,
    }
}

/// Every metric: value, label, payloads.
const METRICS: &[(&str, &str, &[PayloadDef])] = &[
    (
        "point",
        "Point (time series from the short history)",
        &[
            one("site", "Site", true),
            one("device", "Device", true),
            one("point", "Point", false),
        ],
    ),
    (
        "active_alarms",
        "Active alarms (table)",
        &[one("site", "Site", false), many("priority", "Priority")],
    ),
    (
        "alarm_counts",
        "Active alarms by priority (table)",
        &[one("site", "Site", false)],
    ),
    (
        "alarm_events",
        "Alarm episodes (annotations)",
        &[one("site", "Site", false), many("priority", "Priority")],
    ),
    ("alarm_floods", "Alarm floods, EEMUA 191 (annotations)", &[]),
    ("alarm_kpis", "Alarm KPIs, EEMUA 191 (table)", &[]),
    (
        "incidents",
        "Incidents (table)",
        &[many("status", "Status"), one("zone", "Zone", false)],
    ),
    (
        "outages",
        "Outages (table)",
        &[many("status", "Status"), one("zone", "Zone", false)],
    ),
    ("sites", "Sites and devices up (table)", &[]),
    (
        "consumption_alerts",
        "Consumption alerts by zone and classification (table)",
        &[one("zone", "Zone", false)],
    ),
];

/// The metric names, in the list's order.
pub fn names() -> impl Iterator<Item = &'static str> {
    METRICS.iter().map(|m| m.0)
}

/// True when `name` is one of [`METRICS`].
pub fn known(name: &str) -> bool {
    names().any(|n| n == name)
}

/// The `/metrics` answer: `[{label, value, payloads: [{label, name, type, placeholder,
/// reloadMetric}]}]`.
pub fn list() -> Json {
    METRICS
        .iter()
        .map(|(value, label, payloads)| {
            let payloads: Vec<Json> = payloads
                .iter()
                .map(|p| {
                    json!({
                        "label": p.label,
                        "name": p.name,
                        "type": if p.multi { "multi-select" } else { "select" },
                        "placeholder": if p.multi { "any (several allowed)" } else { "any" },
                        "reloadMetric": p.reload,
                    })
                })
                .collect();
            json!({"label": label, "value": value, "payloads": payloads})
        })
        .collect()
}

fn option(label: impl Into<String>, value: impl Into<String>) -> Json {
    json!({"label": label.into(), "value": value.into()})
}

/// The site options: `[{label: "PS-01 (Pumping station 1)", value: "PS-01"}]`.
pub fn site_options(a: &ApiState) -> Vec<(String, String)> {
    a.live
        .catalog
        .sites
        .iter()
        .map(|s| {
            let label = if s.name.is_empty() {
                s.id.clone()
            } else {
                format!("{} ({})", s.id, s.name)
            };
            (label, s.id.clone())
        })
        .collect()
}

/// The devices of `site` (every site's when None), each id once; labelled `SITE/DEVICE`
/// when no site is chosen.
pub fn device_options(a: &ApiState, site: Option<&str>) -> Vec<(String, String)> {
    let c = &a.live.catalog;
    let mut out: Vec<(String, String)> = Vec::new();
    for d in &c.devices {
        let s = &c.site_of(d).id;
        if site.is_some_and(|x| x != s) || out.iter().any(|(_, v)| *v == d.id) {
            continue;
        }
        let label = match site {
            Some(_) => d.id.clone(),
            None => format!("{s}/{}", d.id),
        };
        out.push((label, d.id.clone()));
    }
    out
}

/// The point names of the devices matching `site` and `device` (any when None), each once,
/// labelled with their unit: `pressure_bar (bar)`.
pub fn point_options(
    a: &ApiState,
    site: Option<&str>,
    device: Option<&str>,
) -> Vec<(String, String)> {
    let c = &a.live.catalog;
    let mut out: Vec<(String, String)> = Vec::new();
    for d in &c.devices {
        if site.is_some_and(|s| s != c.site_of(d).id) || device.is_some_and(|x| x != d.id) {
            continue;
        }
        for p in &d.profile.points {
            if out.iter().any(|(_, v)| *v == p.name) {
                continue;
            }
            let label = if p.unit.is_empty() {
                p.name.clone()
            } else {
                format!("{} ({})", p.name, p.unit)
            };
            out.push((label, p.name.clone()));
        }
    }
    out
}

/// The zone options: id, labelled with the zone's name.
pub fn zone_options(a: &ApiState) -> Vec<(String, String)> {
    a.config
        .zones
        .iter()
        .map(|z| {
            let label = if z.name.is_empty() {
                z.id.clone()
            } else {
                format!("{} ({})", z.id, z.name)
            };
            (label, z.id.clone())
        })
        .collect()
}

/// The four priorities, most urgent first.
pub const PRIORITIES: [&str; 4] = ["critical", "high", "medium", "low"];
/// Incident statuses.
const INCIDENT_STATUSES: [&str; 5] = ["open", "acknowledged", "in_progress", "resolved", "closed"];
/// Outage statuses.
const OUTAGE_STATUSES: [&str; 4] = ["planned", "active", "ended", "cancelled"];

/// The `/metric-payload-options` answer `[{label, value}]` for payload `name` of `metric`,
/// given the payload chosen so far. An unknown metric is an error (400); a payload the
/// metric does not have gets no options.
pub fn payload_options(a: &ApiState, r: &OtherRequest) -> Result<Json, String> {
    let metric = r.metric.as_deref().unwrap_or_default();
    if !known(metric) {
        return Err(format!(
            "metric: {metric:?} is not one of {}",
            names().collect::<Vec<_>>().join(", ")
        ));
    }
    let p = Payload::from_json(&r.payload);
    let site = p.one("site");
    let device = p.one("device");
    let pairs: Vec<(String, String)> = match r.name.as_deref().unwrap_or_default() {
        "site" => site_options(a),
        "device" => device_options(a, site.as_deref()),
        "point" => point_options(a, site.as_deref(), device.as_deref()),
        "zone" => zone_options(a),
        "priority" => PRIORITIES
            .iter()
            .map(|s| (s.to_string(), s.to_string()))
            .collect(),
        "status" => {
            let list: &[&str] = if metric == "outages" {
                &OUTAGE_STATUSES
            } else {
                &INCIDENT_STATUSES
            };
            list.iter()
                .map(|s| (s.to_string(), s.to_string()))
                .collect()
        }
        _ => Vec::new(),
    };
    Ok(pairs.into_iter().map(|(l, v)| option(l, v)).collect())
}

/// The legacy `/search` answer: the metric names and every point as `SITE/DEVICE/POINT`,
/// those containing `target` (case-insensitive) when it is given.
pub fn search(a: &ApiState, target: Option<&str>) -> Json {
    let want = target.unwrap_or_default().trim().to_lowercase();
    let c = &a.live.catalog;
    let points = c.devices.iter().flat_map(|d| {
        let site = &c.site_of(d).id;
        d.profile
            .points
            .iter()
            .map(move |p| format!("{site}/{}/{}", d.id, p.name))
    });
    let all: Vec<String> = names().map(String::from).chain(points).collect();
    all.into_iter()
        .filter(|s| want.is_empty() || s.to_lowercase().contains(&want))
        .map(Json::String)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_of_the_contract_is_listed_with_its_payloads() {
        let l = list();
        let names: Vec<&str> = l
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["value"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "point",
                "active_alarms",
                "alarm_counts",
                "alarm_events",
                "alarm_floods",
                "alarm_kpis",
                "incidents",
                "outages",
                "sites",
                "consumption_alerts"
            ]
        );
        let point = &l[0]["payloads"];
        assert_eq!(point[1]["name"], "device");
        assert_eq!(point[1]["reloadMetric"], true);
        assert_eq!(l[1]["payloads"][1]["type"], "multi-select");
    }
}
