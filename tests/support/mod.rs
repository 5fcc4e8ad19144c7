//! Real peer programs for the integration tests, started on free loopback
//! ports in temporary directories: a pymodbus Modbus TCP server, Debian's
//! InfluxDB 1.6 (`influxd`) and VictoriaMetrics, plus `mbpoll` and a small
//! HTTP client.
//!
//! Use from a test file with `mod support;`. A missing program makes the test
//! fail with a message naming it: run `scripts/test.sh` to install them.
//!
//! Every peer is stopped when its handle is dropped (also when a test
//! panics), and a peer whose test process dies stops by itself: it watches
//! its standard input, which only the test process holds.

#![allow(dead_code)]

pub mod daemon;
pub mod demo;
pub mod fault_proxy;
pub mod receivers;
pub mod vigie;

use std::fs::{self, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

/// The Modbus TCP server script started by [`ModbusPeer`].
pub const MODBUS_SERVER_SCRIPT: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/modbus_server.py");

/// The pymodbus version that `tests/peers/modbus_server.py` is written for.
pub const PYMODBUS_VERSION: &str = "3.8.6";

const MODBUS_READY_TIMEOUT: Duration = Duration::from_secs(20);
const SERVICE_READY_TIMEOUT: Duration = Duration::from_secs(30);
const STOP_TIMEOUT: Duration = Duration::from_secs(15);
const LOG_TAIL_LINES: usize = 40;

// ---------------------------------------------------------------------------
// Ports, programs, polling
// ---------------------------------------------------------------------------

/// A TCP port that was free on 127.0.0.1 a moment ago.
pub fn free_port() -> u16 {
    free_ports::<1>()[0]
}

/// `N` distinct TCP ports that were free on 127.0.0.1 a moment ago (all
/// listeners are held until every port is chosen, so they differ).
pub fn free_ports<const N: usize>() -> [u16; N] {
    let listeners: Vec<TcpListener> = (0..N)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0"))
        .collect();
    let mut ports = [0u16; N];
    for (port, listener) in ports.iter_mut().zip(&listeners) {
        *port = listener.local_addr().expect("local_addr").port();
    }
    ports
}

/// The path of an installed program, looked up on PATH and in the usual
/// system directories. Panics naming the program when it is missing.
pub fn require(program: &str) -> PathBuf {
    find_program(program)
        .unwrap_or_else(|| panic!("missing program: {program} (run scripts/test.sh to install it)"))
}

fn find_program(program: &str) -> Option<PathBuf> {
    let is_executable = |p: &Path| {
        fs::metadata(p)
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    if program.contains('/') {
        let p = PathBuf::from(program);
        return is_executable(&p).then_some(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(
            ["/usr/local/bin", "/usr/bin", "/usr/sbin", "/bin", "/sbin"]
                .iter()
                .map(PathBuf::from),
        )
        .map(|dir| dir.join(program))
        .find(|p| is_executable(p))
}

/// Calls `f` every 100 ms until it returns `Some`, and returns that value.
/// Panics with `what` when `timeout` passes first.
pub fn eventually<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// The last `lines` lines of a text file ("" when it cannot be read).
pub fn tail(path: &Path, lines: usize) -> String {
    let text = fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

// ---------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------

/// A parsed HTTP response.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    /// Header names in lower case, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    /// The first header with that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON; panics with the body when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("response is not JSON ({e}): {}", self.body))
    }
}

/// One HTTP/1.1 request (`Connection: close`) to an `http://host:port/path`
/// URL. Panics when the server cannot be reached; returns any status.
pub fn http(method: &str, url: &str, body: &str) -> (u16, String) {
    let r = request(method, url, &[], body.as_bytes());
    (r.status, r.body)
}

/// Like [`http`], with extra headers, returning the headers too.
pub fn request(method: &str, url: &str, headers: &[(&str, &str)], body: &[u8]) -> HttpResponse {
    try_request(method, url, headers, body)
        .unwrap_or_else(|e| panic!("HTTP {method} {url} failed: {e}"))
}

/// Like [`request`], returning connection errors instead of panicking
/// (for waiting until a server listens).
pub fn try_request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<HttpResponse> {
    let invalid = |msg: String| io::Error::new(io::ErrorKind::InvalidInput, msg);
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| invalid(format!("not an http:// URL: {url}")))?;
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr = host
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| invalid(format!("cannot resolve {host}")))?;
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    stream.set_write_timeout(Some(Duration::from_secs(60)))?;

    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nUser-Agent: vigie-tests\r\n"
    );
    let has_content_type = headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-type"));
    if !body.is_empty() && !has_content_type {
        head.push_str("Content-Type: text/plain; charset=utf-8\r\n");
    }
    if !body.is_empty() || matches!(method, "POST" | "PUT" | "PATCH") {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    // A server may answer (413) and close before it reads a large body: read its answer
    // anyway, and keep what arrived when the connection is then reset.
    let sent = stream.write_all(body).and_then(|()| stream.flush());
    let cut_short = |e: &io::Error| {
        matches!(
            e.kind(),
            io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
        )
    };
    if let Err(e) = sent
        && !cut_short(&e)
    {
        return Err(e);
    }

    let mut raw = Vec::new();
    if let Err(e) = stream.read_to_end(&mut raw)
        && (!cut_short(&e) || raw.is_empty())
    {
        return Err(e);
    }
    parse_response(&raw, method == "HEAD")
        .ok_or_else(|| invalid(format!("malformed HTTP response from {url}: {raw:?}")))
}

fn parse_response(raw: &[u8], head_only: bool) -> Option<HttpResponse> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..split]).ok()?;
    let mut payload = &raw[split + 4..];
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let get = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let body = if head_only {
        Vec::new()
    } else if get("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        let mut out = Vec::new();
        loop {
            let eol = payload.windows(2).position(|w| w == b"\r\n")?;
            let size_text = std::str::from_utf8(&payload[..eol]).ok()?;
            let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
            payload = &payload[eol + 2..];
            if size == 0 {
                break;
            }
            out.extend_from_slice(payload.get(..size)?);
            payload = payload.get(size + 2..)?;
        }
        out
    } else if let Some(len) = get("content-length").and_then(|v| v.parse::<usize>().ok()) {
        payload.get(..len)?.to_vec()
    } else {
        payload.to_vec()
    };
    Some(HttpResponse {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// Percent-encodes a string for a URL query component.
pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

// ---------------------------------------------------------------------------
// mbpoll
// ---------------------------------------------------------------------------

/// Runs `mbpoll ARGS` and returns its output, whatever its exit status.
pub fn run_mbpoll(args: &[&str]) -> Output {
    let program = require("mbpoll");
    Command::new(&program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()))
}

/// Runs `mbpoll ARGS` and returns its stdout; panics with its stderr when it
/// fails.
pub fn mbpoll(args: &[&str]) -> String {
    let out = run_mbpoll(args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        panic!(
            "mbpoll {args:?} failed ({}):\nstderr: {}\nstdout: {stdout}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    stdout
}

// ---------------------------------------------------------------------------
// Supervised service processes
// ---------------------------------------------------------------------------

/// Runs "$@" so that it gets SIGTERM as soon as our end of the wrapper's
/// stdin closes: on drop, or when the test process dies in any way.
const SUPERVISOR: &str = r#"pidfile=$1; shift
exec 3<&0 </dev/null
"$@" 3<&- &
child=$!
echo "$child" > "$pidfile"
( cat <&3 >/dev/null 2>&1; kill -TERM "$child" 2>/dev/null ) &
exec 3<&-
wait "$child"
exit $?
"#;

/// A service (influxd, victoria-metrics) run under [`SUPERVISOR`], its
/// stdout and stderr in one log file.
struct Service {
    name: String,
    program: PathBuf,
    args: Vec<String>,
    log: PathBuf,
    pidfile: PathBuf,
    child: Option<Child>,
    stdin: Option<ChildStdin>,
}

impl Service {
    fn new(name: &str, program: PathBuf, args: Vec<String>, dir: &Path) -> Service {
        Service {
            name: name.to_string(),
            program,
            args,
            log: dir.join(format!("{name}.log")),
            pidfile: dir.join(format!("{name}.pid")),
            child: None,
            stdin: None,
        }
    }

    fn spawn(&mut self) {
        assert!(self.child.is_none(), "{} is already running", self.name);
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("open service log");
        let mut child = Command::new(require("sh"))
            .arg("-c")
            .arg(SUPERVISOR)
            .arg("sh")
            .arg(&self.pidfile)
            .arg(&self.program)
            .args(&self.args)
            .stdin(Stdio::piped())
            .stdout(log.try_clone().expect("clone log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.program.display()));
        self.stdin = child.stdin.take();
        self.child = Some(child);
    }

    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    fn log_tail(&self) -> String {
        tail(&self.log, LOG_TAIL_LINES)
    }

    /// Polls `url` until it answers `status`; panics with the log tail when
    /// the process exits or `timeout` passes.
    fn wait_http(&mut self, url: &str, status: u16, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(exit) = self.exited() {
                panic!(
                    "{} exited ({exit}) before answering {url}; log tail:\n{}",
                    self.name,
                    self.log_tail()
                );
            }
            match try_request("GET", url, &[], b"") {
                Ok(r) if r.status == status => return,
                _ if Instant::now() >= deadline => panic!(
                    "{} did not answer {url} with {status} within {timeout:?}; log tail:\n{}",
                    self.name,
                    self.log_tail()
                ),
                _ => thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// SIGTERM through the supervisor, then SIGKILL after [`STOP_TIMEOUT`].
    fn stop(&mut self) {
        self.stdin = None;
        let Some(mut child) = self.child.take() else {
            return;
        };
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(50));
        }
        if let Ok(pid) = fs::read_to_string(&self.pidfile) {
            let _ = Command::new("kill")
                .args(["-KILL", pid.trim()])
                .stderr(Stdio::null())
                .status();
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.stop();
    }
}

// ---------------------------------------------------------------------------
// Modbus TCP server (pymodbus)
// ---------------------------------------------------------------------------

/// The Python interpreter that has pymodbus [`PYMODBUS_VERSION`]
/// (`sys.executable` of `python3`, so that no pyenv shim sits in between).
fn python_with_pymodbus() -> PathBuf {
    static CHECK: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let result = CHECK.get_or_init(|| {
        let python = require("python3");
        let out = Command::new(&python)
            .args([
                "-c",
                "import sys, pymodbus; print(sys.executable); print(pymodbus.__version__)",
            ])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut lines = stdout.lines();
        let executable = lines.next().unwrap_or_default().trim().to_string();
        let version = lines.next().unwrap_or_default().trim().to_string();
        if !out.status.success() {
            Err(format!(
                "missing program: pymodbus {PYMODBUS_VERSION} for python3 (run scripts/test.sh to install it): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        } else if version != PYMODBUS_VERSION {
            Err(format!(
                "wrong pymodbus version {version} for python3, want {PYMODBUS_VERSION} (run scripts/test.sh to install it)"
            ))
        } else if executable.is_empty() {
            Ok(python)
        } else {
            Ok(PathBuf::from(executable))
        }
    });
    match result {
        Ok(python) => python.clone(),
        Err(msg) => panic!("{msg}"),
    }
}

/// A pymodbus Modbus TCP server (`tests/peers/modbus_server.py`) serving a
/// JSON image; see that script for the image format. Killed on drop.
pub struct ModbusPeer {
    pub port: u16,
    dir: TempDir,
    running: Option<ModbusProcess>,
    commands: Mutex<u64>,
}

struct ModbusProcess {
    child: Child,
    stdin: Mutex<Option<ChildStdin>>,
    lines: Mutex<Receiver<String>>,
}

impl ModbusPeer {
    /// Starts the server on a port of the system's choosing.
    pub fn start(image: &Value) -> ModbusPeer {
        ModbusPeer::start_on(0, image)
    }

    /// Starts the server on `port` (0: the system chooses).
    pub fn start_on(port: u16, image: &Value) -> ModbusPeer {
        let dir = tempfile::Builder::new()
            .prefix("vigie-modbus-")
            .tempdir()
            .expect("create temp dir");
        let image_path = dir.path().join("image.json");
        fs::write(&image_path, serde_json::to_vec_pretty(image).unwrap()).expect("write image");
        let mut peer = ModbusPeer {
            port,
            dir,
            running: None,
            commands: Mutex::new(0),
        };
        peer.spawn();
        peer
    }

    fn spawn(&mut self) {
        assert!(self.running.is_none(), "modbus peer is already running");
        let python = python_with_pymodbus();
        let dir = self.dir.path();
        let stderr = OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("stderr.log"))
            .expect("open stderr.log");
        let mut child = Command::new(&python)
            .arg("-u")
            .arg(MODBUS_SERVER_SCRIPT)
            .arg("--port")
            .arg(self.port.to_string())
            .arg("--image")
            .arg(dir.join("image.json"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", python.display()));
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("child stdout");
        let (tx, rx) = mpsc::channel();
        let stdout_log = dir.join("stdout.log");
        thread::spawn(move || {
            let mut log = OpenOptions::new()
                .create(true)
                .append(true)
                .open(stdout_log)
                .ok();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(f) = log.as_mut() {
                    let _ = writeln!(f, "{line}");
                }
                let _ = tx.send(line);
            }
        });
        self.running = Some(ModbusProcess {
            child,
            stdin: Mutex::new(stdin),
            lines: Mutex::new(rx),
        });
        let line = self.next_line(MODBUS_READY_TIMEOUT, "READY");
        self.port = line
            .strip_prefix("READY ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| {
                panic!("modbus peer printed {line:?} instead of READY <port>");
            });
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The temporary directory holding the image and the logs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The last lines of the server's stderr.
    pub fn log_tail(&self) -> String {
        tail(&self.dir.path().join("stderr.log"), LOG_TAIL_LINES)
    }

    /// Kills the server (clients see their connections closed and new ones
    /// refused), e.g. to test reconnection.
    pub fn stop(&mut self) {
        if let Some(mut p) = self.running.take() {
            if let Ok(mut stdin) = p.stdin.lock() {
                *stdin = None;
            }
            let _ = p.child.kill();
            let _ = p.child.wait();
        }
    }

    /// Starts the server again on the same port with the initial image
    /// (changes made by [`ModbusPeer::update`] are lost).
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Changes the running server: `{"units": {...}}` merges values,
    /// `"silent_units"`, `"delay_ms"`, `"exception_units"` replace those
    /// settings, `{"disconnect": true}` closes every client connection.
    /// Returns once the server has applied it.
    pub fn update(&self, command: &Value) {
        let p = self.running.as_ref().expect("modbus peer is stopped");
        let number = {
            let mut n = self.commands.lock().unwrap();
            *n += 1;
            *n
        };
        {
            let mut stdin = p.stdin.lock().unwrap();
            let stdin = stdin.as_mut().expect("modbus peer stdin is closed");
            writeln!(stdin, "{command}")
                .and_then(|_| stdin.flush())
                .unwrap_or_else(|e| {
                    panic!(
                        "cannot send to modbus peer: {e}; stderr:\n{}",
                        self.log_tail()
                    )
                });
        }
        let line = self.next_line(Duration::from_secs(10), "the answer to a command");
        if line != format!("OK {number}") {
            panic!("modbus peer refused {command}: {line}");
        }
    }

    /// Sets holding registers of `unit` from `address` on.
    pub fn set_holding(&self, unit: u8, address: u16, values: &[u16]) {
        self.set_table(unit, "holding", address, Value::from(values.to_vec()));
    }

    /// Sets input registers of `unit` from `address` on.
    pub fn set_input(&self, unit: u8, address: u16, values: &[u16]) {
        self.set_table(unit, "input", address, Value::from(values.to_vec()));
    }

    /// Sets coils of `unit` from `address` on.
    pub fn set_coils(&self, unit: u8, address: u16, values: &[bool]) {
        self.set_table(unit, "coils", address, Value::from(values.to_vec()));
    }

    /// Sets discrete inputs of `unit` from `address` on.
    pub fn set_discrete(&self, unit: u8, address: u16, values: &[bool]) {
        self.set_table(unit, "discrete", address, Value::from(values.to_vec()));
    }

    fn set_table(&self, unit: u8, table: &str, address: u16, values: Value) {
        let mut tables = serde_json::Map::new();
        let mut cells = serde_json::Map::new();
        cells.insert(address.to_string(), values);
        tables.insert(table.to_string(), Value::Object(cells));
        let mut units = serde_json::Map::new();
        units.insert(unit.to_string(), Value::Object(tables));
        let mut command = serde_json::Map::new();
        command.insert("units".to_string(), Value::Object(units));
        self.update(&Value::Object(command));
    }

    fn next_line(&self, timeout: Duration, what: &str) -> String {
        let p = self.running.as_ref().expect("modbus peer is stopped");
        let rx = p.lines.lock().unwrap();
        match rx.recv_timeout(timeout) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => panic!(
                "modbus peer: no {what} within {timeout:?}; stderr tail:\n{}",
                self.log_tail()
            ),
            Err(RecvTimeoutError::Disconnected) => {
                // The process exited: give it a moment to finish its stderr.
                thread::sleep(Duration::from_millis(200));
                panic!(
                    "modbus peer exited before {what}; stderr tail:\n{}",
                    self.log_tail()
                )
            }
        }
    }
}

impl Drop for ModbusPeer {
    fn drop(&mut self) {
        self.stop();
    }
}

// ---------------------------------------------------------------------------
// InfluxDB 1.x
// ---------------------------------------------------------------------------

/// Debian's `influxd` (InfluxDB 1.6.7) with its own config, data and ports,
/// and the database `vigie` created. Stopped on drop.
///
/// InfluxDB 1.6 has no `/api/v2/write` (1.8 added it): writes go to
/// `/write?db=vigie`.
pub struct InfluxV1 {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    /// `vigie`
    pub db: String,
    pub http_port: u16,
    dir: TempDir,
    service: Service,
}

impl InfluxV1 {
    pub fn start() -> InfluxV1 {
        InfluxV1::start_with_http("")
    }

    /// Like [`InfluxV1::start`], with `http_settings` (lines of influxd.conf) added to its
    /// `[http]` section, e.g. `max-body-size = 300`.
    pub fn start_with_http(http_settings: &str) -> InfluxV1 {
        let program = require("influxd");
        let dir = tempfile::Builder::new()
            .prefix("vigie-influxd-")
            .tempdir()
            .expect("create temp dir");
        let [http_port, rpc_port] = free_ports::<2>();
        let root = dir.path();
        let config = format!(
            r#"reporting-disabled = true
reporting-enabled = false
bind-address = "127.0.0.1:{rpc_port}"

[meta]
  dir = "{meta}"

[data]
  dir = "{data}"
  wal-dir = "{wal}"
  query-log-enabled = false

[monitor]
  store-enabled = false

[http]
  enabled = true
  bind-address = "127.0.0.1:{http_port}"
  log-enabled = true
{http_settings}

[continuous_queries]
  enabled = false
"#,
            meta = root.join("meta").display(),
            data = root.join("data").display(),
            wal = root.join("wal").display(),
        );
        let config_path = root.join("influxdb.conf");
        fs::write(&config_path, config).expect("write influxdb.conf");
        let args = vec![
            "run".to_string(),
            "-config".to_string(),
            config_path.display().to_string(),
        ];
        let service = Service::new("influxd", program, args, root);
        let mut influx = InfluxV1 {
            url: format!("http://127.0.0.1:{http_port}"),
            db: "vigie".to_string(),
            http_port,
            dir,
            service,
        };
        influx.start_process();
        let (status, body) = http(
            "POST",
            &format!(
                "{}/query?q={}",
                influx.url,
                urlencode("CREATE DATABASE vigie")
            ),
            "",
        );
        assert_eq!(status, 200, "CREATE DATABASE vigie: {body}");
        influx
    }

    fn start_process(&mut self) {
        self.service.spawn();
        let ping = format!("{}/ping", self.url);
        self.service.wait_http(&ping, 204, SERVICE_READY_TIMEOUT);
    }

    /// Stops influxd (its data stays), e.g. to test a sink outage.
    pub fn stop(&mut self) {
        self.service.stop();
    }

    /// Starts influxd again on the same port with the same data.
    pub fn restart(&mut self) {
        self.service.stop();
        self.start_process();
    }

    /// `GET /query?db=vigie&epoch=ns&q=...`, the parsed JSON answer (any
    /// status: InfluxQL errors come back as `{"results":[{"error":..}]}` or
    /// `{"error":..}`).
    pub fn query(&self, influxql: &str) -> Value {
        let url = format!(
            "{}/query?db={}&epoch=ns&q={}",
            self.url,
            urlencode(&self.db),
            urlencode(influxql)
        );
        let r = request("GET", &url, &[], b"");
        serde_json::from_str(&r.body).unwrap_or_else(|e| {
            panic!(
                "influxd answered {} non-JSON to {influxql:?} ({e}): {}\nlog tail:\n{}",
                r.status,
                r.body,
                self.log_tail()
            )
        })
    }

    /// The rows of every series of the first statement's result (empty when
    /// there is none), e.g. `[[1700000000000000000, "S", 1.5]]`.
    pub fn values(&self, influxql: &str) -> Vec<Vec<Value>> {
        let answer = self.query(influxql);
        let result = &answer["results"][0];
        if let Some(err) = result.get("error").or_else(|| answer.get("error")) {
            panic!("influxd refused {influxql:?}: {err}");
        }
        let mut rows = Vec::new();
        for series in result["series"].as_array().into_iter().flatten() {
            for row in series["values"].as_array().into_iter().flatten() {
                rows.push(row.as_array().cloned().unwrap_or_default());
            }
        }
        rows
    }

    /// `POST /write?db=vigie&precision=ns` of line protocol; panics unless
    /// influxd answers 204.
    pub fn write(&self, lines: &str) {
        let url = format!("{}/write?db={}&precision=ns", self.url, urlencode(&self.db));
        let (status, body) = http("POST", &url, lines);
        assert_eq!(status, 204, "influxd write refused: {body}");
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The last lines of influxd's log.
    pub fn log_tail(&self) -> String {
        self.service.log_tail()
    }
}

// ---------------------------------------------------------------------------
// VictoriaMetrics
// ---------------------------------------------------------------------------

/// Debian's single-node `victoria-metrics` with its own storage and port.
/// Stopped on drop. It accepts InfluxDB line protocol on `/write` and
/// `/api/v2/write`: field `f` of measurement `m` becomes metric `m_f`, and
/// timestamps are stored in milliseconds.
pub struct VictoriaMetrics {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    pub port: u16,
    dir: TempDir,
    service: Service,
}

impl VictoriaMetrics {
    pub fn start() -> VictoriaMetrics {
        let program = require("victoria-metrics");
        let dir = tempfile::Builder::new()
            .prefix("vigie-vm-")
            .tempdir()
            .expect("create temp dir");
        let port = free_port();
        let args = vec![
            format!("-storageDataPath={}", dir.path().join("data").display()),
            format!("-httpListenAddr=127.0.0.1:{port}"),
            "-retentionPeriod=100y".to_string(),
            // Instant queries see the latest samples at once.
            "-search.latencyOffset=0s".to_string(),
        ];
        let service = Service::new("victoria-metrics", program, args, dir.path());
        let mut vm = VictoriaMetrics {
            url: format!("http://127.0.0.1:{port}"),
            port,
            dir,
            service,
        };
        vm.start_process();
        vm
    }

    fn start_process(&mut self) {
        self.service.spawn();
        let health = format!("{}/health", self.url);
        self.service.wait_http(&health, 200, SERVICE_READY_TIMEOUT);
    }

    /// Stops victoria-metrics (its data stays), e.g. to test a sink outage.
    pub fn stop(&mut self) {
        self.service.stop();
    }

    /// Starts victoria-metrics again on the same port with the same data.
    pub fn restart(&mut self) {
        self.service.stop();
        self.start_process();
    }

    /// `/internal/force_flush`, then `GET /api/v1/export?match[]=SELECTOR`:
    /// one JSON object per series, `{"metric":{"__name__":..,labels..},
    /// "values":[..],"timestamps":[ms..]}`.
    ///
    /// Samples written less than about a second ago may be missing even
    /// after the flush: use [`VictoriaMetrics::wait_export`] to wait for them.
    pub fn export(&self, selector: &str) -> Vec<Value> {
        let (status, body) = http("GET", &format!("{}/internal/force_flush", self.url), "");
        assert_eq!(status, 200, "force_flush: {body}");
        let url = format!("{}/api/v1/export?match[]={}", self.url, urlencode(selector));
        let (status, body) = http("GET", &url, "");
        assert_eq!(
            status,
            200,
            "export {selector}: {body}\nlog tail:\n{}",
            self.log_tail()
        );
        body.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("export line is not JSON ({e}): {l}"))
            })
            .collect()
    }

    /// Exports `selector` until `done` accepts the series; panics after
    /// `timeout` with the last export.
    pub fn wait_export(
        &self,
        selector: &str,
        timeout: Duration,
        mut done: impl FnMut(&[Value]) -> bool,
    ) -> Vec<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let series = self.export(selector);
            if done(&series) {
                return series;
            }
            if Instant::now() >= deadline {
                panic!("export {selector} never matched within {timeout:?}; last: {series:?}");
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The last lines of victoria-metrics' log.
    pub fn log_tail(&self) -> String {
        self.service.log_tail()
    }
}

/// Registers of big-endian `bytes` as a device sends them in word order `order` (ABCD,
/// CDAB, BADC, DCBA): the tests' own encoder, independent of vigie's.
pub fn wire(bytes: &[u8], order: &str) -> Vec<u16> {
    let mut w: Vec<u16> = bytes
        .chunks(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect();
    if order == "BADC" || order == "DCBA" {
        w.iter_mut().for_each(|x| *x = x.swap_bytes());
    }
    if order == "CDAB" || order == "DCBA" {
        w.reverse();
    }
    w
}

/// Reads until the server closes the connection (end of stream, or the reset or missing
/// TLS close_notify of a dropped connection); how long it took. Panics on the socket's own
/// read timeout (10 s): the server kept the connection.
pub fn time_to_close(stream: &mut impl Read) -> std::time::Duration {
    let start = std::time::Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return start.elapsed(),
            Ok(_) => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                panic!(
                    "the server kept the connection open for {:?}",
                    start.elapsed()
                )
            }
            Err(_) => return start.elapsed(),
        }
    }
}
