//! `vigie simulate` read by `mbpoll`, a Modbus client vigie did not write.
//!
//! The simulator runs as a child process on a port the system picks (`listen =
//! "127.0.0.1:0"`, the bound address is read from its `serving NAME on ADDR` line).
//! Units with role `fixed` serve hand-chosen values; the expected registers are worked
//! out by hand from the profiles in `plc-profiles/` (address base, word order, scale),
//! not with vigie's encoder, so that a wrong encoder or address rule cannot agree with
//! itself.
//!
//! mbpoll reminders: `-r` is a 1-based reference (PDU address + 1), `-t 0` coils,
//! `-t 1` discrete inputs, `-t 3` input registers, `-t 4` holding registers, `:int` and
//! `:float` read 32-bit values from two registers, low word first unless `-B` is given,
//! `-a` is the unit id, `-1` polls once, `-o` is the timeout in seconds.

mod support;

use std::collections::BTreeMap;
use std::process::Output;
use std::time::Duration;

use support::run_mbpoll;
use support::vigie::VigieChild;

const PROFILES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/plc-profiles");
const STARTUP: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------
// The simulator child process
// ---------------------------------------------------------------------------

/// A running `vigie simulate` and the addresses its servers bound, by name.
struct Simulator {
    _process: VigieChild,
    _dir: tempfile::TempDir,
    servers: BTreeMap<String, (String, String)>,
}

impl Simulator {
    /// Writes `sim_toml` (without `profiles_dir`, which points at the repository's
    /// profiles) to a temporary folder and starts `vigie simulate -c` on it; waits for
    /// one `serving` line per server in `names`.
    fn start(sim_toml: &str, names: &[&str]) -> Simulator {
        let dir = tempfile::Builder::new()
            .prefix("vigie-sim-")
            .tempdir()
            .expect("create temp dir");
        let path = dir.path().join("sim.toml");
        let text = format!("profiles_dir = {PROFILES:?}\n{sim_toml}");
        std::fs::write(&path, text).expect("write sim.toml");
        let mut process = VigieChild::spawn_with_env(
            &["simulate", "-c", path.to_str().expect("utf-8 temp path")],
            dir.path(),
            &[("RUST_LOG", "info")],
        );
        let mut servers = BTreeMap::new();
        for name in names {
            let prefix = format!("serving {name} on ");
            let (addr, units) = process.wait_line(STARTUP, &format!("`{prefix}...`"), |l| {
                let rest = l.strip_prefix(&prefix)?;
                let (addr, units) = rest.split_once(": units ")?;
                Some((addr.to_string(), units.to_string()))
            });
            servers.insert(name.to_string(), (addr, units));
        }
        Simulator {
            _process: process,
            _dir: dir,
            servers,
        }
    }

    /// The port server `name` listens on.
    fn port(&self, name: &str) -> String {
        let (addr, _) = &self.servers[name];
        let (host, port) = addr.rsplit_once(':').expect("host:port");
        assert_eq!(host, "127.0.0.1", "server {name} bound {addr}");
        port.to_string()
    }

    /// The `units ...` text of server `name`'s `serving` line.
    fn units(&self, name: &str) -> &str {
        &self.servers[name].1
    }
}

// ---------------------------------------------------------------------------
// mbpoll
// ---------------------------------------------------------------------------

/// `mbpoll -1 -p PORT -a UNIT ARGS 127.0.0.1`, the whole output.
fn poll(port: &str, unit: &str, args: &[&str]) -> Output {
    let mut all = vec!["-1", "-p", port, "-a", unit];
    all.extend_from_slice(args);
    all.push("127.0.0.1");
    run_mbpoll(&all)
}

fn describe(args: &[&str], out: &Output) -> String {
    format!(
        "mbpoll {args:?} ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The `[REF]: VALUE` lines of mbpoll's output: reference → the first token of the value
/// (`32768 (-32768)` gives `32768`).
fn values(stdout: &str) -> BTreeMap<u32, String> {
    stdout
        .lines()
        .filter_map(|l| {
            let rest = l.trim().strip_prefix('[')?;
            let (reference, value) = rest.split_once("]:")?;
            let reference = reference.parse().ok()?;
            let value = value.split_whitespace().next()?.to_string();
            Some((reference, value))
        })
        .collect()
}

/// Reads with mbpoll and returns reference → value; panics with the output on failure.
fn read(port: &str, unit: &str, args: &[&str]) -> BTreeMap<u32, String> {
    let out = poll(port, unit, args);
    let text = describe(args, &out);
    assert!(out.status.success(), "{text}");
    let v = values(&String::from_utf8_lossy(&out.stdout));
    assert!(!v.is_empty(), "no values in {text}");
    v
}

/// Reads and returns the values as integers.
fn read_ints(port: &str, unit: &str, args: &[&str]) -> BTreeMap<u32, i64> {
    read(port, unit, args)
        .into_iter()
        .map(|(r, v)| {
            let n = v
                .parse()
                .unwrap_or_else(|e| panic!("mbpoll {args:?}: [{r}] {v:?} is not an integer: {e}"));
            (r, n)
        })
        .collect()
}

/// Reads and returns the values as floats.
fn read_floats(port: &str, unit: &str, args: &[&str]) -> BTreeMap<u32, f64> {
    read(port, unit, args)
        .into_iter()
        .map(|(r, v)| {
            let x = v
                .parse()
                .unwrap_or_else(|e| panic!("mbpoll {args:?}: [{r}] {v:?} is not a number: {e}"));
            (r, x)
        })
        .collect()
}

fn map<T: Clone>(pairs: &[(u32, T)]) -> BTreeMap<u32, T> {
    pairs.iter().cloned().collect()
}

// ---------------------------------------------------------------------------
// Fixed values
// ---------------------------------------------------------------------------

const FIXED_SIM: &str = r#"
[[sites]]
id = "LAB"
model = "none"

[[servers]]
name = "BENCH"
listen = "127.0.0.1:0"
units = [
  { unit_id = 1, profile = "eastron-sdm630", site = "LAB", role = "fixed", fixed = { voltage_l1_v = 230.5, frequency_hz = 50.0, total_active_power_w = -1500.0 } },
  { unit_id = 2, profile = "abb-acq580", site = "LAB", role = "fixed", fixed = { motor_speed_rpm = 1475.25, output_frequency_hz = -12.5, running = true, fault_code = 8976 } },
  { unit_id = 3, profile = "schneider-compact-nsx", site = "LAB", role = "fixed", fixed = { breaker_tripped = true, electrical_fault_trip = true, motor_mechanism_local = true, frequency_hz = 49.9 } },
  { unit_id = 4, profile = "moxa-iologik-e1214", site = "LAB", role = "fixed", fixed = { di_2 = true, relay_4 = true } },
  { unit_id = 5, profile = "carlo-gavazzi-em24", site = "LAB", role = "fixed", fixed = { total_active_power_w = 12345.6, power_factor_l1 = -0.93 } },
]
"#;

#[test]
fn fixed_values_read_by_mbpoll_match_the_profiles() {
    support::require("mbpoll");
    let sim = Simulator::start(FIXED_SIM, &["BENCH"]);
    let port = sim.port("BENCH");
    let units = sim.units("BENCH");
    for expected in [
        "1=LAB:eastron-sdm630",
        "2=LAB:abb-acq580",
        "3=LAB:schneider-compact-nsx",
        "4=LAB:moxa-iologik-e1214",
        "5=LAB:carlo-gavazzi-em24",
    ] {
        assert!(
            units.contains(expected),
            "serving line lists {units:?}, missing {expected}"
        );
    }

    // Eastron SDM630: input registers, modicon 30001 = PDU 0 = reference 1, f32 ABCD.
    // 230.5 = 0x4366_8000, 50.0 = 0x4248_0000, -1500.0 = 0xC4BB_8000.
    assert_eq!(
        read_ints(&port, "1", &["-t", "3", "-r", "1", "-c", "4"]),
        map(&[(1, 0x4366), (2, 0x8000), (3, 0), (4, 0)]),
        "SDM630 voltage_l1_v (30001) raw words, then voltage_l2_v (unset: 0)"
    );
    assert_eq!(
        read_ints(&port, "1", &["-t", "3", "-r", "71", "-c", "2"]),
        map(&[(71, 0x4248), (72, 0)]),
        "SDM630 frequency_hz (30071 = PDU 70) raw words"
    );
    assert_eq!(
        read_floats(&port, "1", &["-t", "3:float", "-B", "-r", "1"]),
        map(&[(1, 230.5)]),
        "SDM630 voltage_l1_v as a big-endian float"
    );
    assert_eq!(
        read_floats(&port, "1", &["-t", "3:float", "-B", "-r", "53"]),
        map(&[(53, -1500.0)]),
        "SDM630 total_active_power_w (30053) as a big-endian float"
    );
    // Without -B mbpoll takes the low word first: the same registers read wrong.
    let swapped = read_floats(&port, "1", &["-t", "3:float", "-r", "1"]);
    assert_ne!(
        swapped[&1], 230.5,
        "an ABCD float read CDAB must not decode"
    );

    // ABB ACQ580: holding registers, modicon 6-digit references, i32 CDAB (low word first).
    // 400004 = PDU 3 = reference 4: status word, bit 2 RDY_REF = running.
    assert_eq!(
        read_ints(&port, "2", &["-t", "4", "-r", "4"]),
        map(&[(4, 0b100)]),
        "ACQ580 status word with only `running` set"
    );
    // 420202 = PDU 20201: motor_speed_rpm 1475.25 / 0.01 = 147525 = 0x0002_4045, low word first.
    assert_eq!(
        read_ints(&port, "2", &["-t", "4", "-r", "20202", "-c", "2"]),
        map(&[(20202, 0x4045), (20203, 0x0002)]),
        "ACQ580 motor_speed_rpm raw words (CDAB)"
    );
    assert_eq!(
        read_ints(&port, "2", &["-t", "4:int", "-r", "20202"]),
        map(&[(20202, 147525)]),
        "ACQ580 motor_speed_rpm as a low-word-first i32"
    );
    // 420212 = PDU 20211: output_frequency_hz -12.5 / 0.01 = -1250 = 0xFFFF_FB1E.
    assert_eq!(
        read_ints(&port, "2", &["-t", "4", "-r", "20212", "-c", "2"]),
        map(&[(20212, 0xFB1E), (20213, 0xFFFF)]),
        "ACQ580 output_frequency_hz raw words (negative i32, CDAB)"
    );
    assert_eq!(
        read_ints(&port, "2", &["-t", "4:int", "-r", "20212"]),
        map(&[(20212, -1250)]),
        "ACQ580 output_frequency_hz as a low-word-first i32"
    );
    // 400401 = PDU 400: fault_code 0x2310 (overcurrent).
    assert_eq!(
        read_ints(&port, "2", &["-t", "4", "-r", "401"]),
        map(&[(401, 0x2310)]),
        "ACQ580 fault_code (400401)"
    );

    // Schneider ComPacT NSX: hex PDU addresses. 0x0232 = PDU 562 = reference 563:
    // bit 0 OF closed (0), bit 1 SD tripped, bit 2 SDE electrical fault -> 0b110.
    // 0x0233: bit 5 local mode -> 32. 0x041D = PDU 1053: frequency 49.9 / 0.1 = 499.
    assert_eq!(
        read_ints(&port, "3", &["-t", "4", "-r", "563", "-c", "2"]),
        map(&[(563, 0b110), (564, 0b10_0000)]),
        "NSX breaker status and motor mechanism words"
    );
    assert_eq!(
        read_ints(&port, "3", &["-t", "4", "-r", "1054"]),
        map(&[(1054, 499)]),
        "NSX frequency_hz (0x041D, 0.1 Hz)"
    );

    // Moxa ioLogik E1214: discrete inputs and coils at PDU 0..5 (references 1..6).
    assert_eq!(
        read_ints(&port, "4", &["-t", "1", "-r", "1", "-c", "6"]),
        map(&[(1, 0), (2, 0), (3, 1), (4, 0), (5, 0), (6, 0)]),
        "E1214 discrete inputs: only di_2 on"
    );
    assert_eq!(
        read_ints(&port, "4", &["-t", "0", "-r", "1", "-c", "6"]),
        map(&[(1, 0), (2, 0), (3, 0), (4, 0), (5, 1), (6, 0)]),
        "E1214 relay coils: only relay_4 on"
    );

    // Carlo Gavazzi EM24: input registers at hex PDU addresses, i32 CDAB.
    // 0x0028 = PDU 40 = reference 41: 12345.6 / 0.1 = 123456 = 0x0001_E240, low word first.
    // 0x0032 = PDU 50: power_factor_l1 -0.93 / 0.001 = -930 = 0xFC5E as i16.
    assert_eq!(
        read_ints(&port, "5", &["-t", "3", "-r", "41", "-c", "2"]),
        map(&[(41, 0xE240), (42, 0x0001)]),
        "EM24 total_active_power_w raw words (CDAB)"
    );
    assert_eq!(
        read_ints(&port, "5", &["-t", "3:int", "-r", "41"]),
        map(&[(41, 123456)]),
        "EM24 total_active_power_w as a low-word-first i32"
    );
    assert_eq!(
        read_ints(&port, "5", &["-t", "3", "-r", "51"]),
        map(&[(51, 0xFC5E)]),
        "EM24 power_factor_l1 (i16 -930)"
    );
}

#[test]
fn the_simulator_answers_exceptions_like_a_device() {
    support::require("mbpoll");
    let sim = Simulator::start(FIXED_SIM, &["BENCH"]);
    let port = sim.port("BENCH");

    // SDM630 has no point at PDU 100..101 (points end at 84-85, then 342-343).
    let args = ["-t", "3", "-r", "101", "-c", "2"];
    let out = poll(&port, "1", &args);
    assert!(!out.status.success(), "{}", describe(&args, &out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Illegal data address"),
        "a read of registers the profile does not map is exception 2; {}",
        describe(&args, &out)
    );
    // SDM630 has input registers only: the holding table is not mapped.
    let args = ["-t", "4", "-r", "1", "-c", "2"];
    let out = poll(&port, "1", &args);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Illegal data address"),
        "{}",
        describe(&args, &out)
    );
    // The simulator answers read function codes only (a write is exception 1).
    let args = [
        "-1",
        "-p",
        &port,
        "-a",
        "2",
        "-t",
        "4",
        "-r",
        "4",
        "127.0.0.1",
        "7",
    ];
    let out = run_mbpoll(&args);
    assert!(!out.status.success(), "{}", describe(&args, &out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Illegal function"),
        "a write is refused with exception 1; {}",
        describe(&args, &out)
    );
    // ...and nothing was written.
    assert_eq!(
        read_ints(&port, "2", &["-t", "4", "-r", "4"]),
        map(&[(4, 0b100)])
    );
}

// ---------------------------------------------------------------------------
// Physics
// ---------------------------------------------------------------------------

const PHYSICS_SIM: &str = r#"
[[sites]]
id = "PS-T"
model = "pumping_station"
pumps = 3

[[servers]]
name = "GW_PST"
listen = "127.0.0.1:0"
units = [
  { unit_id = 1, profile = "abb-acq580", site = "PS-T", role = "pump_drive", index = 1 },
  { unit_id = 3, profile = "abb-acq580", site = "PS-T", role = "pump_drive", index = 3 },
  { unit_id = 10, profile = "keller-series30", site = "PS-T", role = "pressure" },
  { unit_id = 30, profile = "eastron-sdm630", site = "PS-T", role = "power_meter" },
]
"#;

/// The ACQ580's 32-bit signals (PDU 20201..20228, one request of 28 registers read as
/// 14 low-word-first i32) scaled by 0.01: reference → value.
fn drive_signals(port: &str, unit: &str) -> BTreeMap<u32, f64> {
    read_ints(port, unit, &["-t", "4:int", "-r", "20202", "-c", "14"])
        .into_iter()
        .map(|(r, raw)| (r, raw as f64 * 0.01))
        .collect()
}

#[test]
fn a_pumping_station_read_by_mbpoll_is_plausible() {
    support::require("mbpoll");
    let sim = Simulator::start(PHYSICS_SIM, &["GW_PST"]);
    let port = sim.port("GW_PST");

    // Pump 1 is the duty pump: it always runs (at least one pump serves the demand).
    let s = drive_signals(&port, "1");
    let (speed, freq, current, dc, power) = (s[&20202], s[&20212], s[&20214], s[&20222], s[&20228]);
    assert!(
        (800.0..=1500.0).contains(&speed),
        "pump 1 speed {speed} rpm out of 800..1500 ({s:?})"
    );
    // All from one request, hence one instant: the drive's own relations hold.
    assert!(
        (freq - speed / 1485.0 * 50.0).abs() < 0.05,
        "pump 1 frequency {freq} Hz does not follow its speed {speed} rpm"
    );
    assert!((0.0..=52.0).contains(&freq), "pump 1 frequency {freq} Hz");
    assert!(
        (3.0..=38.0).contains(&power),
        "pump 1 power {power} kW out of 3..38"
    );
    assert!(
        (current - power * 1000.0 / (1.732 * 400.0 * 0.86)).abs() < 0.05,
        "pump 1 current {current} A does not match {power} kW at 400 V, pf 0.86"
    );
    assert!((530.0..=550.0).contains(&dc), "pump 1 DC bus {dc} V");
    let words = read_ints(&port, "1", &["-t", "4", "-r", "4", "-c", "2"]);
    // Ready to switch on + ready to run + running + at setpoint + remote.
    assert_eq!(
        words[&4], 0b11_0000_0111,
        "pump 1 status word (running, no fault)"
    );
    let act1 = words[&5];
    assert!(
        (10_000..=20_000).contains(&act1),
        "pump 1 ACT1 {act1} (20000 = 1500 rpm) for a running pump"
    );
    assert_eq!(
        read_ints(&port, "1", &["-t", "4", "-r", "401"]),
        map(&[(401, 0)]),
        "pump 1 has no fault code"
    );

    // Pump 3 of 3 is the standby: the demand never needs three pumps without a burst.
    let s = drive_signals(&port, "3");
    assert_eq!(
        (s[&20202], s[&20212], s[&20214], s[&20228]),
        (0.0, 0.0, 0.0, 0.0),
        "pump 3 (standby) speed, frequency, current, power: {s:?}"
    );
    assert!((530.0..=550.0).contains(&s[&20222]), "pump 3 DC bus {s:?}");
    assert_eq!(
        read_ints(&port, "3", &["-t", "4", "-r", "4"]),
        map(&[(4, 0b10_0000_0011)]),
        "pump 3 status word: ready, remote, not running"
    );

    // Discharge pressure: KELLER Series 30, holding 0x0100 = reference 257, f32 ABCD.
    let p = read_floats(
        &port,
        "10",
        &["-t", "4:float", "-B", "-r", "257", "-c", "2"],
    );
    let (pressure, temperature) = (p[&257], p[&259]);
    assert!(
        (2.5..=6.0).contains(&pressure),
        "discharge pressure {pressure} bar with pumps running"
    );
    assert!(
        (10.0..=20.0).contains(&temperature),
        "water temperature {temperature} degC"
    );

    // Incomer meter: SDM630 phase voltages and frequency.
    let v = read_floats(&port, "30", &["-t", "3:float", "-B", "-r", "1", "-c", "3"]);
    for (r, volts) in &v {
        assert!(
            (225.0..=237.0).contains(volts),
            "SDM630 [{r}] voltage {volts} V"
        );
    }
    let f = read_floats(&port, "30", &["-t", "3:float", "-B", "-r", "71"])[&71];
    assert!((49.9..=50.1).contains(&f), "SDM630 frequency {f} Hz");
    let kw = read_floats(&port, "30", &["-t", "3:float", "-B", "-r", "53"])[&53] / 1000.0;
    assert!(
        (5.0..=5.0 + 3.0 * 38.0).contains(&kw),
        "station power {kw} kW: 5 kW auxiliaries plus the running pumps"
    );
}

// ---------------------------------------------------------------------------
// Silent fault
// ---------------------------------------------------------------------------

const SILENT_SIM: &str = r#"
[[sites]]
id = "LAB"
model = "none"

[[servers]]
name = "GW_SILENT"
listen = "127.0.0.1:0"
units = [
  { unit_id = 1, profile = "eastron-sdm630", site = "LAB", role = "fixed", fixed = { voltage_l1_v = 230.5 } },
  { unit_id = 4, profile = "keller-acculevel", site = "LAB", role = "fixed", fixed = { level_m = 12.5 } },
]

[[faults]]
kind = "silent"
server = "GW_SILENT"
unit_id = 4
start = "0s"
duration = "1h"
"#;

#[test]
fn a_silent_unit_times_out_while_its_neighbour_answers() {
    support::require("mbpoll");
    let sim = Simulator::start(SILENT_SIM, &["GW_SILENT"]);
    let port = sim.port("GW_SILENT");

    // The silent unit: mbpoll gets no reply within its timeout.
    let args = ["-t", "4", "-r", "1", "-c", "4", "-o", "1"];
    let out = poll(&port, "4", &args);
    assert!(!out.status.success(), "{}", describe(&args, &out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("timed out"),
        "a silent unit gives mbpoll a timeout; {}",
        describe(&args, &out)
    );
    assert!(
        values(&String::from_utf8_lossy(&out.stdout)).is_empty(),
        "{}",
        describe(&args, &out)
    );

    // Its neighbour behind the same server answers.
    assert_eq!(
        read_floats(&port, "1", &["-t", "3:float", "-B", "-r", "1", "-o", "5"]),
        map(&[(1, 230.5)])
    );

    // Both on one connection, the silent unit first: the neighbour still answers after
    // the silent unit's timeout (nothing late arrives to be mistaken for its reply).
    let args = ["-t", "3", "-r", "1", "-c", "2", "-o", "2"];
    let mut all = vec!["-1", "-p", &port, "-a", "4,1"];
    all.extend_from_slice(&args);
    all.push("127.0.0.1");
    let out = run_mbpoll(&all);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("timed out"),
        "{}",
        describe(&all, &out)
    );
    let neighbour = stdout
        .split("-- Polling slave 1...")
        .nth(1)
        .unwrap_or_else(|| panic!("unit 1 was not polled; {}", describe(&all, &out)));
    assert_eq!(
        values(neighbour),
        map(&[(1, "17254".to_string()), (2, "32768".to_string())]),
        "unit 1's voltage_l1_v words after unit 4 timed out; {}",
        describe(&all, &out)
    );
}

// ---------------------------------------------------------------------------
// Configuration errors
// ---------------------------------------------------------------------------

#[test]
fn a_bad_simulator_config_is_refused_with_its_reason() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cases = [
        (
            "unknown-site.toml",
            format!(
                "profiles_dir = {PROFILES:?}\n[[servers]]\nlisten = \"127.0.0.1:0\"\nunits = [{{ unit_id = 1, profile = \"eastron-sdm630\", site = \"NOWHERE\", role = \"power_meter\" }}]\n"
            ),
            "NOWHERE",
        ),
        (
            "unknown-key.toml",
            format!(
                "profiles_dir = {PROFILES:?}\n\n[[sites]]\nid = \"A\"\nmodel = \"borehole\"\npumsp = 2\n"
            ),
            "line 6",
        ),
        (
            "unknown-profile.toml",
            format!(
                "profiles_dir = {PROFILES:?}\n[[sites]]\nid = \"A\"\nmodel = \"none\"\n[[servers]]\nlisten = \"127.0.0.1:0\"\nunits = [{{ unit_id = 1, profile = \"no-such-meter\", site = \"A\", role = \"fixed\" }}]\n"
            ),
            "no-such-meter",
        ),
    ];
    for (name, text, needle) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let mut run = VigieChild::spawn_with_env(
            &["simulate", "-c", path.to_str().unwrap()],
            dir.path(),
            &[("RUST_LOG", "info")],
        );
        let status = run.wait_exit(STARTUP, &format!("vigie simulate to refuse {name}"));
        let stderr = run.stderr();
        assert!(
            !status.success(),
            "{name}: vigie simulate exited {status}; stdout: {:?}",
            run.stdout()
        );
        assert!(
            stderr.contains(needle),
            "{name}: the error does not say {needle:?}: {stderr}"
        );
    }
}
