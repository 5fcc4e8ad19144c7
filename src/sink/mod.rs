//! Where drained samples go: the live state (for the API) and InfluxDB (with a disk spool).

pub mod influx;
pub mod live;
pub mod spool;
