//! systemd's service notifications (`Type=notify`, `WatchdogSec=`), through the `sd-notify`
//! crate: `READY=1` once the API listens and the pollers run, `WATCHDOG=1` while the pipeline
//! moves, `STATUS=` with the one-line summary, `STOPPING=1` when a signal asks vigie to stop.
//!
//! Outside systemd (`NOTIFY_SOCKET` unset) every call does nothing. The protocol is
//! sd_notify(3): one datagram of `KEY=VALUE` lines to the unix socket named by
//! `NOTIFY_SOCKET`; the watchdog interval is `WATCHDOG_USEC` (µs), meant for the process
//! `WATCHDOG_PID` when that is set.

use crate::metrics::Metrics;
use sd_notify::NotifyState;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::watch;

/// `READY=1` and `STATUS=status`. A failed send is logged, never fatal: systemd then
/// fails the start by its own `TimeoutStartSec=`.
pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// `STATUS=status` (shown by `systemctl status`).
pub fn status(status: &str) {
    send(&[NotifyState::Status(status)]);
}

/// `STOPPING=1` and `STATUS=stopping`.
pub fn stopping() {
    send(&[
        NotifyState::Stopping,
        NotifyState::Status("stopping: draining buffers, sending the last batches"),
    ]);
}

fn send(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!(error = %e, "cannot notify systemd (NOTIFY_SOCKET)");
    }
}

/// How often to send `WATCHDOG=1`: half of `WATCHDOG_USEC` (sd_watchdog_enabled(3)
/// recommends pinging at half the interval), None when systemd asked for no watchdog.
pub fn watchdog_period() -> Option<Duration> {
    sd_notify::watchdog_enabled()
        .filter(|d| !d.is_zero())
        .map(|d| d / 2)
}

/// Sends `WATCHDOG=1` every `period` while the drain task makes passes (it counts each in
/// `metrics.drain_passes`, at least one every 100 ms): a stalled pipeline (a sink stuck on
/// a lock, a starved runtime) stops the pings and systemd restarts vigie after
/// `WatchdogSec=`. Ends when `stop` turns true.
pub async fn watchdog(period: Duration, metrics: Arc<Metrics>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = metrics.drain_passes.load(Ordering::Relaxed);
    // The first ping at once: the drain has not had time to pass yet.
    send(&[NotifyState::Watchdog]);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
        let passes = metrics.drain_passes.load(Ordering::Relaxed);
        if passes != last {
            send(&[NotifyState::Watchdog]);
        } else {
            tracing::error!(
                "the drain made no pass for {period:?}: watchdog not fed, systemd will restart vigie"
            );
        }
        last = passes;
    }
}
