//! `vigie` itself as a child process of a test, its output collected line by line.
//!
//! Use from a test file that declares `mod support;` with
//! `use support::vigie::VigieChild;`.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use super::{eventually, require};

/// The `vigie` binary that Cargo built for the integration tests.
pub const VIGIE: &str = env!("CARGO_BIN_EXE_vigie");

/// Lines read from a stream until its end, and the thread reading them.
pub type Lines = (Arc<Mutex<Vec<String>>>, JoinHandle<()>);

/// Reads `from` line by line on a new thread until its end (or the first line that is
/// not UTF-8); returns the lines read so far, growing while the thread runs, and the
/// thread.
pub fn collect_lines(from: impl Read + Send + 'static) -> Lines {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    let reader = thread::spawn(move || {
        for line in BufReader::new(from).lines() {
            let Ok(line) = line else { break };
            sink.lock().unwrap().push(line);
        }
    });
    (lines, reader)
}

/// `vigie ARGS` as a child: stdout and stderr collected line by line. Killed on drop;
/// a watchdog shell sends it SIGTERM if the test process dies without dropping it.
pub struct VigieChild {
    child: Child,
    watchdog: Option<(Child, ChildStdin)>,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
    readers: Vec<JoinHandle<()>>,
}

impl VigieChild {
    /// Starts `vigie ARGS` in `dir`, with the test process's environment and no
    /// standard input. Panics when it cannot start.
    pub fn spawn(args: &[&str], dir: &Path) -> VigieChild {
        VigieChild::spawn_with_env(args, dir, &[])
    }

    /// Like [`VigieChild::spawn`], with the variables `env` (name, value) added to the
    /// environment, e.g. `&[("RUST_LOG", "info")]`.
    pub fn spawn_with_env(args: &[&str], dir: &Path, env: &[(&str, &str)]) -> VigieChild {
        let mut child = Command::new(VIGIE)
            .args(args)
            .current_dir(dir)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {VIGIE}: {e}"));
        let (stdout, out_reader) = collect_lines(child.stdout.take().unwrap());
        let (stderr, err_reader) = collect_lines(child.stderr.take().unwrap());
        let mut watchdog = Command::new(require("sh"))
            .arg("-c")
            .arg(r#"cat >/dev/null 2>&1; kill -TERM "$1" 2>/dev/null"#)
            .arg("sh")
            .arg(child.id().to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the watchdog shell");
        let watchdog_stdin = watchdog.stdin.take().unwrap();
        VigieChild {
            child,
            watchdog: Some((watchdog, watchdog_stdin)),
            stdout,
            stderr,
            readers: vec![out_reader, err_reader],
        }
    }

    /// The stdout lines read so far.
    pub fn stdout(&self) -> Vec<String> {
        self.stdout.lock().unwrap().clone()
    }

    /// The stderr lines read so far, joined with newlines.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    /// Both outputs read so far, for a failure message: `stdout:\n...\nstderr:\n...`.
    pub fn output(&self) -> String {
        format!(
            "stdout:\n{}\nstderr:\n{}",
            self.stdout().join("\n"),
            self.stderr()
        )
    }

    /// Sends SIGTERM (what systemd and Kubernetes send to stop a service).
    pub fn terminate(&self) {
        let status = Command::new(require("kill"))
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM {} failed", self.child.id());
    }

    /// Panics with the output when vigie has exited.
    pub fn assert_running(&mut self, what: &str) {
        self.panic_if_exited(&format!("while {what}"));
    }

    /// Waits until vigie exits by itself and its output is read to the end.
    pub fn wait_exit(&mut self, timeout: Duration, what: &str) -> ExitStatus {
        let status = eventually(timeout, what, || self.child.try_wait().expect("try_wait"));
        self.join_readers();
        status
    }

    /// The first stdout line `pick` accepts; panics if vigie exits or `timeout` passes.
    pub fn wait_line<T>(
        &mut self,
        timeout: Duration,
        what: &str,
        mut pick: impl FnMut(&str) -> Option<T>,
    ) -> T {
        eventually(timeout, what, || {
            self.panic_if_exited(&format!("before {what}"));
            self.stdout().iter().find_map(|l| pick(l))
        })
    }

    /// When vigie has exited: reads its output to the end and panics with
    /// `vigie exited (STATUS) WHEN` and the output.
    fn panic_if_exited(&mut self, when: &str) {
        if let Ok(Some(status)) = self.child.try_wait() {
            self.join_readers();
            panic!("vigie exited ({status}) {when}\n{}", self.output());
        }
    }

    /// Waits until both outputs are read to their end (vigie has exited).
    fn join_readers(&mut self) {
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
    }
}

impl Drop for VigieChild {
    fn drop(&mut self) {
        if let Some((mut watchdog, stdin)) = self.watchdog.take() {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
            drop(stdin);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `vigie simulate` serving one SDM630 (unit 7) with fixed values; its address.
pub fn fixed_meter_simulator(dir: &Path) -> (VigieChild, String) {
    let sim_toml = fixed_meter_sim_toml(dir);
    let mut sim = VigieChild::spawn(&["simulate", "-c", sim_toml.to_str().unwrap()], dir);
    let addr = sim.wait_line(Duration::from_secs(60), "`serving METER on ...`", |l| {
        let rest = l.strip_prefix("serving METER on ")?;
        rest.split_once(": units ").map(|(a, _)| a.to_string())
    });
    (sim, addr)
}

/// Writes `dir/sim.toml`: one server `METER` on a free loopback port with one SDM630
/// (unit 7) serving fixed values; its path.
pub fn fixed_meter_sim_toml(dir: &Path) -> std::path::PathBuf {
    let sim_toml = dir.join("sim.toml");
    std::fs::write(
        &sim_toml,
        format!(
            r#"profiles_dir = {profiles:?}
[[sites]]
id = "LAB"
model = "none"

[[servers]]
name = "METER"
listen = "127.0.0.1:0"
units = [{{ unit_id = 7, profile = "eastron-sdm630", site = "LAB", role = "fixed", fixed = {{ voltage_l1_v = 230.5, frequency_hz = 50.0 }} }}]
"#,
            profiles = Path::new(env!("CARGO_MANIFEST_DIR")).join("plc-profiles"),
        ),
    )
    .unwrap();
    sim_toml
}
