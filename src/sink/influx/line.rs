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
mod tests {
    use super::*;
    use influxdb_line_protocol::{FieldValue, parse_lines};
    use proptest::prelude::*;

    fn one(tags: &[(&str, &str)], fields: &[(&str, Field<'_>)]) -> String {
        let mut out = Vec::new();
        encode_line(
            &mut out,
            "telemetry",
            tags,
            fields,
            1_700_000_000_000_000_000,
        );
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn the_hostile_inputs_of_crates_md_stay_one_valid_line() {
        let line = one(
            &[
                ("site", "x v=1\nevil"),
                ("path", "C:\\"),
                ("z", "1"),
                ("empty", ""),
            ],
            &[
                ("msg", Field::Str("C:\\dir\\")),
                ("v", Field::F64(f64::NAN)),
                ("w", Field::F64(1.5)),
            ],
        );
        let parsed: Vec<_> = parse_lines(&line).collect();
        assert_eq!(parsed.len(), 1, "{line}");
        let p = parsed[0].as_ref().unwrap();
        assert_eq!(p.tag_value("z").map(|v| v.to_string()), Some("1".into()));
        assert!(p.tag_value("empty").is_none());
        assert_eq!(
            p.tag_value("site").map(|v| v.to_string()),
            Some("x v=1 evil".into())
        );
        assert!(p.field_value("v").is_none());
        assert_eq!(
            p.field_value("msg"),
            Some(&FieldValue::String("C:\\dir\\".into()))
        );
    }

    #[test]
    fn no_field_no_line() {
        assert_eq!(one(&[("a", "b")], &[("v", Field::F64(f64::INFINITY))]), "");
    }

    proptest! {
        #[test]
        fn every_line_parses_back_to_what_was_given(
            tag in any::<String>(),
            tag2 in "[a-z\\\\ ,=\"]{0,8}",
            text in any::<String>(),
            key in "k[a-zA-Z_ ,=\\\\]{0,12}",
            x in any::<f64>(),
            i in any::<i64>(),
            b in any::<bool>(),
        ) {
            let mut out = Vec::new();
            let e = encode_line(
                &mut out,
                "telemetry",
                &[("site", &tag), ("device", &tag2)],
                &[(&key, Field::F64(x)), ("n", Field::I64(i)), ("on", Field::Bool(b)), ("msg", Field::Str(&text))],
                42,
            );
            prop_assert_eq!(e.lines, 1);
            let s = String::from_utf8(out).unwrap();
            let lines: Vec<_> = parse_lines(&s).collect();
            prop_assert_eq!(lines.len(), 1, "{}", s);
            let p = lines[0].as_ref().map_err(|e| TestCaseError::fail(format!("{e}: {s}")))?;
            prop_assert_eq!(p.series.measurement.to_string(), "telemetry");
            let want_site = clean_name(&tag).to_string();
            prop_assert_eq!(p.tag_value("site").map(|v| v.to_string()), (!want_site.is_empty()).then_some(want_site));
            let want_dev = clean_name(&tag2).to_string();
            prop_assert_eq!(p.tag_value("device").map(|v| v.to_string()), (!want_dev.is_empty()).then_some(want_dev));
            prop_assert_eq!(p.field_value("n"), Some(&FieldValue::I64(i)));
            prop_assert_eq!(p.field_value("on"), Some(&FieldValue::Boolean(b)));
            let want_text = clean_text(&text).to_string();
            prop_assert_eq!(p.field_value("msg"), Some(&FieldValue::String(want_text.as_str().into())));
            let k = clean_name(&key).to_string();
            // The key starts with `k`, so it never collides with the fixed fields.
            if x.is_finite() {
                prop_assert_eq!(p.field_value(&k), Some(&FieldValue::F64(x)));
            }
            prop_assert_eq!(p.timestamp, Some(42));
        }
    }
}
