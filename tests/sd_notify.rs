//! `vigie run` under a service manager's eyes: the sd_notify(3) datagrams it sends to the
//! unix socket named by `NOTIFY_SOCKET` (what systemd's `Type=notify` and `WatchdogSec=`
//! read). The test plays systemd: it binds the socket, starts vigie with `NOTIFY_SOCKET`
//! and `WATCHDOG_USEC`, and reads what arrives.

mod support;

use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};
use support::vigie::VigieChild;
use support::{free_ports, try_request};

/// The datagrams received until `until` returns true for one of them or `timeout` passes;
/// each with the time it arrived.
fn receive(
    socket: &UnixDatagram,
    timeout: Duration,
    mut until: impl FnMut(&str) -> bool,
) -> Vec<(Instant, String)> {
    let deadline = Instant::now() + timeout;
    let mut got = Vec::new();
    let mut buf = vec![0u8; 4096];
    while Instant::now() < deadline {
        match socket.recv(&mut buf) {
            Ok(n) => {
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                let done = until(&text);
                got.push((Instant::now(), text));
                if done {
                    break;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => panic!("recv on the notify socket: {e}"),
        }
    }
    got
}

#[test]
fn ready_after_the_api_listens_then_watchdog_pings_then_stopping_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let [api, dead_device] = free_ports::<2>();
    // One device nobody answers for: its poller runs (and times out), the drain moves.
    std::fs::write(
        dir.path().join("vigie.toml"),
        format!(
            r#"[daemon]
profiles_dir = {profiles:?}
data_dir = "var"
[api]
listen = "127.0.0.1:{api}"
[[sites]]
id = "LAB"
kind = "substation"
devices = [{{ id = "M1", profile = "eastron-sdm630", address = "127.0.0.1:{dead_device}", unit_id = 1, timeout = "200ms" }}]
"#,
            profiles = concat!(env!("CARGO_MANIFEST_DIR"), "/plc-profiles"),
        ),
    )
    .unwrap();
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    // WATCHDOG_USEC 1 s: vigie pings every 500 ms.
    let mut vigie = VigieChild::spawn_with_env(
        &["run", "-c", "vigie.toml"],
        dir.path(),
        &[
            ("NOTIFY_SOCKET", socket_path.to_str().unwrap()),
            ("WATCHDOG_USEC", "1000000"),
        ],
    );
    let health = format!("http://127.0.0.1:{api}/health");

    // READY=1 arrives, and when it does the API already answers.
    let mut answered_at_ready = None;
    let first = receive(&socket, Duration::from_secs(60), |d| {
        let ready = d.lines().any(|l| l == "READY=1");
        if ready {
            answered_at_ready = Some(try_request("GET", &health, &[], b"").map(|r| r.status));
        }
        ready
    });
    vigie.assert_running("waiting for READY=1");
    let ready = first
        .iter()
        .find(|(_, d)| d.lines().any(|l| l == "READY=1"))
        .unwrap_or_else(|| panic!("no READY=1 within 60 s: {first:?}\n{}", vigie.output()));
    assert!(
        ready
            .1
            .lines()
            .any(|l| l.starts_with("STATUS=running: API on 127.0.0.1:")),
        "READY=1 comes with a STATUS= line: {:?}",
        ready.1
    );
    match answered_at_ready {
        Some(Ok(200)) => {}
        other => panic!("when READY=1 arrived, GET /health gave {other:?}"),
    }

    // WATCHDOG=1 every ~500 ms: at least 4 in 3 s, none more than 1 s after the previous.
    let pings: Vec<Instant> = receive(&socket, Duration::from_secs(3), |_| false)
        .into_iter()
        .filter(|(_, d)| d.lines().any(|l| l == "WATCHDOG=1"))
        .map(|(t, _)| t)
        .collect();
    assert!(pings.len() >= 4, "{} WATCHDOG=1 in 3 s", pings.len());
    for w in pings.windows(2) {
        assert!(
            w[1] - w[0] < Duration::from_millis(1000),
            "watchdog pings {:?} apart",
            w[1] - w[0]
        );
    }

    // SIGTERM: STOPPING=1, then a clean exit.
    vigie.terminate();
    let last = receive(&socket, Duration::from_secs(20), |d| {
        d.lines().any(|l| l == "STOPPING=1")
    });
    assert!(
        last.iter()
            .any(|(_, d)| d.lines().any(|l| l == "STOPPING=1")),
        "no STOPPING=1 after SIGTERM: {last:?}\n{}",
        vigie.output()
    );
    let status = vigie.wait_exit(Duration::from_secs(30), "vigie to exit after SIGTERM");
    assert!(status.success(), "{status}\n{}", vigie.output());
}

/// Without NOTIFY_SOCKET (a terminal, Docker, Kubernetes) nothing is sent and nothing fails.
#[test]
fn without_notify_socket_vigie_runs_as_before() {
    let dir = tempfile::tempdir().unwrap();
    let [api] = free_ports::<1>();
    std::fs::write(
        dir.path().join("vigie.toml"),
        format!("[daemon]\ndata_dir = \"var\"\n[api]\nlisten = \"127.0.0.1:{api}\"\n"),
    )
    .unwrap();
    let mut vigie = VigieChild::spawn_with_env(
        &["run", "-c", "vigie.toml"],
        dir.path(),
        &[("WATCHDOG_USEC", "1000000")],
    );
    vigie.wait_line(Duration::from_secs(60), "`vigie running`", |l| {
        l.starts_with("vigie running").then_some(())
    });
    let r = try_request("GET", &format!("http://127.0.0.1:{api}/ready"), &[], b"").unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    vigie.terminate();
    let status = vigie.wait_exit(Duration::from_secs(30), "vigie to exit after SIGTERM");
    assert!(status.success(), "{status}\n{}", vigie.output());
    assert!(
        !vigie.stderr().contains("cannot notify systemd"),
        "{}",
        vigie.output()
    );
}
