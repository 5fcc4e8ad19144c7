//! The open-file limit at start-up (README "How vigie polls"): `vigie simulate` and
//! `vigie run`, started from a shell whose soft limit is 256 (`ulimit -Sn 256`), raise it to
//! the hard limit, which `/proc/PID/limits` of the running process shows, and log it.

mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use support::vigie::{Lines, VIGIE, collect_lines};
use support::{eventually, require};

const PROFILES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/plc-profiles");
const STARTUP: Duration = Duration::from_secs(60);
const LOW_SOFT_LIMIT: u64 = 256;

/// `vigie ARGS` exec'd by `sh` after `ulimit -Sn 256`, so the child's pid is vigie's.
/// Killed on drop.
struct Limited {
    child: Child,
    stdout: Lines,
    stderr: Lines,
}

impl Limited {
    fn start(args: &[&str], dir: &Path) -> Limited {
        let mut child = Command::new(require("sh"))
            .arg("-c")
            .arg(format!(r#"ulimit -Sn {LOW_SOFT_LIMIT} && exec "$0" "$@""#))
            .arg(VIGIE)
            .args(args)
            .current_dir(dir)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start sh -c 'ulimit …; exec vigie': {e}"));
        let stdout = collect_lines(child.stdout.take().unwrap());
        let stderr = collect_lines(child.stderr.take().unwrap());
        Limited {
            child,
            stdout,
            stderr,
        }
    }

    /// Waits for a stdout line starting with `prefix`, then returns the process's
    /// `Max open files` soft and hard limits from `/proc/PID/limits`.
    fn limits_once_up(&mut self, prefix: &str) -> (u64, u64) {
        eventually(STARTUP, &format!("a line `{prefix}…`"), || {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "vigie exited ({status}): {}",
                    self.stderr.0.lock().unwrap().join("\n")
                );
            }
            let out = self.stdout.0.lock().unwrap();
            out.iter().any(|l| l.starts_with(prefix)).then_some(())
        });
        let path = format!("/proc/{}/limits", self.child.id());
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let line = text
            .lines()
            .find(|l| l.starts_with("Max open files"))
            .unwrap_or_else(|| panic!("no `Max open files` in {path}:\n{text}"));
        let numbers: Vec<u64> = line
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        assert_eq!(numbers.len(), 2, "{line}");
        (numbers[0], numbers[1])
    }

    fn stderr(&self) -> String {
        self.stderr.0.lock().unwrap().join("\n")
    }
}

impl Drop for Limited {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The hard limit this test runs under (the shell keeps it; only the soft limit is lowered).
fn hard_limit() -> u64 {
    let (_, hard) = rlimit::Resource::NOFILE
        .get()
        .unwrap_or_else(|e| panic!("getrlimit: {e}"));
    assert!(
        hard > LOW_SOFT_LIMIT,
        "the hard limit {hard} leaves nothing to raise"
    );
    hard
}

fn check(vigie: &mut Limited, ready_prefix: &str) {
    let hard = hard_limit();
    let (soft_now, hard_now) = vigie.limits_once_up(ready_prefix);
    assert_eq!((soft_now, hard_now), (hard, hard), "/proc/PID/limits");
    let logged = format!("soft limit raised from {LOW_SOFT_LIMIT} to {hard}");
    let stderr = vigie.stderr();
    assert!(stderr.contains(&logged), "no {logged:?} in:\n{stderr}");
}

#[test]
fn simulate_raises_the_soft_limit_to_the_hard_limit() {
    let dir = tempfile::tempdir().unwrap();
    let sim = support::vigie::fixed_meter_sim_toml(dir.path());
    let mut vigie = Limited::start(&["simulate", "-c", sim.to_str().unwrap()], dir.path());
    check(&mut vigie, "serving METER on ");
}

#[test]
fn run_raises_the_soft_limit_to_the_hard_limit() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("vigie.toml"),
        format!(
            r#"[daemon]
profiles_dir = {PROFILES:?}
data_dir = "var"
[[sites]]
id = "PS-01"
kind = "pumping_station"
devices = [{{ id = "EM-001", profile = "eastron-sdm630", address = "127.0.0.1:9", unit_id = 1 }}]
"#
        ),
    )
    .unwrap();
    let mut vigie = Limited::start(
        &["run", "-c", "vigie.toml", "--listen", "127.0.0.1:0"],
        dir.path(),
    );
    check(&mut vigie, "vigie running: API on ");
}
