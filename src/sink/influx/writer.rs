//! The InfluxDB writer task: sends batches (already on disk in the spool), retries transient
//! failures with backoff, leaves what it cannot send in the spool, and replays the spool,
//! oldest first, when InfluxDB answers again. A batch leaves the spool once InfluxDB has
//! taken it.
//!
//! v2 (`/api/v2/write`, org, bucket, token) goes through the influxdb2 client; v1
//! (`/write?db=`) through the same reqwest 0.11 stack. Any 2xx is a success. A 5xx, a
//! connection error, or a 401/403/404 (configuration, not data) is transient: the batch is
//! kept, retried, then spooled. A 413 (too large) splits the batch in halves. A 400 or 422 means InfluxDB
//! refused the data itself: the batch is logged with the line InfluxDB names and dropped,
//! since sending it again cannot succeed.

use crate::config::{InfluxApi, InfluxConfig};
use crate::metrics::Metrics;
use crate::sink::influx::batch::Batch;
use crate::sink::spool::{RefusalLog, Spool, blocking};
use bytes::Bytes;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// Why a write failed.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// InfluxDB refused the data (400/422): sending it again cannot succeed.
    #[error("InfluxDB rejected the batch: HTTP {status}: {body}")]
    Rejected { status: u16, body: String },
    /// Unreachable, 5xx, or a configuration error (401/403/404/413): keep the batch.
    #[error("InfluxDB write failed: {0}")]
    Transient(String),
    /// The client could not be built from the configuration.
    #[error("InfluxDB client: {0}")]
    Setup(String),
}

/// An InfluxDB endpoint.
pub enum Target {
    V1 {
        client: reqwest011::Client,
        write_url: String,
        username: String,
        password: String,
    },
    V2 {
        client: influxdb2::Client,
        bucket: String,
    },
}

struct RawBatch(Bytes);

impl influxdb2::models::WriteDataPoint for RawBatch {
    fn write_data_point_to<W: std::io::Write>(&self, mut w: W) -> std::io::Result<()> {
        w.write_all(&self.0)
    }
}

fn classify(status: u16, body: String) -> WriteError {
    match status {
        // 413: too large; `Writer::write` splits the batch and sends the halves.
        400 | 413 | 422 => WriteError::Rejected { status, body },
        _ => WriteError::Transient(format!("HTTP {status}: {body}")),
    }
}

impl Target {
    /// Builds the client for `cfg` (URL checked; no request sent).
    pub fn new(cfg: &InfluxConfig) -> Result<Target, WriteError> {
        let builder = reqwest011::Client::builder()
            .timeout(cfg.timeout)
            .connect_timeout(cfg.timeout);
        let base = cfg.url.trim_end_matches('/');
        match cfg.api {
            InfluxApi::V2 => {
                let client =
                    influxdb2::ClientBuilder::with_builder(builder, base, &cfg.org, &cfg.token)
                        .build()
                        .map_err(|e| WriteError::Setup(e.to_string()))?;
                Ok(Target::V2 {
                    client,
                    bucket: cfg.bucket.clone(),
                })
            }
            InfluxApi::V1 => {
                let client = builder
                    .build()
                    .map_err(|e| WriteError::Setup(e.to_string()))?;
                let mut url = reqwest011::Url::parse(&format!("{base}/write"))
                    .map_err(|e| WriteError::Setup(e.to_string()))?;
                url.query_pairs_mut()
                    .append_pair("db", &cfg.database)
                    .append_pair("precision", "ns");
                Ok(Target::V1 {
                    client,
                    write_url: url.to_string(),
                    username: cfg.username.clone(),
                    password: cfg.password.clone(),
                })
            }
        }
    }

    /// One write attempt.
    pub async fn write(&self, batch: Bytes) -> Result<(), WriteError> {
        match self {
            Target::V2 { client, bucket } => {
                let body = futures::stream::iter(vec![RawBatch(batch)]);
                match client
                    .write_with_precision(
                        bucket,
                        body,
                        influxdb2::api::write::TimestampPrecision::Nanoseconds,
                    )
                    .await
                {
                    Ok(()) => Ok(()),
                    // influxdb2 treats every status but 204 as an error; any 2xx is a success.
                    Err(influxdb2::RequestError::Http { status, .. }) if status.is_success() => {
                        Ok(())
                    }
                    Err(influxdb2::RequestError::Http { status, text }) => {
                        Err(classify(status.as_u16(), text))
                    }
                    Err(e) => Err(WriteError::Transient(e.to_string())),
                }
            }
            Target::V1 {
                client,
                write_url,
                username,
                password,
            } => {
                let mut req = client.post(write_url).body(batch);
                if !username.is_empty() {
                    req = req.basic_auth(username, Some(password));
                }
                let resp = req
                    .send()
                    .await
                    .map_err(|e| WriteError::Transient(e.to_string()))?;
                let status = resp.status().as_u16();
                if (200..300).contains(&status) {
                    Ok(())
                } else {
                    Err(classify(status, resp.text().await.unwrap_or_default()))
                }
            }
        }
    }
}

/// The line InfluxDB's error names (`line 3: …` in 2.x, `unable to parse '…'` in 1.x), or
/// the batch's first line when the message names none.
pub fn offending_line(e: &WriteError, batch: &[u8]) -> String {
    let text = String::from_utf8_lossy(batch);
    let mut lines = text.lines();
    if let WriteError::Rejected { body, .. } = e {
        if let Some(n) = body.split("line ").skip(1).find_map(|rest| {
            rest.split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse::<usize>()
                .ok()
        }) && n >= 1
            && let Some(l) = text.lines().nth(n - 1)
        {
            return l.to_string();
        }
        if let Some(quoted) = body
            .split("unable to parse '")
            .nth(1)
            .and_then(|r| r.split("': ").next())
        {
            return quoted.to_string();
        }
    }
    lines.next().unwrap_or_default().to_string()
}

/// How long one write may take while vigie is stopping (then the batch is spooled).
const WRITE_TIMEOUT_WHEN_STOPPING: Duration = Duration::from_secs(2);
/// Failures of the same oldest spooled batch, each after another write succeeded (so the
/// batch, not InfluxDB, is at fault), before it is moved to the back.
const REQUEUE_AFTER_FAILURES: u32 = 5;
/// How long vigie keeps trying InfluxDB once it is stopping; then the queue is spooled.
const STOPPING_BUDGET: Duration = Duration::from_secs(4);
/// Spooled batches sent after each live batch, so the spool drains faster than real time.
const REPLAY_PER_LIVE_BATCH: usize = 4;

/// Writes batches from `rx` until it closes. Without a target every batch goes to the spool.
/// Once `stopping` turns true, writes get no retries and at most
/// [`WRITE_TIMEOUT_WHEN_STOPPING`]; what cannot be sent goes to the spool.
pub async fn run(
    target: Option<Target>,
    max_retries: u32,
    mut rx: mpsc::Receiver<Batch>,
    spool: Arc<Mutex<Spool>>,
    metrics: Arc<Metrics>,
    stopping: watch::Receiver<bool>,
) {
    let mut w = Writer {
        target,
        max_retries,
        spool,
        metrics,
        outage: false,
        stopping,
        stopping_since: None,
        oldest_failures: None,
        writes_ok: 0,
        refusals: RefusalLog::default(),
    };
    // A persistent interval: live batches arriving every second must not starve the replay.
    let mut replay_tick = tokio::time::interval(Duration::from_secs(2));
    replay_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            b = rx.recv() => match b {
                Some(b) => w.handle(b).await,
                None => break,
            },
            _ = replay_tick.tick() => {
                if w.target.is_some() && !w.is_stopping() {
                    w.replay(usize::MAX, Some(&rx)).await;
                }
            }
        }
    }
}

struct Writer {
    target: Option<Target>,
    max_retries: u32,
    spool: Arc<Mutex<Spool>>,
    metrics: Arc<Metrics>,
    /// True after a batch exhausted its retries, until a write succeeds again.
    outage: bool,
    stopping: watch::Receiver<bool>,
    stopping_since: Option<Instant>,
    /// The oldest spooled batch's sequence, its failures counted, and `writes_ok` at its
    /// last failure.
    oldest_failures: Option<(u64, u32, u64)>,
    /// Successful writes so far.
    writes_ok: u64,
    refusals: RefusalLog,
}

impl Writer {
    fn is_stopping(&self) -> bool {
        *self.stopping.borrow()
    }

    /// True once vigie has been stopping for [`STOPPING_BUDGET`]: what is still queued then
    /// goes straight to the spool, so a slow InfluxDB cannot hold the stop up.
    fn stopping_too_long(&mut self) -> bool {
        if !self.is_stopping() {
            return false;
        }
        self.stopping_since
            .get_or_insert_with(Instant::now)
            .elapsed()
            >= STOPPING_BUDGET
    }

    fn spool_len(&self) -> usize {
        self.spool.lock().map(|s| s.len()).unwrap_or(0)
    }

    /// A batch not sent now: on disk already, it joins the backlog; from memory, it is
    /// written to the spool (or lost, loudly, when the spool refuses it).
    fn keep(&mut self, batch: &Batch) {
        let Ok(mut s) = self.spool.lock() else {
            tracing::error!("spool lock poisoned; batch lost");
            return;
        };
        match batch.seq {
            Some(seq) => s.release(seq),
            None => {
                if let Err(e) = blocking(|| s.push(&batch.data, false)) {
                    self.refusals.log(&e, "lost");
                }
            }
        }
    }

    /// A batch done with (sent, or refused by InfluxDB as bad data): out of the spool.
    fn done(&self, seq: Option<u64>) {
        if let Some(seq) = seq
            && let Ok(mut s) = self.spool.lock()
            && let Err(e) = blocking(|| s.remove(seq))
        {
            tracing::error!(error = %e, "cannot remove a sent batch from the spool");
        }
    }

    fn sent(&self, batch: &[u8]) {
        self.metrics
            .writer
            .batches_sent
            .fetch_add(1, Ordering::Relaxed);
        let lines = batch.iter().filter(|&&b| b == b'\n').count();
        self.metrics
            .writer
            .lines_sent
            .fetch_add(lines as u64, Ordering::Relaxed);
    }

    fn rejected(&self, e: &WriteError, batch: &[u8]) {
        self.metrics
            .writer
            .batches_rejected
            .fetch_add(1, Ordering::Relaxed);
        let line = offending_line(e, batch);
        tracing::error!(error = %e, offending_line = %line, "InfluxDB refused a batch (data error); dropped");
    }

    /// One attempt, bounded while stopping; a 413 (body too large) is split and sent in halves.
    /// After a split, a half InfluxDB refuses as bad data (400/422) is logged and dropped
    /// alone: the other halves are still sent.
    async fn write(&self, batch: Bytes) -> Result<(), WriteError> {
        let Some(target) = &self.target else {
            return Err(WriteError::Transient("no InfluxDB configured".into()));
        };
        let mut pending = vec![batch];
        let mut split = false;
        while let Some(b) = pending.pop() {
            let attempt = target.write(b.clone());
            tokio::pin!(attempt);
            let cut_short = || {
                Err(WriteError::Transient(
                    "no answer in time while stopping".into(),
                ))
            };
            let result = if self.is_stopping() {
                tokio::time::timeout(WRITE_TIMEOUT_WHEN_STOPPING, &mut attempt)
                    .await
                    .unwrap_or_else(|_| cut_short())
            } else {
                // A write already in flight when the stop comes gets the same 2 s, no more.
                let mut stopping = self.stopping.clone();
                tokio::select! {
                    r = &mut attempt => r,
                    _ = async { stopping.wait_for(|s| *s).await.is_ok() } => {
                        tokio::time::timeout(WRITE_TIMEOUT_WHEN_STOPPING, &mut attempt)
                            .await
                            .unwrap_or_else(|_| cut_short())
                    }
                }
            };
            match result {
                Err(WriteError::Rejected { status: 413, .. })
                    if b.iter().filter(|&&c| c == b'\n').count() > 1 =>
                {
                    let lines = b.iter().filter(|&&c| c == b'\n').count();
                    let mut seen = 0;
                    let cut = b
                        .iter()
                        .position(|&c| {
                            seen += usize::from(c == b'\n');
                            seen == lines / 2
                        })
                        .map(|i| i + 1)
                        .unwrap_or(b.len());
                    // Second half pushed first: the first half is sent first.
                    pending.push(b.slice(cut..));
                    pending.push(b.slice(..cut));
                    split = true;
                }
                Err(e @ WriteError::Rejected { .. }) if split => self.rejected(&e, &b),
                other => other?,
            }
        }
        Ok(())
    }

    async fn handle(&mut self, batch: Batch) {
        if self.target.is_none() {
            self.keep(&batch);
            return;
        }
        // During an outage with batches waiting, keep the order: this one queues behind them.
        // Stopping for a while already: no more tries, keep what is left on disk.
        if (self.outage && self.spool_len() > 0) || self.stopping_too_long() {
            self.keep(&batch);
            return;
        }
        let attempts = if self.is_stopping() {
            1
        } else {
            1 + self.max_retries
        };
        for attempt in 1..=attempts {
            match self.write(batch.data.clone()).await {
                Ok(()) => {
                    self.writes_ok += 1;
                    self.sent(&batch.data);
                    self.done(batch.seq);
                    if self.outage {
                        tracing::info!("InfluxDB answers again");
                    }
                    self.outage = false;
                    if !self.is_stopping() {
                        self.replay(REPLAY_PER_LIVE_BATCH, None).await;
                    }
                    return;
                }
                Err(e @ (WriteError::Rejected { .. } | WriteError::Setup(_))) => {
                    self.rejected(&e, &batch.data);
                    self.done(batch.seq);
                    return;
                }
                Err(WriteError::Transient(why)) if attempt == attempts || self.is_stopping() => {
                    self.metrics
                        .writer
                        .batches_failed
                        .fetch_add(1, Ordering::Relaxed);
                    if !self.outage {
                        tracing::error!(error = %why, "InfluxDB unavailable; spooling batches to disk until it answers");
                    }
                    self.outage = true;
                    self.keep(&batch);
                    return;
                }
                Err(WriteError::Transient(why)) => {
                    self.metrics.writer.retries.fetch_add(1, Ordering::Relaxed);
                    let wait = Duration::from_millis(500).saturating_mul(1 << (attempt - 1).min(4));
                    tracing::warn!(error = %why, attempt, retry_in = ?wait, "InfluxDB write failed; retrying");
                    let mut stopping = self.stopping.clone();
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = stopping.wait_for(|s| *s) => {}
                    }
                }
            }
        }
    }

    /// Sends up to `budget` spooled batches, oldest first, while InfluxDB accepts them;
    /// with `live`, stops early when a live batch is waiting (it is sent, then replay goes on).
    async fn replay(&mut self, budget: usize, live: Option<&mpsc::Receiver<Batch>>) {
        for _ in 0..budget {
            if self.is_stopping() {
                return;
            }
            let next = match self.spool.lock() {
                Ok(mut s) => blocking(|| s.oldest()),
                Err(_) => return,
            };
            let Some((seq, data)) = next else { return };
            match self.write(Bytes::from(data.clone())).await {
                Ok(()) => {
                    self.writes_ok += 1;
                    self.sent(&data);
                    self.metrics
                        .writer
                        .batches_replayed
                        .fetch_add(1, Ordering::Relaxed);
                    if self.outage {
                        tracing::info!("InfluxDB answers again; replaying the spool");
                    }
                    self.outage = false;
                }
                Err(e @ (WriteError::Rejected { .. } | WriteError::Setup(_))) => {
                    self.rejected(&e, &data)
                }
                Err(WriteError::Transient(_)) => {
                    self.outage = true;
                    // The same oldest batch failing again and again while other writes
                    // succeed is the batch's fault, not InfluxDB's: after a few such failures
                    // it goes to the back of the queue. While InfluxDB is simply down, nothing
                    // succeeds in between and the order is kept.
                    let tries = match self.oldest_failures {
                        Some((s, n, ok)) if s == seq && self.writes_ok > ok => n + 1,
                        Some((s, n, _)) if s == seq => n,
                        _ => 1,
                    };
                    self.oldest_failures = Some((seq, tries, self.writes_ok));
                    if tries >= REQUEUE_AFTER_FAILURES {
                        self.oldest_failures = None;
                        tracing::warn!(
                            tries,
                            "a spooled batch keeps failing; moving it behind the others"
                        );
                        if let Ok(mut s) = self.spool.lock()
                            && let Err(e) = blocking(|| s.requeue(seq))
                        {
                            tracing::error!(error = %e, "cannot requeue a spooled batch");
                        }
                    }
                    return;
                }
            }
            if let Ok(mut s) = self.spool.lock()
                && let Err(e) = blocking(|| s.remove(seq))
            {
                tracing::error!(error = %e, "cannot remove a replayed batch from the spool");
                return;
            }
            if live.is_some_and(|rx| !rx.is_empty()) {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_offending_line_is_found_in_both_versions_messages() {
        let batch = b"m v=1 1\nm v=oops 2\nm v=3 3\n";
        let v2 = WriteError::Rejected { status: 400, body: "failed to parse line protocol: errors encountered on line(s):\nline 2: invalid field value".into() };
        assert_eq!(offending_line(&v2, batch), "m v=oops 2");
        let v1 = WriteError::Rejected {
            status: 400,
            body: "{\"error\":\"unable to parse 'm v=oops 2': invalid boolean\"}".into(),
        };
        assert_eq!(offending_line(&v1, batch), "m v=oops 2");
        let other = WriteError::Rejected {
            status: 400,
            body: "field type conflict".into(),
        };
        assert_eq!(offending_line(&other, batch), "m v=1 1");
    }
}
