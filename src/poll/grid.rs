//! The poll grid: a device's slots are `k × poll_interval + phase` ns since the Unix epoch.
//!
//! The phase is 0 by default (every grid on the whole second for a 1 s `poll_interval`).
//! With `[daemon] poll_spread = true` each connection (`host:port`) gets its own phase, a
//! stable function of its address, so that thousands of connections do not all fire on the
//! same instant: FNV-1a 64 of the address's UTF-8 bytes (exactly as written in `vigie.toml`,
//! e.g. `127.0.0.1:5020`), modulo the device's `poll_interval` in ns, rounded down to a whole
//! millisecond. It depends on nothing else (not the process, the host or the start time), so
//! it is the same across restarts and machines, and the benchmark's references compute the
//! same one (`examples/bench_floor.rs`, `benches/pymodbus_poller.py`).
//!
//! The devices behind one connection (units of a gateway) share it, one request at a time,
//! so with the same phase the last unit's poll would start only after all the others' replies
//! (at 10 units of 2 requests, 18 round trips late). With `poll_spread` they are spaced
//! evenly over the interval instead: the `k`-th of the connection's `n` devices (0-based, in
//! `vigie.toml` order) is shifted by a further `k × poll_interval / n`, whole ms
//! ([`device_phase_ns`]).

/// FNV-1a 64 offset basis (<http://www.isthe.com/chongo/tech/comp/fnv/>).
const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
/// FNV-1a 64 prime, 2^40 + 2^8 + 0xb3.
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
const NS_PER_MS: i64 = 1_000_000;

/// FNV-1a 64 of `bytes`: for each byte, xor it into the hash, then multiply by the prime
/// (wrapping). Stable: no per-process key, unlike std's `RandomState`.
pub fn fnv1a_64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(FNV_OFFSET_BASIS, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(FNV_PRIME)
    })
}

/// The phase of the grid of a device at `address` (`host:port`) polled every `interval_ns`
/// (ns, > 0): `fnv1a_64(address) mod interval_ns`, rounded down to a whole ms. In ns, in
/// `[0, interval_ns)`, a multiple of 1 ms. Panics if `interval_ns <= 0`.
pub fn phase_ns(address: &str, interval_ns: i64) -> i64 {
    assert!(interval_ns > 0, "poll interval must be positive");
    // `interval_ns` is positive, so it fits in a u64 and the remainder in an i64.
    let within = (fnv1a_64(address.as_bytes()) % interval_ns as u64) as i64;
    within - within % NS_PER_MS
}

/// The phase of the `index`-th (0-based) of the `count` devices at `address`, each polled
/// every `interval_ns` (ns, > 0): [`phase_ns`] plus `index × interval_ns / count`, modulo
/// `interval_ns`, rounded down to a whole ms. In ns, in `[0, interval_ns)`. The first device's
/// phase is the connection's. Panics if `interval_ns <= 0` or `index >= count`.
pub fn device_phase_ns(address: &str, index: usize, count: usize, interval_ns: i64) -> i64 {
    assert!(index < count, "device {index} of {count}");
    let spacing = i128::from(interval_ns) * index as i128 / count as i128;
    // `spacing < interval_ns`, so it fits in an i64, and the sum in [0, 2 × interval_ns).
    let within = (phase_ns(address, interval_ns) + spacing as i64) % interval_ns;
    within - within % NS_PER_MS
}

/// The first slot of the grid `k × interval_ns + phase_ns` at or after `now_ns` (all in ns
/// since the epoch; `interval_ns > 0`, `0 <= phase_ns < interval_ns`).
pub fn next_slot(now_ns: i64, interval_ns: i64, phase_ns: i64) -> i64 {
    (now_ns - phase_ns + interval_ns - 1).div_euclid(interval_ns) * interval_ns + phase_ns
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    #[test]
    fn fnv1a_64_matches_the_reference_vectors() {
        // From the FNV test suite (isthe.com/chongo/src/fnv/test_fnv.c).
        assert_eq!(fnv1a_64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a_64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a_64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn devices_of_one_connection_are_spaced_evenly_over_the_interval() {
        let address = "127.0.0.1:5020";
        let first = phase_ns(address, S);
        assert_eq!(first, 54_000_000);
        assert_eq!(device_phase_ns(address, 0, 1, S), first);
        assert_eq!(device_phase_ns(address, 0, 10, S), first);
        let phases: Vec<i64> = (0..10)
            .map(|k| device_phase_ns(address, k, 10, S))
            .collect();
        assert_eq!(phases[1], 154_000_000);
        assert_eq!(phases[9], 954_000_000);
        // Three devices: a third of a second apart, in whole ms, wrapping past the second.
        let address = "[::1]:1502";
        assert_eq!(phase_ns(address, S), 637_000_000);
        assert_eq!(
            [0, 1, 2].map(|k| device_phase_ns(address, k, 3, S)),
            [637_000_000, 970_000_000, 303_000_000]
        );
        for (count, interval) in [(7, S), (250, S), (3, 15 * S), (2, 10_000_000)] {
            for k in 0..count {
                let p = device_phase_ns("gw-north.example:502", k, count, interval);
                assert!((0..interval).contains(&p), "{k}/{count}: {p}");
                assert_eq!(p % 1_000_000, 0, "{k}/{count}: {p} is not whole ms");
            }
        }
    }

    #[test]
    fn phase_is_stable_whole_ms_and_within_the_interval() {
        // The same value every run and on every machine: literals (also computed by
        // benches/pymodbus_poller.py's Python FNV-1a: 4347384142054510219 mod 1e9 = 54510219).
        assert_eq!(phase_ns("127.0.0.1:5020", S), 54_000_000);
        assert_eq!(phase_ns("127.0.0.1:20000", S), 19_000_000);
        assert_eq!(phase_ns("[::1]:1502", S), 637_000_000);
        for (address, interval) in [
            ("127.0.0.1:5020", S),
            ("10.0.0.7:502", 10 * 1_000_000),
            ("[::1]:1502", 15 * S),
            ("gw-north.example:502", 86_400 * S),
        ] {
            let p = phase_ns(address, interval);
            assert_eq!(p, phase_ns(address, interval), "{address}");
            assert!(
                (0..interval).contains(&p),
                "{address}: {p} not in [0, {interval})"
            );
            assert_eq!(p % 1_000_000, 0, "{address}: {p} is not whole ms");
        }
        assert_ne!(
            phase_ns("127.0.0.1:5020", S),
            phase_ns("127.0.0.1:5021", S),
            "neighbouring ports share a phase"
        );
    }

    #[test]
    fn next_slot_without_phase_is_on_the_epoch_grid() {
        assert_eq!(next_slot(1_500, 1_000, 0), 2_000);
        assert_eq!(next_slot(2_000, 1_000, 0), 2_000);
        assert_eq!(next_slot(2_001, 1_000, 0), 3_000);
        assert_eq!(next_slot(-1, 1_000, 0), 0);
    }

    #[test]
    fn next_slot_with_a_phase() {
        // Grid 1 s + 250 ms: … 9.25 s, 10.25 s, 11.25 s …
        let phase = 250_000_000;
        assert_eq!(next_slot(10 * S, S, phase), 10 * S + phase);
        assert_eq!(next_slot(10 * S + phase, S, phase), 10 * S + phase);
        assert_eq!(next_slot(10 * S + phase + 1, S, phase), 11 * S + phase);
        assert_eq!(next_slot(10 * S + phase - 1, S, phase), 10 * S + phase);
        assert_eq!(next_slot(0, S, phase), phase);
        // Every slot is k × interval + phase, whatever `now` is.
        for now in (0..3 * S).step_by(77_777_777) {
            let slot = next_slot(now, S, phase);
            assert!(slot >= now && slot - now < S, "{now} → {slot}");
            assert_eq!((slot - phase).rem_euclid(S), 0, "{now} → {slot}");
        }
    }

    #[test]
    fn phases_of_5500_connections_are_spread_over_the_second() {
        // The benchmark's 10,000 devices: 5,500 ports from 20000 on loopback.
        let mut bins = [0u32; 10];
        for port in 20_000..25_500 {
            let p = phase_ns(&format!("127.0.0.1:{port}"), S);
            bins[(p / (S / 10)) as usize] += 1;
        }
        // 550 expected per 100 ms; a uniform draw stays within ±20 % (σ ≈ 22).
        for (i, &n) in bins.iter().enumerate() {
            assert!((440..=660).contains(&n), "bin {i}: {n} of 5,500 ({bins:?})");
        }
        // And no crowding at a finer scale: at most 3 × the mean in any 10 ms.
        let mut fine = [0u32; 100];
        for port in 20_000..25_500 {
            fine[(phase_ns(&format!("127.0.0.1:{port}"), S) / (S / 100)) as usize] += 1;
        }
        let most = fine.iter().max().copied().unwrap_or(0);
        assert!(most <= 165, "{most} of 5,500 in one 10 ms slice");
    }
}
