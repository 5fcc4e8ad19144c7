//! From the address a manual prints to the 0-based PDU address in the Modbus frame.
//!
//! Manuals print addresses three ways (see shared/reference/register-maps.md, section 0):
//! as the PDU address itself (Siemens PAC "offset", Carlo Gavazzi hex offsets), as 1-based
//! register numbers (Schneider "register", Danfoss parameter × 10), or as Modicon references
//! whose leading digit names the table (30001 = first input register, 400001 = first holding
//! register in 6-digit form; Modicon convention, Modbus Application Protocol v1.1b3 §4.4).

use super::RegisterKind;
use serde::Deserialize;
use std::fmt;

/// How printed addresses map to PDU addresses, per profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressBase {
    /// The manual prints PDU addresses (`0`).
    Zero,
    /// The manual prints 1-based numbers (`1`): PDU = address - 1.
    One,
    /// 5- or 6-digit Modicon references (`"modicon"`): 0xxxx coils, 1xxxx discrete inputs,
    /// 3xxxx input registers, 4xxxx holding registers; PDU = reference - table base - 1.
    Modicon,
}

/// A TOML value that may be written as a number or as a string.
#[derive(Deserialize)]
#[serde(untagged)]
enum Raw {
    Int(i64),
    Str(String),
}

impl<'de> Deserialize<'de> for AddressBase {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Raw::deserialize(d)? {
            Raw::Int(0) => Ok(AddressBase::Zero),
            Raw::Int(1) => Ok(AddressBase::One),
            Raw::Str(s) if s == "modicon" => Ok(AddressBase::Modicon),
            Raw::Str(s) if s == "0" => Ok(AddressBase::Zero),
            Raw::Str(s) if s == "1" => Ok(AddressBase::One),
            _ => Err(serde::de::Error::custom(
                "address_base must be 0, 1 or \"modicon\"",
            )),
        }
    }
}

/// An address as written in a profile: an integer, or a string (keeps a Modicon
/// reference's leading zeros, e.g. `"000017"` for coil 17 in 6-digit form; `"0x0100"` hex).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrintedAddress {
    /// The numeric value.
    pub value: u32,
    /// Digits as written (for Modicon references), when the profile gave a decimal string.
    pub digits: Option<usize>,
    text: String,
}

impl fmt::Display for PrintedAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl PrintedAddress {
    /// Parses `"0x0100"`, `"400001"`, `"00017"` or a plain number.
    pub fn parse(s: &str) -> Result<PrintedAddress, String> {
        let t = s.trim();
        let (value, digits) =
            if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
                (
                    u32::from_str_radix(hex, 16).map_err(|e| format!("{s:?}: {e}"))?,
                    None,
                )
            } else {
                if t.is_empty() || !t.chars().all(|c| c.is_ascii_digit()) {
                    return Err(format!("{s:?} is not a decimal or 0x-hex address"));
                }
                (
                    t.parse::<u32>().map_err(|e| format!("{s:?}: {e}"))?,
                    Some(t.len()),
                )
            };
        Ok(PrintedAddress {
            value,
            digits,
            text: t.to_string(),
        })
    }

    /// A plain number.
    pub fn from_number(value: u32) -> PrintedAddress {
        PrintedAddress {
            value,
            digits: None,
            text: value.to_string(),
        }
    }
}

impl<'de> Deserialize<'de> for PrintedAddress {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Raw::deserialize(d)? {
            Raw::Int(i) => u32::try_from(i)
                .map(PrintedAddress::from_number)
                .map_err(|_| {
                    serde::de::Error::custom(format!("address {i} is negative or too large"))
                }),
            Raw::Str(s) => PrintedAddress::parse(&s).map_err(serde::de::Error::custom),
        }
    }
}

/// The table digit of a Modicon reference.
fn modicon_digit(kind: RegisterKind) -> u32 {
    match kind {
        RegisterKind::Coil => 0,
        RegisterKind::Discrete => 1,
        RegisterKind::Input => 3,
        RegisterKind::Holding => 4,
    }
}

/// Resolves a printed address to the PDU address; the error says why it is not valid.
pub fn to_pdu(base: AddressBase, addr: &PrintedAddress, kind: RegisterKind) -> Result<u16, String> {
    let v = addr.value;
    let pdu: u32 = match base {
        AddressBase::Zero => v,
        AddressBase::One => v
            .checked_sub(1)
            .ok_or_else(|| format!("{addr}: address_base 1 starts at 1, not 0"))?,
        AddressBase::Modicon => {
            if addr.digits.is_none() && addr.text.to_ascii_lowercase().starts_with("0x") {
                return Err(format!("{addr}: a Modicon reference is decimal"));
            }
            // Digits as written for strings; for integers, 6 digits from 100000 up, else 5.
            let digits = addr.digits.unwrap_or(if v >= 100_000 { 6 } else { 5 });
            let span = match digits {
                5 => 10_000,
                6 => 100_000,
                n => {
                    return Err(format!(
                        "{addr}: a Modicon reference has 5 or 6 digits, not {n}"
                    ));
                }
            };
            let table = v / span;
            let offset = v % span;
            let want = modicon_digit(kind);
            if table != want {
                return Err(format!(
                    "{addr}: leading digit {table} names {} but the point's register is {} (digit {want})",
                    match table {
                        0 => "coils",
                        1 => "discrete inputs",
                        3 => "input registers",
                        4 => "holding registers",
                        _ => "no Modbus table",
                    },
                    kind.as_str()
                ));
            }
            offset.checked_sub(1).ok_or_else(|| {
                format!("{addr}: a Modicon reference starts at 1 within its table")
            })?
        }
    };
    u16::try_from(pdu).map_err(|_| format!("{addr}: PDU address {pdu} is beyond 65535"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pdu(base: AddressBase, s: &str, kind: RegisterKind) -> Result<u16, String> {
        to_pdu(base, &PrintedAddress::parse(s).unwrap(), kind)
    }

    #[test]
    fn modicon_references() {
        use RegisterKind::*;
        assert_eq!(pdu(AddressBase::Modicon, "30001", Input), Ok(0));
        assert_eq!(pdu(AddressBase::Modicon, "30073", Input), Ok(72));
        assert_eq!(pdu(AddressBase::Modicon, "400001", Holding), Ok(0));
        assert_eq!(pdu(AddressBase::Modicon, "420202", Holding), Ok(20201));
        assert_eq!(pdu(AddressBase::Modicon, "40001", Holding), Ok(0));
        assert_eq!(pdu(AddressBase::Modicon, "00017", Coil), Ok(16));
        assert_eq!(pdu(AddressBase::Modicon, "10001", Discrete), Ok(0));
        assert_eq!(pdu(AddressBase::Modicon, "465536", Holding), Ok(65535));
        assert!(pdu(AddressBase::Modicon, "465537", Holding).is_err());
        assert!(
            pdu(AddressBase::Modicon, "30001", Holding)
                .unwrap_err()
                .contains("leading digit 3")
        );
        assert!(pdu(AddressBase::Modicon, "40000", Holding).is_err());
        assert!(pdu(AddressBase::Modicon, "0x10", Holding).is_err());
    }

    #[test]
    fn zero_and_one_based() {
        use RegisterKind::*;
        assert_eq!(pdu(AddressBase::Zero, "0x0100", Holding), Ok(256));
        assert_eq!(pdu(AddressBase::One, "3000", Holding), Ok(2999));
        assert!(pdu(AddressBase::One, "0", Holding).is_err());
        assert!(pdu(AddressBase::Zero, "65536", Holding).is_err());
    }
}
