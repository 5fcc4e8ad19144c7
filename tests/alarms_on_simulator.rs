//! The demo's own network and alarm definitions on vigie's station simulator, with its
//! scripted faults brought forward: a burst at PS-01, a feeder trip at SS-12 and a silent
//! level transmitter at BH-03 raise their alarms, and clear them when they end.

mod support;

use serde_json::Value;
use std::path::Path;
use std::time::Duration;
use support::demo::sim_config;
use support::{eventually, http};
use vigie::sim::{self, World};

fn state(base: &str, id: &str) -> String {
    let (status, body) = http("GET", &format!("{base}/api/v1/alarms/{id}"), "");
    assert_eq!(status, 200, "{id}: {body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    v["state"].as_str().unwrap().to_string()
}

fn wait(base: &str, id: &str, want: &str, within: Duration) {
    eventually(within, &format!("{id} {want}"), || {
        (state(base, id) == want).then_some(())
    });
}

#[test]
fn the_demo_faults_raise_their_alarms_and_clear_them() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let profiles = Path::new(env!("CARGO_MANIFEST_DIR")).join("plc-profiles");
    let (sim, daemon) = rt.block_on(async {
        let sim = sim::start(World::new(sim_config("6s", "14s")).unwrap())
            .await
            .unwrap();
        let text = vigie::demo::vigie_toml(&sim.addresses, &tmp.path().join("var"));
        let net =
            vigie::config::check::from_text(Path::new("demo/vigie.toml"), &text, Some(&profiles))
                .unwrap_or_else(|e| panic!("{e:?}"));
        let daemon = vigie::daemon::start(&net, Some("127.0.0.1:0".parse().unwrap()))
            .await
            .unwrap();
        (sim, daemon)
    });
    let base = format!("http://{}", daemon.api_addr);

    // Before the faults: every alarm of the demo is normal, except the borehole's low flow
    // during the evening peak tariff (17:00-21:00 local), suppressed by design while its pump
    // is stopped on purpose.
    std::thread::sleep(Duration::from_secs(3));
    let (_, body) = http("GET", &format!("{base}/api/v1/alarms"), "");
    let listed: Vec<Value> = serde_json::from_str(&body).unwrap();
    for a in &listed {
        assert_eq!(
            (a["id"].as_str(), a["state"].as_str()),
            (Some("BH-03:FT-302:flow_m3_per_h:low"), Some("suppressed")),
            "alarms before any fault: {body}"
        );
    }

    // The burst: a fast fall, then below both limits once the 5 s on-delay has passed.
    wait(
        &base,
        "PS-01:PT-101:pressure_bar:rate_of_change",
        "active_unacknowledged",
        Duration::from_secs(10),
    );
    wait(
        &base,
        "PS-01:PT-101:pressure_bar:low",
        "active_unacknowledged",
        Duration::from_secs(10),
    );
    // The feeder trip and the silent level transmitter (3 s on-delay).
    wait(
        &base,
        "SS-12:F2:breaker_tripped:discrete",
        "active_unacknowledged",
        Duration::from_secs(5),
    );
    assert_eq!(state(&base, "SS-12:F1:breaker_tripped:discrete"), "normal");
    wait(
        &base,
        "BH-03:LT-202:comm_failure",
        "active_unacknowledged",
        Duration::from_secs(10),
    );
    assert_eq!(state(&base, "BH-03:P1:tripped:discrete"), "normal");

    // The faults end at 20 s: each alarm returns to normal, waiting for an acknowledgement.
    for id in [
        "PS-01:PT-101:pressure_bar:low",
        "SS-12:F2:breaker_tripped:discrete",
        "BH-03:LT-202:comm_failure",
    ] {
        wait(&base, id, "rtn_unacknowledged", Duration::from_secs(25));
    }
    rt.block_on(daemon.shutdown(Duration::from_secs(5)));
    drop(sim);
}
