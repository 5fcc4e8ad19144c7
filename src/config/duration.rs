//! Durations written as strings (`"500ms"`, `"1s"`, `"5m"`; DESIGN.md "Command line").

use serde::{Deserialize, Deserializer};
use std::time::Duration;

/// Parses `"500ms"`, `"1s"`, `"1m 30s"` (humantime syntax); a bare number is refused so
/// nobody has to guess its unit.
pub fn parse(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("invalid duration {s:?} ({e}); write e.g. \"500ms\", \"1s\", \"5m\""))
}

/// serde adapter for `Duration` fields.
pub fn de<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    parse(&s).map_err(serde::de::Error::custom)
}

/// serde adapter for `Option<Duration>` fields.
pub fn de_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    Option::<String>::deserialize(d)?
        .map(|s| parse(&s).map_err(serde::de::Error::custom))
        .transpose()
}
