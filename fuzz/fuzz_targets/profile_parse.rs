//! Profile parsing: any text through `Profile::parse` (TOML, then every validation rule).
//! An accepted profile must be plannable: every point in exactly one read, each read
//! within the Modbus limits and covering its points.

#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;
use vigie::poll::plan::plan;
use vigie::profile::{Profile, ProfileError};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let profile = match Profile::parse("fuzz", Path::new("fuzz.toml"), text) {
        Ok(p) => p,
        Err(e) => {
            // The message names the file, whatever went wrong.
            assert!(e.to_string().contains("fuzz.toml"), "{e}");
            if let ProfileError::Parse { line: Some(l), .. }
            | ProfileError::Invalid { line: Some(l), .. } = e
            {
                assert!(l >= 1 && l <= text.lines().count() + 1, "line {l}");
            }
            return;
        }
    };
    let mut seen = vec![0u32; profile.points.len()];
    for r in plan(&profile) {
        assert!(
            r.count >= 1 && r.count <= r.register.max_per_read(),
            "{r:?}"
        );
        for &i in &r.points {
            let p = &profile.points[i];
            seen[i] += 1;
            assert_eq!(p.register, r.register);
            assert!(p.pdu_address >= r.start);
            assert!(
                u32::from(p.pdu_address) + u32::from(p.count)
                    <= u32::from(r.start) + u32::from(r.count),
                "{p:?} outside {r:?}"
            );
        }
    }
    assert!(seen.iter().all(|&n| n == 1), "{seen:?}");
});
