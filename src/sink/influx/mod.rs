//! The InfluxDB sink: batches lines (DESIGN.md "InfluxDB schema") and writes them.

pub mod batch;
pub mod line;
pub mod writer;
