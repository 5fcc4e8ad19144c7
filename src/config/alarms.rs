//! `[[sites.alarms]]`: alarm definitions, per site.
//!
//! One entry names a device (and a point of it, for point alarms) and one or more
//! conditions; each condition becomes one alarm with its own ISA-18.2 state, identified as
//! `SITE:DEVICE:POINT:CONDITION` (point alarms) or `SITE:DEVICE:CONDITION` (device alarms).
//! Limits, deadband, on-delay and off-delay follow ISA-18.2 / IEC 62682 and OPC UA Part 9
//! §5.8 (`OnDelay`, `OffDelay`, `LatchedState`); see `../shared/reference/alarms-integration.md` §1.

use super::duration;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// An alarm's priority (ISA-18.2 §10; EEMUA 191 aims at about 80 % low, 15 % medium,
/// 5 % high and critical).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    Low,
    Medium,
    High,
    Critical,
}

impl Priority {
    /// The name used in config, tags and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Medium => "medium",
            Priority::High => "high",
            Priority::Critical => "critical",
        }
    }
}

/// One analog limit (`high_high`, `high`, `low`, `low_low`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitConfig {
    /// In the point's engineering unit. High limits are exceeded when the value is above,
    /// low limits when it is below.
    pub limit: f64,
    pub priority: Priority,
}

/// A discrete alarm: the point is abnormal whenever it differs from its normal state.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscreteConfig {
    /// The normal state: `true`/`false` for a bit, or a number for a status code
    /// (e.g. `normal = false` on `breaker_tripped`, `normal = 0` on `fault_code`).
    pub normal: NormalState,
    pub priority: Priority,
}

/// A discrete point's normal state: `true`, `false` or a number.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum NormalState {
    Bool(bool),
    Number(f64),
}

impl<'de> Deserialize<'de> for NormalState {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = NormalState;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("true, false or a number (the point's normal value)")
            }
            fn visit_bool<E: serde::de::Error>(self, b: bool) -> Result<NormalState, E> {
                Ok(NormalState::Bool(b))
            }
            fn visit_i64<E: serde::de::Error>(self, x: i64) -> Result<NormalState, E> {
                Ok(NormalState::Number(x as f64))
            }
            fn visit_u64<E: serde::de::Error>(self, x: u64) -> Result<NormalState, E> {
                Ok(NormalState::Number(x as f64))
            }
            fn visit_f64<E: serde::de::Error>(self, x: f64) -> Result<NormalState, E> {
                Ok(NormalState::Number(x))
            }
        }
        d.deserialize_any(V)
    }
}

impl NormalState {
    /// As a number (false = 0, true = 1), the form every discrete value is compared in.
    pub fn as_f64(self) -> f64 {
        match self {
            NormalState::Bool(b) => f64::from(u8::from(b)),
            NormalState::Number(x) => x,
        }
    }
}

/// Which way a rate-of-change alarm looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Falling,
    Rising,
    Either,
}

/// A rate-of-change alarm: the value moved by more than `limit` engineering units within
/// `per` (e.g. discharge pressure falling faster than 0.5 bar per minute: a burst).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateConfig {
    /// Engineering units per `per`; positive.
    pub limit: f64,
    #[serde(default = "default_rate_per", deserialize_with = "duration::de")]
    pub per: Duration,
    #[serde(default = "default_direction")]
    pub direction: Direction,
    pub priority: Priority,
}

fn default_rate_per() -> Duration {
    Duration::from_secs(60)
}
fn default_direction() -> Direction {
    Direction::Falling
}

/// A device communication-failure alarm: active while the device's polls fail
/// (DESIGN.md "Polling": timeouts, exceptions of a dead gateway target, lost connection).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommFailureConfig {
    pub priority: Priority,
}

/// A stale-data alarm: on a point, no good sample for `after`; on a device, no poll result
/// at all for `after` (the poller is stuck).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaleConfig {
    #[serde(deserialize_with = "duration::de")]
    pub after: Duration,
    pub priority: Priority,
}

/// Suppression by design (ISA-18.2 "suppressed by design"; OPC UA Part 9 `SuppressedState`):
/// the alarm is hidden while `point` of `device` (same site) equals `equals`, e.g. a pump's
/// low-flow alarm while the pump is stopped on purpose.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuppressedWhile {
    pub device: String,
    pub point: String,
    pub equals: NormalState,
}

/// `[[sites.alarms]]`: conditions on one point, or on one device when `point` is absent.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlarmConfig {
    pub device: String,
    /// Absent for device alarms (`comm_failure`, `stale` of the device).
    pub point: Option<String>,
    pub high_high: Option<LimitConfig>,
    pub high: Option<LimitConfig>,
    pub low: Option<LimitConfig>,
    pub low_low: Option<LimitConfig>,
    pub discrete: Option<DiscreteConfig>,
    pub rate_of_change: Option<RateConfig>,
    pub comm_failure: Option<CommFailureConfig>,
    pub stale: Option<StaleConfig>,
    /// Engineering units: an analog alarm returns to normal only once the value is back
    /// inside its limit by this much (OPC UA Part 9 B.1.5).
    #[serde(default)]
    pub deadband: f64,
    /// The condition must hold this long before the alarm is raised.
    #[serde(default, deserialize_with = "duration::de_opt")]
    pub on_delay: Option<Duration>,
    /// The condition must be gone this long before the alarm returns to normal.
    #[serde(default, deserialize_with = "duration::de_opt")]
    pub off_delay: Option<Duration>,
    /// A latched alarm stays active after the condition clears, until an operator resets it.
    #[serde(default)]
    pub latch: bool,
    /// Taken out of service (maintenance, under management of change): evaluated, never shown.
    #[serde(default)]
    pub out_of_service: bool,
    /// Message template; placeholders `{site}`, `{site_name}`, `{device}`, `{point}`,
    /// `{condition}`, `{value}`, `{unit}`, `{limit}`, `{priority}`.
    pub message: Option<String>,
    pub suppressed_while: Option<SuppressedWhile>,
    /// While one of these alarms is active, it suppresses the alarms of the same site that
    /// match any pattern `DEVICE:POINT:CONDITION` or `DEVICE:CONDITION`, where a segment may be
    /// `*` and a trailing `*` matches the rest (`"RTU:*"`: every alarm of device RTU).
    #[serde(default)]
    pub suppresses: Vec<String>,
}

impl AlarmConfig {
    /// The conditions set in this entry, by their name in the alarm id.
    pub fn conditions(&self) -> Vec<(&'static str, ConditionConfig<'_>)> {
        let mut out = Vec::new();
        let limits = [
            ("high_high", &self.high_high, LimitSide::High),
            ("high", &self.high, LimitSide::High),
            ("low", &self.low, LimitSide::Low),
            ("low_low", &self.low_low, LimitSide::Low),
        ];
        for (name, l, side) in limits {
            if let Some(l) = l {
                out.push((name, ConditionConfig::Limit(side, l)));
            }
        }
        if let Some(d) = &self.discrete {
            out.push(("discrete", ConditionConfig::Discrete(d)));
        }
        if let Some(r) = &self.rate_of_change {
            out.push(("rate_of_change", ConditionConfig::Rate(r)));
        }
        if let Some(c) = &self.comm_failure {
            out.push(("comm_failure", ConditionConfig::CommFailure(c)));
        }
        if let Some(s) = &self.stale {
            out.push(("stale", ConditionConfig::Stale(s)));
        }
        out
    }
}

/// Which side of a limit is abnormal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitSide {
    High,
    Low,
}

/// One condition of an [`AlarmConfig`].
#[derive(Debug, Clone, Copy)]
pub enum ConditionConfig<'a> {
    Limit(LimitSide, &'a LimitConfig),
    Discrete(&'a DiscreteConfig),
    Rate(&'a RateConfig),
    CommFailure(&'a CommFailureConfig),
    Stale(&'a StaleConfig),
}

impl ConditionConfig<'_> {
    pub fn priority(&self) -> Priority {
        match self {
            ConditionConfig::Limit(_, l) => l.priority,
            ConditionConfig::Discrete(d) => d.priority,
            ConditionConfig::Rate(r) => r.priority,
            ConditionConfig::CommFailure(c) => c.priority,
            ConditionConfig::Stale(s) => s.priority,
        }
    }
    /// True for conditions on a point's value (they need `point`).
    pub fn needs_point(&self) -> bool {
        matches!(
            self,
            ConditionConfig::Limit(..) | ConditionConfig::Discrete(_) | ConditionConfig::Rate(_)
        )
    }
}

/// `[alarms]`: settings of the alarm engine as a whole.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlarmsConfig {
    /// The longest an operator may shelve an alarm (OPC UA Part 9 `MaxTimeShelved`).
    #[serde(default = "default_max_shelve", deserialize_with = "duration::de")]
    pub max_shelve: Duration,
    /// Journal events older than this are deleted (checked hourly).
    #[serde(
        default = "default_journal_retention",
        deserialize_with = "duration::de"
    )]
    pub journal_retention: Duration,
}

fn default_max_shelve() -> Duration {
    Duration::from_secs(8 * 3600)
}
fn default_journal_retention() -> Duration {
    Duration::from_secs(400 * 86_400)
}

impl Default for AlarmsConfig {
    fn default() -> Self {
        AlarmsConfig {
            max_shelve: default_max_shelve(),
            journal_retention: default_journal_retention(),
        }
    }
}

/// The placeholders a message template may use.
pub const PLACEHOLDERS: [&str; 11] = [
    "site",
    "site_name",
    "device",
    "point",
    "condition",
    "value",
    "unit",
    "limit",
    "priority",
    "per",
    "after",
];

/// The longest on-delay, off-delay, stale `after` or rate `per`.
pub const MAX_DELAY: Duration = Duration::from_secs(7 * 86_400);

/// Problems in `[alarms]` and every `[[sites.alarms]]`, as (key, where in the file, message):
/// unknown device or point, a condition that does not fit the point or the entry, limits in
/// the wrong order, negative deadband, delays out of range, unknown placeholders, patterns
/// that match nothing, the same alarm defined twice.
pub fn validate(
    config: &super::Config,
    profiles: &std::collections::HashMap<String, std::sync::Arc<crate::profile::Profile>>,
) -> Vec<(String, String, String)> {
    use crate::profile::DataType;
    let mut out: Vec<(String, String, String)> = Vec::new();
    let mut patterns: Vec<(String, String, String)> = Vec::new();
    let mut err = |key: String, msg: String| out.push((key.clone(), key, msg));
    if config.alarms.max_shelve.is_zero() {
        err("alarms.max_shelve".into(), "must be more than 0s".into());
    }
    for (i, site) in config.sites.iter().enumerate() {
        let mut ids: std::collections::HashMap<String, usize> = Default::default();
        let mut local_ids = Vec::new();
        // The alarm ids of each entry, for the suppression graph.
        let mut entry_ids: Vec<Vec<String>> = Vec::new();
        for (k, a) in site.alarms.iter().enumerate() {
            let key = |f: &str| format!("sites[{i}].alarms[{k}].{f}");
            let find_point = |device: &str, point: &str| {
                let d = site.devices.iter().find(|d| d.id == device)?;
                let p = profiles.get(&d.profile)?;
                p.points.iter().find(|x| x.name == point).cloned()
            };
            let Some(dev) = site.devices.iter().find(|d| d.id == a.device) else {
                err(
                    key("device"),
                    format!("no device {:?} in site {:?}", a.device, site.id),
                );
                continue;
            };
            let point = match &a.point {
                Some(p) => match find_point(&a.device, p) {
                    Some(pt) => Some(pt),
                    None => {
                        if profiles.contains_key(&dev.profile) {
                            err(
                                key("point"),
                                format!("profile {:?} has no point {p:?}", dev.profile),
                            );
                        }
                        continue;
                    }
                },
                None => None,
            };
            let conditions = a.conditions();
            if conditions.is_empty() {
                err(
                    format!("sites[{i}].alarms[{k}]"),
                    "no condition: set high_high, high, low, low_low, discrete, rate_of_change, comm_failure or stale".into(),
                );
            }
            for (name, c) in &conditions {
                if c.needs_point() && point.is_none() {
                    err(key(name), format!("{name} needs `point`"));
                }
                if matches!(c, ConditionConfig::CommFailure(_)) && point.is_some() {
                    err(
                        key(name),
                        "comm_failure is a device alarm: put it in an entry without `point`".into(),
                    );
                }
                if let Some(p) = &point {
                    let text = matches!(p.data_type, DataType::String);
                    let bit = matches!(p.data_type, DataType::Bool);
                    if c.needs_point() && text {
                        err(
                            key(name),
                            format!("point {:?} is text: no {name} alarm", p.name),
                        );
                    } else if bit
                        && !matches!(c, ConditionConfig::Discrete(_) | ConditionConfig::Stale(_))
                    {
                        err(
                            key(name),
                            format!(
                                "point {:?} is a bool: use `discrete = {{ normal = false, priority = ... }}`",
                                p.name
                            ),
                        );
                    }
                }
                let local = match (&a.point, c) {
                    (Some(p), c) if !matches!(c, ConditionConfig::CommFailure(_)) => {
                        format!("{}:{p}:{name}", a.device)
                    }
                    _ => format!("{}:{name}", a.device),
                };
                if let Some(first) = ids.insert(local.clone(), k) {
                    err(
                        key(name),
                        format!(
                            "alarm {}:{local} is already defined by sites[{i}].alarms[{first}]",
                            site.id
                        ),
                    );
                }
                local_ids.push(local.clone());
                entry_ids.resize(k + 1, Vec::new());
                entry_ids[k].push(local);
            }
            let limits = [
                ("high_high", a.high_high.as_ref().map(|l| l.limit)),
                ("high", a.high.as_ref().map(|l| l.limit)),
                ("low", a.low.as_ref().map(|l| l.limit)),
                ("low_low", a.low_low.as_ref().map(|l| l.limit)),
            ];
            for (name, l) in limits {
                if l.is_some_and(|x| !x.is_finite()) {
                    err(key(name), "limit must be a finite number".into());
                }
            }
            let set: Vec<(&str, f64)> = limits
                .iter()
                .filter_map(|(n, l)| l.map(|x| (*n, x)))
                .collect();
            for w in set.windows(2) {
                let ((hi_name, hi), (lo_name, lo)) = (w[0], w[1]);
                let strict = hi_name.starts_with("high") != lo_name.starts_with("high");
                if hi < lo || (strict && hi == lo) {
                    err(
                        key(lo_name),
                        format!("{lo_name} ({lo}) must be below {hi_name} ({hi})"),
                    );
                }
            }
            if !(a.deadband.is_finite() && a.deadband >= 0.0) {
                err(
                    key("deadband"),
                    "must be 0 or more (engineering units)".into(),
                );
            }
            for (name, d) in [("on_delay", a.on_delay), ("off_delay", a.off_delay)] {
                if d.is_some_and(|d| d > MAX_DELAY) {
                    err(key(name), "at most 7 days".into());
                }
            }
            if let Some(r) = &a.rate_of_change {
                if !(r.limit.is_finite() && r.limit > 0.0) {
                    err(
                        key("rate_of_change.limit"),
                        "must be more than 0 (engineering units per `per`)".into(),
                    );
                }
                if r.per.is_zero() || r.per > MAX_DELAY {
                    err(
                        key("rate_of_change.per"),
                        "must be between 1s and 7 days".into(),
                    );
                }
            }
            // A device polled every `poll_interval` looks stale between two polls unless
            // `after` leaves room for one poll and its timeout.
            let poll = dev.poll_interval + dev.timeout;
            if let Some(s) = &a.stale {
                if s.after > MAX_DELAY {
                    err(key("stale.after"), "at most 7 days".into());
                } else if s.after <= poll {
                    err(
                        key("stale.after"),
                        format!(
                            "must be longer than the device's poll_interval + timeout ({}), or it raises between two polls",
                            humantime::format_duration(poll)
                        ),
                    );
                }
            }
            if let Some(r) = &a.rate_of_change
                && r.per < dev.poll_interval * 2
                && !r.per.is_zero()
            {
                err(
                    key("rate_of_change.per"),
                    format!(
                        "must span at least two polls ({}) to see a change",
                        humantime::format_duration(dev.poll_interval * 2)
                    ),
                );
            }
            if let Some(m) = &a.message {
                for part in m.split('{').skip(1) {
                    let Some((name, _)) = part.split_once('}') else {
                        continue;
                    };
                    if !PLACEHOLDERS.contains(&name) {
                        err(
                            key("message"),
                            format!(
                                "unknown placeholder {{{name}}}; use {}",
                                PLACEHOLDERS.map(|p| format!("{{{p}}}")).join(", ")
                            ),
                        );
                    }
                }
            }
            if let Some(s) = &a.suppressed_while {
                if !site.devices.iter().any(|d| d.id == s.device) {
                    err(
                        key("suppressed_while.device"),
                        format!("no device {:?} in site {:?}", s.device, site.id),
                    );
                } else if find_point(&s.device, &s.point).is_none() {
                    err(
                        key("suppressed_while.point"),
                        format!("device {:?} has no point {:?}", s.device, s.point),
                    );
                }
            }
        }
        let index: std::collections::HashMap<&str, usize> = local_ids
            .iter()
            .enumerate()
            .map(|(n, l)| (l.as_str(), n))
            .collect();
        let mut edges = vec![Vec::new(); local_ids.len()];
        let mut owner = vec![0usize; local_ids.len()];
        for (k, a) in site.alarms.iter().enumerate() {
            let own = entry_ids.get(k).cloned().unwrap_or_default();
            for id in &own {
                let Some(&from) = index.get(id.as_str()) else {
                    continue;
                };
                owner[from] = k;
                edges[from] = local_ids
                    .iter()
                    .enumerate()
                    .filter(|(_, l)| !own.contains(l))
                    .filter(|(_, l)| {
                        a.suppresses
                            .iter()
                            .any(|p| crate::alarm::definition::pattern_matches(p, l))
                    })
                    .map(|(n, _)| n)
                    .collect();
            }
        }
        if let Some(cycle) = suppression_cycle(&edges) {
            let names: Vec<&str> = cycle.iter().map(|&n| local_ids[n].as_str()).collect();
            let k = owner[cycle[0]];
            patterns.push((
                format!("sites[{i}].alarms[{k}].suppresses"),
                format!("sites[{i}].alarms[{k}].suppresses"),
                format!(
                    "suppression cycle {}: alarms that suppress each other would all be hidden at once; narrow the patterns (e.g. \"{}:*\" rather than \"*\")",
                    names.join(" → "),
                    site.alarms[k].device
                ),
            ));
        }
        for (k, a) in site.alarms.iter().enumerate() {
            for (n, p) in a.suppresses.iter().enumerate() {
                if !local_ids
                    .iter()
                    .any(|l| crate::alarm::definition::pattern_matches(p, l))
                {
                    patterns.push((
                        format!("sites[{i}].alarms[{k}].suppresses"),
                        format!("sites[{i}].alarms[{k}].suppresses[{n}]"),
                        format!(
                            "{p:?} matches no alarm of site {:?}; write DEVICE:POINT:CONDITION, DEVICE:CONDITION or DEVICE:*",
                            site.id
                        ),
                    ));
                }
            }
        }
    }
    out.extend(patterns);
    out
}

/// A cycle in a site's suppression graph, as the ids along it (`[a, b, a]`): alarms that
/// suppress each other would all be hidden together, and the operator would see nothing.
/// `edges[i]` lists what node `i` suppresses.
pub fn suppression_cycle(edges: &[Vec<usize>]) -> Option<Vec<usize>> {
    // Iterative depth-first search; 0 unvisited, 1 on the path, 2 done.
    let mut color = vec![0u8; edges.len()];
    for start in 0..edges.len() {
        if color[start] != 0 {
            continue;
        }
        let mut path: Vec<(usize, usize)> = vec![(start, 0)];
        color[start] = 1;
        while let Some((node, next)) = path.last_mut() {
            let node = *node;
            if let Some(&to) = edges[node].get(*next) {
                *next += 1;
                match color[to] {
                    0 => {
                        color[to] = 1;
                        path.push((to, 0));
                    }
                    1 => {
                        let from = path.iter().position(|(n, _)| *n == to).unwrap_or(0);
                        let mut cycle: Vec<usize> = path[from..].iter().map(|(n, _)| *n).collect();
                        cycle.push(to);
                        return Some(cycle);
                    }
                    _ => {}
                }
            } else {
                color[node] = 2;
                path.pop();
            }
        }
    }
    None
}
