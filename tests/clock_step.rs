//! A system clock stepped back or forward (NTP, an operator) while vigie polls: polling goes
//! on, on the new time, with no frozen values and no storm of missed slots. The step is made
//! with libfaketime (Debian's `faketime`) on the wall clock only; the monotonic clock runs on.

mod support;

use serde_json::Value;
use std::path::Path;
use std::time::Duration;
use support::vigie::VigieChild;
use support::{eventually, free_port, try_request};

const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1";

/// The point, read with the viewer's token the demo printed.
fn point(base: &str, token: &str) -> Option<Value> {
    let auth = format!("Bearer {token}");
    let r = try_request(
        "GET",
        &format!("{base}/api/v1/points/PS-01/PT-101/pressure_bar"),
        &[("Authorization", &auth)],
        b"",
    )
    .ok()?;
    (r.status == 200).then(|| r.json())
}

#[test]
fn polling_follows_a_stepped_clock() {
    assert!(
        Path::new(LIBFAKETIME).exists(),
        "missing program: libfaketime ({LIBFAKETIME}; run scripts/test.sh to install Debian's faketime)"
    );
    let tmp = tempfile::tempdir().unwrap();
    let step_file = tmp.path().join("faketime");
    std::fs::write(&step_file, "+0s").unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let listen = format!("127.0.0.1:{port}");
    let data = tmp.path().join("var");
    let step = step_file.to_string_lossy().to_string();
    let mut demo = VigieChild::spawn_with_env(
        &[
            "demo",
            "--listen",
            &listen,
            "--duration",
            "120s",
            "--data-dir",
            data.to_str().unwrap(),
        ],
        Path::new(env!("CARGO_MANIFEST_DIR")),
        &[
            ("LD_PRELOAD", LIBFAKETIME),
            ("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
            ("FAKETIME_TIMESTAMP_FILE", &step),
            ("FAKETIME_NO_CACHE", "1"),
        ],
    );
    let token = demo.wait_line(Duration::from_secs(60), "the demo's viewer token", |l| {
        l.strip_prefix("token viewer ").map(str::to_string)
    });
    let point = |base: &str| point(base, &token);
    let before = eventually(Duration::from_secs(60), "PT-101 good", || {
        point(&base).filter(|p| {
            p["quality"] == "good" && p["history"].as_array().is_some_and(|h| h.len() >= 3)
        })
    });
    let t0 = before["time_ns"].as_i64().unwrap();

    // One minute back: polls go on with the new, earlier timestamps; the value stays good.
    std::fs::write(&step_file, "-60s").unwrap();
    let back = eventually(
        Duration::from_secs(30),
        "polls on the stepped-back clock",
        || {
            point(&base).filter(|p| {
                p["time_ns"]
                    .as_i64()
                    .is_some_and(|t| t < t0 - 50_000_000_000)
            })
        },
    );
    std::thread::sleep(Duration::from_secs(3));
    let later = point(&base).unwrap();
    assert_eq!(later["quality"], "good", "{later}");
    assert!(
        later["time_ns"].as_i64().unwrap() > back["time_ns"].as_i64().unwrap(),
        "polling stopped: {later}"
    );

    // One hour forward: polls go on at once, and the jump is not counted as missed slots.
    std::fs::write(&step_file, "+3600s").unwrap();
    let ahead = eventually(
        Duration::from_secs(30),
        "polls on the stepped-forward clock",
        || {
            point(&base).filter(|p| {
                p["time_ns"]
                    .as_i64()
                    .is_some_and(|t| t > t0 + 3_500_000_000_000)
            })
        },
    );
    assert_eq!(ahead["quality"], "good", "{ahead}");
    let metrics = try_request("GET", &format!("{base}/metrics"), &[], b"")
        .unwrap()
        .body;
    let missed: u64 = metrics
        .lines()
        .filter(|l| l.starts_with("vigie_missed_slots_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert!(
        missed < 30,
        "a clock step was counted as {missed} missed slots:\n{metrics}"
    );
}
