//! What `vigie run` and `vigie demo` print as the stores change: incidents opened, outages
//! started and ended, and (in the demo) consumption alerts classified. Each call returns
//! the lines for what changed since the previous call; the first call only notes where
//! things stand.

use crate::correlate::store::AlertQuery;
use crate::daemon::Daemon;
use crate::outage::store::OutageQuery;
use std::collections::{BTreeMap, HashMap};

/// What was last seen.
#[derive(Debug, Default)]
pub struct Seen {
    started: bool,
    last_incident: i64,
    outages: HashMap<i64, &'static str>,
    classes: HashMap<String, Option<String>>,
}

/// The lines for what changed; `alerts`: also report alerts' classes (grouped by zone and
/// class).
pub async fn changes(daemon: &Daemon, seen: &mut Seen, alerts: bool) -> Vec<String> {
    let incidents = daemon.incidents.clone();
    let outages = daemon.outages.clone();
    let consumption = daemon.consumption.clone();
    let read = tokio::task::spawn_blocking(move || {
        let i = incidents.lock().ok().and_then(|s| {
            s.list(&crate::incident::store::IncidentQuery {
                limit: 50,
                ..Default::default()
            })
            .ok()
        });
        let o = outages.lock().ok().and_then(|s| {
            s.list(&OutageQuery {
                recent_since_ns: crate::sample::now_ns() - 3600 * 1_000_000_000,
                limit: 200,
                ..Default::default()
            })
            .ok()
        });
        let a = if alerts {
            consumption.lock().ok().and_then(|s| {
                s.list(&AlertQuery {
                    limit: 1000,
                    ..Default::default()
                })
                .ok()
            })
        } else {
            None
        };
        (i, o, a)
    })
    .await;
    let Ok((incidents, outages, alert_list)) = read else {
        return Vec::new();
    };
    let mut lines = Vec::new();
    let first = !seen.started;
    seen.started = true;
    for i in incidents.unwrap_or_default().iter().rev() {
        if i.id > seen.last_incident {
            seen.last_incident = i.id;
            if !first {
                let reason = if i.reason.is_empty() {
                    String::new()
                } else {
                    format!(": {}", i.reason)
                };
                lines.push(format!(
                    "incident #{} opened ({}, {}): {}{}; links {} alarm(s), {} alert(s), {} outage(s)",
                    i.id,
                    i.source,
                    i.priority.as_str(),
                    i.title,
                    reason,
                    i.links.alarms.len(),
                    i.links.alerts.len(),
                    i.links.outages.len()
                ));
            }
        }
    }
    for o in outages.unwrap_or_default().iter().rev() {
        let status = o.status.as_str();
        if seen.outages.insert(o.id, status) != Some(status) && !first {
            lines.push(format!(
                "outage #{} {}: {} ({}), zones {}",
                o.id,
                status,
                o.description,
                o.cause.as_str(),
                o.zones.join(", ")
            ));
        }
    }
    let mut classified: BTreeMap<(String, String), usize> = BTreeMap::new();
    for a in alert_list.unwrap_or_default() {
        let before = seen
            .classes
            .insert(a.alert.alert_id.clone(), a.classification.clone());
        if let Some(c) = &a.classification
            && before.flatten().as_ref() != Some(c)
        {
            *classified
                .entry((a.alert.zone.clone(), c.clone()))
                .or_default() += 1;
        }
    }
    for ((zone, class), n) in classified.into_iter().filter(|_| !first) {
        lines.push(format!("alerts classified: {n} in {zone} {class}"));
    }
    lines
}
