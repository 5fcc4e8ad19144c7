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
    /// Bytes of `buf` already appended to the spool's open batch.
    journaled: usize,
    /// The open batch on disk failed: this batch goes to the writer from memory only.
    journal_failed: bool,
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
            journaled: 0,
            journal_failed: false,
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

    /// Appends the lines encoded since the last call to the spool's open batch, so a crash
    /// after this drain pass loses none of them.
    fn journal(&mut self) {
        if self.journal_failed || self.journaled >= self.buf.len() {
            return;
        }
        if let Err(e) = self.out.journal(&self.buf[self.journaled..]) {
            tracing::error!(error = %e, "cannot write the batch being filled to the spool; it is kept in memory only");
            self.journal_failed = true;
        }
        self.journaled = self.buf.len();
    }

    fn send(&mut self) {
        if self.lines == 0 {
            return;
        }
        self.journal();
        let batch = Bytes::from(std::mem::replace(
            &mut self.buf,
            Vec::with_capacity(1 << 16),
        ));
        self.lines = 0;
        self.first_line_at = None;
        self.journaled = 0;
        let on_disk = !std::mem::take(&mut self.journal_failed);
        self.out.seal_and_hand(batch, on_disk);
    }
}

/// A batch for the writer: line protocol, and its sequence number in the spool when it is
/// on disk (None: memory only, because the spool refused it or could not write it).
#[derive(Debug, Clone)]
pub struct Batch {
    pub seq: Option<u64>,
    pub data: Bytes,
}

/// The writer's input: every batch is written to the disk spool first, then handed to the
/// writer's queue; when the queue is full (the writer is not keeping up) or gone, the batch
/// simply waits in the spool for replay. Cheap to clone; every stage that writes to InfluxDB
/// (samples, alarm events, night flow) hands its batches over through one. Only the drain's
/// [`InfluxSink`] uses the open batch ([`Handoff::journal`]).
#[derive(Clone)]
pub struct Handoff {
    out: mpsc::Sender<Batch>,
    spool: Arc<Mutex<Spool>>,
    refusals: Arc<crate::sink::spool::RefusalLog>,
}

impl Handoff {
    pub fn new(out: mpsc::Sender<Batch>, spool: Arc<Mutex<Spool>>) -> Handoff {
        Handoff {
            out,
            spool,
            refusals: Default::default(),
        }
    }

    /// Appends whole lines to the spool's open batch (see [`Spool::append`]).
    pub fn journal(&self, lines: &[u8]) -> Result<(), crate::sink::spool::SpoolError> {
        match self.spool.lock() {
            Ok(mut s) => crate::sink::spool::blocking(|| s.append(lines)),
            Err(_) => Err(crate::sink::spool::SpoolError::Poisoned),
        }
    }

    /// Hands a whole batch (line protocol) over: durably in the spool, then to the writer.
    /// Never blocks on the network.
    pub fn hand(&self, data: Bytes) {
        let seq = match self.spool.lock() {
            Ok(mut s) => crate::sink::spool::blocking(|| s.push(&data, true)),
            Err(_) => Err(crate::sink::spool::SpoolError::Poisoned),
        };
        self.forward(seq.map(Some), data);
    }

    /// Seals the open batch (when `on_disk`) and hands `data`, the same lines, to the writer.
    fn seal_and_hand(&self, data: Bytes, on_disk: bool) {
        let seq = match self.spool.lock() {
            Ok(mut s) if on_disk => crate::sink::spool::blocking(|| s.seal()),
            Ok(mut s) => {
                s.discard_open();
                Ok(None)
            }
            Err(_) => Err(crate::sink::spool::SpoolError::Poisoned),
        };
        self.forward(seq, data);
    }

    fn forward(&self, seq: Result<Option<u64>, crate::sink::spool::SpoolError>, data: Bytes) {
        let seq = seq.unwrap_or_else(|e| {
            self.refusals.log(&e, "sent from memory only");
            None
        });
        if let Err(e) = self.out.try_send(Batch { seq, data }) {
            let batch = match e {
                mpsc::error::TrySendError::Full(b) | mpsc::error::TrySendError::Closed(b) => b,
            };
            match (batch.seq, self.spool.lock()) {
                (Some(seq), Ok(mut s)) => s.release(seq),
                (None, Ok(mut s)) => {
                    if let Err(e) = crate::sink::spool::blocking(|| s.push(&batch.data, false)) {
                        self.refusals
                            .log(&e, "lost: the writer's queue is full too");
                    }
                }
                (_, Err(_)) => tracing::error!("spool lock poisoned; batch lost"),
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
        // Every line of this pass on disk before the next stage shows it: a poll's group is
        // closed now (its later samples make a second line with the same time, which
        // InfluxDB merges into one point).
        self.end_group();
        self.journal();
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
