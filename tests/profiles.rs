//! Loads every device profile in `plc-profiles/` and checks it against the register maps
//! it cites (shared/reference/register-maps.md and the sources named in each file).

use std::collections::HashMap;
use std::path::Path;

use vigie::profile::decode::{decode_registers, disassemble};
use vigie::profile::{DataType, Point, Profile, RegisterKind, Value, WordOrder, load_dir};

fn profiles() -> HashMap<String, Profile> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("plc-profiles");
    let list = load_dir(&dir).unwrap_or_else(|e| panic!("{e}"));
    list.into_iter().map(|p| (p.id.clone(), p)).collect()
}

fn point<'a>(profiles: &'a HashMap<String, Profile>, id: &str, name: &str) -> &'a Point {
    let profile = profiles
        .get(id)
        .unwrap_or_else(|| panic!("profile {id} missing"));
    profile
        .point(name)
        .unwrap_or_else(|| panic!("{id}: point {name} missing"))
}

/// Checks table, PDU address, register count, type and word order of one point.
#[allow(clippy::too_many_arguments)]
fn check(
    profiles: &HashMap<String, Profile>,
    id: &str,
    name: &str,
    register: RegisterKind,
    pdu: u16,
    count: u16,
    data_type: DataType,
    order: WordOrder,
) -> Point {
    let p = point(profiles, id, name);
    assert_eq!(p.register, register, "{id}.{name} register");
    assert_eq!(p.pdu_address, pdu, "{id}.{name} PDU address");
    assert_eq!(p.count, count, "{id}.{name} register count");
    assert_eq!(p.data_type, data_type, "{id}.{name} type");
    assert_eq!(p.word_order, order, "{id}.{name} word order");
    p.clone()
}

fn decode_raw(p: &Point, raw: u64) -> Value {
    let words = disassemble(raw, usize::from(p.count), p.word_order);
    decode_registers(p, &words).unwrap_or_else(|e| panic!("{}: {e}", p.name))
}

fn approx(v: Value, want: f64) {
    let got = v.as_f64().expect("numeric value");
    assert!(
        (got - want).abs() < 1e-6 * want.abs().max(1.0),
        "{got} != {want}"
    );
}

/// The profiles and point names the simulator and the demo map (must stay stable).
const REQUIRED: &[(&str, &[&str])] = &[
    (
        "eastron-sdm630",
        &[
            "voltage_l1_v",
            "voltage_l2_v",
            "voltage_l3_v",
            "current_l1_a",
            "current_l2_a",
            "current_l3_a",
            "active_power_l1_w",
            "power_factor_l1",
            "total_active_power_w",
            "total_apparent_power_va",
            "total_reactive_power_var",
            "total_power_factor",
            "frequency_hz",
            "import_energy_kwh",
            "export_energy_kwh",
        ],
    ),
    (
        "siemens-pac2200",
        &[
            "voltage_l1_v",
            "voltage_l2_v",
            "voltage_l3_v",
            "current_l1_a",
            "current_l2_a",
            "current_l3_a",
            "total_active_power_w",
            "total_reactive_power_var",
            "total_apparent_power_va",
            "total_power_factor",
            "frequency_hz",
            "import_energy_kwh",
            "export_energy_kwh",
        ],
    ),
    (
        "abb-acq580",
        &[
            "status_word",
            "running",
            "tripped",
            "actual_1",
            "motor_speed_rpm",
            "output_frequency_hz",
            "motor_current_a",
            "dc_voltage_v",
            "output_power_kw",
            "fault_code",
        ],
    ),
    (
        "carlo-gavazzi-em24",
        &[
            "voltage_l1_v",
            "voltage_l2_v",
            "voltage_l3_v",
            "current_l1_a",
            "current_l2_a",
            "current_l3_a",
            "total_active_power_w",
            "total_power_factor",
            "frequency_hz",
            "import_energy_kwh",
            "export_energy_kwh",
        ],
    ),
    (
        "siemens-mag8000",
        &[
            "flow_m3_per_h",
            "flow_velocity_mm_per_s",
            "totaliser_1_m3",
            "fault_status",
            "battery_pct",
        ],
    ),
    ("keller-series30", &["pressure_bar", "temperature_c"]),
    ("keller-acculevel", &["level_m", "temperature_c"]),
    (
        "schneider-compact-nsx",
        &[
            "breaker_status",
            "breaker_closed",
            "breaker_tripped",
            "electrical_fault_trip",
            "frequency_hz",
        ],
    ),
    (
        "moxa-iologik-e1214",
        &[
            "di_0", "di_1", "di_2", "di_3", "di_4", "di_5", "relay_0", "relay_1", "relay_2",
            "relay_3", "relay_4", "relay_5",
        ],
    ),
];

#[test]
fn every_profile_loads_and_cites_its_source() {
    let all = profiles();
    assert!(all.len() >= REQUIRED.len(), "only {} profiles", all.len());
    for (id, p) in &all {
        assert!(!p.source.trim().is_empty(), "{id}: empty source");
        assert!(
            !p.manufacturer.trim().is_empty(),
            "{id}: empty manufacturer"
        );
        assert!(!p.model.trim().is_empty(), "{id}: empty model");
        assert!(!p.points.is_empty(), "{id}: no points");
        for pt in &p.points {
            assert!(
                pt.name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{id}.{}: point names are snake_case",
                pt.name
            );
            assert!(
                !pt.description.is_empty(),
                "{id}.{}: no description",
                pt.name
            );
        }
    }
}

#[test]
fn required_profiles_and_point_names_are_present() {
    let all = profiles();
    for (id, names) in REQUIRED {
        let p = all
            .get(*id)
            .unwrap_or_else(|| panic!("required profile {id} missing"));
        for name in *names {
            assert!(
                p.point(name).is_some(),
                "{id}: required point {name} missing"
            );
        }
    }
}

/// A name's unit suffix and its `unit` agree (longest suffix first).
#[test]
fn unit_suffixes_match_units() {
    const SUFFIXES: &[(&str, &str)] = &[
        ("_mm_per_s", "mm/s"),
        ("_m3_per_h", "m3/h"),
        ("_kwh", "kWh"),
        ("_var", "var"),
        ("_rpm", "rpm"),
        ("_pct", "%"),
        ("_bar", "bar"),
        ("_va", "VA"),
        ("_kw", "kW"),
        ("_hz", "Hz"),
        ("_m3", "m3"),
        ("_v", "V"),
        ("_a", "A"),
        ("_w", "W"),
        ("_c", "degC"),
        ("_m", "m"),
    ];
    for (id, p) in profiles() {
        for pt in &p.points {
            if let Some((suffix, unit)) = SUFFIXES.iter().find(|(s, _)| pt.name.ends_with(s)) {
                assert_eq!(
                    pt.unit, *unit,
                    "{id}.{}: suffix {suffix} wants unit {unit}",
                    pt.name
                );
            }
        }
    }
}

#[test]
fn eastron_sdm630_matches_mbmd_opcodes() {
    use DataType::F32;
    use RegisterKind::Input;
    use WordOrder::ABCD;
    let all = profiles();
    let id = "eastron-sdm630";
    check(&all, id, "voltage_l1_v", Input, 0, 2, F32, ABCD);
    check(&all, id, "current_l3_a", Input, 10, 2, F32, ABCD);
    check(&all, id, "power_factor_l1", Input, 30, 2, F32, ABCD);
    check(&all, id, "total_active_power_w", Input, 52, 2, F32, ABCD);
    check(&all, id, "total_apparent_power_va", Input, 56, 2, F32, ABCD);
    check(
        &all,
        id,
        "total_reactive_power_var",
        Input,
        60,
        2,
        F32,
        ABCD,
    );
    check(&all, id, "total_power_factor", Input, 62, 2, F32, ABCD);
    check(&all, id, "frequency_hz", Input, 70, 2, F32, ABCD);
    let import = check(&all, id, "import_energy_kwh", Input, 72, 2, F32, ABCD);
    check(&all, id, "export_energy_kwh", Input, 74, 2, F32, ABCD);
    approx(
        decode_raw(&import, u64::from(12345.5f32.to_bits())),
        12345.5,
    );
}

#[test]
fn siemens_pac2200_matches_manual_offsets() {
    use DataType::{F32, F64};
    use RegisterKind::Input;
    use WordOrder::ABCD;
    let all = profiles();
    let id = "siemens-pac2200";
    check(&all, id, "voltage_l1_v", Input, 1, 2, F32, ABCD);
    check(&all, id, "voltage_l3_v", Input, 5, 2, F32, ABCD);
    check(&all, id, "current_l1_a", Input, 13, 2, F32, ABCD);
    check(&all, id, "frequency_hz", Input, 55, 2, F32, ABCD);
    check(&all, id, "total_apparent_power_va", Input, 63, 2, F32, ABCD);
    check(&all, id, "total_active_power_w", Input, 65, 2, F32, ABCD);
    check(
        &all,
        id,
        "total_reactive_power_var",
        Input,
        67,
        2,
        F32,
        ABCD,
    );
    check(&all, id, "total_power_factor", Input, 69, 2, F32, ABCD);
    let import = check(&all, id, "import_energy_kwh", Input, 801, 4, F64, ABCD);
    let export = check(&all, id, "export_energy_kwh", Input, 809, 4, F64, ABCD);
    // The device counts Wh in a double; the profile reports kWh.
    approx(decode_raw(&import, 1_234_567.0f64.to_bits()), 1234.567);
    approx(decode_raw(&export, 500.0f64.to_bits()), 0.5);
    // Every PAC value starts on its own first register (odd offsets for the f32 block).
    for p in &all[id].points {
        assert_eq!(
            p.pdu_address % 2,
            1,
            "{}: PAC values start on odd offsets",
            p.name
        );
    }
}

#[test]
fn abb_acq580_matches_efb_addressing() {
    use DataType::{Bitfield, Bool, I16, I32, U16};
    use RegisterKind::Holding;
    use WordOrder::CDAB;
    let all = profiles();
    let id = "abb-acq580";
    assert_eq!(
        all[id].max_gap, 0,
        "ABB reads must not span missing parameters"
    );
    check(&all, id, "status_word", Holding, 3, 1, Bitfield, CDAB);
    let running = check(&all, id, "running", Holding, 3, 1, Bool, CDAB);
    let tripped = check(&all, id, "tripped", Holding, 3, 1, Bool, CDAB);
    assert_eq!(running.bit, Some(2), "RDY_REF = operation enabled");
    assert_eq!(tripped.bit, Some(3), "TRIPPED = fault");
    check(&all, id, "actual_1", Holding, 4, 1, I16, CDAB);
    // 32-bit parameters: 420000 + 200 x group + 2 x index, PDU = reference - 400001.
    let speed = check(&all, id, "motor_speed_rpm", Holding, 20201, 2, I32, CDAB);
    check(
        &all,
        id,
        "output_frequency_hz",
        Holding,
        20211,
        2,
        I32,
        CDAB,
    );
    check(&all, id, "motor_current_a", Holding, 20213, 2, I32, CDAB);
    check(&all, id, "dc_voltage_v", Holding, 20221, 2, I32, CDAB);
    check(&all, id, "output_power_kw", Holding, 20227, 2, I32, CDAB);
    check(&all, id, "fault_code", Holding, 400, 1, U16, CDAB);
    // FbEq32 100 = 1 rpm, low word first: 1480.25 rpm = 148025 = 0x0002_4239 arrives as
    // [0x4239, 0x0002].
    let words = [0x4239u16, 0x0002];
    approx(decode_registers(&speed, &words).unwrap(), 1480.25);
    // Status word 0x0237: ready, running (bit 2), not tripped, remote (bit 9).
    assert_eq!(decode_raw(&running, 0x0237), Value::Bool(true));
    assert_eq!(decode_raw(&tripped, 0x0237), Value::Bool(false));
    assert_eq!(decode_raw(&tripped, 0x0008), Value::Bool(true));
}

#[test]
fn carlo_gavazzi_em24_matches_mbmd() {
    use DataType::{I16, I32};
    use RegisterKind::Input;
    use WordOrder::CDAB;
    let all = profiles();
    let id = "carlo-gavazzi-em24";
    check(&all, id, "voltage_l1_v", Input, 0, 2, I32, CDAB);
    check(&all, id, "current_l1_a", Input, 12, 2, I32, CDAB);
    let power = check(&all, id, "total_active_power_w", Input, 40, 2, I32, CDAB);
    check(&all, id, "total_power_factor", Input, 53, 1, I16, CDAB);
    let freq = check(&all, id, "frequency_hz", Input, 55, 1, I16, CDAB);
    check(&all, id, "import_energy_kwh", Input, 66, 2, I32, CDAB);
    check(&all, id, "export_energy_kwh", Input, 92, 2, I32, CDAB);
    // 0.1 W per count, low word first: -1234.5 W (export) = -12345.
    approx(decode_raw(&power, (-12345i32) as u32 as u64), -1234.5);
    assert_eq!(disassemble(0x0001_E240, 2, CDAB), vec![0xE240, 0x0001]);
    approx(decode_raw(&freq, 500), 50.0);
}

#[test]
fn siemens_mag8000_matches_logger_firmware() {
    use DataType::{Bitfield, F32, I32};
    use RegisterKind::Holding;
    use WordOrder::ABCD;
    let all = profiles();
    let id = "siemens-mag8000";
    check(
        &all,
        id,
        "flow_velocity_mm_per_s",
        Holding,
        3000,
        2,
        F32,
        ABCD,
    );
    check(&all, id, "flow_m3_per_h", Holding, 3002, 2, F32, ABCD);
    check(&all, id, "fault_status", Holding, 3016, 1, Bitfield, ABCD);
    check(&all, id, "totaliser_1_m3", Holding, 3017, 2, I32, ABCD);
    let battery = check(&all, id, "battery_pct", Holding, 3030, 1, Bitfield, ABCD);
    assert_eq!((battery.bit, battery.bits), (Some(0), Some(8)));
    // The logger keeps the second byte on the wire (low byte): 0x0155 -> 85 %.
    assert_eq!(decode_raw(&battery, 0x0155), Value::I64(0x55));
}

#[test]
fn keller_profiles_share_the_process_value_block() {
    use DataType::F32;
    use RegisterKind::Holding;
    use WordOrder::ABCD;
    let all = profiles();
    check(
        &all,
        "keller-series30",
        "pressure_bar",
        Holding,
        0x0100,
        2,
        F32,
        ABCD,
    );
    check(
        &all,
        "keller-series30",
        "temperature_c",
        Holding,
        0x0102,
        2,
        F32,
        ABCD,
    );
    let level = check(
        &all,
        "keller-acculevel",
        "level_m",
        Holding,
        0x0100,
        2,
        F32,
        ABCD,
    );
    check(
        &all,
        "keller-acculevel",
        "temperature_c",
        Holding,
        0x0102,
        2,
        F32,
        ABCD,
    );
    // 1 bar of water column at rho = 1000 kg/m3, g = 9.80665 m/s2.
    assert!((level.scale - 1e5 / (1000.0 * 9.80665)).abs() < 1e-4);
    approx(decode_raw(&level, u64::from(0.5f32.to_bits())), 5.0986);
}

#[test]
fn schneider_nsx_matches_communication_guide() {
    use DataType::{Bitfield, Bool, U16};
    use RegisterKind::Holding;
    use WordOrder::ABCD;
    let all = profiles();
    let id = "schneider-compact-nsx";
    check(&all, id, "breaker_status", Holding, 562, 1, Bitfield, ABCD);
    let closed = check(&all, id, "breaker_closed", Holding, 562, 1, Bool, ABCD);
    let tripped = check(&all, id, "breaker_tripped", Holding, 562, 1, Bool, ABCD);
    let sde = check(
        &all,
        id,
        "electrical_fault_trip",
        Holding,
        562,
        1,
        Bool,
        ABCD,
    );
    assert_eq!(
        (closed.bit, tripped.bit, sde.bit),
        (Some(0), Some(1), Some(2))
    );
    let freq = check(&all, id, "frequency_hz", Holding, 1053, 1, U16, ABCD);
    approx(decode_raw(&freq, 500), 50.0);
    // Tripped on an electrical fault: OF = 0, SD = 1, SDE = 1.
    assert_eq!(decode_raw(&closed, 0b110), Value::Bool(false));
    assert_eq!(decode_raw(&tripped, 0b110), Value::Bool(true));
    assert_eq!(decode_raw(&sde, 0b110), Value::Bool(true));
}

#[test]
fn moxa_e1214_maps_six_inputs_and_six_relays() {
    let all = profiles();
    let id = "moxa-iologik-e1214";
    for i in 0..6u16 {
        for (prefix, kind) in [
            ("di", RegisterKind::Discrete),
            ("relay", RegisterKind::Coil),
        ] {
            let p = point(&all, id, &format!("{prefix}_{i}"));
            assert_eq!(p.register, kind, "{}", p.name);
            assert_eq!((p.pdu_address, p.count), (i, 1), "{}", p.name);
            assert_eq!(p.data_type, DataType::Bool, "{}", p.name);
        }
    }
}
