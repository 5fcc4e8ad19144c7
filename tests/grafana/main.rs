//! The Grafana JSON datasource (`/grafana`) on the demo's network and vigie's station
//! simulator, its feeder trip and burst brought forward. Requests are shaped as Grafana
//! sends them (simPod/GrafanaJsonDatasource README and openapi.yaml; the legacy
//! grafana/simple-json-datasource README), and the answers are checked against the REST
//! API's view of the same daemon.

#[path = "../support/mod.rs"]
mod support;

mod alarms;
mod data;
mod protocol;

use serde_json::{Value, json};
use std::path::Path;
use support::daemon::{InProcess, load_config};
use support::demo::sim_config;
use support::{HttpResponse, request};
use vigie::sim::{self, World};

pub struct Grafana<'a>(&'a InProcess);

impl Grafana<'_> {
    pub fn raw(&self, method: &str, path: &str, body: &[u8]) -> HttpResponse {
        request(
            method,
            &format!("{}/grafana{path}", self.0.base),
            &[("Content-Type", "application/json")],
            body,
        )
    }

    /// POST /grafana{path}: the status and the answer.
    pub fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let r = self.raw("POST", path, body.to_string().as_bytes());
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some("*"),
            "{path}: CORS origin"
        );
        (r.status, r.json())
    }

    /// POST that must answer 200.
    pub fn ok(&self, path: &str, body: &Value) -> Value {
        let (status, v) = self.post(path, body);
        assert_eq!(status, 200, "POST /grafana{path} {body}: {v}");
        v
    }

    /// `/query` with one target: its one answer.
    pub fn one(&self, range: &Value, target: Value) -> Value {
        let v = self.ok(
            "/query",
            &json!({"panelId": 7, "range": range, "intervalMs": 1000, "maxDataPoints": 500,
                    "targets": [target]}),
        );
        assert_eq!(v.as_array().map(Vec::len), Some(1), "{v}");
        v[0].clone()
    }
}

pub fn get(d: &InProcess, path: &str) -> Value {
    let (status, v) = d.call("GET", path, &[], None);
    assert_eq!(status, 200, "GET {path}: {v}");
    v
}

/// `range` of the last hour to a minute ahead, as Grafana sends it.
pub fn last_hour() -> Value {
    let now = jiff::Timestamp::now();
    json!({"from": (now - jiff::SignedDuration::from_hours(1)).to_string(),
           "to": (now + jiff::SignedDuration::from_mins(1)).to_string(),
           "raw": {"from": "now-1h", "to": "now"}})
}

pub fn ms_text(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).unwrap().to_string()
}

/// A table's rows as objects by column name.
pub fn rows(table: &Value) -> Vec<serde_json::Map<String, Value>> {
    assert_eq!(table["type"], "table", "{table}");
    let names: Vec<String> = table["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["text"].as_str().unwrap().to_string())
        .collect();
    table["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            names
                .iter()
                .cloned()
                .zip(r.as_array().unwrap().iter().cloned())
                .collect()
        })
        .collect()
}

pub fn column_names(table: &Value) -> Vec<&str> {
    table["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["text"].as_str().unwrap())
        .collect()
}

#[test]
fn grafana_shaped_requests_get_the_daemons_answers() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sim = rt
        .block_on(async { sim::start(World::new(sim_config("8s", "14s")).unwrap()).await })
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let text = vigie::demo::vigie_toml(&sim.addresses, &tmp.path().join("var")).replace(
        "profiles_dir = \"plc-profiles\"",
        &format!(
            "profiles_dir = {:?}",
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("plc-profiles")
                .display()
                .to_string()
        ),
    );
    let d = InProcess::start(&load_config(tmp.path(), &text));
    let g = Grafana(&d);

    protocol::endpoints(&g);
    protocol::bad_bodies(&g);
    data::sites_come_up(&g);
    data::point_series(&d, &g);
    data::consumption_alerts(&d, &g);
    alarms::feeder_trip(&d, &g);
    drop(d);
    drop(sim);
}
