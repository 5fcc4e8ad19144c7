//! What the dashboard tests read in `dashboards/`: the classic dashboard JSON files, their
//! queries (panels' targets, annotations, template variables), and the provisioning YAML.

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The datasource uids the dashboards may use, as `dashboards/provisioning/datasources/vigie.yaml`
/// provisions them.
pub const INFLUX_UID: &str = "vigie-influxdb";
pub const VIGIE_UID: &str = "vigie";

/// `dashboards/` of the repository.
pub fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboards")
}

/// Every `dashboards/*.json`: (file name, parsed JSON), sorted by name. Panics naming a file
/// that does not parse.
pub fn dashboards() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir()).expect("read dashboards/") {
        let path = entry.expect("dashboards/ entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let json: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        out.push((name, json));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// A provisioning YAML file under `dashboards/provisioning/`, parsed.
pub fn provisioning(rel: &str) -> serde_yaml::Value {
    let path = dir().join("provisioning").join(rel);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{} is not YAML: {e}", path.display()))
}

/// Every panel, those inside rows included (rows themselves too).
pub fn panels(d: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for p in d["panels"].as_array().into_iter().flatten() {
        out.push(p);
        out.extend(p["panels"].as_array().into_iter().flatten());
    }
    out
}

/// One query of a dashboard: where it is and what it asks.
#[derive(Debug, Clone)]
pub struct Query {
    /// `file: panel title / refId`, `file: annotation NAME` or `file: variable NAME`.
    pub place: String,
    /// The datasource uid (the target's, else the panel's).
    pub uid: String,
    /// The target (InfluxDB: `{query, …}`; vigie: `{target, payload}`).
    pub target: Value,
}

impl Query {
    /// An InfluxDB target's InfluxQL text.
    pub fn influxql(&self) -> &str {
        self.target["query"].as_str().unwrap_or("")
    }
}

fn uid(v: &Value) -> Option<String> {
    v["datasource"]["uid"].as_str().map(str::to_string)
}

/// Every panel target and annotation query of dashboard `d` (file `file`); not the
/// template variables (see [`variables`]). The built-in Grafana annotation is left out.
pub fn queries(file: &str, d: &Value) -> Vec<Query> {
    let mut out = Vec::new();
    for p in panels(d) {
        for t in p["targets"].as_array().into_iter().flatten() {
            out.push(Query {
                place: format!(
                    "{file}: {} / {}",
                    p["title"].as_str().unwrap_or("?"),
                    t["refId"].as_str().unwrap_or("?")
                ),
                uid: uid(t).or_else(|| uid(p)).unwrap_or_default(),
                target: t.clone(),
            });
        }
    }
    for a in d["annotations"]["list"].as_array().into_iter().flatten() {
        if a["builtIn"].as_i64() == Some(1) {
            continue;
        }
        let place = format!("{file}: annotation {}", a["name"].as_str().unwrap_or("?"));
        let uid = uid(a).unwrap_or_default();
        // InfluxDB annotations keep the classic `query` at the top; datasources with standard
        // annotation support (simpod) keep their query object in `target`.
        let target = if a.get("query").is_some() {
            a.clone()
        } else {
            a["target"].clone()
        };
        out.push(Query { place, uid, target });
    }
    out
}

/// One template variable.
#[derive(Debug, Clone)]
pub struct Variable {
    pub name: String,
    pub uid: String,
    pub query: String,
    /// `multi` or `includeAll`: Grafana may put several values in the query.
    pub several: bool,
}

pub fn variables(d: &Value) -> Vec<Variable> {
    d["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| Variable {
            name: v["name"].as_str().unwrap_or("").to_string(),
            uid: uid(v).unwrap_or_default(),
            query: v["query"]
                .as_str()
                .or_else(|| v["query"]["query"].as_str())
                .unwrap_or("")
                .to_string(),
            several: v["multi"] == true || v["includeAll"] == true,
        })
        .collect()
}

/// Grafana's own variables and InfluxDB alias patterns, which need no templating entry.
const BUILT_IN: [&str; 7] = [
    "timeFilter",
    "__interval",
    "__interval_ms",
    "interval",
    "col",
    "__timeFilter",
    "__range",
];

/// The dashboard variables `$name` / `${name}` named in `text` (built-ins and `$tag_*`
/// aliases left out).
pub fn variables_in(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'$' {
            let braced = bytes.get(i + 1) == Some(&b'{');
            let start = i + 1 + usize::from(braced);
            let end = (start..bytes.len())
                .find(|&j| !(bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_'))
                .unwrap_or(bytes.len());
            let name = &text[start..end];
            if !name.is_empty() && !BUILT_IN.contains(&name) && !name.starts_with("tag_") {
                out.insert(name.to_string());
            }
            i = end;
        } else {
            i += 1;
        }
    }
    out
}

/// `value` escaped as Grafana's regex formatting escapes a variable's value.
pub fn regex_escape(value: &str) -> String {
    let mut out = String::new();
    for c in value.chars() {
        if "\\^$*+?.()|[]{}/".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `text` with `$name` and `${name}` replaced by `value` for every (name, value).
pub fn substitute(text: &str, values: &[(String, String)]) -> String {
    let mut out = text.to_string();
    // Longest names first, so `$__interval_ms` is not cut by `$__interval`.
    let mut sorted: Vec<&(String, String)> = values.iter().collect();
    sorted.sort_by_key(|(n, _)| std::cmp::Reverse(n.len()));
    for (name, value) in sorted {
        out = out.replace(&format!("${{{name}}}"), value);
        out = out.replace(&format!("${name}"), value);
    }
    out
}
