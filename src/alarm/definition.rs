//! Alarm definitions resolved against the catalog: each `[[sites.alarms]]` condition becomes
//! one [`AlarmDef`] with its id, its point or device index and its suppression links.

use super::Priority;
use super::condition::{Condition, SystemCondition};
use crate::config::Config;
use crate::config::alarms::{AlarmConfig, ConditionConfig};
use crate::config::catalog::Catalog;
use crate::sample::{DeviceId, PointId};
use std::collections::HashMap;

/// One alarm, ready to evaluate.
#[derive(Debug, Clone)]
pub struct AlarmDef {
    /// `SITE:DEVICE:POINT:CONDITION` or `SITE:DEVICE:CONDITION`.
    pub id: String,
    /// The id without the site: what `suppresses` patterns match.
    pub local_id: String,
    pub site: String,
    pub site_name: String,
    /// Zones the site feeds (`zones[].fed_by`).
    pub zones: Vec<String>,
    /// None for vigie's own (system) alarms.
    pub device: Option<DeviceId>,
    pub device_name: String,
    /// None for device alarms.
    pub point: Option<PointId>,
    pub point_name: Option<String>,
    /// The point's engineering unit ("" for device alarms).
    pub unit: String,
    /// `high_high`, `high`, `low`, `low_low`, `discrete`, `rate_of_change`, `comm_failure`,
    /// `stale`.
    pub condition_name: &'static str,
    pub condition: Condition,
    pub priority: Priority,
    pub on_delay_ns: i64,
    pub off_delay_ns: i64,
    pub latch: bool,
    pub out_of_service: bool,
    template: String,
    /// The point and value that suppress this alarm (`suppressed_while`).
    pub suppressed_while: Option<(PointId, f64)>,
    /// Indices of the alarms this one suppresses while its condition holds.
    pub suppresses: Vec<usize>,
}

fn ns(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// True when `pattern` (`DEVICE:POINT:CONDITION`, segments may be `*`, a trailing `*`
/// matches the rest) matches the site-local alarm id `local`.
pub fn pattern_matches(pattern: &str, local: &str) -> bool {
    let p: Vec<&str> = pattern.split(':').collect();
    let l: Vec<&str> = local.split(':').collect();
    for (i, seg) in p.iter().enumerate() {
        if *seg == "*" && i == p.len() - 1 {
            return true;
        }
        match l.get(i) {
            Some(x) if *seg == "*" || seg == x => {}
            _ => return false,
        }
    }
    p.len() == l.len()
}

/// Every alarm of a validated config, in file order. Definitions naming an unknown device
/// or point are skipped (`vigie check` reports them).
pub fn build(config: &Config, catalog: &Catalog) -> Vec<AlarmDef> {
    let mut defs = Vec::new();
    // (index in defs, its entry, its site) for the suppression links, resolved at the end.
    let mut entries: Vec<(std::ops::Range<usize>, &AlarmConfig, &str)> = Vec::new();
    for site in &config.sites {
        let zones: Vec<String> = config
            .zones
            .iter()
            .filter(|z| z.fed_by.iter().any(|s| s == &site.id))
            .map(|z| z.id.clone())
            .collect();
        for a in &site.alarms {
            let Some(device) = catalog
                .devices
                .iter()
                .position(|d| d.id == a.device && catalog.site_of(d).id == site.id)
            else {
                continue;
            };
            let d = &catalog.devices[device];
            let point = match &a.point {
                Some(p) => match catalog.find(&site.id, &a.device, p) {
                    Some(id) => Some(id),
                    None => continue,
                },
                None => None,
            };
            let suppressed_while = a.suppressed_while.as_ref().and_then(|s| {
                catalog
                    .find(&site.id, &s.device, &s.point)
                    .map(|p| (p, s.equals.as_f64()))
            });
            let start = defs.len();
            for (name, c) in a.conditions() {
                if c.needs_point() != point.is_some() && !matches!(c, ConditionConfig::Stale(_)) {
                    continue;
                }
                let condition = match c {
                    ConditionConfig::Limit(side, l) => Condition::Limit {
                        side,
                        limit: l.limit,
                        deadband: a.deadband.max(0.0),
                    },
                    ConditionConfig::Discrete(dc) => Condition::Discrete {
                        normal: dc.normal.as_f64(),
                    },
                    ConditionConfig::Rate(r) => Condition::Rate {
                        limit: r.limit,
                        per_ns: ns(r.per),
                        direction: r.direction,
                    },
                    ConditionConfig::CommFailure(_) => Condition::CommFailure,
                    ConditionConfig::Stale(s) => Condition::Stale {
                        after_ns: ns(s.after),
                    },
                };
                let local_id = match &a.point {
                    Some(p) if c.needs_point() || matches!(c, ConditionConfig::Stale(_)) => {
                        format!("{}:{p}:{name}", a.device)
                    }
                    _ => format!("{}:{name}", a.device),
                };
                let point_name = point.map(|p| catalog.point(p).name.clone());
                defs.push(AlarmDef {
                    id: format!("{}:{local_id}", site.id),
                    local_id,
                    site: site.id.clone(),
                    site_name: if site.name.is_empty() {
                        site.id.clone()
                    } else {
                        site.name.clone()
                    },
                    zones: zones.clone(),
                    device: Some(DeviceId(device as u32)),
                    device_name: d.id.clone(),
                    point,
                    point_name,
                    unit: point
                        .map(|p| catalog.point(p).unit.clone())
                        .unwrap_or_default(),
                    condition_name: name,
                    condition,
                    priority: c.priority(),
                    on_delay_ns: a.on_delay.map(ns).unwrap_or(0),
                    off_delay_ns: a.off_delay.map(ns).unwrap_or(0),
                    latch: a.latch,
                    out_of_service: a.out_of_service,
                    template: a
                        .message
                        .clone()
                        .unwrap_or_else(|| default_template(c).to_string()),
                    suppressed_while,
                    suppresses: Vec::new(),
                });
            }
            entries.push((start..defs.len(), a, site.id.as_str()));
        }
    }
    let mut by_site: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, d) in defs.iter().enumerate() {
        by_site.entry(d.site.clone()).or_default().push(i);
    }
    for (range, a, site) in entries {
        if a.suppresses.is_empty() {
            continue;
        }
        let targets: Vec<usize> = by_site
            .get(site)
            .map(|v| {
                v.iter()
                    .copied()
                    .filter(|j| !range.contains(j))
                    .filter(|j| {
                        a.suppresses
                            .iter()
                            .any(|p| pattern_matches(p, &defs[*j].local_id))
                    })
                    .collect()
            })
            .unwrap_or_default();
        for i in range {
            defs[i].suppresses = targets.clone();
        }
    }
    defs.push(spool_full());
    defs
}

/// The site id of vigie's own alarms.
pub const SYSTEM_SITE: &str = "vigie";

/// The built-in alarm `vigie:spool:spool_full` (high priority): the disk spool is full, or
/// its disk fails, so samples InfluxDB has not taken are being refused or dropped
/// (`[daemon] spool_full`).
/// Always defined; it needs no configuration.
fn spool_full() -> AlarmDef {
    AlarmDef {
        id: format!("{SYSTEM_SITE}:spool:spool_full"),
        local_id: "spool:spool_full".into(),
        site: SYSTEM_SITE.into(),
        site_name: SYSTEM_SITE.into(),
        zones: Vec::new(),
        device: None,
        device_name: "spool".into(),
        point: None,
        point_name: None,
        unit: String::new(),
        condition_name: "spool_full",
        condition: Condition::System(SystemCondition::SpoolFull),
        priority: Priority::High,
        on_delay_ns: 0,
        off_delay_ns: 0,
        latch: false,
        out_of_service: false,
        template: "vigie: the disk spool is full or its disk fails; samples InfluxDB has not \
                   taken are being lost (see [daemon] spool_max_mib, spool_full and the log)"
            .into(),
        suppressed_while: None,
        suppresses: Vec::new(),
    }
}

fn default_template(c: ConditionConfig<'_>) -> &'static str {
    match c {
        ConditionConfig::Limit(..) => {
            "{site_name}: {device} {point} {value} {unit}, {condition} limit {limit} {unit}"
        }
        ConditionConfig::Discrete(_) => "{site_name}: {device} {point} = {value} (abnormal)",
        ConditionConfig::Rate(_) => {
            "{site_name}: {device} {point} {value} {unit}, changing faster than {limit} {unit} per {per}"
        }
        ConditionConfig::CommFailure(_) => "{site_name}: {device} communication failure",
        ConditionConfig::Stale(_) => "{site_name}: {device} {point} no fresh data for {after}",
    }
}

/// A number for a message: at most 3 decimals, trailing zeros removed.
pub fn format_number(x: f64) -> String {
    let s = format!("{:.3}", x);
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.into() }
}

impl AlarmDef {
    /// The message with its placeholders filled in: `{site}`, `{site_name}`, `{device}`,
    /// `{point}`, `{condition}`, `{value}`, `{unit}`, `{limit}`, `{priority}`, `{per}`,
    /// `{after}`. Unknown placeholders are left as written.
    pub fn message(&self, value: Option<f64>) -> String {
        let num = |x: Option<f64>| x.map(format_number).unwrap_or_else(|| "?".into());
        let (per, after) = match &self.condition {
            Condition::Rate { per_ns, .. } => (human(*per_ns), String::new()),
            Condition::Stale { after_ns } => (String::new(), human(*after_ns)),
            _ => (String::new(), String::new()),
        };
        let pairs = [
            ("{site}", self.site.clone()),
            ("{site_name}", self.site_name.clone()),
            ("{device}", self.device_name.clone()),
            ("{point}", self.point_name.clone().unwrap_or_default()),
            ("{condition}", self.condition_name.to_string()),
            ("{value}", num(value)),
            ("{unit}", self.unit.clone()),
            ("{limit}", num(self.condition.limit())),
            ("{priority}", self.priority.as_str().to_string()),
            ("{per}", per),
            ("{after}", after),
        ];
        let mut out = self.template.clone();
        for (k, v) in pairs {
            out = out.replace(k, &v);
        }
        out.split_whitespace().collect::<Vec<_>>().join(" ")
    }
}

fn human(ns: i64) -> String {
    humantime::format_duration(std::time::Duration::from_nanos(ns.max(0) as u64)).to_string()
}

#[cfg(test)]
mod tests {
    use super::pattern_matches;

    #[test]
    fn patterns() {
        assert!(pattern_matches("*", "RTU:comm_failure"));
        assert!(pattern_matches("RTU:*", "RTU:di_0:discrete"));
        assert!(pattern_matches("RTU:*", "RTU:comm_failure"));
        assert!(!pattern_matches("RTU:*", "P1:running:discrete"));
        assert!(pattern_matches(
            "*:flow_m3_per_h:low",
            "FT-301:flow_m3_per_h:low"
        ));
        assert!(!pattern_matches(
            "*:flow_m3_per_h:low",
            "FT-301:flow_m3_per_h:low_low"
        ));
        assert!(!pattern_matches("P1:running", "P1:running:discrete"));
    }
}
