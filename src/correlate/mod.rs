//! The correlator (DESIGN.md "Data flow"): customer overconsumption alerts, matched against
//! supervision alarms by zone and time window.
//!
//! - [`alerts`], [`store`]: the CRM's alerts (`POST /api/v1/consumption-alerts`);
//! - [`detect`]: alerts from a billing export (`vigie import-consumption`);
//! - [`classify`]: each alert against the network alarms of its zone (pure);
//! - [`run`]: the periodic pass that stores classes and opens incidents.
//!
//! Outages and MNF are issue 4's next steps.

pub mod alerts;
pub mod classify;
pub mod detect;
pub mod run;
pub mod store;
