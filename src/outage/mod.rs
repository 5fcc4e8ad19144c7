//! Outages (DESIGN.md "Terms"): supply interruptions of zones, what the CRM answers a
//! customer who calls.
//!
//! - [`rules`]: `[[sites.outages]]` resolved against the alarms and points, and evaluated;
//! - [`store`]: the `outages` table in `<data_dir>/alarms.sqlite`, every change with its
//!   event for the CRM's webhook in the same transaction;
//! - [`run`]: the tracker that opens an outage when a rule holds, ends it when the rule stops
//!   holding, opens its incident, follows the incident's estimated restoration time, and
//!   starts and ends declared (planned) outages on time;
//! - [`area`]: which zones cover a coordinate, and the outages as GeoJSON.
//!
//! Statuses follow the OMS life cycle (CIM `OutageStatusKind`, reference
//! alarms-integration.md §3.6) reduced to what vigie knows: `planned` (declared, not started),
//! `active`, `ended` (the cause cleared, or the declared end passed) and `cancelled`
//! (declared works called off).

pub mod area;
pub mod rules;
pub mod run;
pub mod store;

use crate::config::Utility;
use crate::config::outages::OutageCause;
use serde::Serialize;

/// Where an outage is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutageStatus {
    Planned,
    Active,
    Ended,
    Cancelled,
}

impl OutageStatus {
    /// The name in the API and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            OutageStatus::Planned => "planned",
            OutageStatus::Active => "active",
            OutageStatus::Ended => "ended",
            OutageStatus::Cancelled => "cancelled",
        }
    }

    /// Parses [`OutageStatus::as_str`].
    pub fn parse(s: &str) -> Option<OutageStatus> {
        [
            OutageStatus::Planned,
            OutageStatus::Active,
            OutageStatus::Ended,
            OutageStatus::Cancelled,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }
}

/// Where an outage comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutageSource {
    /// Derived by a `[[sites.outages]]` rule from alarms and points.
    Alarms,
    /// Declared through the API (planned works, or a fault vigie cannot see).
    Declared,
}

impl OutageSource {
    /// The name in the API and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            OutageSource::Alarms => "alarms",
            OutageSource::Declared => "declared",
        }
    }

    /// Parses [`OutageSource::as_str`].
    pub fn parse(s: &str) -> Option<OutageSource> {
        [OutageSource::Alarms, OutageSource::Declared]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

/// One outage, as stored, served and sent to the CRM.
#[derive(Debug, Clone, PartialEq)]
pub struct Outage {
    pub id: i64,
    pub status: OutageStatus,
    /// Planned works (declared) rather than a fault.
    pub planned: bool,
    pub source: OutageSource,
    /// The rule that derived it, `SITE:RULE_ID`.
    pub rule: Option<String>,
    pub cause: OutageCause,
    pub description: String,
    pub utility: Option<Utility>,
    pub site: Option<String>,
    pub zones: Vec<String>,
    /// When the supply stopped (or will stop), ns since the epoch.
    pub start_ns: i64,
    /// When it came back (ended, cancelled), ns.
    pub end_ns: Option<i64>,
    /// Declared outages: the announced end, ns.
    pub planned_end_ns: Option<i64>,
    /// The linked incident's estimated restoration time, else the announced end, ns.
    pub estimated_restoration_ns: Option<i64>,
    pub incident_id: Option<i64>,
    /// The alarms whose conditions derived it (`SITE:DEVICE:POINT:CONDITION`).
    pub alarms: Vec<String>,
    /// Declared outages: the caller's reference (work order).
    pub reference: Option<String>,
    pub created_ns: i64,
    pub updated_ns: i64,
}

/// RFC 3339 (UTC) for a time in ns; null for none.
fn time_json(ns: Option<i64>) -> serde_json::Value {
    ns.map(|n| serde_json::Value::String(crate::sample::rfc3339(n)))
        .unwrap_or(serde_json::Value::Null)
}

impl Outage {
    /// The outage as the API serves it and the CRM receives it: times in RFC 3339 (UTC).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "status": self.status.as_str(),
            "planned": self.planned,
            "source": self.source.as_str(),
            "rule": self.rule,
            "cause": self.cause.as_str(),
            "description": self.description,
            "utility": self.utility,
            "site": self.site,
            "zones": self.zones,
            "start": time_json(Some(self.start_ns)),
            "end": time_json(self.end_ns),
            "planned_end": time_json(self.planned_end_ns),
            "estimated_restoration": time_json(self.estimated_restoration_ns),
            "incident_id": self.incident_id,
            "alarms": self.alarms,
            "reference": self.reference,
            "updated": time_json(Some(self.updated_ns)),
        })
    }
}

#[cfg(test)]
mod tests;
