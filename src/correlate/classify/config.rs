//! The correlator's settings (`[correlate]` in vigie.toml), with the reasoning of each
//! default.

use crate::alarm::Priority;
use crate::config::duration;
use crate::correlate::night_flow::config::{NightFlowConfig, NightFlowConfigError};
use serde::Deserialize;
use std::time::Duration;

pub const CONDITIONS: [&str; 8] = [
    "high_high",
    "high",
    "low",
    "low_low",
    "rate_of_change",
    "discrete",
    "comm_failure",
    "stale",
];

/// Default [`ClassifyConfig::window`]: 48 h. Billing periods are dates (a meter is read some
/// time on its reading day, in local time), so matching must tolerate a day on either side;
/// and a network event shows on customers' meters during and after its restoration (the
/// refill pushes air through the meters, pressure swings), up to a day after. Two days covers
/// both without reaching the next week's events.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(48 * 3600);

/// Default [`ClassifyConfig::min_cluster`]: 3. "Several" alerts (issue 4): two alerts in one
/// zone at the same time is a plausible coincidence of two leaks at home, three starts to be a
/// pattern. This is a small-zone default: set it above the number of alerts a zone usually
/// gets per billing period, or every period of a large zone becomes a cluster.
pub const DEFAULT_MIN_CLUSTER: usize = 3;

/// Default [`ClassifyConfig::network_conditions`]: every condition that describes the
/// network's state (pressure, flow, level, voltage limits; a burst's rate of change; a breaker
/// or pump status). `comm_failure` and `stale` are left out: they say that vigie cannot see
/// the site, not that the network misbehaves.
pub const DEFAULT_NETWORK_CONDITIONS: [&str; 6] = [
    "low",
    "low_low",
    "high",
    "high_high",
    "rate_of_change",
    "discrete",
];

/// Default [`ClassifyConfig::min_priority`]: `high`. The priority is the operator's own
/// statement of an alarm's consequence; `low` and `medium` alarms (EEMUA 191: about 95 % of
/// them, e.g. a flow slightly high at the morning peak) are routine and would overlap every
/// billing period, explaining every alert. `high` and `critical` (a burst, a low-low, a
/// breaker trip) are the events that move customers' meters.
pub const DEFAULT_MIN_PRIORITY: Priority = Priority::High;

/// The smallest `min_cluster` applied: a "cluster" of one would make every lone alert a
/// suspected network anomaly and leave no alert `customer_side`.
pub const MIN_CLUSTER_FLOOR: usize = 2;

/// `[correlate]` in `vigie.toml`: how alerts and alarms are matched.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifyConfig {
    /// How far apart in time an alarm episode and an alert's billing period, two alerts'
    /// periods, or two alarm episodes may be and still be matched (a duration string,
    /// `"48h"`); default [`DEFAULT_WINDOW`].
    #[serde(default = "default_window", deserialize_with = "duration::de")]
    pub window: Duration,
    /// How many alerts of one zone, overlapping one network event or each other, make a
    /// network event or a cluster (a count, at least [`MIN_CLUSTER_FLOOR`]); default
    /// [`DEFAULT_MIN_CLUSTER`].
    #[serde(default = "default_min_cluster")]
    pub min_cluster: usize,
    /// The alarm conditions ([`CONDITIONS`]) that count as network alarms; default
    /// [`DEFAULT_NETWORK_CONDITIONS`].
    #[serde(default = "default_network_conditions")]
    pub network_conditions: Vec<String>,
    /// The lowest alarm priority that counts as a network alarm; default
    /// [`DEFAULT_MIN_PRIORITY`].
    #[serde(default = "default_min_priority")]
    pub min_priority: Priority,
    /// How often the correlator runs over the alerts and the alarm journal; default 30 s
    /// (alerts come in batches from billing, alarms are minutes long: seconds do not matter).
    #[serde(default = "default_interval", deserialize_with = "duration::de")]
    pub interval: Duration,
    /// `[correlate.night_flow]`: minimum night flow per water zone, whose rises join the
    /// classification (rule 2b).
    #[serde(default)]
    pub night_flow: NightFlowConfig,
}

fn default_interval() -> Duration {
    Duration::from_secs(30)
}

fn default_window() -> Duration {
    DEFAULT_WINDOW
}

fn default_min_cluster() -> usize {
    DEFAULT_MIN_CLUSTER
}

fn default_network_conditions() -> Vec<String> {
    DEFAULT_NETWORK_CONDITIONS
        .iter()
        .map(|s| s.to_string())
        .collect()
}

fn default_min_priority() -> Priority {
    DEFAULT_MIN_PRIORITY
}

impl Default for ClassifyConfig {
    fn default() -> Self {
        ClassifyConfig {
            window: DEFAULT_WINDOW,
            min_cluster: DEFAULT_MIN_CLUSTER,
            network_conditions: default_network_conditions(),
            min_priority: DEFAULT_MIN_PRIORITY,
            interval: default_interval(),
            night_flow: NightFlowConfig::default(),
        }
    }
}

/// A problem in `[correlate]` (for `vigie check`; [`classify`] itself never fails).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClassifyConfigError {
    /// `min_cluster` below [`MIN_CLUSTER_FLOOR`] ([`classify`] applies the floor).
    #[error(
        "min_cluster = {0}: at least {MIN_CLUSTER_FLOOR} (a cluster of one would make every \
         lone alert a suspected network anomaly)"
    )]
    MinClusterTooSmall(usize),
    /// A `network_conditions` entry that names no alarm condition (it would match nothing).
    #[error(
        "network_conditions[{index}] = {name:?} is not an alarm condition (one of \
         high_high, high, low, low_low, rate_of_change, discrete, comm_failure, stale)"
    )]
    UnknownCondition { index: usize, name: String },
    /// A problem in `[correlate.night_flow]`.
    #[error("{0}")]
    NightFlow(#[from] NightFlowConfigError),
}

impl ClassifyConfigError {
    /// The key at fault under `[correlate]`, e.g. `network_conditions[2]`.
    pub fn key(&self) -> String {
        match self {
            ClassifyConfigError::MinClusterTooSmall(_) => "min_cluster".to_string(),
            ClassifyConfigError::UnknownCondition { index, .. } => {
                format!("network_conditions[{index}]")
            }
            ClassifyConfigError::NightFlow(e) => format!("night_flow.{}", e.key()),
        }
    }
}

impl ClassifyConfig {
    /// Every problem in the section (empty when it is fine).
    pub fn problems(&self) -> Vec<ClassifyConfigError> {
        let mut out = Vec::new();
        if self.min_cluster < MIN_CLUSTER_FLOOR {
            out.push(ClassifyConfigError::MinClusterTooSmall(self.min_cluster));
        }
        for (index, name) in self.network_conditions.iter().enumerate() {
            if !CONDITIONS.contains(&name.as_str()) {
                out.push(ClassifyConfigError::UnknownCondition {
                    index,
                    name: name.clone(),
                });
            }
        }
        out.extend(
            self.night_flow
                .problems()
                .into_iter()
                .map(ClassifyConfigError::NightFlow),
        );
        out
    }

    /// `window` in ns (saturating: a window beyond 292 years is "forever").
    pub(super) fn window_ns(&self) -> i64 {
        i64::try_from(self.window.as_nanos()).unwrap_or(i64::MAX)
    }

    /// `min_cluster` with [`MIN_CLUSTER_FLOOR`] applied.
    pub(super) fn min_cluster(&self) -> usize {
        self.min_cluster.max(MIN_CLUSTER_FLOOR)
    }
}
