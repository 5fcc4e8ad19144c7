//! Incident tickets (DESIGN.md "Terms": maintenance work that links alarms, consumption
//! alerts and outages), kept in the data directory's SQLite file ([`store`]).
//!
//! Status follows the usual service-desk life cycle (ServiceNow's incident states, as in
//! reference/alarms-integration.md §5): `open` → `acknowledged` → `in_progress` →
//! `resolved` → `closed`. A step may be skipped forward; a resolved incident may be
//! reopened (`in_progress`); `closed` is final.

pub mod store;

use serde::{Deserialize, Serialize};

/// An incident's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Open,
    Acknowledged,
    InProgress,
    Resolved,
    Closed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Acknowledged => "acknowledged",
            Status::InProgress => "in_progress",
            Status::Resolved => "resolved",
            Status::Closed => "closed",
        }
    }

    /// Parses [`Status::as_str`]'s names.
    pub fn parse(s: &str) -> Option<Status> {
        [
            Status::Open,
            Status::Acknowledged,
            Status::InProgress,
            Status::Resolved,
            Status::Closed,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }

    fn rank(self) -> u8 {
        self as u8
    }

    /// True when an incident may go from `self` to `to`: forward (steps may be skipped),
    /// or from `resolved` back to `in_progress` (reopened). `closed` is final.
    pub fn can_become(self, to: Status) -> bool {
        self != Status::Closed
            && (to.rank() > self.rank() || (self == Status::Resolved && to == Status::InProgress))
    }
}

/// What an incident links to.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Links {
    /// Alarm ids (`SITE:DEVICE:POINT:CONDITION`).
    #[serde(default)]
    pub alarms: Vec<String>,
    /// Consumption alert ids (the CRM's `alert_id`).
    #[serde(default)]
    pub alerts: Vec<String>,
    /// Outage ids.
    #[serde(default)]
    pub outages: Vec<String>,
}

/// An incident as stored and served.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Incident {
    pub id: i64,
    pub title: String,
    pub description: String,
    pub status: Status,
    pub priority: crate::alarm::Priority,
    pub zone: Option<String>,
    pub site: Option<String>,
    pub assignee: Option<String>,
    /// Estimated restoration time, ns since the epoch.
    pub estimated_restoration_ns: Option<i64>,
    pub opened_ns: i64,
    pub updated_ns: i64,
    /// `api` (opened by a person or system through the API) or `correlation`.
    pub source: String,
    /// Why it was opened (correlation: which alarm, how many alerts).
    pub reason: String,
    pub links: Links,
}

/// One line of an incident's history: its creation, each field change, each comment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryEntry {
    pub seq: i64,
    pub time_ns: i64,
    /// Who did it.
    pub actor: String,
    /// `created`, `changed` or `comment`.
    pub kind: String,
    pub field: Option<String>,
    pub old: Option<String>,
    pub new: Option<String>,
    pub comment: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::Status::*;

    #[test]
    fn status_moves_forward_reopens_from_resolved_and_closed_is_final() {
        assert!(Open.can_become(Acknowledged));
        assert!(Open.can_become(Resolved));
        assert!(!Acknowledged.can_become(Open));
        assert!(Resolved.can_become(InProgress));
        assert!(!InProgress.can_become(Acknowledged));
        assert!(!Closed.can_become(InProgress));
        assert!(!Open.can_become(Open));
    }
}
