//! The alarm engine: every configured alarm's condition and ISA-18.2 state, fed by the
//! drain's records, the clock (stale data, shelve expiry) and operator actions.
//!
//! Each change of an alarm's shown state ([`StateName`]) is one [`AlarmEvent`]; the engine
//! queues events with the states they produced, and [`Engine::take_changes`] hands them to
//! the store (journal, notifications, InfluxDB).
//!
//! Suppression by design is configuration ([`crate::config::alarms::AlarmConfig`]): an alarm
//! is suppressed while one of the alarms that `suppresses` it has its condition active, or
//! while its `suppressed_while` point has the given value. A point sample that is not good
//! leaves its alarms as they are: a lost device is the comm-failure alarm's business.

use super::condition::{Condition, SystemCondition};
use super::definition::AlarmDef;
use super::state::{ActionError, Shelve};
use super::store::Persisted;
use super::{AlarmEvent, StateName};
use crate::profile::Value;
use crate::sample::{PollStatus, Quality, Sample};
use std::collections::{BTreeSet, HashMap};

/// Why an operator action failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("no alarm {0:?}")]
    UnknownAlarm(String),
    #[error(transparent)]
    Refused(#[from] ActionError),
    #[error("shelve duration must be between 1s and {max}")]
    BadShelveDuration { max: String },
}

/// An operator's action on one alarm.
#[derive(Debug, Clone)]
pub enum Action {
    Acknowledge,
    Reset,
    /// Shelve for this long.
    Shelve(std::time::Duration),
    Unshelve,
}

/// All alarms and their states.
pub struct Engine {
    defs: Vec<AlarmDef>,
    states: Vec<Persisted>,
    by_id: HashMap<String, usize>,
    by_point: HashMap<u32, Vec<usize>>,
    by_device: HashMap<u32, Vec<usize>>,
    /// For each point, the alarms whose `suppressed_while` watches it.
    watchers: HashMap<u32, Vec<usize>>,
    /// For each alarm, the alarms that suppress it.
    suppressors: Vec<Vec<usize>>,
    /// The last good value of each alarm's point.
    last_value: Vec<Option<f64>>,
    max_shelve: std::time::Duration,
    events: Vec<AlarmEvent>,
    dirty: BTreeSet<usize>,
}

fn numeric(v: &Value) -> Option<f64> {
    match v {
        Value::F64(x) => Some(*x),
        Value::I64(x) => Some(*x as f64),
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        Value::Text(_) => None,
    }
}

impl Engine {
    /// The engine for `defs`, with the states persisted before (by alarm id) restored.
    /// Stale timers start at `now_ns`: time vigie was down does not count as stale data.
    /// Out-of-service flags follow the configuration; any resulting change is an event.
    pub fn new(
        defs: Vec<AlarmDef>,
        mut restored: HashMap<String, Persisted>,
        max_shelve: std::time::Duration,
        now_ns: i64,
    ) -> Engine {
        let n = defs.len();
        let mut e = Engine {
            states: Vec::with_capacity(n),
            by_id: HashMap::new(),
            by_point: HashMap::new(),
            by_device: HashMap::new(),
            watchers: HashMap::new(),
            suppressors: vec![Vec::new(); n],
            last_value: vec![None; n],
            max_shelve,
            events: Vec::new(),
            dirty: BTreeSet::new(),
            defs: Vec::new(),
        };
        for (i, d) in defs.iter().enumerate() {
            let mut p = restored.remove(&d.id).unwrap_or_default();
            // An active stale alarm stays active until fresh data comes; otherwise the time
            // vigie was down does not count as stale data.
            let stale_active = matches!(d.condition, Condition::Stale { .. }) && p.state.condition;
            if !stale_active || p.tracker.last_seen_ns.is_none() {
                p.tracker.last_seen_ns = Some(now_ns);
            }
            e.last_value[i] = p.state.value;
            e.states.push(p);
            e.by_id.insert(d.id.clone(), i);
            match (d.point, d.device) {
                (Some(pt), _) => e.by_point.entry(pt.0).or_default().push(i),
                (None, Some(dev)) => e.by_device.entry(dev.0).or_default().push(i),
                (None, None) => {}
            }
            if let Some((pt, _)) = d.suppressed_while {
                e.watchers.entry(pt.0).or_default().push(i);
            }
            for &j in &d.suppresses {
                e.suppressors[j].push(i);
            }
        }
        e.defs = defs;
        for i in 0..n {
            let oos = e.defs[i].out_of_service;
            e.change(i, now_ns, None, |s| s.set_out_of_service(oos, now_ns));
        }
        // Suppression from the restored conditions (the configuration may have changed).
        for i in 0..n {
            e.update_suppression(i, now_ns);
        }
        e
    }

    /// True when some alarm's `suppressed_while` watches `point`: its samples are applied
    /// before the other samples of the same poll time.
    pub fn is_watched(&self, point: crate::sample::PointId) -> bool {
        self.watchers.contains_key(&point.0)
    }

    /// Every alarm's definition, in configuration order.
    pub fn defs(&self) -> &[AlarmDef] {
        &self.defs
    }

    /// Every alarm's state, in the order of [`Engine::defs`].
    pub fn states(&self) -> &[Persisted] {
        &self.states
    }

    /// An alarm's index by id.
    pub fn index(&self, id: &str) -> Option<usize> {
        self.by_id.get(id).copied()
    }

    /// Applies `f` to alarm `i`'s state; queues an event when the shown state changed.
    fn change(
        &mut self,
        i: usize,
        time_ns: i64,
        operator: Option<(&str, &str)>,
        f: impl FnOnce(&mut super::AlarmState),
    ) {
        let before = self.states[i].state.clone();
        f(&mut self.states[i].state);
        let after = &self.states[i].state;
        if *after != before {
            self.dirty.insert(i);
        }
        let (from, to) = (before.name(), after.name());
        if from != to || operator.is_some() && *after != before {
            let d = &self.defs[i];
            let value = self.last_value[i];
            self.events.push(AlarmEvent {
                seq: 0,
                time_ns,
                alarm_id: d.id.clone(),
                site: d.site.clone(),
                device: d.device_name.clone(),
                point: d.point_name.clone(),
                condition: d.condition_name.to_string(),
                priority: d.priority,
                from_state: from,
                to_state: to,
                value,
                limit: d.condition.limit(),
                message: d.message(value),
                operator: operator.map(|(o, _)| o.to_string()),
                comment: operator.map(|(_, c)| c.to_string()),
            });
        }
    }

    /// Sets alarm `i`'s filtered condition, then the suppression of the alarms it suppresses.
    fn set_condition(&mut self, i: usize, active: bool, time_ns: i64) {
        if self.states[i].state.condition == active {
            return;
        }
        let latch = self.defs[i].latch;
        let value = self.last_value[i];
        let limit = self.defs[i].condition.limit();
        self.change(i, time_ns, None, |s| {
            s.set_condition(active, latch, time_ns);
            s.value = value;
            s.limit = limit;
        });
        for j in self.defs[i].suppresses.clone() {
            self.update_suppression(j, time_ns);
        }
    }

    /// Alarm `j` is suppressed while a suppressor in service has its condition active, or
    /// while its `suppressed_while` point has the suppressing value.
    fn update_suppression(&mut self, j: usize, time_ns: i64) {
        let by_alarm = self.suppressors[j].iter().any(|&k| {
            let s = &self.states[k].state;
            s.condition && !s.out_of_service
        });
        let suppressed = by_alarm || self.states[j].point_suppressed;
        self.change(j, time_ns, None, |s| s.set_suppressed(suppressed, time_ns));
    }

    fn filter(&mut self, i: usize, raw: bool, time_ns: i64) {
        let (on, off) = (self.defs[i].on_delay_ns, self.defs[i].off_delay_ns);
        let current = self.states[i].state.condition;
        let t = &mut self.states[i].tracker;
        let (raw_before, since_before) = (t.raw, t.raw_since_ns);
        let active = t.filter(raw, current, time_ns, on, off);
        if (t.raw, t.raw_since_ns) != (raw_before, since_before) {
            self.dirty.insert(i);
        }
        self.set_condition(i, active, time_ns);
    }

    /// One sample from the drain.
    pub fn on_sample(&mut self, s: &Sample) {
        let value = match (&s.quality, &s.value) {
            (Quality::Good, Some(v)) => numeric(v),
            _ => None,
        };
        let Some(v) = value else {
            // No data: on-delays and off-delays start again with the next good sample.
            for &i in self.by_point.get(&s.point.0).into_iter().flatten() {
                if self.states[i].tracker.raw_since_ns.take().is_some() {
                    self.dirty.insert(i);
                }
            }
            return;
        };
        if let Some(list) = self.watchers.get(&s.point.0).cloned() {
            for j in list {
                let equals = self.defs[j].suppressed_while.map(|(_, x)| x);
                let now = equals == Some(v);
                if self.states[j].point_suppressed != now {
                    self.states[j].point_suppressed = now;
                    self.dirty.insert(j);
                }
                self.update_suppression(j, s.time_ns);
            }
        }
        let Some(list) = self.by_point.get(&s.point.0).cloned() else {
            return;
        };
        for i in list {
            self.last_value[i] = Some(v);
            let cond = self.defs[i].condition.clone();
            let t = &mut self.states[i].tracker;
            t.last_seen_ns = Some(s.time_ns);
            let raw = match cond {
                Condition::Stale { .. } => false,
                _ => cond.raw(v, s.time_ns, t),
            };
            self.filter(i, raw, s.time_ns);
        }
    }

    /// One poll result from the drain: comm-failure alarms, and device stale timers.
    pub fn on_poll(&mut self, st: &PollStatus) {
        let Some(list) = self.by_device.get(&st.device.0).cloned() else {
            return;
        };
        for i in list {
            match self.defs[i].condition {
                Condition::CommFailure => self.filter(i, !st.up, st.time_ns),
                Condition::Stale { .. } => {
                    self.states[i].tracker.last_seen_ns = Some(st.time_ns);
                    self.filter(i, false, st.time_ns);
                }
                _ => {}
            }
        }
    }

    /// vigie's own condition `which` is `active` (or not) at `now_ns`.
    pub fn on_system(&mut self, which: SystemCondition, active: bool, now_ns: i64) {
        for i in 0..self.defs.len() {
            if self.defs[i].condition == Condition::System(which)
                && (active != self.states[i].tracker.raw
                    || active != self.states[i].state.condition)
            {
                self.filter(i, active, now_ns);
            }
        }
    }

    /// The clock: stale data and shelve expiry, at `now_ns`.
    pub fn tick(&mut self, now_ns: i64) {
        for i in 0..self.defs.len() {
            if let Condition::Stale { after_ns } = self.defs[i].condition {
                let seen = self.states[i].tracker.last_seen_ns.unwrap_or(now_ns);
                let raw = now_ns.saturating_sub(seen) > after_ns;
                if raw != self.states[i].tracker.raw || raw != self.states[i].state.condition {
                    self.filter(i, raw, now_ns);
                }
            }
            if self.states[i].state.shelve_expired(now_ns) {
                self.change(i, now_ns, Some(("vigie", "shelve expired")), |s| {
                    let _ = s.unshelve(now_ns);
                });
            }
        }
    }

    /// An operator's action on the alarm `id`, by `operator` with `comment`, at `now_ns`.
    ///
    /// Errors: unknown alarm; an action the alarm's state does not allow (acknowledge with
    /// nothing to acknowledge, reset of an alarm that is not latched, shelve of a suppressed
    /// or already shelved alarm, unshelve of an alarm that is not shelved); a shelve longer
    /// than `[alarms] max_shelve`.
    pub fn act(
        &mut self,
        id: &str,
        action: &Action,
        operator: &str,
        comment: &str,
        now_ns: i64,
    ) -> Result<usize, EngineError> {
        let i = self
            .index(id)
            .ok_or_else(|| EngineError::UnknownAlarm(id.to_string()))?;
        let mut state = self.states[i].state.clone();
        match action {
            Action::Acknowledge => state.acknowledge()?,
            Action::Reset => state.reset()?,
            Action::Unshelve => state.unshelve(now_ns)?,
            Action::Shelve(d) => {
                if *d < std::time::Duration::from_secs(1) || *d > self.max_shelve {
                    return Err(EngineError::BadShelveDuration {
                        max: humantime::format_duration(self.max_shelve).to_string(),
                    });
                }
                let until_ns =
                    now_ns.saturating_add(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
                state.shelve(Shelve {
                    until_ns,
                    by: operator.to_string(),
                    comment: comment.to_string(),
                })?
            }
        }
        self.change(i, now_ns, Some((operator, comment)), |s| *s = state);
        Ok(i)
    }

    /// The events queued since the last call, with the persisted state of every alarm that
    /// changed; empty when nothing happened.
    pub fn take_changes(&mut self) -> (Vec<AlarmEvent>, Vec<(String, Persisted)>) {
        let states = std::mem::take(&mut self.dirty)
            .into_iter()
            .map(|i| (self.defs[i].id.clone(), self.states[i].clone()))
            .collect();
        (std::mem::take(&mut self.events), states)
    }

    /// The shown state of alarm `i`.
    pub fn state_name(&self, i: usize) -> StateName {
        self.states[i].state.name()
    }

    /// The last good value of alarm `i`'s point.
    pub fn value(&self, i: usize) -> Option<f64> {
        self.last_value[i]
    }
}

#[cfg(test)]
mod tests;
