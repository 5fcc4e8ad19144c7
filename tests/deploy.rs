//! The deployment files of `deploy/`, checked with what runs here (no Docker daemon, no
//! cluster): the compose file against the Compose Specification's JSON schema, each
//! Kubernetes manifest against the Kubernetes 1.34 JSON schemas (strict: an unknown field
//! is an error), the configurations they carry through `vigie check`, the Dockerfile's
//! sources, and the systemd unit through `systemd-analyze verify` and `security`.
//! The schemas are files in `tests/data/schemas/` (README there): no network.

mod support;

use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use support::require;
use support::vigie::VIGIE;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn path(rel: &str) -> PathBuf {
    Path::new(ROOT).join(rel)
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn read_json(rel: &str) -> Value {
    serde_json::from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Every YAML document of `rel`, merge keys (`<<:`) applied, as JSON.
fn yaml_documents(rel: &str) -> Vec<Value> {
    let text = read(rel);
    yaml_serde::Deserializer::from_str(&text)
        .map(|doc| {
            let mut v: yaml_serde::Value =
                serde::Deserialize::deserialize(doc).unwrap_or_else(|e| panic!("{rel}: {e}"));
            v.apply_merge().unwrap_or_else(|e| panic!("{rel}: {e}"));
            serde_json::to_value(v).unwrap_or_else(|e| panic!("{rel}: {e}"))
        })
        .collect()
}

/// The schema's errors on `instance`, one line each (`/path: message`).
fn errors(validator: &jsonschema::Validator, instance: &Value) -> Vec<String> {
    validator
        .iter_errors(instance)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

/// `vigie check` of `config` (a path) with `VIGIE__…` overrides: its output and success.
fn vigie_check(config: &Path, env: &[(&str, &str)], extra: &[&str]) -> (bool, String) {
    let out = Command::new(VIGIE)
        .arg("check")
        .arg("-c")
        .arg(config)
        .args(extra)
        .envs(env.iter().copied())
        .output()
        .expect("run vigie check");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

const PROFILES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/plc-profiles");

// ---------------------------------------------------------------------------
// docker compose
// ---------------------------------------------------------------------------

#[test]
fn compose_file_follows_the_compose_specification() {
    let schema = read_json("tests/data/schemas/compose-spec.json");
    let validator = jsonschema::validator_for(&schema).expect("compose schema");
    let docs = yaml_documents("deploy/docker-compose.yml");
    assert_eq!(docs.len(), 1);
    let compose = &docs[0];
    let errs = errors(&validator, compose);
    assert!(
        errs.is_empty(),
        "deploy/docker-compose.yml:\n{}",
        errs.join("\n")
    );
    let mut wrong = compose.clone();
    wrong["services"]["vigie"]["imagee"] = Value::from("x");
    assert!(
        !errors(&validator, &wrong).is_empty(),
        "the schema refuses unknown keys"
    );

    // What the evaluation needs: the four services, InfluxDB 2 set up with the org and
    // bucket vigie's configuration names, Grafana with the JSON datasource plugin.
    let services = compose["services"].as_object().unwrap();
    let names: BTreeSet<&str> = services.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        BTreeSet::from(["grafana", "influxdb", "simulator", "vigie"])
    );
    let influx = &services["influxdb"];
    assert!(influx["image"].as_str().unwrap().starts_with("influxdb:2"));
    assert_eq!(influx["environment"]["DOCKER_INFLUXDB_INIT_ORG"], "utility");
    assert_eq!(
        influx["environment"]["DOCKER_INFLUXDB_INIT_BUCKET"],
        "scada"
    );
    assert_eq!(
        services["grafana"]["environment"]["GF_PLUGINS_PREINSTALL"],
        "simpod-json-datasource"
    );
    for key in ["VIGIE_URL", "INFLUXDB_URL", "VIGIE_GRAFANA_TOKEN"] {
        assert!(
            services["grafana"]["environment"].get(key).is_some(),
            "grafana has no {key}"
        );
    }
    // Both vigie services are built from the Dockerfile (merge key applied).
    for s in ["simulator", "vigie"] {
        assert_eq!(
            services[s]["build"]["dockerfile"], "deploy/Dockerfile",
            "{s}"
        );
        assert_eq!(services[s]["build"]["context"], "..", "{s}");
    }
    // Files mounted from deploy/ exist.
    for s in ["simulator", "vigie"] {
        for v in services[s]["volumes"].as_array().unwrap() {
            let source = v.as_str().unwrap().split(':').next().unwrap();
            if let Some(rel) = source.strip_prefix("./") {
                assert!(path(&format!("deploy/{rel}")).is_file(), "{s}: {source}");
            }
        }
    }
}

/// The compose configurations are valid, and vigie polls exactly the ports the simulator
/// serves.
#[test]
fn compose_configurations_pass_vigie_check_and_agree_on_ports() {
    let (ok, out) = vigie_check(
        &path("deploy/compose/vigie.toml"),
        &[("VIGIE__DAEMON__PROFILES_DIR", PROFILES)],
        &[],
    );
    assert!(ok, "{out}");
    assert!(out.contains("OK: 4 zones, 3 sites, 15 devices"), "{out}");

    let mut sim = vigie::sim::SimConfig::parse(
        &path("deploy/compose/sim.toml"),
        &read("deploy/compose/sim.toml"),
    )
    .expect("deploy/compose/sim.toml");
    sim.profiles_dir = PROFILES.into();
    let served: BTreeSet<String> = sim
        .servers
        .iter()
        .map(|s| format!("simulator:{}", s.listen.port()))
        .collect();
    vigie::sim::World::new(sim).expect("the simulator accepts deploy/compose/sim.toml");
    let network = vigie::config::load(
        &path("deploy/compose/vigie.toml"),
        Some(HashMap::from([(
            "VIGIE__DAEMON__PROFILES_DIR".to_string(),
            PROFILES.to_string(),
        )])),
    )
    .unwrap();
    let polled: BTreeSet<String> = network
        .config
        .sites
        .iter()
        .flat_map(|s| &s.devices)
        .map(|d| d.address.clone())
        .collect();
    assert_eq!(polled, served);
    let influx = network.config.influxdb.expect("[influxdb]");
    assert_eq!(influx.url, "http://influxdb:8086");
    assert_eq!(
        (influx.org.as_str(), influx.bucket.as_str()),
        ("utility", "scada")
    );
}

// ---------------------------------------------------------------------------
// Dockerfile
// ---------------------------------------------------------------------------

#[test]
fn dockerfile_copies_files_that_exist_and_runs_vigie_run() {
    let text = read("deploy/Dockerfile");
    let mut sources = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.trim().strip_prefix("COPY ") else {
            continue;
        };
        if rest.starts_with("--from=") {
            continue;
        }
        let words: Vec<&str> = rest.split_whitespace().collect();
        sources.extend(words[..words.len() - 1].iter().map(|w| w.to_string()));
    }
    assert!(sources.contains(&"Cargo.lock".to_string()), "{sources:?}");
    for s in &sources {
        assert!(path(s).exists(), "COPY {s}: not in the repository");
    }
    // The build context's ignore file lets every copied path through.
    let ignore = read("deploy/Dockerfile.dockerignore");
    for s in &sources {
        let entry = format!("!{}", s.trim_end_matches('/'));
        assert!(
            ignore.lines().any(|l| l.trim_end_matches('/') == entry),
            "deploy/Dockerfile.dockerignore does not let {s} through"
        );
    }
    assert!(text.contains(r#"ENTRYPOINT ["/usr/local/bin/vigie"]"#));
    assert!(text.contains(r#"CMD ["run", "-c", "/etc/vigie/vigie.toml"]"#));
    assert!(text.contains("USER 10001:10001"));
    assert!(text.contains("EXPOSE 8080"));
}

// ---------------------------------------------------------------------------
// Kubernetes
// ---------------------------------------------------------------------------

const K8S_SCHEMAS: &str = "tests/data/schemas/kubernetes-v1.34.0-local-strict";

/// The manifests of deploy/k8s/ (as kustomization.yaml lists them), each document with its
/// file.
fn manifests() -> Vec<(String, Value)> {
    let kustomization = &yaml_documents("deploy/k8s/kustomization.yaml")[0];
    let files: Vec<String> = kustomization["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_string())
        .collect();
    let mut on_disk: Vec<String> = std::fs::read_dir(path("deploy/k8s"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml") && n != "kustomization.yaml")
        .collect();
    on_disk.sort();
    let mut listed = files.clone();
    listed.sort();
    assert_eq!(listed, on_disk, "kustomization.yaml lists every manifest");
    files
        .iter()
        .flat_map(|f| {
            yaml_documents(&format!("deploy/k8s/{f}"))
                .into_iter()
                .map(move |d| (f.clone(), d))
        })
        .collect()
}

#[test]
fn kubernetes_manifests_follow_the_kubernetes_1_34_schemas() {
    let definitions = read_json(&format!("{K8S_SCHEMAS}/_definitions.json"));
    let registry = jsonschema::Registry::new()
        .add("https://kubernetes.io/api/_definitions.json", definitions)
        .unwrap()
        .prepare()
        .unwrap();
    let schema_file: HashMap<&str, &str> = HashMap::from([
        ("ConfigMap", "configmap-v1.json"),
        ("Service", "service-v1.json"),
        ("StatefulSet", "statefulset-apps-v1.json"),
    ]);
    let mut kinds = Vec::new();
    for (file, doc) in manifests() {
        let kind = doc["kind"].as_str().unwrap_or_default().to_string();
        let schema = read_json(&format!(
            "{K8S_SCHEMAS}/{}",
            schema_file
                .get(kind.as_str())
                .unwrap_or_else(|| panic!("{file}: no schema for kind {kind:?}"))
        ));
        let validator = jsonschema::options()
            .with_registry(&registry)
            .build(&schema)
            .unwrap();
        let errs = errors(&validator, &doc);
        assert!(errs.is_empty(), "{file} ({kind}):\n{}", errs.join("\n"));
        // A wrong field is caught (the schemas are strict), so a pass means something.
        let mut wrong = doc.clone();
        wrong["metadata"]["lables"] = Value::from("x");
        assert!(
            !errors(&validator, &wrong).is_empty(),
            "{file}: strict schema"
        );
        kinds.push(kind);
    }
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "ConfigMap",
            "ConfigMap",
            "Service",
            "Service",
            "StatefulSet"
        ]
    );
}

#[test]
fn statefulset_gives_each_pod_its_shard_and_runs_hardened() {
    let docs = manifests();
    let (_, sts) = docs
        .iter()
        .find(|(_, d)| d["kind"] == "StatefulSet")
        .unwrap();
    let pod = &sts["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    let env: HashMap<&str, &Value> = c["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap(), e))
        .collect();
    // VIGIE_SHARD = ordinal / replicas.
    assert_eq!(
        env["VIGIE_SHARD_INDEX"]["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.labels['apps.kubernetes.io/pod-index']"
    );
    assert_eq!(
        env["VIGIE_SHARD_COUNT"]["value"].as_str().unwrap(),
        sts["spec"]["replicas"].to_string(),
        "VIGIE_SHARD_COUNT must equal replicas"
    );
    assert_eq!(
        env["VIGIE_SHARD"]["value"],
        "$(VIGIE_SHARD_INDEX)/$(VIGIE_SHARD_COUNT)"
    );
    // Probes on the routes vigie serves.
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/health");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/ready");
    // Hardening.
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
    assert_eq!(c["securityContext"]["capabilities"]["drop"][0], "ALL");
    assert!(c["resources"]["limits"]["memory"].is_string());
    // The data folder of vigie.toml is the claim's mount.
    let mounts: HashMap<&str, &str> = c["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap(),
                m["mountPath"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        sts["spec"]["volumeClaimTemplates"][0]["metadata"]["name"],
        "data"
    );
    assert_eq!(mounts["data"], "/var/lib/vigie");
    assert_eq!(mounts["profiles"], "/etc/vigie/plc-profiles");
}

/// The ConfigMaps' vigie.toml and profiles pass `vigie check`, the profiles are the
/// repository's, and every shard of the StatefulSet gets some of the network.
#[test]
fn configmaps_pass_vigie_check() {
    let docs = manifests();
    let data = |name: &str| {
        docs.iter()
            .find(|(_, d)| d["kind"] == "ConfigMap" && d["metadata"]["name"] == name)
            .map(|(_, d)| d["data"].as_object().unwrap().clone())
            .unwrap_or_else(|| panic!("no ConfigMap {name}"))
    };
    let dir = tempfile::tempdir().unwrap();
    let profiles = dir.path().join("plc-profiles");
    std::fs::create_dir(&profiles).unwrap();
    for (name, text) in data("vigie-profiles") {
        let text = text.as_str().unwrap();
        assert_eq!(
            text,
            read(&format!("plc-profiles/{name}")),
            "vigie-profiles {name} differs from plc-profiles/{name}"
        );
        std::fs::write(profiles.join(&name), text).unwrap();
    }
    let config = dir.path().join("vigie.toml");
    std::fs::write(
        &config,
        data("vigie-config")["vigie.toml"].as_str().unwrap(),
    )
    .unwrap();
    let env = [("VIGIE__DAEMON__PROFILES_DIR", profiles.to_str().unwrap())];
    let (ok, out) = vigie_check(&config, &env, &[]);
    assert!(ok, "{out}");
    let mut devices = 0;
    for i in 0..3 {
        let (ok, out) = vigie_check(&config, &env, &["--shard", &format!("{i}/3")]);
        assert!(ok, "{out}");
        let line = out.lines().find(|l| l.starts_with("shard ")).unwrap();
        let n: usize = line
            .rsplit_once(", ")
            .and_then(|(_, d)| d.strip_suffix(" devices"))
            .and_then(|d| d.parse().ok())
            .unwrap_or_else(|| panic!("{line}"));
        devices += n;
    }
    assert_eq!(devices, 5, "the 3 shards run the 5 devices between them");
}

// ---------------------------------------------------------------------------
// systemd
// ---------------------------------------------------------------------------

/// deploy/vigie.service with the test's vigie binary in place of /usr/local/bin/vigie
/// (`systemd-analyze verify` checks that the programs exist), in a temporary folder.
fn unit_copy() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let unit = dir.path().join("vigie.service");
    let text = read("deploy/vigie.service");
    assert!(text.contains("ExecStart=/usr/local/bin/vigie run -c /etc/vigie/vigie.toml"));
    std::fs::write(&unit, text.replace("/usr/local/bin/vigie", VIGIE)).unwrap();
    (dir, unit)
}

#[test]
fn systemd_unit_verifies_without_a_warning() {
    let (_dir, unit) = unit_copy();
    let out = Command::new(require("systemd-analyze"))
        .args(["verify", "--man=no"])
        .arg(&unit)
        .output()
        .expect("run systemd-analyze");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "systemd-analyze verify ({}):\n{said}",
        out.status
    );
    let text = read("deploy/vigie.service");
    for line in [
        "Type=notify",
        "NotifyAccess=main",
        "WatchdogSec=30s",
        "Restart=on-failure",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "DynamicUser=yes",
    ] {
        assert!(text.lines().any(|l| l == line), "no {line}");
    }
}

/// `systemd-analyze security` rates the unit 2.0 or below ("OK"; 8.5 "EXPOSED" before it
/// was hardened).
#[test]
fn systemd_unit_exposure_stays_low() {
    let (_dir, unit) = unit_copy();
    let out = Command::new(require("systemd-analyze"))
        .args(["security", "--offline=true", "--no-pager"])
        .arg(&unit)
        .output()
        .expect("run systemd-analyze");
    let text = String::from_utf8_lossy(&out.stdout);
    let level: f64 = text
        .lines()
        .find_map(|l| l.split("Overall exposure level for vigie.service: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "no exposure level in:\n{text}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    assert!(level <= 2.0, "exposure {level}:\n{text}");
}
