//! Loading and validating `vigie.toml` with the profiles it names (`vigie check`).
//!
//! Every problem is reported, not only the first, each naming the file, the line where the
//! TOML parser or a search of the text finds it, and the key.

use super::Config;
use super::position::{key_at_line, line_of};
use crate::profile::{Profile, ProfileError};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One problem in a config or profile file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckError {
    pub file: PathBuf,
    /// 1-based, when known.
    pub line: Option<usize>,
    /// The key, e.g. `sites[0].devices[1].unit_id`.
    pub key: String,
    pub message: String,
}

impl CheckError {
    /// A TOML parse or type error in `text` (the file at `file`), at the line it points to.
    pub fn from_toml(file: &Path, text: &str, e: &toml::de::Error) -> CheckError {
        let line = e.span().map(|s| line_of(text, s.start));
        CheckError {
            file: file.to_path_buf(),
            line,
            key: line
                .map(|l| key_at_line(text, l))
                .unwrap_or_else(|| "-".into()),
            message: e.message().trim().to_string(),
        }
    }
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
        }
        write!(f, ": {}: {}", self.key, self.message)
    }
}

/// A validated configuration with the profiles it uses.
#[derive(Debug, Clone)]
pub struct Network {
    pub config: Config,
    /// Profiles by id.
    pub profiles: HashMap<String, Arc<Profile>>,
}

/// Reads `path`, layers `VIGIE__…` variables from `env` (None: the process environment),
/// validates everything and loads the profiles.
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
    // The toml parser knows lines; parse with it first so errors point into the file.
    if let Err(e) = toml::from_str::<Config>(&text) {
        return Err(vec![CheckError::from_toml(path, &text, &e)]);
    }
    let config = layered(path, env).map_err(|message| {
        vec![CheckError {
            file: path.to_path_buf(),
            line: None,
            key: "environment".into(),
            message,
        }]
    })?;
    validate(path, &text, config)
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
    validate(name, text, config)
}

fn layered(path: &Path, env: Option<HashMap<String, String>>) -> Result<Config, String> {
    let env_source = config::Environment::with_prefix("VIGIE")
        .prefix_separator("__")
        .separator("__")
        .source(env);
    config::Config::builder()
        .add_source(config::File::from(path).format(config::FileFormat::Toml))
        .add_source(env_source)
        .build()
        .and_then(|c| c.try_deserialize::<Config>())
        .map_err(|e| format!("{e} (check VIGIE__… environment variables)"))
}

fn validate(path: &Path, text: &str, config: Config) -> Result<Network, Vec<CheckError>> {
    let mut errors = Vec::new();
    let mut err = |key: String, needle: Option<&str>, message: String| {
        let anchor = if message.starts_with("duplicate") {
            needle.and_then(|n| find_last_line(text, n))
        } else {
            needle.and_then(|n| find_line(text, n))
        };
        let field = key.rsplit('.').next().unwrap_or("");
        let line = anchor.map(|a| refine_to_key(text, a, field).unwrap_or(a));
        errors.push(CheckError {
            file: path.to_path_buf(),
            line,
            key,
            message,
        });
    };
    let mut zone_ids = HashSet::new();
    for (i, z) in config.zones.iter().enumerate() {
        check_id(&z.id).unwrap_or_else(|m| err(format!("zones[{i}].id"), Some(&quoted(&z.id)), m));
        if !zone_ids.insert(z.id.as_str()) {
            err(
                format!("zones[{i}].id"),
                Some(&quoted(&z.id)),
                format!("duplicate zone id {:?}", z.id),
            );
        }
    }
    let mut site_ids = HashSet::new();
    let mut profile_ids: Vec<(String, String)> = Vec::new(); // (profile, key)
    for (i, s) in config.sites.iter().enumerate() {
        let site_needle = quoted(&s.id);
        check_id(&s.id).unwrap_or_else(|m| err(format!("sites[{i}].id"), Some(&site_needle), m));
        if !site_ids.insert(s.id.as_str()) {
            err(
                format!("sites[{i}].id"),
                Some(&site_needle),
                format!("duplicate site id {:?}", s.id),
            );
        }
        let mut device_ids = HashSet::new();
        for (j, d) in s.devices.iter().enumerate() {
            let key = |k: &str| format!("sites[{i}].devices[{j}].{k}");
            let dev_needle = quoted(&d.id);
            check_id(&d.id).unwrap_or_else(|m| err(key("id"), Some(&dev_needle), m));
            if !device_ids.insert(d.id.as_str()) {
                err(
                    key("id"),
                    Some(&dev_needle),
                    format!("duplicate device id {:?} in site {:?}", d.id, s.id),
                );
            }
            if let Err(m) = check_address(&d.address) {
                err(key("address"), Some(&quoted(&d.address)), m);
            }
            if d.unit_id == 0 {
                err(
                    key("unit_id"),
                    Some(&dev_needle),
                    "unit id 0 is broadcast (no reply); use 1..=255".into(),
                );
            }
            if d.poll_interval < std::time::Duration::from_millis(10) {
                err(
                    key("poll_interval"),
                    Some(&dev_needle),
                    "poll_interval must be at least 10ms".into(),
                );
            }
            if d.timeout.is_zero() || d.timeout > d.poll_interval {
                err(
                    key("timeout"),
                    Some(&dev_needle),
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
        for site in &z.fed_by {
            if !site_ids.contains(site.as_str()) {
                err(
                    format!("zones[{i}].fed_by"),
                    Some(&quoted(site)),
                    format!("no site with id {site:?}"),
                );
            }
        }
    }
    if let Some(db) = &config.influxdb {
        if !(db.url.starts_with("http://") || db.url.starts_with("https://")) {
            err(
                "influxdb.url".into(),
                Some("url"),
                format!("{:?} must start with http:// or https://", db.url),
            );
        }
        match db.api {
            super::InfluxApi::V1 if db.database.is_empty() => err(
                "influxdb.database".into(),
                Some("api"),
                "api = \"v1\" needs `database`".into(),
            ),
            super::InfluxApi::V2 if db.bucket.is_empty() => err(
                "influxdb.bucket".into(),
                Some("api"),
                "api = \"v2\" needs `bucket` (and org, token)".into(),
            ),
            _ => {}
        }
        if db.batch_lines == 0 {
            err(
                "influxdb.batch_lines".into(),
                Some("batch_lines"),
                "must be at least 1".into(),
            );
        }
    }
    if config.buffer.capacity < 16 {
        err(
            "buffer.capacity".into(),
            Some("capacity"),
            "must be at least 16 samples".into(),
        );
    }

    let mut profiles = HashMap::new();
    let mut profile_errors = Vec::new();
    let dir = &config.daemon.profiles_dir;
    for (id, key) in profile_ids {
        if profiles.contains_key(&id) {
            continue;
        }
        let needle = quoted(&id);
        if id.is_empty() || id.contains(['/', '\\', '.']) {
            err(
                key,
                Some(&needle),
                format!("{id:?} is not a profile id (a file stem)"),
            );
            continue;
        }
        match Profile::load(dir, &id) {
            Ok(p) => {
                profiles.insert(id, Arc::new(p));
            }
            Err(ProfileError::Io { path: p, source }) => err(
                key,
                Some(&needle),
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
    errors.extend(profile_errors);
    if errors.is_empty() {
        Ok(Network { config, profiles })
    } else {
        Err(errors)
    }
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

/// `host:port` with a numeric port (IPv6 as `[::1]:502`).
fn check_address(a: &str) -> Result<(), String> {
    let (host, port) = a
        .rsplit_once(':')
        .ok_or_else(|| format!("{a:?} must be host:port, e.g. \"127.0.0.1:502\""))?;
    port.parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| format!("{a:?}: port {port:?} is not 1..=65535"))?;
    if host.is_empty() {
        return Err(format!("{a:?}: empty host"));
    }
    Ok(())
}

fn quoted(s: &str) -> String {
    format!("\"{s}\"")
}

/// First line containing `needle`.
fn find_line(text: &str, needle: &str) -> Option<usize> {
    text.lines().position(|l| l.contains(needle)).map(|i| i + 1)
}

/// From the line of a table's anchor (its id), the line where `field` is set inside the
/// same table (inline or not), if it is written there.
fn refine_to_key(text: &str, anchor: usize, field: &str) -> Option<usize> {
    let is_key = |l: &str| {
        l.split([',', '{']).any(|part| {
            part.trim()
                .split('=')
                .next()
                .is_some_and(|k| k.trim() == field)
                && part.contains('=')
        })
    };
    for (i, l) in text.lines().enumerate().skip(anchor - 1) {
        if i + 1 > anchor && l.trim_start().starts_with('[') {
            break;
        }
        if is_key(l) {
            return Some(i + 1);
        }
        if i + 1 > anchor && l.trim_start().starts_with("id") {
            break;
        }
    }
    None
}

/// Last line containing `needle` (where a duplicate is).
fn find_last_line(text: &str, needle: &str) -> Option<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| l.contains(needle))
        .last()
        .map(|(i, _)| i + 1)
}
