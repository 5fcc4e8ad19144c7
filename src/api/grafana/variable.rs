//! Template variables and ad hoc filters: `POST /grafana/variable`, `/tag-keys`,
//! `/tag-values`.

use super::metrics::{PRIORITIES, device_options, point_options, site_options, zone_options};
use super::request::{OtherRequest, Payload, TAG_KEYS};
use crate::api::ApiState;
use serde_json::{Value as Json, json};

/// `/variable`: `{"payload": {"target": "sites" | "zones" | "devices" | "points", "site",
/// "device"}}` → `[{"__text", "__value"}]`. The payload may also be plain text naming the
/// target (`"sites"`), or the target may be at the top level (older bodies).
pub fn variable(a: &ApiState, r: &OtherRequest) -> Result<Json, String> {
    let mut p = Payload::from_json(&r.payload);
    if let Json::String(s) = &r.payload
        && p.0.is_empty()
        && !s.trim().is_empty()
    {
        p.0.insert("target".into(), json!(s.trim()));
    }
    if let (None, Some(t)) = (p.one("target"), &r.target) {
        p.0.insert("target".into(), json!(t));
    }
    let site = p.one("site");
    let device = p.one("device");
    let target = p.one("target").unwrap_or_default();
    let pairs = match target.as_str() {
        "sites" => site_options(a),
        "zones" => zone_options(a),
        "devices" => device_options(a, site.as_deref()),
        "points" => point_options(a, site.as_deref(), device.as_deref()),
        other => {
            return Err(format!(
                "payload.target: {other:?}; use sites, zones, devices (with site) or points (with site and device)"
            ));
        }
    };
    Ok(pairs
        .into_iter()
        .map(|(text, value)| json!({"__text": text, "__value": value}))
        .collect())
}

/// `/tag-keys`: `[{"type": "string", "text": "site"}, … zone, priority]`.
pub fn tag_keys() -> Json {
    TAG_KEYS
        .iter()
        .map(|k| json!({"type": "string", "text": k}))
        .collect()
}

/// `/tag-values` for `key`: `[{"text": "PS-01"}, …]`; an unknown key has none.
pub fn tag_values(a: &ApiState, key: Option<&str>) -> Json {
    let values: Vec<String> = match key.unwrap_or_default() {
        "site" => a.live.catalog.sites.iter().map(|s| s.id.clone()).collect(),
        "zone" => a.config.zones.iter().map(|z| z.id.clone()).collect(),
        "priority" => PRIORITIES.iter().map(|p| p.to_string()).collect(),
        _ => Vec::new(),
    };
    values.into_iter().map(|v| json!({"text": v})).collect()
}
