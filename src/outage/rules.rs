//! `[[sites.outages]]` resolved against the alarm engine's definitions and the catalog's
//! points, and evaluated in three-valued logic: a rule holds, does not hold, or cannot be
//! told (a point never read, or read bad since vigie started). An outage is opened or ended
//! only on a definite answer: a silent device neither opens nor ends one.

use crate::alarm::Priority;
use crate::config::Config;
use crate::config::alarms::NormalState;
use crate::config::catalog::Catalog;
use crate::config::outages::{OutageCause, Watch, zones_fed_by};
use crate::config::{Utility, alarms};
use crate::sample::PointId;

/// One condition, resolved.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// The alarm (its full id) has its process condition active.
    Alarm(String),
    /// The point's last value equals this (booleans as 0 and 1).
    Point { point: PointId, equals: f64 },
}

/// One rule, ready to evaluate.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// `SITE:RULE_ID`.
    pub key: String,
    pub site: String,
    pub cause: OutageCause,
    pub description: String,
    pub zones: Vec<String>,
    pub utility: Option<Utility>,
    pub priority: Option<alarms::Priority>,
    /// How long it must hold before its outage opens (ns).
    pub min_duration_ns: i64,
    pub conditions: Vec<Condition>,
}

/// An alarm's process condition and when its current occurrence was raised (ns).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AlarmFact {
    pub active: bool,
    pub raised_ns: Option<i64>,
}

/// A point's last value and the time from which it has had that value (ns); None when the
/// point was never read or its last sample was bad.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PointFact {
    pub value: f64,
    pub since_ns: i64,
}

/// A rule's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// Some(true): every condition holds; Some(false): one does not; None: cannot be told.
    pub holds: Option<bool>,
    /// When it came to hold: the latest of its conditions' start times (ns).
    pub since_ns: Option<i64>,
    /// The rule's alarms whose conditions are active.
    pub alarms: Vec<String>,
}

/// The rules of every site. Rules whose alarm or point is unknown were refused by
/// `vigie check`; a condition that cannot be resolved here is dropped with a warning.
pub fn build(config: &Config, catalog: &Catalog) -> Vec<Rule> {
    let mut out = Vec::new();
    for site in &config.sites {
        for r in &site.outages {
            let zones = if r.zones.is_empty() {
                zones_fed_by(config, &site.id)
            } else {
                r.zones.clone()
            };
            let utility = zones
                .iter()
                .find_map(|z| config.zones.iter().find(|c| &c.id == z))
                .map(|z| z.utility);
            let mut conditions = Vec::new();
            for c in &r.when {
                match c.watch() {
                    Ok(Watch::Alarm(a)) => {
                        conditions.push(Condition::Alarm(format!("{}:{a}", site.id)));
                    }
                    Ok(Watch::Point {
                        device,
                        point,
                        equals,
                    }) => match catalog.find(&site.id, device, point) {
                        Some(p) => conditions.push(Condition::Point {
                            point: p,
                            equals: match equals {
                                NormalState::Bool(b) => f64::from(u8::from(b)),
                                NormalState::Number(x) => x,
                            },
                        }),
                        None => {
                            tracing::warn!(site = %site.id, rule = %r.id, device, point, "outage rule: no such point")
                        }
                    },
                    Err(e) => {
                        tracing::warn!(site = %site.id, rule = %r.id, error = %e, "outage rule: bad condition")
                    }
                }
            }
            let name = if site.name.is_empty() {
                &site.id
            } else {
                &site.name
            };
            out.push(Rule {
                key: format!("{}:{}", site.id, r.id),
                site: site.id.clone(),
                cause: r.cause,
                description: if r.description.is_empty() {
                    format!("{}: {}", name, r.cause.as_str().replace('_', " "))
                } else {
                    r.description.clone()
                },
                zones,
                utility,
                priority: r.priority,
                min_duration_ns: r
                    .min_duration
                    .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)),
                conditions,
            });
        }
    }
    out
}

/// Evaluates `rule`; `alarm` and `point` give the facts (None: unknown alarm or point).
pub fn evaluate(
    rule: &Rule,
    alarm: impl Fn(&str) -> Option<AlarmFact>,
    point: impl Fn(PointId) -> Option<PointFact>,
) -> Verdict {
    let mut unknown = false;
    let mut holds = !rule.conditions.is_empty();
    let mut since: Option<i64> = None;
    let mut alarms = Vec::new();
    for c in &rule.conditions {
        let (ok, at) = match c {
            Condition::Alarm(id) => match alarm(id) {
                Some(f) => {
                    if f.active {
                        alarms.push(id.clone());
                    }
                    (Some(f.active), f.raised_ns)
                }
                None => (None, None),
            },
            Condition::Point { point: p, equals } => match point(*p) {
                Some(f) => (Some((f.value - equals).abs() < 1e-9), Some(f.since_ns)),
                None => (None, None),
            },
        };
        match ok {
            Some(true) => since = since.max(at),
            Some(false) => holds = false,
            None => unknown = true,
        }
    }
    Verdict {
        holds: if !holds {
            Some(false)
        } else if unknown {
            None
        } else {
            Some(true)
        },
        since_ns: since,
        alarms,
    }
}

/// The priority of the incident an outage opens: the rule's, else the highest of the
/// alarm priorities given, else `high` (an interruption of supply is not routine).
pub fn incident_priority(rule: &Rule, alarm_priorities: &[Priority]) -> Priority {
    rule.priority
        .or_else(|| alarm_priorities.iter().copied().max())
        .unwrap_or(Priority::High)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(conditions: Vec<Condition>) -> Rule {
        Rule {
            key: "SS:F1".into(),
            site: "SS".into(),
            cause: OutageCause::BreakerTrip,
            description: String::new(),
            zones: vec!["Z".into()],
            utility: None,
            priority: None,
            min_duration_ns: 0,
            conditions,
        }
    }

    #[test]
    fn a_rule_holds_when_every_condition_holds_and_says_since_when() {
        let r = rule(vec![
            Condition::Alarm("SS:LT:level:low_low".into()),
            Condition::Point {
                point: PointId(3),
                equals: 0.0,
            },
        ]);
        let v = evaluate(
            &r,
            |_| {
                Some(AlarmFact {
                    active: true,
                    raised_ns: Some(100),
                })
            },
            |_| {
                Some(PointFact {
                    value: 0.0,
                    since_ns: 250,
                })
            },
        );
        assert_eq!(v.holds, Some(true));
        assert_eq!(v.since_ns, Some(250));
        assert_eq!(v.alarms, vec!["SS:LT:level:low_low".to_string()]);
    }

    #[test]
    fn one_false_condition_is_enough_and_unknown_otherwise_is_unknown() {
        let r = rule(vec![
            Condition::Alarm("A".into()),
            Condition::Point {
                point: PointId(1),
                equals: 1.0,
            },
        ]);
        let off = |_: &str| {
            Some(AlarmFact {
                active: false,
                raised_ns: None,
            })
        };
        let on = |_: &str| {
            Some(AlarmFact {
                active: true,
                raised_ns: Some(5),
            })
        };
        // The point unknown (never read, or bad): a false alarm still decides.
        assert_eq!(evaluate(&r, off, |_| None).holds, Some(false));
        // The alarm active and the point unknown: nothing can be told.
        assert_eq!(evaluate(&r, on, |_| None).holds, None);
        let one = |_| {
            Some(PointFact {
                value: 1.0,
                since_ns: 1,
            })
        };
        assert_eq!(evaluate(&r, on, one).holds, Some(true));
        assert_eq!(evaluate(&rule(vec![]), on, one).holds, Some(false));
    }
}
