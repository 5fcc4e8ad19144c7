//! The correlator (DESIGN.md "Data flow"): customer overconsumption alerts, matched against
//! supervision alarms by zone and time window.
//!
//! - [`alerts`], [`store`]: the CRM's alerts (`POST /api/v1/consumption-alerts`);
//! - [`detect`]: alerts from a billing export (`vigie import-consumption`);
//! - [`classify`]: each alert against the network alarms of its zone (pure);
//! - [`night_flow`]: minimum night flow per water zone, whose rises join the classification;
//! - [`run`]: the periodic pass that stores classes and opens incidents.
//!
//! Outages are issue 4's next step.

pub mod alerts;
pub mod classify;
pub mod detect;
pub mod night_flow;
pub mod run;
pub mod store;
