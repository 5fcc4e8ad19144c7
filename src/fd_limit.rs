//! The open-file limit (`RLIMIT_NOFILE`, getrlimit(2)): every gateway connection, API
//! client, InfluxDB connection, SQLite store and spool file is a file descriptor.
//!
//! Linux starts processes with a soft limit of 1024 (systemd's default too, with a hard
//! limit of 524288: systemd.exec(5) `LimitNOFILE=`); a poller of 10,000 gateways needs more.
//! The soft limit may be raised up to the hard limit without privileges, so `vigie run`,
//! `vigie demo` and `vigie simulate` do that at start-up ([`raise`]) and warn when the
//! result is still short of what the configuration needs ([`warn_if_short`]).

use std::collections::HashSet;

/// Descriptors needed besides one per gateway connection: the API's listener and clients,
/// InfluxDB and SMTP connections, the SQLite stores, spool files, stdio, the runtime.
pub const MARGIN: u64 = 256;

/// The open-file limits before and after [`raise`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NofileLimit {
    /// The soft limit found at start-up.
    pub before: u64,
    /// The soft limit now in force.
    pub soft: u64,
    /// The hard limit (the ceiling the soft limit may be raised to).
    pub hard: u64,
}

/// Raises the soft open-file limit to the hard limit (`rlimit::increase_nofile_limit`,
/// which also honours macOS's `kern.maxfilesperproc`).
///
/// Errors: getrlimit(2) or setrlimit(2) failed (`std::io::Error`).
pub fn raise() -> std::io::Result<NofileLimit> {
    let (before, _) = rlimit::Resource::NOFILE.get()?;
    rlimit::increase_nofile_limit(u64::MAX)?;
    let (soft, hard) = rlimit::Resource::NOFILE.get()?;
    Ok(NofileLimit { before, soft, hard })
}

/// [`raise`], logged: the limits before and after at info, a failure as a warning.
pub fn raise_and_log() -> Option<NofileLimit> {
    match raise() {
        Ok(l) => {
            tracing::info!(
                before = l.before,
                soft = l.soft,
                hard = l.hard,
                "open file limit (RLIMIT_NOFILE): soft limit raised from {} to {}",
                l.before,
                l.soft
            );
            Some(l)
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot raise the open file limit (RLIMIT_NOFILE)");
            None
        }
    }
}

/// Descriptors `vigie run` needs for `addresses`, the devices' `host:port`s: one connection
/// per distinct address, plus [`MARGIN`].
pub fn needed_for_poller<'a>(addresses: impl IntoIterator<Item = &'a str>) -> u64 {
    let connections = addresses.into_iter().collect::<HashSet<_>>().len() as u64;
    connections + MARGIN
}

/// Logs a warning when `limit`'s soft limit is below `needed` descriptors (`what` says for
/// what, e.g. "1200 gateway connections"). Returns true when it warned.
pub fn warn_if_short(limit: Option<NofileLimit>, needed: u64, what: &str) -> bool {
    let Some(l) = limit else {
        return false;
    };
    if l.soft >= needed {
        return false;
    }
    tracing::warn!(
        soft = l.soft,
        hard = l.hard,
        needed,
        "open file limit {} is below the {needed} descriptors {what} need: raise the hard limit (systemd: LimitNOFILE=; shell: ulimit -Hn)",
        l.soft
    );
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_descriptor_per_distinct_address_plus_the_margin() {
        let n = needed_for_poller(["10.0.0.1:502", "10.0.0.1:502", "10.0.0.2:502"]);
        assert_eq!(n, 2 + MARGIN);
    }

    #[test]
    fn warns_only_below_what_is_needed() {
        let l = Some(NofileLimit {
            before: 256,
            soft: 1024,
            hard: 1024,
        });
        assert!(warn_if_short(l, 1025, "test"));
        assert!(!warn_if_short(l, 1024, "test"));
        assert!(!warn_if_short(None, 1 << 20, "test"));
    }

    #[test]
    fn raising_leaves_the_soft_limit_at_the_hard_limit() {
        let l = match raise() {
            Ok(l) => l,
            Err(e) => panic!("{e}"),
        };
        assert!(l.soft >= l.before);
        assert_eq!(rlimit::Resource::NOFILE.get().ok(), Some((l.soft, l.hard)));
        assert_eq!(l.soft, l.hard);
    }
}
