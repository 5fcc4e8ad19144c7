//! The alarm engine (DESIGN.md "Data flow": live state → alarm engine → notifications).
//!
//! - [`condition`]: each alarm's condition from samples (limits with deadband, discrete,
//!   rate of change, communication failure, stale data), with on-delay and off-delay.
//! - [`state`]: the ISA-18.2 / IEC 62682 life cycle as a pure state machine.
//! - [`engine`]: every configured alarm, fed by the drain, with suppression by design and
//!   the operator actions (acknowledge, shelve, unshelve, reset).
//! - [`store`]: alarm state and the event journal in SQLite (WAL) in the data directory.
//! - [`kpi`]: EEMUA 191 alarm-system performance figures from the journal.

pub mod condition;
pub mod definition;
pub mod engine;
pub mod kpi;
pub mod recorder;
pub mod state;
pub mod store;

pub use crate::config::alarms::Priority;
pub use state::{AlarmState, StateName};

use serde::Serialize;

/// One state change of one alarm (a journal row; the `alarm_events` measurement).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlarmEvent {
    /// The journal's sequence number (0 until stored); increasing, the pagination cursor.
    pub seq: i64,
    /// When the change happened, ns since the epoch (a sample's scheduled poll time, or the
    /// clock for operator actions and timers).
    pub time_ns: i64,
    /// `SITE:DEVICE:POINT:CONDITION` or `SITE:DEVICE:CONDITION`.
    pub alarm_id: String,
    pub site: String,
    pub device: String,
    /// None for device alarms.
    pub point: Option<String>,
    /// `high_high`, `high`, `low`, `low_low`, `discrete`, `rate_of_change`, `comm_failure`,
    /// `stale`.
    pub condition: String,
    pub priority: Priority,
    pub from_state: StateName,
    pub to_state: StateName,
    /// The point's value at the change, in its engineering unit.
    pub value: Option<f64>,
    /// The limit crossed (analog and rate alarms).
    pub limit: Option<f64>,
    /// The alarm's message, from its template.
    pub message: String,
    /// Who acted, for operator actions (acknowledge, shelve, unshelve, reset).
    pub operator: Option<String>,
    pub comment: Option<String>,
}

impl AlarmEvent {
    /// True when this event is an annunciation an operator must act on: the alarm became
    /// active and unacknowledged (A→B, D→B, E→B, or shown again while its condition holds).
    /// EEMUA 191's alarm rates count these.
    pub fn is_activation(&self) -> bool {
        self.to_state == StateName::ActiveUnacknowledged
    }
}
