//! Device profiles: a device model's register map, read from `plc-profiles/<id>.toml`.
//!
//! The format is DESIGN.md's "Profiles" section. Each point names its register table,
//! its address as the device's manual prints it, and how to decode it. The profile's
//! `address_base` says how a printed address becomes the 0-based PDU address in the frame;
//! vigie never guesses it from the digits.

pub mod address;
pub mod decode;

use serde::Deserialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub use address::{AddressBase, PrintedAddress};
pub use decode::{DecodeError, Value};

/// Errors met while loading or validating a profile.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// The file could not be read.
    #[error("{path}: cannot read profile")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The TOML did not parse or did not match the format; `line` is 1-based when known.
    #[error("{path}{}: {key}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Parse {
        path: PathBuf,
        line: Option<usize>,
        key: String,
        message: String,
    },
    /// A point is invalid (address, type, bit, overlap, ...); `key` is `points[i].field`.
    #[error("{path}{}: {key}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Invalid {
        path: PathBuf,
        line: Option<usize>,
        key: String,
        message: String,
    },
}

/// The four Modbus data tables (Modbus Application Protocol v1.1b3, section 4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RegisterKind {
    /// Coils, read with function code 01.
    Coil,
    /// Discrete inputs, read with function code 02.
    Discrete,
    /// Holding registers, read with function code 03.
    Holding,
    /// Input registers, read with function code 04.
    Input,
}

impl RegisterKind {
    /// True for the 1-bit tables (coils, discrete inputs).
    pub fn is_bit(self) -> bool {
        matches!(self, RegisterKind::Coil | RegisterKind::Discrete)
    }
    /// The most items one read may ask for (125 registers or 2000 bits; Modbus spec 6.1-6.4).
    pub fn max_per_read(self) -> u16 {
        if self.is_bit() { 2000 } else { 125 }
    }
    /// The read function code of this table.
    pub fn function_code(self) -> u8 {
        match self {
            RegisterKind::Coil => 1,
            RegisterKind::Discrete => 2,
            RegisterKind::Holding => 3,
            RegisterKind::Input => 4,
        }
    }
    /// The name used in profiles and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            RegisterKind::Coil => "coil",
            RegisterKind::Discrete => "discrete",
            RegisterKind::Holding => "holding",
            RegisterKind::Input => "input",
        }
    }
}

/// A point's data type (DESIGN.md "Profiles").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataType {
    U16,
    I16,
    U32,
    I32,
    U64,
    I64,
    F32,
    F64,
    /// A coil or discrete input, or one bit (`bit`) of a register.
    Bool,
    /// An unsigned word (or `length` words), optionally the bit range `bit`..`bit+bits`.
    Bitfield,
    /// ASCII text, two characters per register, `length` registers.
    String,
}

impl DataType {
    /// Registers the type spans when it has a fixed width.
    pub fn fixed_registers(self) -> Option<u16> {
        match self {
            DataType::U16 | DataType::I16 | DataType::Bool => Some(1),
            DataType::U32 | DataType::I32 | DataType::F32 => Some(2),
            DataType::U64 | DataType::I64 | DataType::F64 => Some(4),
            DataType::Bitfield | DataType::String => None,
        }
    }
}

/// How the bytes of a multi-register value are ordered on the wire.
///
/// Letters name the bytes of a 32-bit value from most to least significant (A..D), in the
/// order they arrive. The same rule extends to 64-bit values and strings: `CDAB` and `DCBA`
/// reverse the order of the registers, `BADC` and `DCBA` swap the two bytes of each register.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
pub enum WordOrder {
    /// Big-endian words and bytes (Modbus's own convention; SDM630, PAC2200).
    #[default]
    ABCD,
    /// Low word first, bytes big-endian within each word (EM24, ABB drives by default).
    CDAB,
    /// High word first, bytes swapped within each word.
    BADC,
    /// Fully little-endian.
    DCBA,
}

impl WordOrder {
    /// All four orders, in the order `vigie probe --raw` prints them.
    pub const ALL: [WordOrder; 4] = [
        WordOrder::ABCD,
        WordOrder::CDAB,
        WordOrder::BADC,
        WordOrder::DCBA,
    ];
    /// True when the registers arrive least significant first.
    pub fn words_reversed(self) -> bool {
        matches!(self, WordOrder::CDAB | WordOrder::DCBA)
    }
    /// True when the two bytes of each register are swapped.
    pub fn bytes_swapped(self) -> bool {
        matches!(self, WordOrder::BADC | WordOrder::DCBA)
    }
    /// The name used in profiles.
    pub fn as_str(self) -> &'static str {
        match self {
            WordOrder::ABCD => "ABCD",
            WordOrder::CDAB => "CDAB",
            WordOrder::BADC => "BADC",
            WordOrder::DCBA => "DCBA",
        }
    }
}

/// The `[profile]`-level keys and the points, as written in the file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileFile {
    manufacturer: String,
    model: String,
    #[serde(default)]
    description: String,
    /// Where the register map comes from (manual and section, or public code).
    source: String,
    address_base: AddressBase,
    #[serde(default)]
    word_order: WordOrder,
    #[serde(default = "default_max_gap")]
    max_gap: u16,
    points: Vec<PointFile>,
}

fn default_max_gap() -> u16 {
    8
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct PointFile {
    name: String,
    register: RegisterKind,
    address: PrintedAddress,
    #[serde(rename = "type")]
    data_type: DataType,
    word_order: Option<WordOrder>,
    bit: Option<u8>,
    bits: Option<u8>,
    length: Option<u16>,
    #[serde(default = "one")]
    scale: f64,
    #[serde(default)]
    offset: f64,
    #[serde(default)]
    unit: String,
    #[serde(default)]
    nan: Vec<u64>,
    valid_min: Option<f64>,
    valid_max: Option<f64>,
    #[serde(default)]
    description: String,
}

fn one() -> f64 {
    1.0
}

/// One decoded value of a device, resolved to its PDU address.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// The point's name, unique within the profile, e.g. `discharge_pressure_bar`.
    pub name: String,
    /// The register table it is read from.
    pub register: RegisterKind,
    /// The address as the manual prints it (for messages).
    pub printed_address: String,
    /// The 0-based PDU address of its first register or bit.
    pub pdu_address: u16,
    /// Registers (or bits, for coils and discretes) it spans.
    pub count: u16,
    pub data_type: DataType,
    pub word_order: WordOrder,
    /// First bit (0 = least significant) for `bool` in a register and `bitfield`.
    pub bit: Option<u8>,
    /// Width in bits of a `bitfield` range (default: the whole value from `bit`).
    pub bits: Option<u8>,
    /// Engineering value = raw × scale + offset.
    pub scale: f64,
    pub offset: f64,
    /// Engineering unit, e.g. `bar`, `m3/h`, `V`.
    pub unit: String,
    /// Raw values the device uses for "no value" (e.g. 0xFFFF, 0x8000); such a read is bad.
    pub nan: Vec<u64>,
    /// Plausible range of the engineering value; outside it the sample is `out_of_range`.
    pub valid_min: Option<f64>,
    pub valid_max: Option<f64>,
    pub description: String,
}

impl Point {
    /// The last PDU address it covers (never wraps: checked at load).
    pub fn last_address(&self) -> u16 {
        self.pdu_address + (self.count - 1)
    }
}

/// A device model's register map.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// The file stem, e.g. `eastron-sdm630`.
    pub id: String,
    pub manufacturer: String,
    pub model: String,
    pub description: String,
    pub source: String,
    /// Largest run of unused registers a merged read may include (0 = only contiguous).
    pub max_gap: u16,
    pub points: Vec<Point>,
}

impl Profile {
    /// Looks a point up by name.
    pub fn point(&self, name: &str) -> Option<&Point> {
        self.points.iter().find(|p| p.name == name)
    }

    /// Reads and validates `<dir>/<id>.toml`.
    pub fn load(dir: &Path, id: &str) -> Result<Profile, ProfileError> {
        let path = dir.join(format!("{id}.toml"));
        let text = std::fs::read_to_string(&path).map_err(|source| ProfileError::Io {
            path: path.clone(),
            source,
        })?;
        Profile::parse(id, &path, &text)
    }

    /// Parses and validates a profile's text; `path` is only used in messages.
    pub fn parse(id: &str, path: &Path, text: &str) -> Result<Profile, ProfileError> {
        let file: ProfileFile = toml::from_str(text).map_err(|e| {
            let (line, key) = crate::toml_position::locate_toml_error(text, &e);
            ProfileError::Parse {
                path: path.to_path_buf(),
                line,
                key,
                message: e.message().trim().to_string(),
            }
        })?;
        let mut points = Vec::with_capacity(file.points.len());
        for (i, p) in file.points.iter().enumerate() {
            let invalid = |field: &str, message: String| ProfileError::Invalid {
                path: path.to_path_buf(),
                line: find_point_line(text, i, field),
                key: format!("points[{i}].{field} ({})", p.name),
                message,
            };
            points.push(resolve_point(&file, p).map_err(|(f, m)| invalid(f, m))?);
        }
        check_names_and_overlaps(&points).map_err(|(i, field, message)| ProfileError::Invalid {
            path: path.to_path_buf(),
            line: find_point_line(text, i, field),
            key: format!("points[{i}].{field} ({})", points[i].name),
            message,
        })?;
        Ok(Profile {
            id: id.to_string(),
            manufacturer: file.manufacturer,
            model: file.model,
            description: file.description,
            source: file.source,
            max_gap: file.max_gap,
            points,
        })
    }
}

fn resolve_point(file: &ProfileFile, p: &PointFile) -> Result<Point, (&'static str, String)> {
    if p.name.is_empty()
        || !p
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err((
            "name",
            format!("{:?} must be letters, digits and '_' only", p.name),
        ));
    }
    let pdu_address =
        address::to_pdu(file.address_base, &p.address, p.register).map_err(|m| ("address", m))?;
    let dt = p.data_type;
    if p.register.is_bit() && dt != DataType::Bool {
        return Err((
            "type",
            format!(
                "a {} holds single bits: type must be bool",
                p.register.as_str()
            ),
        ));
    }
    let count = match (dt, p.length) {
        (DataType::String, Some(n)) if n >= 1 => n,
        (DataType::String, _) => {
            return Err(("length", "a string needs length >= 1 (registers)".into()));
        }
        (DataType::Bitfield, None) => 1,
        (DataType::Bitfield, Some(n @ 1..=4)) => n,
        (DataType::Bitfield, Some(_)) => {
            return Err(("length", "a bitfield spans 1 to 4 registers".into()));
        }
        (_, Some(_)) => {
            return Err((
                "length",
                "length applies to string and bitfield only".into(),
            ));
        }
        (t, None) => t.fixed_registers().unwrap_or(1),
    };
    let width_bits = u32::from(count) * 16;
    match (dt, p.bit, p.bits) {
        (DataType::Bool, Some(b), None) if !p.register.is_bit() && u32::from(b) < 16 => {}
        (DataType::Bool, None, None) if p.register.is_bit() => {}
        (DataType::Bool, None, None) => {
            return Err((
                "bit",
                "a bool in a register needs `bit` (0 = least significant)".into(),
            ));
        }
        (DataType::Bool, _, _) => {
            return Err(("bit", "bit must be 0..15 for a register, absent for coils and discretes; `bits` is for bitfields".into()));
        }
        (DataType::Bitfield, b, n) => {
            let start = u32::from(b.unwrap_or(0));
            let len = n
                .map(u32::from)
                .unwrap_or(width_bits - start.min(width_bits));
            if start >= width_bits || len == 0 || start + len > width_bits {
                return Err((
                    "bits",
                    format!("bit range {start}+{len} does not fit in {width_bits} bits"),
                ));
            }
        }
        (_, None, None) => {}
        _ => return Err(("bit", "bit and bits apply to bool and bitfield only".into())),
    }
    if u32::from(pdu_address) + u32::from(count) - 1 > 65535 {
        return Err((
            "address",
            format!("PDU address {pdu_address} + {count} registers runs past 65535"),
        ));
    }
    if count > p.register.max_per_read() {
        return Err(("length", "longer than one read (125 registers)".into()));
    }
    if !p.scale.is_finite() || p.scale == 0.0 || !p.offset.is_finite() {
        return Err((
            "scale",
            "scale must be finite and non-zero, offset finite".into(),
        ));
    }
    if let (Some(lo), Some(hi)) = (p.valid_min, p.valid_max)
        && lo > hi
    {
        return Err(("valid_min", format!("valid_min {lo} > valid_max {hi}")));
    }
    Ok(Point {
        name: p.name.clone(),
        register: p.register,
        printed_address: p.address.to_string(),
        pdu_address,
        count,
        data_type: dt,
        word_order: p.word_order.unwrap_or(file.word_order),
        bit: p.bit,
        bits: p.bits,
        scale: p.scale,
        offset: p.offset,
        unit: p.unit.clone(),
        nan: p.nan.clone(),
        valid_min: p.valid_min,
        valid_max: p.valid_max,
        description: p.description.clone(),
    })
}

/// Bit range a point reads inside its registers, or None for a whole-value point.
fn bit_range(p: &Point) -> Option<(u32, u32)> {
    match p.data_type {
        DataType::Bool if !p.register.is_bit() => p.bit.map(|b| (u32::from(b), 1)),
        DataType::Bitfield if p.bit.is_some() || p.bits.is_some() => {
            let start = u32::from(p.bit.unwrap_or(0));
            let width = u32::from(p.count) * 16;
            Some((start, p.bits.map(u32::from).unwrap_or(width - start)))
        }
        _ => None,
    }
}

/// Names must be unique; two whole-value points must not share a register, and two bit
/// points on the same registers must not share a bit. A bit point may read a register that
/// a whole-value point also reads (a status word and its fault bit).
fn check_names_and_overlaps(points: &[Point]) -> Result<(), (usize, &'static str, String)> {
    let mut names: HashMap<&str, usize> = HashMap::new();
    for (i, p) in points.iter().enumerate() {
        if let Some(j) = names.insert(&p.name, i) {
            return Err((
                i,
                "name",
                format!("duplicate point name, first at points[{j}]"),
            ));
        }
    }
    for (i, a) in points.iter().enumerate() {
        for b in &points[..i] {
            if a.register != b.register
                || a.pdu_address > b.last_address()
                || b.pdu_address > a.last_address()
            {
                continue;
            }
            let clash = match (bit_range(a), bit_range(b)) {
                (None, None) => true,
                (Some((sa, la)), Some((sb, lb))) => {
                    // Same registers: clash when the bit ranges meet; different spans: always.
                    a.pdu_address != b.pdu_address
                        || a.count != b.count
                        || (sa < sb + lb && sb < sa + la)
                }
                _ => false,
            };
            if clash {
                return Err((
                    i,
                    "address",
                    format!(
                        "overlaps point {:?} ({} {}..={})",
                        b.name,
                        b.register.as_str(),
                        b.pdu_address,
                        b.last_address()
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Best-effort line of `field` inside the `i`-th `[[points]]` table (None when not found).
fn find_point_line(text: &str, i: usize, field: &str) -> Option<usize> {
    let mut seen = 0usize;
    let mut in_point = false;
    let mut header_line = None;
    for (n, line) in text.lines().enumerate() {
        let t = line.trim_start();
        if t.starts_with("[[points]]") {
            in_point = seen == i;
            seen += 1;
            if in_point {
                header_line = Some(n + 1);
            }
            continue;
        }
        if t.starts_with('[') {
            in_point = false;
        }
        if in_point {
            let key = t.split('=').next().unwrap_or("").trim();
            if key == field || (field == "type" && key == "type") {
                return Some(n + 1);
            }
        }
    }
    header_line
}

/// Loads every profile in a folder (used by tests and `vigie check`); sorted by id.
pub fn load_dir(dir: &Path) -> Result<Vec<Profile>, ProfileError> {
    let rd = std::fs::read_dir(dir).map_err(|source| ProfileError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut ids: Vec<String> = rd
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let p = e.path();
            (p.extension()? == "toml").then(|| p.file_stem()?.to_str().map(String::from))?
        })
        .collect();
    ids.sort();
    ids.iter().map(|id| Profile::load(dir, id)).collect()
}
