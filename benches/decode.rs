//! Register decoding (`vigie::profile::decode`): values/s per data type and word order.
//!
//! Each iteration decodes a batch of [`BATCH`] different values of one point type, encoded
//! beforehand the way a device serves them; the counter is values. Integer types carry a
//! 0.1 scale (the common case in the profiles), floats none. Single-register types have
//! two distinct orders only (ABCD = CDAB, BADC = DCBA), so they are measured in those two.
//!
//! Run: `cargo bench --bench decode`.

use divan::Bencher;
use divan::counter::ItemsCount;
use std::fmt;
use vigie::profile::decode::{decode_registers, encode_registers, encode_text, f32_as_decimal};
use vigie::profile::{DataType, Point, RegisterKind, WordOrder};

fn main() {
    divan::main();
}

/// Values decoded per iteration.
const BATCH: usize = 1024;

/// One benchmarked point shape: a data type in a word order.
#[derive(Clone, Copy)]
struct Case {
    data_type: DataType,
    word_order: WordOrder,
}

impl fmt::Display for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = format!("{:?}", self.data_type).to_lowercase();
        write!(f, "{t}/{}", self.word_order.as_str())
    }
}

/// Every data type of DESIGN.md "Profiles" in the word orders that differ for it.
fn cases() -> Vec<Case> {
    use DataType::*;
    let mut out = Vec::new();
    for t in [
        U16, I16, Bool, U32, I32, F32, U64, I64, F64, Bitfield, String,
    ] {
        let orders: &[WordOrder] = if t.fixed_registers() == Some(1) {
            &[WordOrder::ABCD, WordOrder::BADC]
        } else {
            &WordOrder::ALL
        };
        for &o in orders {
            out.push(Case {
                data_type: t,
                word_order: o,
            });
        }
    }
    out
}

/// The point for a case: bitfields span 2 registers (a 32-bit status word, bits 4..12),
/// strings 8 (16 characters, a serial number).
fn point(c: Case) -> Point {
    let count = match c.data_type {
        DataType::Bitfield => 2,
        DataType::String => 8,
        t => t.fixed_registers().unwrap_or(1),
    };
    let integer = !matches!(
        c.data_type,
        DataType::F32 | DataType::F64 | DataType::Bool | DataType::Bitfield | DataType::String
    );
    Point {
        name: "value".into(),
        register: RegisterKind::Holding,
        printed_address: "0".into(),
        pdu_address: 0,
        count,
        data_type: c.data_type,
        word_order: c.word_order,
        bit: match c.data_type {
            DataType::Bool => Some(3),
            DataType::Bitfield => Some(4),
            _ => None,
        },
        bits: (c.data_type == DataType::Bitfield).then_some(8),
        scale: if integer { 0.1 } else { 1.0 },
        offset: 0.0,
        unit: String::new(),
        nan: Vec::new(),
        valid_min: None,
        valid_max: None,
        description: String::new(),
    }
}

/// [`BATCH`] register images of plausible values for the point, as a device serves them.
fn words(p: &Point) -> Vec<Vec<u16>> {
    (0..BATCH)
        .map(|i| match p.data_type {
            DataType::String => encode_text(p, &format!("SN-2026-{i:06}")),
            DataType::Bool => vec![(i as u16) << 1],
            DataType::Bitfield => vec![(i as u16) << 3, 0x8001],
            DataType::I16 | DataType::I32 | DataType::I64 => {
                let v = (i as f64 - 512.0) * 1.3;
                encode_registers(p, (v * 10.0).round() / 10.0).unwrap_or_default()
            }
            _ => {
                let v = 180.0 + i as f64 * 0.37;
                encode_registers(p, (v * 10.0).round() / 10.0).unwrap_or_default()
            }
        })
        .collect()
}

#[divan::bench(args = cases())]
fn decode(bencher: Bencher, case: Case) {
    let p = point(case);
    let batch = words(&p);
    assert!(
        batch.iter().all(|w| decode_registers(&p, w).is_ok()),
        "{case}: every prepared value decodes"
    );
    bencher.counter(ItemsCount::new(BATCH)).bench_local(|| {
        for w in &batch {
            let _ = divan::black_box(decode_registers(&p, divan::black_box(w)));
        }
    });
}

/// The float32 → shortest-decimal f64 step alone (part of every `f32` decode).
#[divan::bench]
fn f32_shortest_decimal(bencher: Bencher) {
    let xs: Vec<f32> = (0..BATCH).map(|i| 180.0 + i as f32 * 0.37).collect();
    bencher.counter(ItemsCount::new(BATCH)).bench_local(|| {
        for &x in &xs {
            divan::black_box(f32_as_decimal(divan::black_box(x)));
        }
    });
}

/// Widening alone (`f64::from`), the floor `f32_as_decimal` is compared with.
#[divan::bench]
fn f32_widen_only(bencher: Bencher) {
    let xs: Vec<f32> = (0..BATCH).map(|i| 180.0 + i as f32 * 0.37).collect();
    bencher.counter(ItemsCount::new(BATCH)).bench_local(|| {
        for &x in &xs {
            divan::black_box(f64::from(divan::black_box(x)));
        }
    });
}
