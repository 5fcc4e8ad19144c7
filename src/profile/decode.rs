//! Pure decoding of register words into engineering values, and the inverse encoding the
//! simulator and the tests use. No I/O here: every function works on `&[u16]`.

use super::{DataType, Point, WordOrder};

/// A decoded engineering value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Every numeric type after scale and offset (an f64 keeps integers exact to 2^53).
    F64(f64),
    /// A `bitfield` (raw bits, never scaled).
    I64(i64),
    /// A coil, discrete input or bit of a register.
    Bool(bool),
    /// A `string` point. Boxed so that a `Value` is 16 bytes, not 24: every sample in the
    /// ring buffers carries one, and text points are rare.
    Text(Box<String>),
}

impl Value {
    /// The value as a number (bool as 0/1); None for text.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::F64(v) => Some(*v),
            Value::I64(v) => Some(*v as f64),
            Value::Bool(b) => Some(f64::from(u8::from(*b))),
            Value::Text(_) => None,
        }
    }
}

/// Why registers did not give a good value; each maps to a bad-quality reason.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    /// Fewer words than the point spans (a short reply).
    #[error("short reply: need {need} registers, got {got}")]
    Short { need: usize, got: usize },
    /// The raw value is one of the profile's "no value" sentinels.
    #[error("raw value {0:#x} is the device's no-value sentinel")]
    NoValue(u64),
    /// A float register held NaN or infinity.
    #[error("not a finite number")]
    NotFinite,
    /// The engineering value is outside the point's `valid_min`..`valid_max`.
    #[error("{0} is outside the point's valid range")]
    OutOfRange(f64),
}

/// Puts `words` (as received) into most-significant-first order, as one integer.
/// Works for 1 to 4 words.
pub fn assemble(words: &[u16], order: WordOrder) -> u64 {
    let mut acc = 0u64;
    let n = words.len();
    for i in 0..n {
        let w = if order.words_reversed() {
            words[n - 1 - i]
        } else {
            words[i]
        };
        let w = if order.bytes_swapped() {
            w.swap_bytes()
        } else {
            w
        };
        acc = (acc << 16) | u64::from(w);
    }
    acc
}

/// The inverse of [`assemble`]: `count` words as they go on the wire.
pub fn disassemble(raw: u64, count: usize, order: WordOrder) -> Vec<u16> {
    let mut words: Vec<u16> = (0..count)
        .map(|i| (raw >> (16 * (count - 1 - i))) as u16)
        .collect();
    if order.bytes_swapped() {
        words.iter_mut().for_each(|w| *w = w.swap_bytes());
    }
    if order.words_reversed() {
        words.reverse();
    }
    words
}

/// Decodes a register point from exactly its words (`point.count` of them).
///
/// Errors: [`DecodeError`] for short input, sentinels, non-finite floats and range.
pub fn decode_registers(point: &Point, words: &[u16]) -> Result<Value, DecodeError> {
    let need = usize::from(point.count);
    if words.len() < need {
        return Err(DecodeError::Short {
            need,
            got: words.len(),
        });
    }
    let words = &words[..need];
    let raw = assemble(words, point.word_order);
    if point.nan.contains(&raw) {
        return Err(DecodeError::NoValue(raw));
    }
    let number = match point.data_type {
        DataType::Bool => return Ok(Value::Bool(raw >> point.bit.unwrap_or(0) & 1 == 1)),
        DataType::Bitfield => {
            let start = u32::from(point.bit.unwrap_or(0));
            let width = 16 * need as u32;
            let len = point.bits.map(u32::from).unwrap_or(width - start);
            let mask = if len >= 64 {
                u64::MAX
            } else {
                (1u64 << len) - 1
            };
            return Ok(Value::I64(((raw >> start) & mask) as i64));
        }
        DataType::U16 | DataType::U32 | DataType::U64 => raw as f64,
        DataType::I16 => f64::from(raw as u16 as i16),
        DataType::I32 => f64::from(raw as u32 as i32),
        DataType::I64 => raw as i64 as f64,
        DataType::F32 => f32_as_decimal(f32::from_bits(raw as u32)),
        DataType::F64 => f64::from_bits(raw),
        DataType::String => return Ok(Value::Text(Box::new(decode_text(words, point.word_order)))),
    };
    if !number.is_finite() {
        return Err(DecodeError::NotFinite);
    }
    let value = apply_scale(number, point.scale) + point.offset;
    if point.valid_min.is_some_and(|lo| value < lo) || point.valid_max.is_some_and(|hi| value > hi)
    {
        return Err(DecodeError::OutOfRange(value));
    }
    Ok(Value::F64(value))
}

/// A float32 as the f64 of its shortest decimal form: 0.93f32 reads 0.93, not
/// 0.9300000071525574 (what widening gives). The decimal identifies the same f32 (it parses
/// back to the same bits), so nothing the device sent is lost; NaN and infinities pass as is.
pub fn f32_as_decimal(x: f32) -> f64 {
    use std::fmt::Write as _;
    struct Buf {
        bytes: [u8; 64],
        len: usize,
    }
    impl std::fmt::Write for Buf {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            let end = self.len + s.len();
            self.bytes
                .get_mut(self.len..end)
                .ok_or(std::fmt::Error)?
                .copy_from_slice(s.as_bytes());
            self.len = end;
            Ok(())
        }
    }
    let mut buf = Buf {
        bytes: [0; 64],
        len: 0,
    };
    if x.is_finite()
        && write!(buf, "{x}").is_ok()
        && let Some(v) = std::str::from_utf8(&buf.bytes[..buf.len])
            .ok()
            .and_then(|t| t.parse::<f64>().ok())
        // A decimal halfway between two f32s could round to the other one: keep the bits.
        && v as f32 == x
    {
        return v;
    }
    f64::from(x)
}

/// `raw × scale`, computed as `raw / 10^k` when the scale is `10^-k` (0.1, 0.01, ...), so a
/// device's 184321 at 0.1 W reads 18432.1 exactly (the nearest double), not 18432.100000000002.
pub fn apply_scale(raw: f64, scale: f64) -> f64 {
    let inverse = 1.0 / scale;
    if scale.abs() < 1.0 && inverse.fract() == 0.0 && inverse.is_finite() {
        raw / inverse
    } else {
        raw * scale
    }
}

/// The inverse of [`apply_scale`].
fn remove_scale(value: f64, scale: f64) -> f64 {
    let inverse = 1.0 / scale;
    if scale.abs() < 1.0 && inverse.fract() == 0.0 && inverse.is_finite() {
        value * inverse
    } else {
        value / scale
    }
}

/// ASCII text, two characters per register, high byte first unless bytes are swapped;
/// trailing NULs and spaces trimmed, non-printable bytes shown as `?`.
pub fn decode_text(words: &[u16], order: WordOrder) -> String {
    let mut ordered: Vec<u16> = words.to_vec();
    if order.words_reversed() {
        ordered.reverse();
    }
    let mut s = String::with_capacity(words.len() * 2);
    for w in ordered {
        let [hi, lo] = w.to_be_bytes();
        let (a, b) = if order.bytes_swapped() {
            (lo, hi)
        } else {
            (hi, lo)
        };
        for c in [a, b] {
            s.push(if c == 0 || (0x20..0x7f).contains(&c) {
                c as char
            } else {
                '?'
            });
        }
    }
    s.trim_end_matches(['\0', ' ']).to_string()
}

/// Why a value cannot be encoded into a point's registers (simulator and tests only).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EncodeError {
    #[error("{0} does not fit the point's type")]
    OutOfType(f64),
    #[error("point type {0:?} is not numeric")]
    NotNumeric(DataType),
}

/// Encodes an engineering value into the words a device would serve for `point`.
/// Integers round to nearest; floats are stored as the type's nearest value.
pub fn encode_registers(point: &Point, value: f64) -> Result<Vec<u16>, EncodeError> {
    let raw_f = remove_scale(value - point.offset, point.scale);
    let n = usize::from(point.count);
    let fits = |lo: f64, hi: f64| {
        let r = raw_f.round();
        if r.is_finite() && r >= lo && r <= hi {
            Ok(r)
        } else {
            Err(EncodeError::OutOfType(value))
        }
    };
    let raw: u64 = match point.data_type {
        DataType::U16 => fits(0.0, 65535.0)? as u64,
        DataType::I16 => fits(-32768.0, 32767.0)? as i64 as i16 as u16 as u64,
        DataType::U32 => fits(0.0, 4294967295.0)? as u64,
        DataType::I32 => fits(-2147483648.0, 2147483647.0)? as i64 as i32 as u32 as u64,
        DataType::U64 => fits(0.0, 1.8446744073709552e19)? as u64,
        DataType::I64 => fits(-9.223372036854776e18, 9.223372036854776e18)? as i64 as u64,
        DataType::F32 => (raw_f as f32).to_bits() as u64,
        DataType::F64 => raw_f.to_bits(),
        DataType::Bitfield => {
            let start = u32::from(point.bit.unwrap_or(0));
            (fits(0.0, u64::MAX as f64)? as u64) << start
        }
        t @ (DataType::Bool | DataType::String) => return Err(EncodeError::NotNumeric(t)),
    };
    Ok(disassemble(raw, n, point.word_order))
}

/// Encodes text as a `string` point's words (padded with NULs, truncated to fit).
pub fn encode_text(point: &Point, text: &str) -> Vec<u16> {
    let n = usize::from(point.count);
    let mut bytes: Vec<u8> = text.bytes().take(n * 2).collect();
    bytes.resize(n * 2, 0);
    let mut words: Vec<u16> = bytes
        .chunks(2)
        .map(|c| {
            let w = u16::from_be_bytes([c[0], c[1]]);
            if point.word_order.bytes_swapped() {
                w.swap_bytes()
            } else {
                w
            }
        })
        .collect();
    if point.word_order.words_reversed() {
        words.reverse();
    }
    words
}

/// The four readings of two registers as f32, u32 and i32, one per word order:
/// what `vigie probe --raw` prints so a field engineer finds a device's word order.
pub fn pair_readings(pair: [u16; 2]) -> [(WordOrder, f32, u32, i32); 4] {
    WordOrder::ALL.map(|o| {
        let raw = assemble(&pair, o) as u32;
        (o, f32::from_bits(raw), raw, raw as i32)
    })
}

#[cfg(test)]
mod tests;
