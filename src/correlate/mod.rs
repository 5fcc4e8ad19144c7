//! The correlator (DESIGN.md "Data flow"): customer overconsumption alerts, matched against
//! supervision alarms by zone and time window.
//!
//! So far: the alerts themselves ([`alerts`]) and their store ([`store`]), fed by the CRM
//! through `POST /api/v1/consumption-alerts`. Classification, incidents and outages are
//! issue 4's next steps.

pub mod alerts;
pub mod classify;
pub mod detect;
pub mod store;
