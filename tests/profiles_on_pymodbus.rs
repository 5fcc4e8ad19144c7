//! The shipped device profiles on a real peer: pymodbus (a Modbus server vigie did not
//! write) serves each profile's registers, coils and discrete inputs, encoded here by hand
//! from the addresses, types, word orders and scales documented in `plc-profiles/*.toml`;
//! vigie polls them and writes to a real InfluxDB 1.x; every field read back must be the
//! engineering value computed here, exactly.
//!
//! `tests/pipeline.rs` covers eastron-sdm630, abb-acq580, carlo-gavazzi-em24 and
//! siemens-pac2200 (and keller-acculevel as a silent unit); this file covers the others,
//! and checks that together they leave no shipped profile out.

mod support;

use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use support::{InfluxV1, ModbusPeer, eventually, wire};

/// One register table of a unit, by PDU address.
#[derive(Default)]
struct Table(BTreeMap<u16, u16>);

impl Table {
    /// Puts big-endian `bytes` at PDU address `at` in word order `order`.
    fn put(&mut self, at: u16, bytes: &[u8], order: &str) -> &mut Table {
        for (k, w) in wire(bytes, order).into_iter().enumerate() {
            let a = at + k as u16;
            assert!(self.0.insert(a, w).is_none(), "register {a} set twice");
        }
        self
    }

    /// Fills registers that no point reads with a value no point expects.
    fn decoy(&mut self, addresses: impl IntoIterator<Item = u16>) -> &mut Table {
        for a in addresses {
            assert!(self.0.insert(a, 0xFFFF).is_none(), "decoy on register {a}");
        }
        self
    }

    fn json(&self) -> Value {
        Value::Object(
            self.0
                .iter()
                .map(|(a, v)| (a.to_string(), json!(v)))
                .collect(),
        )
    }
}

/// What InfluxDB must hold for a field, and the field type it must be stored as.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Want {
    Float(f64),
    Int(i64),
    Bool(bool),
}

impl Want {
    fn influx_type(self) -> &'static str {
        match self {
            Want::Float(_) => "float",
            Want::Int(_) => "integer",
            Want::Bool(_) => "boolean",
        }
    }

    fn matches(self, got: &Value) -> bool {
        match self {
            Want::Float(x) => got.as_f64() == Some(x),
            Want::Int(i) => got.as_i64() == Some(i),
            Want::Bool(b) => got.as_bool() == Some(b),
        }
    }
}

/// A device of a test: its profile, what pymodbus serves for it, what InfluxDB must hold.
struct Device {
    id: &'static str,
    profile: &'static str,
    unit: u8,
    /// The unit's tables, in the image format of tests/peers/modbus_server.py.
    tables: Value,
    /// Every point of the profile and its engineering value.
    expect: Vec<(&'static str, Want)>,
}

// ---- the profiles, encoded by hand from plc-profiles/*.toml ----

/// siemens-mag8000: holding, PDU addresses (address_base 0), ABCD; f32 at 3000/3002/3012,
/// bitfield 3016, i32 at 3017/3019/3021, low bytes of 3030/3031. One read of 3000-3031.
fn mag8000(id: &'static str, unit: u8) -> Device {
    let (velocity, flow, pct) = (812.37f32, 154.23f32, 61.7f32);
    let mut h = Table::default();
    h.put(3000, &velocity.to_be_bytes(), "ABCD")
        .put(3002, &flow.to_be_bytes(), "ABCD")
        .put(3012, &pct.to_be_bytes(), "ABCD")
        // Two fault bits, the top one included: a bitfield is unsigned.
        .put(3016, &0x8004u16.to_be_bytes(), "ABCD")
        .put(3017, &2_345_678i32.to_be_bytes(), "ABCD")
        // Both words non-zero: a word-order mistake would not go unnoticed.
        .put(3019, &100_000i32.to_be_bytes(), "ABCD")
        // A net totaliser below zero (more reverse than forward flow).
        .put(3021, &(-41_250i32).to_be_bytes(), "ABCD")
        // 87 % in the low byte; the high byte is not part of the value.
        .put(3030, &0x0157u16.to_be_bytes(), "ABCD")
        .put(3031, &0x0302u16.to_be_bytes(), "ABCD")
        // Registers inside the merged read that no point names.
        .decoy((3004..3012).chain(3014..3016).chain(3023..3030));
    Device {
        id,
        profile: "siemens-mag8000",
        unit,
        tables: json!({"holding": h.json()}),
        expect: vec![
            ("flow_velocity_mm_per_s", Want::Float(decimal(velocity))),
            ("flow_m3_per_h", Want::Float(decimal(flow))),
            ("flow_pct_of_qn", Want::Float(decimal(pct))),
            ("fault_status", Want::Int(0x8004)),
            ("totaliser_1_m3", Want::Float(2_345_678.0)),
            ("totaliser_1_fraction_raw", Want::Float(100_000.0)),
            ("totaliser_2_m3", Want::Float(-41_250.0)),
            ("battery_pct", Want::Int(87)),
            ("power_status", Want::Int(2)),
        ],
    }
}

/// keller-series30: holding, PDU 0x0100 P1 [bar] and 0x0102 TOB1 [degC], f32 ABCD.
fn series30(id: &'static str, unit: u8) -> Device {
    let (p1, tob1) = (6.4371f32, 14.85f32);
    let mut h = Table::default();
    h.put(0x0100, &p1.to_be_bytes(), "ABCD")
        .put(0x0102, &tob1.to_be_bytes(), "ABCD");
    Device {
        id,
        profile: "keller-series30",
        unit,
        tables: json!({"holding": h.json()}),
        expect: vec![
            ("pressure_bar", Want::Float(decimal(p1))),
            ("temperature_c", Want::Float(decimal(tob1))),
        ],
    }
}

/// keller-acculevel: the Series 30 registers; level_m = P1 [bar] × 10.1972 m/bar.
fn acculevel(id: &'static str, unit: u8) -> Device {
    let (p1, tob1) = (0.3527f32, 11.2f32);
    let mut h = Table::default();
    h.put(0x0100, &p1.to_be_bytes(), "ABCD")
        .put(0x0102, &tob1.to_be_bytes(), "ABCD");
    Device {
        id,
        profile: "keller-acculevel",
        unit,
        tables: json!({"holding": h.json()}),
        expect: vec![
            ("level_m", Want::Float(decimal(p1) * 10.1972)),
            ("temperature_c", Want::Float(decimal(tob1))),
        ],
    }
}

/// danfoss-fc202: holding, register = parameter × 10, 1-based (PDU = parameter × 10 - 1),
/// ABCD, one read per parameter (max_gap 0).
fn fc202(id: &'static str, unit: u8) -> Device {
    let pdu = |parameter: u16| parameter * 10 - 1;
    // 16-03 status word: control ready, drive ready, coast inactive, warning (bit 7), at
    // reference, auto, in frequency range, running; no alarm (bit 3).
    let status: u16 = 0b0000_1111_1000_0111;
    let mut h = Table::default();
    h.put(pdu(1603), &status.to_be_bytes(), "ABCD")
        .put(pdu(1610), &1_847i32.to_be_bytes(), "ABCD") // 18.47 kW at 0.01 kW
        .put(pdu(1612), &3_987i16.to_be_bytes(), "ABCD") // 398.7 V at 0.1 V
        .put(pdu(1613), &472u16.to_be_bytes(), "ABCD") // 47.2 Hz at 0.1 Hz
        .put(pdu(1614), &3_315i32.to_be_bytes(), "ABCD") // 33.15 A at 0.01 A
        .put(pdu(1617), &1_416i32.to_be_bytes(), "ABCD")
        .put(pdu(1630), &563i16.to_be_bytes(), "ABCD")
        .put(pdu(1634), &41u16.to_be_bytes(), "ABCD")
        .put(pdu(1687), &29u16.to_be_bytes(), "ABCD")
        // 16-90 alarm word: no alarm; a read one register off would not give 0.
        .put(pdu(1690), &0u32.to_be_bytes(), "ABCD")
        .decoy([pdu(1690) - 1, pdu(1690) + 2])
        // 16-92 warning word: one bit in each register.
        .put(pdu(1692), &0x0040_0002u32.to_be_bytes(), "ABCD");
    Device {
        id,
        profile: "danfoss-fc202",
        unit,
        tables: json!({"holding": h.json()}),
        expect: vec![
            ("status_word", Want::Int(i64::from(status))),
            ("tripped", Want::Bool(false)),
            ("warning", Want::Bool(true)),
            ("auto_mode", Want::Bool(true)),
            ("running", Want::Bool(true)),
            ("output_power_kw", Want::Float(18.47)),
            ("motor_voltage_v", Want::Float(398.7)),
            ("output_frequency_hz", Want::Float(47.2)),
            ("motor_current_a", Want::Float(33.15)),
            ("motor_speed_rpm", Want::Float(1_416.0)),
            ("dc_voltage_v", Want::Float(563.0)),
            ("heatsink_temperature_c", Want::Float(41.0)),
            ("alarm_code", Want::Float(29.0)),
            ("alarm_word", Want::Int(0)),
            ("warning_word", Want::Int(0x0040_0002)),
        ],
    }
}

/// schneider-compact-nsx: holding, PDU addresses (hex); 0x0232 breaker status (bit 0 OF,
/// 1 SD, 2 SDE), 0x0233 motor mechanism (bits 0, 1, 2, 5), 0x041D frequency u16 × 0.1 Hz.
fn compact_nsx(id: &'static str, unit: u8) -> Device {
    let mut h = Table::default();
    // Tripped on an electrical fault: OF 0 (open), SD 1, SDE 1.
    h.put(0x0232, &0b110u16.to_be_bytes(), "ABCD")
        // Motor mechanism available, manual, last command fine, local mode.
        .put(0x0233, &0b10_0001u16.to_be_bytes(), "ABCD")
        .put(0x041D, &499u16.to_be_bytes(), "ABCD");
    Device {
        id,
        profile: "schneider-compact-nsx",
        unit,
        tables: json!({"holding": h.json()}),
        expect: vec![
            ("breaker_status", Want::Int(6)),
            ("breaker_closed", Want::Bool(false)),
            ("breaker_tripped", Want::Bool(true)),
            ("electrical_fault_trip", Want::Bool(true)),
            ("motor_mechanism_available", Want::Bool(true)),
            ("motor_mechanism_auto", Want::Bool(false)),
            ("motor_mechanism_command_failed", Want::Bool(false)),
            ("motor_mechanism_local", Want::Bool(true)),
            ("frequency_hz", Want::Float(49.9)),
        ],
    }
}

/// moxa-iologik-e1214: DI 0-5 are discrete inputs 0-5 (FC 02), relays 0-5 are coils 0-5
/// (FC 01). The patterns are not palindromes, so a reversed bit order shows.
fn e1214(id: &'static str, unit: u8) -> Device {
    let di = [true, false, false, true, false, true];
    let relay = [false, false, true, false, false, true];
    let word = |bits: &[bool; 6]| -> u16 {
        bits.iter()
            .enumerate()
            .map(|(k, b)| u16::from(*b) << k)
            .sum()
    };
    // The device's other views of the same channels (the DI word at input 0x0030, the DO
    // word at holding 0x0020) and the pulse status coils 0x0010-0x0015, which vigie does
    // not read.
    let tables = json!({
        "discrete": {"0": di},
        "coils": {"0": relay, "16": [true, true, true, true, true, true]},
        "input": {"48": word(&di)},
        "holding": {"32": word(&relay)}
    });
    let names = ["di_0", "di_1", "di_2", "di_3", "di_4", "di_5"];
    let relays = [
        "relay_0", "relay_1", "relay_2", "relay_3", "relay_4", "relay_5",
    ];
    let expect = names
        .into_iter()
        .zip(di)
        .chain(relays.into_iter().zip(relay))
        .map(|(n, b)| (n, Want::Bool(b)))
        .collect();
    Device {
        id,
        profile: "moxa-iologik-e1214",
        unit,
        tables,
        expect,
    }
}

/// Profiles whose values `tests/pipeline.rs` reads back from InfluxDB.
const READ_BACK_IN_PIPELINE_RS: [&str; 4] = [
    "eastron-sdm630",
    "abb-acq580",
    "carlo-gavazzi-em24",
    "siemens-pac2200",
];

// ---- peers, config, InfluxDB ----

fn plc_profiles() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("plc-profiles")
}

/// A peer image with `devices` as units, `silent` units and per-unit `delay_ms`.
fn image(devices: &[&Device], silent: &[u8], delay_ms: &[(u8, u64)]) -> Value {
    let units: serde_json::Map<String, Value> = devices
        .iter()
        .map(|d| (d.unit.to_string(), d.tables.clone()))
        .collect();
    let delays: serde_json::Map<String, Value> = delay_ms
        .iter()
        .map(|(u, ms)| (u.to_string(), json!(ms)))
        .collect();
    json!({"units": units, "silent_units": silent, "delay_ms": delays})
}

/// What vigie reports for a float32 register: the f64 of the f32's shortest decimal
/// (0.93f32 reads 0.93), computed here with std's formatting, not vigie's code.
fn decimal(x: f32) -> f64 {
    x.to_string().parse().unwrap()
}

/// One `[[sites]]` of the config: id, kind, and devices as (device, address, timeout).
type Site<'a> = (&'a str, &'a str, Vec<(&'a Device, String, &'a str)>);

fn network(tmp: &Path, influx: &InfluxV1, sites: &[Site<'_>]) -> vigie::config::Network {
    let mut text = format!(
        "[daemon]\nprofiles_dir = {:?}\ndata_dir = {:?}\n\
         [influxdb]\nurl = \"{}\"\napi = \"v1\"\ndatabase = \"{}\"\nflush_interval = \"200ms\"\n",
        plc_profiles(),
        tmp.join("var"),
        influx.url,
        influx.db
    );
    for (id, kind, devices) in sites {
        text.push_str(&format!(
            "[[sites]]\nid = \"{id}\"\nkind = \"{kind}\"\ndevices = [\n"
        ));
        for (d, address, timeout) in devices {
            text.push_str(&format!(
                "  {{ id = \"{}\", profile = \"{}\", address = \"{address}\", unit_id = {}, timeout = \"{timeout}\" }},\n",
                d.id, d.profile, d.unit
            ));
        }
        text.push_str("]\n");
    }
    let path = tmp.join("vigie.toml");
    std::fs::write(&path, &text).unwrap();
    vigie::config::load(&path, Some(HashMap::new())).unwrap_or_else(|e| panic!("{e:?}\n{text}"))
}

fn listen_any() -> Option<SocketAddr> {
    Some("127.0.0.1:0".parse().unwrap())
}

/// The rows of an InfluxQL query, each as column → value.
fn rows(influx: &InfluxV1, q: &str) -> Vec<HashMap<String, Value>> {
    let answer = influx.query(q);
    let series = &answer["results"][0]["series"][0];
    let cols: Vec<String> = serde_json::from_value(series["columns"].clone()).unwrap_or_default();
    let values: Vec<Vec<Value>> =
        serde_json::from_value(series["values"].clone()).unwrap_or_default();
    values
        .into_iter()
        .map(|row| cols.iter().cloned().zip(row).collect())
        .collect()
}

fn telemetry(influx: &InfluxV1, device: &str) -> Vec<HashMap<String, Value>> {
    rows(
        influx,
        &format!("SELECT * FROM telemetry WHERE device = '{device}' ORDER BY time"),
    )
}

/// Checks every telemetry row of `d` (at least `min_rows`): tags, exactly the profile's
/// fields, each with its expected value.
fn check_values(influx: &InfluxV1, d: &Device, site: &str, kind: &str, min_rows: usize) {
    let rows = eventually(
        Duration::from_secs(20),
        &format!("{min_rows} telemetry rows of {} in InfluxDB", d.id),
        || Some(telemetry(influx, d.id)).filter(|r| r.len() >= min_rows),
    );
    let want: BTreeSet<&str> = d.expect.iter().map(|(n, _)| *n).collect();
    for row in &rows {
        assert_eq!(row["site"], json!(site), "{}", d.id);
        assert_eq!(row["kind"], json!(kind), "{}", d.id);
        let fields: BTreeSet<&str> = row
            .iter()
            .filter(|(k, v)| {
                !v.is_null() && !["time", "site", "device", "kind"].contains(&k.as_str())
            })
            .map(|(k, _)| k.as_str())
            .collect();
        assert_eq!(
            fields, want,
            "{}: fields of the row at {}",
            d.id, row["time"]
        );
        for (name, w) in &d.expect {
            let got = &row[*name];
            assert!(
                w.matches(got),
                "{}.{name}: InfluxDB has {got}, want {w:?} (row at {})",
                d.id,
                row["time"]
            );
        }
    }
}

/// Checks that InfluxDB stored each field of `devices` with the type of its value
/// (bitfields integer, bools boolean, numbers float).
fn check_field_types(influx: &InfluxV1, devices: &[&Device]) {
    let types: HashMap<String, String> = influx
        .values("SHOW FIELD KEYS FROM telemetry")
        .into_iter()
        .map(|r| (r[0].as_str().unwrap().into(), r[1].as_str().unwrap().into()))
        .collect();
    for d in devices {
        for (name, w) in &d.expect {
            assert_eq!(
                types.get(*name).map(String::as_str),
                Some(w.influx_type()),
                "{}.{name}: field type in InfluxDB",
                d.id
            );
        }
    }
}

// ---- the tests ----

/// Every profile in plc-profiles/ is read back from pymodbus through InfluxDB, here or in
/// tests/pipeline.rs, and each expectation table here names every point of its profile.
#[test]
fn every_shipped_profile_is_read_back_through_pymodbus_by_some_test() {
    let shipped = vigie::profile::load_dir(&plc_profiles()).unwrap_or_else(|e| panic!("{e}"));
    let here = [
        mag8000("x", 1),
        series30("x", 1),
        acculevel("x", 1),
        fc202("x", 1),
        compact_nsx("x", 1),
        e1214("x", 1),
    ];
    for d in &here {
        let p = shipped
            .iter()
            .find(|p| p.id == d.profile)
            .unwrap_or_else(|| panic!("no profile {}", d.profile));
        let points: BTreeSet<&str> = p.points.iter().map(|p| p.name.as_str()).collect();
        let expected: BTreeSet<&str> = d.expect.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            expected.len(),
            d.expect.len(),
            "{}: a point twice",
            d.profile
        );
        assert_eq!(
            expected, points,
            "{}: expectations vs profile points",
            d.profile
        );
    }
    let pipeline =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pipeline.rs"))
            .unwrap();
    for id in READ_BACK_IN_PIPELINE_RS {
        assert!(
            pipeline.contains(&format!("profile = \"{id}\"")),
            "tests/pipeline.rs no longer configures {id}: cover it here"
        );
    }
    for p in &shipped {
        assert!(
            READ_BACK_IN_PIPELINE_RS.contains(&p.id.as_str())
                || here.iter().any(|d| d.profile == p.id),
            "profile {} is shipped but no pymodbus test reads its values back",
            p.id
        );
    }
}

/// The six profiles, each on the kind of peer it sits behind in the field: a RS-485/TCP
/// gateway with four units, the Moxa's own Modbus TCP server (coils and discrete inputs)
/// and a Schneider IFE answering on unit 255.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remaining_profiles_reach_influxdb_exactly_coils_discrete_inputs_and_unit_255_included() {
    let tmp = tempfile::tempdir().unwrap();
    let meter = mag8000("FT-301", 11);
    let pressure = series30("PT-101", 12);
    let level = acculevel("LT-201", 13);
    let drive = fc202("P2", 14);
    let rio = e1214("RIO-1", 1);
    let breaker = compact_nsx("Q1", 255);
    let gateway = ModbusPeer::start(&image(&[&meter, &pressure, &level, &drive], &[], &[]));
    let moxa = ModbusPeer::start(&image(&[&rio], &[], &[]));
    let ife = ModbusPeer::start(&image(&[&breaker], &[], &[]));
    let influx = InfluxV1::start();
    let at = |d, addr: &str| (d, addr.to_string(), "300ms");
    let net = network(
        tmp.path(),
        &influx,
        &[
            (
                "PS-02",
                "pumping_station",
                vec![
                    at(&meter, &gateway.addr()),
                    at(&pressure, &gateway.addr()),
                    at(&level, &gateway.addr()),
                    at(&drive, &gateway.addr()),
                ],
            ),
            (
                "SS-01",
                "substation",
                vec![at(&rio, &moxa.addr()), at(&breaker, &ife.addr())],
            ),
        ],
    );
    let daemon = vigie::daemon::start(&net, listen_any()).await.unwrap();
    let influx = tokio::task::spawn_blocking(move || {
        for d in [&meter, &pressure, &level, &drive] {
            check_values(&influx, d, "PS-02", "pumping_station", 3);
        }
        for d in [&rio, &breaker] {
            check_values(&influx, d, "SS-01", "substation", 3);
        }
        check_field_types(
            &influx,
            &[&meter, &pressure, &level, &drive, &rio, &breaker],
        );
        for d in ["FT-301", "PT-101", "LT-201", "P2", "RIO-1", "Q1"] {
            let up = influx.values(&format!(
                "SELECT up FROM device_status WHERE device = '{d}'"
            ));
            assert!(
                !up.is_empty() && up.iter().all(|r| r[1] == json!(true)),
                "{d}: {up:?}"
            );
        }
        influx
    })
    .await
    .unwrap();
    daemon.shutdown(Duration::from_secs(5)).await;
    drop((influx, gateway, moxa, ife));
}

/// Behind one gateway: a dead unit third of six and a unit that answers 300 ms late (its
/// timeout 450 ms) fifth. Every answering device is polled on each 1 s grid slot from the
/// first one, with its exact values, and misses no slot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_unit_mid_list_and_a_slow_unit_cost_no_neighbour_a_grid_slot() {
    const SLOTS: usize = 9; // 8 s of grid
    let tmp = tempfile::tempdir().unwrap();
    let meter = mag8000("FT-301", 11);
    let pressure = series30("PT-101", 12);
    let dead = acculevel("LT-202", 9);
    let drive = fc202("P2", 14);
    let slow = acculevel("LT-201", 13);
    let last = series30("PT-102", 15);
    // The dead unit's registers exist in the image, but the peer never answers it.
    let gateway = ModbusPeer::start(&image(
        &[&meter, &pressure, &dead, &drive, &slow, &last],
        &[dead.unit],
        &[(slow.unit, 300)],
    ));
    let influx = InfluxV1::start();
    let gw = gateway.addr();
    let net = network(
        tmp.path(),
        &influx,
        &[(
            "PS-03",
            "pumping_station",
            vec![
                (&meter, gw.clone(), "300ms"),
                (&pressure, gw.clone(), "300ms"),
                (&dead, gw.clone(), "300ms"),
                (&drive, gw.clone(), "300ms"),
                (&slow, gw.clone(), "450ms"),
                (&last, gw.clone(), "300ms"),
            ],
        )],
    );
    let daemon = vigie::daemon::start(&net, listen_any()).await.unwrap();
    let metrics = daemon.metrics.clone();
    let answering = ["FT-301", "PT-101", "P2", "LT-201", "PT-102"];
    let influx = tokio::task::spawn_blocking(move || {
        let status = |d: &str| {
            rows(
                &influx,
                &format!(
                    "SELECT up, latency_ms, timeouts FROM device_status WHERE device = '{d}' ORDER BY time"
                ),
            )
        };
        let time = |r: &HashMap<String, Value>| r["time"].as_i64().unwrap();
        let by_device: Vec<Vec<HashMap<String, Value>>> = ["LT-202"]
            .iter()
            .chain(&answering)
            .map(|d| {
                eventually(
                    Duration::from_secs(30),
                    &format!("{SLOTS} device_status rows of {d}"),
                    || Some(status(d)).filter(|r| r.len() >= SLOTS),
                )
            })
            .collect();
        // All devices start on the same slot, the first after start-up.
        let t0 = by_device.iter().map(|r| time(&r[0])).min().unwrap();
        assert_eq!(t0 % 1_000_000_000, 0, "not on the 1 s grid: {t0}");
        for (d, rows) in answering.iter().zip(&by_device[1..]) {
            let times: Vec<i64> = rows.iter().map(time).collect();
            let grid: Vec<i64> = (0..SLOTS as i64).map(|k| t0 + k * 1_000_000_000).collect();
            assert_eq!(times[..SLOTS], grid[..], "{d}: a grid slot was missed: {times:?}");
            assert!(rows.iter().all(|r| r["up"] == json!(true)), "{d}: {rows:?}");
        }
        // The setup did what it says: the slow unit answered every poll, after its delay;
        // the dead one never did, and has no telemetry.
        let slow_rows = &by_device[4];
        assert!(
            slow_rows
                .iter()
                .all(|r| r["latency_ms"].as_f64().unwrap() >= 300.0 && r["timeouts"] == json!(0)),
            "LT-201: {slow_rows:?}"
        );
        let dead_rows = &by_device[0];
        assert!(dead_rows.iter().all(|r| r["up"] == json!(false)), "LT-202: {dead_rows:?}");
        assert!(dead_rows.last().unwrap()["timeouts"].as_i64().unwrap() >= 3, "LT-202: {dead_rows:?}");
        assert!(telemetry(&influx, "LT-202").is_empty());
        // The neighbours' values are their own, every poll.
        for d in [&meter, &pressure, &drive, &slow, &last] {
            check_values(&influx, d, "PS-03", "pumping_station", SLOTS);
        }
        let text = metrics.render();
        for d in answering {
            let line = format!("vigie_missed_slots_total{{site=\"PS-03\",device=\"{d}\"}} 0\n");
            assert!(text.contains(&line), "{d} missed slots:\n{text}");
        }
        let line = "vigie_timeouts_total{site=\"PS-03\",device=\"LT-201\"} 0\n";
        assert!(text.contains(line), "the slow unit timed out:\n{text}");
        influx
    })
    .await
    .unwrap();
    daemon.shutdown(Duration::from_secs(5)).await;
    drop((influx, gateway));
}
