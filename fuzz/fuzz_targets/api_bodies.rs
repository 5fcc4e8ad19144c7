//! The API's JSON bodies and query strings, through the real routes: a daemon (no devices,
//! one zone and one site, SQLite stores in a temporary directory) runs in this process and
//! `vigie::api::routes` answers each request in-process (warp::test), so every body goes
//! through the same parsing, validation and store calls as on the wire.
//!
//! Requests are structure-aware: a route with the methods it takes, a JSON body whose keys
//! and strings come mostly from the routes' own field names and values (plus injection
//! strings and anything else), or raw bytes. The answer must never be a 5xx; a 4xx must be a
//! JSON object `{"error": "..."}`.

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value as Json};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use warp::Filter;
use warp::http::HeaderValue;

/// Field names of the bodies and query strings (incidents, outages, alarms, consumption
/// alerts, Grafana).
const KEYS: &[&str] = &[
    "title",
    "description",
    "priority",
    "zone",
    "site",
    "assignee",
    "estimated_restoration",
    "links",
    "actor",
    "status",
    "comment",
    "text",
    "zones",
    "start",
    "end",
    "cause",
    "reference",
    "operator",
    "duration",
    "alert_id",
    "customer_ref",
    "meter_id",
    "utility",
    "period_start",
    "period_end",
    "consumption",
    "reference_consumption",
    "unit",
    "alarms",
    "alerts",
    "range",
    "from",
    "to",
    "targets",
    "target",
    "payload",
    "key",
    "annotation",
    "query",
    "adhocFilters",
    "maxDataPoints",
    "intervalMs",
    "limit",
    "cursor",
    "lat",
    "lon",
    "classification",
    "state",
    "since",
    "until",
    "refId",
    "type",
    "name",
    "metric",
];

/// Values the routes accept, and the strings that must be refused harmlessly.
const TEXTS: &[&str] = &[
    "Z-NORTH",
    "PS-01",
    "water",
    "electricity",
    "m3",
    "kWh",
    "critical",
    "high",
    "medium",
    "low",
    "open",
    "acknowledged",
    "in_progress",
    "resolved",
    "closed",
    "ended",
    "cancelled",
    "planned",
    "active",
    "planned_works",
    "2030-01-01T08:00:00Z",
    "2030-01-01T12:00:00Z",
    "2026-11-01",
    "1700000000000",
    "now-6h",
    "now",
    "1h",
    "30m",
    "amina",
    "crew sent",
    "alarm_events",
    "alarm_floods",
    "incidents",
    "outages",
    "points",
    "ack",
    "shelve",
    "' OR 1=1 --",
    "'; DROP TABLE incidents; --",
    "../../etc/passwd",
    "a\u{0}b",
    "%00",
    "9223372036854775807",
    "-1",
    "",
    " ",
    "\u{202e}",
    "<script>",
    "{\"a\":1}",
    "x=1&y=2",
];

#[derive(Debug, Arbitrary)]
enum Text {
    Known(u8),
    Other(String),
}

impl Text {
    fn get(&self) -> String {
        match self {
            Text::Known(i) => TEXTS[usize::from(*i) % TEXTS.len()].to_string(),
            Text::Other(s) => s.clone(),
        }
    }
}

#[derive(Debug, Arbitrary)]
enum Key {
    Known(u8),
    Other(String),
}

impl Key {
    fn get(&self) -> String {
        match self {
            Key::Known(i) => KEYS[usize::from(*i) % KEYS.len()].to_string(),
            Key::Other(s) => s.clone(),
        }
    }
}

#[derive(Debug, Arbitrary)]
enum J {
    Null,
    Bool(bool),
    Int(i64),
    Big(u64),
    Float(f64),
    Str(Text),
    Arr(Vec<J>),
    Obj(Vec<(Key, J)>),
}

impl J {
    fn get(&self) -> Json {
        match self {
            J::Null => Json::Null,
            J::Bool(b) => (*b).into(),
            J::Int(i) => (*i).into(),
            J::Big(u) => (*u).into(),
            J::Float(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
            J::Str(t) => t.get().into(),
            J::Arr(v) => v.iter().map(J::get).collect(),
            J::Obj(kv) => kv
                .iter()
                .map(|(k, v)| (k.get(), v.get()))
                .collect::<Map<_, _>>()
                .into(),
        }
    }
}

#[derive(Debug, Arbitrary)]
enum Body {
    Json(J),
    Raw(Vec<u8>),
    /// `[` × n: deep nesting.
    Nested(u16),
}

#[derive(Debug, Arbitrary)]
enum Route {
    AlarmAction { id: Text, verb: u8 },
    AlarmList,
    AlarmHistory,
    AlarmKpis,
    ConsumptionPost,
    ConsumptionList,
    IncidentCreate,
    IncidentList,
    IncidentPatch(i64),
    IncidentComment(i64),
    OutageDeclare,
    OutageList,
    OutagePatch(i64),
    Grafana(u8),
    Point(Text, Text, Text),
}

const GRAFANA: &[&str] = &[
    "query",
    "metrics",
    "metric-payload-options",
    "options",
    "variable",
    "tag-keys",
    "tag-values",
    "search",
    "annotations",
];
const VERBS: &[&str] = &["ack", "reset", "shelve", "unshelve", "explode"];

#[derive(Debug, Arbitrary)]
struct Request {
    route: Route,
    body: Body,
    query: Vec<(Key, Text)>,
    idempotency_key: Option<Text>,
}

/// Percent-encodes everything but unreserved characters (RFC 3986 §2.3).
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

struct Api {
    rt: tokio::runtime::Runtime,
    state: vigie::api::ApiState,
    _daemon: vigie::daemon::Daemon,
    _dir: tempfile::TempDir,
}

fn api() -> &'static Api {
    static API: OnceLock<Api> = OnceLock::new();
    API.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let text = format!(
            "[daemon]\nprofiles_dir = {:?}\ndata_dir = {:?}\n[api]\nrate_limit_per_s = 1000000\n\
             rate_limit_burst = 1000000\n[[zones]]\nid = \"Z-NORTH\"\nutility = \"water\"\n\
             fed_by = [\"PS-01\"]\n[[sites]]\nid = \"PS-01\"\nkind = \"pumping_station\"\n",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../plc-profiles"),
            dir.path().join("var"),
        );
        let path = dir.path().join("vigie.toml");
        std::fs::write(&path, text).expect("writing vigie.toml");
        let network = vigie::config::load(&path, Some(HashMap::new())).expect("a valid config");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let daemon = rt
            .block_on(vigie::daemon::start(
                &network,
                Some("127.0.0.1:0".parse().expect("addr")),
            ))
            .expect("the daemon starts");
        let cfg = &network.config;
        let state = vigie::api::ApiState {
            live: daemon.live.clone(),
            metrics: daemon.metrics.clone(),
            alarms: daemon.alarms.clone(),
            notify: Arc::new(vigie::notify::NotifyMetrics::default()),
            crm: Arc::new(vigie::notify::crm::CrmMetrics::default()),
            config: Arc::new(cfg.clone()),
            consumption: daemon.consumption.clone(),
            incidents: daemon.incidents.clone(),
            outages: daemon.outages.clone(),
            guard: Arc::new(vigie::api::auth::Guard::new(&cfg.api)),
        };
        Api {
            rt,
            state,
            _daemon: daemon,
            _dir: dir,
        }
    })
}

fuzz_target!(|req: Request| {
    let api = api();
    let (method, path) = match &req.route {
        Route::AlarmAction { id, verb } => (
            "POST",
            format!(
                "/api/v1/alarms/{}/{}",
                enc(&id.get()),
                VERBS[usize::from(*verb) % VERBS.len()]
            ),
        ),
        Route::AlarmList => ("GET", "/api/v1/alarms".into()),
        Route::AlarmHistory => ("GET", "/api/v1/alarms/history".into()),
        Route::AlarmKpis => ("GET", "/api/v1/alarms/kpis".into()),
        Route::ConsumptionPost => ("POST", "/api/v1/consumption-alerts".into()),
        Route::ConsumptionList => ("GET", "/api/v1/consumption-alerts".into()),
        Route::IncidentCreate => ("POST", "/api/v1/incidents".into()),
        Route::IncidentList => ("GET", "/api/v1/incidents".into()),
        Route::IncidentPatch(id) => ("PATCH", format!("/api/v1/incidents/{}", id % 4)),
        Route::IncidentComment(id) => ("POST", format!("/api/v1/incidents/{}/comments", id % 4)),
        Route::OutageDeclare => ("POST", "/api/v1/outages".into()),
        Route::OutageList => ("GET", "/api/v1/outages".into()),
        Route::OutagePatch(id) => ("PATCH", format!("/api/v1/outages/{}", id % 4)),
        Route::Grafana(i) => (
            "POST",
            format!("/grafana/{}", GRAFANA[usize::from(*i) % GRAFANA.len()]),
        ),
        Route::Point(s, d, n) => (
            "GET",
            format!(
                "/api/v1/points/{}/{}/{}",
                enc(&s.get()),
                enc(&d.get()),
                enc(&n.get())
            ),
        ),
    };
    let query: Vec<String> = req
        .query
        .iter()
        .take(8)
        .map(|(k, v)| format!("{}={}", enc(&k.get()), enc(&v.get())))
        .collect();
    let path = if query.is_empty() {
        path
    } else {
        format!("{path}?{}", query.join("&"))
    };
    let body: Vec<u8> = match &req.body {
        Body::Json(j) => j.get().to_string().into_bytes(),
        Body::Raw(b) => b.clone(),
        Body::Nested(n) => vec![b'['; usize::from(*n)],
    };
    let mut r = warp::test::request()
        .method(method)
        .path(&path)
        .header("content-type", "application/json");
    if let Some(k) = &req.idempotency_key
        && HeaderValue::from_str(&k.get()).is_ok()
    {
        r = r.header("idempotency-key", k.get());
    }
    if method != "GET" {
        r = r.body(body);
    }
    let filter = vigie::api::routes(api.state.clone()).boxed();
    let answer = api.rt.block_on(r.reply(&filter));
    let status = answer.status();
    let text = String::from_utf8_lossy(answer.body());
    assert!(
        !status.is_server_error(),
        "{method} {path}: {status} {text}"
    );
    if status.is_client_error() {
        let j: Json = serde_json::from_slice(answer.body())
            .unwrap_or_else(|e| panic!("{method} {path}: {status}, not JSON ({e}): {text}"));
        assert!(j["error"].is_string(), "{method} {path}: {status} {text}");
    }
});
