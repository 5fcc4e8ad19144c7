//! The request bodies Grafana's JSON datasources send, read leniently: unknown fields are
//! ignored (Grafana adds fields between versions), `panelId` may be a string or a number,
//! `payload` may be an object, a JSON text, or missing.
//!
//! Shapes: simPod/GrafanaJsonDatasource README and openapi.yaml, and the legacy
//! grafana/simple-json-datasource README (reference/alarms-integration.md §4.1, §4.2).

use crate::alarm::Priority;
use crate::api::alarms::{parse_priority, parse_time};
use serde::Deserialize;
use serde_json::{Map, Value as Json};

/// `range` of a request: `from` and `to` as RFC 3339 (what Grafana sends) or epoch ms.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RangeBody {
    pub from: Json,
    pub to: Json,
}

/// A resolved time range, ns since the epoch, both ends inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub from_ns: i64,
    pub to_ns: i64,
}

impl RangeBody {
    /// The range; a missing end is open (from the epoch, to now). Errors name the field.
    pub fn resolve(&self, now_ns: i64) -> Result<Range, String> {
        let from_ns = time(&self.from, "range.from")?.unwrap_or(0);
        let to_ns = time(&self.to, "range.to")?.unwrap_or(now_ns);
        if from_ns > to_ns {
            return Err("range: from is after to".into());
        }
        Ok(Range { from_ns, to_ns })
    }
}

/// A time as RFC 3339 text or epoch ms (number or text); None for null.
fn time(v: &Json, field: &str) -> Result<Option<i64>, String> {
    match v {
        Json::Null => Ok(None),
        Json::String(s) => parse_time(s).map(Some).map_err(|m| format!("{field}: {m}")),
        Json::Number(n) => n
            .as_f64()
            .filter(|ms| ms.is_finite() && ms.abs() < 9.2e12)
            .map(|ms| Some((ms * 1e6) as i64))
            .ok_or_else(|| format!("{field}: {n} is out of range")),
        _ => Err(format!("{field}: give RFC 3339 text or epoch milliseconds")),
    }
}

/// One panel query (`targets[]`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Target {
    /// The metric (`point`, `active_alarms`...) or a point as `SITE/DEVICE/POINT`.
    pub target: Option<String>,
    pub ref_id: Option<String>,
    /// The metric's payload (an object; a JSON text is parsed).
    pub payload: Json,
    /// The legacy simple-json datasource's name for extra JSON.
    pub data: Json,
    /// Hidden queries are skipped.
    pub hide: Option<bool>,
    /// Legacy: `timeserie` or `table`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

impl Target {
    /// Its payload, from `payload` or the legacy `data`.
    pub fn payload(&self) -> Payload {
        let p = Payload::from_json(&self.payload);
        if p.0.is_empty() {
            Payload::from_json(&self.data)
        } else {
            p
        }
    }
}

/// An ad hoc filter: `{"key": "site", "operator": "=", "value": "PS-01"}`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct AdhocFilter {
    pub key: String,
    pub operator: String,
    pub value: String,
}

/// `POST /query`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct QueryRequest {
    pub range: RangeBody,
    /// Grafana's suggested spacing of points, ms.
    pub interval_ms: Option<f64>,
    /// The most points a series may have.
    pub max_data_points: Option<f64>,
    pub targets: Vec<Target>,
    pub adhoc_filters: Vec<AdhocFilter>,
}

/// `POST /metrics`, `/metric-payload-options` (`/options`), `/variable`, `/tag-values`,
/// `/search`, `/annotations`: every field any of them uses.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct OtherRequest {
    pub metric: Option<String>,
    pub payload: Json,
    /// The payload whose options are asked (`/metric-payload-options`).
    pub name: Option<String>,
    /// `/tag-values`.
    pub key: Option<String>,
    /// `/search` (legacy) and older `/variable` bodies.
    pub target: Option<String>,
    pub range: RangeBody,
    /// `/annotations` (legacy): the annotation query as set up in Grafana.
    pub annotation: Json,
}

/// A payload: names to values (text, or lists of text for multi-selects).
#[derive(Debug, Clone, Default)]
pub struct Payload(pub Map<String, Json>);

/// What Grafana sends for "no choice" (an empty select, or a variable's "All").
fn is_any(s: &str) -> bool {
    matches!(s.trim(), "" | "*" | "$__all" | "All" | "all")
}

impl Payload {
    /// An object as is; a text holding a JSON object is parsed; anything else is empty.
    pub fn from_json(v: &Json) -> Payload {
        match v {
            Json::Object(m) => Payload(m.clone()),
            Json::String(s) => match serde_json::from_str::<Json>(s) {
                Ok(Json::Object(m)) => Payload(m),
                _ => Payload::default(),
            },
            _ => Payload::default(),
        }
    }

    /// The values chosen for `name`: one text, a list, or numbers; "all" choices are
    /// dropped, so an empty list means no filter.
    pub fn list(&self, name: &str) -> Vec<String> {
        let one = |v: &Json| match v {
            Json::String(s) => split_multi(s.trim()),
            Json::Number(n) => vec![n.to_string()],
            _ => Vec::new(),
        };
        let all: Vec<String> = match self.0.get(name) {
            Some(Json::Array(a)) => a.iter().flat_map(one).collect(),
            Some(v) => one(v),
            None => Vec::new(),
        };
        all.into_iter().filter(|s| !is_any(s)).collect()
    }

    /// The first value chosen for `name`.
    pub fn one(&self, name: &str) -> Option<String> {
        self.list(name).into_iter().next()
    }

    /// The priorities chosen (`priority`); an unknown one is an error.
    pub fn priorities(&self) -> Result<Vec<Priority>, String> {
        self.list("priority")
            .iter()
            .map(|p| parse_priority(p).map_err(|m| format!("payload.priority: {m}")))
            .collect()
    }
}

/// The values of a multi-value template variable as Grafana interpolates it into a
/// datasource's text (its default format for a multi-value or "All" choice is the regex
/// alternation `(a|b|c)`; `{a,b,c}` is its glob format): the list; anything else, itself.
fn split_multi(s: &str) -> Vec<String> {
    let inner = s
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .filter(|r| r.contains('|'))
        .map(|r| (r, '|'))
        .or_else(|| {
            s.strip_prefix('{')
                .and_then(|r| r.strip_suffix('}'))
                .filter(|r| r.contains(','))
                .map(|r| (r, ','))
        });
    match inner {
        Some((r, sep)) => r
            .split(sep)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect(),
        None => vec![s.to_string()],
    }
}

/// What a table row can be filtered on by ad hoc filters.
#[derive(Debug, Clone, Default)]
pub struct Facets {
    pub site: Option<String>,
    pub zones: Vec<String>,
    pub priority: Option<Priority>,
}

/// The ad hoc filter keys vigie knows (`/tag-keys`).
pub const TAG_KEYS: [&str; 3] = ["site", "zone", "priority"];

/// Checked ad hoc filters.
#[derive(Debug, Clone, Default)]
pub struct Adhoc(Vec<(String, bool, String)>);

impl Adhoc {
    /// Checks the filters: operators `=` and `!=` (others are refused with a message);
    /// keys other than site, zone and priority are ignored (no vigie table has them).
    pub fn new(filters: &[AdhocFilter]) -> Result<Adhoc, String> {
        let mut out = Vec::new();
        for f in filters {
            let equal = match f.operator.as_str() {
                "=" | "" => true,
                "!=" => false,
                o => {
                    return Err(format!(
                        "adhocFilters: operator {o:?} is not supported; use = or !="
                    ));
                }
            };
            if TAG_KEYS.contains(&f.key.as_str()) {
                out.push((f.key.clone(), equal, f.value.clone()));
            }
        }
        Ok(Adhoc(out))
    }

    /// True when a row with `facets` passes every filter whose key is in `keys` (the facets
    /// its table has). A row without the value fails `=` and passes `!=`.
    pub fn keeps(&self, keys: &[&str], facets: &Facets) -> bool {
        self.0.iter().all(|(key, equal, value)| {
            if !keys.contains(&key.as_str()) {
                return true;
            }
            let has = match key.as_str() {
                "site" => facets.site.as_deref() == Some(value.as_str()),
                "zone" => facets.zones.iter().any(|z| z == value),
                "priority" => facets.priority.is_some_and(|p| p.as_str() == value),
                _ => true,
            };
            has == *equal
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_multi_value_variable_as_grafana_writes_it_is_a_list() {
        let Json::Object(m) = json!({
            "site": "(BH-03|PS-01|SS-12)", "zone": "{Z-NORTH,Z-SOUTH}", "device": "P1"
        }) else {
            unreachable!()
        };
        let p = Payload(m);
        assert_eq!(p.list("site"), ["BH-03", "PS-01", "SS-12"]);
        assert_eq!(p.list("zone"), ["Z-NORTH", "Z-SOUTH"]);
        assert_eq!(p.list("device"), ["P1"]);
    }

    #[test]
    fn a_query_as_grafana_sends_it_is_read_and_unknown_fields_ignored() {
        let body = json!({"panelId": "Q-1599986187842-0.16-0", "requestId": "Q1",
            "range": {"from": "2016-10-31T06:33:44.866Z", "to": "2016-10-31T12:33:44.866Z",
                      "raw": {"from": "now-6h", "to": "now"}},
            "interval": "30s", "intervalMs": 30000, "maxDataPoints": 550,
            "scopedVars": {"__interval": {"text": "30s", "value": "30s"}},
            "targets": [{"target": "point", "refId": "A", "payload": "{\"site\": \"PS-01\"}"},
                        {"target": "sites", "refId": "B", "hide": true, "datasource": {"uid": "x"}}]});
        let q: QueryRequest = serde_json::from_value(body).unwrap();
        assert_eq!(q.max_data_points, Some(550.0));
        assert_eq!(q.targets[0].payload().one("site").as_deref(), Some("PS-01"));
        assert_eq!(q.targets[1].hide, Some(true));
        let r = q.range.resolve(0).unwrap();
        assert_eq!(r.from_ns, 1_477_895_624_866_000_000);
        assert_eq!(r.to_ns - r.from_ns, 6 * 3600 * 1_000_000_000);
    }

    #[test]
    fn payload_lists_drop_all_choices_and_read_arrays() {
        let p = Payload::from_json(&json!({"priority": ["critical", "$__all"], "site": ""}));
        assert_eq!(p.list("priority"), vec!["critical"]);
        assert_eq!(p.one("site"), None);
        assert_eq!(p.priorities().unwrap(), vec![Priority::Critical]);
        assert!(
            Payload::from_json(&json!({"priority": "urgent"}))
                .priorities()
                .is_err()
        );
    }

    #[test]
    fn adhoc_filters_apply_to_the_keys_a_table_has() {
        let f = |k: &str, o: &str, v: &str| AdhocFilter {
            key: k.into(),
            operator: o.into(),
            value: v.into(),
        };
        let a = Adhoc::new(&[f("site", "=", "PS-01"), f("City", "=", "Berlin")]).unwrap();
        let row = |s: &str| Facets {
            site: Some(s.into()),
            ..Facets::default()
        };
        assert!(a.keeps(&["site"], &row("PS-01")));
        assert!(!a.keeps(&["site"], &row("SS-12")));
        assert!(a.keeps(&["zone"], &row("SS-12")), "a table without site");
        let not = Adhoc::new(&[f("zone", "!=", "Z-NORTH")]).unwrap();
        assert!(not.keeps(&["zone"], &Facets::default()));
        assert!(Adhoc::new(&[f("site", "=~", "PS.*")]).is_err());
    }

    #[test]
    fn bad_ranges_are_refused_with_the_field() {
        let r = RangeBody {
            from: json!("yesterday"),
            to: json!(null),
        };
        assert!(r.resolve(0).unwrap_err().starts_with("range.from"));
        let r = RangeBody {
            from: json!(2000),
            to: json!(1000),
        };
        assert!(r.resolve(0).is_err());
    }
}
