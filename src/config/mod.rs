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
pub mod tokens;
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

/// `[daemon]`: folders, the spool bound and how polls are placed on their grid.
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
    /// What gives when the spool is full: `refuse_new` (default, keep the oldest so history
    /// stays contiguous) or `drop_oldest`.
    #[serde(default)]
    pub spool_full: crate::sink::spool::FullPolicy,
    /// Spread polls over the poll interval instead of firing every connection on the same
    /// instant: each `host:port` gets a fixed phase, FNV-1a 64 of its address modulo the
    /// device's `poll_interval`, in whole ms, and the devices behind it (a gateway's units)
    /// are spaced evenly over the interval from there, in `vigie.toml` order (`poll::grid`).
    /// Samples are then stamped `k × poll_interval + phase`, no longer on the whole second.
    /// Default false: grids aligned to the epoch.
    #[serde(default)]
    pub poll_spread: bool,
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
            spool_full: Default::default(),
            poll_spread: false,
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
    /// `[api.tls]`: serve HTTPS with this certificate and key (README "TLS"). Absent: plain
    /// HTTP.
    pub tls: Option<crate::api::tls::TlsConfig>,
    /// A connection is closed when a request's headers have not all arrived this long after
    /// the connection opened or the previous answer was sent (slowloris; an idle keep-alive
    /// connection is closed then too). HTTP/1.1; over HTTP/2 it bounds the first request.
    #[serde(
        default = "default_header_read_timeout",
        deserialize_with = "duration::de"
    )]
    pub header_read_timeout: Duration,
    /// A request not answered within this time gets 503 `{"error": …}`.
    #[serde(default = "default_request_timeout", deserialize_with = "duration::de")]
    pub request_timeout: Duration,
    /// With `[api.tls]`: a client that has not completed the TLS handshake by then is
    /// dropped (counted with the failed handshakes).
    #[serde(
        default = "default_tls_handshake_timeout",
        deserialize_with = "duration::de"
    )]
    pub tls_handshake_timeout: Duration,
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// `[[api.tokens]]`: who may call the API, each with a role. None: the API is open to
    /// whoever reaches it, and may then listen only on a loopback address.
    #[serde(default)]
    pub tokens: Vec<tokens::ApiToken>,
    /// Requests per second each token may make, sustained (a token bucket per token;
    /// requests without tokens share one bucket). Above: 429 with `Retry-After`.
    #[serde(default = "default_rate_limit_per_s")]
    pub rate_limit_per_s: u32,
    /// Requests a token may make at once above the sustained rate (a Grafana dashboard
    /// loading all its panels).
    #[serde(default = "default_rate_limit_burst")]
    pub rate_limit_burst: u32,
}

/// A client sends its headers in one packet within milliseconds; 10 s leaves room for a
/// GPRS or satellite link and keeps a slowloris connection at most 10 s.
fn default_header_read_timeout() -> Duration {
    Duration::from_secs(10)
}
/// Grafana's data source proxy gives up after 30 s (its `dataproxy.timeout`): an answer
/// later than that is read by nobody.
fn default_request_timeout() -> Duration {
    Duration::from_secs(30)
}
/// A handshake takes two round trips; 10 s is as patient as `header_read_timeout`.
fn default_tls_handshake_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}
fn default_rate_limit_per_s() -> u32 {
    50
}
fn default_rate_limit_burst() -> u32 {
    200
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            tls: None,
            header_read_timeout: default_header_read_timeout(),
            request_timeout: default_request_timeout(),
            tls_handshake_timeout: default_tls_handshake_timeout(),
            listen: default_listen(),
            tokens: Vec::new(),
            rate_limit_per_s: default_rate_limit_per_s(),
            rate_limit_burst: default_rate_limit_burst(),
        }
    }
}

impl ApiConfig {
    /// Why the API may not listen on `listen` as configured: an open API (no tokens) on an
    /// address other hosts can reach.
    pub fn exposure_problem(&self, listen: SocketAddr) -> Option<String> {
        (self.tokens.is_empty() && !listen.ip().is_loopback()).then(|| {
            format!(
                "the API would listen on {listen} with no [[api.tokens]]: anyone on the network could acknowledge alarms and change incidents. Add tokens (`vigie token ROLE` prints one) or listen on 127.0.0.1"
            )
        })
    }
}

/// `[buffer]`: the per-connection ring buffers and the API's short history.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BufferConfig {
    /// How long of its devices' records each connection's ring buffer holds while the drain
    /// is held up (a slow disk under the spool, a loaded machine): its size is this span
    /// times the records its devices make per second (one per point and one per poll),
    /// never less than two polls of every device. Default 10 s.
    #[serde(default = "default_span", deserialize_with = "duration::de")]
    pub span: Duration,
    /// Records per connection, fixed: when set, replaces the size `span` gives.
    #[serde(default)]
    pub capacity: Option<usize>,
    /// Points of short history kept per point for the API.
    #[serde(default = "default_history")]
    pub history: usize,
}

fn default_span() -> Duration {
    Duration::from_secs(10)
}
fn default_history() -> usize {
    120
}

impl Default for BufferConfig {
    fn default() -> Self {
        BufferConfig {
            span: default_span(),
            capacity: None,
            history: default_history(),
        }
    }
}

impl BufferConfig {
    /// Records the ring buffer of a connection holds, for its devices given as
    /// (points, poll interval) pairs: `capacity` when set, else `span` × records per second,
    /// at least two polls of every device and at least 16.
    pub fn records_for(&self, devices: impl Iterator<Item = (usize, Duration)>) -> usize {
        if let Some(c) = self.capacity {
            return c;
        }
        let (mut per_second, mut two_polls) = (0.0_f64, 0_usize);
        for (points, interval) in devices {
            let records = points + 1;
            per_second += records as f64 / interval.as_secs_f64().max(1e-3);
            two_polls += 2 * records;
        }
        let spanned = (per_second * self.span.as_secs_f64()).ceil() as usize;
        spanned.max(two_polls).max(16)
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

#[cfg(test)]
mod buffer_tests {
    use super::BufferConfig;
    use std::time::Duration;

    #[test]
    fn a_ring_buffer_holds_its_span_of_records_and_at_least_two_polls() {
        let b = BufferConfig::default();
        let s = Duration::from_secs(1);
        // A gateway with 10 units of 10 points each, every second: 110 records/s × 10 s.
        assert_eq!(b.records_for((0..10).map(|_| (10, s))), 1100);
        // One 12-point device read every 60 s: two polls (26 records), not 10/60 of one.
        assert_eq!(
            b.records_for([(12, Duration::from_secs(60))].into_iter()),
            26
        );
        // A fixed capacity wins.
        let fixed = BufferConfig {
            capacity: Some(4096),
            ..BufferConfig::default()
        };
        assert_eq!(fixed.records_for([(10, s)].into_iter()), 4096);
        assert_eq!(b.records_for(std::iter::empty()), 16);
    }
}
