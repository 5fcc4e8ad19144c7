//! Nights in local time: the window `[window_start, window_end)` of a local date, as UTC
//! instants (ns since the Unix epoch).
//!
//! Local times are resolved with jiff's "compatible" rule (RFC 5545 §3.3.5, as Temporal
//! does): a time in a spring-forward gap is moved forward by the gap, an ambiguous time of an
//! autumn fold takes its first (earlier) instant. So in Europe/Paris a 02:00–04:00 window
//! is 1 h long on the last Sunday of March (03:00 CEST to 04:00 CEST) and 3 h long on the
//! last Sunday of October (02:00 CEST to 04:00 CET): the window is always the instants
//! between the two wall-clock times, and coverage is measured against its real length.

use jiff::Timestamp;
use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;

/// One night's window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Night {
    /// The local date the window lies in (the morning's date: 02:00 on that day).
    pub date: Date,
    /// Window start, ns since the epoch (UTC).
    pub start_ns: i64,
    /// Window end (excluded), ns since the epoch (UTC).
    pub end_ns: i64,
}

impl Night {
    /// The window's length, ns.
    pub fn len_ns(&self) -> i64 {
        self.end_ns - self.start_ns
    }
}

/// The local times and zone nights are cut with.
#[derive(Debug, Clone)]
pub struct Windows {
    pub start: Time,
    pub end: Time,
    pub tz: TimeZone,
}

impl Windows {
    /// The window of local `date`; None when it cannot be represented (far past or future)
    /// or is empty.
    pub fn of_date(&self, date: Date) -> Option<Night> {
        let at = |t: Time| -> Option<i64> {
            let ts = self.tz.to_timestamp(date.to_datetime(t)).ok()?;
            i64::try_from(ts.as_nanosecond()).ok()
        };
        let (start_ns, end_ns) = (at(self.start)?, at(self.end)?);
        (end_ns > start_ns).then_some(Night {
            date,
            start_ns,
            end_ns,
        })
    }

    /// The night whose window holds `t_ns`, if any.
    pub fn containing(&self, t_ns: i64) -> Option<Night> {
        let date = Timestamp::from_nanosecond(i128::from(t_ns))
            .ok()?
            .to_zoned_datetime(self.tz.clone())
            .date();
        self.of_date(date)
            .filter(|n| n.start_ns <= t_ns && t_ns < n.end_ns)
    }
}
