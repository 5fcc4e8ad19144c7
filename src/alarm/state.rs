//! The ISA-18.2 / IEC 62682 alarm state machine, as pure functions over [`AlarmState`].
//!
//! The state an operator sees ([`StateName`]) is derived from orthogonal facts, as in
//! OPC UA Part 9 §5.8 (`ActiveState`, `AckedState`, `LatchedState`, `ShelvingState`,
//! `SuppressedState`, `OutOfServiceState`):
//!
//! | ISA | [`StateName`] | condition | acked | latched |
//! |---|---|---|---|---|
//! | A | `normal` | no | yes | no |
//! | B | `active_unacknowledged` | yes | no | - |
//! | C | `active_acknowledged` | yes | yes | - |
//! | D | `rtn_unacknowledged` | no | no | no |
//! | E | `latched_unacknowledged` / `latched_acknowledged` | no | no / yes | yes |
//! | F | `shelved` | any | any | any |
//! | G | `suppressed` | any | any | any |
//! | H | `out_of_service` | any | any | any |
//!
//! Transitions (reference/alarms-integration.md §1.1): A→B on the condition, B→C on
//! acknowledge, B→D on return to normal, C→A on return to normal, D→A on acknowledge, D→B
//! when the condition comes back; with latching, the return to normal leads to E, and an
//! operator's reset to A. Shelving, suppression and out of service hide the alarm while it
//! is still evaluated; when they end, the alarm is re-evaluated against the live condition:
//! B if the condition holds; else a latched alarm stays latched and an unacknowledged
//! return to normal stays unacknowledged; else A.

use serde::{Deserialize, Serialize};

/// What an operator sees of an alarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StateName {
    Normal,
    ActiveUnacknowledged,
    ActiveAcknowledged,
    RtnUnacknowledged,
    LatchedUnacknowledged,
    LatchedAcknowledged,
    Shelved,
    Suppressed,
    OutOfService,
}

impl StateName {
    /// The name used in the API, the journal and InfluxDB.
    pub fn as_str(self) -> &'static str {
        match self {
            StateName::Normal => "normal",
            StateName::ActiveUnacknowledged => "active_unacknowledged",
            StateName::ActiveAcknowledged => "active_acknowledged",
            StateName::RtnUnacknowledged => "rtn_unacknowledged",
            StateName::LatchedUnacknowledged => "latched_unacknowledged",
            StateName::LatchedAcknowledged => "latched_acknowledged",
            StateName::Shelved => "shelved",
            StateName::Suppressed => "suppressed",
            StateName::OutOfService => "out_of_service",
        }
    }

    /// Parses [`StateName::as_str`]'s names.
    pub fn parse(s: &str) -> Option<StateName> {
        ALL_STATES.iter().copied().find(|n| n.as_str() == s)
    }

    /// True when an operator should see the alarm in the active list: every state but
    /// `normal` (shelved, suppressed and out-of-service alarms are listed, marked as such).
    pub fn is_listed(self) -> bool {
        self != StateName::Normal
    }
}

/// Every state, in the table's order.
pub const ALL_STATES: [StateName; 9] = [
    StateName::Normal,
    StateName::ActiveUnacknowledged,
    StateName::ActiveAcknowledged,
    StateName::RtnUnacknowledged,
    StateName::LatchedUnacknowledged,
    StateName::LatchedAcknowledged,
    StateName::Shelved,
    StateName::Suppressed,
    StateName::OutOfService,
];

/// An operator's shelving of an alarm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shelve {
    /// When the shelve expires and the alarm comes back, ns since the epoch.
    pub until_ns: i64,
    pub by: String,
    pub comment: String,
}

/// The orthogonal facts one alarm's state is derived from; persisted as is (a field added
/// later takes its default when an older database is read).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AlarmState {
    /// The process condition, after on-delay and off-delay.
    pub condition: bool,
    pub acked: bool,
    /// Held active by latching after the condition cleared.
    pub latched: bool,
    pub shelved: Option<Shelve>,
    /// Suppressed by design (set by the engine from the configured rules).
    pub suppressed: bool,
    pub out_of_service: bool,
    /// When the current occurrence was raised (ns), kept until the alarm is back to normal.
    pub raised_ns: Option<i64>,
    /// The value and limit at the last transition.
    pub value: Option<f64>,
    pub limit: Option<f64>,
}

impl Default for AlarmState {
    fn default() -> Self {
        AlarmState {
            condition: false,
            acked: true,
            latched: false,
            shelved: None,
            suppressed: false,
            out_of_service: false,
            raised_ns: None,
            value: None,
            limit: None,
        }
    }
}

/// Why an operator action was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActionError {
    #[error("the alarm is {0}: there is nothing to acknowledge")]
    NothingToAck(&'static str),
    #[error("the alarm is {0}: only a latched alarm whose condition has cleared can be reset")]
    NotResettable(&'static str),
    #[error("the alarm is {0}: it cannot be shelved")]
    NotShelvable(&'static str),
    #[error("the alarm is not shelved")]
    NotShelved,
}

impl AlarmState {
    /// The state an operator sees.
    pub fn name(&self) -> StateName {
        if self.out_of_service {
            StateName::OutOfService
        } else if self.suppressed {
            StateName::Suppressed
        } else if self.shelved.is_some() {
            StateName::Shelved
        } else if self.condition {
            if self.acked {
                StateName::ActiveAcknowledged
            } else {
                StateName::ActiveUnacknowledged
            }
        } else if self.latched {
            if self.acked {
                StateName::LatchedAcknowledged
            } else {
                StateName::LatchedUnacknowledged
            }
        } else if self.acked {
            StateName::Normal
        } else {
            StateName::RtnUnacknowledged
        }
    }

    fn hidden(&self) -> bool {
        self.out_of_service || self.suppressed || self.shelved.is_some()
    }

    /// The filtered condition changed to `active` at `time_ns`; `latch` from the definition.
    pub fn set_condition(&mut self, active: bool, latch: bool, time_ns: i64) {
        if active == self.condition {
            return;
        }
        self.condition = active;
        if self.hidden() {
            // Evaluated but not annunciated; re-evaluated when it is shown again. An
            // occurrence that was annunciated before it was hidden still latches.
            if !active && latch && self.raised_ns.is_some() {
                self.latched = true;
            }
            return;
        }
        if active {
            // A→B, D→B, E→B: a new occurrence an operator must acknowledge.
            self.acked = false;
            self.latched = false;
            self.raised_ns = Some(time_ns);
        } else if latch {
            self.latched = true;
        } else if self.acked {
            self.raised_ns = None;
        }
    }

    /// Operator acknowledge: B→C, D→A, E(unacked)→E(acked).
    pub fn acknowledge(&mut self) -> Result<(), ActionError> {
        match self.name() {
            StateName::ActiveUnacknowledged | StateName::LatchedUnacknowledged => {
                self.acked = true;
                Ok(())
            }
            StateName::RtnUnacknowledged => {
                self.acked = true;
                self.raised_ns = None;
                Ok(())
            }
            other => Err(ActionError::NothingToAck(other.as_str())),
        }
    }

    /// Operator reset of a latched alarm whose condition has cleared: E→A (acknowledges too).
    pub fn reset(&mut self) -> Result<(), ActionError> {
        match self.name() {
            StateName::LatchedUnacknowledged | StateName::LatchedAcknowledged => {
                self.latched = false;
                self.acked = true;
                self.raised_ns = None;
                Ok(())
            }
            other => Err(ActionError::NotResettable(other.as_str())),
        }
    }

    /// Operator shelve until `shelve.until_ns`; refused for suppressed and out-of-service
    /// alarms (they are already hidden by design) and for alarms already shelved.
    pub fn shelve(&mut self, shelve: Shelve) -> Result<(), ActionError> {
        match self.name() {
            n @ (StateName::Suppressed | StateName::OutOfService | StateName::Shelved) => {
                Err(ActionError::NotShelvable(n.as_str()))
            }
            _ => {
                self.shelved = Some(shelve);
                Ok(())
            }
        }
    }

    /// Operator unshelve, or the shelve's expiry: re-evaluated against the condition.
    pub fn unshelve(&mut self, time_ns: i64) -> Result<(), ActionError> {
        if self.shelved.take().is_none() {
            return Err(ActionError::NotShelved);
        }
        self.reevaluate(time_ns);
        Ok(())
    }

    /// Suppression by design starts or ends.
    pub fn set_suppressed(&mut self, suppressed: bool, time_ns: i64) {
        if self.suppressed == suppressed {
            return;
        }
        self.suppressed = suppressed;
        if !suppressed {
            self.reevaluate(time_ns);
        }
    }

    /// Out of service starts or ends (configuration).
    pub fn set_out_of_service(&mut self, oos: bool, time_ns: i64) {
        if self.out_of_service == oos {
            return;
        }
        self.out_of_service = oos;
        if !oos {
            self.reevaluate(time_ns);
        }
    }

    /// Shown again: B when the condition holds (to acknowledge again; the occurrence keeps
    /// its `raised_ns`, so a standing alarm stays standing). When it does not: a latched
    /// alarm stays latched until reset, an unacknowledged return to normal stays to be
    /// acknowledged, anything else is A.
    fn reevaluate(&mut self, time_ns: i64) {
        if self.hidden() {
            return;
        }
        if self.condition {
            self.acked = false;
            self.latched = false;
            self.raised_ns = Some(self.raised_ns.unwrap_or(time_ns));
        } else if !self.latched && self.acked {
            self.raised_ns = None;
        }
    }

    /// True when the shelve has expired at `now_ns`.
    pub fn shelve_expired(&self, now_ns: i64) -> bool {
        self.shelved.as_ref().is_some_and(|s| s.until_ns <= now_ns)
    }
}

#[cfg(test)]
mod tests;
