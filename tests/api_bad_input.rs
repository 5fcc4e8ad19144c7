//! Bad input to every route that takes a body or a query string, against `vigie run` as a
//! process (issue 6, "Bad input"): oversized bodies, wrong JSON types, unknown fields,
//! injection strings (SQL, path traversal, NUL bytes), 1 MB strings, invalid UTF-8, deep
//! nesting, huge numbers, negative page sizes, bad cursors and bad time ranges. Each answer
//! is a 4xx with a JSON `{"error": "..."}`, never a 5xx; the process still answers `/health`
//! after all of them, and the stored incidents, outages and consumption alerts are the same
//! as before (the SQLite files pass `PRAGMA integrity_check`).

mod support;

use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;
use support::vigie::VigieChild;
use support::{request, urlencode};
use vigie::config::tokens::{Role, new_token, toml_entry};

const SQL_OR: &str = "' OR 1=1 --";
const SQL_DROP: &str = "'; DROP TABLE incidents; --";
const TRAVERSAL: &str = "../../etc/passwd";

/// The running process, its address and one token per role.
struct Api {
    _vigie: VigieChild,
    base: String,
    tokens: Vec<(Role, String)>,
}

impl Api {
    fn start(dir: &Path) -> Api {
        let tokens: Vec<(Role, String)> = Role::ALL.into_iter().map(|r| (r, new_token())).collect();
        let entries: Vec<String> = tokens
            .iter()
            .map(|(r, t)| toml_entry(&format!("{r}-holder"), *r, t))
            .collect();
        let text = format!(
            r#"
[daemon]
profiles_dir = {profiles:?}
data_dir = "var"
[api]
listen = "127.0.0.1:0"
rate_limit_per_s = 10000
rate_limit_burst = 10000
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
            entries = entries.join("\n"),
        );
        std::fs::write(dir.join("vigie.toml"), text).unwrap();
        let mut vigie = VigieChild::spawn(&["run", "-c", "vigie.toml"], dir);
        let addr: String = vigie.wait_line(Duration::from_secs(60), "`API on http://...`", |l| {
            Some(l.strip_prefix("vigie running: API on http://")?.to_string())
        });
        Api {
            _vigie: vigie,
            base: format!("http://{addr}"),
            tokens,
        }
    }

    fn token(&self, role: Role) -> String {
        let (_, t) = self.tokens.iter().find(|(r, _)| *r == role).unwrap();
        format!("Bearer {t}")
    }

    /// `METHOD path` with `body` as `role`: the status and the body as text.
    fn call(&self, role: Role, method: &str, path: &str, body: &[u8]) -> (u16, String) {
        let auth = self.token(role);
        let r = request(
            method,
            &format!("{}{path}", self.base),
            &[
                ("Authorization", auth.as_str()),
                ("Content-Type", "application/json"),
            ],
            body,
        );
        (r.status, r.body)
    }

    fn get_json(&self, role: Role, path: &str) -> Value {
        let (status, body) = self.call(role, "GET", path, b"");
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    /// What the stores hold, as the API shows it.
    fn stored(&self) -> Value {
        json!({
            "incidents": self.get_json(Role::Engineer, "/api/v1/incidents"),
            "incident_1": self.get_json(Role::Engineer, "/api/v1/incidents/1"),
            "outages": self.get_json(Role::Engineer, "/api/v1/outages?status=planned,active,ended,cancelled"),
            "outage_1": self.get_json(Role::Engineer, "/api/v1/outages/1"),
            "alerts": self.get_json(Role::Crm, "/api/v1/consumption-alerts"),
        })
    }
}

/// One bad request: (what, role, method, path, body).
type Case = (String, Role, &'static str, String, Vec<u8>);

fn case(
    what: &str,
    role: Role,
    method: &'static str,
    path: &str,
    body: impl Into<Vec<u8>>,
) -> Case {
    (
        what.to_string(),
        role,
        method,
        path.to_string(),
        body.into(),
    )
}

fn j(v: Value) -> Vec<u8> {
    v.to_string().into_bytes()
}

/// A JSON object `{"<field>": "aaaa…"}` of `size` bytes.
fn padded(field: &str, size: usize) -> Vec<u8> {
    let mut b = format!("{{\"{field}\": \"").into_bytes();
    b.resize(size - 2, b'a');
    b.extend_from_slice(b"\"}");
    b
}

fn valid_incident() -> Value {
    json!({"title": "Burst", "priority": "high", "zone": "Z-NORTH", "site": "PS-01"})
}

fn valid_outage() -> Value {
    json!({"zones": ["Z-NORTH"], "description": "Main replacement",
           "start": "2030-01-01T08:00:00Z", "end": "2030-01-01T12:00:00Z"})
}

fn valid_alert(id: &str) -> Value {
    json!({"alert_id": id, "customer_ref": "C-1", "meter_id": "M-1", "utility": "water",
           "zone": "Z-NORTH", "period_start": "2026-10-01T00:00:00Z",
           "period_end": "2026-11-01T00:00:00Z", "consumption": 48.0,
           "reference_consumption": 21.0, "unit": "m3"})
}

fn with(mut v: Value, key: &str, value: Value) -> Value {
    v[key] = value;
    v
}

/// Body problems every JSON route refuses the same way.
fn common_bodies(
    route: &str,
    role: Role,
    method: &'static str,
    path: &str,
    limit: usize,
) -> Vec<Case> {
    let mut deep = vec![b'['; 10_000];
    deep.extend(vec![b']'; 10_000]);
    vec![
        case(
            &format!("{route}: body over {limit} bytes"),
            role,
            method,
            path,
            padded("title", limit + 1),
        ),
        case(
            &format!("{route}: not JSON"),
            role,
            method,
            path,
            "title=Burst",
        ),
        case(
            &format!("{route}: invalid UTF-8"),
            role,
            method,
            path,
            b"{\"title\": \"\xff\xfe\"}".to_vec(),
        ),
        case(
            &format!("{route}: 10000 nested ["),
            role,
            method,
            path,
            vec![b'['; 10_000],
        ),
        case(
            &format!("{route}: 10000 nested [] closed"),
            role,
            method,
            path,
            deep,
        ),
        case(&format!("{route}: empty body"), role, method, path, ""),
        case(
            &format!("{route}: a JSON string"),
            role,
            method,
            path,
            "\"' OR 1=1 --\"",
        ),
        case(
            &format!("{route}: a huge number"),
            role,
            method,
            path,
            "1e999999",
        ),
    ]
}

fn cases() -> Vec<Case> {
    use Role::*;
    let mb = "a".repeat(1_000_000);
    let mut c = Vec::new();

    // POST /api/v1/incidents (64 KiB).
    let p = "/api/v1/incidents";
    c.extend(common_bodies(
        "incident create",
        Engineer,
        "POST",
        p,
        64 * 1024,
    ));
    for (what, body) in [
        ("title a number", with(valid_incident(), "title", json!(42))),
        (
            "priority a list",
            with(valid_incident(), "priority", json!(["high"])),
        ),
        (
            "links a string",
            with(valid_incident(), "links", json!("CRM-1")),
        ),
        (
            "unknown field",
            with(valid_incident(), "owner", json!("amina")),
        ),
        (
            "unknown priority",
            with(valid_incident(), "priority", json!(SQL_OR)),
        ),
        ("zone SQL", with(valid_incident(), "zone", json!(SQL_DROP))),
        (
            "site traversal",
            with(valid_incident(), "site", json!(TRAVERSAL)),
        ),
        (
            "NUL in title",
            with(valid_incident(), "title", json!("Burst\u{0}; rm -rf /")),
        ),
        (
            "NUL in actor",
            with(valid_incident(), "actor", json!("amina\u{0}")),
        ),
        (
            "1 MB title",
            with(valid_incident(), "title", json!(mb.clone())),
        ),
        (
            "estimated_restoration not a time",
            with(valid_incident(), "estimated_restoration", json!(TRAVERSAL)),
        ),
        (
            "estimated_restoration past 2262",
            with(
                valid_incident(),
                "estimated_restoration",
                json!("9999-12-31T23:59:59Z"),
            ),
        ),
        (
            "estimated_restoration huge epoch ms",
            with(
                valid_incident(),
                "estimated_restoration",
                json!("99999999999999999999"),
            ),
        ),
    ] {
        c.push(case(
            &format!("incident create: {what}"),
            Engineer,
            "POST",
            p,
            j(body),
        ));
    }

    // PATCH /api/v1/incidents/1 and its comments.
    let p = "/api/v1/incidents/1";
    c.extend(common_bodies(
        "incident patch",
        Engineer,
        "PATCH",
        p,
        64 * 1024,
    ));
    for (what, body) in [
        ("status a number", json!({"actor": "amina", "status": 3})),
        (
            "unknown status",
            json!({"actor": "amina", "status": SQL_OR}),
        ),
        (
            "unknown field",
            json!({"actor": "amina", "status": "acknowledged", "priority": "low"}),
        ),
        ("no actor", json!({"status": "acknowledged"})),
        (
            "actor SQL NUL",
            json!({"actor": "x'\u{0}--", "comment": "ok"}),
        ),
        (
            "comment NUL",
            json!({"actor": "amina", "comment": "crew\u{0}sent"}),
        ),
        (
            "1 MB comment",
            json!({"actor": "amina", "comment": mb.clone()}),
        ),
        (
            "assignee an object",
            json!({"actor": "amina", "assignee": {"name": "crew-3"}}),
        ),
        (
            "bad restoration",
            json!({"actor": "amina", "estimated_restoration": "tomorrow"}),
        ),
    ] {
        c.push(case(
            &format!("incident patch: {what}"),
            Engineer,
            "PATCH",
            p,
            j(body),
        ));
    }
    c.push(case(
        "incident patch: id out of i64",
        Engineer,
        "PATCH",
        "/api/v1/incidents/99999999999999999999",
        j(json!({"actor": "amina"})),
    ));
    c.push(case(
        "incident patch: traversal id",
        Engineer,
        "PATCH",
        "/api/v1/incidents/..%2F..%2Fetc%2Fpasswd",
        j(json!({"actor": "amina"})),
    ));
    let p = "/api/v1/incidents/1/comments";
    c.extend(common_bodies(
        "incident comment",
        Engineer,
        "POST",
        p,
        64 * 1024,
    ));
    for (what, body) in [
        ("text a list", json!({"actor": "amina", "text": ["a"]})),
        (
            "unknown field",
            json!({"actor": "amina", "text": "ok", "html": "<b>"}),
        ),
        ("text NUL", json!({"actor": "amina", "text": "\u{0}"})),
        ("text 1 MB", json!({"actor": "amina", "text": mb.clone()})),
    ] {
        c.push(case(
            &format!("incident comment: {what}"),
            Engineer,
            "POST",
            p,
            j(body),
        ));
    }

    // POST /api/v1/outages and PATCH /api/v1/outages/1 (64 KiB).
    let p = "/api/v1/outages";
    c.extend(common_bodies(
        "outage declare",
        Engineer,
        "POST",
        p,
        64 * 1024,
    ));
    for (what, body) in [
        (
            "zones a string",
            with(valid_outage(), "zones", json!("Z-NORTH")),
        ),
        ("no zones", with(valid_outage(), "zones", json!([]))),
        ("zone SQL", with(valid_outage(), "zones", json!([SQL_OR]))),
        (
            "site traversal",
            with(valid_outage(), "site", json!(TRAVERSAL)),
        ),
        (
            "unknown field",
            with(valid_outage(), "customers", json!(12)),
        ),
        (
            "unknown cause",
            with(valid_outage(), "cause", json!(SQL_DROP)),
        ),
        (
            "end before start",
            with(valid_outage(), "end", json!("2030-01-01T07:00:00Z")),
        ),
        (
            "start huge epoch ms",
            with(valid_outage(), "start", json!("9223372036854775807")),
        ),
        (
            "description NUL",
            with(valid_outage(), "description", json!("a\u{0}b")),
        ),
        (
            "description 1 MB",
            with(valid_outage(), "description", json!(mb.clone())),
        ),
    ] {
        c.push(case(
            &format!("outage declare: {what}"),
            Engineer,
            "POST",
            p,
            j(body),
        ));
    }
    let p = "/api/v1/outages/1";
    c.extend(common_bodies(
        "outage patch",
        Engineer,
        "PATCH",
        p,
        64 * 1024,
    ));
    for (what, body) in [
        ("status a bool", json!({"status": true})),
        ("status active", json!({"status": "active"})),
        ("unknown field", json!({"zones": ["Z-NORTH"]})),
        ("end not a time", json!({"end": SQL_OR})),
        ("end before start", json!({"end": "2000-01-01T00:00:00Z"})),
    ] {
        c.push(case(
            &format!("outage patch: {what}"),
            Engineer,
            "PATCH",
            p,
            j(body),
        ));
    }

    // POST /api/v1/alarms/{id}/{verb} (16 KiB).
    let p = "/api/v1/alarms/PS-01:P:x:high/ack";
    c.extend(common_bodies(
        "alarm action",
        Operator,
        "POST",
        p,
        16 * 1024,
    ));
    for (what, path, body) in [
        ("operator a number", p, json!({"operator": 7})),
        (
            "unknown field",
            p,
            json!({"operator": "amina", "priority": "low"}),
        ),
        ("NUL operator", p, json!({"operator": "amina\u{0}"})),
        (
            "duration on ack",
            p,
            json!({"operator": "amina", "duration": "1h"}),
        ),
        (
            "shelve without duration",
            "/api/v1/alarms/PS-01:P:x:high/shelve",
            json!({"operator": "amina", "comment": "swap"}),
        ),
        (
            "shelve for a bad duration",
            "/api/v1/alarms/PS-01:P:x:high/shelve",
            json!({"operator": "amina", "comment": "swap", "duration": "-1h"}),
        ),
        (
            "SQL alarm id",
            &format!("/api/v1/alarms/{}/ack", urlencode(SQL_DROP)),
            json!({"operator": "amina"}),
        ),
        (
            "traversal alarm id",
            "/api/v1/alarms/..%2F..%2Fetc%2Fpasswd/ack",
            json!({"operator": "amina"}),
        ),
    ] {
        c.push(case(
            &format!("alarm action: {what}"),
            Operator,
            "POST",
            path,
            j(body),
        ));
    }

    // POST /api/v1/consumption-alerts (8 MiB).
    let p = "/api/v1/consumption-alerts";
    c.extend(common_bodies("consumption alerts", Crm, "POST", p, 8 << 20));
    c.push(case(
        "consumption alerts: an object, not a list",
        Crm,
        "POST",
        p,
        j(valid_alert("X")),
    ));
    c.push(case(
        "consumption alerts: more than 10000",
        Crm,
        "POST",
        p,
        j(Value::Array(vec![json!(1); 10_001])),
    ));

    // POST /grafana/* (Grafana's bodies keep unknown fields: Grafana sends many).
    for name in ["query", "variable", "metric-payload-options", "annotations"] {
        let p = format!("/grafana/{name}");
        // An empty body is `{}` for Grafana (README "Grafana JSON datasource").
        let bodies = common_bodies(&format!("grafana {name}"), Viewer, "POST", &p, 256 * 1024);
        c.extend(
            bodies
                .into_iter()
                .filter(|(what, ..)| !what.ends_with("empty body")),
        );
        c.push(case(
            &format!("grafana {name}: range a string"),
            Viewer,
            "POST",
            &p,
            j(json!({"range": "today"})),
        ));
        c.push(case(&format!("grafana {name}: range to before from"), Viewer, "POST", &p,
            j(json!({"range": {"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "targets": [{"target": "incidents"}], "annotation": {"query": "alarm_events"}, "payload": {"target": "incidents"}}))));
    }
    c.push(case("grafana query: unknown metric (SQL)", Viewer, "POST", "/grafana/query",
        j(json!({"range": {"from": "2026-01-01T00:00:00Z", "to": "2026-01-01T01:00:00Z"}, "targets": [{"target": SQL_DROP}]}))));
    c.push(case(
        "grafana query: targets a number",
        Viewer,
        "POST",
        "/grafana/query",
        j(json!({"targets": 1})),
    ));

    // Query strings of the lists.
    for (role, list) in [
        (Engineer, "/api/v1/incidents"),
        (Engineer, "/api/v1/outages"),
        (Crm, "/api/v1/consumption-alerts"),
        (Viewer, "/api/v1/alarms/history"),
    ] {
        for (what, q) in [
            ("negative limit", "limit=-1".to_string()),
            ("limit 0", "limit=0".to_string()),
            ("limit above 1000", "limit=1001".to_string()),
            ("huge limit", "limit=99999999999999999999999".to_string()),
            ("limit SQL", format!("limit={}", urlencode(SQL_OR))),
            ("bad cursor", "cursor=abc".to_string()),
            ("cursor SQL", format!("cursor={}", urlencode(SQL_DROP))),
            (
                "cursor traversal",
                format!("cursor={}", urlencode(TRAVERSAL)),
            ),
            ("from not a time", "from=yesterday".to_string()),
            (
                "to before from",
                "from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z".to_string(),
            ),
            ("from out of range", "from=99999999999999999999".to_string()),
            ("from NUL", "from=%00".to_string()),
        ] {
            c.push(case(
                &format!("GET {list}: {what}"),
                role,
                "GET",
                &format!("{list}?{q}"),
                "",
            ));
        }
    }
    for (role, path) in [
        (
            Engineer,
            format!("/api/v1/incidents?priority={}", urlencode(SQL_OR)),
        ),
        (
            Engineer,
            format!("/api/v1/incidents?status={}", urlencode(SQL_DROP)),
        ),
        (
            Engineer,
            format!("/api/v1/outages?status={}", urlencode(TRAVERSAL)),
        ),
        (Engineer, "/api/v1/outages?lat=91&lon=0".to_string()),
        (Engineer, "/api/v1/outages?lat=NaN&lon=0".to_string()),
        (Engineer, "/api/v1/outages?lat=45".to_string()),
        (
            Crm,
            format!("/api/v1/consumption-alerts?utility={}", urlencode(SQL_OR)),
        ),
        (
            Viewer,
            "/api/v1/alarms/kpis?from=2026-01-01T00:00:00Z&to=2026-03-01T00:00:00Z".to_string(),
        ),
        (
            Viewer,
            "/api/v1/alarms/kpis?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z".to_string(),
        ),
        (
            Viewer,
            format!("/api/v1/alarms?priority={}", urlencode(SQL_OR)),
        ),
    ] {
        c.push(case(&format!("GET {path}"), role, "GET", &path, ""));
    }
    c
}

#[test]
fn bad_input_is_a_4xx_with_a_json_error_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let api = Api::start(dir.path());

    // Something stored, for the refused changes to leave alone.
    let (status, body) = api.call(
        Role::Engineer,
        "POST",
        "/api/v1/incidents",
        &j(valid_incident()),
    );
    assert_eq!(status, 201, "{body}");
    let (status, body) = api.call(
        Role::Engineer,
        "POST",
        "/api/v1/outages",
        &j(valid_outage()),
    );
    assert_eq!(status, 201, "{body}");
    let (status, body) = api.call(
        Role::Crm,
        "POST",
        "/api/v1/consumption-alerts",
        &j(json!([valid_alert("CRM-1")])),
    );
    assert_eq!(
        (
            status,
            serde_json::from_str::<Value>(&body).unwrap()["stored"].clone()
        ),
        (200, json!(1)),
        "{body}"
    );
    let before = api.stored();

    let cases = cases();
    let mut failures = Vec::new();
    for (what, role, method, path, body) in &cases {
        let (status, answer) = api.call(*role, method, path, body);
        let error = serde_json::from_str::<Value>(&answer)
            .ok()
            .and_then(|v| v.get("error").and_then(Value::as_str).map(String::from));
        if !(400..500).contains(&status) || error.is_none() {
            let shown: String = answer.chars().take(200).collect();
            failures.push(format!(
                "{what}: {method} {}: {status} {shown}",
                &path[..path.len().min(120)]
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );

    let (status, body) = api.call(Role::Viewer, "GET", "/health", b"");
    assert_eq!((status, body.as_str()), (200, r#"{"status":"ok"}"#));
    assert_eq!(api.stored(), before, "a refused request changed the stores");

    // A rejected record of a batch is listed, not stored (the batch itself is accepted:
    // each record is checked on its own, README "Consumption alerts").
    let bad_records = json!([
        with(valid_alert("CRM-2"), "zone", json!(SQL_DROP)),
        with(valid_alert("CRM-3"), "consumption", json!("12")),
        with(valid_alert("CRM-4"), "extra", json!(1)),
        with(
            valid_alert(&format!("CRM-{}", "9".repeat(200))),
            "unit",
            json!("m3")
        ),
        with(valid_alert("CRM-1"), "consumption", json!(1e308)),
    ]);
    let (status, body) = api.call(
        Role::Crm,
        "POST",
        "/api/v1/consumption-alerts",
        &j(bad_records),
    );
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (
            answer["stored"].clone(),
            answer["rejected"].as_array().map(Vec::len)
        ),
        (json!(0), Some(5)),
        "{body}"
    );
    assert_eq!(api.stored(), before, "rejected records were stored");

    // Free text is data, not code: an SQL string as a title is stored verbatim, and the
    // incidents table is still there.
    let (status, body) = api.call(
        Role::Engineer,
        "POST",
        "/api/v1/incidents",
        &j(with(valid_incident(), "title", json!(SQL_DROP))),
    );
    assert_eq!(status, 201, "{body}");
    let created: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(created["title"], SQL_DROP);
    let list = api.get_json(Role::Engineer, "/api/v1/incidents");
    assert_eq!(
        list["incidents"].as_array().map(Vec::len),
        Some(2),
        "{list}"
    );

    // The SQLite files are sound.
    let mut checked = 0;
    for entry in std::fs::read_dir(dir.path().join("var")).unwrap() {
        let path = entry.unwrap().path();
        let is_db = path
            .extension()
            .is_some_and(|e| e == "db" || e == "sqlite" || e == "sqlite3");
        if !is_db {
            continue;
        }
        let db = rusqlite::Connection::open_with_flags(
            &path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap();
        let ok: String = db
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(ok, "ok", "{}", path.display());
        checked += 1;
    }
    assert!(
        checked >= 1,
        "no SQLite file in {}",
        dir.path().join("var").display()
    );
}
