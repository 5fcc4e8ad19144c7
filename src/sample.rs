//! What flows from the poller forward: samples and per-poll device status.
//!
//! Quality follows OPC UA's coarse classes (OPC 10000-8 §6.3.2 "StatusCode": Good,
//! Uncertain, Bad), with a reason for bad samples (DESIGN.md "Terms").

pub use crate::profile::Value;
use serde::Serialize;

/// Index of a point in the [`crate::config::catalog::Catalog`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct PointId(pub u32);

/// Index of a device in the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct DeviceId(pub u32);

/// Why a sample is bad.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadReason {
    /// No connection to the device (connect failed, connection lost, backing off).
    CommFailure,
    /// The request got no reply within the device's timeout.
    Timeout,
    /// The device answered with a Modbus exception code (e.g. 2 illegal data address,
    /// 11 gateway target failed to respond; Modbus Application Protocol v1.1b3 §7).
    Exception(u8),
    /// The value is outside the point's valid range, or not a finite number.
    OutOfRange,
    /// The raw value is the device's "no value" sentinel.
    NoValue,
    /// The reply was malformed (too short, wrong function code).
    BadReply,
    /// No fresh sample for longer than expected.
    Stale,
}

impl std::fmt::Display for BadReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BadReason::CommFailure => f.write_str("comm_failure"),
            BadReason::Timeout => f.write_str("timeout"),
            BadReason::Exception(n) => write!(f, "exception({n})"),
            BadReason::OutOfRange => f.write_str("out_of_range"),
            BadReason::NoValue => f.write_str("no_value"),
            BadReason::BadReply => f.write_str("bad_reply"),
            BadReason::Stale => f.write_str("stale"),
        }
    }
}

/// A sample's quality.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quality {
    Good,
    Uncertain,
    Bad(BadReason),
}

impl Quality {
    /// `good`, `uncertain` or `bad`.
    pub fn class(&self) -> &'static str {
        match self {
            Quality::Good => "good",
            Quality::Uncertain => "uncertain",
            Quality::Bad(_) => "bad",
        }
    }
    /// The bad reason, if any.
    pub fn reason(&self) -> Option<BadReason> {
        match self {
            Quality::Bad(r) => Some(*r),
            _ => None,
        }
    }
}

/// One decoded value of one point at one scheduled poll time.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub point: PointId,
    /// The poll's scheduled time, ns since the Unix epoch.
    pub time_ns: i64,
    /// None when the sample is bad.
    pub value: Option<Value>,
    pub quality: Quality,
}

/// The outcome of one scheduled poll of a device; follows that poll's samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PollStatus {
    pub device: DeviceId,
    /// The poll's scheduled time, ns since the Unix epoch.
    pub time_ns: i64,
    /// True when every request of the poll got a reply (data or exception).
    pub up: bool,
    /// Time from the first request to the last reply, ms; None when no request was sent
    /// (not connected, or a silent unit's skipped slot).
    pub latency_ms: Option<f64>,
    /// Timeouts since start-up.
    pub timeouts: u64,
    /// Other failures since start-up (connection, malformed replies, exceptions).
    pub errors: u64,
}

/// What a poller pushes into its ring buffer: 32 bytes (a test checks), so that 10 s of
/// 10,000 devices' records take 35 MB, not 53. The poll status is boxed: one per poll against
/// one sample per point, and 48 bytes inline would make every record 48.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Sample(Sample),
    Poll(Box<PollStatus>),
}

/// Nanoseconds since the Unix epoch, now.
/// A time in ns since the epoch as RFC 3339 in UTC (`2026-11-30T16:06:02.4Z`), as
/// precise as it is; the number itself when out of range.
pub fn rfc3339(ns: i64) -> String {
    jiff::Timestamp::from_nanosecond(i128::from(ns))
        .map(|t| t.to_string())
        .unwrap_or_else(|_| ns.to_string())
}

pub fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod size_tests {
    use super::*;

    #[test]
    fn a_record_is_32_bytes_and_a_value_16() {
        // The ring buffers hold `[buffer] span` of records (README "Memory"): at 10,000
        // devices, 1.1 million of them.
        assert_eq!(std::mem::size_of::<Value>(), 16);
        assert_eq!(std::mem::size_of::<Sample>(), 32);
        assert_eq!(std::mem::size_of::<Record>(), 32);
    }
}
