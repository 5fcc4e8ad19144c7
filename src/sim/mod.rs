//! The station simulator (`vigie simulate -c sim.toml`, and `vigie demo`): Modbus TCP
//! servers that serve the register maps of `plc-profiles/` with plausible physics and
//! scripted faults. It answers read function codes 01-04 only and validates quantities
//! (1..=125 registers, 1..=2000 bits) as the Modbus spec requires (v1.1b3 §6.1-6.4).

pub mod physics;
pub mod roles;
mod server;

use crate::config::duration;
use crate::profile::{Profile, ProfileError};
use roles::Role;
use serde::Deserialize;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use server::{RunningSim, start};

/// `sim.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimConfig {
    #[serde(default = "default_profiles_dir")]
    pub profiles_dir: PathBuf,
    /// Hours added to UTC for the daily curves (demand peaks at local 07:30 and 19:30).
    #[serde(default)]
    pub utc_offset_hours: f64,
    #[serde(default)]
    pub sites: Vec<SimSite>,
    #[serde(default)]
    pub servers: Vec<SimServer>,
    #[serde(default)]
    pub faults: Vec<SimFault>,
}

fn default_profiles_dir() -> PathBuf {
    "plc-profiles".into()
}

/// The physical model of one site.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SiteModel {
    PumpingStation,
    Substation,
    Borehole,
    /// No physics: units serve their `fixed` values only.
    None,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimSite {
    pub id: String,
    pub model: SiteModel,
    /// Pumps of a pumping station.
    #[serde(default = "three")]
    pub pumps: u32,
    /// Feeders of a substation.
    #[serde(default = "two")]
    pub feeders: u32,
}

fn three() -> u32 {
    3
}
fn two() -> u32 {
    2
}

/// One listening address (a device or a gateway) and the unit ids behind it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimServer {
    /// A name faults can refer to (e.g. `GW_PS01`).
    #[serde(default)]
    pub name: String,
    /// `127.0.0.1:5020`; port 0 picks a free port.
    pub listen: SocketAddr,
    pub units: Vec<SimUnit>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimUnit {
    pub unit_id: u8,
    pub profile: String,
    pub site: String,
    pub role: Role,
    /// Pump or feeder number for `pump_drive`, `breaker` and a feeder's `power_meter`.
    #[serde(default)]
    pub index: u32,
    /// Values by point name that override the physics (numbers, or booleans).
    #[serde(default)]
    pub fixed: HashMap<String, toml::Value>,
}

/// What a scripted fault does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// Pipe burst at a pumping station: pressure drop and flow spike.
    Burst,
    /// Feeder `index` of a substation trips.
    FeederTrip,
    /// Pump `index` trips on fault (drive fault code 0x2310, overcurrent).
    PumpTrip,
    /// Unit `unit_id` behind `server` stops answering (powered off, cable cut).
    Silent,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimFault {
    pub kind: FaultKind,
    #[serde(default)]
    pub site: String,
    #[serde(default)]
    pub index: u32,
    /// For `silent`: the server's name (or listen address as written), and the unit id.
    pub server: Option<String>,
    pub unit_id: Option<u8>,
    /// Starts this long after the simulator starts...
    #[serde(deserialize_with = "duration::de")]
    pub start: Duration,
    /// ...lasts this long...
    #[serde(deserialize_with = "duration::de")]
    pub duration: Duration,
    /// ...and comes back this often (absent: once).
    #[serde(default, deserialize_with = "duration::de_opt")]
    pub every: Option<Duration>,
}

impl SimFault {
    /// True when the fault is on `elapsed` after the simulator started.
    pub fn active(&self, elapsed: Duration) -> bool {
        let Some(since) = elapsed.checked_sub(self.start) else {
            return false;
        };
        match self.every {
            Some(every) if !every.is_zero() => {
                Duration::from_nanos((since.as_nanos() % every.as_nanos()) as u64) < self.duration
            }
            _ => since < self.duration,
        }
    }
}

/// Simulator set-up errors.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("{path}: {message}")]
    Config { path: PathBuf, message: String },
    #[error("simulator configuration: {0}")]
    Invalid(String),
    #[error(transparent)]
    Profile(#[from] ProfileError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

impl SimConfig {
    /// Parses `sim.toml` text; `path` is for messages.
    pub fn parse(path: &Path, text: &str) -> Result<SimConfig, SimError> {
        toml::from_str(text).map_err(|e| SimError::Config {
            path: path.to_path_buf(),
            message: match e.span() {
                Some(s) => format!(
                    "line {}: {}",
                    crate::toml_position::line_of(text, s.start),
                    e.message()
                ),
                None => e.message().to_string(),
            },
        })
    }

    /// Reads `sim.toml`.
    pub fn load(path: &Path) -> Result<SimConfig, SimError> {
        let text = std::fs::read_to_string(path).map_err(|e| SimError::Config {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        SimConfig::parse(path, &text)
    }
}

/// The simulated world shared by every server: site models, faults, time.
pub struct World {
    pub config: SimConfig,
    pub profiles: HashMap<String, Arc<Profile>>,
    started: Instant,
    /// Per site: (time s, volume m3, energy kWh) integrated from the live flow and power, so
    /// totalisers and energy counters follow what the meters read.
    counters: std::sync::Mutex<HashMap<String, (f64, f64, f64)>>,
}

impl World {
    /// Loads the profiles the units name.
    pub fn new(config: SimConfig) -> Result<World, SimError> {
        let mut profiles = HashMap::new();
        for s in &config.servers {
            for u in &s.units {
                if !profiles.contains_key(&u.profile) {
                    profiles.insert(
                        u.profile.clone(),
                        Arc::new(Profile::load(&config.profiles_dir, &u.profile)?),
                    );
                }
                if !config.sites.iter().any(|x| x.id == u.site)
                    && !matches!(u.role, Role::Fixed | Role::Wave)
                {
                    return Err(SimError::Config {
                        path: "sim.toml".into(),
                        message: format!(
                            "unit {} names site {:?}, which has no [[sites]] entry",
                            u.unit_id, u.site
                        ),
                    });
                }
            }
        }
        Ok(World {
            config,
            profiles,
            started: Instant::now(),
            counters: Default::default(),
        })
    }

    /// Time since the simulator started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Faults active now.
    pub fn active_faults(&self) -> impl Iterator<Item = &SimFault> {
        let e = self.elapsed();
        self.config.faults.iter().filter(move |f| f.active(e))
    }

    /// True when unit `unit_id` of `server` must stay silent now.
    pub fn silent(&self, server: &SimServer, unit_id: u8) -> bool {
        self.active_faults().any(|f| {
            f.kind == FaultKind::Silent
                && f.unit_id == Some(unit_id)
                && f.server
                    .as_deref()
                    .is_some_and(|s| s == server.name || s == server.listen.to_string())
        })
    }

    /// The signals of site `id` now.
    pub fn signals(&self, id: &str) -> physics::Signals {
        let Some(site) = self.config.sites.iter().find(|s| s.id == id) else {
            return Default::default();
        };
        let mut faults = physics::ActiveFaults::default();
        for f in self.active_faults().filter(|f| f.site == id) {
            match f.kind {
                FaultKind::Burst => faults.burst = true,
                FaultKind::FeederTrip => faults.tripped_feeders.push(f.index),
                FaultKind::PumpTrip => faults.tripped_pumps.push(f.index),
                FaultKind::Silent => {}
            }
        }
        let t = crate::sample::now_ns() as f64 / 1e9;
        let sod = (t + self.config.utc_offset_hours * 3600.0).rem_euclid(86400.0);
        let mut signals = match site.model {
            SiteModel::PumpingStation => physics::pumping_station(t, sod, site.pumps, &faults),
            SiteModel::Substation => physics::substation(t, sod, site.feeders, &faults),
            SiteModel::Borehole => physics::borehole(t, sod, &faults),
            SiteModel::None => Default::default(),
        };
        self.integrate_counters(id, t, &mut signals);
        signals
    }

    /// Replaces the model's starting totals by totals integrated from the live flow
    /// (m3/h) and power (kW) since the first request: counters never go back.
    fn integrate_counters(&self, id: &str, t: f64, s: &mut physics::Signals) {
        let Ok(mut counters) = self.counters.lock() else {
            return;
        };
        let flow = s.get("flow_m3_per_h").copied().unwrap_or(0.0);
        let power = s.get("total_power_kw").copied().unwrap_or(0.0);
        let start = (
            t,
            s.get("volume_m3").copied().unwrap_or(0.0),
            s.get("energy_kwh").copied().unwrap_or(0.0),
        );
        let c = counters.entry(id.to_string()).or_insert(start);
        let hours = ((t - c.0) / 3600.0).max(0.0);
        *c = (t.max(c.0), c.1 + flow * hours, c.2 + power * hours);
        s.insert("volume_m3".into(), c.1);
        s.insert("energy_kwh".into(), c.2);
    }
}
