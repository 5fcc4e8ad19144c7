use super::*;
use crate::profile::{Point, RegisterKind};
use proptest::prelude::*;

fn point(data_type: DataType, order: WordOrder) -> Point {
    Point {
        name: "p".into(),
        register: RegisterKind::Holding,
        printed_address: "0".into(),
        pdu_address: 0,
        count: data_type.fixed_registers().unwrap_or(1),
        data_type,
        word_order: order,
        bit: None,
        bits: None,
        scale: 1.0,
        offset: 0.0,
        unit: String::new(),
        nan: vec![],
        valid_min: None,
        valid_max: None,
        description: String::new(),
    }
}

fn f(v: Result<Value, DecodeError>) -> f64 {
    match v {
        Ok(Value::F64(x)) => x,
        other => panic!("expected a number, got {other:?}"),
    }
}

#[test]
fn f32_in_each_word_order() {
    // 230.5 V as IEEE-754 float32 is 0x43668000: A=0x43 B=0x66 C=0x80 D=0x00.
    let cases = [
        (WordOrder::ABCD, [0x4366, 0x8000]),
        (WordOrder::CDAB, [0x8000, 0x4366]),
        (WordOrder::BADC, [0x6643, 0x0080]),
        (WordOrder::DCBA, [0x0080, 0x6643]),
    ];
    for (order, words) in cases {
        assert_eq!(
            f(decode_registers(&point(DataType::F32, order), &words)),
            230.5,
            "{order:?}"
        );
    }
}

#[test]
fn f32_reads_as_its_shortest_decimal() {
    let p = point(DataType::F32, WordOrder::ABCD);
    let w = disassemble(u64::from(0.93f32.to_bits()), 2, WordOrder::ABCD);
    assert_eq!(f(decode_registers(&p, &w)), 0.93);
    assert_eq!(
        f32_as_decimal(f32::MIN_POSITIVE / 8.0) as f32,
        f32::MIN_POSITIVE / 8.0
    );
    assert_eq!(f32_as_decimal(f32::MAX), 3.4028235e38);
    // The one f32 whose shortest decimal rounds back to its neighbour (found by an
    // exhaustive check): it keeps its own bits.
    let tie = f32::from_bits(0x15ae_43fd);
    assert_eq!(f32_as_decimal(tie) as f32, tie);
}

#[test]
fn integers_signed_and_unsigned() {
    assert_eq!(
        f(decode_registers(
            &point(DataType::U16, WordOrder::ABCD),
            &[0xFFFE]
        )),
        65534.0
    );
    assert_eq!(
        f(decode_registers(
            &point(DataType::I16, WordOrder::ABCD),
            &[0xFFFE]
        )),
        -2.0
    );
    assert_eq!(
        f(decode_registers(
            &point(DataType::I16, WordOrder::BADC),
            &[0xFEFF]
        )),
        -2.0
    );
    let u32p = point(DataType::U32, WordOrder::CDAB);
    assert_eq!(f(decode_registers(&u32p, &[0x0002, 0x0001])), 65538.0);
    let i32p = point(DataType::I32, WordOrder::ABCD);
    assert_eq!(f(decode_registers(&i32p, &[0xFFFF, 0xFFFF])), -1.0);
    let u64p = point(DataType::U64, WordOrder::ABCD);
    assert_eq!(f(decode_registers(&u64p, &[0, 0, 0x0001, 0x0000])), 65536.0);
    let i64p = point(DataType::I64, WordOrder::DCBA);
    assert_eq!(
        f(decode_registers(&i64p, &[0xFEFF, 0xFFFF, 0xFFFF, 0xFFFF])),
        -2.0
    );
    let f64p = point(DataType::F64, WordOrder::ABCD);
    let w = disassemble(1234.5f64.to_bits(), 4, WordOrder::ABCD);
    assert_eq!(f(decode_registers(&f64p, &w)), 1234.5);
}

#[test]
fn scale_offset_and_range() {
    let mut p = point(DataType::U16, WordOrder::ABCD);
    p.scale = 0.001;
    p.offset = -1.0; // Grundfos CIM inlet pressure: raw 0.001 bar, offset -1 bar
    assert!((f(decode_registers(&p, &[2500])) - 1.5).abs() < 1e-12);
    p.valid_max = Some(1.0);
    assert_eq!(
        decode_registers(&p, &[2500]),
        Err(DecodeError::OutOfRange(1.5))
    );
}

#[test]
fn sentinels_and_non_finite_are_errors() {
    let mut p = point(DataType::I16, WordOrder::ABCD);
    p.nan = vec![0x8000];
    assert_eq!(
        decode_registers(&p, &[0x8000]),
        Err(DecodeError::NoValue(0x8000))
    );
    let nan = (f32::NAN.to_bits() >> 16) as u16;
    let fp = point(DataType::F32, WordOrder::ABCD);
    assert_eq!(
        decode_registers(&fp, &[nan, 0x0001]),
        Err(DecodeError::NotFinite)
    );
    assert_eq!(
        decode_registers(&fp, &[0x7F80, 0]),
        Err(DecodeError::NotFinite)
    ); // +inf
    assert_eq!(
        decode_registers(&fp, &[0x4366]),
        Err(DecodeError::Short { need: 2, got: 1 })
    );
}

#[test]
fn bits_bitfields_and_strings() {
    let mut b = point(DataType::Bool, WordOrder::ABCD);
    b.bit = Some(2); // NSX status bit2 SDE
    assert_eq!(decode_registers(&b, &[0b0100]), Ok(Value::Bool(true)));
    assert_eq!(decode_registers(&b, &[0b1011]), Ok(Value::Bool(false)));
    let mut bf = point(DataType::Bitfield, WordOrder::ABCD);
    bf.bit = Some(2);
    bf.bits = Some(2); // Siemens WL state: bits 2-3
    assert_eq!(decode_registers(&bf, &[0b1100]), Ok(Value::I64(3)));
    let mut s = point(DataType::String, WordOrder::ABCD);
    s.count = 3;
    assert_eq!(
        decode_registers(&s, &[0x4D41, 0x4738, 0x0000]),
        Ok(Value::Text(Box::new("MAG8".into())))
    );
    s.word_order = WordOrder::BADC;
    assert_eq!(
        decode_registers(&s, &[0x414D, 0x3847, 0x0000]),
        Ok(Value::Text(Box::new("MAG8".into())))
    );
    assert_eq!(encode_text(&s, "MAG8"), vec![0x414D, 0x3847, 0x0000]);
}

#[test]
fn pair_readings_find_the_word_order() {
    let r = pair_readings([0x8000, 0x4366]);
    assert_eq!(r[1].0, WordOrder::CDAB);
    assert_eq!(r[1].1, 230.5);
}

fn any_order() -> impl Strategy<Value = WordOrder> {
    prop_oneof![
        Just(WordOrder::ABCD),
        Just(WordOrder::CDAB),
        Just(WordOrder::BADC),
        Just(WordOrder::DCBA)
    ]
}

proptest! {
    #[test]
    fn assemble_round_trips(raw in any::<u64>(), n in 1usize..=4, order in any_order()) {
        let raw = if n == 4 { raw } else { raw & ((1u64 << (16 * n)) - 1) };
        prop_assert_eq!(assemble(&disassemble(raw, n, order), order), raw);
    }

    #[test]
    fn integers_round_trip(order in any_order(), v in any::<i64>(), which in 0usize..6) {
        let (t, v) = match which {
            0 => (DataType::U16, (v as u16) as f64),
            1 => (DataType::I16, (v as i16) as f64),
            2 => (DataType::U32, (v as u32) as f64),
            3 => (DataType::I32, (v as i32) as f64),
            4 => (DataType::U64, ((v as u64) >> 12) as f64), // exact in f64
            _ => (DataType::I64, (v >> 12) as f64),
        };
        let p = point(t, order);
        let words = encode_registers(&p, v).unwrap();
        prop_assert_eq!(f(decode_registers(&p, &words)), v);
    }

    #[test]
    fn floats_round_trip(order in any_order(), v32 in any::<f32>(), v64 in any::<f64>()) {
        prop_assume!(v32.is_finite() && v64.is_finite());
        let p = point(DataType::F32, order);
        let decoded = f(decode_registers(&p, &encode_registers(&p, f64::from(v32)).unwrap()));
        prop_assert_eq!(decoded as f32, v32, "same f32 bits");
        let shortest = v32.to_string().parse::<f64>().unwrap();
        prop_assert!(decoded == shortest || (shortest as f32 != v32 && decoded == f64::from(v32)), "its shortest decimal");
        let p = point(DataType::F64, order);
        prop_assert_eq!(f(decode_registers(&p, &encode_registers(&p, v64).unwrap())), v64);
    }

    #[test]
    fn scaled_values_round_trip(order in any_order(), raw in any::<i32>(), scale_exp in -3i32..=2) {
        let mut p = point(DataType::I32, order);
        p.scale = 10f64.powi(scale_exp);
        let value = f64::from(raw) * p.scale;
        let got = f(decode_registers(&p, &encode_registers(&p, value).unwrap()));
        prop_assert!((got - value).abs() <= p.scale * 1e-6 + value.abs() * 1e-12);
    }

    #[test]
    fn text_round_trips(order in any_order(), s in "[ -~]{0,12}") {
        let mut p = point(DataType::String, order);
        p.count = 6;
        let expect = s.trim_end_matches(' ').to_string();
        prop_assert_eq!(decode_registers(&p, &encode_text(&p, &s)), Ok(Value::Text(Box::new(expect))));
    }

    #[test]
    fn bitfields_round_trip(order in any_order(), v in any::<u32>(), start in 0u8..16, len in 1u8..=16) {
        let mut p = point(DataType::Bitfield, order);
        p.count = 2;
        p.bit = Some(start);
        p.bits = Some(len);
        let v = u64::from(v) & ((1u64 << len) - 1);
        let words = encode_registers(&p, v as f64).unwrap();
        prop_assert_eq!(decode_registers(&p, &words), Ok(Value::I64(v as i64)));
    }
}
