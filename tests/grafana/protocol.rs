//! The protocol's endpoints and the bodies it must refuse.

use super::Grafana;
use serde_json::{Value, json};

/// Connection test, metric list, payload options (both names), variables, tag keys and
/// values, the legacy search, the CORS preflight.
pub fn endpoints(g: &Grafana) {
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
        Some("accept, authorization, content-type")
    );
    assert_eq!(pre.header("access-control-allow-methods"), Some("POST"));
    assert_eq!(pre.header("access-control-allow-origin"), Some("*"));
}

/// Bodies Grafana would never send: 400 with a JSON error, never a 5xx.
pub fn bad_bodies(g: &Grafana) {
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
