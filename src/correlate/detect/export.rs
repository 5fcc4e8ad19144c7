//! Reading a billing export: one row per meter and period, each checked, with its line.

use super::*;

/// Reads the rows of a billing export (format in the module documentation); each row is
/// checked alone: fields, dates, units, zones. Relations between rows (duplicates, overlaps)
/// are [`detect`]'s.
///
/// Errors: an empty file, a header that is not UTF-8, lacks a column or names one twice.
pub fn read_csv(input: &[u8], zones: &[ZoneConfig]) -> Result<Parsed, DetectError> {
    let input = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
    let first_line = input.split(|&b| b == b'\n').next().unwrap_or_default();
    let semicolons = first_line.contains(&b';') && !first_line.contains(&b',');
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(if semicolons { b';' } else { b',' })
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(input);
    let mut records = reader.byte_records();
    let header = records.next().ok_or(DetectError::Empty)??;
    let mut columns: HashMap<String, usize> = HashMap::new();
    let mut ignored_columns = Vec::new();
    for (i, name) in header.iter().enumerate() {
        let name = std::str::from_utf8(name).map_err(|_| DetectError::HeaderNotUtf8)?;
        if COLUMNS.contains(&name) {
            if columns.insert(name.to_string(), i).is_some() {
                return Err(DetectError::DuplicateColumn(name.to_string()));
            }
        } else {
            ignored_columns.push(name.to_string());
        }
    }
    let missing: Vec<&str> = COLUMNS
        .iter()
        .filter(|c| !columns.contains_key(**c))
        .copied()
        .collect();
    if !missing.is_empty() {
        return Err(DetectError::MissingColumns {
            missing: missing.join(", "),
        });
    }
    let index = COLUMNS.map(|c| columns.get(c).copied().unwrap_or_default());
    let mut parsed = Parsed {
        ignored_columns,
        ..Parsed::default()
    };
    for record in records {
        let record = record?;
        let line = record.position().map_or(0, csv::Position::line);
        parsed.rows_read += 1;
        match parse_row(line, &record, header.len(), &index, zones, semicolons) {
            Ok(row) => parsed.rows.push(row),
            Err(reason) => parsed.rejected.push(Rejected { line, reason }),
        }
    }
    Ok(parsed)
}

/// One record into a row, or every problem with it.
pub(super) fn parse_row(
    line: u64,
    record: &csv::ByteRecord,
    header_len: usize,
    index: &[usize; 8],
    zones: &[ZoneConfig],
    decimal_comma: bool,
) -> Result<Row, String> {
    let mut problems = Vec::new();
    if record.len() != header_len {
        problems.push(format!(
            "{} fields where the header has {header_len}",
            record.len()
        ));
    }
    let mut fields = [""; 8];
    for ((field, name), &i) in fields.iter_mut().zip(COLUMNS).zip(index) {
        match record.get(i).map(std::str::from_utf8) {
            Some(Ok(v)) => *field = v,
            Some(Err(_)) => problems.push(format!("{name}: not UTF-8")),
            None => problems.push(format!("{name}: missing")),
        }
    }
    if !problems.is_empty() {
        return Err(problems.join("; "));
    }
    let [
        customer_ref,
        meter_id,
        utility,
        zone,
        start,
        end,
        consumption,
        unit,
    ] = fields;
    if customer_ref.is_empty() || customer_ref.chars().count() > MAX_TEXT {
        problems.push(format!("customer_ref: 1 to {MAX_TEXT} characters"));
    }
    if meter_id.is_empty() || meter_id.chars().count() > MAX_METER_ID {
        problems.push(format!("meter_id: 1 to {MAX_METER_ID} characters"));
    }
    let utility = match utility {
        "water" => Some(Utility::Water),
        "electricity" => Some(Utility::Electricity),
        other => {
            problems.push(format!(
                "utility: {other:?} is neither water nor electricity"
            ));
            None
        }
    };
    if let Some(u) = utility {
        match zones.iter().find(|z| z.id == zone) {
            None => problems.push(format!("zone: no zone {zone:?} in vigie's configuration")),
            Some(z) if z.utility != u => problems.push(format!(
                "zone: {zone:?} distributes {}, not {}",
                utility_name(z.utility),
                utility_name(u)
            )),
            Some(_) => {}
        }
        if !units(u).contains(&unit) {
            problems.push(format!(
                "unit: {unit:?} is not a {} unit; use {}",
                utility_name(u),
                units(u).join(" or ")
            ));
        }
    }
    let start = parse_date("period_start", start)
        .map_err(|m| problems.push(m))
        .ok();
    let end = parse_date("period_end", end)
        .map_err(|m| problems.push(m))
        .ok();
    if let (Some(s), Some(e)) = (start, end)
        && e <= s
    {
        problems.push(format!("period_end: {e} is not after period_start {s}"));
    }
    let number = if decimal_comma {
        consumption.replace(',', ".")
    } else {
        consumption.to_string()
    };
    let consumption = match number.parse::<f64>() {
        Ok(x) if x.is_finite() && x >= 0.0 => Some(x),
        _ => {
            problems.push(format!(
                "consumption: {consumption:?} is not a number, 0 or more"
            ));
            None
        }
    };
    match (utility, start, end, consumption) {
        (Some(utility), Some(period_start), Some(period_end), Some(consumption))
            if problems.is_empty() =>
        {
            Ok(Row {
                line,
                customer_ref: customer_ref.to_string(),
                meter_id: meter_id.to_string(),
                utility,
                zone: zone.to_string(),
                period_start,
                period_end,
                consumption,
                unit: unit.to_string(),
            })
        }
        _ => Err(problems.join("; ")),
    }
}

/// A strict `YYYY-MM-DD` date that the alert store can hold (years 1678 to 2261: ns since
/// the epoch in an i64).
pub(super) fn parse_date(name: &str, s: &str) -> Result<Date, String> {
    let shape = s.len() == 10
        && s.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    if !shape {
        return Err(format!("{name}: {s:?} is not a date YYYY-MM-DD"));
    }
    let date: Date = s
        .parse()
        .map_err(|_| format!("{name}: {s:?} is not a calendar date"))?;
    parse_period(s).map_err(|m| format!("{name}: {m}"))?;
    Ok(date)
}

/// The factor from `unit` to its utility's base unit (m³, kWh).
pub(super) fn unit_factor(unit: &str) -> f64 {
    match unit {
        "L" => 0.001,
        "MWh" => 1000.0,
        _ => 1.0,
    }
}
