//! Modbus reply decoding: a profile (one of plc-profiles/, or one generated from the
//! input and validated by `Profile::parse`), its planned reads, and for each read a reply
//! from the input (any function code, any length) through `poll::read::decode_reply`, the
//! poller's own check-and-decode. A value that comes out must be what the point promises:
//! finite and inside `valid_min`..`valid_max`.

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use std::path::Path;
use tokio_modbus::prelude::Response;
use vigie::poll::{plan::plan, read::decode_reply};
use vigie::profile::{Profile, Value};

/// Every shipped profile, so the fuzzer starts from the real register maps.
const PROFILES: &[(&str, &str)] = &[
    (
        "abb-acq580",
        include_str!("../../plc-profiles/abb-acq580.toml"),
    ),
    (
        "carlo-gavazzi-em24",
        include_str!("../../plc-profiles/carlo-gavazzi-em24.toml"),
    ),
    (
        "danfoss-fc202",
        include_str!("../../plc-profiles/danfoss-fc202.toml"),
    ),
    (
        "eastron-sdm630",
        include_str!("../../plc-profiles/eastron-sdm630.toml"),
    ),
    (
        "keller-acculevel",
        include_str!("../../plc-profiles/keller-acculevel.toml"),
    ),
    (
        "keller-series30",
        include_str!("../../plc-profiles/keller-series30.toml"),
    ),
    (
        "moxa-iologik-e1214",
        include_str!("../../plc-profiles/moxa-iologik-e1214.toml"),
    ),
    (
        "schneider-compact-nsx",
        include_str!("../../plc-profiles/schneider-compact-nsx.toml"),
    ),
    (
        "siemens-mag8000",
        include_str!("../../plc-profiles/siemens-mag8000.toml"),
    ),
    (
        "siemens-pac2200",
        include_str!("../../plc-profiles/siemens-pac2200.toml"),
    ),
];

const REGISTERS: [&str; 4] = ["coil", "discrete", "holding", "input"];
const TYPES: [&str; 11] = [
    "u16", "i16", "u32", "i32", "u64", "i64", "f32", "f64", "bool", "bitfield", "string",
];
const ORDERS: [&str; 4] = ["ABCD", "CDAB", "BADC", "DCBA"];

#[derive(Debug, Arbitrary)]
struct PointSpec {
    register: u8,
    address: u16,
    data_type: u8,
    word_order: Option<u8>,
    bit: Option<u8>,
    bits: Option<u8>,
    length: Option<u16>,
    scale: Option<f64>,
    offset: Option<f64>,
    nan: Vec<u32>,
    valid_min: Option<f64>,
    valid_max: Option<f64>,
}

#[derive(Debug, Arbitrary)]
enum Source {
    Shipped(u8),
    Generated {
        base: u8,
        max_gap: u8,
        points: Vec<PointSpec>,
    },
}

#[derive(Debug, Arbitrary)]
struct Reply {
    /// 0-3: the table's own function; other: another function's reply.
    kind: u8,
    /// Registers or bits sent: the request's count, plus or minus a few.
    extra: i8,
    words: Vec<u16>,
}

#[derive(Debug, Arbitrary)]
struct Input {
    source: Source,
    replies: Vec<Reply>,
}

fn pick<'a>(list: &[&'a str], i: u8) -> &'a str {
    list[usize::from(i) % list.len()]
}

/// A profile file as TOML text, through the toml crate so every value is well formed.
fn profile_text(base: u8, max_gap: u8, points: &[PointSpec]) -> Option<String> {
    let mut file = toml::Table::new();
    file.insert("manufacturer".into(), "fuzz".into());
    file.insert("model".into(), "fuzz".into());
    file.insert("source".into(), "fuzz".into());
    file.insert("address_base".into(), i64::from(base % 2).into());
    file.insert("max_gap".into(), i64::from(max_gap).into());
    let mut list = Vec::new();
    for (i, p) in points.iter().take(16).enumerate() {
        let mut t = toml::Table::new();
        t.insert("name".into(), format!("p{i}").into());
        t.insert("register".into(), pick(&REGISTERS, p.register).into());
        t.insert("address".into(), i64::from(p.address).into());
        t.insert("type".into(), pick(&TYPES, p.data_type).into());
        if let Some(o) = p.word_order {
            t.insert("word_order".into(), pick(&ORDERS, o).into());
        }
        let ints = [
            ("bit", p.bit.map(i64::from)),
            ("bits", p.bits.map(i64::from)),
        ];
        for (k, v) in ints
            .into_iter()
            .chain([("length", p.length.map(i64::from))])
        {
            if let Some(v) = v {
                t.insert(k.into(), v.into());
            }
        }
        let floats = [
            ("scale", p.scale),
            ("offset", p.offset),
            ("valid_min", p.valid_min),
            ("valid_max", p.valid_max),
        ];
        for (k, v) in floats {
            if let Some(v) = v {
                t.insert(k.into(), v.into());
            }
        }
        if !p.nan.is_empty() {
            let nan: Vec<toml::Value> = p.nan.iter().map(|&n| i64::from(n).into()).collect();
            t.insert("nan".into(), nan.into());
        }
        list.push(toml::Value::Table(t));
    }
    file.insert("points".into(), list.into());
    toml::to_string(&file).ok()
}

fn response(kind: u8, count: usize, words: &[u16]) -> Response {
    let mut w: Vec<u16> = words.iter().copied().cycle().take(count).collect();
    w.resize(count, 0);
    let bits = || w.iter().map(|x| x & 1 == 1).collect::<Vec<bool>>();
    match kind % 5 {
        0 => Response::ReadCoils(bits()),
        1 => Response::ReadDiscreteInputs(bits()),
        2 => Response::ReadHoldingRegisters(w),
        3 => Response::ReadInputRegisters(w),
        _ => Response::WriteSingleRegister(0, 0),
    }
}

fuzz_target!(|input: Input| {
    let profile = match &input.source {
        Source::Shipped(i) => {
            let (id, text) = PROFILES[usize::from(*i) % PROFILES.len()];
            Profile::parse(id, Path::new(id), text).expect("a shipped profile is valid")
        }
        Source::Generated {
            base,
            max_gap,
            points,
        } => {
            let Some(text) = profile_text(*base, *max_gap, points) else {
                return;
            };
            match Profile::parse("fuzz", Path::new("fuzz.toml"), &text) {
                Ok(p) => p,
                Err(_) => return,
            }
        }
    };
    let requests = plan(&profile);
    for (r, reply) in requests.iter().zip(input.replies.iter().cycle()) {
        let count = (i32::from(r.count) + i32::from(reply.extra)).clamp(0, 2100) as usize;
        let Some(values) = decode_reply(&profile, r, response(reply.kind, count, &reply.words))
        else {
            continue;
        };
        assert_eq!(values.len(), r.points.len());
        for (i, v) in values {
            let p = &profile.points[i];
            if let Ok(Value::F64(x)) = v {
                assert!(x.is_finite(), "{}: {x}", p.name);
                assert!(p.valid_min.is_none_or(|lo| x >= lo), "{}: {x}", p.name);
                assert!(p.valid_max.is_none_or(|hi| x <= hi), "{}: {x}", p.name);
            }
        }
    }
});
