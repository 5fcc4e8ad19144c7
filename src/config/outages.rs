//! `[[sites.outages]]`: when a site's alarms or point states mean that zones are without
//! supply. vigie opens an outage of those zones when every condition of the rule holds and
//! ends it when one stops holding (README "Outages").
//!
//! The derivations the field uses (IEC 61968 CIM `Outage`: an unplanned outage "may be
//! created upon a breaker trip"; ../shared/reference/alarms-integration.md §3.5):
//! - a feeder breaker open or tripped: the zones that feeder supplies;
//! - loss of voltage on an incomer: every zone of the substation;
//! - all pumps of a station stopped with the reservoir at low-low: the zones it feeds.

use super::alarms::{NormalState, Priority};
use serde::Deserialize;

/// What interrupted the supply; said to the CRM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutageCause {
    /// A protection tripped a breaker.
    BreakerTrip,
    /// A breaker is open (tripped or opened on purpose).
    BreakerOpen,
    /// No voltage on an incomer.
    VoltageLoss,
    /// Water supply interrupted (pumps stopped, reservoir empty, main shut).
    SupplyInterruption,
    /// Planned works (declared through the API).
    PlannedWorks,
    Other,
}

impl OutageCause {
    /// The name used in config, the API and the CRM's events.
    pub fn as_str(self) -> &'static str {
        match self {
            OutageCause::BreakerTrip => "breaker_trip",
            OutageCause::BreakerOpen => "breaker_open",
            OutageCause::VoltageLoss => "voltage_loss",
            OutageCause::SupplyInterruption => "supply_interruption",
            OutageCause::PlannedWorks => "planned_works",
            OutageCause::Other => "other",
        }
    }

    /// Parses [`OutageCause::as_str`].
    pub fn parse(s: &str) -> Option<OutageCause> {
        [
            OutageCause::BreakerTrip,
            OutageCause::BreakerOpen,
            OutageCause::VoltageLoss,
            OutageCause::SupplyInterruption,
            OutageCause::PlannedWorks,
            OutageCause::Other,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }
}

/// One condition of a rule, written `{ alarm = "F1:breaker_tripped:discrete" }` (an alarm of
/// the site whose process condition is active; its id without the site,
/// `DEVICE:POINT:CONDITION` or `DEVICE:CONDITION`) or
/// `{ device = "P1", point = "running", equals = false }` (a point's last good value).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutageCondition {
    pub alarm: Option<String>,
    pub device: Option<String>,
    pub point: Option<String>,
    pub equals: Option<NormalState>,
}

/// What an [`OutageCondition`] watches, once checked.
#[derive(Debug, Clone, PartialEq)]
pub enum Watch<'a> {
    Alarm(&'a str),
    Point {
        device: &'a str,
        point: &'a str,
        equals: NormalState,
    },
}

impl OutageCondition {
    /// The alarm or the point; an error says how to write the condition.
    pub fn watch(&self) -> Result<Watch<'_>, String> {
        match (&self.alarm, &self.device, &self.point, self.equals) {
            (Some(a), None, None, None) => Ok(Watch::Alarm(a)),
            (None, Some(device), Some(point), Some(equals)) => Ok(Watch::Point {
                device,
                point,
                equals,
            }),
            _ => Err("write { alarm = \"DEVICE:POINT:CONDITION\" } or { device = \"…\", point = \"…\", equals = … }".into()),
        }
    }
}

/// `[[sites.outages]]`: one derivation rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutageRule {
    /// Unique within the site; the outage's rule is `SITE:ID`.
    pub id: String,
    pub cause: OutageCause,
    /// Every condition must hold for the outage to start; it ends when one stops holding.
    pub when: Vec<OutageCondition>,
    /// The zones without supply; default: every zone whose `fed_by` names this site.
    #[serde(default)]
    pub zones: Vec<String>,
    /// What the CRM reads (default: the cause and the site's name).
    #[serde(default)]
    pub description: String,
    /// The priority of the incident the outage opens; default: the highest of its alarms,
    /// `high` when it has none.
    pub priority: Option<Priority>,
    /// How long the rule must hold before the outage opens (it then starts when the rule
    /// came to hold); default 0. An auto-recloser's trip and reclose take seconds: IEEE 1366
    /// calls an interruption restored by such a device within 5 minutes *momentary*, and a
    /// CRM need not hear of each one.
    #[serde(default, deserialize_with = "super::duration::de_opt")]
    pub min_duration: Option<std::time::Duration>,
}

/// Checks every site's outage rules; `(key, message)` per problem.
pub fn validate(
    config: &super::Config,
    profiles: &std::collections::HashMap<String, std::sync::Arc<crate::profile::Profile>>,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (i, site) in config.sites.iter().enumerate() {
        let local_ids = local_alarm_ids(site);
        let mut ids = std::collections::HashSet::new();
        for (k, rule) in site.outages.iter().enumerate() {
            let key = |f: &str| format!("sites[{i}].outages[{k}].{f}");
            if rule.id.is_empty() || rule.id.contains(':') || rule.id.contains(char::is_whitespace)
            {
                out.push((key("id"), "an id without ':' or spaces is needed".into()));
            }
            if !ids.insert(rule.id.as_str()) {
                out.push((key("id"), format!("duplicate outage rule id {:?}", rule.id)));
            }
            if rule.cause == OutageCause::PlannedWorks {
                out.push((
                    key("cause"),
                    "planned works are declared through the API, not derived".into(),
                ));
            }
            if rule.when.is_empty() {
                out.push((key("when"), "at least one condition is needed".into()));
            }
            for (c, cond) in rule.when.iter().enumerate() {
                let ck = key(&format!("when[{c}]"));
                match cond.watch() {
                    Err(m) => out.push((ck, m)),
                    Ok(Watch::Alarm(alarm)) => {
                        if !local_ids.iter().any(|l| l == alarm) {
                            out.push((
                                ck,
                                format!(
                                    "no alarm {alarm:?} in site {:?} (write DEVICE:POINT:CONDITION)",
                                    site.id
                                ),
                            ));
                        }
                    }
                    Ok(Watch::Point { device, point, .. }) => {
                        let Some(d) = site.devices.iter().find(|d| d.id == device) else {
                            out.push((ck, format!("no device {device:?} in site {:?}", site.id)));
                            continue;
                        };
                        if let Some(p) = profiles.get(&d.profile)
                            && !p.points.iter().any(|x| x.name == point)
                        {
                            out.push((
                                ck,
                                format!("profile {:?} has no point {point:?}", d.profile),
                            ));
                        }
                    }
                }
            }
            for (z, zone) in rule.zones.iter().enumerate() {
                if !config.zones.iter().any(|x| &x.id == zone) {
                    out.push((key(&format!("zones[{z}]")), format!("no zone {zone:?}")));
                }
            }
            if rule.zones.is_empty() && zones_fed_by(config, &site.id).is_empty() {
                out.push((
                    key("zones"),
                    format!(
                        "no zone is fed by site {:?}: list the zones this outage affects",
                        site.id
                    ),
                ));
            }
        }
    }
    out
}

/// The zones whose `fed_by` names `site`.
pub fn zones_fed_by(config: &super::Config, site: &str) -> Vec<String> {
    config
        .zones
        .iter()
        .filter(|z| z.fed_by.iter().any(|s| s == site))
        .map(|z| z.id.clone())
        .collect()
}

/// The site-local ids of a site's alarms (`DEVICE:POINT:CONDITION`, `DEVICE:CONDITION`), as
/// the alarm engine names them.
fn local_alarm_ids(site: &super::SiteConfig) -> Vec<String> {
    use super::alarms::ConditionConfig;
    let mut ids = Vec::new();
    for a in &site.alarms {
        for (name, c) in a.conditions() {
            ids.push(match &a.point {
                Some(p) if !matches!(c, ConditionConfig::CommFailure(_)) => {
                    format!("{}:{p}:{name}", a.device)
                }
                _ => format!("{}:{name}", a.device),
            });
        }
    }
    ids
}
