//! The poller: one task per `host:port` connection, polling its devices on a fixed time grid
//! and pushing samples into the connection's ring buffer (DESIGN.md "Polling").
//!
//! - Requests on a connection are serialized; unit ids behind a gateway share it.
//! - Each device's polls sit on a grid of its `poll_interval`: slots at `k × poll_interval +
//!   phase` since the Unix epoch, the phase 0, or with `[daemon] poll_spread` a stable
//!   function of the connection's address, the devices behind it spaced evenly over the
//!   interval ([`grid`]). A slot that has already passed when
//!   the connection gets to it is counted as missed, never queued, so the schedule does not
//!   drift. Waiting uses the monotonic clock; when the system clock is stepped (NTP, an
//!   operator) by more than 0.5 s the grid (phase kept) is re-anchored to the new time
//!   instead of freezing or counting thousands of missed slots.
//! - A device that refuses a merged read with exception 2 or 3 has that read split into one
//!   read per point from then on, so one unmapped register does not hide its neighbours.
//! - After a timeout the connection is dropped and reopened at once for the next request
//!   (a late reply must not answer another request; tokio-modbus issue #324). A failed
//!   connect, or a connection lost before any reply came back on it, backs off exponentially
//!   with jitter (250 ms doubling to 30 s, ±25 %); a reply resets the backoff.
//! - A unit that stops answering is polled less often (every 2, 4, 8 … slots, at most 30 s
//!   apart) after three silent polls, so it costs its neighbours one timeout at most per
//!   retry; its points stay bad in between.

pub mod grid;
pub mod plan;
pub mod read;
pub mod stream;

use crate::buffer::Producer;
use crate::config::catalog::Catalog;
use crate::metrics::Metrics;
use crate::sample::{BadReason, DeviceId, PollStatus, Quality, Record, Sample, now_ns};
use plan::ReadRequest;
use read::Outcome;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio_modbus::client::Context;

pub use grid::next_slot;

const CONNECT_BACKOFF_MIN: Duration = Duration::from_millis(250);
const CONNECT_BACKOFF_MAX: Duration = Duration::from_secs(30);
const SILENT_POLLS_BEFORE_BACKOFF: u32 = 3;
const SILENT_BACKOFF_MAX: Duration = Duration::from_secs(30);
/// A difference between the monotonic and the system clock above this is a clock step.
const CLOCK_STEP_NS: i64 = 500_000_000;

struct DeviceState {
    id: DeviceId,
    unit_id: u8,
    interval_ns: i64,
    /// Offset of the grid from the epoch's, ns in `[0, interval_ns)`: 0, or with
    /// `poll_spread` [`grid::device_phase_ns`].
    phase_ns: i64,
    timeout: Duration,
    requests: Vec<ReadRequest>,
    next_due_ns: i64,
    timeouts: u64,
    errors: u64,
    silent_polls: u32,
    skip_until_ns: i64,
    last_reason: BadReason,
}

/// Polls every device behind one `host:port`.
pub struct ConnectionPoller {
    address: String,
    devices: Vec<DeviceState>,
    catalog: Arc<Catalog>,
    metrics: Arc<Metrics>,
    out: Producer,
    ctx: Option<Context>,
    /// Bytes read from the current connection.
    received: stream::ReceivedBytes,
    connect_failures: u32,
    reconnect_at: Option<Instant>,
    /// True once a reply came back on the current connection.
    replied_since_connect: bool,
    /// The monotonic clock's reading at a known system time (ns since the epoch).
    anchor: (Instant, i64),
}

impl ConnectionPoller {
    /// A poller for `devices` (all at `address`), pushing into `out`. `poll_spread`
    /// (`[daemon] poll_spread`): each device's grid is shifted by the phase of `address`,
    /// plus its share of the interval among `devices` ([`grid::device_phase_ns`]); otherwise
    /// grids are aligned to the epoch.
    pub fn new(
        address: String,
        devices: &[DeviceId],
        poll_spread: bool,
        catalog: Arc<Catalog>,
        metrics: Arc<Metrics>,
        out: Producer,
    ) -> ConnectionPoller {
        let now = now_ns();
        let count = devices.len();
        let devices = devices
            .iter()
            .enumerate()
            .map(|(index, &id)| {
                let d = catalog.device(id);
                let interval_ns = d.poll_interval.as_nanos().max(1) as i64;
                let phase_ns = if poll_spread {
                    grid::device_phase_ns(&address, index, count, interval_ns)
                } else {
                    0
                };
                DeviceState {
                    id,
                    unit_id: d.unit_id,
                    interval_ns,
                    phase_ns,
                    timeout: d.timeout,
                    requests: plan::plan(&d.profile),
                    next_due_ns: next_slot(now, interval_ns, phase_ns),
                    timeouts: 0,
                    errors: 0,
                    silent_polls: 0,
                    skip_until_ns: i64::MIN,
                    last_reason: BadReason::CommFailure,
                }
            })
            .collect();
        ConnectionPoller {
            address,
            devices,
            catalog,
            metrics,
            out,
            ctx: None,
            received: stream::ReceivedBytes::default(),
            connect_failures: 0,
            reconnect_at: None,
            replied_since_connect: false,
            anchor: (Instant::now(), now),
        }
    }

    /// System time as the monotonic clock sees it since the anchor, ns since the epoch.
    fn grid_now(&self) -> i64 {
        self.anchor.1 + self.anchor.0.elapsed().as_nanos() as i64
    }

    /// Re-anchors the grid when the system clock was stepped; true when it was.
    fn follow_clock_steps(&mut self) -> bool {
        let wall = now_ns();
        let step = wall - self.grid_now();
        if step.abs() <= CLOCK_STEP_NS {
            return false;
        }
        tracing::warn!(address = %self.address, step_ms = step / 1_000_000, "system clock stepped; polls re-aligned to the new time");
        self.anchor = (Instant::now(), wall);
        for d in &mut self.devices {
            d.next_due_ns = next_slot(wall, d.interval_ns, d.phase_ns);
            d.skip_until_ns = i64::MIN;
        }
        true
    }

    /// Polls until `stop` turns true.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) {
        if self.devices.is_empty() {
            return;
        }
        loop {
            let Some(i) = (0..self.devices.len()).min_by_key(|&i| self.devices[i].next_due_ns)
            else {
                return;
            };
            let due = self.devices[i].next_due_ns;
            let wait = Duration::from_nanos((due - self.grid_now()).max(0) as u64);
            let stopped = tokio::select! {
                _ = tokio::time::sleep(wait) => false,
                // An error means the sender is gone: stop too.
                changed = stop.changed() => changed.is_err(),
            };
            if stopped || *stop.borrow() {
                break;
            }
            if self.follow_clock_steps() {
                continue;
            }
            let now = self.grid_now();
            let d = &mut self.devices[i];
            let counters = &self.metrics.devices[d.id.0 as usize];
            let late = now - due;
            let mut slot = due;
            if late >= d.interval_ns {
                let missed = late / d.interval_ns;
                counters
                    .missed_slots
                    .fetch_add(missed as u64, Ordering::Relaxed);
                slot += missed * d.interval_ns;
            }
            counters.lateness.observe((now - slot) as f64 / 1e9);
            self.poll_device(i, slot).await;
            let d = &mut self.devices[i];
            d.next_due_ns = slot + d.interval_ns;
        }
        if let Some(mut ctx) = self.ctx.take() {
            use tokio_modbus::client::Client as _;
            let _ = tokio::time::timeout(Duration::from_millis(200), ctx.disconnect()).await;
        }
    }

    /// Opens the connection if needed; false when it is down (and backing off).
    async fn ensure_connected(&mut self, timeout: Duration) -> bool {
        if self.ctx.is_some() {
            return true;
        }
        if self.reconnect_at.is_some_and(|t| Instant::now() < t) {
            return false;
        }
        let attempt = async {
            let addr = tokio::net::lookup_host(&self.address)
                .await?
                .next()
                .ok_or_else(|| std::io::Error::other("address resolves to nothing"))?;
            let stream = tokio::net::TcpStream::connect(addr).await?;
            stream.set_nodelay(true)?;
            Ok::<_, std::io::Error>(stream::attach(stream))
        };
        match tokio::time::timeout(timeout, attempt).await {
            Ok(Ok((ctx, received))) => {
                self.received = received;
                if self.connect_failures > 0 {
                    tracing::info!(address = %self.address, "connected again");
                }
                self.ctx = Some(ctx);
                self.reconnect_at = None;
                self.replied_since_connect = false;
                true
            }
            failure => {
                let why = match failure {
                    Ok(Err(e)) => e.to_string(),
                    _ => "connect timed out".to_string(),
                };
                self.connect_failures += 1;
                let backoff = backoff(self.connect_failures);
                if self.connect_failures == 1 || self.connect_failures.is_multiple_of(20) {
                    tracing::warn!(address = %self.address, error = %why, retry_in = ?backoff, failures = self.connect_failures, "cannot connect");
                }
                self.reconnect_at = Some(Instant::now() + backoff);
                false
            }
        }
    }

    async fn poll_device(&mut self, i: usize, slot_ns: i64) {
        let (id, unit_id, timeout, skip) = {
            let d = &self.devices[i];
            (d.id, d.unit_id, d.timeout, slot_ns < d.skip_until_ns)
        };
        let catalog = self.catalog.clone();
        let info = catalog.device(id);
        let metrics = self.metrics.clone();
        let counters = &metrics.devices[id.0 as usize];

        let result = if skip {
            None
        } else if !self.ensure_connected(timeout).await {
            self.devices[i].errors += 1;
            counters.errors.fetch_add(1, Ordering::Relaxed);
            self.devices[i].last_reason = BadReason::CommFailure;
            None
        } else {
            let requests = std::mem::take(&mut self.devices[i].requests);
            let r = match self.ctx.as_mut() {
                Some(ctx) => Some(
                    read::read_device(
                        ctx,
                        &self.received,
                        unit_id,
                        timeout,
                        // The whole poll fits in the device's timeout: a slow unit holds
                        // its neighbours up no longer than a dead one does.
                        Some(timeout),
                        &info.profile,
                        &requests,
                    )
                    .await,
                ),
                None => None,
            };
            self.devices[i].requests = requests;
            r
        };

        let d = &mut self.devices[i];
        let mut up = false;
        let mut latency_ms = None;
        match &result {
            None => {
                for k in 0..info.profile.points.len() {
                    self.out.push(Record::Sample(Sample {
                        point: info.point_id(k),
                        time_ns: slot_ns,
                        value: None,
                        quality: Quality::Bad(d.last_reason),
                    }));
                }
            }
            Some(r) => {
                counters
                    .requests
                    .fetch_add(u64::from(r.requests), Ordering::Relaxed);
                counters
                    .exceptions
                    .fetch_add(u64::from(r.exceptions), Ordering::Relaxed);
                counters.poll_latency.observe(r.elapsed.as_secs_f64());
                latency_ms = Some(r.elapsed.as_secs_f64() * 1e3);
                if r.replies > 0 {
                    self.replied_since_connect = true;
                    self.connect_failures = 0;
                }
                counters.polls.fetch_add(1, Ordering::Relaxed);
                match r.outcome {
                    Outcome::Answered => {
                        up = true;
                        d.silent_polls = 0;
                    }
                    Outcome::Timeout => {
                        d.timeouts += 1;
                        counters.timeouts.fetch_add(1, Ordering::Relaxed);
                        d.silent_polls += 1;
                        d.last_reason = BadReason::Timeout;
                        // The late reply must not answer the next request: new connection.
                        self.ctx = None;
                    }
                    Outcome::BadReply => {
                        // The unit's fault, not the link's: a fresh connection at once, and
                        // the unit counts towards its own backoff, so it cannot starve others.
                        d.errors += 1;
                        counters.errors.fetch_add(1, Ordering::Relaxed);
                        d.last_reason = BadReason::BadReply;
                        d.silent_polls += 1;
                        self.ctx = None;
                        if d.silent_polls == 1 {
                            tracing::warn!(address = %self.address, unit_id, device = %info.id, "reply is not a usable answer (mismatched, cut or not Modbus); reconnecting");
                        }
                    }
                    Outcome::ConnectionLost => {
                        d.errors += 1;
                        counters.errors.fetch_add(1, Ordering::Relaxed);
                        d.last_reason = BadReason::CommFailure;
                        d.silent_polls += 1;
                        self.ctx = None;
                        // A gateway that accepts and then drops us before any reply must not
                        // be hammered: back off until a reply comes back on a connection.
                        if !self.replied_since_connect {
                            self.connect_failures += 1;
                            let wait = backoff(self.connect_failures);
                            self.reconnect_at = Some(Instant::now() + wait);
                            if self.connect_failures == 1
                                || self.connect_failures.is_multiple_of(20)
                            {
                                tracing::warn!(address = %self.address, unit_id, retry_in = ?wait, "connection lost before any reply; reconnecting with backoff");
                            }
                        }
                    }
                    Outcome::OverBudget => {
                        d.last_reason = BadReason::Timeout;
                        if d.silent_polls == 0 {
                            tracing::warn!(address = %self.address, unit_id, device = %info.id, "poll did not fit in the device's timeout; its last reads are skipped (raise `timeout` if the device is just slow)");
                        }
                        d.silent_polls += 1;
                    }
                    Outcome::GatewayNoResponse => {
                        d.silent_polls += 1;
                        d.last_reason = r
                            .points
                            .iter()
                            .find_map(|p| p.as_ref().err().copied())
                            .unwrap_or(BadReason::CommFailure);
                    }
                }
                if d.silent_polls >= SILENT_POLLS_BEFORE_BACKOFF {
                    let exp = (d.silent_polls - SILENT_POLLS_BEFORE_BACKOFF + 1).min(16);
                    let slots = (1i64 << exp)
                        .min((SILENT_BACKOFF_MAX.as_nanos() as i64 / d.interval_ns).max(1));
                    // A slot of the same grid (phase kept): `slot_ns` is on it.
                    d.skip_until_ns = slot_ns + slots * d.interval_ns;
                    if d.silent_polls == SILENT_POLLS_BEFORE_BACKOFF {
                        tracing::warn!(address = %self.address, unit_id, site = %catalog.site_of(info).id, device = %info.id, "unit does not answer; polling it less often until it does");
                    }
                }
                for &k in r.refused_merged_reads.iter().rev() {
                    // Halves, not single points: a device that caps reads below 125 registers
                    // finds its size in a few polls; a hole ends up alone in a read.
                    let points = &d.requests[k].points;
                    let (a, b) = points.split_at(points.len() / 2);
                    let mut split = plan::plan_points(&info.profile, a);
                    split.extend(plan::plan_points(&info.profile, b));
                    tracing::info!(address = %self.address, unit_id, device = %info.id, start = d.requests[k].start, count = d.requests[k].count, "device refused a merged read; splitting it");
                    d.requests.splice(k..=k, split);
                }
                for (k, v) in r.points.iter().enumerate() {
                    let (value, quality) = match v {
                        Ok(v) => (Some(v.clone()), Quality::Good),
                        Err(reason) => (None, Quality::Bad(*reason)),
                    };
                    self.out.push(Record::Sample(Sample {
                        point: info.point_id(k),
                        time_ns: slot_ns,
                        value,
                        quality,
                    }));
                }
            }
        }
        counters.up.store(u64::from(up), Ordering::Relaxed);
        self.out.push(Record::Poll(Box::new(PollStatus {
            device: id,
            time_ns: slot_ns,
            up,
            latency_ms,
            timeouts: d.timeouts,
            errors: d.errors,
        })));
        self.out.flush();
    }
}

/// Exponential backoff with ±25 % jitter: 250 ms × 2^(failures-1), at most 30 s.
fn backoff(failures: u32) -> Duration {
    let base = CONNECT_BACKOFF_MIN
        .saturating_mul(1 << failures.saturating_sub(1).min(16))
        .min(CONNECT_BACKOFF_MAX);
    base.mul_f64(rand::random_range(0.75..1.25))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        assert!(backoff(1) <= Duration::from_millis(313));
        assert!(backoff(5) >= Duration::from_secs(3));
        assert!(backoff(30) <= Duration::from_millis(37_500));
    }
}
