//! glibc's malloc arenas. glibc gives a thread that finds the arenas busy an arena of its own,
//! up to 8 per core (mallopt(3) `M_ARENA_MAX`), and memory freed into one arena is not
//! reused by another. vigie's busy threads are the runtime's workers, one per core; its
//! allocations are small and mostly served from each thread's tcache. So vigie limits glibc
//! to one arena per core (at least 2): at 10,000 devices on 2 cores that is about 7 MB less
//! resident memory than glibc's default of 16 (BENCHMARKS.md "Memory"). An operator's own
//! setting, `MALLOC_ARENA_MAX` or `GLIBC_TUNABLES=glibc.malloc.arena_max=N`, is left alone.

use std::ffi::OsStr;

/// The arena limit to set for `cores` cores, given the environment's `MALLOC_ARENA_MAX` and
/// `GLIBC_TUNABLES` (None: unset): `cores`, at least 2; none when the operator set a limit.
pub fn arena_limit(
    cores: usize,
    malloc_arena_max: Option<&OsStr>,
    glibc_tunables: Option<&OsStr>,
) -> Option<i32> {
    let tuned = glibc_tunables.is_some_and(|t| t.to_string_lossy().contains("malloc.arena_max"));
    if malloc_arena_max.is_some() || tuned {
        return None;
    }
    Some(i32::try_from(cores.max(2)).unwrap_or(i32::MAX))
}

/// Sets glibc's arena limit ([`arena_limit`]) for the whole process; call it first in
/// `main`, before any thread starts. Returns the limit set, or None when none was (the
/// environment sets one, mallopt(3) refused, or the C library is not glibc).
pub fn limit_arenas() -> Option<i32> {
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    let limit = arena_limit(
        cores,
        std::env::var_os("MALLOC_ARENA_MAX").as_deref(),
        std::env::var_os("GLIBC_TUNABLES").as_deref(),
    )?;
    set_arena_max(limit).then_some(limit)
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn set_arena_max(limit: i32) -> bool {
    // SAFETY: mallopt(3) takes two integers and changes only the allocator's own settings,
    // under its own lock; it has no memory-safety precondition. It returns 1 on success.
    unsafe { libc::mallopt(libc::M_ARENA_MAX, limit) == 1 }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn set_arena_max(_limit: i32) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_arena_per_core_at_least_two_unless_the_operator_set_a_limit() {
        assert_eq!(arena_limit(1, None, None), Some(2));
        assert_eq!(arena_limit(2, None, None), Some(2));
        assert_eq!(arena_limit(16, None, None), Some(16));
        let set = Some(OsStr::new("8"));
        assert_eq!(arena_limit(2, set, None), None);
        assert_eq!(arena_limit(2, Some(OsStr::new("")), None), None);
        let tunables = Some(OsStr::new(
            "glibc.malloc.tcache_count=0:glibc.malloc.arena_max=4",
        ));
        assert_eq!(arena_limit(2, None, tunables), None);
        let other = Some(OsStr::new("glibc.malloc.tcache_count=0"));
        assert_eq!(arena_limit(2, None, other), Some(2));
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn glibc_accepts_the_limit() {
        assert!(set_arena_max(2));
    }
}
