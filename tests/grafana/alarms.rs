//! The feeder trip seen through the alarm tables and annotations, outages and incidents.

use super::support::daemon::InProcess;
use super::support::eventually;
use super::{Grafana, column_names, get, last_hour, rows};
use serde_json::{Value, json};
use std::time::Duration;

const F2: &str = "SS-12:F2:breaker_tripped:discrete";

/// The feeder trip: its alarm in the active tables, counts and annotations, its outage
/// and incident; acknowledged after it clears, its episode closes.
pub fn feeder_trip(d: &InProcess, g: &Grafana) {
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
    let (_, text) = super::support::http("GET", &format!("{}/metrics", d.base), "");
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
