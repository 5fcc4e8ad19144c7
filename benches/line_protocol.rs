//! Line protocol encoding (`vigie::sink::influx::line::encode_line`): points/s on one core.
//!
//! The input is the demo's network (`src/demo/vigie.toml` with its profiles): one
//! `telemetry` line per device poll with the `site`, `device` and `kind` tags and one field
//! per point, as the InfluxDB sink writes it (DESIGN.md "InfluxDB schema"). A point is one
//! field (one device value); the counters are points and bytes. Values are what decoding
//! yields: float32 readings as their shortest decimal, scaled integers, a few bools and
//! bitfields; timestamps are whole seconds in ns.
//!
//! Run: `cargo bench --bench line_protocol`.

use divan::Bencher;
use divan::counter::{BytesCount, ItemsCount};
use vigie::profile::DataType;
use vigie::profile::decode::f32_as_decimal;
use vigie::sink::influx::line::{Field, encode_line};

mod common;

fn main() {
    divan::main();
}

/// One device poll's line: tags and fields as owned strings.
struct Line {
    tags: [(&'static str, String); 3],
    fields: Vec<(String, Value)>,
}

/// A field value before borrowing (`Field` borrows its text).
enum Value {
    F64(f64),
    I64(i64),
    Bool(bool),
}

/// The demo's devices, each with a plausible value per point (poll `n` shifts the values).
fn demo_lines(n: usize) -> Vec<Line> {
    let (_, catalog) = common::demo_network();
    catalog
        .devices
        .iter()
        .map(|d| {
            let site = &catalog.sites[d.site];
            let fields = d
                .profile
                .points
                .iter()
                .enumerate()
                .filter(|(_, p)| p.data_type != DataType::String)
                .map(|(i, p)| {
                    let x = 100.0 + (i * 37 + n * 11) as f64 * 0.173;
                    let v = match p.data_type {
                        DataType::Bool => Value::Bool((i + n).is_multiple_of(3)),
                        DataType::Bitfield => Value::I64(((i + n) % 64) as i64),
                        DataType::F32 => Value::F64(f32_as_decimal(x as f32)),
                        DataType::F64 => Value::F64(x),
                        _ => Value::F64((x * 10.0).round() / 10.0),
                    };
                    (p.name.clone(), v)
                })
                .collect();
            Line {
                tags: [
                    ("site", site.id.clone()),
                    ("device", d.id.clone()),
                    ("kind", site.kind.as_str().to_string()),
                ],
                fields,
            }
        })
        .collect()
}

/// Encodes every line once into `out`, as the sink does (borrowed tags and fields).
fn encode_all(out: &mut Vec<u8>, lines: &[Line], time_ns: i64) {
    for l in lines {
        let tags = [
            (l.tags[0].0, l.tags[0].1.as_str()),
            (l.tags[1].0, l.tags[1].1.as_str()),
            (l.tags[2].0, l.tags[2].1.as_str()),
        ];
        let fields: Vec<(&str, Field<'_>)> = l
            .fields
            .iter()
            .map(|(k, v)| {
                let f = match v {
                    Value::F64(x) => Field::F64(*x),
                    Value::I64(x) => Field::I64(*x),
                    Value::Bool(x) => Field::Bool(*x),
                };
                (k.as_str(), f)
            })
            .collect();
        encode_line(out, "telemetry", &tags, &fields, time_ns);
    }
}

/// Every demo device's telemetry line, once per iteration.
#[divan::bench]
fn telemetry_demo(bencher: Bencher) {
    let lines = demo_lines(1);
    let points: usize = lines.iter().map(|l| l.fields.len()).sum();
    let mut out = Vec::with_capacity(1 << 16);
    encode_all(&mut out, &lines, 1_764_547_200_000_000_000);
    let bytes = out.len();
    eprintln!(
        "line_protocol: {} lines, {points} points, {bytes} bytes per iteration",
        lines.len()
    );
    bencher
        .counter(ItemsCount::new(points))
        .counter(BytesCount::new(bytes))
        .bench_local(|| {
            out.clear();
            encode_all(
                &mut out,
                divan::black_box(&lines),
                1_764_547_200_000_000_000,
            );
            divan::black_box(&out);
        });
}

/// One-field lines (`device_status`-like short lines): the per-line overhead.
#[divan::bench]
fn one_field_lines(bencher: Bencher) {
    let lines = demo_lines(2);
    let mut out = Vec::with_capacity(1 << 16);
    bencher
        .counter(ItemsCount::new(lines.len()))
        .bench_local(|| {
            out.clear();
            for l in &lines {
                let tags = [
                    (l.tags[0].0, l.tags[0].1.as_str()),
                    (l.tags[1].0, l.tags[1].1.as_str()),
                ];
                encode_line(
                    &mut out,
                    "device_status",
                    &tags,
                    &[("latency_ms", Field::F64(1.37))],
                    1_764_547_200_000_000_000,
                );
            }
            divan::black_box(&out);
        });
}

/// Float formatting alone: `{}` of the same f64 values the telemetry lines carry.
#[divan::bench]
fn float_display_only(bencher: Bencher) {
    use std::io::Write as _;
    let xs: Vec<f64> = demo_lines(1)
        .iter()
        .flat_map(|l| &l.fields)
        .filter_map(|(_, v)| match v {
            Value::F64(x) => Some(*x),
            _ => None,
        })
        .collect();
    let mut out = Vec::with_capacity(1 << 14);
    bencher.counter(ItemsCount::new(xs.len())).bench_local(|| {
        out.clear();
        for x in &xs {
            let _ = write!(out, "{x}");
        }
        divan::black_box(&out);
    });
}
