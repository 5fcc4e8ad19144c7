//! `openapi.yaml` against the running API (README "HTTP API"): schemathesis (PyPI) generates
//! requests for every operation from the spec and checks that no answer is a 5xx and that
//! every answer's status, content type and body match the spec.

mod support;

use serde_json::json;
use std::path::Path;
use std::process::Command;
use support::daemon::{InProcess, load_config};
use vigie::config::tokens::{Role, new_token, toml_entry};

/// The checks run: every answer's status is documented, its content type is the documented
/// one, its body matches the documented schema, and none is a server error. Not `all`:
/// `positive_data_acceptance` and `negative_data_rejection` would ask the spec to encode
/// every semantic rule (known zones, RFC 3339 times, state machines) that the server
/// answers with a documented 4xx.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
                      response_schema_conformance";

/// Test cases per operation and phase: enough to reach every route's branches, while both
/// runs stay well under a minute on two cores.
const MAX_EXAMPLES: &str = "20";

/// Runs schemathesis on `operations` (`--include-operation-id` or `--exclude-operation-id`
/// values) with `token`; panics with its output when it finds a failure.
fn schemathesis(base: &str, token: &str, filter: &[&str], dir: &Path) {
    let program = support::require("schemathesis");
    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.yaml");
    let out = Command::new(&program)
        .current_dir(dir) // its .hypothesis cache goes to the temporary directory
        .arg("run")
        .arg(&spec)
        .args(["--url", base])
        .args(["-H", &format!("Authorization: Bearer {token}")])
        .args(["--checks", CHECKS])
        .args(["--max-examples", MAX_EXAMPLES])
        .args(filter)
        .arg("--no-color")
        .output()
        .unwrap_or_else(|e| panic!("cannot run schemathesis ({}): {e}", program.display()));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "schemathesis {:?} found failures ({}):\n{text}",
        filter,
        out.status
    );
    // A run that tested nothing would also exit 0.
    assert!(
        text.contains("Tested:") && !text.contains("Tested: 0"),
        "schemathesis tested no operation:\n{text}"
    );
}

#[test]
fn every_answer_matches_openapi_yaml() {
    let tmp = tempfile::tempdir().unwrap();
    let engineer = new_token();
    let crm = new_token();
    let text = format!(
        r#"
[daemon]
profiles_dir = {profiles:?}
data_dir = {data:?}
[api]
rate_limit_per_s = 100000
rate_limit_burst = 100000
{engineer_entry}
{crm_entry}
[[zones]]
id = "Z-NORTH"
utility = "water"
fed_by = ["PS-01"]
area = {{ type = "Polygon", coordinates = [[[4.80, 45.70], [4.90, 45.70], [4.90, 45.80], [4.80, 45.80], [4.80, 45.70]]] }}
[[zones]]
id = "Z-GRID"
utility = "electricity"
[[sites]]
id = "PS-01"
kind = "pumping_station"
"#,
        profiles = Path::new(env!("CARGO_MANIFEST_DIR")).join("plc-profiles"),
        data = tmp.path().join("var"),
        engineer_entry = toml_entry("engineer", Role::Engineer, &engineer),
        crm_entry = toml_entry("crm", Role::Crm, &crm),
    );
    let net = load_config(tmp.path(), &text);
    let v = InProcess::start(&net);
    let as_engineer = format!("Bearer {engineer}");
    let as_crm = format!("Bearer {crm}");

    // Some data, so that lists, one-object routes and the GeoJSON have something to show.
    let alert = json!([{
        "alert_id": "CRM-1", "customer_ref": "C-1", "meter_id": "M-1", "utility": "water",
        "zone": "Z-NORTH", "period_start": "2026-10-01", "period_end": "2026-11-01",
        "consumption": 48.0, "reference_consumption": 21.0, "unit": "m3"
    }]);
    let (status, answer) = v.call(
        "POST",
        "/api/v1/consumption-alerts",
        &[("Authorization", &as_crm)],
        Some(&alert),
    );
    assert_eq!(
        (status, answer["stored"].as_u64()),
        (200, Some(1)),
        "{answer}"
    );
    let incident = json!({"title": "Burst", "priority": "high", "zone": "Z-NORTH", "actor": "y"});
    let (status, answer) = v.call(
        "POST",
        "/api/v1/incidents",
        &[("Authorization", &as_engineer)],
        Some(&incident),
    );
    assert_eq!(status, 201, "{answer}");
    let works = json!({
        "zones": ["Z-NORTH"], "description": "Main replacement",
        "start": "2020-01-01T08:00:00Z", "end": "2040-01-01T12:00:00Z"
    });
    let (status, answer) = v.call(
        "POST",
        "/api/v1/outages",
        &[("Authorization", &as_engineer)],
        Some(&works),
    );
    assert_eq!(status, 201, "{answer}");

    // POST consumption-alerts is the crm role's alone; every other route the engineer's.
    let crm_only = "postConsumptionAlerts";
    schemathesis(
        &v.base,
        &engineer,
        &["--exclude-operation-id", crm_only],
        tmp.path(),
    );
    schemathesis(
        &v.base,
        &crm,
        &["--include-operation-id", crm_only],
        tmp.path(),
    );
    v.stop();
}
