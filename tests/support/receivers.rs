//! Receivers of vigie's notifications, as real servers on loopback ports: an HTTP server
//! (`tests/peers/http_receiver.py`, standard library) standing for webhooks and SMS
//! gateways, and an SMTP server (`tests/peers/smtp_receiver.py`, aiosmtpd from PyPI).
//! Each records what it receives to a JSONL file that the test reads.
//!
//! Use from a test file that declares `mod support;` with
//! `use support::receivers::{HttpReceiver, SmtpReceiver};`. A missing python3 or aiosmtpd
//! makes the test fail naming it: run `scripts/test.sh` to install them. A receiver is
//! killed when dropped, and exits by itself when the test process dies (it watches its
//! standard input).

use std::fs::{self, OpenOptions};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;

use super::{require, tail};

/// The HTTP receiver script.
pub const HTTP_RECEIVER_SCRIPT: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/http_receiver.py");
/// The SMTP receiver script.
pub const SMTP_RECEIVER_SCRIPT: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/smtp_receiver.py");
/// The aiosmtpd version `tests/peers/smtp_receiver.py` is written for (as in
/// `scripts/test.sh`).
pub const AIOSMTPD_VERSION: &str = "1.4.6";

const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// python3's own executable (no pyenv shim in between), checked to import `module` at
/// `version` when one is given. Panics naming what is missing.
fn python_with(module: &str, version: Option<&str>) -> PathBuf {
    /// Each (module, version) checked so far, and what the check found.
    type Checks = std::sync::Mutex<Vec<(String, Result<PathBuf, String>)>>;
    static CHECKS: OnceLock<Checks> = OnceLock::new();
    let checks = CHECKS.get_or_init(Default::default);
    let key = format!("{module}={version:?}");
    let mut done = checks.lock().unwrap_or_else(|p| p.into_inner());
    let result = match done.iter().find(|(k, _)| *k == key) {
        Some((_, r)) => r.clone(),
        None => {
            let r = check_python(module, version);
            done.push((key, r.clone()));
            r
        }
    };
    result.unwrap_or_else(|msg| panic!("{msg}"))
}

fn check_python(module: &str, version: Option<&str>) -> Result<PathBuf, String> {
    let python = require("python3");
    let out = Command::new(&python)
        .args([
            "-c",
            &format!(
                "import sys, {module}; print(sys.executable); print(getattr({module}, '__version__', ''))"
            ),
        ])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut lines = stdout.lines();
    let executable = lines.next().unwrap_or_default().trim().to_string();
    let found = lines.next().unwrap_or_default().trim().to_string();
    if !out.status.success() {
        return Err(format!(
            "missing program: {module} {} for python3 (run scripts/test.sh to install it): {}",
            version.unwrap_or(""),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    if let Some(v) = version
        && v != found
    {
        return Err(format!(
            "wrong {module} version {found} for python3, want {v} (run scripts/test.sh to install it)"
        ));
    }
    Ok(if executable.is_empty() {
        python
    } else {
        PathBuf::from(executable)
    })
}

/// A Python receiver process; killed on drop.
struct Peer {
    name: &'static str,
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    stderr_log: PathBuf,
}

impl Peer {
    /// Starts `python script args`, waits for its `READY <port>` line; returns the port.
    fn spawn(
        name: &'static str,
        python: &Path,
        script: &str,
        args: &[String],
        dir: &Path,
    ) -> (Peer, u16) {
        let stderr_log = dir.join(format!("{name}.stderr.log"));
        let stderr = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&stderr_log)
            .expect("open receiver stderr log");
        let mut child = Command::new(python)
            .arg("-u")
            .arg(script)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({}): {e}", python.display()));
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("receiver stdout");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let mut peer = Peer {
            name,
            child: Some(child),
            stdin,
            stderr_log,
        };
        let line = match rx.recv_timeout(READY_TIMEOUT) {
            Ok(line) => line,
            Err(_) => {
                thread::sleep(Duration::from_millis(200));
                let log = peer.log_tail();
                peer.stop();
                panic!("{name}: no READY line within {READY_TIMEOUT:?}; stderr:\n{log}");
            }
        };
        let port = line
            .strip_prefix("READY ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} printed {line:?} instead of READY <port>"));
        (peer, port)
    }

    fn log_tail(&self) -> String {
        tail(&self.stderr_log, 40)
    }

    fn stop(&mut self) {
        self.stdin = None;
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Reads a JSONL file (missing: empty); a torn last line is left out.
fn read_jsonl(path: &Path) -> Vec<Value> {
    let text = fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The HTTP receiver: answers 200 to everything (503, or the status given to
/// [`HttpReceiver::start_with`], to the first `fail_first` requests; a fixed 4xx to paths
/// it rejects) and records each request: `time` (s), `method`, `path` (with the query),
/// `headers` (lower-case names), `body`, `status`.
pub struct HttpReceiver {
    pub port: u16,
    dir: TempDir,
    peer: Option<Peer>,
}

impl HttpReceiver {
    /// Starts on a port of the system's choosing.
    pub fn start(fail_first: u32) -> HttpReceiver {
        HttpReceiver::start_on(0, fail_first)
    }

    /// Starts on `port` (0: the system chooses).
    pub fn start_on(port: u16, fail_first: u32) -> HttpReceiver {
        HttpReceiver::start_with(port, fail_first, 503, &[])
    }

    /// Starts on `port` (0: the system chooses), answering `fail_status` to the first
    /// `fail_first` requests, and to each path starting with one of `rejects`' prefixes
    /// always its status, with a reply of `rejected: ` and 300 `x`.
    pub fn start_with(
        port: u16,
        fail_first: u32,
        fail_status: u16,
        rejects: &[(&str, u16)],
    ) -> HttpReceiver {
        HttpReceiver::start_rejecting(port, fail_first, fail_status, rejects, &[])
    }

    /// Like [`HttpReceiver::start_with`], also answering each request whose body contains
    /// one of `body_rejects`' texts always its status (a receiver refusing some content).
    pub fn start_rejecting(
        port: u16,
        fail_first: u32,
        fail_status: u16,
        rejects: &[(&str, u16)],
        body_rejects: &[(&str, u16)],
    ) -> HttpReceiver {
        HttpReceiver::start_full(port, fail_first, fail_status, rejects, body_rejects, false)
    }

    /// Like [`HttpReceiver::start_rejecting`]; with `check_idempotency`, also answering 422
    /// to a request whose `Idempotency-Key` came before with another body (the IETF
    /// Idempotency-Key draft's answer; the key denotes the first body seen with it).
    pub fn start_full(
        port: u16,
        fail_first: u32,
        fail_status: u16,
        rejects: &[(&str, u16)],
        body_rejects: &[(&str, u16)],
        check_idempotency: bool,
    ) -> HttpReceiver {
        let dir = tempfile::Builder::new()
            .prefix("vigie-http-receiver-")
            .tempdir()
            .expect("create temp dir");
        let python = python_with("http.server", None);
        let mut args = vec![
            "--port".to_string(),
            port.to_string(),
            "--log".to_string(),
            dir.path().join("requests.jsonl").display().to_string(),
            "--fail-first".to_string(),
            fail_first.to_string(),
            "--fail-status".to_string(),
            fail_status.to_string(),
        ];
        for (prefix, code) in rejects {
            args.push("--reject".to_string());
            args.push(format!("{prefix}={code}"));
        }
        for (text, code) in body_rejects {
            args.push("--reject-body".to_string());
            args.push(format!("{text}={code}"));
        }
        if check_idempotency {
            args.push("--check-idempotency".to_string());
        }
        let (peer, port) = Peer::spawn(
            "http_receiver",
            &python,
            HTTP_RECEIVER_SCRIPT,
            &args,
            dir.path(),
        );
        HttpReceiver {
            port,
            dir,
            peer: Some(peer),
        }
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Every request received so far, in order (also those answered 503).
    pub fn requests(&self) -> Vec<Value> {
        read_jsonl(&self.dir.path().join("requests.jsonl"))
    }

    /// The requests answered 200 whose path starts with `prefix`.
    pub fn delivered(&self, prefix: &str) -> Vec<Value> {
        self.requests()
            .into_iter()
            .filter(|r| {
                r["status"] == 200 && r["path"].as_str().is_some_and(|p| p.starts_with(prefix))
            })
            .collect()
    }

    /// The receiver's stderr (its access log).
    pub fn log_tail(&self) -> String {
        self.peer.as_ref().map(Peer::log_tail).unwrap_or_default()
    }

    /// Kills the receiver: connections are refused until it is started again.
    pub fn stop(&mut self) {
        if let Some(mut p) = self.peer.take() {
            p.stop();
        }
    }
}

/// The SMTP receiver (aiosmtpd): accepts every message and records `time` (s),
/// `mail_from`, `rcpt_tos`, `data` (the whole message), and as Python's e-mail parser
/// reads it `subject`, `message_id`, `headers` (lower-case names) and `body` (the text,
/// transfer encoding undone).
pub struct SmtpReceiver {
    pub port: u16,
    dir: TempDir,
    peer: Option<Peer>,
}

impl SmtpReceiver {
    /// Starts on `port` (a free one, e.g. from `free_port`).
    pub fn start_on(port: u16) -> SmtpReceiver {
        let dir = tempfile::Builder::new()
            .prefix("vigie-smtp-receiver-")
            .tempdir()
            .expect("create temp dir");
        let python = python_with("aiosmtpd", Some(AIOSMTPD_VERSION));
        let args = vec![
            "--port".to_string(),
            port.to_string(),
            "--log".to_string(),
            dir.path().join("messages.jsonl").display().to_string(),
        ];
        let (peer, port) = Peer::spawn(
            "smtp_receiver",
            &python,
            SMTP_RECEIVER_SCRIPT,
            &args,
            dir.path(),
        );
        SmtpReceiver {
            port,
            dir,
            peer: Some(peer),
        }
    }

    /// Every message received so far, in order.
    pub fn messages(&self) -> Vec<Value> {
        read_jsonl(&self.dir.path().join("messages.jsonl"))
    }

    /// The receiver's stderr.
    pub fn log_tail(&self) -> String {
        self.peer.as_ref().map(Peer::log_tail).unwrap_or_default()
    }
}
