//! InfluxDB line protocol, written straight into the batch buffer.
//!
//! Escaping follows the reference (docs.influxdata.com, "Line protocol" → "Special
//! characters"): `,` and space in measurements, `,` `=` and space in tag keys, tag values and
//! field keys, `"` in string values, and `\` everywhere. The output is byte for byte what
//! influxdata's `influxdb-line-protocol` builder writes (a test compares both on random
//! input), without its per-character `core::fmt` calls: floats go through `ryu` (shortest
//! round-trip decimal, printed as Rust's `{}` prints it), integers through `itoa`.
//!
//! Escaping cannot make some inputs valid: a newline would split the line (and forge a
//! point), a name or tag ending in `\` is refused by the parsers (influxdata/influxdb#5407),
//! an empty tag value is invalid, NaN and ±inf are not numbers in line protocol ("Data
//! types and format"). So: control characters become spaces (keys, tags and strings), a
//! trailing `\` gets `_` after it, empty tags are left out, non-finite floats are dropped and
//! counted. A property test parses every produced line back.

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
    let kept = |(k, v): &&(&str, Field<'_>)| {
        !k.is_empty() && !matches!(v, Field::F64(x) if !x.is_finite())
    };
    let mut enc = Encoded {
        lines: 0,
        dropped_non_finite: fields
            .iter()
            .filter(|(_, v)| matches!(v, Field::F64(x) if !x.is_finite()))
            .count(),
    };
    let measurement = clean_name(measurement);
    if measurement.is_empty() || !fields.iter().any(|f| kept(&f)) {
        return enc;
    }
    push_escaped(out, &measurement, b", ");
    for (k, v) in tags {
        let (k, v) = (clean_name(k), clean_name(v));
        if !k.is_empty() && !v.is_empty() {
            out.push(b',');
            push_escaped(out, &k, b",= ");
            out.push(b'=');
            push_escaped(out, &v, b",= ");
        }
    }
    let mut sep = b' ';
    for (k, v) in fields.iter().filter(kept) {
        out.push(sep);
        sep = b',';
        push_escaped(out, &clean_name(k), b",= ");
        out.push(b'=');
        match v {
            Field::F64(x) => push_f64(out, *x),
            Field::I64(x) => {
                out.extend_from_slice(itoa::Buffer::new().format(*x).as_bytes());
                out.push(b'i');
            }
            Field::Bool(true) => out.extend_from_slice(b"true"),
            Field::Bool(false) => out.extend_from_slice(b"false"),
            Field::Str(x) => {
                out.push(b'"');
                push_escaped(out, &clean_text(x), b"\"");
                out.push(b'"');
            }
        }
    }
    out.push(b' ');
    out.extend_from_slice(itoa::Buffer::new().format(time_ns).as_bytes());
    out.push(b'\n');
    enc.lines = 1;
    enc
}

/// Appends `s` with a `\` before each byte of `special` and before each `\`. The special
/// characters are ASCII, which never occurs inside a multi-byte UTF-8 sequence.
fn push_escaped(out: &mut Vec<u8>, s: &str, special: &[u8]) {
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'\\' || special.contains(b) {
            out.extend_from_slice(&bytes[start..i]);
            out.push(b'\\');
            start = i;
        }
    }
    out.extend_from_slice(&bytes[start..]);
}

/// Appends a finite float as Rust's `{}` prints it (the shortest decimal that parses back to
/// the same f64, never with an exponent, no `.0` on whole numbers): `ryu`'s digits when it
/// prints them without an exponent (1e-5 <= |x| < 1e16) and `x` is not halfway between two
/// such decimals; `{}` itself otherwise.
fn push_f64(out: &mut Vec<u8>, x: f64) {
    let mut buf = ryu::Buffer::new();
    let s = buf.format_finite(x);
    let s = s.strip_suffix(".0").unwrap_or(s);
    if s.contains('e') || halfway(x, s) {
        use std::io::Write as _;
        // Writing to a Vec cannot fail.
        let _ = write!(out, "{x}");
    } else {
        out.extend_from_slice(s.as_bytes());
    }
}

/// True when `x` is exactly halfway between two decimals of the precision of `s` (its
/// shortest form): `ryu` then rounds to even and `{}` rounds up (-160878572934489.625 is
/// `…489.62` for one and `…489.63` for the other). That is when `x`'s exact decimal value
/// has one digit (a 5) more after the point than `s`, i.e. as many binary digits after the
/// point, since 2^-k has exactly k decimal digits.
fn halfway(x: f64, s: &str) -> bool {
    let decimals = s.find('.').map_or(0, |dot| s.len() - dot - 1);
    fractional_bits(x) == decimals as u32 + 1
}

/// The number of binary digits after the point in `x`'s exact value (0 for integers).
fn fractional_bits(x: f64) -> u32 {
    let bits = x.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let fraction = bits & ((1 << 52) - 1);
    // x = mantissa × 2^exponent (IEEE 754 binary64: bias 1023, 52 fraction bits).
    let (mantissa, exponent) = if biased == 0 {
        (fraction, -1074)
    } else {
        (fraction | 1 << 52, biased - 1075)
    };
    if mantissa == 0 {
        return 0;
    }
    let lowest = exponent + mantissa.trailing_zeros() as i32;
    (-lowest).max(0) as u32
}

#[cfg(test)]
mod tests;
