//! The outage tracker: every second, each rule is evaluated against the alarm engine's
//! conditions and the live points. A rule that holds opens its outage (and the outage's
//! incident); a rule that stops holding ends it, with its end time, and says so on the
//! incident. Declared outages start and end on time. An outage's estimated restoration time
//! follows its incident's (what engineers set with `PATCH /api/v1/incidents/{id}`).

use super::Outage;
use super::rules::{AlarmFact, Condition, PointFact, Rule, Verdict, evaluate, incident_priority};
use super::store::{Derived, OutageStore};
use crate::alarm::Priority;
use crate::alarm::recorder::Alarms;
use crate::incident::Links;
use crate::incident::store::{Change, IncidentStore, NewIncident};
use crate::profile::Value;
use crate::sample::{PointId, now_ns};
use crate::sink::live::LiveState;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// How often rules are evaluated: 1 s, the usual poll interval; an outage starts or ends
/// within a second of its cause.
pub const EVERY: Duration = Duration::from_secs(1);

/// What the tracker works with.
pub struct Tracker {
    pub rules: Vec<Rule>,
    pub alarms: Alarms,
    pub live: LiveState,
    pub outages: Arc<Mutex<OutageStore>>,
    pub incidents: Arc<Mutex<IncidentStore>>,
    /// Since when each holding rule has held, as seen by earlier passes (ns): a point's
    /// short history forgets, `min_duration` must not.
    pub held_since: HashMap<String, i64>,
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::F64(x) => Some(*x),
        Value::I64(x) => Some(*x as f64),
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        Value::Text(_) => None,
    }
}

/// The point's last value and since when it has had it (back through the short history).
fn point_fact(live: &LiveState, p: PointId) -> Option<PointFact> {
    let st = live.point(p)?;
    let value = number(st.value.as_ref()?)?;
    let mut since = st.time_ns;
    for (t, v) in live.history(p).iter().rev() {
        match v {
            Some(x) if (x - value).abs() < 1e-9 => since = *t,
            _ => break,
        }
    }
    Some(PointFact {
        value,
        since_ns: since,
    })
}

impl Tracker {
    /// Each rule's verdict, and each rule alarm's priority.
    fn verdicts(&self) -> (Vec<Verdict>, HashMap<String, Priority>) {
        let mut facts: HashMap<String, (AlarmFact, Priority)> = HashMap::new();
        if let Ok(e) = self.alarms.engine.lock() {
            for r in &self.rules {
                for c in &r.conditions {
                    if let Condition::Alarm(id) = c
                        && let Some(i) = e.index(id)
                    {
                        let s = &e.states()[i].state;
                        let fact = AlarmFact {
                            active: s.condition,
                            raised_ns: s.raised_ns,
                        };
                        facts.insert(id.clone(), (fact, e.defs()[i].priority));
                    }
                }
            }
        }
        let verdicts = self
            .rules
            .iter()
            .map(|r| {
                evaluate(
                    r,
                    |id| facts.get(id).map(|f| f.0),
                    |p| point_fact(&self.live, p),
                )
            })
            .collect();
        let priorities = facts.into_iter().map(|(k, v)| (k, v.1)).collect();
        (verdicts, priorities)
    }

    /// One pass; errors are logged (the next pass tries again).
    pub async fn pass(&mut self) {
        let now = now_ns();
        let (mut verdicts, priorities) = self.verdicts();
        for (r, v) in self.rules.iter().zip(verdicts.iter_mut()) {
            match v.holds {
                Some(true) => {
                    let seen = self.held_since.entry(r.key.clone()).or_insert(now);
                    *seen = (*seen).min(v.since_ns.unwrap_or(now));
                    v.since_ns = Some(*seen);
                }
                Some(false) => {
                    self.held_since.remove(&r.key);
                }
                None => {}
            }
        }
        let rules = self.rules.clone();
        let outages = self.outages.clone();
        let incidents = self.incidents.clone();
        let done = tokio::task::spawn_blocking(move || -> Result<(), String> {
            let mut store = outages.lock().map_err(|_| "outage store unavailable")?;
            let mut tickets = incidents.lock().map_err(|_| "incident store unavailable")?;
            reconcile(
                &rules,
                &verdicts,
                &priorities,
                &mut store,
                &mut tickets,
                now,
            )
        })
        .await;
        match done {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "outage pass failed"),
            Err(e) => tracing::warn!(error = %e, "outage pass failed"),
        }
    }

    /// Runs a pass every [`EVERY`] until `stop` turns true.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => self.pass().await,
                r = stop.changed() => if r.is_err() || *stop.borrow() { break },
            }
        }
    }
}

/// Brings the store in line with the verdicts (see the module's doc).
pub fn reconcile(
    rules: &[Rule],
    verdicts: &[Verdict],
    priorities: &HashMap<String, Priority>,
    store: &mut OutageStore,
    tickets: &mut IncidentStore,
    now: i64,
) -> Result<(), String> {
    let e = |e: &dyn std::fmt::Display| e.to_string();
    let active: HashMap<String, Outage> = store
        .active_derived()
        .map_err(|x| e(&x))?
        .into_iter()
        .filter_map(|o| o.rule.clone().map(|r| (r, o)))
        .collect();
    for (rule, v) in rules.iter().zip(verdicts) {
        let since = v.since_ns.unwrap_or(now).min(now);
        match (v.holds, active.get(&rule.key)) {
            (Some(true), None) if now - since >= rule.min_duration_ns => {
                let d = Derived {
                    rule: rule.key.clone(),
                    cause: rule.cause,
                    description: rule.description.clone(),
                    utility: rule.utility,
                    site: rule.site.clone(),
                    zones: rule.zones.clone(),
                    alarms: v.alarms.clone(),
                    start_ns: since,
                };
                let (o, _) = store.open_derived(&d, now).map_err(|x| e(&x))?;
                tracing::info!(outage = o.id, rule = %rule.key, zones = ?o.zones, cause = o.cause.as_str(), "outage started");
            }
            (Some(false), Some(o)) => end(store, tickets, o, now, "its cause cleared")?,
            _ => {}
        }
    }
    // A rule taken out of the configuration: its outage cannot end by itself any more.
    for (key, o) in &active {
        if !rules.iter().any(|r| &r.key == key) {
            end(store, tickets, o, now, "its rule is no longer configured")?;
        }
    }
    for o in store.active_derived().map_err(|x| e(&x))? {
        if o.incident_id.is_none() {
            open_incident(rules, priorities, store, tickets, &o, now)?;
        }
    }
    for o in store.advance_declared(now).map_err(|x| e(&x))? {
        tracing::info!(outage = o.id, status = o.status.as_str(), zones = ?o.zones, "declared outage");
    }
    // The estimated restoration time: the incident's, else the announced end.
    for o in store.open_outages().map_err(|x| e(&x))? {
        let from_incident = match o.incident_id {
            Some(id) => tickets.get(id).map_err(|x| e(&x))?.estimated_restoration_ns,
            None => None,
        };
        let etr = from_incident.or(o.planned_end_ns);
        if store
            .set_estimated_restoration(o.id, etr, now)
            .map_err(|x| e(&x))?
        {
            tracing::info!(outage = o.id, "outage's estimated restoration time changed");
        }
    }
    Ok(())
}

fn end(
    store: &mut OutageStore,
    tickets: &mut IncidentStore,
    o: &Outage,
    now: i64,
    why: &str,
) -> Result<(), String> {
    let ended = store.end(o.id, now, now).map_err(|x| x.to_string())?;
    tracing::info!(outage = o.id, zones = ?o.zones, "outage ended: {why}");
    if let Some(id) = ended.incident_id {
        let change = Change {
            comment: Some(format!(
                "Outage {} ended ({why}): supply back in {}.",
                o.id,
                o.zones.join(", ")
            )),
            ..Default::default()
        };
        tickets
            .update(id, &change, "vigie", now)
            .map_err(|x| x.to_string())?;
    }
    Ok(())
}

/// The outage's incident (by key `outage:{id}`: opened once, whatever stops when).
fn open_incident(
    rules: &[Rule],
    priorities: &HashMap<String, Priority>,
    store: &mut OutageStore,
    tickets: &mut IncidentStore,
    o: &Outage,
    now: i64,
) -> Result<(), String> {
    let alarm_priorities: Vec<Priority> = o
        .alarms
        .iter()
        .filter_map(|a| priorities.get(a).copied())
        .collect();
    let priority = rules
        .iter()
        .find(|r| o.rule.as_deref() == Some(r.key.as_str()))
        .map(|r| incident_priority(r, &alarm_priorities))
        .unwrap_or(Priority::High);
    let new = NewIncident {
        title: format!("Outage: {}", o.description),
        description: String::new(),
        priority,
        zone: o.zones.first().cloned(),
        site: o.site.clone(),
        assignee: None,
        estimated_restoration_ns: None,
        source: "outage".into(),
        reason: format!(
            "{} in zone(s) {} (rule {}{})",
            o.cause.as_str().replace('_', " "),
            o.zones.join(", "),
            o.rule.as_deref().unwrap_or("-"),
            if o.alarms.is_empty() {
                String::new()
            } else {
                format!(", alarms {}", o.alarms.join(", "))
            }
        ),
        links: Links {
            alarms: o.alarms.clone(),
            alerts: Vec::new(),
            outages: vec![o.id.to_string()],
        },
    };
    let (i, _) = tickets
        .upsert_correlated(&format!("outage:{}", o.id), &new, now)
        .map_err(|x| x.to_string())?;
    store
        .set_incident(o.id, i.id, now)
        .map_err(|x| x.to_string())?;
    tracing::info!(
        outage = o.id,
        incident = i.id,
        "incident opened for the outage"
    );
    Ok(())
}
