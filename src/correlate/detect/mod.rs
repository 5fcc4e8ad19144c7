//! Customer overconsumption detected by vigie itself from a billing export
//! (`vigie import-consumption FILE.csv`, issue 4 "Customer overconsumption alerts"): per-meter
//! consumption by period in, [`ConsumptionAlert`]s out, with the same fields as the CRM's
//! (`POST /api/v1/consumption-alerts`).
//!
//! # The file
//!
//! CSV, UTF-8 (a leading byte-order mark is ignored), a header row naming the columns, in any
//! order (other columns are ignored and reported):
//!
//! ```text
//! customer_ref,meter_id,utility,zone,period_start,period_end,consumption,unit
//! C-1042,W-000117,water,DMA-NORD,2024-02-01,2024-03-01,9.8,m3
//! ```
//!
//! - `customer_ref`: the CRM's opaque reference (1 to 128 characters; no personal data).
//! - `meter_id`: 1 to [`MAX_METER_ID`] characters (the alert id built from it must fit 128).
//! - `utility`: `water` or `electricity`; `zone`: a `[[zones]]` id distributing that utility.
//! - `period_start`, `period_end`: dates `YYYY-MM-DD`; **`period_end` is exclusive**: it is the
//!   date of the closing meter reading, which is also the next period's `period_start`
//!   (2024-02-01 to 2024-03-01 is February, 29 days). Periods may have any length (monthly,
//!   bimonthly, quarterly bills side by side).
//! - `consumption`: over the period, a number ≥ 0, in `unit`: `m3` or `L` for water, `kWh` or
//!   `MWh` for electricity ([`units`]). Units may differ from row to row of one meter: they are
//!   converted.
//!
//! A file whose header line holds `;` and no `,` is read as `;`-separated with decimal commas
//! (`9,8`), as French spreadsheets export it.
//!
//! # The rules
//!
//! - **Reference.** For every period of a meter, the reference is the equivalent period of the
//!   previous year (`years = 1`, the default: DESIGN.md "Terms", "consumption alert … against
//!   the same period of the previous year"), or the average of the equivalent periods of the
//!   previous `years` years (France's rule for water, CGCT art. L2224-12-4 III bis: an increase
//!   is abnormal when the volume "excède le double du volume d'eau moyen consommé … pendant une
//!   période équivalente au cours des trois années précédentes", i.e. `years = 3`, `ratio = 2`;
//!   /work/shared/reference/alarms-integration.md §3.7). Every period that has a reference is
//!   evaluated, whatever its year.
//! - **Calendar alignment.** The equivalent period `k` years earlier has the same calendar
//!   dates, `k` years earlier. 29 February is the boundary between 28 February and 1 March, so
//!   a boundary on 29 February falls on 1 March in a year without it (see [`shift_years`]); a
//!   period made of 29 February alone has no equivalent. The equivalent period never includes
//!   the period's own days (it is cut at `period_start` for periods longer than a year).
//! - **Unequal periods.** Consumptions are compared as daily averages: the reference daily
//!   average of one year is the average of that year's overlapping periods' daily averages
//!   (consumption ÷ days), weighted by their days of overlap; with `years > 1` the years' daily
//!   averages are averaged, each year counting once. The alert's `reference_consumption` is
//!   that daily average × the period's days, in the period's unit.
//! - **Coverage.** A year counts only when that meter's periods *of the same customer_ref*
//!   cover every day of its equivalent period (the rule compares a subscriber's consumption
//!   with their own past). Otherwise the period is reported in
//!   [`DetectReport::no_reference`] with the reason ([`Missing`]): never guessed.
//! - **Alert** when `consumption > ratio × reference` *and* `consumption − reference ≥
//!   min_excess`: far above, and by enough to matter (2 m³ against 1 m³ is not an alert).
//!   Defaults: `ratio` 2 (the CGCT's "double"), `min_excess` 5 m³ for water and 500 kWh for
//!   electricity (vigie's choice: roughly a week of a household's water and a month of its
//!   electricity, so a small customer's doubling is not called a leak), given in the utility's
//!   base unit (m³, kWh) whatever the row's unit.
//! - **Rejected rows**, with their line number and every reason: a missing or malformed field,
//!   a date that is not `YYYY-MM-DD` or a period that does not end after it starts, a
//!   consumption that is negative or not a number, a zone that is not configured or
//!   distributes the other utility, a unit that does not fit the utility, a repeated row (the
//!   later copy of an identical row), periods of one meter that overlap (including the same
//!   period with other values: both rows are rejected, since vigie cannot tell which is
//!   right). The other rows are processed.
//! - **Alert ids** are `csv:{utility}:{meter_id}:{period_start}:{period_end}`: importing a
//!   file again stores nothing new.

use super::alerts::{ConsumptionAlert, MAX_TEXT, parse_period, units, utility_name};
use crate::config::{Utility, ZoneConfig};
use jiff::civil::Date;
use std::collections::{BTreeMap, HashMap};
use std::fmt;

/// The columns the header must name.
pub const COLUMNS: [&str; 8] = [
    "customer_ref",
    "meter_id",
    "utility",
    "zone",
    "period_start",
    "period_end",
    "consumption",
    "unit",
];

/// The default ratio: twice the reference (CGCT art. L2224-12-4 III bis, "le double").
pub const DEFAULT_RATIO: f64 = 2.0;
/// The default smallest excess for water, m³.
pub const DEFAULT_MIN_EXCESS_M3: f64 = 5.0;
/// The default smallest excess for electricity, kWh.
pub const DEFAULT_MIN_EXCESS_KWH: f64 = 500.0;
/// The most previous years a reference may average.
pub const MAX_YEARS: u32 = 10;
/// The longest `meter_id`: `csv:electricity:` + id + `:YYYY-MM-DD:YYYY-MM-DD` fits the
/// alerts' [`MAX_TEXT`].
pub const MAX_METER_ID: usize = MAX_TEXT - 38;

/// Errors that stop the reading of a file or a configuration that cannot be used; a bad row
/// is not one (it is a [`Rejected`]).
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    /// The file is empty.
    #[error("the file is empty; its first line must name the columns {}", COLUMNS.join(","))]
    Empty,
    /// The header lacks required columns.
    #[error(
        "line 1 is not a complete header: missing column(s) {missing}; the header must name {}",
        COLUMNS.join(",")
    )]
    MissingColumns { missing: String },
    /// A column is named twice.
    #[error("line 1: column {0:?} is named twice")]
    DuplicateColumn(String),
    /// The header is not UTF-8.
    #[error("line 1: the header is not UTF-8")]
    HeaderNotUtf8,
    /// The CSV reader failed.
    #[error("CSV: {0}")]
    Csv(#[from] csv::Error),
    /// A detection setting is out of range.
    #[error("{0}")]
    Config(String),
}

/// One valid row of the file.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The line of the file where the row starts (the header is line 1).
    pub line: u64,
    /// The CRM's opaque customer reference.
    pub customer_ref: String,
    /// The meter; with `utility`, what identifies a series of periods.
    pub meter_id: String,
    pub utility: Utility,
    /// A configured zone distributing `utility`.
    pub zone: String,
    /// The opening reading's date (inclusive).
    pub period_start: Date,
    /// Exclusive: the closing reading's date.
    pub period_end: Date,
    /// Over the period, in `unit`.
    pub consumption: f64,
    /// One of [`units`]`(utility)`.
    pub unit: String,
}

impl Row {
    /// The period's days (`period_end` exclusive).
    pub fn days(&self) -> i64 {
        day_number(self.period_end) - day_number(self.period_start)
    }

    /// The consumption in the utility's base unit (m³, kWh).
    fn base(&self) -> f64 {
        self.consumption * unit_factor(&self.unit)
    }
}

/// A row left out, with why.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    /// The line of the file where the row starts (the header is line 1).
    pub line: u64,
    /// Every problem found, `; `-separated.
    pub reason: String,
}

/// The file read: valid rows and rejected ones.
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    /// Data rows in the file (valid or not).
    pub rows_read: usize,
    pub rows: Vec<Row>,
    pub rejected: Vec<Rejected>,
    /// Header columns vigie does not use.
    pub ignored_columns: Vec<String>,
}

/// Detection settings (see the module documentation for the rules).
#[derive(Debug, Clone, PartialEq)]
pub struct DetectConfig {
    /// An alert needs `consumption > ratio × reference`; at least 1.
    pub ratio: f64,
    /// The reference averages the equivalent periods of this many previous years (1 to
    /// [`MAX_YEARS`]).
    pub years: u32,
    /// An alert needs `consumption − reference` at least this, m³ (water).
    pub min_excess_m3: f64,
    /// An alert needs `consumption − reference` at least this, kWh (electricity).
    pub min_excess_kwh: f64,
}

impl Default for DetectConfig {
    fn default() -> Self {
        DetectConfig {
            ratio: DEFAULT_RATIO,
            years: 1,
            min_excess_m3: DEFAULT_MIN_EXCESS_M3,
            min_excess_kwh: DEFAULT_MIN_EXCESS_KWH,
        }
    }
}

impl DetectConfig {
    /// Errors: a ratio below 1 or not finite, `years` outside 1..=[`MAX_YEARS`], a negative
    /// or non-finite minimum excess.
    pub fn validate(&self) -> Result<(), DetectError> {
        if !(self.ratio.is_finite() && self.ratio >= 1.0) {
            return Err(DetectError::Config(format!(
                "ratio {}: a number, 1 or more",
                self.ratio
            )));
        }
        if !(1..=MAX_YEARS).contains(&self.years) {
            return Err(DetectError::Config(format!(
                "years {}: 1 to {MAX_YEARS}",
                self.years
            )));
        }
        for x in [self.min_excess_m3, self.min_excess_kwh] {
            if !(x.is_finite() && x >= 0.0) {
                return Err(DetectError::Config(format!(
                    "min_excess {x}: a number, 0 or more"
                )));
            }
        }
        Ok(())
    }

    /// The smallest excess for `utility`, in its base unit (m³, kWh).
    pub fn min_excess(&self, utility: Utility) -> f64 {
        match utility {
            Utility::Water => self.min_excess_m3,
            Utility::Electricity => self.min_excess_kwh,
        }
    }

    /// Applies one `--min-excess` setting.
    pub fn set_min_excess(&mut self, m: MinExcess) {
        match m.utility {
            Some(Utility::Water) => self.min_excess_m3 = m.base,
            Some(Utility::Electricity) => self.min_excess_kwh = m.base,
            None => {
                self.min_excess_m3 = m.base;
                self.min_excess_kwh = m.base;
            }
        }
    }
}

/// A `--min-excess` value: `8m3`, `8000L` (water), `300kWh`, `0.3MWh` (electricity), or a bare
/// number for both utilities in their base units (m³ and kWh).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MinExcess {
    /// None: both utilities.
    pub utility: Option<Utility>,
    /// In the base unit (m³, kWh).
    pub base: f64,
}

impl std::str::FromStr for MinExcess {
    type Err = String;

    fn from_str(s: &str) -> Result<MinExcess, String> {
        let s = s.trim();
        let split = s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len());
        let (number, unit) = s.split_at(split);
        let x: f64 = number.trim().parse().map_err(|_| {
            format!("{s:?}: a number, optionally with a unit (m3, L, kWh, MWh), e.g. 8m3 or 300kWh")
        })?;
        if !(x.is_finite() && x >= 0.0) {
            return Err(format!("{s:?}: a number, 0 or more"));
        }
        let utility = match unit {
            "" => None,
            "m3" | "L" => Some(Utility::Water),
            "kWh" | "MWh" => Some(Utility::Electricity),
            other => return Err(format!("{s:?}: unit {other:?} is not m3, L, kWh or MWh")),
        };
        Ok(MinExcess {
            utility,
            base: if unit.is_empty() {
                x
            } else {
                x * unit_factor(unit)
            },
        })
    }
}

/// Why a period has no reference.
#[derive(Debug, Clone, PartialEq)]
pub enum Missing {
    /// No period of the meter touches the equivalent period `years_back` years earlier.
    NoReading {
        years_back: u32,
        start: Date,
        end: Date,
    },
    /// The customer's periods cover only part of it (a gap, or the start of the history).
    Partial {
        years_back: u32,
        start: Date,
        end: Date,
        covered_days: i64,
        days: i64,
    },
    /// The meter had another `customer_ref` then (a new subscriber has no history).
    OtherCustomer {
        years_back: u32,
        start: Date,
        end: Date,
    },
    /// The period is 29 February alone: no equivalent day in a year without it.
    NoEquivalentDay { years_back: u32 },
}

impl Missing {
    /// How many years back the missing reference is.
    pub fn years_back(&self) -> u32 {
        match self {
            Missing::NoReading { years_back, .. }
            | Missing::Partial { years_back, .. }
            | Missing::OtherCustomer { years_back, .. }
            | Missing::NoEquivalentDay { years_back } => *years_back,
        }
    }

    /// The reason without dates, for several periods at once.
    pub fn summary(&self) -> String {
        let back = years_text(self.years_back());
        match self {
            Missing::NoReading { .. } => format!("no reading {back} earlier"),
            Missing::Partial { .. } => format!("readings {back} earlier cover only part"),
            Missing::OtherCustomer { .. } => format!("another customer_ref {back} earlier"),
            Missing::NoEquivalentDay { .. } => {
                format!("29 February has no equivalent {back} earlier")
            }
        }
    }
}

fn years_text(n: u32) -> String {
    if n == 1 {
        "1 year".into()
    } else {
        format!("{n} years")
    }
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Missing::NoReading { start, end, .. } => write!(
                f,
                "no reading of this meter for {start}..{end} ({} earlier)",
                years_text(self.years_back())
            ),
            Missing::Partial {
                start,
                end,
                covered_days,
                days,
                ..
            } => write!(
                f,
                "readings of this customer cover {covered_days} of the {days} days of {start}..{end} ({} earlier)",
                years_text(self.years_back())
            ),
            Missing::OtherCustomer { start, end, .. } => write!(
                f,
                "{start}..{end} ({} earlier) was billed, at least in part, to another customer_ref",
                years_text(self.years_back())
            ),
            Missing::NoEquivalentDay { .. } => write!(
                f,
                "29 February has no equivalent day {} earlier",
                years_text(self.years_back())
            ),
        }
    }
}

/// A period with no reference.
#[derive(Debug, Clone, PartialEq)]
pub struct NoReference {
    /// The row's line in the file.
    pub line: u64,
    pub meter_id: String,
    pub utility: Utility,
    /// The period without reference (`period_end` exclusive).
    pub period_start: Date,
    pub period_end: Date,
    /// The first missing year (most recent first).
    pub missing: Missing,
}

/// A period compared with its reference.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// The period compared.
    pub row: Row,
    /// The reference daily average × the period's days, in the row's unit.
    pub reference_consumption: f64,
    /// Whether the rules call it abnormal: an alert.
    pub abnormal: bool,
}

impl Evaluation {
    /// `consumption ÷ reference` (infinite when the reference is 0 and the consumption not).
    pub fn ratio(&self) -> f64 {
        if self.reference_consumption > 0.0 {
            self.row.consumption / self.reference_consumption
        } else if self.row.consumption > 0.0 {
            f64::INFINITY
        } else {
            0.0
        }
    }

    /// `csv:{utility}:{meter_id}:{period_start}:{period_end}`: the same row always gives the
    /// same id.
    pub fn alert_id(&self) -> String {
        let r = &self.row;
        format!(
            "csv:{}:{}:{}:{}",
            utility_name(r.utility),
            r.meter_id,
            r.period_start,
            r.period_end
        )
    }

    /// The alert, as the CRM would send it (the reference rounded to 3 decimals).
    pub fn alert(&self) -> ConsumptionAlert {
        let r = &self.row;
        ConsumptionAlert {
            alert_id: self.alert_id(),
            customer_ref: r.customer_ref.clone(),
            meter_id: r.meter_id.clone(),
            utility: r.utility,
            zone: r.zone.clone(),
            period_start: r.period_start.to_string(),
            period_end: r.period_end.to_string(),
            consumption: r.consumption,
            reference_consumption: (self.reference_consumption * 1000.0).round() / 1000.0,
            unit: r.unit.clone(),
        }
    }
}

/// What [`detect`] found.
#[derive(Debug, Clone, Default)]
pub struct DetectReport {
    /// Data rows read (valid or not).
    pub rows_read: usize,
    /// Rows left out, by line.
    pub rejected: Vec<Rejected>,
    /// Periods compared with a reference, by line; the abnormal ones are the alerts.
    pub evaluations: Vec<Evaluation>,
    /// Periods without a reference, by line.
    pub no_reference: Vec<NoReference>,
}

impl DetectReport {
    /// The abnormal periods.
    pub fn abnormal(&self) -> impl Iterator<Item = &Evaluation> {
        self.evaluations.iter().filter(|e| e.abnormal)
    }

    /// The alerts to store.
    pub fn alerts(&self) -> Vec<ConsumptionAlert> {
        self.abnormal().map(Evaluation::alert).collect()
    }
}

/// Reads the file, checks each row against the zones, and runs [`detect`]; rows rejected by
/// either step are in the report, by line.
///
/// Errors: an empty file, a header that is not UTF-8, lacks a column or names one twice,
/// a detection setting out of range.
pub fn import(
    input: &[u8],
    zones: &[ZoneConfig],
    config: &DetectConfig,
) -> Result<DetectReport, DetectError> {
    config.validate()?;
    let parsed = read_csv(input, zones)?;
    let mut report = detect(&parsed.rows, config);
    report.rows_read = parsed.rows_read;
    report.rejected.extend(parsed.rejected);
    report.rejected.sort_by_key(|r| r.line);
    Ok(report)
}

/// Days since 1970-01-01.
fn day_number(d: Date) -> i64 {
    Date::constant(1970, 1, 1).duration_until(d).as_secs() / 86_400
}

/// The same calendar date `years` years earlier. 29 February is the boundary between
/// 28 February and 1 March: in a year without it, that boundary is 1 March. None out of
/// jiff's range.
pub fn shift_years(d: Date, years: u32) -> Option<Date> {
    let year = d.year().checked_sub(i16::try_from(years).ok()?)?;
    match Date::new(year, d.month(), d.day()) {
        Ok(shifted) => Some(shifted),
        Err(_) if d.month() == 2 && d.day() == 29 => Date::new(year, 3, 1).ok(),
        Err(_) => None,
    }
}

/// The rules of the module documentation on valid rows: rows of one meter that repeat or
/// overlap are rejected, every other period is compared with its reference.
pub fn detect(rows: &[Row], config: &DetectConfig) -> DetectReport {
    let mut report = DetectReport {
        rows_read: rows.len(),
        ..DetectReport::default()
    };
    // One series per meter (a water and an electricity meter may share an id).
    let mut series: BTreeMap<(&str, &str), Vec<&Row>> = BTreeMap::new();
    for r in rows {
        series
            .entry((utility_name(r.utility), r.meter_id.as_str()))
            .or_default()
            .push(r);
    }
    for rows in series.values_mut() {
        rows.sort_by_key(|r| (r.period_start, r.period_end, r.line));
        let kept = reject_conflicts(rows, &mut report.rejected);
        for r in &kept {
            evaluate(r, &kept, config, &mut report);
        }
    }
    report.rejected.sort_by_key(|r| r.line);
    report.evaluations.sort_by_key(|e| e.row.line);
    report.no_reference.sort_by_key(|n| n.line);
    report
}

/// Removes repeated rows (the later copy of an identical row) and overlapping periods (all
/// rows involved) from one meter's rows sorted by period; what is left does not overlap.
fn reject_conflicts<'a>(rows: &[&'a Row], rejected: &mut Vec<Rejected>) -> Vec<&'a Row> {
    let mut unique: Vec<&Row> = Vec::with_capacity(rows.len());
    for &r in rows {
        let same = |u: &&&Row| {
            u.period_start == r.period_start
                && u.period_end == r.period_end
                && u.customer_ref == r.customer_ref
                && u.zone == r.zone
                && u.unit == r.unit
                && u.consumption == r.consumption
        };
        match unique
            .iter()
            .rev()
            .take_while(|u| u.period_start == r.period_start)
            .find(same)
        {
            Some(first) => rejected.push(Rejected {
                line: r.line,
                reason: format!(
                    "repeats line {} (meter {}, {}..{}, same values)",
                    first.line, r.meter_id, r.period_start, r.period_end
                ),
            }),
            None => unique.push(r),
        }
    }
    let mut reasons: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    let mut longest: Option<&Row> = None; // the row reaching furthest so far
    for &r in &unique {
        if let Some(p) = longest
            && r.period_start < p.period_end
        {
            let what = |a: &Row, b: &Row| {
                if a.period_start == b.period_start && a.period_end == b.period_end {
                    format!(
                        "meter {}: period {}..{} also on line {} with other values",
                        a.meter_id, a.period_start, a.period_end, b.line
                    )
                } else {
                    format!(
                        "meter {}: period {}..{} overlaps {}..{} on line {}",
                        a.meter_id,
                        a.period_start,
                        a.period_end,
                        b.period_start,
                        b.period_end,
                        b.line
                    )
                }
            };
            reasons.entry(r.line).or_default().push(what(r, p));
            reasons.entry(p.line).or_default().push(what(p, r));
        }
        if longest.is_none_or(|p| r.period_end > p.period_end) {
            longest = Some(r);
        }
    }
    for (line, reasons) in &reasons {
        rejected.push(Rejected {
            line: *line,
            reason: reasons.join("; "),
        });
    }
    unique
        .into_iter()
        .filter(|r| !reasons.contains_key(&r.line))
        .collect()
}

/// Compares `r` with its reference among its meter's rows `series`.
fn evaluate(r: &Row, series: &[&Row], config: &DetectConfig, report: &mut DetectReport) {
    let mut daily = 0.0;
    for k in 1..=config.years {
        match reference_daily(r, series, k) {
            Ok(d) => daily += d,
            Err(missing) => {
                report.no_reference.push(NoReference {
                    line: r.line,
                    meter_id: r.meter_id.clone(),
                    utility: r.utility,
                    period_start: r.period_start,
                    period_end: r.period_end,
                    missing,
                });
                return;
            }
        }
    }
    let reference_base = daily / f64::from(config.years) * r.days() as f64;
    let consumption = r.base();
    let min_excess = config.min_excess(r.utility);
    // A hair of tolerance so that unit conversions (L to m³) do not miss an exact threshold.
    let abnormal = consumption > config.ratio * reference_base
        && consumption - reference_base >= min_excess - 1e-9 * min_excess.max(1.0);
    report.evaluations.push(Evaluation {
        row: r.clone(),
        reference_consumption: reference_base / unit_factor(&r.unit),
        abnormal,
    });
}

/// The daily average, in the base unit, of `r`'s customer on `r`'s meter over the equivalent
/// period `k` years earlier, or why there is none.
fn reference_daily(r: &Row, series: &[&Row], k: u32) -> Result<f64, Missing> {
    let (Some(start), Some(shifted_end)) =
        (shift_years(r.period_start, k), shift_years(r.period_end, k))
    else {
        return Err(Missing::NoReading {
            years_back: k,
            start: r.period_start,
            end: r.period_end,
        });
    };
    // Never the period's own days (periods longer than a year).
    let end = shifted_end.min(r.period_start);
    let (from, to) = (day_number(start), day_number(end));
    if to <= from {
        return Err(Missing::NoEquivalentDay { years_back: k });
    }
    let (mut covered, mut other, mut sum) = (0i64, 0i64, 0.0);
    // `series` is sorted and does not overlap: its ends increase too.
    let first = series.partition_point(|c| day_number(c.period_end) <= from);
    let touching = series[first..]
        .iter()
        .take_while(|c| day_number(c.period_start) < to);
    for c in touching.filter(|c| c.line != r.line) {
        let overlap = day_number(c.period_end).min(to) - day_number(c.period_start).max(from);
        if overlap <= 0 {
            continue;
        }
        if c.customer_ref != r.customer_ref {
            other += overlap;
        } else {
            covered += overlap;
            sum += c.base() / c.days() as f64 * overlap as f64;
        }
    }
    let days = to - from;
    if covered == days {
        Ok(sum / days as f64)
    } else if other > 0 {
        Err(Missing::OtherCustomer {
            years_back: k,
            start,
            end,
        })
    } else if covered == 0 {
        Err(Missing::NoReading {
            years_back: k,
            start,
            end,
        })
    } else {
        Err(Missing::Partial {
            years_back: k,
            start,
            end,
            covered_days: covered,
            days,
        })
    }
}

mod export;
pub use export::read_csv;
use export::unit_factor;

#[cfg(test)]
mod tests;
