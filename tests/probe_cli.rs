//! `vigie probe`, the field engineer's tool, against a pymodbus server (a Modbus stack
//! vigie did not write) and, for per-read exceptions, against `vigie simulate`.
//!
//! The register images are worked out by hand from the profiles (SDM630: input
//! registers, modicon 30001 = PDU 0, f32 big-endian).

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitStatus;
use std::time::Duration;

use serde_json::json;
use support::ModbusPeer;
use support::vigie::VigieChild;

const PROFILES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/plc-profiles");
/// Far beyond any probe: a probe that has not ended by then hangs.
const PROBE_DEADLINE: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------
// Child processes
// ---------------------------------------------------------------------------

/// What one `vigie probe` run printed.
struct Run {
    args: Vec<String>,
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Run {
    fn describe(&self) -> String {
        format!(
            "vigie {:?} ({}):\nstdout:\n{}\nstderr:\n{}",
            self.args, self.status, self.stdout, self.stderr
        )
    }
}

/// Runs `vigie ARGS` in the repository (for the default `plc-profiles`) to its end.
fn vigie(args: &[&str]) -> Run {
    let mut child = VigieChild::spawn(args, Path::new(env!("CARGO_MANIFEST_DIR")));
    let status = child.wait_exit(PROBE_DEADLINE, &format!("vigie {args:?} to end"));
    Run {
        args: args.iter().map(|a| a.to_string()).collect(),
        status,
        stdout: child.stdout().join("\n"),
        stderr: child.stderr(),
    }
}

// ---------------------------------------------------------------------------
// Tables
// ---------------------------------------------------------------------------

/// A table printed as left-aligned columns separated by at least two spaces: the column
/// names (from the header line) and, per row, name → cell.
struct Table {
    columns: Vec<String>,
    rows: Vec<BTreeMap<String, String>>,
}

/// Parses the table whose header line starts with `first_column`, and the rows after it
/// that `is_row` accepts (until the first line it refuses).
fn parse_table(text: &str, first_column: &str, is_row: impl Fn(&str) -> bool) -> Table {
    let mut lines = text.lines().skip_while(|l| !l.starts_with(first_column));
    let header = lines
        .next()
        .unwrap_or_else(|| panic!("no table header starting with {first_column:?} in:\n{text}"));
    // A column starts at 0 and wherever a non-space follows two or more spaces.
    let bytes = header.as_bytes();
    let mut starts = vec![0];
    for i in 2..bytes.len() {
        if bytes[i] != b' ' && bytes[i - 1] == b' ' && bytes[i - 2] == b' ' {
            starts.push(i);
        }
    }
    let cell = |line: &str, k: usize| -> String {
        let from = starts[k];
        let to = starts.get(k + 1).copied().unwrap_or(usize::MAX);
        let to = to.min(line.len());
        line.get(from..to.max(from))
            .unwrap_or("")
            .trim()
            .to_string()
    };
    let columns: Vec<String> = (0..starts.len()).map(|k| cell(header, k)).collect();
    let rows = lines
        .take_while(|l| is_row(l))
        .map(|l| {
            columns
                .iter()
                .enumerate()
                .map(|(k, c)| (c.clone(), cell(l, k)))
                .collect()
        })
        .collect();
    Table { columns, rows }
}

/// The probe's point table: point name → row.
fn point_rows(run: &Run) -> BTreeMap<String, BTreeMap<String, String>> {
    let table = parse_table(&run.stdout, "point ", |l| !l.trim().is_empty());
    assert_eq!(
        table.columns,
        [
            "point", "value", "unit", "quality", "register", "address", "type"
        ],
        "{}",
        run.describe()
    );
    table
        .rows
        .into_iter()
        .map(|r| (r["point"].clone(), r))
        .collect()
}

/// The point names of profile `id` in `dir`, in profile order.
fn profile_points(dir: &str, id: &str) -> Vec<String> {
    vigie::profile::Profile::load(Path::new(dir), id)
        .unwrap_or_else(|e| panic!("profile {id}: {e}"))
        .points
        .iter()
        .map(|p| p.name.clone())
        .collect()
}

// ---------------------------------------------------------------------------
// The pymodbus peer
// ---------------------------------------------------------------------------

/// Unit 1: an SDM630 with a few values set (the rest read 0). Unit 2 answers every
/// request with exception 2, unit 3 holds raw words for `--raw`, unit 4 is silent; any
/// other unit gets exception 11, as from a gateway.
fn sdm630_peer() -> ModbusPeer {
    ModbusPeer::start(&json!({
        "units": {
            "1": {"input": {
                "0": [0x4366, 0x8000],   // voltage_l1_v 230.5 (30001 = PDU 0)
                "2": [0x4367, 0x4000],   // voltage_l2_v 231.25
                "52": [0xC4BB, 0x8000],  // total_active_power_w -1500.0 (30053)
                "70": [0x4248, 0x0000],  // frequency_hz 50.0 (30071)
                "72": [0x4640, 0xE600],  // import_energy_kwh 12345.5 (30073)
            }},
            "3": {"input": {
                "0": [0x8000, 0x4366],   // 230.5 as f32 CDAB (low word first)
                "2": [0x1DC0, 0xFFFE],   // -123456 as i32 CDAB
            }},
            "4": {"input": {"0": [0x4366, 0x8000]}},
        },
        "exception_units": {"2": 2},
        "silent_units": [4],
    }))
}

#[test]
fn probe_prints_an_sdm630_decoded_with_units_and_quality() {
    let peer = sdm630_peer();
    let addr = peer.addr();
    let run = vigie(&["probe", &addr, "--unit", "1", "--profile", "eastron-sdm630"]);
    assert!(run.status.success(), "{}", run.describe());
    let title = run.stdout.lines().next().unwrap_or_default();
    assert!(
        title.starts_with("Eastron SDM630 (eastron-sdm630) at ")
            && title.contains(&format!("{addr} unit 1:")),
        "title line {title:?}; {}",
        run.describe()
    );

    let rows = point_rows(&run);
    let names = profile_points(PROFILES, "eastron-sdm630");
    assert_eq!(
        rows.keys().cloned().collect::<Vec<_>>(),
        {
            let mut sorted = names.clone();
            sorted.sort();
            sorted
        },
        "one row per profile point; {}",
        run.describe()
    );
    for (name, row) in &rows {
        assert_eq!(row["quality"], "good", "{name}: {row:?}");
        assert_eq!(row["register"], "input", "{name}: {row:?}");
        assert_eq!(row["type"], "f32 abcd", "{name}: {row:?}");
    }
    let expect = [
        ("voltage_l1_v", "230.5", "V", "30001 (pdu 0)"),
        ("voltage_l2_v", "231.25", "V", "30003 (pdu 2)"),
        ("voltage_l3_v", "0", "V", "30005 (pdu 4)"),
        ("total_active_power_w", "-1500", "W", "30053 (pdu 52)"),
        ("frequency_hz", "50", "Hz", "30071 (pdu 70)"),
        ("import_energy_kwh", "12345.5", "kWh", "30073 (pdu 72)"),
        ("total_power_factor", "0", "", "30063 (pdu 62)"),
        ("total_energy_kwh", "0", "kWh", "30343 (pdu 342)"),
    ];
    for (name, value, unit, address) in expect {
        let row = &rows[name];
        assert_eq!(
            (
                row["value"].as_str(),
                row["unit"].as_str(),
                row["address"].as_str()
            ),
            (value, unit, address),
            "{name}; {}",
            run.describe()
        );
    }
}

#[test]
fn probe_marks_points_bad_with_the_exception_the_device_sent() {
    let peer = sdm630_peer();
    let addr = peer.addr();
    // Unit 2 answers exception 2 (illegal data address) to everything.
    let run = vigie(&["probe", &addr, "--unit", "2", "--profile", "eastron-sdm630"]);
    // Every point bad: the table is printed, and the exit status says the probe failed.
    assert!(!run.status.success(), "{}", run.describe());
    assert!(
        run.stderr.contains("no point of unit 2 could be read"),
        "{}",
        run.describe()
    );
    let rows = point_rows(&run);
    assert_eq!(rows.len(), profile_points(PROFILES, "eastron-sdm630").len());
    for (name, row) in &rows {
        assert_eq!(
            (row["value"].as_str(), row["quality"].as_str()),
            ("-", "bad: exception(2)"),
            "{name}; {}",
            run.describe()
        );
    }
    // Unit 9 is unknown to the gateway: exception 11 (target device failed to respond).
    let run = vigie(&["probe", &addr, "--unit", "9", "--profile", "eastron-sdm630"]);
    let rows = point_rows(&run);
    assert!(!rows.is_empty(), "{}", run.describe());
    for (name, row) in &rows {
        assert_eq!(
            row["quality"],
            "bad: exception(11)",
            "{name}; {}",
            run.describe()
        );
    }
    // The peer's own exception did not disturb unit 1 on the same server.
    let run = vigie(&["probe", &addr, "--unit", "1", "--profile", "eastron-sdm630"]);
    assert_eq!(point_rows(&run)["voltage_l1_v"]["value"], "230.5");
}

#[test]
fn probe_raw_prints_every_word_order() {
    let peer = sdm630_peer();
    let addr = peer.addr();
    let run = vigie(&[
        "probe", &addr, "--unit", "3", "--raw", "0", "4", "--table", "input",
    ]);
    assert!(run.status.success(), "{}", run.describe());
    let table = parse_table(&run.stdout, "pdu ", |l| {
        l.starts_with(|c: char| c.is_ascii_digit())
    });
    let mut expected_columns = vec!["pdu", "hex", "u16", "i16"];
    expected_columns.extend(["f32 ABCD", "f32 CDAB", "f32 BADC", "f32 DCBA"]);
    expected_columns.extend([
        "u32/i32 ABCD",
        "u32/i32 CDAB",
        "u32/i32 BADC",
        "u32/i32 DCBA",
    ]);
    assert_eq!(table.columns, expected_columns, "{}", run.describe());
    assert_eq!(
        table.rows.len(),
        4,
        "one row per register; {}",
        run.describe()
    );
    let rows = &table.rows;

    let words = [
        ("0", "0x8000", "32768", "-32768"),
        ("1", "0x4366", "17254", "17254"),
        ("2", "0x1DC0", "7616", "7616"),
        ("3", "0xFFFE", "65534", "-2"),
    ];
    for (row, (pdu, hex, u, i)) in rows.iter().zip(words) {
        assert_eq!(
            (
                row["pdu"].as_str(),
                row["hex"].as_str(),
                row["u16"].as_str(),
                row["i16"].as_str()
            ),
            (pdu, hex, u, i),
            "{}",
            run.describe()
        );
    }
    let float = |row: &BTreeMap<String, String>, col: &str| -> f64 {
        row[col]
            .parse()
            .unwrap_or_else(|e| panic!("{col} {:?}: {e}; {}", row[col], run.describe()))
    };
    // PDU 0-1 hold 230.5 low word first: only the CDAB reading is right.
    assert_eq!(float(&rows[0], "f32 CDAB"), 230.5, "{}", run.describe());
    for col in ["f32 ABCD", "f32 BADC", "f32 DCBA"] {
        assert_ne!(float(&rows[0], col), 230.5, "{col}; {}", run.describe());
    }
    // PDU 1-2 straddle two values: the 32-bit columns read that register and the next.
    assert_eq!(
        rows[1]["u32/i32 ABCD"],
        (0x4366_1DC0u32).to_string(),
        "{}",
        run.describe()
    );
    // PDU 2-3 hold -123456 low word first.
    assert_eq!(
        rows[2]["u32/i32 CDAB"],
        "4294843840/-123456",
        "{}",
        run.describe()
    );
    // The last register has no pair: its 32-bit columns are empty.
    for col in &expected_columns[4..] {
        assert_eq!(rows[3][*col], "", "{col}; {}", run.describe());
    }

    // --table selects the function code: unit 3's holding registers are unset (0).
    let run = vigie(&["probe", &addr, "--unit", "3", "--raw", "0", "2"]);
    assert!(run.status.success(), "{}", run.describe());
    let table = parse_table(&run.stdout, "pdu ", |l| {
        l.starts_with(|c: char| c.is_ascii_digit())
    });
    assert_eq!(
        table
            .rows
            .iter()
            .map(|r| r["hex"].as_str())
            .collect::<Vec<_>>(),
        ["0x0000", "0x0000"],
        "holding registers by default; {}",
        run.describe()
    );

    // A count the protocol does not allow is refused before anything is sent.
    for count in ["0", "126"] {
        let run = vigie(&["probe", &addr, "--unit", "3", "--raw", "0", count]);
        assert!(!run.status.success(), "{}", run.describe());
        assert!(run.stderr.contains("1..=125"), "{}", run.describe());
    }
}

#[test]
fn probe_of_a_silent_unit_reports_timeouts() {
    let peer = sdm630_peer();
    let addr = peer.addr();
    let run = vigie(&[
        "probe",
        &addr,
        "--unit",
        "4",
        "--profile",
        "eastron-sdm630",
        "--timeout",
        "500ms",
    ]);
    // The table is printed with every point bad, and the probe exits 1.
    assert!(!run.status.success(), "{}", run.describe());
    {
        let rows = point_rows(&run);
        assert_eq!(rows.len(), profile_points(PROFILES, "eastron-sdm630").len());
        for (name, row) in &rows {
            assert_eq!(
                (row["value"].as_str(), row["quality"].as_str()),
                ("-", "bad: timeout"),
                "{name}; {}",
                run.describe()
            );
        }
    }

    // --raw has no table to show it in: it fails and says so.
    let run = vigie(&[
        "probe",
        &addr,
        "--unit",
        "4",
        "--raw",
        "0",
        "2",
        "--table",
        "input",
        "--timeout",
        "500ms",
    ]);
    assert!(!run.status.success(), "{}", run.describe());
    assert!(
        run.stderr.contains("no reply within 500ms"),
        "{}",
        run.describe()
    );
}

#[test]
fn probe_errors_name_the_problem() {
    // A port nobody listens on (bound, then released).
    let closed = format!("127.0.0.1:{}", support::free_port());
    let run = vigie(&[
        "probe",
        &closed,
        "--unit",
        "1",
        "--profile",
        "eastron-sdm630",
    ]);
    assert!(!run.status.success(), "{}", run.describe());
    assert!(
        run.stderr.contains("cannot connect") && run.stderr.contains(&closed),
        "{}",
        run.describe()
    );

    let peer = sdm630_peer();
    let addr = peer.addr();
    let run = vigie(&["probe", &addr, "--unit", "1", "--profile", "no-such-meter"]);
    assert!(!run.status.success(), "{}", run.describe());
    assert!(
        run.stderr.contains("no-such-meter"),
        "the error names the profile; {}",
        run.describe()
    );

    let run = vigie(&["probe", &addr, "--unit", "1"]);
    assert!(!run.status.success(), "{}", run.describe());
    assert!(
        run.stderr.contains("--profile") && run.stderr.contains("--raw"),
        "{}",
        run.describe()
    );
}

// ---------------------------------------------------------------------------
// A device that refuses one of several reads (the station simulator)
// ---------------------------------------------------------------------------

#[test]
fn probe_marks_only_the_points_of_the_refused_read_bad() {
    // The simulator serves a real SDM630 map; the probe uses a copy of the profile with
    // one more point far from the others (PDU 9000, its own read), which the simulated
    // meter answers with exception 2, as a meter does for a register it does not have.
    let dir = tempfile::Builder::new()
        .prefix("vigie-probe-")
        .tempdir()
        .expect("temp dir");
    let profiles = dir.path().join("profiles");
    std::fs::create_dir(&profiles).unwrap();
    let original = std::fs::read_to_string(Path::new(PROFILES).join("eastron-sdm630.toml"))
        .expect("read eastron-sdm630.toml");
    std::fs::write(
        profiles.join("sdm630-plus.toml"),
        format!(
            "{original}\n[[points]]\nname = \"vendor_register\"\nregister = \"input\"\naddress = 39001\ntype = \"u16\"\n"
        ),
    )
    .unwrap();
    let (_sim, addr) = support::vigie::fixed_meter_simulator(dir.path());

    let run = vigie(&[
        "probe",
        &addr,
        "--unit",
        "7",
        "--profile",
        "sdm630-plus",
        "--profiles-dir",
        profiles.to_str().unwrap(),
    ]);
    assert!(run.status.success(), "{}", run.describe());
    let rows = point_rows(&run);
    assert_eq!(
        rows.len(),
        profile_points(PROFILES, "eastron-sdm630").len() + 1,
        "{}",
        run.describe()
    );
    for (name, row) in &rows {
        let expected = if name == "vendor_register" {
            "bad: exception(2)"
        } else {
            "good"
        };
        assert_eq!(row["quality"], expected, "{name}; {}", run.describe());
    }
    assert_eq!(rows["voltage_l1_v"]["value"], "230.5");
    assert_eq!(rows["frequency_hz"]["value"], "50");
    assert_eq!(rows["vendor_register"]["address"], "39001 (pdu 9000)");
}
