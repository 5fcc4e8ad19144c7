//! Turns drained records into line-protocol batches (DESIGN.md "InfluxDB schema"):
//! one `telemetry` line per device poll with one field per good point, and one
//! `device_status` line per poll. Bad samples are left out, never written as a number.

use super::line::{Field, encode_line};
use crate::buffer::drain::Sink;
use crate::config::catalog::Catalog;
use crate::metrics::Metrics;
use crate::profile::Value;
use crate::sample::{DeviceId, PollStatus, Quality, Record};
use crate::sink::spool::Spool;
use bytes::Bytes;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// The drain's InfluxDB stage: encodes lines and hands full batches to the writer.
pub struct InfluxSink {
    catalog: Arc<Catalog>,
    metrics: Arc<Metrics>,
    buf: Vec<u8>,
    lines: usize,
    first_line_at: Option<Instant>,
    batch_lines: usize,
    flush_interval: Duration,
    group: Option<(DeviceId, i64)>,
    fields: Vec<(u32, Value)>,
    out: Handoff,
}

impl InfluxSink {
    /// Batches of at most `batch_lines` lines or `flush_interval` age are handed to `out`.
    pub fn new(
        catalog: Arc<Catalog>,
        metrics: Arc<Metrics>,
        batch_lines: usize,
        flush_interval: Duration,
        out: Handoff,
    ) -> InfluxSink {
        InfluxSink {
            catalog,
            metrics,
            buf: Vec::with_capacity(1 << 16),
            lines: 0,
            first_line_at: None,
            batch_lines: batch_lines.max(1),
            flush_interval,
            group: None,
            fields: Vec::new(),
            out,
        }
    }

    fn end_group(&mut self) {
        let Some((device, time_ns)) = self.group.take() else {
            return;
        };
        if self.fields.is_empty() {
            return;
        }
        let d = self.catalog.device(device);
        let site = self.catalog.site_of(d);
        let fields: Vec<(&str, Field<'_>)> = self
            .fields
            .iter()
            .map(|(i, v)| {
                let name = d.profile.points[*i as usize].name.as_str();
                let f = match v {
                    Value::F64(x) => Field::F64(*x),
                    Value::I64(x) => Field::I64(*x),
                    Value::Bool(x) => Field::Bool(*x),
                    Value::Text(s) => Field::Str(s),
                };
                (name, f)
            })
            .collect();
        let tags = [
            ("site", site.id.as_str()),
            ("device", d.id.as_str()),
            ("kind", site.kind.as_str()),
        ];
        let e = encode_line(&mut self.buf, "telemetry", &tags, &fields, time_ns);
        self.metrics
            .writer
            .fields_dropped_non_finite
            .fetch_add(e.dropped_non_finite as u64, Ordering::Relaxed);
        self.count_lines(e.lines);
        self.fields.clear();
    }

    fn status_line(&mut self, st: &PollStatus) {
        let d = self.catalog.device(st.device);
        let site = self.catalog.site_of(d);
        let tags = [("site", site.id.as_str()), ("device", d.id.as_str())];
        let mut fields = vec![
            ("up", Field::Bool(st.up)),
            ("timeouts", Field::I64(st.timeouts as i64)),
            ("errors", Field::I64(st.errors as i64)),
        ];
        // Left out when no request was sent in this slot (0 would read as an instant reply).
        if let Some(ms) = st.latency_ms {
            fields.push(("latency_ms", Field::F64(ms)));
        }
        let e = encode_line(&mut self.buf, "device_status", &tags, &fields, st.time_ns);
        self.count_lines(e.lines);
    }

    fn count_lines(&mut self, n: usize) {
        if n > 0 && self.first_line_at.is_none() {
            self.first_line_at = Some(Instant::now());
        }
        self.lines += n;
    }

    fn send(&mut self) {
        if self.lines == 0 {
            return;
        }
        let batch = Bytes::from(std::mem::replace(
            &mut self.buf,
            Vec::with_capacity(1 << 16),
        ));
        self.lines = 0;
        self.first_line_at = None;
        self.out.hand(batch);
    }
}

/// The writer's input: a batch goes to the writer's queue, or to the disk spool when the
/// queue is full (the writer is not keeping up) or gone. Cheap to clone; every stage that
/// writes to InfluxDB (samples, alarm events) hands its batches over through one.
#[derive(Clone)]
pub struct Handoff {
    out: mpsc::Sender<Bytes>,
    spool: Arc<Mutex<Spool>>,
}

impl Handoff {
    pub fn new(out: mpsc::Sender<Bytes>, spool: Arc<Mutex<Spool>>) -> Handoff {
        Handoff { out, spool }
    }

    /// Hands `batch` (line protocol) over; never blocks on the network. A batch the spool
    /// refuses (full) is logged by the spool and counted in its metrics.
    pub fn hand(&self, batch: Bytes) {
        if let Err(e) = self.out.try_send(batch) {
            let batch = match e {
                mpsc::error::TrySendError::Full(b) | mpsc::error::TrySendError::Closed(b) => b,
            };
            match self.spool.lock() {
                Ok(mut s) => {
                    if let Err(e) = crate::sink::spool::blocking(|| s.push(&batch)) {
                        tracing::error!(error = %e, "writer queue full and spool refused a batch");
                    }
                }
                Err(_) => tracing::error!("spool lock poisoned; batch lost"),
            }
        }
    }
}

impl Sink for InfluxSink {
    fn record(&mut self, record: &Record) {
        match record {
            Record::Sample(s) => {
                let key = (self.catalog.device_id_of(s.point), s.time_ns);
                if self.group != Some(key) {
                    self.end_group();
                    self.group = Some(key);
                }
                if let (Quality::Good, Some(v)) = (s.quality, &s.value) {
                    let first = self.catalog.device(key.0).first_point;
                    self.fields.push((s.point.0 - first, v.clone()));
                }
            }
            Record::Poll(st) => {
                if self.group.is_some_and(|g| g != (st.device, st.time_ns)) {
                    self.end_group();
                }
                self.group = Some((st.device, st.time_ns));
                self.end_group();
                self.status_line(st);
                if self.lines >= self.batch_lines {
                    self.send();
                }
            }
        }
    }

    fn tick(&mut self) {
        if self.lines >= self.batch_lines
            || self
                .first_line_at
                .is_some_and(|t| t.elapsed() >= self.flush_interval)
        {
            self.send();
        }
    }

    fn close(&mut self) {
        self.end_group();
        self.send();
    }
}
