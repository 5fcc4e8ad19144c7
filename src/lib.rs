//! vigie: a supervision daemon for water and electricity distribution networks.
//!
//! Data flows forward through one module per stage (DESIGN.md "Data flow"):
//! [`config`] and [`profile`] describe the network, [`poll`] reads devices over Modbus TCP,
//! [`buffer`] carries samples in lock-free ring buffers, [`sink`] keeps the live state and
//! writes InfluxDB, [`alarm`] raises ISA-18.2 alarms and journals them, [`notify`] tells the
//! engineers on call, [`api`] serves HTTP, and [`sim`] simulates stations for tests and the
//! demo.

pub mod alarm;
pub mod api;
pub mod buffer;
pub mod config;
pub mod console;
pub mod correlate;
pub mod daemon;
pub mod demo;
pub mod fd_limit;
pub mod idempotency;
pub mod incident;
pub mod malloc;
pub mod metrics;
pub mod notify;
pub mod outage;
pub mod poll;
pub mod profile;
pub mod sample;
pub mod sim;
pub mod sink;
pub mod sql_filter;
pub mod systemd;
pub mod toml_position;
