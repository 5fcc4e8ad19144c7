//! `vigie.toml`: the network to supervise (sites, devices, zones) and where data goes.
//!
//! Read with the `config` crate, layered: the file, then environment variables
//! `VIGIE__SECTION__KEY` (e.g. `VIGIE__INFLUXDB__TOKEN`). Every key is documented in
//! `vigie.example.toml`, which a test validates. [`check`] turns a file into the validated
//! [`Network`] or a list of errors naming file, line and key.

pub mod alarms;
pub mod catalog;
pub mod check;
pub mod crm;
pub mod duration;
pub mod notify;
pub mod outages;
pub mod shard;
pub mod zones;

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub use check::{CheckError, Network, load};

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub daemon: DaemonConfig,
    /// Absent: samples go to the disk spool only.
    pub influxdb: Option<InfluxConfig>,
    #[serde(default)]
    pub api: ApiConfig,
    #[serde(default)]
    pub buffer: BufferConfig,
    #[serde(default)]
    pub zones: Vec<ZoneConfig>,
    #[serde(default)]
    pub sites: Vec<SiteConfig>,
    /// `[alarms]`: engine-wide alarm settings (definitions are per site).
    #[serde(default)]
    pub alarms: alarms::AlarmsConfig,
    /// `[notify]`: who is told about alarms, how and when. Absent: no notifications.
    pub notify: Option<notify::NotifyConfig>,
    /// `[correlate]`: how consumption alerts are matched with alarms.
    #[serde(default)]
    pub correlate: crate::correlate::classify::ClassifyConfig,
    /// `[crm]`: the CRM's webhook (alert classifications, outages). Absent: nothing is sent;
    /// the CRM can still read the API.
    pub crm: Option<crm::CrmConfig>,
}

/// `[daemon]`: folders and the spool bound.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaemonConfig {
    /// Where profile ids are looked up (`<id>.toml`); relative to the working directory.
    #[serde(default = "default_profiles_dir")]
    pub profiles_dir: PathBuf,
    /// Spool and embedded databases.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// Largest size of the disk spool, in MiB; when full, new batches are refused and counted.
    #[serde(default = "default_spool_max_mib")]
    pub spool_max_mib: u64,
}

fn default_profiles_dir() -> PathBuf {
    "plc-profiles".into()
}
fn default_data_dir() -> PathBuf {
    "var".into()
}
fn default_spool_max_mib() -> u64 {
    1024
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            profiles_dir: default_profiles_dir(),
            data_dir: default_data_dir(),
            spool_max_mib: default_spool_max_mib(),
        }
    }
}

/// Which InfluxDB write API to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InfluxApi {
    /// `/write?db=` (InfluxDB 1.x).
    V1,
    /// `/api/v2/write` with org, bucket and token (InfluxDB 2.x/3.x, VictoriaMetrics).
    #[default]
    V2,
}

/// `[influxdb]`: where samples are written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InfluxConfig {
    /// Base URL, e.g. `http://127.0.0.1:8086`.
    pub url: String,
    #[serde(default)]
    pub api: InfluxApi,
    #[serde(default)]
    pub org: String,
    #[serde(default)]
    pub bucket: String,
    #[serde(default)]
    pub token: String,
    /// v1 only: the database.
    #[serde(default)]
    pub database: String,
    /// v1 only, optional basic credentials.
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password: String,
    /// A batch is sent when it holds this many lines...
    #[serde(default = "default_batch_lines")]
    pub batch_lines: usize,
    /// ...or when its oldest line is this old.
    #[serde(default = "default_flush_interval", deserialize_with = "duration::de")]
    pub flush_interval: Duration,
    /// HTTP timeout of one write.
    #[serde(default = "default_write_timeout", deserialize_with = "duration::de")]
    pub timeout: Duration,
    /// Attempts on 5xx or connection errors before the batch goes to the disk spool.
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
}

fn default_batch_lines() -> usize {
    5000
}
fn default_flush_interval() -> Duration {
    Duration::from_secs(1)
}
fn default_write_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_max_retries() -> u32 {
    4
}

/// `[api]`: the HTTP API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            listen: default_listen(),
        }
    }
}

/// `[buffer]`: the per-connection ring buffers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BufferConfig {
    /// Samples each connection's ring buffer holds before new samples are counted as overflow.
    #[serde(default = "default_capacity")]
    pub capacity: usize,
    /// Points of short history kept per point for the API.
    #[serde(default = "default_history")]
    pub history: usize,
}

fn default_capacity() -> usize {
    65_536
}
fn default_history() -> usize {
    120
}

impl Default for BufferConfig {
    fn default() -> Self {
        BufferConfig {
            capacity: default_capacity(),
            history: default_history(),
        }
    }
}

/// The utility a zone distributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Utility {
    Water,
    Electricity,
}

/// `[[zones]]`: a supply area (water DMA or electricity feeder area).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneConfig {
    pub id: String,
    #[serde(default)]
    pub name: String,
    pub utility: Utility,
    /// Ids of the sites that feed the zone.
    #[serde(default)]
    pub fed_by: Vec<String>,
    /// The area the zone covers: a GeoJSON `Polygon` or `MultiPolygon` written inline,
    /// `[longitude, latitude]` positions ([`zones::read_area`]).
    pub area: Option<geojson::Geometry>,
    /// Or the area read from a GeoJSON file (relative to the working directory).
    pub area_file: Option<PathBuf>,
    /// Water zones: the flow meters whose sum is the zone's inflow (minimum night flow).
    #[serde(default)]
    pub inflow: Vec<zones::FlowPoint>,
    /// The area, read by `vigie check` from `area` or `area_file`.
    #[serde(skip)]
    pub resolved_area: Option<geo::MultiPolygon<f64>>,
}

impl ZoneConfig {
    /// A zone with only its id and utility (no name, feeding site, area or inflow).
    pub fn new(id: &str, utility: Utility) -> ZoneConfig {
        ZoneConfig {
            id: id.to_string(),
            name: String::new(),
            utility,
            fed_by: Vec::new(),
            area: None,
            area_file: None,
            inflow: Vec::new(),
            resolved_area: None,
        }
    }
}

/// What a site is (the `kind` tag in InfluxDB).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SiteKind {
    PumpingStation,
    Reservoir,
    Borehole,
    Substation,
    Feeder,
    TreatmentPlant,
}

impl SiteKind {
    /// The name used in config, tags and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            SiteKind::PumpingStation => "pumping_station",
            SiteKind::Reservoir => "reservoir",
            SiteKind::Borehole => "borehole",
            SiteKind::Substation => "substation",
            SiteKind::Feeder => "feeder",
            SiteKind::TreatmentPlant => "treatment_plant",
        }
    }
}

/// `[[sites]]`: a supervised installation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteConfig {
    pub id: String,
    #[serde(default)]
    pub name: String,
    pub kind: SiteKind,
    #[serde(default)]
    pub devices: Vec<DeviceConfig>,
    /// `[[sites.alarms]]`: alarm definitions on this site's devices and points.
    #[serde(default)]
    pub alarms: Vec<alarms::AlarmConfig>,
    /// `[[sites.outages]]`: when this site's alarms or point states mean a zone is without
    /// supply.
    #[serde(default)]
    pub outages: Vec<outages::OutageRule>,
}

/// `[[sites.devices]]`: one Modbus server at `address` + `unit_id`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceConfig {
    pub id: String,
    /// Profile id: file stem in `profiles_dir`.
    pub profile: String,
    /// `host:port` of the device or its gateway; devices with the same address share one
    /// TCP connection.
    pub address: String,
    /// Modbus unit id, 1..=255 (0 is broadcast and gets no reply).
    pub unit_id: u8,
    #[serde(default = "default_poll_interval", deserialize_with = "duration::de")]
    pub poll_interval: Duration,
    /// Per-request timeout.
    #[serde(default = "default_timeout", deserialize_with = "duration::de")]
    pub timeout: Duration,
}

fn default_poll_interval() -> Duration {
    Duration::from_secs(1)
}
fn default_timeout() -> Duration {
    Duration::from_millis(500)
}
