//! The test peers on their own, without vigie: if these fail, the other
//! integration tests cannot be trusted.

mod support;

use std::time::Duration;

use serde_json::json;
use support::{InfluxV1, ModbusPeer, VictoriaMetrics, http, mbpoll, run_mbpoll, urlencode};

/// The value mbpoll prints for reference `reference` (`[REF]: \tVALUE`).
fn mbpoll_value(output: &str, reference: u32) -> String {
    let prefix = format!("[{reference}]:");
    output
        .lines()
        .find_map(|l| l.trim().strip_prefix(&prefix))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| panic!("no [{reference}] in mbpoll output:\n{output}"))
}

#[test]
fn modbus_peer_serves_image_to_mbpoll() {
    // 230.5f32 = 0x4366_8000, big-endian word order at input registers 0-1.
    let peer = ModbusPeer::start(&json!({
        "units": {
            "1": {
                "input": {"0": 0x4366, "1": 0x8000},
                "holding": {"0": 17226, "1": 32768, "65535": 7},
                "coils": {"3": true},
                "discrete": {"1": true}
            },
            "2": {"holding": {"0": [5, 6]}}
        },
        "silent_units": [3],
        "delay_ms": {"2": 300}
    }));
    let port = peer.port.to_string();
    let base = ["-m", "tcp", "-1", "-p", port.as_str()];
    // One poll of the peer: `mbpoll -m tcp -1 -p PORT ARGS 127.0.0.1`.
    let poll_args = |args: &[&'static str]| {
        let mut all: Vec<&str> = base.to_vec();
        all.extend_from_slice(args);
        all.push("127.0.0.1");
        all
    };
    // Its stdout; panics when mbpoll fails.
    let read = |args: &[&'static str]| mbpoll(&poll_args(args));
    // Its whole result, failed or not.
    let try_read = |args: &[&'static str]| run_mbpoll(&poll_args(args));

    // mbpoll references are 1-based unless -0: -r 1 is PDU address 0.
    let out = read(&["-a", "1", "-t", "3:float", "-B", "-r", "1", "-c", "1"]);
    assert_eq!(mbpoll_value(&out, 1), "230.5", "{out}");

    let out = read(&["-a", "1", "-t", "4", "-0", "-r", "0", "-c", "3"]);
    assert_eq!(mbpoll_value(&out, 0), "17226");
    assert_eq!(mbpoll_value(&out, 1), "32768 (-32768)");
    assert_eq!(mbpoll_value(&out, 2), "0", "unset addresses read 0");

    let out = read(&["-a", "1", "-t", "4", "-0", "-r", "65535", "-c", "1"]);
    assert_eq!(mbpoll_value(&out, 65535), "7");

    let out = read(&["-a", "1", "-t", "0", "-0", "-r", "2", "-c", "3"]);
    assert_eq!(
        [2, 3, 4].map(|r| mbpoll_value(&out, r)),
        ["0", "1", "0"].map(String::from)
    );
    let out = read(&["-a", "1", "-t", "1", "-0", "-r", "1", "-c", "1"]);
    assert_eq!(mbpoll_value(&out, 1), "1");

    // Unit 2 answers after its 300 ms delay.
    let started = std::time::Instant::now();
    let out = read(&["-a", "2", "-t", "4", "-0", "-r", "0", "-c", "2"]);
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(mbpoll_value(&out, 1), "6");

    // Unit 3 is silent: mbpoll times out.
    let out = try_read(&["-o", "0.5", "-a", "3", "-t", "4", "-r", "1"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("timed out"), "{stderr}");

    // An unknown unit gets the gateway exception 0x0B.
    let out = try_read(&["-a", "9", "-t", "4", "-r", "1"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("Target device failed to respond"),
        "{stderr}"
    );

    // Values change while the server runs; a unit can fall silent.
    peer.set_input(1, 0, &[0x4120, 0x0000]); // 10.0
    peer.update(&json!({"silent_units": [1]}));
    let out = try_read(&["-o", "0.5", "-a", "1", "-t", "3", "-r", "1"]);
    assert!(!out.status.success());
    peer.update(&json!({"silent_units": []}));
    let out = read(&["-a", "1", "-t", "3:float", "-B", "-r", "1", "-c", "1"]);
    assert_eq!(mbpoll_value(&out, 1), "10", "{out}");

    // Writes are stored (values after the host; mbpoll -t 4 takes 0..=65535).
    let write = "-a 1 -t 4 -0 -r 100 127.0.0.1 1234 65534";
    let mut args: Vec<&str> = base.to_vec();
    args.extend(write.split(' '));
    mbpoll(&args);
    let out = read(&["-a", "1", "-t", "4", "-0", "-r", "100", "-c", "2"]);
    assert_eq!(mbpoll_value(&out, 100), "1234");
    assert_eq!(mbpoll_value(&out, 101), "65534 (-2)");
}

#[test]
fn modbus_peer_keeps_transaction_ids_of_pipelined_requests() {
    use std::io::{Read, Write};
    let peer = ModbusPeer::start(&json!({
        "units": {"1": {"holding": {"0": 11}}, "2": {"holding": {"0": 22}}},
        "delay_ms": {"2": 200}
    }));
    let mut s = std::net::TcpStream::connect(peer.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let request = |tid: u16, unit: u8| {
        let mut r = tid.to_be_bytes().to_vec();
        r.extend_from_slice(&[0, 0, 0, 6, unit, 3, 0, 0, 0, 1]);
        r
    };
    // Both requests in one segment: the delayed unit first.
    let mut both = request(7, 2);
    both.extend(request(8, 1));
    s.write_all(&both).unwrap();
    let mut replies = [0u8; 22];
    s.read_exact(&mut replies).unwrap();
    // tid 7, unit 2, fc 3, 2 bytes, 22; then tid 8, unit 1, 11.
    assert_eq!(&replies[..11], &[0, 7, 0, 0, 0, 5, 2, 3, 2, 0, 22]);
    assert_eq!(&replies[11..], &[0, 8, 0, 0, 0, 5, 1, 3, 2, 0, 11]);
}

#[test]
fn modbus_peer_start_fails_with_the_servers_message() {
    // A bad image makes start() fail with the server's own message.
    let err = std::panic::catch_unwind(|| {
        ModbusPeer::start(&json!({"units": {"1": {"holding": {"0": 70000}}}}))
    })
    .err()
    .expect("start must fail");
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("register value must be a u16"), "{msg}");
}

#[test]
fn influxdb_v1_write_and_query() {
    let influx = InfluxV1::start();
    let (status, body) = http(
        "POST",
        &format!("{}/write?db={}", influx.url, influx.db),
        "telemetry,site=S v=1.5 1700000000000000000",
    );
    assert_eq!(status, 204, "{body}");
    let answer = influx.query("SELECT v, site FROM telemetry");
    assert_eq!(
        answer["results"][0]["series"][0]["values"],
        json!([[1700000000000000000u64, 1.5, "S"]]),
        "{answer}"
    );
    influx.write("telemetry,site=T v=2.5 1700000001000000000");
    assert_eq!(
        influx.values("SELECT count(v) FROM telemetry"),
        vec![vec![json!(0), json!(2)]]
    );

    // InfluxDB 1.6 has no v2 write API.
    let (status, _) = http(
        "POST",
        &format!("{}/api/v2/write?bucket=vigie&org=x", influx.url),
        "telemetry v=1",
    );
    assert_eq!(status, 404);
}

#[test]
fn influxdb_v1_restart_keeps_data() {
    let mut influx = InfluxV1::start();
    influx.write("telemetry,site=S v=1.5 1700000000000000000");
    influx.stop();
    let down = support::try_request("GET", &format!("{}/ping", influx.url), &[], b"");
    assert!(down.is_err(), "influxd still answers after stop");
    influx.restart();
    assert_eq!(influx.values("SELECT v FROM telemetry").len(), 1);
}

#[test]
fn victoria_metrics_v2_write_and_export() {
    let vm = VictoriaMetrics::start();
    let (status, body) = http(
        "POST",
        &format!("{}/api/v2/write?bucket=x&org=y", vm.url),
        "m,site=S f=1.5,g=2i 1700000000000000000",
    );
    assert_eq!(status, 204, "{body}");
    let series = vm.wait_export("m_f", Duration::from_secs(10), |s| !s.is_empty());
    assert_eq!(series.len(), 1, "{series:?}");
    assert_eq!(series[0]["metric"], json!({"__name__": "m_f", "site": "S"}));
    assert_eq!(series[0]["values"], json!([1.5]));
    assert_eq!(series[0]["timestamps"], json!([1700000000000u64]));

    let selector = r#"{__name__=~"m_.*",site="S"}"#;
    let series = vm.wait_export(selector, Duration::from_secs(10), |s| s.len() == 2);
    let mut names: Vec<&str> = series
        .iter()
        .map(|s| s["metric"]["__name__"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["m_f", "m_g"]);

    // The v1 endpoint works too and adds the db label.
    let (status, _) = http(
        "POST",
        &format!("{}/write?db={}", vm.url, urlencode("vigie")),
        "n f=3 1700000000000000000",
    );
    assert_eq!(status, 204);
    let series = vm.wait_export("n_f", Duration::from_secs(10), |s| !s.is_empty());
    assert_eq!(
        series[0]["metric"],
        json!({"__name__": "n_f", "db": "vigie"})
    );
}

#[test]
fn modbus_peer_restarts_on_the_same_port() {
    let mut peer = ModbusPeer::start(&json!({"units": {"1": {"holding": {"0": 3}}}}));
    let port = peer.port;
    peer.stop();
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
    peer.restart();
    assert_eq!(peer.port, port);
    let port = port.to_string();
    let out = mbpoll(&[
        "-m",
        "tcp",
        "-1",
        "-p",
        &port,
        "-a",
        "1",
        "-r",
        "1",
        "127.0.0.1",
    ]);
    assert_eq!(mbpoll_value(&out, 1), "3");
}

#[test]
#[should_panic(
    expected = "missing program: vigie-no-such-program (run scripts/test.sh to install it)"
)]
fn require_names_a_missing_program() {
    support::require("vigie-no-such-program");
}
