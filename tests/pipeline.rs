//! End to end on real peers: a pymodbus server (a Modbus implementation vigie did not
//! write) → vigie's poller, ring buffers and writer → a real InfluxDB 1.x or
//! victoria-metrics; the values read back must be exactly the ones served.

mod support;

use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use support::{InfluxV1, ModbusPeer, VictoriaMetrics, eventually, wire};
use vigie::sample::Quality;

/// The test's all-types profile and the registers its pymodbus unit serves, with the
/// value InfluxDB must hold for each field.
fn all_types() -> (String, HashMap<u16, u16>, Vec<(String, Value)>) {
    let mut profile = String::from(
        "manufacturer = \"test\"\nmodel = \"all types\"\nsource = \"tests/pipeline.rs\"\naddress_base = 0\nmax_gap = 0\n",
    );
    let mut regs = HashMap::new();
    let mut expect = Vec::new();
    let mut addr: u16 = 100;
    let mut add = |name: &str, ty: &str, order: &str, extra: &str, bytes: Vec<u8>, value: Value| {
        profile.push_str(&format!(
            "[[points]]\nname = \"{name}\"\nregister = \"holding\"\naddress = {addr}\ntype = \"{ty}\"\nword_order = \"{order}\"\n{extra}"
        ));
        for (k, w) in wire(&bytes, order).into_iter().enumerate() {
            regs.insert(addr + k as u16, w);
        }
        addr += (bytes.len() / 2) as u16 + 1; // one unused register between points
        expect.push((name.to_string(), value));
    };
    for order in ["ABCD", "CDAB", "BADC", "DCBA"] {
        let o = order.to_lowercase();
        add(
            &format!("u32_{o}"),
            "u32",
            order,
            "",
            4_000_000_001u32.to_be_bytes().to_vec(),
            json!(4_000_000_001u32),
        );
        add(
            &format!("i32_{o}"),
            "i32",
            order,
            "",
            (-123_456_789i32).to_be_bytes().to_vec(),
            json!(-123_456_789),
        );
        add(
            &format!("f32_{o}"),
            "f32",
            order,
            "",
            230.53f32.to_be_bytes().to_vec(),
            json!(230.53), // the f32's shortest decimal, not 230.52999877929688
        );
        add(
            &format!("u64_{o}"),
            "u64",
            order,
            "",
            9_007_199_254_740_993u64.to_be_bytes().to_vec(),
            json!(9_007_199_254_740_992f64),
        );
        add(
            &format!("i64_{o}"),
            "i64",
            order,
            "",
            (-1_234_567_890_123i64).to_be_bytes().to_vec(),
            json!(-1_234_567_890_123f64),
        );
        add(
            &format!("f64_{o}"),
            "f64",
            order,
            "",
            123_456.789_012_345f64.to_be_bytes().to_vec(),
            json!(123_456.789_012_345),
        );
        add(
            &format!("text_{o}"),
            "string",
            order,
            "length = 3\n",
            b"PT-101".to_vec(),
            json!("PT-101"),
        );
    }
    add(
        "u16",
        "u16",
        "ABCD",
        "",
        65_000u16.to_be_bytes().to_vec(),
        json!(65_000.0),
    );
    add(
        "i16_scaled",
        "i16",
        "ABCD",
        "scale = 0.01\noffset = -1.0\n",
        (-250i16).to_be_bytes().to_vec(),
        json!(-3.5),
    );
    add(
        "status_bits",
        "bitfield",
        "ABCD",
        "bit = 4\nbits = 3\n",
        0b0101_0000u16.to_be_bytes().to_vec(),
        json!(5),
    );
    add(
        "fault",
        "bool",
        "ABCD",
        "bit = 15\n",
        0x8000u16.to_be_bytes().to_vec(),
        json!(true),
    );
    add(
        "running",
        "bool",
        "ABCD",
        "bit = 0\n",
        0x8000u16.to_be_bytes().to_vec(),
        json!(false),
    );
    add(
        "sentinel",
        "i16",
        "ABCD",
        "nan = [0x8000]\n",
        0x8000u16.to_be_bytes().to_vec(),
        Value::Null,
    );
    add(
        "nan_float",
        "f32",
        "ABCD",
        "",
        f32::NAN.to_be_bytes().to_vec(),
        Value::Null,
    );
    (profile, regs, expect)
}

fn f32_words(v: f32) -> [u16; 2] {
    let b = v.to_be_bytes();
    [
        u16::from_be_bytes([b[0], b[1]]),
        u16::from_be_bytes([b[2], b[3]]),
    ]
}

fn image_map(regs: &HashMap<u16, u16>) -> Value {
    Value::Object(
        regs.iter()
            .map(|(a, v)| (a.to_string(), json!(v)))
            .collect(),
    )
}

/// A profiles folder with the real profiles plus the test's all-types profile.
fn profiles_dir(tmp: &Path, all_types_profile: &str) -> PathBuf {
    let dir = tmp.join("profiles");
    std::fs::create_dir_all(&dir).unwrap();
    for e in std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("plc-profiles")).unwrap()
    {
        let e = e.unwrap();
        std::fs::copy(e.path(), dir.join(e.file_name())).unwrap();
    }
    std::fs::write(dir.join("test-all-types.toml"), all_types_profile).unwrap();
    dir
}

/// The gateway image: unit 1 all types; unit 2 an SDM630 (f32 input registers, ABCD);
/// unit 3 an ABB ACQ580 (holding, 32-bit values low word first); unit 4 an EM24 (input,
/// i32 CDAB with scales); unit 5 a PAC2200 (f64 energy); unit 9 never answers.
fn gateway_image(all: &HashMap<u16, u16>) -> Value {
    let sdm: HashMap<u16, u16> = [
        (0u16, 230.5f32),
        (2, 231.25),
        (4, 229.75),
        (70, 50.02),
        (72, 123_456.5),
    ]
    .into_iter()
    .flat_map(|(a, v)| {
        let w = f32_words(v);
        [(a, w[0]), (a + 1, w[1])]
    })
    .collect();
    let speed = wire(&147_525i32.to_be_bytes(), "CDAB"); // 1475.25 rpm at FbEq32 100 = 1 rpm
    let mut abb: HashMap<u16, u16> = HashMap::from([(3, 0b0000_0010_0000_0111), (400, 0x2310)]);
    abb.insert(20201, speed[0]);
    abb.insert(20202, speed[1]);
    let power = wire(&184_321i32.to_be_bytes(), "CDAB"); // 18432.1 W at 0.1 W
    let em24: HashMap<u16, u16> =
        HashMap::from([(40, power[0]), (41, power[1]), (53, (-930i16) as u16)]);
    let energy = wire(&1_234_567.0f64.to_be_bytes(), "ABCD"); // Wh → 1234.567 kWh
    let pac: HashMap<u16, u16> = (0..4).map(|k| (801 + k as u16, energy[k])).collect();
    json!({
        "units": {
            "1": {"holding": image_map(all)},
            "2": {"input": image_map(&sdm)},
            "3": {"holding": image_map(&abb)},
            "4": {"input": image_map(&em24)},
            "5": {"input": image_map(&pac)}
        },
        "silent_units": [9]
    })
}

fn vigie_toml(profiles: &Path, data: &Path, gateway: &str, influx: &str) -> String {
    format!(
        r#"
[daemon]
profiles_dir = {profiles:?}
data_dir = {data:?}
{influx}
[[sites]]
id = "PS-01"
kind = "pumping_station"
devices = [
  {{ id = "all", profile = "test-all-types", address = "{gateway}", unit_id = 1, timeout = "300ms" }},
  {{ id = "EM-001", profile = "eastron-sdm630", address = "{gateway}", unit_id = 2, timeout = "300ms" }},
  {{ id = "P1", profile = "abb-acq580", address = "{gateway}", unit_id = 3, timeout = "300ms" }},
  {{ id = "EM-002", profile = "carlo-gavazzi-em24", address = "{gateway}", unit_id = 4, timeout = "300ms" }},
  {{ id = "INC", profile = "siemens-pac2200", address = "{gateway}", unit_id = 5, timeout = "300ms" }},
  {{ id = "LT-201", profile = "keller-acculevel", address = "{gateway}", unit_id = 9, timeout = "300ms" }},
]
"#
    )
}

fn listen_any() -> Option<SocketAddr> {
    Some("127.0.0.1:0".parse().unwrap())
}

fn network(tmp: &Path, text: &str) -> vigie::config::Network {
    let path = tmp.join("vigie.toml");
    std::fs::write(&path, text).unwrap();
    vigie::config::load(&path, Some(HashMap::new())).unwrap_or_else(|e| panic!("{e:?}"))
}

fn last_row(influx: &InfluxV1, device: &str) -> Option<HashMap<String, Value>> {
    let r = influx.query(&format!(
        "SELECT * FROM telemetry WHERE device = '{device}' ORDER BY time DESC LIMIT 1"
    ));
    let series = r["results"][0]["series"][0].clone();
    let cols: Vec<String> = serde_json::from_value(series["columns"].clone()).ok()?;
    let row: Vec<Value> = serde_json::from_value(series["values"][0].clone()).ok()?;
    Some(cols.into_iter().zip(row).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_type_and_word_order_reaches_influxdb_v1_exactly_and_a_dead_unit_stalls_no_one() {
    let tmp = tempfile::tempdir().unwrap();
    let (profile, all_regs, expect) = all_types();
    let profiles = profiles_dir(tmp.path(), &profile);
    let peer = ModbusPeer::start(&gateway_image(&all_regs));
    let influx = InfluxV1::start();
    let influx_cfg = format!(
        "[influxdb]\nurl = \"{}\"\napi = \"v1\"\ndatabase = \"{}\"\nflush_interval = \"200ms\"\n",
        influx.url, influx.db
    );
    let net = network(
        tmp.path(),
        &vigie_toml(
            &profiles,
            &tmp.path().join("var"),
            &peer.addr(),
            &influx_cfg,
        ),
    );
    let daemon = vigie::daemon::start(&net, listen_any()).await.unwrap();

    // Let ~8 polls happen, with unit 9 silent all along.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let influx = tokio::task::spawn_blocking(move || {
        let row = eventually(
            Duration::from_secs(20),
            "telemetry of device 'all' in InfluxDB",
            || last_row(&influx, "all"),
        );
        assert_eq!(row["site"], json!("PS-01"));
        assert_eq!(row["kind"], json!("pumping_station"));
        for (name, want) in &expect {
            let got = row.get(name).unwrap_or(&Value::Null);
            match want {
                Value::Number(_) => assert_eq!(got.as_f64(), want.as_f64(), "{name}: got {got}"),
                _ => assert_eq!(got, want, "{name}"),
            }
        }
        let sdm = last_row(&influx, "EM-001").unwrap();
        assert_eq!(sdm["voltage_l1_v"], json!(230.5));
        assert_eq!(sdm["frequency_hz"].as_f64(), Some(50.02));
        assert_eq!(sdm["import_energy_kwh"], json!(123_456.5));
        let abb = last_row(&influx, "P1").unwrap();
        assert_eq!(abb["motor_speed_rpm"], json!(1475.25));
        assert_eq!(abb["running"], json!(true));
        assert_eq!(abb["tripped"], json!(false));
        assert_eq!(abb["fault_code"].as_f64(), Some(f64::from(0x2310)));
        let em24 = last_row(&influx, "EM-002").unwrap();
        assert_eq!(em24["total_active_power_w"].as_f64(), Some(18_432.1));
        assert_eq!(em24["total_power_factor"].as_f64(), Some(-0.93));
        let pac = last_row(&influx, "INC").unwrap();
        assert_eq!(pac["import_energy_kwh"].as_f64(), Some(1234.567));
        // The silent unit has no telemetry, and its status says down.
        assert!(last_row(&influx, "LT-201").is_none());
        let st = influx.values("SELECT last(up) FROM device_status WHERE device = 'LT-201'");
        assert_eq!(st[0][1], json!(false));
        // Its neighbours were polled on every 1 s grid slot: no gap in their series.
        for device in ["all", "EM-001", "P1", "EM-002", "INC"] {
            let rows = influx.values(&format!(
                "SELECT up FROM device_status WHERE device = '{device}' ORDER BY time"
            ));
            let times: Vec<i64> = rows.iter().map(|r| r[0].as_i64().unwrap()).collect();
            assert!(times.len() >= 6, "{device}: {} polls", times.len());
            assert!(
                times.iter().all(|t| t % 1_000_000_000 == 0),
                "{device}: timestamps not on the grid: {times:?}"
            );
            assert!(
                times.windows(2).all(|w| w[1] - w[0] == 1_000_000_000),
                "{device}: a slot was missed: {times:?}"
            );
            assert!(
                rows.iter().all(|r| r[1] == json!(true)),
                "{device}: {rows:?}"
            );
        }
        influx
    })
    .await
    .unwrap();
    let metrics = daemon.metrics.render();
    for device in ["all", "EM-001", "P1", "EM-002", "INC"] {
        assert!(
            metrics.contains(&format!(
                "vigie_missed_slots_total{{site=\"PS-01\",device=\"{device}\"}} 0"
            )),
            "{metrics}"
        );
    }
    // The live state agrees: bad samples of the sentinel and NaN points, good elsewhere.
    let st = live_point(&daemon, "PS-01", "all", "sentinel");
    assert_eq!(st.quality, Quality::Bad(vigie::sample::BadReason::NoValue));
    let st = live_point(&daemon, "PS-01", "all", "nan_float");
    assert_eq!(
        st.quality,
        Quality::Bad(vigie::sample::BadReason::OutOfRange)
    );
    let st = live_point(&daemon, "PS-01", "LT-201", "level_m");
    assert_eq!(st.quality, Quality::Bad(vigie::sample::BadReason::Timeout));
    daemon.shutdown(Duration::from_secs(5)).await;
    drop(influx);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn victoria_metrics_receives_the_v2_write_api() {
    let tmp = tempfile::tempdir().unwrap();
    let (profile, all_regs, _) = all_types();
    let profiles = profiles_dir(tmp.path(), &profile);
    let peer = ModbusPeer::start(&gateway_image(&all_regs));
    let vm = VictoriaMetrics::start();
    let cfg = format!(
        "[influxdb]\nurl = \"{}\"\napi = \"v2\"\norg = \"utility\"\nbucket = \"scada\"\ntoken = \"t\"\nflush_interval = \"200ms\"\n",
        vm.url
    );
    let net = network(
        tmp.path(),
        &vigie_toml(&profiles, &tmp.path().join("var"), &peer.addr(), &cfg),
    );
    let daemon = vigie::daemon::start(&net, listen_any()).await.unwrap();
    let vm = tokio::task::spawn_blocking(move || {
        let series = vm.wait_export("telemetry_voltage_l1_v", Duration::from_secs(30), |s| {
            s.iter()
                .any(|x| x["values"].as_array().is_some_and(|v| v.len() >= 3))
        });
        let s = series
            .iter()
            .find(|s| s["metric"]["device"] == json!("EM-001"))
            .expect("EM-001's series");
        assert_eq!(s["metric"]["site"], json!("PS-01"));
        assert_eq!(s["metric"]["kind"], json!("pumping_station"));
        assert!(
            s["values"]
                .as_array()
                .unwrap()
                .iter()
                .all(|v| v.as_f64() == Some(230.5)),
            "{s}"
        );
        let ts = s["timestamps"].as_array().unwrap();
        assert!(
            ts.iter().all(|t| t.as_i64().unwrap() % 1000 == 0),
            "not on the 1 s grid: {ts:?}"
        );
        let speed = vm.wait_export("telemetry_motor_speed_rpm", Duration::from_secs(10), |s| {
            !s.is_empty()
        });
        let p1 = speed
            .iter()
            .find(|s| s["metric"]["device"] == json!("P1"))
            .expect("P1's speed");
        assert_eq!(p1["values"][0].as_f64(), Some(1475.25));
        let up = vm.wait_export("device_status_up", Duration::from_secs(10), |s| {
            s.len() >= 6
        });
        let dead = up
            .iter()
            .find(|s| s["metric"]["device"] == json!("LT-201"))
            .expect("status of the silent unit");
        assert!(
            dead["values"]
                .as_array()
                .unwrap()
                .iter()
                .all(|v| v.as_f64() == Some(0.0)),
            "{dead}"
        );
        vm
    })
    .await
    .unwrap();
    daemon.shutdown(Duration::from_secs(5)).await;
    drop(vm);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_reply_is_never_taken_for_another_request_and_a_restarted_device_comes_back() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = profiles_dir(tmp.path(), &all_types().0);
    // Unit 1 answers at once with 230.5 V; unit 2 answers the same registers with 999.0 V,
    // but only after 700 ms, when its 300 ms timeout has long passed.
    let w1 = f32_words(230.5);
    let w2 = f32_words(999.0);
    let mut peer = ModbusPeer::start(&json!({
        "units": {
            "1": {"input": {"0": w1[0], "1": w1[1]}},
            "2": {"input": {"0": w2[0], "1": w2[1]}}
        },
        "delay_ms": {"2": 700}
    }));
    let text = format!(
        r#"
[daemon]
profiles_dir = {dir:?}
data_dir = {:?}
[[sites]]
id = "S"
kind = "substation"
devices = [
  {{ id = "fast", profile = "eastron-sdm630", address = "{a}", unit_id = 1, timeout = "300ms" }},
  {{ id = "late", profile = "eastron-sdm630", address = "{a}", unit_id = 2, timeout = "300ms" }},
]
"#,
        tmp.path().join("var"),
        a = peer.addr()
    );
    let net = network(tmp.path(), &text);
    let daemon = vigie::daemon::start(&net, listen_any()).await.unwrap();
    let c = daemon.live.catalog.clone();
    let fast = c.find("S", "fast", "voltage_l1_v").unwrap();
    let late = c.find("S", "late", "voltage_l1_v").unwrap();
    tokio::time::sleep(Duration::from_secs(6)).await;
    let h = daemon.live.history(fast);
    assert!(h.len() >= 4, "{h:?}");
    // Every sample of the fast unit is its own value: 999 V never leaked into it.
    assert!(h.iter().all(|(_, v)| *v == Some(230.5)), "{h:?}");
    let l = daemon.live.point(late).unwrap();
    assert_eq!(l.quality, Quality::Bad(vigie::sample::BadReason::Timeout));
    let lh = daemon.live.history(late);
    assert!(lh.iter().all(|(_, v)| v.is_none()), "{lh:?}");

    // Power the "device" off: points go bad; on again (same port): they come back by themselves.
    peer.stop();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let off = daemon.live.point(fast).unwrap();
    assert!(matches!(off.quality, Quality::Bad(_)), "{off:?}");
    peer.restart();
    let mut back = false;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if daemon.live.point(fast).unwrap().quality == Quality::Good {
            back = true;
            break;
        }
    }
    assert!(back, "the device was not reconnected after it came back");
    daemon.shutdown(Duration::from_secs(5)).await;
}

/// The live state of point `site`/`device`/`point` of a running daemon.
fn live_point(
    daemon: &vigie::daemon::Daemon,
    site: &str,
    device: &str,
    point: &str,
) -> vigie::sink::live::PointState {
    let id = daemon
        .live
        .catalog
        .find(site, device, point)
        .expect("point in the catalog");
    daemon.live.point(id).expect("point state")
}

/// A point's short history (oldest first) by site, device and point id.
fn live_history(
    daemon: &vigie::daemon::Daemon,
    site: &str,
    device: &str,
    point: &str,
) -> Vec<(i64, Option<f64>)> {
    let id = daemon
        .live
        .catalog
        .find(site, device, point)
        .expect("point in the catalog");
    daemon.live.history(id)
}

/// A pymodbus unit 1 with an SDM630's voltage_l1_v = 230.5 V (the other points read 0).
fn sdm630_peer() -> ModbusPeer {
    let w = f32_words(230.5);
    ModbusPeer::start(&json!({"units": {"1": {"input": {"0": w[0], "1": w[1]}}}}))
}

/// One substation `S` with one SDM630 `INC` (unit 1 at `address`), writing to the v1
/// InfluxDB at `url`/`database` with these extra `[influxdb]` keys.
fn one_meter_to_influx_v1(
    tmp: &Path,
    address: &str,
    url: &str,
    database: &str,
    influx_keys: &str,
) -> vigie::config::Network {
    let dir = profiles_dir(tmp, &all_types().0);
    let text = format!(
        "[daemon]\nprofiles_dir = {dir:?}\ndata_dir = {:?}\n\
         [influxdb]\nurl = \"{url}\"\napi = \"v1\"\ndatabase = \"{database}\"\nflush_interval = \"200ms\"\n{influx_keys}\n\
         [[sites]]\nid = \"S\"\nkind = \"substation\"\n\
         devices = [{{ id = \"INC\", profile = \"eastron-sdm630\", address = \"{address}\", unit_id = 1 }}]\n",
        tmp.join("var"),
    );
    network(tmp, &text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn influxdb_down_for_a_while_loses_no_sample() {
    let tmp = tempfile::tempdir().unwrap();
    let peer = sdm630_peer();
    let mut influx = InfluxV1::start();
    let keys = "max_retries = 1\ntimeout = \"1s\"";
    let net = one_meter_to_influx_v1(tmp.path(), &peer.addr(), &influx.url, &influx.db, keys);
    let daemon = vigie::daemon::start(&net, listen_any()).await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    influx.stop();
    tokio::time::sleep(Duration::from_secs(6)).await;
    let spooled = daemon
        .metrics
        .writer
        .batches_spooled
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(spooled > 0, "nothing was spooled while InfluxDB was down");
    influx.restart();
    tokio::time::sleep(Duration::from_secs(6)).await;
    let last_polled = daemon.live.devices()[0].expect("polled").time_ns;
    daemon.shutdown(Duration::from_secs(10)).await;
    let left = spooled_batches(&tmp.path().join("var"));
    assert_eq!(left, 0, "spool not empty after replay and a clean stop");
    tokio::task::spawn_blocking(move || {
        let rows =
            influx.values("SELECT voltage_l1_v FROM telemetry WHERE device = 'INC' ORDER BY time");
        let times: Vec<i64> = rows.iter().map(|r| r[0].as_i64().unwrap()).collect();
        assert!(times.len() >= 13, "{} samples: {times:?}", times.len());
        assert!(
            times.windows(2).all(|w| w[1] - w[0] == 1_000_000_000),
            "a sample is missing: {times:?}"
        );
        assert!(rows.iter().all(|r| r[1] == json!(230.5)));
        // A clean stop sends the last polls too.
        assert!(
            times.last().is_some_and(|t| *t >= last_polled),
            "last poll {last_polled} not written: {times:?}"
        );
    })
    .await
    .unwrap();
}

/// Batches left in the spool folder.
fn spooled_batches(data_dir: &Path) -> usize {
    std::fs::read_dir(data_dir.join("spool"))
        .map(|d| {
            d.filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "lp"))
            })
            .count()
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merged_read_over_a_hole_in_the_map_is_split_so_only_the_missing_point_is_bad() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = profiles_dir(tmp.path(), &all_types().0);
    // A meter profile whose author listed a register the device does not have (PDU 4),
    // between two that it has: the planner merges 0..=5 into one read.
    std::fs::write(
        dir.join("holey-meter.toml"),
        "manufacturer = \"test\"\nmodel = \"holey\"\nsource = \"tests/pipeline.rs\"\naddress_base = 0\n\
         [[points]]\nname = \"voltage_v\"\nregister = \"input\"\naddress = 0\ntype = \"f32\"\n\
         [[points]]\nname = \"ghost\"\nregister = \"input\"\naddress = 4\ntype = \"u16\"\n\
         [[points]]\nname = \"current_a\"\nregister = \"input\"\naddress = 5\ntype = \"u16\"\n",
    )
    .unwrap();
    let w = f32_words(230.5);
    let peer = ModbusPeer::start(&json!({
        "units": {"1": {"input": {"0": w[0], "1": w[1], "5": 42}}},
        "unmapped": {"1": {"input": [[4, 4]]}}
    }));
    let text = format!(
        "[daemon]\nprofiles_dir = {dir:?}\ndata_dir = {:?}\n[[sites]]\nid = \"S\"\nkind = \"substation\"\n\
         devices = [{{ id = \"M\", profile = \"holey-meter\", address = \"{}\", unit_id = 1 }}]\n",
        tmp.path().join("var"),
        peer.addr()
    );
    let net = network(tmp.path(), &text);
    let daemon = vigie::daemon::start(&net, listen_any()).await.unwrap();
    let q = |name: &str| live_point(&daemon, "S", "M", name);
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        q("voltage_v").quality,
        Quality::Good,
        "{:?}",
        q("voltage_v")
    );
    assert_eq!(
        q("voltage_v").value,
        Some(vigie::profile::Value::F64(230.5))
    );
    assert_eq!(q("current_a").value, Some(vigie::profile::Value::F64(42.0)));
    assert_eq!(
        q("ghost").quality,
        Quality::Bad(vigie::sample::BadReason::Exception(2))
    );
    // The first poll (merged read) made all three bad; from the second on, only the ghost.
    let first = live_history(&daemon, "S", "M", "voltage_v")[0];
    assert_eq!(
        first.1, None,
        "the first, merged read should have been refused"
    );
    daemon.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_influxdb_refuses_as_bad_data_is_dropped_not_retried_forever() {
    let tmp = tempfile::tempdir().unwrap();
    let peer = sdm630_peer();
    let influx = InfluxV1::start();
    // Someone wrote voltage_l1_v as a string before: every float vigie sends for it is a
    // field type conflict, which InfluxDB answers with 400.
    // (Field types are per shard: write it now, in the shard vigie will write to.)
    let now = vigie::sample::now_ns();
    influx.write(&format!(
        "telemetry,site=S,device=INC,kind=substation voltage_l1_v=\"n/a\" {now}\n"
    ));
    let net = one_meter_to_influx_v1(tmp.path(), &peer.addr(), &influx.url, &influx.db, "");
    let daemon = vigie::daemon::start(&net, listen_any()).await.unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let w = &daemon.metrics.writer;
    let rejected = w
        .batches_rejected
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(rejected >= 3, "rejected batches: {rejected}");
    // Dropped, not spooled or retried: the spool stays empty and nothing waits.
    assert_eq!(
        w.batches_spooled.load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    assert_eq!(w.retries.load(std::sync::atomic::Ordering::Relaxed), 0);
    daemon.shutdown(Duration::from_secs(5)).await;
    tokio::task::spawn_blocking(move || {
        // InfluxDB 1.x keeps the rest of a partly refused batch: the device status is there.
        let rows = influx.values("SELECT up FROM device_status WHERE device = 'INC'");
        assert!(rows.len() >= 3, "{rows:?}");
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unit_sending_malformed_replies_does_not_starve_the_units_after_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = profiles_dir(tmp.path(), &all_types().0);
    let w = f32_words(230.5);
    // Unit 2 (listed first) always answers one register short; unit 1 is healthy.
    let peer = ModbusPeer::start(&json!({
        "units": {"1": {"input": {"0": w[0], "1": w[1]}}, "2": {"input": {"0": w[0], "1": w[1]}}},
        "short_units": [2]
    }));
    let text = format!(
        "[daemon]\nprofiles_dir = {dir:?}\ndata_dir = {:?}\n[[sites]]\nid = \"S\"\nkind = \"substation\"\n\
         devices = [\n  {{ id = \"BAD\", profile = \"eastron-sdm630\", address = \"{a}\", unit_id = 2 }},\n  \
         {{ id = \"GOOD\", profile = \"eastron-sdm630\", address = \"{a}\", unit_id = 1 }},\n]\n",
        tmp.path().join("var"),
        a = peer.addr()
    );
    let net = network(tmp.path(), &text);
    let daemon = vigie::daemon::start(&net, listen_any()).await.unwrap();
    tokio::time::sleep(Duration::from_secs(8)).await;
    let good = live_history(&daemon, "S", "GOOD", "voltage_l1_v");
    let bad = live_point(&daemon, "S", "BAD", "voltage_l1_v");
    assert_eq!(
        bad.quality,
        Quality::Bad(vigie::sample::BadReason::BadReply),
        "{bad:?}"
    );
    let good_polls = good.iter().filter(|(_, v)| *v == Some(230.5)).count();
    assert!(
        good_polls >= 6,
        "GOOD read {good_polls} times in 8 s: {good:?}"
    );
    let metrics = daemon.metrics.render();
    assert!(
        metrics.contains("vigie_missed_slots_total{site=\"S\",device=\"GOOD\"} 0"),
        "{metrics}"
    );
    daemon.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_while_influxdb_hangs_is_bounded_and_spools_every_poll() {
    let tmp = tempfile::tempdir().unwrap();
    let peer = sdm630_peer();
    // An "InfluxDB" that accepts connections and never answers (a hung server, a black hole).
    let hang = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hang_url = format!("http://{}", hang.local_addr().unwrap());
    let held = std::thread::spawn(move || {
        let mut open = Vec::new();
        for s in hang.incoming().take(64) {
            open.push(s);
        }
        open.len()
    });
    let keys = "timeout = \"10s\"\nmax_retries = 4";
    let net = one_meter_to_influx_v1(tmp.path(), &peer.addr(), &hang_url, "d", keys);
    let daemon = vigie::daemon::start(&net, listen_any()).await.unwrap();
    tokio::time::sleep(Duration::from_secs(6)).await;
    let polled = daemon.live.devices()[0].expect("polled").time_ns;
    let started = std::time::Instant::now();
    daemon.shutdown(Duration::from_secs(10)).await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(9), "stop took {took:?}");
    // Every poll is in the spool, the last one included.
    let mut times = Vec::new();
    for e in std::fs::read_dir(tmp.path().join("var/spool")).unwrap() {
        let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
        for l in text.lines().filter(|l| l.starts_with("device_status")) {
            times.push(l.rsplit(' ').next().unwrap().parse::<i64>().unwrap());
        }
    }
    times.sort();
    assert!(times.len() >= 5, "{times:?}");
    assert!(
        times.windows(2).all(|w| w[1] - w[0] == 1_000_000_000),
        "a poll is missing: {times:?}"
    );
    assert!(
        times.last().is_some_and(|t| *t >= polled),
        "last poll {polled} not spooled: {times:?}"
    );
    drop(held);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_unit_with_many_reads_holds_the_gateway_no_longer_than_its_timeout() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = profiles_dir(tmp.path(), &all_types().0);
    let w = f32_words(230.5);
    let regs = json!({"0": w[0], "1": w[1]});
    // SLOW answers every read after 300 ms; an SDM630 takes four reads: 1.2 s, more than
    // the 1 s slot. Its poll must stop at its 500 ms timeout, so GOOD keeps its slot.
    let peer = ModbusPeer::start(&json!({
        "units": {"1": {"input": regs}, "2": {"input": regs}},
        "delay_ms": {"2": 300}
    }));
    let text = format!(
        "[daemon]\nprofiles_dir = {dir:?}\ndata_dir = {:?}\n[[sites]]\nid = \"S\"\nkind = \"substation\"\n\
         devices = [\n  {{ id = \"SLOW\", profile = \"eastron-sdm630\", address = \"{a}\", unit_id = 2, timeout = \"500ms\" }},\n  \
         {{ id = \"GOOD\", profile = \"eastron-sdm630\", address = \"{a}\", unit_id = 1 }},\n]\n",
        tmp.path().join("var"),
        a = peer.addr()
    );
    let net = network(tmp.path(), &text);
    let daemon = vigie::daemon::start(&net, listen_any()).await.unwrap();
    tokio::time::sleep(Duration::from_secs(7)).await;
    let slow_first = live_history(&daemon, "S", "SLOW", "voltage_l1_v");
    let slow_last = live_point(&daemon, "S", "SLOW", "total_energy_kwh");
    assert!(
        slow_first.iter().any(|(_, v)| *v == Some(230.5)),
        "{slow_first:?}"
    );
    assert_eq!(
        slow_last.quality,
        Quality::Bad(vigie::sample::BadReason::Timeout)
    );
    let metrics = daemon.metrics.render();
    assert!(
        metrics.contains("vigie_missed_slots_total{site=\"S\",device=\"GOOD\"} 0"),
        "{metrics}"
    );
    let good = live_history(&daemon, "S", "GOOD", "voltage_l1_v");
    assert!(
        good.iter().filter(|(_, v)| *v == Some(230.5)).count() >= 5,
        "{good:?}"
    );
    daemon.shutdown(Duration::from_secs(5)).await;
}
