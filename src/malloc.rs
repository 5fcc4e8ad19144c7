//! glibc's malloc arenas. glibc gives a thread that finds the main arena busy an arena of its
//! own, up to 8 per core (mallopt(3) `M_ARENA_MAX`); memory freed into one arena is not
//! reused by another. vigie's threads are few and fixed (the runtime's workers, a blocking
//! pool), its allocations small and mostly served from each thread's tcache, so the extra
//! arenas buy little speed and cost resident memory: at 10,000 devices, two arenas instead
//! of the default hold about 7 MB less (BENCHMARKS.md). The same setting as the
//! `MALLOC_ARENA_MAX=2` that operators commonly put in a service's environment; an
//! operator's own `MALLOC_ARENA_MAX` is left to glibc.

/// Arenas vigie asks glibc for when the environment does not say.
pub const ARENAS: i32 = 2;

/// The arena limit to set, given the environment's `MALLOC_ARENA_MAX` (None: unset): none
/// when the operator set one (glibc reads it at start-up).
pub fn arena_limit(env: Option<&std::ffi::OsStr>) -> Option<i32> {
    match env {
        Some(_) => None,
        None => Some(ARENAS),
    }
}

/// Sets glibc's arena limit ([`arena_limit`]) for the whole process; call it first in
/// `main`, before any thread starts. Returns the limit set, or None when none was (the
/// environment sets one, mallopt(3) refused, or the C library is not glibc).
pub fn limit_arenas() -> Option<i32> {
    let limit = arena_limit(std::env::var_os("MALLOC_ARENA_MAX").as_deref())?;
    set_arena_max(limit).then_some(limit)
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn set_arena_max(limit: i32) -> bool {
    // SAFETY: mallopt(3) takes two integers and touches only the allocator's own settings,
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
    fn the_operators_malloc_arena_max_wins() {
        assert_eq!(arena_limit(None), Some(ARENAS));
        assert_eq!(arena_limit(Some(std::ffi::OsStr::new("8"))), None);
        assert_eq!(arena_limit(Some(std::ffi::OsStr::new(""))), None);
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn glibc_accepts_the_limit() {
        assert!(set_arena_max(ARENAS));
    }
}
