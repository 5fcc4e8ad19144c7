//! Bearer tokens with roles on a running vigie (README "Authentication"): every route
//! answers 401 without a valid token, 403 to a role it does not accept, and serves the roles
//! it accepts; probes and `/metrics` stay open; each token has its own request rate.

mod support;

use serde_json::{Value, json};
use std::path::Path;
use support::daemon::{InProcess, load_config};
use vigie::config::tokens::{Role, new_token, toml_entry};

/// A zone, a site, and one token per role (role → token), at `rate` requests/s and `burst`.
fn network(tmp: &Path, rate: u32, burst: u32) -> (vigie::config::Network, Vec<(Role, String)>) {
    let tokens: Vec<(Role, String)> = Role::ALL.into_iter().map(|r| (r, new_token())).collect();
    let entries: String = tokens
        .iter()
        .map(|(r, t)| toml_entry(&format!("{r}-holder"), *r, t))
        .collect::<Vec<_>>()
        .join("\n");
    let text = format!(
        r#"
[daemon]
profiles_dir = {profiles:?}
data_dir = {data:?}
[api]
rate_limit_per_s = {rate}
rate_limit_burst = {burst}
{entries}
[[zones]]
id = "Z-NORTH"
utility = "water"
fed_by = ["PS-01"]
[[sites]]
id = "PS-01"
kind = "pumping_station"
"#,
        profiles = Path::new(env!("CARGO_MANIFEST_DIR")).join("plc-profiles"),
        data = tmp.join("var"),
    );
    (load_config(tmp, &text), tokens)
}

/// Every route with a request its handler accepts, and the roles that may call it
/// (the table of README "Authentication").
fn routes() -> Vec<(&'static str, String, Option<Value>, &'static [Role])> {
    use Role::*;
    let read: &'static [Role] = &[Viewer, Operator, Engineer];
    let shared: &'static [Role] = &[Viewer, Operator, Engineer, Crm];
    let alert = json!([{
        "alert_id": "CRM-1", "customer_ref": "C-1", "meter_id": "M-1", "utility": "water",
        "zone": "Z-NORTH", "period_start": "2026-10-01T00:00:00Z",
        "period_end": "2026-11-01T00:00:00Z", "consumption": 48.0,
        "reference_consumption": 21.0, "unit": "m3"
    }]);
    let incident = json!({"title": "Burst", "priority": "high", "zone": "Z-NORTH"});
    let works = json!({
        "zones": ["Z-NORTH"], "description": "Main replacement",
        "start": "2030-01-01T08:00:00Z", "end": "2030-01-01T12:00:00Z"
    });
    vec![
        ("GET", "/api/v1/points".into(), None, read),
        ("GET", "/api/v1/points/PS-01/none/x".into(), None, read),
        ("GET", "/api/v1/alarms/PS-01:none:x:high".into(), None, read),
        (
            "POST",
            "/api/v1/alarms/PS-01:none:x:high/shelve".into(),
            Some(json!({"operator": "amina", "comment": "sensor swap", "duration": "1h"})),
            &[Operator, Engineer],
        ),
        ("GET", "/api/v1/incidents/1".into(), None, shared),
        (
            "PATCH",
            "/api/v1/incidents/1".into(),
            Some(json!({"actor": "youssef", "status": "acknowledged"})),
            &[Engineer],
        ),
        (
            "POST",
            "/api/v1/incidents/1/comments".into(),
            Some(json!({"actor": "youssef", "text": "crew sent"})),
            &[Engineer],
        ),
        ("GET", "/api/v1/outages/1".into(), None, shared),
        (
            "PATCH",
            "/api/v1/outages/1".into(),
            Some(json!({"status": "cancelled"})),
            &[Engineer],
        ),
        ("GET", "/api/v1/alarms".into(), None, read),
        ("GET", "/api/v1/alarms/history".into(), None, read),
        ("GET", "/api/v1/alarms/kpis".into(), None, read),
        (
            "POST",
            "/api/v1/alarms/PS-01:none:x:high/ack".into(),
            Some(json!({"operator": "amina"})),
            &[Operator, Engineer],
        ),
        ("GET", "/api/v1/consumption-alerts".into(), None, shared),
        (
            "POST",
            "/api/v1/consumption-alerts".into(),
            Some(alert),
            &[Crm],
        ),
        ("GET", "/api/v1/incidents".into(), None, shared),
        (
            "POST",
            "/api/v1/incidents".into(),
            Some(incident),
            &[Engineer],
        ),
        ("GET", "/api/v1/outages".into(), None, shared),
        ("GET", "/api/v1/outages.geojson".into(), None, shared),
        ("POST", "/api/v1/outages".into(), Some(works), &[Engineer]),
        ("GET", "/grafana".into(), None, read),
        ("POST", "/grafana/metrics".into(), Some(json!({})), read),
        (
            "POST",
            "/grafana/query".into(),
            Some(
                json!({"range": {"from": "2026-01-01T00:00:00Z", "to": "2026-01-01T01:00:00Z"},
                        "targets": [{"target": "sites", "refId": "A"}]}),
            ),
            read,
        ),
    ]
}

#[test]
fn each_route_serves_the_roles_it_states_and_refuses_the_others() {
    let tmp = tempfile::tempdir().unwrap();
    let (net, tokens) = network(tmp.path(), 1000, 1000);
    let v = InProcess::start(&net);
    for (method, path, body, accepted) in routes() {
        let (status, answer) = v.call(method, &path, &[], body.as_ref());
        assert_eq!(status, 401, "{method} {path} without a token: {answer}");
        assert!(answer["error"].is_string(), "{method} {path}: {answer}");
        let (status, answer) = v.call(
            method,
            &path,
            &[("Authorization", "Bearer vigie_not_configured")],
            body.as_ref(),
        );
        assert_eq!(status, 401, "{method} {path}, unknown token: {answer}");
        for (role, token) in &tokens {
            let auth = format!("Bearer {token}");
            let (status, answer) =
                v.call(method, &path, &[("Authorization", &auth)], body.as_ref());
            if accepted.contains(role) {
                assert!(
                    status != 401 && status != 403 && status < 500,
                    "{method} {path} as {role}: {status} {answer}"
                );
            } else {
                assert_eq!(status, 403, "{method} {path} as {role}: {answer}");
                let e = answer["error"].as_str().unwrap();
                assert!(e.contains(&format!("role {role}")), "{e}");
            }
        }
    }
    // Probes and the Prometheus scrape take no token; an unknown route stays a 404.
    for path in ["/health", "/metrics"] {
        let (status, _) = v.call("GET", path, &[], None);
        assert_eq!(status, 200, "{path}");
    }
    let (status, _) = v.call("GET", "/api/v1/nothing-here", &[], None);
    assert_eq!(status, 404);
    let metrics = support::http("GET", &format!("{}/metrics", v.base), "").1;
    let refused = |reason: &str| -> u64 {
        let prefix = format!("vigie_api_denied_total{{reason=\"{reason}\"}} ");
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no {prefix} in {metrics}"))
            .parse()
            .unwrap()
    };
    assert_eq!(refused("unauthorized"), 46, "{metrics}");
    assert_eq!(refused("forbidden"), 31, "{metrics}");
    // The CORS preflight of Grafana's direct (browser) access takes no token.
    let (status, _) = v.call("OPTIONS", "/grafana/annotations", &[], None);
    assert_eq!(status, 200);
}

#[test]
fn a_token_over_its_rate_gets_429_and_others_are_not_slowed() {
    let tmp = tempfile::tempdir().unwrap();
    let (net, tokens) = network(tmp.path(), 1, 5);
    let v = InProcess::start(&net);
    let auth = |role: Role| {
        let t = &tokens.iter().find(|(r, _)| *r == role).unwrap().1;
        format!("Bearer {t}")
    };
    let viewer = auth(Role::Viewer);
    let statuses: Vec<u16> = (0..8)
        .map(|_| {
            support::request(
                "GET",
                &format!("{}/api/v1/alarms", v.base),
                &[("Authorization", &viewer)],
                b"",
            )
            .status
        })
        .collect();
    assert_eq!(
        &statuses[..5],
        &[200; 5],
        "the burst is served: {statuses:?}"
    );
    assert!(statuses[5..].contains(&429), "{statuses:?}");
    let r = support::request(
        "GET",
        &format!("{}/api/v1/alarms", v.base),
        &[("Authorization", &viewer)],
        b"",
    );
    assert_eq!(r.status, 429);
    let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=2).contains(&wait), "Retry-After {wait}");
    assert!(r.json()["error"].as_str().unwrap().contains("retry in"));
    // Probes and the scrape are never limited, even with the shared bucket empty.
    for _ in 0..10 {
        support::request("GET", &format!("{}/api/v1/alarms", v.base), &[], b"");
    }
    for path in ["/health", "/ready", "/metrics"] {
        let (status, _) = v.call("GET", path, &[], None);
        assert_ne!(status, 429, "{path}");
    }
    // The CRM's token has its own bucket.
    let (status, _) = v.call(
        "GET",
        "/api/v1/outages",
        &[("Authorization", &auth(Role::Crm))],
        None,
    );
    assert_eq!(status, 200);
    // And the viewer is served again once its bucket refills.
    std::thread::sleep(std::time::Duration::from_millis(1100 * wait));
    let (status, _) = v.call("GET", "/api/v1/alarms", &[("Authorization", &viewer)], None);
    assert_eq!(status, 200);
}

#[test]
fn an_open_api_refuses_to_listen_beyond_loopback() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("vigie.toml");
    std::fs::write(
        &path,
        format!(
            "[daemon]\nprofiles_dir = {:?}\ndata_dir = {:?}\n[api]\nlisten = \"0.0.0.0:8080\"\n",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("plc-profiles"),
            tmp.path().join("var")
        ),
    )
    .unwrap();
    let errors = vigie::config::load(&path, Some(Default::default())).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].key, "api.listen");
    assert_eq!(errors[0].line, Some(5));
    assert!(
        errors[0].message.contains("no [[api.tokens]]"),
        "{errors:?}"
    );
    // `vigie run --listen` cannot get around it either.
    let net = {
        std::fs::write(
            &path,
            format!(
                "[daemon]\nprofiles_dir = {:?}\ndata_dir = {:?}\n",
                Path::new(env!("CARGO_MANIFEST_DIR")).join("plc-profiles"),
                tmp.path().join("var")
            ),
        )
        .unwrap();
        vigie::config::load(&path, Some(Default::default())).unwrap()
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let refused = rt.block_on(vigie::daemon::start(
        &net,
        Some("0.0.0.0:0".parse().unwrap()),
    ));
    let Err(e) = refused else {
        panic!("an open API started on 0.0.0.0");
    };
    assert!(e.to_string().contains("no [[api.tokens]]"), "{e}");
}

#[test]
fn an_unreadable_authorization_header_is_a_401_and_a_big_body_without_token_too() {
    let tmp = tempfile::tempdir().unwrap();
    let (net, _) = network(tmp.path(), 1000, 1000);
    let v = InProcess::start(&net);
    let (status, answer) = v.call(
        "GET",
        "/api/v1/alarms",
        &[("Authorization", "Bearer vigie_\u{e9}t\u{e9}")],
        None,
    );
    assert_eq!(status, 401, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("not `Bearer TOKEN`"),
        "{answer}"
    );
    let (status, _) = v.call("GET", "/health", &[("Authorization", "\u{e9}")], None);
    assert_eq!(status, 200);
    // Who may post is checked before the body is read: a 9 MiB body announced without a
    // token gets 401 at once (not 413, and vigie reads none of it).
    use std::io::{Read, Write};
    let addr = v.base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "POST /api/v1/consumption-alerts HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        9 << 20
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
}
