//! `vigie run --shard I/N` against the station simulator: two instances, `0/2` and `1/2`,
//! poll every device of the network exactly once between them (read from each instance's
//! `/metrics` `vigie_device_up` and `/api/v1/points`).

mod support;

use std::collections::BTreeSet;
use std::time::Duration;
use support::vigie::VigieChild;
use support::{eventually, free_ports, http};

const PROFILES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/plc-profiles");
/// Six sites, each on its own simulated gateway: six groups (README "Deployment"). With
/// these ids rendezvous hashing gives each of 2 shards some of them (4 and 2).
const SITES: [&str; 6] = ["S-A", "S-B", "S-C", "S-D", "S-E", "S-F"];

/// `(site, device)` of every `vigie_device_up{…} 1` line.
fn devices_up(metrics: &str) -> BTreeSet<(String, String)> {
    metrics
        .lines()
        .filter_map(|l| l.strip_prefix("vigie_device_up{site=\""))
        .filter_map(|rest| {
            let (labels, value) = rest.rsplit_once("} ")?;
            let (site, device) = labels.split_once("\",device=\"")?;
            (value.trim() == "1")
                .then(|| (site.to_string(), device.trim_end_matches('"').to_string()))
        })
        .collect()
}

/// `(site, device)` of every `vigie_device_up{…}` line, up or not.
fn devices_listed(metrics: &str) -> BTreeSet<String> {
    metrics
        .lines()
        .filter(|l| l.starts_with("vigie_device_up{"))
        .map(str::to_string)
        .collect()
}

#[test]
fn two_shards_poll_every_device_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let ports = free_ports::<8>();
    let (sim_ports, api_ports) = ports.split_at(6);
    let mut sim = format!("profiles_dir = {PROFILES:?}\n");
    let mut cfg = format!("[daemon]\nprofiles_dir = {PROFILES:?}\n");
    for (site, port) in SITES.iter().zip(sim_ports) {
        sim.push_str(&format!(
            "[[sites]]\nid = \"{site}\"\nmodel = \"none\"\n[[servers]]\nname = \"{site}\"\nlisten = \"127.0.0.1:{port}\"\nunits = [{{ unit_id = 1, profile = \"eastron-sdm630\", site = \"{site}\", role = \"fixed\", fixed = {{ voltage_l1_v = 230.0 }} }}]\n"
        ));
        cfg.push_str(&format!(
            "[[sites]]\nid = \"{site}\"\nkind = \"substation\"\ndevices = [{{ id = \"M\", profile = \"eastron-sdm630\", address = \"127.0.0.1:{port}\", unit_id = 1 }}]\n"
        ));
    }
    std::fs::write(dir.path().join("sim.toml"), sim).unwrap();
    std::fs::write(dir.path().join("vigie.toml"), &cfg).unwrap();
    let mut simulator = VigieChild::spawn(&["simulate", "-c", "sim.toml"], dir.path());
    for site in SITES {
        simulator.wait_line(Duration::from_secs(60), &format!("`serving {site}`"), |l| {
            l.starts_with(&format!("serving {site} on ")).then_some(())
        });
    }

    // `vigie check --shard` lists what each shard runs.
    let check = std::process::Command::new(support::vigie::VIGIE)
        .args(["check", "-c", "vigie.toml", "--shard", "1/2"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let check_out = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "{check_out}");
    assert!(
        check_out.contains("shard 1/2: ") && check_out.contains(" of 6 sites ("),
        "{check_out}"
    );

    // Shard 0 from the command line, shard 1 from VIGIE_SHARD (as Kubernetes sets it); each
    // its own data folder.
    let start = |shard: Option<&str>, env_shard: Option<&str>, api: u16, data: &str| {
        let listen = format!("127.0.0.1:{api}");
        let mut args = vec!["run", "-c", "vigie.toml", "--listen", &listen];
        if let Some(s) = shard {
            args.extend(["--shard", s]);
        }
        let mut env = vec![("VIGIE__DAEMON__DATA_DIR", data)];
        if let Some(s) = env_shard {
            env.push(("VIGIE_SHARD", s));
        }
        VigieChild::spawn_with_env(&args, dir.path(), &env)
    };
    let mut a = start(Some("0/2"), None, api_ports[0], "var-0");
    let mut b = start(None, Some("1/2"), api_ports[1], "var-1");
    let mut up = Vec::new();
    for (vigie, api) in [(&mut a, api_ports[0]), (&mut b, api_ports[1])] {
        let line = vigie.wait_line(Duration::from_secs(60), "the shard line", |l| {
            l.starts_with("shard ").then(|| l.to_string())
        });
        let metrics_url = format!("http://127.0.0.1:{api}/metrics");
        // Wait until every device this instance lists is up.
        let devices = eventually(Duration::from_secs(30), "every listed device up", || {
            vigie.assert_running("polling");
            let (status, text) = http("GET", &metrics_url, "");
            let listed = devices_listed(&text);
            let upd = devices_up(&text);
            (status == 200 && !listed.is_empty() && upd.len() == listed.len()).then_some(upd)
        });
        // The live points come from those devices only.
        let (_, points) = http("GET", &format!("http://127.0.0.1:{api}/api/v1/points"), "");
        let points: serde_json::Value = serde_json::from_str(&points).unwrap();
        let sites: BTreeSet<String> = points
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["site"].as_str().unwrap().to_string())
            .collect();
        let expected: BTreeSet<String> = devices.iter().map(|(s, _)| s.clone()).collect();
        assert_eq!(sites, expected, "{line}");
        up.push((line, devices));
    }
    let (first, second) = (&up[0].1, &up[1].1);
    assert!(
        first.is_disjoint(second),
        "a device polled by both shards: {up:?}"
    );
    let all: BTreeSet<(String, String)> = first.union(second).cloned().collect();
    let expected: BTreeSet<(String, String)> = SITES
        .iter()
        .map(|s| (s.to_string(), "M".to_string()))
        .collect();
    assert_eq!(all, expected, "{up:?}");
    assert!(
        !first.is_empty() && !second.is_empty(),
        "each shard polls some: {up:?}"
    );
    assert!(up[0].0.starts_with("shard 0/2: "), "{}", up[0].0);
    assert!(up[1].0.starts_with("shard 1/2: "), "{}", up[1].0);
}

#[test]
fn a_shard_out_of_range_is_refused_with_its_rule() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("vigie.toml"), "").unwrap();
    let out = std::process::Command::new(support::vigie::VIGIE)
        .args(["run", "-c", "vigie.toml", "--shard", "2/2"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("2/2: I is 0-based and must be below N (0..=1)"),
        "{err}"
    );
}
