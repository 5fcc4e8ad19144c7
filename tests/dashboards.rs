//! The Grafana dashboards in `dashboards/` and their provisioning files:
//!
//! 1. every file is classic dashboard JSON on the two provisioned datasources;
//! 2. every InfluxQL query (panels, annotations, template variables), with the variables
//!    filled in with each value they offer, returns data from a real InfluxDB 1.x (Debian's
//!    `influxd`) that vigie filled while polling the demo's network (its faults brought
//!    forward, and a "night" of 20 s so a minimum night flow is written);
//! 3. every target on vigie's JSON datasource names a metric `/grafana/metrics` lists, with
//!    payloads it accepts, and `/grafana/query` answers it.

#[path = "dashboards/model.rs"]
mod model;
mod support;

use model::{INFLUX_UID, Query, VIGIE_UID};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use support::daemon::InProcess;
use support::demo::{Sim, sim_config};
use support::{InfluxV1, eventually, request, urlencode};

/// The dashboards the issue asks for, by uid.
const EXPECTED: [&str; 5] = [
    "vigie-overview",
    "vigie-pumping-station",
    "vigie-substation",
    "vigie-alarms",
    "vigie-zones",
];

fn yaml_str<'a>(v: &'a serde_yaml::Value, key: &str) -> &'a str {
    v.get(key).and_then(|x| x.as_str()).unwrap_or("")
}

#[test]
fn dashboards_are_classic_json_on_the_provisioned_datasources() {
    // Datasources: the two uids the dashboards use, with Grafana's env expansion.
    let ds = model::provisioning("datasources/vigie.yaml");
    let list = ds["datasources"]
        .as_sequence()
        .expect("datasources: a list");
    let by_uid: BTreeMap<&str, &serde_yaml::Value> =
        list.iter().map(|d| (yaml_str(d, "uid"), d)).collect();
    assert_eq!(
        by_uid.keys().copied().collect::<Vec<_>>(),
        [VIGIE_UID, INFLUX_UID]
    );
    let influx = by_uid[INFLUX_UID];
    assert_eq!(yaml_str(influx, "type"), "influxdb");
    assert_eq!(yaml_str(influx, "url"), "${INFLUXDB_URL}");
    assert_eq!(yaml_str(influx, "database"), "${INFLUXDB_DATABASE}");
    let vigie = by_uid[VIGIE_UID];
    assert_eq!(yaml_str(vigie, "type"), "simpod-json-datasource");
    assert_eq!(yaml_str(vigie, "url"), "${VIGIE_URL}/grafana");
    assert_eq!(
        yaml_str(&vigie["jsonData"], "httpHeaderName1"),
        "Authorization"
    );
    assert_eq!(
        yaml_str(&vigie["secureJsonData"], "httpHeaderValue1"),
        "Bearer ${VIGIE_GRAFANA_TOKEN}"
    );
    let types: BTreeMap<&str, &str> = by_uid
        .iter()
        .map(|(u, d)| (*u, yaml_str(d, "type")))
        .collect();

    // The dashboards provider: the folder "vigie", the path the JSON files are mounted at.
    let prov = model::provisioning("dashboards/vigie.yaml");
    let providers = prov["providers"].as_sequence().expect("providers: a list");
    assert_eq!(providers.len(), 1);
    let p = &providers[0];
    assert_eq!(
        (yaml_str(p, "type"), yaml_str(p, "folder")),
        ("file", "vigie")
    );
    assert_eq!(
        yaml_str(&p["options"], "path"),
        "/var/lib/grafana/dashboards"
    );

    let boards = model::dashboards();
    let uids: BTreeSet<&str> = boards
        .iter()
        .filter_map(|(_, d)| d["uid"].as_str())
        .collect();
    assert_eq!(uids, EXPECTED.into_iter().collect(), "dashboard uids");
    assert_eq!(
        uids.len(),
        boards.len(),
        "one dashboard per file, unique uids"
    );
    for (file, d) in &boards {
        let uid = d["uid"].as_str().unwrap();
        assert!(
            (8..=40).contains(&uid.len()),
            "{file}: uid {uid} is 8-40 characters"
        );
        assert!(
            d["title"].as_str().is_some_and(|t| !t.is_empty()),
            "{file}: title"
        );
        assert!(
            d["schemaVersion"].as_u64().is_some(),
            "{file}: schemaVersion"
        );
        assert!(d["id"].is_null(), "{file}: id null (Grafana assigns it)");
        let vars = model::variables(d);
        let names: BTreeSet<&str> = vars.iter().map(|v| v.name.as_str()).collect();
        assert!(
            names.contains("site") || names.contains("zone"),
            "{file}: a site or zone variable"
        );
        for v in &vars {
            assert_eq!(v.uid, INFLUX_UID, "{file}: variable {} on InfluxDB", v.name);
            assert!(
                v.query.starts_with("SHOW TAG VALUES"),
                "{file}: {}",
                v.query
            );
        }

        // Panels: on the 24-column grid, no two overlapping, each on a provisioned datasource.
        let panels = model::panels(d);
        assert!(panels.len() >= 4, "{file}: panels");
        let mut ids = BTreeSet::new();
        let mut boxes: Vec<(&str, [i64; 4])> = Vec::new();
        for p in &panels {
            let title = p["title"].as_str().unwrap_or("?");
            assert!(
                ids.insert(p["id"].as_i64()),
                "{file}: {title}: duplicate id"
            );
            let g = &p["gridPos"];
            let [h, w, x, y] = ["h", "w", "x", "y"].map(|k| {
                g[k].as_i64()
                    .unwrap_or_else(|| panic!("{file}: {title}: gridPos.{k}"))
            });
            assert!(
                h > 0 && w > 0 && x >= 0 && y >= 0 && x + w <= 24,
                "{file}: {title}: {g}"
            );
            for (other, [ox, oy, ow, oh]) in &boxes {
                let apart = x + w <= *ox || *ox + ow <= x || y + h <= *oy || *oy + oh <= y;
                assert!(apart, "{file}: {title} overlaps {other}");
            }
            boxes.push((title, [x, y, w, h]));
            if p["type"] == "row" {
                continue;
            }
            let uid = p["datasource"]["uid"].as_str().unwrap_or("");
            assert!(types.contains_key(uid), "{file}: {title}: datasource {uid}");
            assert!(
                p["targets"].as_array().is_some_and(|t| !t.is_empty()),
                "{file}: {title}"
            );
        }

        // Every query: a provisioned datasource of the right type; InfluxQL raw, time-bounded;
        // every variable it names defined.
        for q in model::queries(file, d) {
            let ty = types.get(q.uid.as_str()).copied();
            assert!(ty.is_some(), "{}: datasource {:?}", q.place, q.uid);
            let stated = q.target["datasource"]["type"].as_str();
            assert!(
                stated.is_none() || stated == ty,
                "{}: type {stated:?}",
                q.place
            );
            let text = if q.uid == INFLUX_UID {
                assert!(q.target.get("rawQuery").is_none() || q.target["rawQuery"] == true);
                assert!(
                    q.influxql().contains("$timeFilter"),
                    "{}: $timeFilter",
                    q.place
                );
                q.influxql().to_string()
            } else {
                assert!(q.target["target"].as_str().is_some(), "{}: target", q.place);
                q.target["payload"].to_string()
            };
            for v in model::variables_in(&text) {
                assert!(
                    names.contains(v.as_str()),
                    "{}: ${v} is not defined",
                    q.place
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// InfluxDB
// ---------------------------------------------------------------------------------------

fn now_s() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `HH:MM:SS` (UTC) of a Unix time in seconds.
fn hms(t: i64) -> String {
    let s = t.rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// An InfluxQL query as the provisioned datasource sends it (`GET /query`, `epoch=ms`, the
/// token header with `INFLUXDB_TOKEN` empty, as for an InfluxDB 1.x without auth): the
/// rows of every series, or the error InfluxDB gave.
fn run(influx: &InfluxV1, influxql: &str) -> Result<Vec<Vec<Value>>, String> {
    let url = format!(
        "{}/query?db={}&epoch=ms&q={}",
        influx.url,
        urlencode(&influx.db),
        urlencode(influxql)
    );
    let r = request("GET", &url, &[("Authorization", "Token ")], b"");
    let answer: Value =
        serde_json::from_str(&r.body).map_err(|e| format!("{} {e}: {}", r.status, r.body))?;
    let result = &answer["results"][0];
    if let Some(e) = result.get("error").or_else(|| answer.get("error")) {
        return Err(e.to_string());
    }
    let mut rows = Vec::new();
    for s in result["series"].as_array().into_iter().flatten() {
        for row in s["values"].as_array().into_iter().flatten() {
            rows.push(row.as_array().cloned().unwrap_or_default());
        }
    }
    Ok(rows)
}

/// Values of columns after the first (the time, or a SHOW's key) that are not null.
fn non_null(rows: &[Vec<Value>]) -> usize {
    rows.iter()
        .map(|r| r.iter().skip(1).filter(|v| !v.is_null()).count())
        .sum()
}

/// The demo's network polled by vigie writing to `influx`, with its faults 5 s after the
/// start for 15 s and a night-flow window of 20 s (2 s buckets) starting 6-8 s from now;
/// returns once the night's MNF and an annunciated alarm of each site are in InfluxDB.
fn load_the_demo(influx: &InfluxV1, tmp: &std::path::Path) {
    // A window within one UTC day.
    while hms(now_s() + 60) < hms(now_s()) {
        std::thread::sleep(Duration::from_secs(5));
    }
    let sim = Sim::start(sim_config("5s", "15s"));
    let start = (now_s() + 6) / 2 * 2 + 2;
    let extra = format!(
        r#"
[influxdb]
url = "{url}"
api = "v1"
database = "{db}"
flush_interval = "200ms"

[correlate.night_flow]
window_start = "{start}"
window_end = "{end}"
time_zone = "UTC"
bucket = "2s"
settle = "1s"
"#,
        url = influx.url,
        db = influx.db,
        start = hms(start),
        end = hms(start + 20),
    );
    let vigie = InProcess::start(&sim.network(&tmp.join("var"), &extra));
    eventually(
        Duration::from_secs(90),
        "the night's MNF in InfluxDB",
        || {
            let rows = run(influx, "SELECT min_night_flow_m3_per_h FROM zone_flow").ok()?;
            (!rows.is_empty()).then_some(())
        },
    );
    eventually(
        Duration::from_secs(30),
        "an annunciated alarm of each site",
        || {
            let q = "SELECT count(\"state\") FROM alarm_events \
                     WHERE \"state\" = 'active_unacknowledged' GROUP BY site";
            let answer = influx.query(q);
            let series = answer["results"][0]["series"].as_array()?.len();
            (series == 3).then_some(())
        },
    );
    vigie.stop();
    drop(sim);
}

/// Every (name, value) assignment of the variables `names`: each value alone, and for a
/// variable offering several, all of them at once as Grafana writes them (`(a|b)`).
fn assignments(
    names: &BTreeSet<String>,
    offered: &BTreeMap<String, (Vec<String>, bool)>,
) -> Vec<Vec<(String, String)>> {
    let mut out = vec![Vec::new()];
    for name in names {
        let (values, several) = &offered[name];
        let mut choices: Vec<String> = values.iter().map(|v| model::regex_escape(v)).collect();
        if *several && values.len() > 1 {
            choices.push(format!("({})", choices.join("|")));
        }
        out = out
            .into_iter()
            .flat_map(|a| {
                choices.iter().map(move |c| {
                    let mut a = a.clone();
                    a.push((name.clone(), c.clone()));
                    a
                })
            })
            .collect();
    }
    out
}

#[test]
fn every_influxql_query_of_every_dashboard_returns_data_from_the_demo() {
    let tmp = tempfile::tempdir().unwrap();
    let influx = InfluxV1::start();
    load_the_demo(&influx, tmp.path());

    // Grafana's macros for the last hour, as it expands them for InfluxQL.
    let now_ms = now_s() * 1000 + 1000;
    let macros = vec![
        (
            "timeFilter".to_string(),
            format!("time >= {}ms and time <= {now_ms}ms", now_ms - 3_600_000),
        ),
        ("__interval".to_string(), "10s".to_string()),
        ("interval".to_string(), "10s".to_string()),
    ];

    let mut report = Vec::new();
    let mut failures = Vec::new();
    let mut offered_by_board = BTreeMap::new();
    for (file, d) in model::dashboards() {
        // The template variables first: each must offer values.
        let mut offered = BTreeMap::new();
        for v in model::variables(&d) {
            let q = model::substitute(&v.query, &macros);
            let values: Vec<String> = match run(&influx, &q) {
                Ok(rows) => rows
                    .iter()
                    .filter_map(|r| r.get(1)?.as_str().map(str::to_string))
                    .collect(),
                Err(e) => {
                    failures.push(format!("{file}: variable {}: {e}: {q}", v.name));
                    Vec::new()
                }
            };
            report.push((
                format!("{file}: variable {}", v.name),
                values.join(","),
                values.len(),
                values.len(),
            ));
            if values.is_empty() {
                failures.push(format!("{file}: variable {} offers nothing: {q}", v.name));
            }
            offered.insert(v.name.clone(), (values, v.several));
        }
        let influx_queries: Vec<Query> = model::queries(&file, &d)
            .into_iter()
            .filter(|q| q.uid == INFLUX_UID)
            .collect();
        for q in influx_queries {
            let names = model::variables_in(q.influxql());
            for assignment in assignments(&names, &offered) {
                let mut values = macros.clone();
                values.extend(assignment.iter().cloned());
                let text = model::substitute(q.influxql(), &values);
                let with: Vec<String> =
                    assignment.iter().map(|(n, v)| format!("{n}={v}")).collect();
                match run(&influx, &text) {
                    Ok(rows) => {
                        let found = non_null(&rows);
                        report.push((q.place.clone(), with.join(" "), rows.len(), found));
                        if found == 0 {
                            failures.push(format!(
                                "{} ({}) found no data: {text}",
                                q.place,
                                with.join(" ")
                            ));
                        }
                    }
                    Err(e) => {
                        failures.push(format!("{} ({}): {e}: {text}", q.place, with.join(" ")))
                    }
                }
            }
        }
        offered_by_board.insert(file, offered);
    }

    // Rows: InfluxDB's rows (time buckets of every series); values: the non-null ones.
    println!(
        "{:<62} {:<28} {:>5} {:>6}",
        "query", "variables", "rows", "values"
    );
    for (place, with, rows, found) in &report {
        println!("{place:<62} {with:<28} {rows:>5} {found:>6}");
    }
    assert!(
        failures.is_empty(),
        "{} failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );

    // The variables offer what the demo has: the station and the substation dashboards
    // list only their kind of site; zones are the water zones with inflow points.
    let offered = |file: &str, var: &str| offered_by_board[file][var].0.clone();
    assert_eq!(offered("pumping-station.json", "site"), ["PS-01"]);
    assert_eq!(offered("substation.json", "site"), ["SS-12"]);
    assert_eq!(
        offered("overview.json", "site"),
        ["BH-03", "PS-01", "SS-12"]
    );
    assert_eq!(offered("zones.json", "zone"), ["Z-NORTH"]);
}

// ---------------------------------------------------------------------------------------
// vigie's JSON datasource
// ---------------------------------------------------------------------------------------

/// Needs vigie's `/grafana` routes (the grafana-ds branch): fails on a branch without them.
#[test]
fn every_vigie_datasource_target_is_a_metric_of_grafana_metrics() {
    let tmp = tempfile::tempdir().unwrap();
    let sim = Sim::start(sim_config("5s", "15s"));
    let vigie = InProcess::start(&sim.network(&tmp.path().join("var"), ""));

    let (status, metrics) = vigie.call("POST", "/grafana/metrics", &[], Some(&json!({})));
    assert_eq!(status, 200, "POST /grafana/metrics: {metrics}");
    let metrics: BTreeMap<String, BTreeSet<String>> = metrics
        .as_array()
        .unwrap_or_else(|| panic!("/grafana/metrics is not a list: {metrics}"))
        .iter()
        .map(|m| {
            let value = m["value"].as_str().unwrap_or("").to_string();
            let payloads = m["payloads"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| p["name"].as_str().map(str::to_string))
                .collect();
            (value, payloads)
        })
        .collect();

    let to = SystemTime::now();
    let from = to - Duration::from_secs(3600);
    let rfc = |t| humantime::format_rfc3339_millis(t).to_string();
    let mut checked = 0;
    for (file, d) in model::dashboards() {
        for q in model::queries(&file, &d)
            .into_iter()
            .filter(|q| q.uid == VIGIE_UID)
        {
            let target = q.target["target"].as_str().unwrap_or("");
            let Some(payloads) = metrics.get(target) else {
                panic!(
                    "{}: target {target:?} is not in /grafana/metrics: {metrics:?}",
                    q.place
                );
            };
            let payload = q.target["payload"].as_object().cloned().unwrap_or_default();
            for key in payload.keys() {
                assert!(
                    payloads.contains(key),
                    "{}: payload {key} not in {payloads:?}",
                    q.place
                );
            }
            // The request Grafana sends for it, the variables at one of the demo's values.
            let filled = model::substitute(
                &Value::Object(payload).to_string(),
                &[
                    ("site".into(), "PS-01".into()),
                    ("zone".into(), "Z-NORTH".into()),
                ],
            );
            let body = json!({
                "panelId": 1,
                "range": {"from": rfc(from), "to": rfc(to), "raw": {"from": "now-1h", "to": "now"}},
                "interval": "10s", "intervalMs": 10_000, "maxDataPoints": 500,
                "targets": [{"refId": "A", "target": target,
                             "payload": serde_json::from_str::<Value>(&filled).unwrap()}],
            });
            let (status, answer) = vigie.call("POST", "/grafana/query", &[], Some(&body));
            assert_eq!(
                status, 200,
                "{}: POST /grafana/query {body}: {answer}",
                q.place
            );
            assert!(answer.is_array(), "{}: {answer}", q.place);
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} vigie targets");
    vigie.stop();
    drop(sim);
}
