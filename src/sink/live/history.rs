//! The API's short history, kept compact: the times of each device's last `n` polls once,
//! and per point only its value at each of them (8 bytes a sample instead of a time and an
//! optional value each: 100,000 points × 120 samples take 96 MB, not 288).
//!
//! Every sample of one poll carries that poll's scheduled time, so a device's points share
//! their times. A point that got no sample in one of its device's polls (not expected: a
//! poll pushes one sample per point) shows no entry for it rather than a wrong one.

/// A bad sample's value: kept as an entry with no value.
const BAD: u64 = 0x7ff8_0000_0000_0bad;
/// No sample of this point in that poll: not an entry at all.
const MISSING: u64 = 0x7ff8_0000_0000_0000;

/// The times of one device's last polls.
#[derive(Debug)]
pub struct DevicePolls {
    /// Scheduled times (ns since the epoch), poll `k` (1-based) at `(k - 1) % n`.
    times: Box<[i64]>,
    /// Polls recorded since start-up.
    polls: u64,
}

/// One point's values at its device's last polls.
#[derive(Debug)]
pub struct PointValues {
    /// `f64` bits, poll `k` at `(k - 1) % n`; [`BAD`] or [`MISSING`] when not a number.
    values: Box<[u64]>,
    /// The poll of its newest value (0: none yet).
    last_poll: u64,
}

impl DevicePolls {
    /// Room for `n` polls.
    pub fn new(n: usize) -> DevicePolls {
        DevicePolls {
            times: vec![0; n].into_boxed_slice(),
            polls: 0,
        }
    }

    fn slot(&self, poll: u64) -> usize {
        ((poll - 1) % self.times.len() as u64) as usize
    }
}

impl PointValues {
    /// Room for `n` values.
    pub fn new(n: usize) -> PointValues {
        PointValues {
            values: vec![MISSING; n].into_boxed_slice(),
            last_poll: 0,
        }
    }
}

/// Records `value` (None: a bad sample) of a point of `device` at the poll of `time_ns`.
/// A time other than the device's newest starts a new poll (a clock stepped back included).
pub fn push(device: &mut DevicePolls, point: &mut PointValues, time_ns: i64, value: Option<f64>) {
    let n = device.times.len() as u64;
    if n == 0 || point.values.len() as u64 != n {
        return;
    }
    if device.polls == 0 || device.times[device.slot(device.polls)] != time_ns {
        device.polls += 1;
        let s = device.slot(device.polls);
        device.times[s] = time_ns;
    }
    let poll = device.polls;
    // The polls this point missed since its last value, at most the whole ring.
    let first_missed = point.last_poll.max(poll.saturating_sub(n)) + 1;
    for k in first_missed..poll {
        point.values[device.slot(k)] = MISSING;
    }
    point.values[device.slot(poll)] = value.filter(|v| !v.is_nan()).map_or(BAD, f64::to_bits);
    point.last_poll = poll;
}

/// The point's history, oldest first: (scheduled time ns, value; None when bad).
pub fn read(device: &DevicePolls, point: &PointValues) -> Vec<(i64, Option<f64>)> {
    let n = device.times.len() as u64;
    if n == 0 || point.values.len() as u64 != n {
        return Vec::new();
    }
    let first = device.polls.saturating_sub(n) + 1;
    (first..=device.polls.min(point.last_poll))
        .filter_map(|k| {
            let s = device.slot(k);
            match point.values[s] {
                MISSING => None,
                BAD => Some((device.times[s], None)),
                bits => Some((device.times[s], Some(f64::from_bits(bits)))),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_n_samples_oldest_first_with_bad_ones_as_no_value() {
        let (mut d, mut p) = (DevicePolls::new(3), PointValues::new(3));
        for (t, v) in [(1, Some(1.0)), (2, None), (3, Some(3.0)), (4, Some(4.5))] {
            push(&mut d, &mut p, t, v);
        }
        assert_eq!(
            read(&d, &p),
            vec![(2, None), (3, Some(3.0)), (4, Some(4.5))]
        );
    }

    #[test]
    fn points_of_one_device_share_its_poll_times() {
        let (mut d, mut a, mut b) = (
            DevicePolls::new(4),
            PointValues::new(4),
            PointValues::new(4),
        );
        for t in [10, 20, 30] {
            push(&mut d, &mut a, t, Some(t as f64));
            push(&mut d, &mut b, t, Some(-t as f64));
        }
        assert_eq!(
            read(&d, &a),
            vec![(10, Some(10.0)), (20, Some(20.0)), (30, Some(30.0))]
        );
        assert_eq!(
            read(&d, &b),
            vec![(10, Some(-10.0)), (20, Some(-20.0)), (30, Some(-30.0))]
        );
    }

    #[test]
    fn a_point_missing_from_polls_shows_no_entry_for_them() {
        let (mut d, mut a, mut b) = (
            DevicePolls::new(4),
            PointValues::new(4),
            PointValues::new(4),
        );
        push(&mut d, &mut a, 1, Some(1.0));
        push(&mut d, &mut b, 1, Some(7.0));
        push(&mut d, &mut a, 2, Some(2.0));
        push(&mut d, &mut a, 3, Some(3.0));
        // b has nothing at 2 and 3, and nothing yet at 4.
        push(&mut d, &mut a, 4, Some(4.0));
        assert_eq!(read(&d, &b), vec![(1, Some(7.0))]);
        push(&mut d, &mut b, 4, Some(8.0));
        assert_eq!(read(&d, &b), vec![(1, Some(7.0)), (4, Some(8.0))]);
        // Far behind: its old value wrapped out of the ring, no stale value comes back.
        for t in 5..=12 {
            push(&mut d, &mut a, t, Some(t as f64));
        }
        push(&mut d, &mut b, 13, Some(9.0));
        assert_eq!(read(&d, &b), vec![(13, Some(9.0))]);
        assert_eq!(read(&d, &a).len(), 3);
    }

    #[test]
    fn a_clock_stepped_back_starts_a_new_poll_and_nan_is_bad() {
        let (mut d, mut p) = (DevicePolls::new(3), PointValues::new(3));
        push(&mut d, &mut p, 100, Some(1.0));
        push(&mut d, &mut p, 50, Some(f64::NAN));
        assert_eq!(read(&d, &p), vec![(100, Some(1.0)), (50, None)]);
    }

    #[test]
    fn no_history_kept_when_n_is_zero() {
        let (mut d, mut p) = (DevicePolls::new(0), PointValues::new(0));
        push(&mut d, &mut p, 1, Some(1.0));
        assert!(read(&d, &p).is_empty());
    }
}
