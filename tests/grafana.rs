//! The Grafana JSON datasource (`/grafana`) on the demo's network and vigie's station
//! simulator, its feeder trip and burst brought forward. Requests are shaped as Grafana
//! sends them (simPod/GrafanaJsonDatasource README and openapi.yaml; the legacy
//! grafana/simple-json-datasource README), and the answers are checked against the REST
//! API's view of the same daemon.

mod support;

use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;
use support::daemon::{InProcess, demo_sim_config, load_config};
use support::{HttpResponse, eventually, request};
use vigie::sim::{self, World};

const F2: &str = "SS-12:F2:breaker_tripped:discrete";

struct Grafana<'a>(&'a InProcess);

impl Grafana<'_> {
    fn raw(&self, method: &str, path: &str, body: &[u8]) -> HttpResponse {
        request(
            method,
            &format!("{}/grafana{path}", self.0.base),
            &[("Content-Type", "application/json")],
            body,
        )
    }

    /// POST /grafana{path}: the status and the answer.
    fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let r = self.raw("POST", path, body.to_string().as_bytes());
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some("*"),
            "{path}: CORS origin"
        );
        (r.status, r.json())
    }

    /// POST that must answer 200.
    fn ok(&self, path: &str, body: &Value) -> Value {
        let (status, v) = self.post(path, body);
        assert_eq!(status, 200, "POST /grafana{path} {body}: {v}");
        v
    }

    /// `/query` with one target: its one answer.
    fn one(&self, range: &Value, target: Value) -> Value {
        let v = self.ok(
            "/query",
            &json!({"panelId": 7, "range": range, "intervalMs": 1000, "maxDataPoints": 500,
                    "targets": [target]}),
        );
        assert_eq!(v.as_array().map(Vec::len), Some(1), "{v}");
        v[0].clone()
    }
}

fn get(d: &InProcess, path: &str) -> Value {
    let (status, v) = d.call("GET", path, &[], None);
    assert_eq!(status, 200, "GET {path}: {v}");
    v
}

/// `range` of the last hour to a minute ahead, as Grafana sends it.
fn last_hour() -> Value {
    let now = jiff::Timestamp::now();
    json!({"from": (now - jiff::SignedDuration::from_hours(1)).to_string(),
           "to": (now + jiff::SignedDuration::from_mins(1)).to_string(),
           "raw": {"from": "now-1h", "to": "now"}})
}

fn ms_text(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).unwrap().to_string()
}

/// A table's rows as objects by column name.
fn rows(table: &Value) -> Vec<serde_json::Map<String, Value>> {
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

fn column_names(table: &Value) -> Vec<&str> {
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
        .block_on(async { sim::start(World::new(demo_sim_config("8s", "14s")).unwrap()).await })
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

    protocol_endpoints(&g);
    bad_bodies(&g);
    sites_come_up(&g);
    point_series(&d, &g);
    consumption_alerts(&d, &g);
    feeder_trip(&d, &g);
    drop(d);
    drop(sim);
}

/// Connection test, metric list, payload options (both names), variables, tag keys and
/// values, the legacy search, the CORS preflight.
fn protocol_endpoints(g: &Grafana) {
    for path in ["", "/"] {
        let r = g.raw("GET", path, b"");
        assert_eq!(r.status, 200, "GET /grafana{path}: {}", r.body);
    }
    let metrics = g.ok("/metrics", &json!({}));
    let names: Vec<&str> = metrics
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
    // The builder reloads the metric with the payload chosen so far.
    let again = g.ok(
        "/metrics",
        &json!({"metric": "point", "payload": {"site": "BH-03"}}),
    );
    assert_eq!(again, metrics);
    let point = &metrics[0]["payloads"];
    assert_eq!(point[0]["name"], "site");
    assert_eq!(point[0]["reloadMetric"], true);
    assert_eq!(point[1]["name"], "device");
    assert_eq!(point[2]["name"], "point");

    let values = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|o| o["value"].as_str().unwrap().to_string())
            .collect()
    };
    let req = json!({"metric": "point", "payload": {"site": "BH-03"}, "name": "device"});
    let devices = g.ok("/metric-payload-options", &req);
    assert_eq!(values(&devices), ["P1", "EM-002", "FT-302", "LT-202"]);
    assert_eq!(
        g.ok("/options", &req),
        devices,
        "the older name answers the same"
    );
    let points = g.ok(
        "/metric-payload-options",
        &json!({"metric": "point", "payload": {"site": "PS-01", "device": "PT-101"}, "name": "point"}),
    );
    assert!(
        points
            .as_array()
            .unwrap()
            .contains(&json!({"label": "pressure_bar (bar)", "value": "pressure_bar"})),
        "{points}"
    );
    let sites = g.ok(
        "/metric-payload-options",
        &json!({"metric": "active_alarms", "payload": {}, "name": "site"}),
    );
    assert_eq!(values(&sites), ["PS-01", "SS-12", "BH-03"]);
    let statuses = g.ok(
        "/metric-payload-options",
        &json!({"metric": "outages", "payload": {}, "name": "status"}),
    );
    assert_eq!(
        values(&statuses),
        ["planned", "active", "ended", "cancelled"]
    );
    let (status, e) = g.post(
        "/metric-payload-options",
        &json!({"metric": "bogus", "name": "site"}),
    );
    assert_eq!(status, 400, "{e}");

    // Variables: the documented body, and a payload typed as text.
    let v = g.ok(
        "/variable",
        &json!({"payload": {"target": "devices", "site": "SS-12"},
        "range": {"from": "2022-02-14T08:09:32.164Z", "to": "2022-02-21T08:09:32.164Z",
                  "raw": {"from": "now-7d", "to": "now"}}}),
    );
    assert_eq!(
        v,
        json!([{"__text": "INC", "__value": "INC"}, {"__text": "F1", "__value": "F1"},
               {"__text": "F2", "__value": "F2"}, {"__text": "RTU", "__value": "RTU"}])
    );
    let zones = g.ok("/variable", &json!({"payload": "zones"}));
    assert_eq!(
        zones[0],
        json!({"__text": "Z-NORTH (North DMA)", "__value": "Z-NORTH"})
    );
    assert_eq!(zones.as_array().unwrap().len(), 4);
    let pts = g.ok(
        "/variable",
        &json!({"payload": "{\"target\": \"points\", \"site\": \"SS-12\", \"device\": \"F2\"}"}),
    );
    assert!(
        pts.as_array()
            .unwrap()
            .iter()
            .any(|p| p["__value"] == "breaker_tripped"),
        "{pts}"
    );
    assert_eq!(
        g.post("/variable", &json!({"payload": {"target": "pumps"}}))
            .0,
        400
    );

    assert_eq!(
        g.ok("/tag-keys", &json!({})),
        json!([{"type": "string", "text": "site"}, {"type": "string", "text": "zone"},
               {"type": "string", "text": "priority"}])
    );
    assert_eq!(
        g.ok("/tag-values", &json!({"key": "priority"})),
        json!([{"text": "critical"}, {"text": "high"}, {"text": "medium"}, {"text": "low"}])
    );
    assert_eq!(
        g.ok("/tag-values", &json!({"key": "site"}))
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(g.ok("/tag-values", &json!({"key": "City"})), json!([]));

    let found = g.ok("/search", &json!({"target": "pressure_bar"}));
    assert_eq!(found, json!(["PS-01/PT-101/pressure_bar"]));
    let all = g.ok("/search", &json!({"target": ""}));
    assert_eq!(all[0], "point");

    let pre = g.raw("OPTIONS", "/annotations", b"");
    assert_eq!(pre.status, 200, "{}", pre.body);
    assert_eq!(
        pre.header("access-control-allow-headers"),
        Some("accept, content-type")
    );
    assert_eq!(pre.header("access-control-allow-methods"), Some("POST"));
    assert_eq!(pre.header("access-control-allow-origin"), Some("*"));
}

/// Bodies Grafana would never send: 400 with a JSON error, never a 5xx.
fn bad_bodies(g: &Grafana) {
    let cases: [(&str, &[u8]); 9] = [
        ("/query", b"{\"targets\": [}"),
        ("/query", b"[]"),
        ("/query", b"{\"targets\": \"point\"}"),
        ("/query", b"{\"range\": {\"from\": \"yesterday\", \"to\": \"now\"}, \"targets\": []}"),
        ("/query", b"{\"maxDataPoints\": 0, \"targets\": []}"),
        ("/query", b"{\"targets\": [{\"target\": \"pumps\", \"refId\": \"A\"}]}"),
        ("/query", b"{\"targets\": [{\"target\": \"point\", \"refId\": \"A\", \"payload\": {\"site\": \"PS-01\"}}]}"),
        ("/query", b"{\"adhocFilters\": [{\"key\": \"site\", \"operator\": \"=~\", \"value\": \"PS.*\"}], \"targets\": []}"),
        ("/metric-payload-options", b"not json"),
    ];
    for (path, body) in cases {
        let r = g.raw("POST", path, body);
        assert_eq!(
            r.status,
            400,
            "{path} {}: {}",
            String::from_utf8_lossy(body),
            r.body
        );
        assert!(r.json()["error"].is_string(), "{}", r.body);
    }
    // An empty body is an empty request.
    assert_eq!(g.raw("POST", "/tag-keys", b"").status, 200);
    assert_eq!(g.raw("POST", "/nothing", b"{}").status, 404);
}

/// `sites`: each site with its devices up, once polled.
fn sites_come_up(g: &Grafana) {
    let body = json!({"targets": [{"target": "sites", "refId": "A", "payload": {}}]});
    // PS-01 only: BH-03's level transmitter falls silent with the faults.
    let all = eventually(Duration::from_secs(20), "PS-01 up", || {
        let v = g.ok("/query", &body);
        let r = rows(&v[0]);
        r.iter()
            .any(|s| s["site"] == "PS-01" && s["up"] == true)
            .then_some(r)
    });
    let ps = all.iter().find(|s| s["site"] == "PS-01").unwrap();
    assert_eq!(ps["name"], "Pumping station 1");
    assert_eq!(
        (ps["devices"].as_u64(), ps["devices_up"].as_u64()),
        (Some(7), Some(7))
    );
    assert_eq!(all.len(), 3);
    let filtered = g.ok(
        "/query",
        &json!({"targets": [{"target": "sites"}],
        "adhocFilters": [{"key": "zone", "operator": "=", "value": "Z-SS12-F1"}]}),
    );
    let only: Vec<Value> = rows(&filtered[0])
        .iter()
        .map(|r| r["site"].clone())
        .collect();
    assert_eq!(only, [json!("SS-12")], "the zone's feeding site");
}

/// A point's series: the history's real values in the range, then downsampled to the
/// asked number of points with bucket means.
fn point_series(d: &InProcess, g: &Grafana) {
    let history = eventually(Duration::from_secs(20), "8 samples of PT-101", || {
        let h = get(d, "/api/v1/points/PS-01/PT-101/pressure_bar")["history"]
            .as_array()
            .unwrap()
            .clone();
        (h.len() >= 8).then_some(h)
    });
    let t0 = history[0]["time_ns"].as_i64().unwrap();
    let t1 = history.last().unwrap()["time_ns"].as_i64().unwrap();
    let (from_ms, to_ms) = (
        t0.div_euclid(1_000_000),
        (t1 + 999_999).div_euclid(1_000_000),
    );
    let samples: Vec<(i64, f64)> = history
        .iter()
        .filter_map(|h| {
            Some((
                h["time_ns"].as_i64()?.div_euclid(1_000_000),
                h["value"].as_f64()?,
            ))
        })
        .collect();
    assert!(samples.len() >= 8, "good samples: {history:?}");
    let range = json!({"from": ms_text(from_ms), "to": ms_text(to_ms), "raw": {"from": "now-6h", "to": "now"}});

    // Every sample when there is room: the first target from its payload, the second as a
    // path with no payload, a hidden third skipped; panelId as a string.
    let v = g.ok("/query", &json!({
        "panelId": "Q-1599986187842-0.164611811105138-0", "range": range, "rangeRaw": {"from": "now-6h", "to": "now"},
        "interval": "100ms", "intervalMs": 100, "maxDataPoints": 550,
        "scopedVars": {"__interval": {"text": "100ms", "value": "100ms"}, "__interval_ms": {"text": 100, "value": 100}},
        "targets": [
            {"target": "point", "refId": "A", "payload": {"site": "PS-01", "device": "PT-101", "point": "pressure_bar"}, "datasource": {"type": "simpod-json-datasource"}},
            {"target": "PS-01/PT-101/pressure_bar", "refId": "B"},
            {"target": "sites", "refId": "C", "hide": true}
        ],
        "adhocFilters": []}));
    let want: Vec<Value> = samples.iter().map(|(t, x)| json!([x, t])).collect();
    assert_eq!(v.as_array().unwrap().len(), 2, "{v}");
    assert_eq!(v[0]["target"], "PS-01/PT-101/pressure_bar (bar)");
    assert_eq!(v[0]["datapoints"], json!(want));
    assert_eq!(v[1], v[0]);

    // At most 3 points: buckets of ⌈span / 3⌉ ms from the range's start, their means.
    let s = g.one(&range, json!({"target": "point", "refId": "A", "payload": {"site": "PS-01", "device": "PT-101", "point": "pressure_bar"}}));
    let many = s["datapoints"].as_array().unwrap().len();
    assert_eq!(many, samples.len(), "maxDataPoints 500 keeps all");
    let v = g.ok("/query", &json!({"panelId": 2, "range": range, "intervalMs": 1, "maxDataPoints": 3,
        "targets": [{"target": "PS-01/PT-101/pressure_bar", "refId": "A", "type": "timeserie"}], "format": "json"}));
    let width = (to_ms - from_ms + 1 + 2) / 3;
    let mut expected: Vec<(i64, Vec<f64>)> = Vec::new();
    for (t, x) in &samples {
        let start = from_ms + (t - from_ms) / width * width;
        match expected.last_mut() {
            Some((s, xs)) if *s == start => xs.push(*x),
            _ => expected.push((start, vec![*x])),
        }
    }
    let got = v[0]["datapoints"].as_array().unwrap();
    assert!(got.len() <= 3, "{v}");
    assert_eq!(got.len(), expected.len(), "{v}");
    for (p, (start, xs)) in got.iter().zip(&expected) {
        let mean = xs.iter().map(|x| x / xs.len() as f64).sum::<f64>();
        assert_eq!(p[1].as_i64(), Some(*start));
        assert!(
            (p[0].as_f64().unwrap() - mean).abs() < 1e-9,
            "{p} vs {mean}"
        );
        assert!((from_ms..=to_ms).contains(start));
    }

    // The legacy table form of the same point.
    let t = g.one(
        &range,
        json!({"target": "PS-01/PT-101/pressure_bar", "refId": "A", "type": "table"}),
    );
    assert_eq!(column_names(&t), ["time", "value"]);
    assert_eq!(t["rows"].as_array().unwrap().len(), samples.len());

    // An ad hoc filter on another site drops the series.
    let v = g.ok(
        "/query",
        &json!({"range": range, "targets": [{"target": "PS-01/PT-101/pressure_bar"}],
        "adhocFilters": [{"key": "site", "operator": "=", "value": "SS-12"}]}),
    );
    assert_eq!(v, json!([]));
}

/// `consumption_alerts`: the CRM's alerts counted by zone and classification.
fn consumption_alerts(d: &InProcess, g: &Grafana) {
    let alerts: Vec<Value> = (0..3)
        .map(|i| json!({"alert_id": format!("G-{i}"), "customer_ref": format!("C-{i}"), "meter_id": format!("M-{i}"),
            "utility": "water", "zone": "Z-SOUTH", "period_start": "2026-09-01", "period_end": "2026-11-01",
            "consumption": 80.0, "reference_consumption": 21.0, "unit": "m3"}))
        .collect();
    let (status, r) = d.call(
        "POST",
        "/api/v1/consumption-alerts",
        &[],
        Some(&json!(alerts)),
    );
    assert_eq!((status, &r["stored"]), (200, &json!(3)), "{r}");
    let range = json!({"from": "2026-10-01T00:00:00.000Z", "to": "2026-10-31T00:00:00.000Z"});
    let t = g.one(
        &range,
        json!({"target": "consumption_alerts", "refId": "A", "payload": {"zone": "Z-SOUTH"}}),
    );
    assert_eq!(column_names(&t), ["zone", "classification", "count"]);
    let r = rows(&t);
    assert!(r.iter().all(|x| x["zone"] == "Z-SOUTH"), "{t}");
    assert_eq!(
        r.iter().map(|x| x["count"].as_u64().unwrap()).sum::<u64>(),
        3,
        "{t}"
    );
    let before = json!({"from": "2025-01-01T00:00:00.000Z", "to": "2025-02-01T00:00:00.000Z"});
    let t = g.one(
        &before,
        json!({"target": "consumption_alerts", "refId": "A"}),
    );
    assert_eq!(t["rows"], json!([]), "no alert in that range");
}

/// The feeder trip: its alarm in the active tables, counts and annotations, its outage
/// and incident; acknowledged after it clears, its episode closes.
fn feeder_trip(d: &InProcess, g: &Grafana) {
    let range = last_hour();
    let active = |payload: Value, adhoc: Value| {
        let v = g.ok(
            "/query",
            &json!({"panelId": 3, "range": range, "targets": [
            {"target": "active_alarms", "refId": "A", "payload": payload}], "adhocFilters": adhoc}),
        );
        rows(&v[0])
    };
    let row = eventually(
        Duration::from_secs(30),
        "F2's alarm in active_alarms",
        || {
            active(json!({}), json!([]))
                .into_iter()
                .find(|r| r["id"] == F2)
        },
    );
    let alarm = get(d, &format!("/api/v1/alarms/{F2}"));
    assert_eq!(row["site"], "SS-12");
    assert_eq!(row["device"], "F2");
    assert_eq!(row["point"], "breaker_tripped");
    assert_eq!(row["alarm"], "discrete");
    assert_eq!(row["priority"], "critical");
    assert_eq!(row["message"], alarm["message"]);
    let raised: jiff::Timestamp = alarm["raised_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(row["time"].as_i64(), Some(raised.as_millisecond()));
    let t = g.one(&range, json!({"target": "active_alarms", "refId": "A"}));
    assert_eq!(
        column_names(&t),
        [
            "time", "site", "device", "point", "alarm", "priority", "state", "value", "limit",
            "message", "id"
        ]
    );

    // Filters: by payload priority, by ad hoc site.
    let high = active(json!({"priority": ["high", "medium"]}), json!([]));
    assert!(
        high.iter()
            .all(|r| r["priority"] == "high" || r["priority"] == "medium")
    );
    assert!(!high.iter().any(|r| r["id"] == F2));
    let ss12 = active(
        json!({}),
        json!([{"key": "site", "operator": "=", "value": "SS-12"}]),
    );
    assert!(ss12.iter().any(|r| r["id"] == F2) && ss12.iter().all(|r| r["site"] == "SS-12"));
    let not = active(
        json!({}),
        json!([{"key": "site", "operator": "!=", "value": "SS-12"}]),
    );
    assert!(!not.iter().any(|r| r["site"] == "SS-12"));

    // Counts by priority agree with the REST list.
    let listed = get(d, "/api/v1/alarms?site=SS-12");
    let counts = g.one(
        &range,
        json!({"target": "alarm_counts", "refId": "A", "payload": {"site": "SS-12"}}),
    );
    let by: Vec<(String, u64)> = rows(&counts)
        .iter()
        .map(|r| {
            (
                r["priority"].as_str().unwrap().to_string(),
                r["count"].as_u64().unwrap(),
            )
        })
        .collect();
    for (p, n) in &by {
        let want = listed
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["priority"] == p.as_str())
            .count();
        assert_eq!(*n as usize, want, "{p}: {counts} vs {listed}");
    }
    assert_eq!(
        by.iter().map(|b| b.0.as_str()).collect::<Vec<_>>(),
        ["critical", "high", "medium", "low"]
    );
    assert!(by[0].1 >= 1);

    // The outage of F2's zone and its incident, as the REST API lists them.
    let outages = eventually(Duration::from_secs(15), "F2's outage in outages", || {
        let t = g.one(
            &range,
            json!({"target": "outages", "refId": "A", "payload": {"zone": "Z-SS12-F2"}}),
        );
        let r = rows(&t);
        (!r.is_empty()).then_some(r)
    });
    let rest = get(d, "/api/v1/outages?zone=Z-SS12-F2");
    let o = &rest["outages"][0];
    assert_eq!(outages[0]["id"], o["id"]);
    assert_eq!(outages[0]["status"], "active");
    assert_eq!(outages[0]["cause"], "breaker_trip");
    assert_eq!(outages[0]["zones"], "Z-SS12-F2");
    let start: jiff::Timestamp = o["start"].as_str().unwrap().parse().unwrap();
    assert_eq!(outages[0]["start"].as_i64(), Some(start.as_millisecond()));
    let incidents = eventually(Duration::from_secs(15), "an incident", || {
        let t = g.one(
            &range,
            json!({"target": "incidents", "refId": "A", "payload": {"status": []}}),
        );
        let r = rows(&t);
        (!r.is_empty()).then_some(r)
    });
    let rest = get(d, "/api/v1/incidents");
    let rest_ids: Vec<Value> = rest["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["status"] != "closed")
        .map(|i| i["id"].clone())
        .collect();
    let ids: Vec<Value> = incidents.iter().map(|i| i["id"].clone()).collect();
    assert_eq!(ids, rest_ids);
    let closed = g.one(
        &range,
        json!({"target": "incidents", "refId": "A", "payload": {"status": ["closed"]}}),
    );
    assert_eq!(closed["rows"], json!([]));

    // The episode is an annotation still going on; the legacy endpoint serves it too.
    let events = |site: &str| {
        let t = g.one(
            &last_hour(),
            json!({"target": "alarm_events", "refId": "A", "payload": {"site": site}}),
        );
        assert_eq!(
            column_names(&t),
            ["time", "timeEnd", "title", "text", "tags"]
        );
        rows(&t)
    };
    let ep = events("SS-12")
        .into_iter()
        .find(|e| e["tags"].as_array().unwrap().contains(&json!("F2")))
        .unwrap();
    assert_eq!(ep["time"].as_i64(), Some(raised.as_millisecond()));
    assert!(ep["timeEnd"].as_i64().unwrap() >= raised.as_millisecond());
    assert_eq!(
        ep["tags"],
        json!(["SS-12", "F2", "breaker_tripped", "discrete", "critical"])
    );
    assert_eq!(ep["text"], alarm["message"]);
    assert!(events("PS-01").iter().all(|e| e["tags"][0] == "PS-01"));
    let legacy = g.ok("/annotations", &json!({"range": last_hour(), "rangeRaw": {"from": "now-1h", "to": "now"},
        "annotation": {"name": "alarms", "datasource": "Simple JSON Datasource", "iconColor": "rgba(255, 96, 96, 1)",
                       "enable": true, "query": "alarm_events site=SS-12 priority=critical"}}));
    let l = legacy
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["tags"] == ep["tags"])
        .unwrap_or_else(|| panic!("{legacy}"));
    assert_eq!(l["annotation"]["name"], "alarms");
    assert_eq!(l["time"], ep["time"]);
    assert_eq!(l["title"], ep["title"]);
    assert_eq!(
        g.post(
            "/annotations",
            &json!({"range": last_hour(), "annotation": {"query": "#deploy"}})
        )
        .0,
        400
    );

    // No flood in the demo (fewer than 11 alarms in 10 minutes): no band.
    let floods = g.one(&range, json!({"target": "alarm_floods", "refId": "A"}));
    assert_eq!(
        column_names(&floods),
        ["time", "timeEnd", "title", "text", "tags"]
    );
    assert_eq!(floods["rows"], json!([]));

    // The trip clears; acknowledged, the alarm is back to normal and the episode closes
    // at that event.
    eventually(Duration::from_secs(30), "F2 returned to normal", || {
        (get(d, &format!("/api/v1/alarms/{F2}"))["state"] == "rtn_unacknowledged").then_some(())
    });
    let (status, a) = d.call(
        "POST",
        &format!("/api/v1/alarms/{F2}/ack"),
        &[],
        Some(&json!({"operator": "amina"})),
    );
    assert_eq!(status, 200, "{a}");
    let history = get(d, &format!("/api/v1/alarms/history?alarm={F2}"));
    let normal = history["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["to_state"] == "normal")
        .unwrap()
        .clone();
    let normal_at: jiff::Timestamp = normal["time"].as_str().unwrap().parse().unwrap();
    let ep = events("SS-12")
        .into_iter()
        .find(|e| e["tags"][1] == "F2")
        .unwrap();
    assert_eq!(ep["time"].as_i64(), Some(raised.as_millisecond()));
    assert_eq!(ep["timeEnd"].as_i64(), Some(normal_at.as_millisecond()));
    assert!(!active(json!({}), json!([])).iter().any(|r| r["id"] == F2));

    // The KPIs are /metrics' figures.
    let kpis = rows(&g.one(&range, json!({"target": "alarm_kpis", "refId": "A"})))[0].clone();
    let (_, text) = support::http("GET", &format!("{}/metrics", d.base), "");
    let gauge = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name}"))
            .parse()
            .unwrap()
    };
    assert_eq!(
        kpis["activations_24h"].as_f64(),
        Some(gauge("vigie_alarm_activations_24h"))
    );
    assert_eq!(
        kpis["peak_10_minutes_24h"].as_f64(),
        Some(gauge("vigie_alarm_peak_10_minutes_24h"))
    );
    assert_eq!(
        kpis["floods_24h"].as_f64(),
        Some(gauge("vigie_alarm_floods_24h"))
    );
    assert_eq!(
        kpis["standing"].as_f64(),
        Some(gauge("vigie_alarm_standing"))
    );
    assert!(kpis["activations_24h"].as_f64().unwrap() >= 1.0);
}
