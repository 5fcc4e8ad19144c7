//! `vigie import-consumption` (issue 4, "Customer overconsumption alerts"): the binary on a
//! generated two-year billing export (2023-2024, monthly and bimonthly periods, leap February,
//! 30 meters in a water and an electricity zone, some leaking in 2024) and on the hand-written
//! sample `tests/data/consumption/billing-sample.csv`.

use jiff::civil::Date;
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct Setup {
    _dir: tempfile::TempDir,
    root: PathBuf,
    config: PathBuf,
    data_dir: PathBuf,
}

/// A temporary vigie.toml with the zones DMA-NORD (water) and FA-07 (electricity).
fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let data_dir = root.join("var");
    let config = root.join("vigie.toml");
    let profiles = Path::new(env!("CARGO_MANIFEST_DIR")).join("plc-profiles");
    std::fs::write(
        &config,
        format!(
            "[daemon]\nprofiles_dir = {profiles:?}\ndata_dir = {data_dir:?}\n\n\
             [[zones]]\nid = \"DMA-NORD\"\nutility = \"water\"\n\n\
             [[zones]]\nid = \"FA-07\"\nutility = \"electricity\"\n"
        ),
    )
    .unwrap();
    Setup {
        _dir: dir,
        root,
        config,
        data_dir,
    }
}

fn vigie(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vigie"))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

fn import(file: &Path, config: &Path, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec![
        "import-consumption",
        file.to_str().unwrap(),
        "-c",
        config.to_str().unwrap(),
    ];
    args.extend(extra);
    let out = vigie(&args);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `(meter, "start..end")` of every printed `alert` line.
fn printed_alerts(stdout: &str) -> BTreeSet<(String, String)> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("alert "))
        .map(|l| {
            let mut words = l.split(' ');
            let meter = words.next().unwrap_or_default().to_string();
            let period = words.next().unwrap_or_default().to_string();
            (meter, period)
        })
        .collect()
}

fn d(s: &str) -> Date {
    s.parse().unwrap()
}

/// A deterministic number in [0, 1).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Period boundaries of a year: monthly (13 dates) or bimonthly (7 dates).
fn boundaries(year: i16, months: i8) -> Vec<Date> {
    (0..=12 / months)
        .map(|k| {
            if k * months == 12 {
                Date::new(year + 1, 1, 1).unwrap()
            } else {
                Date::new(year, 1 + k * months, 1).unwrap()
            }
        })
        .collect()
}

struct Meter {
    id: String,
    customer_2023: String,
    customer_2024: String,
    water: bool,
    /// Base use per day (m³ or kWh) and months per period in 2023 and 2024.
    per_day: f64,
    months: (i8, i8),
    /// Units in 2023 and 2024.
    units: (&'static str, &'static str),
    /// Extra use per day from..to (a leak), 2024 only; on period boundaries.
    leak: Option<(Date, Date, f64)>,
    /// Multiplier on 2024 (a small consumer tripling, a new tenant).
    factor_2024: f64,
    only_2024: bool,
}

/// The use of one day: base × season (water: summer; electricity: winter), plus any leak.
fn day_use(m: &Meter, day: Date) -> f64 {
    let season = match (m.water, day.month()) {
        (true, 6..=8) => 1.3,
        (false, 12 | 1 | 2) => 1.4,
        _ => 1.0,
    };
    let factor = if day.year() == 2024 {
        m.factor_2024
    } else {
        1.0
    };
    let leak = match m.leak {
        Some((from, to, extra)) if day >= from && day < to => extra,
        _ => 0.0,
    };
    m.per_day * season * factor + leak
}

/// The generated meters (18 water in DMA-NORD, 12 electricity in FA-07).
fn meters() -> Vec<Meter> {
    let mut out = Vec::new();
    for i in 0..30usize {
        let water = i < 18;
        let n = if water { i + 1 } else { i - 17 };
        let id = format!("{}-{n:03}", if water { "W" } else { "E" });
        // 0: monthly, 1: bimonthly, 2: monthly then bimonthly, 3: bimonthly then monthly.
        let months = [(1, 1), (2, 2), (1, 2), (2, 1)][i % 4];
        out.push(Meter {
            customer_2023: format!("C-{id}"),
            customer_2024: format!("C-{id}"),
            water,
            per_day: if water {
                0.25 + 0.05 * (i % 5) as f64
            } else {
                8.0 + n as f64
            },
            months,
            units: if water { ("m3", "m3") } else { ("kWh", "kWh") },
            leak: None,
            factor_2024: 1.0,
            only_2024: false,
            id,
        });
    }
    let by_id = |out: &mut Vec<Meter>, id: &str| out.iter().position(|m| m.id == id).unwrap();
    // Leaks in 2024.
    for (id, from, to, extra) in [
        ("W-003", "2024-05-01", "2025-01-01", 1.5), // bimonthly in 2024
        ("W-006", "2024-01-01", "2024-03-01", 0.8), // bimonthly January-February (29 Feb)
        ("W-009", "2024-02-01", "2024-03-01", 1.0), // monthly: the leap February
        ("W-012", "2024-09-01", "2024-10-01", 2.0), // bimonthly 2023, monthly 2024
        ("W-007", "2024-05-01", "2024-07-01", 1.2), // in litres in 2024
        ("E-004", "2024-03-01", "2024-07-01", 40.0),
        ("E-010", "2024-09-01", "2025-01-01", 40.0),
    ] {
        let k = by_id(&mut out, id);
        out[k].leak = Some((d(from), d(to), extra));
    }
    let k = by_id(&mut out, "W-007");
    out[k].units = ("m3", "L");
    let k = by_id(&mut out, "E-007");
    out[k].units = ("MWh", "kWh");
    // A small consumer tripling: under the 5 m³ minimum excess.
    let k = by_id(&mut out, "W-015");
    out[k].per_day = 0.02;
    out[k].factor_2024 = 3.0;
    // A new tenant using four times more: no history of theirs.
    let k = by_id(&mut out, "W-017");
    out[k].customer_2024 = "C-W-017-new".into();
    out[k].factor_2024 = 4.0;
    // A meter installed in 2024.
    let k = by_id(&mut out, "W-018");
    out[k].only_2024 = true;
    out
}

/// The CSV, and the leaking periods `(meter, "start..end")`.
fn generate() -> (String, BTreeSet<(String, String)>) {
    let mut csv = String::from(
        "customer_ref,meter_id,utility,zone,period_start,period_end,consumption,unit\n",
    );
    let mut leaking = BTreeSet::new();
    let mut noise = Lcg(42);
    for m in meters() {
        for (year, months, customer, unit) in [
            (2023, m.months.0, &m.customer_2023, m.units.0),
            (2024, m.months.1, &m.customer_2024, m.units.1),
        ] {
            if year == 2023 && m.only_2024 {
                continue;
            }
            let bounds = boundaries(year, months);
            if let Some((from, to, _)) = m.leak {
                let all = [boundaries(2024, m.months.1), boundaries(2025, 1)].concat();
                assert!(
                    all.contains(&from) && all.contains(&to),
                    "{}: align the leak",
                    m.id
                );
            }
            for w in bounds.windows(2) {
                let (start, end) = (w[0], w[1]);
                let mut total = 0.0;
                let mut day = start;
                while day < end {
                    total += day_use(&m, day);
                    day = day.tomorrow().unwrap();
                }
                // ±10 % of noise on the base use: never twice the previous year by itself.
                total *= 0.9 + 0.2 * noise.next();
                let factor = match unit {
                    "L" => 1000.0,
                    "MWh" => 0.001,
                    _ => 1.0,
                };
                let (utility, zone) = if m.water {
                    ("water", "DMA-NORD")
                } else {
                    ("electricity", "FA-07")
                };
                writeln!(
                    csv,
                    "{customer},{},{utility},{zone},{start},{end},{:.3},{unit}",
                    m.id,
                    total * factor
                )
                .unwrap();
                if m.leak.is_some_and(|(from, to, _)| from < end && to > start) {
                    leaking.insert((m.id.clone(), format!("{start}..{end}")));
                }
            }
        }
    }
    (csv, leaking)
}

fn stored_alerts(data_dir: &Path) -> Vec<(String, serde_json::Value)> {
    let conn = rusqlite::Connection::open(data_dir.join("alarms.sqlite")).unwrap();
    let mut stmt = conn
        .prepare("SELECT alert_id, body FROM consumption_alerts ORDER BY alert_id")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .unwrap()
        .map(|r| {
            let (id, body) = r.unwrap();
            (id, serde_json::from_str(&body).unwrap())
        })
        .collect()
}

#[test]
fn two_year_export_alerts_exactly_the_leaking_meters_and_stores_them_once() {
    let s = setup();
    let (csv, leaking) = generate();
    let file = s.root.join("billing-2023-2024.csv");
    std::fs::write(&file, &csv).unwrap();
    assert!(leaking.len() >= 10, "{leaking:?}");
    assert!(leaking.contains(&("W-009".into(), "2024-02-01..2024-03-01".into())));
    assert!(leaking.contains(&("W-006".into(), "2024-01-01..2024-03-01".into())));

    let (code, stdout, stderr) = import(&file, &s.config, &[]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(printed_alerts(&stdout), leaking, "{stdout}");
    let rows = csv.lines().count() - 1;
    assert!(
        stdout.starts_with(&format!("{}: {rows} rows read, 0 rejected", file.display())),
        "{stdout}"
    );
    assert!(!stdout.contains("rejected line"), "{stdout}");
    // The small consumer is compared, not alerted; the new tenant and the new meter have no
    // reference, reported.
    assert!(!stdout.contains("alert W-015"), "{stdout}");
    assert!(
        stdout.contains("no-reference W-017 2024-01-01..2025-01-01 (12 periods): another customer_ref 1 year earlier"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "no-reference W-018 2024-01-01..2025-01-01 (6 periods): no reading 1 year earlier"
        ),
        "{stdout}"
    );
    // W-007 is alerted in litres, its reference converted from the 2023 m³.
    let w007 = stdout
        .lines()
        .find(|l| l.starts_with("alert W-007 "))
        .unwrap();
    assert!(w007.contains(" L reference "), "{w007}");
    assert!(
        stdout.contains(&format!("stored {} new alerts", leaking.len())),
        "{stdout}"
    );

    // The store holds exactly those alerts, with deterministic ids.
    let stored = stored_alerts(&s.data_dir);
    let ids: BTreeSet<String> = stored.iter().map(|(id, _)| id.clone()).collect();
    let expected: BTreeSet<String> = leaking
        .iter()
        .map(|(meter, period)| {
            let utility = if meter.starts_with('W') {
                "water"
            } else {
                "electricity"
            };
            format!("csv:{utility}:{meter}:{}", period.replace("..", ":"))
        })
        .collect();
    assert_eq!(ids, expected);
    let (_, feb) = stored
        .iter()
        .find(|(id, _)| id == "csv:water:W-009:2024-02-01:2024-03-01")
        .unwrap();
    assert_eq!(feb["customer_ref"], "C-W-009");
    assert_eq!(feb["zone"], "DMA-NORD");
    assert_eq!(feb["utility"], "water");
    assert_eq!(feb["unit"], "m3");
    assert_eq!(feb["period_end"], "2024-03-01");
    let (consumption, reference) = (
        feb["consumption"].as_f64().unwrap(),
        feb["reference_consumption"].as_f64().unwrap(),
    );
    assert!(consumption > 2.0 * reference && consumption - reference >= 5.0);

    // A second import stores nothing new.
    let (code, stdout, _) = import(&file, &s.config, &[]);
    assert_eq!(code, 0);
    assert_eq!(printed_alerts(&stdout), leaking);
    assert!(
        stdout.contains(&format!(
            "stored 0 new alerts in {} ({} already stored, 0 conflicts)",
            s.data_dir.join("alarms.sqlite").display(),
            leaking.len()
        )),
        "{stdout}"
    );
    assert_eq!(stored_alerts(&s.data_dir).len(), leaking.len());
}

#[test]
fn three_year_rule_on_a_two_year_export_finds_no_reference() {
    let s = setup();
    let (csv, _) = generate();
    let file = s.root.join("billing.csv");
    std::fs::write(&file, &csv).unwrap();
    let (code, stdout, stderr) = import(&file, &s.config, &["--years", "3", "--dry-run"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(printed_alerts(&stdout).is_empty(), "{stdout}");
    assert!(stdout.contains(" 0 periods compared, "), "{stdout}");
    assert!(
        stdout.contains("reference: the average of the same period over the previous 3 years"),
        "{stdout}"
    );
    assert!(stdout.contains("dry run: nothing stored"), "{stdout}");
    assert!(!s.data_dir.exists());
}

#[test]
fn sample_file_rejects_bad_rows_and_processes_the_rest() {
    let s = setup();
    let file =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/consumption/billing-sample.csv");
    let (code, stdout, stderr) = import(&file, &s.config, &["--dry-run"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let rejected: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("rejected line"))
        .collect();
    assert_eq!(
        rejected,
        [
            "rejected line 7: repeats line 6 (meter W-100, 2024-03-01..2024-05-01, same values)",
            "rejected line 11: period_start: \"2024-02-30\" is not a calendar date",
            "rejected line 12: consumption: \"-4\" is not a number, 0 or more",
            "rejected line 13: zone: no zone \"DMA-SUD\" in vigie's configuration",
            "rejected line 14: unit: \"kWh\" is not a water unit; use m3 or L",
            "rejected line 18: meter E-201: period 2024-01-01..2024-02-01 overlaps 2024-01-15..2024-02-15 on line 19",
            "rejected line 19: meter E-201: period 2024-01-15..2024-02-15 overlaps 2024-01-01..2024-02-01 on line 18",
        ],
        "{stdout}"
    );
    let alerts: Vec<&str> = stdout.lines().filter(|l| l.starts_with("alert ")).collect();
    assert_eq!(
        alerts,
        [
            "alert W-100 2024-03-01..2024-05-01 consumption 64 m3 reference 22 m3 ratio 2.91 zone DMA-NORD customer C-0001 line 6",
            "alert E-200 2024-01-01..2024-02-01 consumption 2450 kWh reference 900 kWh ratio 2.72 zone FA-07 customer C-0008 line 16",
        ],
        "{stdout}"
    );
    // W-101 (7.5 m³ against 3.05 m³) is compared but under the minimum excess; with a 1 m³
    // minimum for water it is an alert, and electricity keeps its 500 kWh.
    let (_, stdout, _) = import(&file, &s.config, &["--dry-run", "--min-excess", "1m3"]);
    let alerts = printed_alerts(&stdout);
    assert!(
        alerts.contains(&("W-101".into(), "2024-01-01..2024-03-01".into())),
        "{stdout}"
    );
    assert_eq!(alerts.len(), 3, "{stdout}");
    assert!(
        stdout.contains("≥ 1 m3 (water), 500 kWh (electricity)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("no-reference W-102 2024-01-01..2024-03-01 (line 10): no reading of this meter for 2023-01-01..2023-03-01 (1 year earlier)"),
        "{stdout}"
    );
    assert!(!s.data_dir.exists(), "--dry-run stores nothing");
}

#[test]
fn unreadable_file_or_config_exits_1() {
    let s = setup();
    let (code, _, stderr) = import(&s.root.join("missing.csv"), &s.config, &[]);
    assert_eq!(code, 1);
    assert!(stderr.contains("cannot read"), "{stderr}");

    let headerless = s.root.join("headerless.csv");
    std::fs::write(
        &headerless,
        "C-1,W-1,water,DMA-NORD,2024-01-01,2024-02-01,3,m3\n",
    )
    .unwrap();
    let (code, _, stderr) = import(&headerless, &s.config, &[]);
    assert_eq!(code, 1);
    assert!(stderr.contains("missing column(s)"), "{stderr}");

    let file =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/consumption/billing-sample.csv");
    let (code, _, stderr) = import(&file, &s.root.join("absent.toml"), &[]);
    assert_eq!(code, 1);
    assert!(stderr.contains("cannot read"), "{stderr}");
    assert!(!s.data_dir.exists());
}
