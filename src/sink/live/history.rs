//! The API's short history, kept compact: the times of each device's last `n` polls once,
//! and per point only its value at each of them (8 bytes a sample instead of a time and an
//! optional value each: 100,000 points × 120 samples take 96 MB, not 288), in two flat
//! arrays rather than one allocation per point.
//!
//! Every sample of one poll carries that poll's scheduled time, so a device's points share
//! their times. A point that got no sample in one of its device's polls (not expected: a
//! poll pushes one sample per point) shows no entry for it rather than a wrong one.

/// A bad sample's value: kept as an entry with no value.
const BAD: u64 = 0x7ff8_0000_0000_0bad;
/// No sample of this point in that poll: not an entry at all.
const MISSING: u64 = 0x7ff8_0000_0000_0000;

/// Every point's short history: the last `n` polls of each device (their times, once) and
/// each point's value at them. Two flat arrays allocated at start, never growing: a device's
/// times at `device × n ..`, a point's values at `point × n ..`, poll `k` (1-based) at
/// `(k - 1) % n` in each.
#[derive(Debug)]
pub struct History {
    /// Polls kept per device.
    n: usize,
    /// Scheduled times (ns since the epoch), `n` per device.
    times: Vec<i64>,
    /// Polls recorded per device since start-up.
    polls: Vec<u64>,
    /// `f64` bits, `n` per point; [`BAD`] or [`MISSING`] when not a number.
    values: Vec<u64>,
    /// Per point, the poll of its newest value (0: none yet).
    last_poll: Vec<u64>,
}

impl History {
    /// Room for `n` polls of `devices` devices and their `points` points.
    pub fn new(devices: usize, points: usize, n: usize) -> History {
        History {
            n,
            times: vec![0; devices * n],
            polls: vec![0; devices],
            values: vec![MISSING; points * n],
            last_poll: vec![0; points],
        }
    }

    fn slot(&self, poll: u64) -> usize {
        ((poll - 1) % self.n as u64) as usize
    }

    /// Records `value` (None: a bad sample) of `point` of `device` at the poll of `time_ns`.
    /// A time other than the device's newest starts a new poll (a clock stepped back
    /// included). An index out of range, or `n = 0`, records nothing.
    pub fn push(&mut self, device: usize, point: usize, time_ns: i64, value: Option<f64>) {
        let n = self.n;
        if n == 0 || device >= self.polls.len() || point >= self.last_poll.len() {
            return;
        }
        let (times, values) = (device * n, point * n);
        let polls = self.polls[device];
        if polls == 0 || self.times[times + self.slot(polls)] != time_ns {
            self.polls[device] = polls + 1;
            let s = self.slot(polls + 1);
            self.times[times + s] = time_ns;
        }
        let poll = self.polls[device];
        // The polls this point missed since its last value, at most the whole ring.
        let first_missed = self.last_poll[point].max(poll.saturating_sub(n as u64)) + 1;
        for k in first_missed..poll {
            let s = self.slot(k);
            self.values[values + s] = MISSING;
        }
        let s = self.slot(poll);
        self.values[values + s] = value.filter(|v| !v.is_nan()).map_or(BAD, f64::to_bits);
        self.last_poll[point] = poll;
    }

    /// `point`'s history (a point of `device`), oldest first: (scheduled time ns, value; None
    /// when bad). Empty for an index out of range.
    pub fn read(&self, device: usize, point: usize) -> Vec<(i64, Option<f64>)> {
        let n = self.n;
        if n == 0 || device >= self.polls.len() || point >= self.last_poll.len() {
            return Vec::new();
        }
        let (times, values) = (device * n, point * n);
        let polls = self.polls[device];
        let first = polls.saturating_sub(n as u64) + 1;
        (first..=polls.min(self.last_poll[point]))
            .filter_map(|k| {
                let s = self.slot(k);
                let time = self.times[times + s];
                match self.values[values + s] {
                    MISSING => None,
                    BAD => Some((time, None)),
                    bits => Some((time, Some(f64::from_bits(bits)))),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_n_samples_oldest_first_with_bad_ones_as_no_value() {
        let mut h = History::new(1, 1, 3);
        for (t, v) in [(1, Some(1.0)), (2, None), (3, Some(3.0)), (4, Some(4.5))] {
            h.push(0, 0, t, v);
        }
        assert_eq!(
            h.read(0, 0),
            vec![(2, None), (3, Some(3.0)), (4, Some(4.5))]
        );
    }

    #[test]
    fn points_of_one_device_share_its_poll_times() {
        let mut h = History::new(1, 2, 4);
        for t in [10, 20, 30] {
            h.push(0, 0, t, Some(t as f64));
            h.push(0, 1, t, Some(-t as f64));
        }
        assert_eq!(
            h.read(0, 0),
            vec![(10, Some(10.0)), (20, Some(20.0)), (30, Some(30.0))]
        );
        assert_eq!(
            h.read(0, 1),
            vec![(10, Some(-10.0)), (20, Some(-20.0)), (30, Some(-30.0))]
        );
    }

    #[test]
    fn devices_and_points_do_not_share_slots() {
        // Two devices of two points each, one ring of 2 each.
        let mut h = History::new(2, 4, 2);
        for t in 1..=3 {
            h.push(0, 0, t, Some(t as f64));
            h.push(0, 1, t, Some(10.0 * t as f64));
            h.push(1, 2, 100 + t, Some(-(t as f64)));
        }
        assert_eq!(h.read(0, 0), vec![(2, Some(2.0)), (3, Some(3.0))]);
        assert_eq!(h.read(0, 1), vec![(2, Some(20.0)), (3, Some(30.0))]);
        assert_eq!(h.read(1, 2), vec![(102, Some(-2.0)), (103, Some(-3.0))]);
        assert!(h.read(1, 3).is_empty());
        // Out of range: nothing recorded, nothing read, no panic.
        h.push(2, 0, 1, Some(1.0));
        h.push(0, 4, 1, Some(1.0));
        assert!(h.read(2, 0).is_empty());
        assert!(h.read(0, 4).is_empty());
    }

    #[test]
    fn a_point_missing_from_polls_shows_no_entry_for_them() {
        let mut h = History::new(1, 2, 4);
        let (a, b) = (0, 1);
        h.push(0, a, 1, Some(1.0));
        h.push(0, b, 1, Some(7.0));
        h.push(0, a, 2, Some(2.0));
        h.push(0, a, 3, Some(3.0));
        // b has nothing at 2 and 3, and nothing yet at 4.
        h.push(0, a, 4, Some(4.0));
        assert_eq!(h.read(0, b), vec![(1, Some(7.0))]);
        h.push(0, b, 4, Some(8.0));
        assert_eq!(h.read(0, b), vec![(1, Some(7.0)), (4, Some(8.0))]);
        // Far behind: its old value wrapped out of the ring, no stale value comes back.
        for t in 5..=12 {
            h.push(0, a, t, Some(t as f64));
        }
        h.push(0, b, 13, Some(9.0));
        assert_eq!(h.read(0, b), vec![(13, Some(9.0))]);
        assert_eq!(h.read(0, a).len(), 3);
    }

    #[test]
    fn a_clock_stepped_back_starts_a_new_poll_and_nan_is_bad() {
        let mut h = History::new(1, 1, 3);
        h.push(0, 0, 100, Some(1.0));
        h.push(0, 0, 50, Some(f64::NAN));
        assert_eq!(h.read(0, 0), vec![(100, Some(1.0)), (50, None)]);
    }

    #[test]
    fn no_history_kept_when_n_is_zero() {
        let mut h = History::new(1, 1, 0);
        h.push(0, 0, 1, Some(1.0));
        assert!(h.read(0, 0).is_empty());
    }
}
