//! Loading and validating `vigie.toml` with the profiles it names (`vigie check`).
//!
//! Every problem is reported, not only the first, each naming the file, the line and the key.
//! Lines come from the TOML parser's spans ([`Document`]): an error's key path, e.g.
//! `sites[1].devices[0].unit_id`, is resolved in the parsed tree, never searched in the text.
//! A value set by a `VIGIE__…` environment variable is reported with the variable's name
//! instead of a line of the file.

use super::Config;
use crate::profile::{Profile, ProfileError};
use crate::toml_position::{Document, locate_toml_error};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// One problem in a config or profile file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}: {key}: {message}", file.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct CheckError {
    pub file: PathBuf,
    /// 1-based, when known.
    pub line: Option<usize>,
    /// The key, e.g. `sites[0].devices[1].unit_id`; `environment` for a problem in the
    /// `VIGIE__…` variables, `-` when unknown.
    pub key: String,
    pub message: String,
}

impl CheckError {
    /// A TOML parse or type error in `text` (the file at `file`): the line its span starts
    /// on and the key path written there (`sites[0].devices[0].poll_interval`); a missing
    /// field is named under its table (`sites[0].devices[0].profile`, at the table's line).
    pub fn from_toml(file: &Path, text: &str, e: &toml::de::Error) -> CheckError {
        let (line, key) = locate_toml_error(text, e);
        CheckError {
            file: file.to_path_buf(),
            line,
            key,
            message: e.message().trim().to_string(),
        }
    }
}

/// A validated configuration with the profiles it uses.
#[derive(Debug, Clone)]
pub struct Network {
    pub config: Config,
    /// Profiles by id.
    pub profiles: HashMap<String, Arc<Profile>>,
}

/// The longest `poll_interval` or device `timeout`: the scheduler computes in nanoseconds.
pub const MAX_INTERVAL: Duration = Duration::from_secs(86_400);
/// The most samples of short history kept per point (`buffer.history`).
pub const MAX_HISTORY: usize = 100_000;
/// The longest `buffer.span`: an hour of records per connection.
pub const MAX_BUFFER_SPAN: Duration = Duration::from_secs(3600);

/// Reads `path`, layers `VIGIE__…` variables from `env` (None: the process environment),
/// validates everything and loads the profiles.
///
/// The layered configuration (file, then environment) is what is checked, so a key may be
/// given by the environment alone. When it does not deserialize, the file alone says where:
/// its error, with line and key, when the file is at fault; otherwise the environment is, and
/// the error names the variable.
///
/// Errors: every problem found, in file order.
pub fn load(path: &Path, env: Option<HashMap<String, String>>) -> Result<Network, Vec<CheckError>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![CheckError {
            file: path.to_path_buf(),
            line: None,
            key: "-".into(),
            message: format!("cannot read: {e}"),
        }]
    })?;
    let env = match env {
        Some(env) => env,
        None => process_env(path)?,
    };
    let env_keys = EnvKeys::new(&env);
    // The file alone, through the toml crate: its errors carry spans. An error at a key the
    // environment sets (e.g. `url` missing from `[influxdb]`, given by VIGIE__INFLUXDB__URL)
    // is not the file's fault.
    let file_error = toml::from_str::<Config>(&text).err().and_then(|e| {
        let error = CheckError::from_toml(path, &text, &e);
        let syntax_ok = Document::parse(&text).syntax_ok();
        (!syntax_ok || env_keys.covering(&error.key).is_none()).then_some(error)
    });
    if let Some(e) = file_error {
        return Err(vec![e]);
    }
    match layered(&text, &env) {
        Ok(config) => validate(path, &text, config, &env_keys),
        Err(message) => Err(env_errors(path, &text, &env, message)),
    }
}

/// Parses a config from text alone (tests, the embedded demo); `name` is used in messages.
pub fn from_text(
    name: &Path,
    text: &str,
    profiles_dir: Option<&Path>,
) -> Result<Network, Vec<CheckError>> {
    let mut config: Config =
        toml::from_str(text).map_err(|e| vec![CheckError::from_toml(name, text, &e)])?;
    if let Some(dir) = profiles_dir {
        config.daemon.profiles_dir = dir.to_path_buf();
    }
    validate(name, text, config, &EnvKeys::default())
}

/// The `config` crate's prefix and separators: `VIGIE__SECTION__KEY`.
const ENV_PREFIX: &str = "VIGIE__";

fn is_vigie_var(name: &str) -> bool {
    name.get(..ENV_PREFIX.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(ENV_PREFIX))
}

/// The process's `VIGIE__…` variables; one whose value is not UTF-8 is an error.
fn process_env(path: &Path) -> Result<HashMap<String, String>, Vec<CheckError>> {
    let mut env = HashMap::new();
    let mut errors = Vec::new();
    for (name, value) in std::env::vars_os() {
        let Some(name) = name.to_str().filter(|n| is_vigie_var(n)) else {
            continue;
        };
        match value.into_string() {
            Ok(value) => {
                env.insert(name.to_string(), value);
            }
            Err(_) => errors.push(CheckError {
                file: path.to_path_buf(),
                line: None,
                key: "environment".into(),
                message: format!("{name}: the value is not valid UTF-8"),
            }),
        }
    }
    if errors.is_empty() {
        Ok(env)
    } else {
        Err(errors)
    }
}

/// The key each `VIGIE__…` variable sets, as the `config` crate reads it:
/// `VIGIE__INFLUXDB__URL` sets `influxdb.url`.
#[derive(Debug, Default)]
struct EnvKeys(Vec<(String, String)>);

impl EnvKeys {
    fn new(env: &HashMap<String, String>) -> EnvKeys {
        let mut keys: Vec<(String, String)> = env
            .keys()
            .filter(|name| is_vigie_var(name))
            .map(|name| {
                let key = name[ENV_PREFIX.len()..].to_lowercase().replace("__", ".");
                (key, name.clone())
            })
            .collect();
        keys.sort();
        EnvKeys(keys)
    }

    /// The variable that sets `key` (or a table that holds it).
    fn covering(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| {
                key.strip_prefix(k.as_str())
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
            })
            .map(|(_, name)| name.as_str())
    }
}

/// The file's text, then the environment, read by the `config` crate.
fn layered(text: &str, env: &HashMap<String, String>) -> Result<Config, String> {
    let env_source = config::Environment::with_prefix("VIGIE")
        .prefix_separator("__")
        .separator("__")
        .source(Some(env.clone()));
    config::Config::builder()
        .add_source(config::File::from_str(text, config::FileFormat::Toml))
        .add_source(env_source)
        .build()
        .and_then(|c| c.try_deserialize::<Config>())
        .map_err(|e| e.to_string())
}

/// The layered configuration does not deserialize though the file alone does: find the
/// variables that break it, each alone on top of the file.
fn env_errors(
    path: &Path,
    text: &str,
    env: &HashMap<String, String>,
    message: String,
) -> Vec<CheckError> {
    let error = |key: &str, message: String| CheckError {
        file: path.to_path_buf(),
        line: None,
        key: key.into(),
        message,
    };
    let mut names: Vec<&String> = env.keys().filter(|n| is_vigie_var(n)).collect();
    names.sort();
    if names.is_empty() {
        return vec![error("-", message)];
    }
    let culprits: Vec<CheckError> = names
        .iter()
        .filter_map(|name| {
            let one = HashMap::from([((*name).clone(), env[*name].clone())]);
            layered(text, &one)
                .err()
                .map(|m| error("environment", format!("{name}: {m}")))
        })
        .collect();
    if culprits.is_empty() {
        let names: Vec<&str> = names.iter().map(|n| n.as_str()).collect();
        vec![error(
            "environment",
            format!(
                "{message} (the file alone is valid; the variables {} together are not)",
                names.join(", ")
            ),
        )]
    } else {
        culprits
    }
}

/// Collects validation errors, each placed at the line where its key is written, or named by
/// the environment variable that sets it.
struct Report<'a> {
    file: &'a Path,
    doc: Document<'a>,
    env: &'a EnvKeys,
    errors: Vec<CheckError>,
}

impl Report<'_> {
    /// An error about `key`, at the line where `at` (`key` itself or a path below it, e.g.
    /// the offending entry of an array) is written.
    fn at(&mut self, key: String, at: &str, message: String) {
        let (line, message) = match self.env.covering(at) {
            Some(var) => (None, format!("{message} (set by {var})")),
            None => (self.doc.line_of_path(at), message),
        };
        self.errors.push(CheckError {
            file: self.file.to_path_buf(),
            line,
            key,
            message,
        });
    }

    fn err(&mut self, key: String, message: String) {
        let at = key.clone();
        self.at(key, &at, message);
    }
}

fn validate(
    path: &Path,
    text: &str,
    mut config: Config,
    env: &EnvKeys,
) -> Result<Network, Vec<CheckError>> {
    let mut r = Report {
        file: path,
        doc: Document::parse(text),
        env,
        errors: Vec::new(),
    };
    let mut zone_ids = HashSet::new();
    for (i, z) in config.zones.iter().enumerate() {
        if let Err(m) = check_id(&z.id) {
            r.err(format!("zones[{i}].id"), m);
        }
        if !zone_ids.insert(z.id.as_str()) {
            r.err(
                format!("zones[{i}].id"),
                format!("duplicate zone id {:?}", z.id),
            );
        }
    }
    let mut site_ids = HashSet::new();
    let mut profile_ids: Vec<(String, String)> = Vec::new(); // (profile, key)
    // (host, port, unit id) -> the first device there, as `sites[i].devices[j]` and its id.
    let mut units: HashMap<(String, u16, u8), (String, &str)> = HashMap::new();
    for (i, s) in config.sites.iter().enumerate() {
        if let Err(m) = check_id(&s.id) {
            r.err(format!("sites[{i}].id"), m);
        }
        if !site_ids.insert(s.id.as_str()) {
            r.err(
                format!("sites[{i}].id"),
                format!("duplicate site id {:?}", s.id),
            );
        }
        let mut device_ids = HashSet::new();
        for (j, d) in s.devices.iter().enumerate() {
            let key = |k: &str| format!("sites[{i}].devices[{j}].{k}");
            if let Err(m) = check_id(&d.id) {
                r.err(key("id"), m);
            }
            if !device_ids.insert(d.id.as_str()) {
                r.err(
                    key("id"),
                    format!("duplicate device id {:?} in site {:?}", d.id, s.id),
                );
            }
            match check_address(&d.address) {
                Err(m) => r.err(key("address"), m),
                Ok((host, port)) if d.unit_id != 0 => {
                    let here = format!("sites[{i}].devices[{j}]");
                    match units.get(&(host.clone(), port, d.unit_id)) {
                        Some((first, first_id)) => r.err(
                            key("unit_id"),
                            format!(
                                "device {:?} has the same address {:?} and unit_id {} as {first} ({first_id:?}): one device would be polled twice",
                                d.id, d.address, d.unit_id
                            ),
                        ),
                        None => {
                            units.insert((host, port, d.unit_id), (here, d.id.as_str()));
                        }
                    }
                }
                Ok(_) => {}
            }
            if d.unit_id == 0 {
                r.err(
                    key("unit_id"),
                    "unit id 0 is broadcast (no reply); use 1..=255".into(),
                );
            }
            // A bad poll_interval is reported once, not again as the timeout's bound.
            let interval_ok = (Duration::from_millis(10)..=MAX_INTERVAL).contains(&d.poll_interval);
            if d.poll_interval < Duration::from_millis(10) {
                r.err(
                    key("poll_interval"),
                    "poll_interval must be at least 10ms".into(),
                );
            } else if d.poll_interval > MAX_INTERVAL {
                r.err(
                    key("poll_interval"),
                    format!(
                        "poll_interval ({:?}) must be at most 1 day",
                        d.poll_interval
                    ),
                );
            }
            if d.timeout > MAX_INTERVAL {
                r.err(
                    key("timeout"),
                    format!("timeout ({:?}) must be at most 1 day", d.timeout),
                );
            } else if d.timeout.is_zero() || (interval_ok && d.timeout > d.poll_interval) {
                r.err(
                    key("timeout"),
                    format!(
                        "timeout ({:?}) must be > 0 and at most poll_interval ({:?})",
                        d.timeout, d.poll_interval
                    ),
                );
            }
            profile_ids.push((d.profile.clone(), key("profile")));
        }
    }
    for (i, z) in config.zones.iter().enumerate() {
        for (k, site) in z.fed_by.iter().enumerate() {
            if !site_ids.contains(site.as_str()) {
                r.at(
                    format!("zones[{i}].fed_by"),
                    &format!("zones[{i}].fed_by[{k}]"),
                    format!("no site with id {site:?}"),
                );
            }
        }
    }
    if let Some(db) = &config.influxdb {
        if let Err(m) = check_influx_url(&db.url) {
            r.err("influxdb.url".into(), m);
        }
        match db.api {
            super::InfluxApi::V1 if db.database.is_empty() => r.err(
                "influxdb.database".into(),
                "api = \"v1\" needs `database`".into(),
            ),
            super::InfluxApi::V2 if db.bucket.is_empty() => r.err(
                "influxdb.bucket".into(),
                "api = \"v2\" needs `bucket` (and org, token)".into(),
            ),
            _ => {}
        }
        if db.batch_lines == 0 {
            r.err("influxdb.batch_lines".into(), "must be at least 1".into());
        }
        if db.flush_interval.is_zero() {
            r.err(
                "influxdb.flush_interval".into(),
                "must be more than 0s".into(),
            );
        }
        if db.timeout.is_zero() {
            r.err("influxdb.timeout".into(), "must be more than 0s".into());
        }
    }
    if config.daemon.spool_max_mib == 0 {
        r.err(
            "daemon.spool_max_mib".into(),
            "must be at least 1 (MiB)".into(),
        );
    }
    if config.buffer.capacity.is_some_and(|c| c < 16) {
        r.err(
            "buffer.capacity".into(),
            "must be at least 16 samples".into(),
        );
    }
    if config.buffer.span.is_zero() || config.buffer.span > MAX_BUFFER_SPAN {
        r.err(
            "buffer.span".into(),
            format!(
                "must be more than 0s and at most {}s",
                MAX_BUFFER_SPAN.as_secs()
            ),
        );
    }
    if config.buffer.history > MAX_HISTORY {
        r.err(
            "buffer.history".into(),
            format!(
                "{} samples per point is too many: at most {MAX_HISTORY}",
                config.buffer.history
            ),
        );
    }

    check_api(&mut r, &mut config.api);

    let mut profiles = HashMap::new();
    let mut profile_errors = Vec::new();
    let dir = &config.daemon.profiles_dir;
    for (id, key) in profile_ids {
        if profiles.contains_key(&id) {
            continue;
        }
        if id.is_empty() || id.contains(['/', '\\', '.']) {
            r.err(key, format!("{id:?} is not a profile id (a file stem)"));
            continue;
        }
        match Profile::load(dir, &id) {
            Ok(p) => {
                profiles.insert(id, Arc::new(p));
            }
            Err(ProfileError::Io { path: p, source }) => r.err(
                key,
                format!(
                    "profile {id:?} not found: {} ({source}); profiles_dir is {:?}",
                    p.display(),
                    dir
                ),
            ),
            Err(
                ProfileError::Parse {
                    path: p,
                    line,
                    key,
                    message,
                }
                | ProfileError::Invalid {
                    path: p,
                    line,
                    key,
                    message,
                },
            ) => profile_errors.push(CheckError {
                file: p,
                line,
                key,
                message,
            }),
        }
    }
    if profile_errors.is_empty() {
        for (key, at, message) in super::alarms::validate(&config, &profiles) {
            r.at(key, &at, message);
        }
        for (key, message) in super::outages::validate(&config, &profiles) {
            r.err(key, message);
        }
    }
    for (key, message) in super::zones::validate(&mut config, &profiles) {
        r.err(key, message);
    }
    for (key, message) in super::tokens::check(&config.api.tokens) {
        r.err(key, message);
    }
    if let Some(m) = config.api.exposure_problem(config.api.listen) {
        r.err("api.listen".to_string(), m);
    }
    for (key, value) in [
        ("api.rate_limit_per_s", config.api.rate_limit_per_s),
        ("api.rate_limit_burst", config.api.rate_limit_burst),
    ] {
        if value == 0 {
            r.err(key.to_string(), "must be at least 1".to_string());
        }
    }
    if let Some(c) = &config.crm {
        for (key, message) in super::crm::validate(c) {
            r.err(key, message);
        }
    }
    for p in config.correlate.problems() {
        r.err(format!("correlate.{}", p.key()), p.to_string());
    }
    if let Some(n) = &config.notify {
        for (key, message) in super::notify::validate(n, &config) {
            r.err(key, message);
        }
    }
    let mut errors = r.errors;
    // File order; errors without a line (set by the environment) after those with one.
    errors.sort_by_key(|e| (e.line.is_none(), e.line));
    errors.extend(profile_errors);
    if errors.is_empty() {
        Ok(Network { config, profiles })
    } else {
        Err(errors)
    }
}

/// `[api]`: the timeouts, and the certificate and key of `[api.tls]`, loaded into
/// `api.tls.loaded`.
fn check_api(r: &mut Report, api: &mut super::ApiConfig) {
    for (key, value) in [
        ("header_read_timeout", api.header_read_timeout),
        ("request_timeout", api.request_timeout),
        ("tls_handshake_timeout", api.tls_handshake_timeout),
    ] {
        if value.is_zero() {
            r.err(format!("api.{key}"), "must be more than 0s".into());
        }
    }
    if let Some(tls) = &mut api.tls
        && let Err(e) = tls.load()
    {
        r.err(format!("api.tls.{}", e.key()), e.to_string());
    }
}

/// `influxdb.url`: what the writer builds its client from (the URL without trailing `/`)
/// must parse, with scheme http or https and a host; the write path is appended to it.
fn check_influx_url(url: &str) -> Result<(), String> {
    let base = url.trim_end_matches('/');
    let parsed = reqwest011::Url::parse(base)
        .map_err(|e| format!("{url:?} is not a URL ({e}); write e.g. \"http://127.0.0.1:8086\""))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("{url:?} must start with http:// or https://"));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(format!("{url:?} has no host"));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(format!(
            "{url:?}: no query or fragment (vigie appends the write path and its parameters)"
        ));
    }
    Ok(())
}

/// Ids become InfluxDB tags and URL path segments: letters, digits, `-`, `_`, `.`.
fn check_id(id: &str) -> Result<(), String> {
    if !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        Ok(())
    } else {
        Err(format!(
            "{id:?}: an id is 1-64 letters, digits, '-', '_' or '.'"
        ))
    }
}

/// `host:port` with a numeric port (IPv6 as `[::1]:502`); gives the host (lowercase) and port.
fn check_address(a: &str) -> Result<(String, u16), String> {
    let (host, port) = a
        .rsplit_once(':')
        .ok_or_else(|| format!("{a:?} must be host:port, e.g. \"127.0.0.1:502\""))?;
    let port = port
        .parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| format!("{a:?}: port {port:?} is not 1..=65535"))?;
    if host.is_empty() {
        return Err(format!("{a:?}: empty host"));
    }
    Ok((host.to_ascii_lowercase(), port))
}
