//! Checks of rosters, routes and their levels, for [`super::validate`].

use super::check::Problems;
use super::{
    LevelConfig, NotifyConfig, RecipientConfig, RosterConfig, RouteConfig, Via, parse_clock,
    parse_days,
};
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// The ids a route may name.
pub(super) struct Known<'a> {
    pub sites: HashSet<&'a str>,
    pub zones: HashSet<&'a str>,
    pub recipients: HashMap<&'a str, &'a RecipientConfig>,
    pub rosters: HashMap<&'a str, &'a RosterConfig>,
    pub webhooks: HashSet<String>,
}

pub(super) fn check_roster(
    r: &RosterConfig,
    key: &str,
    recipients: &HashMap<&str, &RecipientConfig>,
    p: &mut Problems,
) {
    if r.shifts.is_empty() {
        p.add(format!("{key}.shifts"), "a roster needs at least one shift");
    }
    for (j, s) in r.shifts.iter().enumerate() {
        let key = format!("{key}.shifts[{j}]");
        if s.recipients.is_empty() {
            p.add(format!("{key}.recipients"), "nobody on this shift");
        }
        for (k, id) in s.recipients.iter().enumerate() {
            if !recipients.contains_key(id.as_str()) {
                p.add(
                    format!("{key}.recipients[{k}]"),
                    format!("unknown recipient {id:?} (not in [[notify.recipients]])"),
                );
            }
        }
        if let Err(m) = parse_days(&s.days) {
            p.add(format!("{key}.days"), m);
        }
        if let Err(m) = parse_clock(&s.from, false) {
            p.add(format!("{key}.from"), m);
        }
        if let Err(m) = parse_clock(&s.to, true) {
            p.add(format!("{key}.to"), m);
        }
    }
}

/// A roster read by the first level of a route (with no recipients of its own) must
/// have somebody on duty at every hour of the week.
pub(super) fn check_first_level_rosters(notify: &NotifyConfig, p: &mut Problems) {
    use crate::notify::roster::{Shift, describe_gaps, week_gaps};
    let mut reported = HashSet::new();
    for (r, route) in notify.routes.iter().enumerate() {
        let Some(level) = route.levels.first() else {
            continue;
        };
        let Some(id) = level
            .roster
            .as_deref()
            .filter(|_| level.recipients.is_empty())
        else {
            continue;
        };
        let Some(i) = notify.rosters.iter().position(|x| x.id == id) else {
            continue; // reported with the route
        };
        let shifts: Result<Vec<Shift>, String> = notify.rosters[i]
            .shifts
            .iter()
            .map(|s| Shift::parse(&s.days, &s.from, &s.to, &s.recipients))
            .collect();
        let Ok(shifts) = shifts else {
            continue; // reported with the shift
        };
        let gaps = week_gaps(&shifts);
        if !gaps.is_empty() && reported.insert(i) {
            p.add(
                format!("notify.rosters[{i}].shifts"),
                format!(
                    "nobody on duty {}, and roster {id:?} is the first level of notify.routes[{r}]: add shifts so that the whole week is covered",
                    describe_gaps(&gaps)
                ),
            );
        }
    }
}

pub(super) fn check_route(
    notify: &NotifyConfig,
    route: &RouteConfig,
    key: &str,
    known: &Known<'_>,
    p: &mut Problems,
) {
    for (j, s) in route.sites.iter().enumerate() {
        if !known.sites.contains(s.as_str()) {
            p.add(
                format!("{key}.sites[{j}]"),
                format!("unknown site {s:?} (not in [[sites]])"),
            );
        }
    }
    for (j, z) in route.zones.iter().enumerate() {
        if !known.zones.contains(z.as_str()) {
            p.add(
                format!("{key}.zones[{j}]"),
                format!("unknown zone {z:?} (not in [[zones]])"),
            );
        }
    }
    if route.levels.is_empty() {
        p.add(format!("{key}.levels"), "a route needs at least one level");
    }
    let mut previous = Duration::ZERO;
    for (l, level) in route.levels.iter().enumerate() {
        let key = format!("{key}.levels[{l}]");
        match (l, level.after) {
            (0, Some(_)) => p.add(
                format!("{key}.after"),
                "the first level is told at the activation: remove `after` (or add a level before it)",
            ),
            (0, None) => {}
            (_, None) => p.add(
                format!("{key}.after"),
                "an escalation level needs `after` (the delay from the activation, e.g. \"15m\")",
            ),
            (_, Some(after)) => {
                if after <= previous {
                    p.add(
                        format!("{key}.after"),
                        format!(
                            "{} is not after the previous level's {}: each level's `after` counts from the activation and must grow",
                            humantime::format_duration(after),
                            humantime::format_duration(previous)
                        ),
                    );
                }
                previous = previous.max(after);
            }
        }
        check_level(notify, level, &key, known, p);
    }
}

fn check_level(
    notify: &NotifyConfig,
    level: &LevelConfig,
    key: &str,
    known: &Known<'_>,
    p: &mut Problems,
) {
    if level.roster.is_none() && level.recipients.is_empty() && level.webhooks.is_empty() {
        p.add(key, "nobody to tell: give a roster, recipients or webhooks");
    }
    // The people this level may reach, with the key that names them.
    let mut people: Vec<(String, &RecipientConfig)> = Vec::new();
    if let Some(id) = &level.roster {
        match known.rosters.get(id.as_str()) {
            None => p.add(
                format!("{key}.roster"),
                format!("unknown roster {id:?} (not in [[notify.rosters]])"),
            ),
            Some(r) => {
                let on_it = r.shifts.iter().flat_map(|s| &s.recipients);
                for rc in on_it.filter_map(|id| known.recipients.get(id.as_str())) {
                    people.push((format!("{key}.roster"), rc));
                }
            }
        }
    }
    for (k, id) in level.recipients.iter().enumerate() {
        match known.recipients.get(id.as_str()) {
            None => p.add(
                format!("{key}.recipients[{k}]"),
                format!("unknown recipient {id:?} (not in [[notify.recipients]])"),
            ),
            Some(rc) => people.push((format!("{key}.recipients[{k}]"), rc)),
        }
    }
    for (k, id) in level.webhooks.iter().enumerate() {
        if !known.webhooks.contains(id) {
            p.add(
                format!("{key}.webhooks[{k}]"),
                format!("unknown webhook {id:?} (not in [[notify.webhooks]])"),
            );
        }
    }
    let names_people = level.roster.is_some() || !level.recipients.is_empty();
    if names_people && level.via.is_empty() {
        p.add(
            format!("{key}.via"),
            "say how people are reached: via = [\"sms\"], [\"email\"] or both",
        );
    }
    if !names_people && !level.via.is_empty() {
        p.add(
            format!("{key}.via"),
            "`via` is for people (roster, recipients), and this level names none",
        );
    }
    let mut reported = HashSet::new();
    for via in &level.via {
        match via {
            Via::Email if notify.smtp.is_none() => {
                p.add(format!("{key}.via"), "via \"email\" needs [notify.smtp]")
            }
            Via::Sms if notify.sms.is_none() => {
                p.add(format!("{key}.via"), "via \"sms\" needs [notify.sms]")
            }
            _ => {}
        }
        for (at, rc) in &people {
            let missing = match via {
                Via::Email => rc.email.is_none().then_some("email"),
                Via::Sms => rc.phone.is_none().then_some("phone"),
            };
            if let Some(field) = missing
                && reported.insert((rc.id.as_str(), field))
            {
                let (id, via) = (&rc.id, via.as_str());
                p.add(
                    at.clone(),
                    format!("recipient {id:?} has no {field}, needed by via \"{via}\""),
                );
            }
        }
    }
}
