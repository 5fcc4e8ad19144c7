//! Sites, a point's series and consumption alerts.

use super::support::daemon::InProcess;
use super::support::eventually;
use super::{Grafana, column_names, get, ms_text, rows};
use serde_json::{Value, json};
use std::time::Duration;

/// `sites`: each site with its devices up, once polled.
pub fn sites_come_up(g: &Grafana) {
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
pub fn point_series(d: &InProcess, g: &Grafana) {
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
pub fn consumption_alerts(d: &InProcess, g: &Grafana) {
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
