//! On-call rosters: who is on duty at an instant, read in the configured time zone.
//!
//! A shift covers, on each of its days, the wall-clock times from `from` (included) to `to`
//! (excluded). A shift whose `to` is not after its `from` runs past midnight: its
//! `mon-fri 18:00-08:00` covers Friday 18:00 to Saturday 08:00, and not Monday 00:00-08:00
//! (Sunday is not in its days). Times are local wall-clock times, so a `08:00` shift starts
//! at 08:00 local in summer and in winter alike; in the hour that a daylight-saving change
//! repeats, both passes count, and the hour that it skips does not exist.

use crate::config::notify::{RosterConfig, parse_clock, parse_days};
use jiff::Timestamp;
use jiff::tz::TimeZone;

const DAY: u32 = 24 * 60;

/// One shift, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Shift {
    /// Monday first.
    pub days: [bool; 7],
    /// Minutes after midnight.
    pub from: u32,
    /// Length in minutes, 1..=1440.
    pub len: u32,
    pub recipients: Vec<String>,
}

impl Shift {
    /// Parses a shift's `days`, `from` and `to`; the message says what is wrong.
    pub fn parse(days: &str, from: &str, to: &str, recipients: &[String]) -> Result<Shift, String> {
        let days = parse_days(days)?;
        let from = parse_clock(from, false)?;
        let to = parse_clock(to, true)?;
        let len = (to + DAY - from) % DAY;
        Ok(Shift {
            days,
            from,
            len: if len == 0 { DAY } else { len },
            recipients: recipients.to_vec(),
        })
    }

    /// True when the shift covers `minute` (after midnight) of weekday `day` (0 = Monday).
    pub fn covers(&self, day: usize, minute: u32) -> bool {
        let end = self.from + self.len;
        let today = self.days[day % 7] && minute >= self.from && minute < end.min(DAY);
        let from_yesterday = end > DAY && self.days[(day + 6) % 7] && minute < end - DAY;
        today || from_yesterday
    }
}

/// A roster, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Roster {
    pub id: String,
    pub shifts: Vec<Shift>,
}

impl Roster {
    /// Parses a roster; a shift that does not parse (which `vigie check` reports) is left
    /// out with a warning.
    pub fn from_config(cfg: &RosterConfig) -> Roster {
        let shifts = cfg
            .shifts
            .iter()
            .enumerate()
            .filter_map(
                |(i, s)| match Shift::parse(&s.days, &s.from, &s.to, &s.recipients) {
                    Ok(shift) => Some(shift),
                    Err(e) => {
                        tracing::warn!(roster = %cfg.id, shift = i, "roster shift ignored: {e}");
                        None
                    }
                },
            )
            .collect();
        Roster {
            id: cfg.id.clone(),
            shifts,
        }
    }

    /// The recipient ids on duty at `at`, in the roster's order, each once.
    pub fn on_duty(&self, tz: &TimeZone, at: Timestamp) -> Vec<String> {
        let local = at.to_zoned_datetime(tz.clone());
        let day = local.weekday().to_monday_zero_offset() as usize;
        let minute = local.hour() as u32 * 60 + local.minute() as u32;
        let mut out: Vec<String> = Vec::new();
        for s in self.shifts.iter().filter(|s| s.covers(day, minute)) {
            for r in &s.recipients {
                if !out.contains(r) {
                    out.push(r.clone());
                }
            }
        }
        out
    }
}

/// The wall-clock times of the week that no shift covers, per day: (weekday, from, to),
/// Monday = 0, minutes after midnight, `to` excluded. A gap running past midnight is one
/// entry per day.
pub fn week_gaps(shifts: &[Shift]) -> Vec<(usize, u32, u32)> {
    const WEEK: usize = 7 * DAY as usize;
    let mut covered = vec![false; WEEK];
    for s in shifts {
        for day in (0..7).filter(|&d| s.days[d]) {
            let start = day * DAY as usize + s.from as usize;
            for m in start..start + s.len as usize {
                covered[m % WEEK] = true;
            }
        }
    }
    let mut gaps = Vec::new();
    for (day, minutes) in covered.chunks(DAY as usize).enumerate() {
        let mut m = 0;
        while m < minutes.len() {
            if minutes[m] {
                m += 1;
                continue;
            }
            let start = m;
            while m < minutes.len() && !minutes[m] {
                m += 1;
            }
            gaps.push((day, start as u32, m as u32));
        }
    }
    gaps
}

/// `sat 08:00-18:00, sun 08:00-18:00` for [`week_gaps`].
pub fn describe_gaps(gaps: &[(usize, u32, u32)]) -> String {
    const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let clock = |m: u32| format!("{:02}:{:02}", m / 60, m % 60);
    gaps.iter()
        .map(|&(d, from, to)| format!("{} {}-{}", DAYS[d % 7], clock(from), clock(to)))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::notify::ShiftConfig;

    fn roster(shifts: &[(&str, &str, &str, &str)]) -> Roster {
        Roster::from_config(&RosterConfig {
            id: "r".into(),
            name: String::new(),
            shifts: shifts
                .iter()
                .map(|(who, days, from, to)| ShiftConfig {
                    recipients: vec![who.to_string()],
                    days: days.to_string(),
                    from: from.to_string(),
                    to: to.to_string(),
                })
                .collect(),
        })
    }

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn notify_roster_day_and_night_shifts_cross_midnight() {
        let r = roster(&[
            ("amina", "mon-fri", "08:00", "18:00"),
            ("youssef", "mon-sun", "18:00", "08:00"),
        ]);
        let utc = TimeZone::UTC;
        // 2025-06-02 is a Monday.
        assert_eq!(r.on_duty(&utc, at("2025-06-02T08:00:00Z")), ["amina"]);
        assert_eq!(r.on_duty(&utc, at("2025-06-02T17:59:59Z")), ["amina"]);
        assert_eq!(r.on_duty(&utc, at("2025-06-02T18:00:00Z")), ["youssef"]);
        assert_eq!(r.on_duty(&utc, at("2025-06-03T07:59:00Z")), ["youssef"]);
        assert_eq!(r.on_duty(&utc, at("2025-06-03T00:00:00Z")), ["youssef"]);
        // Saturday daytime: amina is off, youssef's Friday night ended at 08:00.
        assert!(r.on_duty(&utc, at("2025-06-07T12:00:00Z")).is_empty());
        // Monday 03:00 is Sunday night's shift (mon-sun includes Sunday).
        assert_eq!(r.on_duty(&utc, at("2025-06-02T03:00:00Z")), ["youssef"]);
    }

    #[test]
    fn notify_roster_night_shift_belongs_to_the_day_it_starts() {
        let r = roster(&[("karim", "mon-fri", "22:00", "06:00")]);
        let utc = TimeZone::UTC;
        // Friday 22:00 → Saturday 06:00 is covered.
        assert_eq!(r.on_duty(&utc, at("2025-06-07T05:00:00Z")), ["karim"]);
        // Monday 05:00 would be Sunday's night: not in mon-fri.
        assert!(r.on_duty(&utc, at("2025-06-02T05:00:00Z")).is_empty());
        // Sunday 23:00: not a shift day.
        assert!(r.on_duty(&utc, at("2025-06-08T23:00:00Z")).is_empty());
        assert_eq!(r.on_duty(&utc, at("2025-06-02T23:00:00Z")), ["karim"]);
    }

    #[test]
    fn notify_roster_weekend_lists_and_whole_days() {
        let r = roster(&[
            ("sara", "sat,sun", "00:00", "24:00"),
            ("omar", "fri-mon", "09:00", "09:00"),
        ]);
        let utc = TimeZone::UTC;
        assert_eq!(
            r.on_duty(&utc, at("2025-06-07T00:00:00Z")),
            ["sara", "omar"]
        );
        // omar's Monday 09:00 shift lasts 24 h, to Tuesday 09:00.
        assert_eq!(r.on_duty(&utc, at("2025-06-03T08:59:00Z")), ["omar"]);
        assert!(r.on_duty(&utc, at("2025-06-03T09:00:00Z")).is_empty());
        assert!(r.on_duty(&utc, at("2025-06-04T12:00:00Z")).is_empty());
    }

    #[test]
    fn notify_roster_reads_local_time_across_daylight_saving() {
        let Ok(paris) = TimeZone::get("Europe/Paris") else {
            panic!("time zone database: Europe/Paris missing (install tzdata)");
        };
        let r = roster(&[("amina", "mon-sun", "08:00", "18:00")]);
        // Winter (UTC+1): 08:00 local is 07:00 UTC.
        assert!(r.on_duty(&paris, at("2025-01-15T06:59:00Z")).is_empty());
        assert_eq!(r.on_duty(&paris, at("2025-01-15T07:00:00Z")), ["amina"]);
        // Summer (UTC+2): 08:00 local is 06:00 UTC.
        assert_eq!(r.on_duty(&paris, at("2025-07-15T06:00:00Z")), ["amina"]);
        assert!(r.on_duty(&paris, at("2025-07-15T16:00:00Z")).is_empty());
        // The night of the spring change (2025-03-30, 02:00 → 03:00): a 22:00-06:00 shift
        // still ends at 06:00 local, which is 04:00 UTC.
        let night = roster(&[("youssef", "sat", "22:00", "06:00")]);
        assert_eq!(
            night.on_duty(&paris, at("2025-03-30T03:59:00Z")),
            ["youssef"]
        );
        assert!(night.on_duty(&paris, at("2025-03-30T04:00:00Z")).is_empty());
        // Casablanca: UTC+1 except during Ramadan (UTC+0); 2025-03-10 is in Ramadan.
        let Ok(casa) = TimeZone::get("Africa/Casablanca") else {
            panic!("time zone database: Africa/Casablanca missing (install tzdata)");
        };
        assert_eq!(r.on_duty(&casa, at("2025-03-10T08:00:00Z")), ["amina"]);
        assert!(r.on_duty(&casa, at("2025-03-10T07:30:00Z")).is_empty());
        assert_eq!(r.on_duty(&casa, at("2025-06-10T07:30:00Z")), ["amina"]);
    }

    #[test]
    fn notify_roster_week_gaps_follow_night_shifts_past_midnight() {
        let r = roster(&[
            ("amina", "mon-fri", "08:00", "18:00"),
            ("youssef", "mon-sun", "18:00", "08:00"),
        ]);
        let gaps = week_gaps(&r.shifts);
        assert_eq!(gaps, [(5, 480, 1080), (6, 480, 1080)]);
        assert_eq!(describe_gaps(&gaps), "sat 08:00-18:00, sun 08:00-18:00");
        // A Friday-night shift covers Saturday morning; Monday morning is Sunday night's.
        let r = roster(&[("karim", "mon-fri", "22:00", "06:00")]);
        let gaps = describe_gaps(&week_gaps(&r.shifts));
        assert!(
            gaps.starts_with("mon 00:00-22:00, tue 06:00-22:00,")
                && gaps.ends_with("sat 06:00-24:00, sun 00:00-24:00"),
            "{gaps}"
        );
        let all = roster(&[("sara", "mon-sun", "07:00", "07:00")]);
        assert!(week_gaps(&all.shifts).is_empty());
    }

    #[test]
    fn notify_roster_parses_days_and_times() {
        assert_eq!(
            parse_days("mon-fri").unwrap(),
            [true, true, true, true, true, false, false]
        );
        assert_eq!(
            parse_days("fri-mon").unwrap(),
            [true, false, false, false, true, true, true]
        );
        assert_eq!(
            parse_days("Saturday, sun").unwrap(),
            [false, false, false, false, false, true, true]
        );
        assert!(parse_days("mon-fry").is_err());
        assert!(parse_days("").is_err());
        assert!(parse_days("mo").is_err());
        assert_eq!(parse_clock("08:30", false), Ok(510));
        assert_eq!(parse_clock("24:00", true), Ok(1440));
        assert!(parse_clock("24:00", false).is_err());
        assert!(parse_clock("8h", false).is_err());
        assert!(parse_clock("12:60", false).is_err());
        assert!(parse_clock("12:5", false).is_err());
    }
}
