//! The encoder's output: parsed back by influxdata's parser, and pinned byte for byte.

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

/// A line's arguments, owned by the caller: measurement, tags, fields, time.
type Args<'a> = (
    &'a str,
    &'a [(&'a str, &'a str)],
    &'a [(&'a str, Field<'a>)],
    i64,
);

/// Every pinned line written by `encode` into one buffer.
fn pinned_lines(encode: impl Fn(&mut Vec<u8>, Args<'_>)) -> String {
    let mut out = Vec::new();
    encode(
        &mut out,
        (
            "telemetry",
            &[
                ("site", "PS-01"),
                ("device", "EM-001"),
                ("kind", "pumping_station"),
            ],
            &[
                ("voltage_l1_v", Field::F64(230.4)),
                ("current_l1_a", Field::F64(12.37)),
                ("active_power_w", Field::F64(-1500.0)),
                ("import_kwh", Field::F64(123456.7)),
                ("power_factor", Field::F64(0.93)),
                ("status_word", Field::I64(5)),
                ("running", Field::Bool(true)),
                ("tripped", Field::Bool(false)),
            ],
            1_764_547_200_000_000_000,
        ),
    );
    encode(
        &mut out,
        (
            "my meas,x=y",
            &[
                ("a b", "c,d=e\\f"),
                ("path", "C:\\"),
                ("nl", "x\ny"),
                ("débit", "µ m³/h"),
                ("empty", ""),
            ],
            &[
                ("k=1 2,3", Field::Str("say \"hi\" \\ bye\r\n")),
                ("", Field::I64(1)),
                ("nan", Field::F64(f64::NAN)),
                ("min", Field::I64(i64::MIN)),
                ("max", Field::I64(i64::MAX)),
                ("zero", Field::F64(0.0)),
                ("neg_zero", Field::F64(-0.0)),
            ],
            -1,
        ),
    );
    encode(
        &mut out,
        (
            "floats",
            &[],
            &[
                ("a", Field::F64(1e21)),
                ("b", Field::F64(1e-7)),
                ("c", Field::F64(0.1 + 0.2)),
                ("d", Field::F64(1.2345678901234567e16)),
                ("e", Field::F64(9_007_199_254_740_993.0)),
                ("f", Field::F64(0.000012)),
                ("g", Field::F64(-3.4028234663852886e38)),
                ("h", Field::F64(f64::from(0.93f32))),
                ("i", Field::F64(100.0)),
            ],
            0,
        ),
    );
    // No field left: no line.
    encode(
        &mut out,
        (
            "nothing",
            &[("site", "PS-01")],
            &[("v", Field::F64(f64::INFINITY))],
            1,
        ),
    );
    String::from_utf8(out).unwrap()
}

/// The exact bytes of a few lines, as influxdata's `LineProtocolBuilder` (the encoder vigie
/// used before writing its own) writes them, and as vigie writes them.
#[test]
fn output_is_pinned_byte_for_byte() {
    let want = concat!(
        "telemetry,site=PS-01,device=EM-001,kind=pumping_station voltage_l1_v=230.4,current_l1_a=12.37,active_power_w=-1500,import_kwh=123456.7,power_factor=0.93,status_word=5i,running=true,tripped=false 1764547200000000000\n",
        r#"my\ meas\,x=y,a\ b=c\,d\=e\\f,path=C:\\_,nl=x\ y,débit=µ\ m³/h k\=1\ 2\,3="say \"hi\" \\ bye  ",min=-9223372036854775808i,max=9223372036854775807i,zero=0,neg_zero=-0 -1"#,
        "\n",
        "floats a=1000000000000000000000,b=0.0000001,c=0.30000000000000004,d=12345678901234568,e=9007199254740992,f=0.000012,g=-340282346638528860000000000000000000000,h=0.9300000071525574,i=100 0\n",
    );
    let reference = pinned_lines(|out, (m, t, f, ts)| builder_line(out, m, t, f, ts));
    assert_eq!(reference, want, "influxdata's builder");
    let ours = pinned_lines(|out, (m, t, f, ts)| {
        encode_line(out, m, t, f, ts);
    });
    assert_eq!(ours, want, "vigie's encoder");
}

/// The encoder vigie used before writing its own, on influxdata's `LineProtocolBuilder`:
/// the reference the output is compared with.
fn builder_line(
    out: &mut Vec<u8>,
    measurement: &str,
    tags: &[(&str, &str)],
    fields: &[(&str, Field<'_>)],
    time_ns: i64,
) {
    use influxdb_line_protocol::builder::LineProtocolBuilder;
    let kept: Vec<(Cow<'_, str>, Field<'_>)> = fields
        .iter()
        .filter(|(k, v)| !k.is_empty() && !matches!(v, Field::F64(x) if !x.is_finite()))
        .map(|(k, v)| (clean_name(k), *v))
        .collect();
    let measurement = clean_name(measurement);
    if kept.is_empty() || measurement.is_empty() {
        return;
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
        return;
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
}

/// A float drawn from every range the formatter treats differently: any bit pattern
/// (subnormals, huge, tiny), typical readings, and whole numbers.
fn any_float() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<u64>().prop_map(f64::from_bits),
        any::<f64>(),
        (-1e7f64..1e7).prop_map(|x| (x * 1000.0).round() / 1000.0),
        any::<f32>().prop_map(crate::profile::decode::f32_as_decimal),
        any::<i64>().prop_map(|i| i as f64),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]
    #[test]
    fn the_same_bytes_as_influxdatas_builder(
        measurement in "[a-z ,=\\\\\"\n]{0,6}",
        tags in prop::collection::vec((any::<String>(), "[a-zé ,=\\\\\"\t]{0,8}"), 0..4),
        fields in prop::collection::vec(("[a-z ,=\\\\]{0,6}", 0u8..4, any_float(), any::<i64>(), any::<String>()), 0..5),
        time_ns in any::<i64>(),
    ) {
        let tags: Vec<(&str, &str)> = tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let fields: Vec<(&str, Field<'_>)> = fields
            .iter()
            .map(|(k, kind, x, i, s)| {
                let f = match kind {
                    0 => Field::F64(*x),
                    1 => Field::I64(*i),
                    2 => Field::Bool(i.rem_euclid(2) == 0),
                    _ => Field::Str(s),
                };
                (k.as_str(), f)
            })
            .collect();
        let (mut ours, mut reference) = (b"previous line\n".to_vec(), b"previous line\n".to_vec());
        encode_line(&mut ours, &measurement, &tags, &fields, time_ns);
        builder_line(&mut reference, &measurement, &tags, &fields, time_ns);
        prop_assert_eq!(String::from_utf8_lossy(&ours), String::from_utf8_lossy(&reference));
    }

    #[test]
    fn a_float_is_written_as_rust_prints_it(x in any_float()) {
        prop_assume!(x.is_finite());
        let mut out = Vec::new();
        push_f64(&mut out, x);
        prop_assert_eq!(String::from_utf8_lossy(&out), format!("{x}"));
    }
}

/// Every f32 reading a device can send in a typical range, widened as decoding widens it,
/// formats as `{}` does (the values vigie writes most).
#[test]
fn decoded_f32_readings_are_written_as_rust_prints_them() {
    let mut out = Vec::new();
    let mut bits = 0.001f32.to_bits();
    let mut checked = 0;
    while f32::from_bits(bits) < 1e7 {
        let x = crate::profile::decode::f32_as_decimal(f32::from_bits(bits));
        out.clear();
        push_f64(&mut out, x);
        assert_eq!(String::from_utf8_lossy(&out), format!("{x}"));
        // About 2,000 readings per power of two.
        bits += 4099;
        checked += 1;
    }
    assert!(checked > 50_000, "{checked}");
}

/// Floats exactly halfway between two shortest decimals, where `ryu` and `{}` round apart.
#[test]
fn halfway_floats_are_written_as_rust_prints_them() {
    // -160878572934489.625 (written as a sum: exact, and no "excessive precision").
    for x in [
        -(160_878_572_934_489.0 + 0.625),
        0.125 + 1e15,
        2.5,
        1.0 / 1024.0,
    ] {
        let mut out = Vec::new();
        push_f64(&mut out, x);
        assert_eq!(String::from_utf8_lossy(&out), format!("{x}"));
    }
    assert_eq!(fractional_bits(0.75), 2);
    assert_eq!(fractional_bits(3.0), 0);
    assert_eq!(fractional_bits(f64::from_bits(1)), 1074);
}
