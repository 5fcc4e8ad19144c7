//! InfluxDB line protocol, built with influxdata's `influxdb-line-protocol` builder.
//!
//! The builder escapes `,` `=` space and `\` (and `"` in strings) but, like every encoder,
//! cannot make some inputs valid: a newline would split the line (and forge a point), a
//! name or tag ending in `\` is refused by the parsers (influxdata/influxdb#5407), an empty
//! tag value is invalid, NaN and ±inf are not numbers in line protocol
//! (docs.influxdata.com, "Line protocol" → "Special characters", "Data types and format").
//! So before the builder: control characters become spaces (keys and tags) or spaces
//! (strings), a trailing `\` gets `_` after it, empty tags are left out, non-finite floats
//! are dropped and counted. A property test parses every produced line back.

use influxdb_line_protocol::builder::LineProtocolBuilder;
use std::borrow::Cow;

/// A field value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Field<'a> {
    F64(f64),
    I64(i64),
    Bool(bool),
    Str(&'a str),
}

/// What [`encode_line`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Encoded {
    /// 1 when a line was written, 0 when no field was left.
    pub lines: usize,
    /// Non-finite floats left out.
    pub dropped_non_finite: usize,
}

/// Makes a measurement, tag key/value or field key safe for the builder.
pub fn clean_name(s: &str) -> Cow<'_, str> {
    if !s.chars().any(char::is_control) && !s.ends_with('\\') {
        return Cow::Borrowed(s);
    }
    let mut o: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if o.ends_with('\\') {
        o.push('_');
    }
    Cow::Owned(o)
}

/// Makes a string field value safe (no line breaks; other characters are escaped).
pub fn clean_text(s: &str) -> Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect(),
    )
}

/// Appends one line (ending in `\n`) to `out`: `measurement,tags fields timestamp`.
/// Tags with an empty key or value, fields with an empty key and non-finite floats are left
/// out; with no field left nothing is written.
pub fn encode_line(
    out: &mut Vec<u8>,
    measurement: &str,
    tags: &[(&str, &str)],
    fields: &[(&str, Field<'_>)],
    time_ns: i64,
) -> Encoded {
    let mut enc = Encoded::default();
    let mut kept: Vec<(Cow<'_, str>, Field<'_>)> = Vec::with_capacity(fields.len());
    for (k, v) in fields {
        if k.is_empty() {
            continue;
        }
        if let Field::F64(x) = v
            && !x.is_finite()
        {
            enc.dropped_non_finite += 1;
            continue;
        }
        kept.push((clean_name(k), *v));
    }
    let measurement = clean_name(measurement);
    if kept.is_empty() || measurement.is_empty() {
        return enc;
    }
    let mut b = LineProtocolBuilder::new_with(&mut *out).measurement(&measurement);
    for (k, v) in tags {
        let (k, v) = (clean_name(k), clean_name(v));
        if !k.is_empty() && !v.is_empty() {
            b = b.tag(&k, &v);
        }
    }
    let mut rest = kept.iter();
    let Some((k0, v0)) = rest.next() else {
        return enc;
    };
    let mut b = match v0 {
        Field::F64(x) => b.field(k0, *x),
        Field::I64(x) => b.field(k0, *x),
        Field::Bool(x) => b.field(k0, *x),
        Field::Str(x) => b.field(k0, clean_text(x).as_ref()),
    };
    for (k, v) in rest {
        b = match v {
            Field::F64(x) => b.field(k, *x),
            Field::I64(x) => b.field(k, *x),
            Field::Bool(x) => b.field(k, *x),
            Field::Str(x) => b.field(k, clean_text(x).as_ref()),
        };
    }
    b.timestamp(time_ns).close_line();
    enc.lines = 1;
    enc
}

#[cfg(test)]
mod tests;
