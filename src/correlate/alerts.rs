//! Customer overconsumption alerts (DESIGN.md "Terms": a customer's consumption abnormally
//! high against the same period of the previous year), as the CRM sends them to
//! `POST /api/v1/consumption-alerts`, checked one by one.
//!
//! `customer_ref` is an opaque reference: vigie stores no names, addresses or phone numbers.

use crate::config::{Config, Utility};
use serde::{Deserialize, Serialize};

/// One alert, as received and stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsumptionAlert {
    /// The CRM's id; a resent alert with the same id and content changes nothing.
    pub alert_id: String,
    /// The CRM's opaque customer reference (no personal data).
    pub customer_ref: String,
    pub meter_id: String,
    pub utility: Utility,
    /// A zone of `[[zones]]` distributing this utility.
    pub zone: String,
    /// The period consumed, RFC 3339 (`2026-11-01T00:00:00Z`) or a date (`2026-11-01`,
    /// midnight UTC); `period_end` after `period_start`.
    pub period_start: String,
    pub period_end: String,
    /// Consumption over the period, in `unit`.
    pub consumption: f64,
    /// The same period of the previous year (or the reference the CRM uses), in `unit`.
    pub reference_consumption: f64,
    /// `m3` or `L` for water, `kWh` or `MWh` for electricity.
    pub unit: String,
}

/// The units accepted for each utility.
pub fn units(utility: Utility) -> &'static [&'static str] {
    match utility {
        Utility::Water => &["m3", "L"],
        Utility::Electricity => &["kWh", "MWh"],
    }
}

/// The longest text field, characters.
pub const MAX_TEXT: usize = 128;

/// A date or RFC 3339 time as ns since the epoch.
pub fn parse_period(s: &str) -> Result<i64, String> {
    let t = if let Ok(d) = s.parse::<jiff::civil::Date>() {
        d.to_zoned_datetime(jiff::tz::TimeZone::UTC)
            .map_err(|e| format!("{s:?}: {e}"))?
            .timestamp()
    } else {
        s.parse::<jiff::Timestamp>().map_err(|e| {
            format!("{s:?} is neither a date (2026-11-01) nor an RFC 3339 time ({e})")
        })?
    };
    i64::try_from(t.as_nanosecond()).map_err(|_| format!("{s:?} is out of range"))
}

impl ConsumptionAlert {
    /// Reads one record of a batch: every problem with it, in one message.
    ///
    /// Errors: unknown or missing fields, wrong types, empty or over-long ids, a zone that
    /// is not configured or distributes another utility, a unit that does not fit the
    /// utility, a period that is not a date or ends before it starts, a consumption that is
    /// negative or not a number.
    pub fn from_json(v: &serde_json::Value, config: &Config) -> Result<ConsumptionAlert, String> {
        let a: ConsumptionAlert = serde_json::from_value(v.clone()).map_err(|e| e.to_string())?;
        let mut problems = Vec::new();
        for (name, value) in [
            ("alert_id", &a.alert_id),
            ("customer_ref", &a.customer_ref),
            ("meter_id", &a.meter_id),
        ] {
            if value.trim().is_empty() || value.chars().count() > MAX_TEXT {
                problems.push(format!("{name}: 1 to {MAX_TEXT} characters"));
            }
        }
        match config.zones.iter().find(|z| z.id == a.zone) {
            None => problems.push(format!(
                "zone: no zone {:?} in vigie's configuration",
                a.zone
            )),
            Some(z) if z.utility != a.utility => problems.push(format!(
                "zone: {:?} distributes {}, not {}",
                a.zone,
                utility_name(z.utility),
                utility_name(a.utility)
            )),
            Some(_) => {}
        }
        if !units(a.utility).contains(&a.unit.as_str()) {
            problems.push(format!(
                "unit: {:?} is not a {} unit; use {}",
                a.unit,
                utility_name(a.utility),
                units(a.utility).join(" or ")
            ));
        }
        match (parse_period(&a.period_start), parse_period(&a.period_end)) {
            (Ok(s), Ok(e)) if e <= s => {
                problems.push("period_end: must be after period_start".into())
            }
            (Err(m), _) => problems.push(format!("period_start: {m}")),
            (_, Err(m)) => problems.push(format!("period_end: {m}")),
            _ => {}
        }
        for (name, x) in [
            ("consumption", a.consumption),
            ("reference_consumption", a.reference_consumption),
        ] {
            if !(x.is_finite() && x >= 0.0) {
                problems.push(format!("{name}: a number, 0 or more"));
            }
        }
        if problems.is_empty() {
            Ok(a)
        } else {
            Err(problems.join("; "))
        }
    }
}

/// `water` or `electricity`.
pub fn utility_name(u: Utility) -> &'static str {
    match u {
        Utility::Water => "water",
        Utility::Electricity => "electricity",
    }
}
