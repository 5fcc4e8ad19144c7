//! Wires the stages of DESIGN.md's data flow together: pollers → ring buffers → drain →
//! live state and InfluxDB writer (with the disk spool) → HTTP API.

use crate::alarm::engine::Engine;
use crate::alarm::recorder::{AlarmSink, Alarms};
use crate::alarm::{definition, store::Store};
use crate::api::{self, ApiState};
use crate::buffer::{self, drain};
use crate::config::Network;
use crate::config::catalog::Catalog;
use crate::correlate::run::Correlator;
use crate::correlate::store::AlertStore;
use crate::incident::store::IncidentStore;
use crate::metrics::Metrics;
use crate::notify::crm::CrmMetrics;
use crate::notify::{self, NotifyMetrics};
use crate::outage::run::Tracker;
use crate::outage::store::OutageStore;
use crate::poll::ConnectionPoller;
use crate::sink::influx::{
    batch::{Handoff, InfluxSink},
    writer,
};
use crate::sink::live::{LiveSink, LiveState};
use crate::sink::spool::Spool;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;

/// The drain's passes start at least this far apart (see [`drain::run`]): at most 100 passes
/// a second, well inside the 100 ms a pass may take (README "Reliability").
const DRAIN_MIN_GAP: Duration = Duration::from_millis(10);

/// Start-up errors.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Spool(#[from] crate::sink::spool::SpoolError),
    #[error(transparent)]
    Influx(#[from] writer::WriteError),
    #[error("{0}")]
    Listen(std::io::Error),
    #[error(transparent)]
    Alarms(#[from] crate::alarm::store::StoreError),
    #[error(transparent)]
    Consumption(#[from] crate::correlate::store::AlertStoreError),
    #[error(transparent)]
    Incidents(#[from] crate::incident::store::IncidentError),
    #[error(transparent)]
    Outages(#[from] crate::outage::store::OutageError),
    #[error(transparent)]
    NightFlow(#[from] crate::correlate::night_flow::NightFlowError),
}

/// A running pipeline.
pub struct Daemon {
    pub live: LiveState,
    pub alarms: Alarms,
    /// The stores the API serves (what `vigie demo` prints as it changes).
    pub consumption: Arc<Mutex<AlertStore>>,
    pub incidents: Arc<Mutex<IncidentStore>>,
    pub outages: Arc<Mutex<OutageStore>>,
    recorder: Option<std::thread::JoinHandle<()>>,
    /// The night-flow recorder; ends when the drain drops its sink.
    night_flow: Option<std::thread::JoinHandle<()>>,
    stop_notify: watch::Sender<bool>,
    stop_correlator: watch::Sender<bool>,
    correlator: Option<JoinHandle<()>>,
    outage_tracker: Option<JoinHandle<()>>,
    notifier: Option<JoinHandle<()>>,
    stop_crm: watch::Sender<bool>,
    crm_feed: Option<JoinHandle<()>>,
    pub metrics: Arc<Metrics>,
    /// Where the API listens (the real port when 0 was asked).
    pub api_addr: SocketAddr,
    influx_configured: bool,
    stop_pollers: watch::Sender<bool>,
    stop_drain: watch::Sender<bool>,
    stop_writer: watch::Sender<bool>,
    pollers: Vec<JoinHandle<()>>,
    drain: JoinHandle<()>,
    writer: JoinHandle<()>,
    api: JoinHandle<()>,
    api_stop: Option<tokio::sync::oneshot::Sender<()>>,
}

/// Starts every stage for `network`. `listen` overrides `[api] listen`.
pub async fn start(network: &Network, listen: Option<SocketAddr>) -> Result<Daemon, DaemonError> {
    let cfg = &network.config;
    let catalog = Arc::new(Catalog::new(network));
    let metrics = Arc::new(Metrics::new(
        catalog
            .devices
            .iter()
            .map(|d| (catalog.site_of(d).id.clone(), d.id.clone())),
    ));
    // The API's port first: when it is taken (another vigie runs), nothing has started yet:
    // no poller, no batch, and the spool folder is left as it is.
    let listen = listen.unwrap_or(cfg.api.listen);
    if let Some(problem) = cfg.api.exposure_problem(listen) {
        return Err(DaemonError::Listen(std::io::Error::other(problem)));
    }
    let listener = api::bind(listen).await.map_err(DaemonError::Listen)?;
    let api_addr = listener.local_addr().map_err(DaemonError::Listen)?;
    let spool_dir = cfg.daemon.data_dir.join("spool");
    let spool = Arc::new(Mutex::new(
        Spool::open(
            &spool_dir,
            cfg.daemon.spool_max_mib.saturating_mul(1 << 20),
            metrics.clone(),
        )?
        .with_policy(cfg.daemon.spool_full),
    ));
    let target = cfg.influxdb.as_ref().map(writer::Target::new).transpose()?;
    let (batch_lines, flush_interval, max_retries) = cfg
        .influxdb
        .as_ref()
        .map(|i| (i.batch_lines, i.flush_interval, i.max_retries))
        .unwrap_or((5000, Duration::from_secs(1), 0));
    if target.is_none() {
        tracing::info!(dir = %spool_dir.display(), "no [influxdb] configured: samples go to the disk spool only");
    }

    let (stop_pollers, pollers_stop_rx) = watch::channel(false);
    let (stop_drain, drain_stop_rx) = watch::channel(false);
    let (stop_writer, writer_stop_rx) = watch::channel(false);
    let wake = Arc::new(Notify::new());
    let mut consumers = Vec::new();
    let mut pollers = Vec::new();
    for (address, devices) in catalog.connections() {
        let capacity = cfg.buffer.records_for(devices.iter().map(|&d| {
            let d = catalog.device(d);
            (d.profile.points.len(), d.poll_interval)
        }));
        let (producer, consumer) = buffer::channel(&address, capacity, wake.clone());
        if let Ok(mut b) = metrics.buffers.lock() {
            b.push(producer.stats().clone());
        }
        consumers.push(consumer);
        let poller = ConnectionPoller::new(
            address,
            &devices,
            cfg.daemon.poll_spread,
            catalog.clone(),
            metrics.clone(),
            producer,
        );
        pollers.push(tokio::spawn(poller.run(pollers_stop_rx.clone())));
    }

    let live = LiveState::new(catalog.clone(), cfg.buffer.history);
    let (batch_tx, batch_rx) = mpsc::channel(256);
    let handoff = Handoff::new(batch_tx, spool.clone());

    // Alarms: state and journal from the data directory, then the recorder thread.
    let store = Store::open(&cfg.daemon.data_dir)?;
    let restored = store.load()?;
    // After the alarm store: it set the file up (WAL) for every later connection.
    let consumption = Arc::new(Mutex::new(AlertStore::open(&cfg.daemon.data_dir)?));
    let incidents = Arc::new(Mutex::new(IncidentStore::open(&cfg.daemon.data_dir)?));
    let outages = Arc::new(Mutex::new(OutageStore::open(&cfg.daemon.data_dir)?));
    let engine = Engine::new(
        definition::build(cfg, &catalog),
        restored,
        cfg.alarms.max_shelve,
        crate::sample::now_ns(),
    );
    let journal_wake = Arc::new(Notify::new());
    let (alarms, recorder) = Alarms::start(
        engine,
        store,
        cfg.alarms.journal_retention,
        journal_wake.clone(),
        handoff.clone(),
    );

    // Notifications follow the journal the recorder writes (the store is open: the notifier
    // opens the same SQLite file).
    let notify_metrics = Arc::new(NotifyMetrics::default());
    let (stop_notify, notify_stop_rx) = watch::channel(false);
    let notifier = cfg.notify.clone().map(|n| {
        tokio::spawn(notify::run(
            n,
            Arc::new(cfg.clone()),
            cfg.daemon.data_dir.clone(),
            journal_wake.clone(),
            notify_metrics.clone(),
            notify_stop_rx,
        ))
    });

    // The CRM feed reads its outbox in the same file (the correlator and the outage tracker
    // publish to it); without [crm] it discards what is published.
    let crm_metrics = Arc::new(CrmMetrics::default());
    let (stop_crm, crm_stop_rx) = watch::channel(false);
    let crm_feed = tokio::spawn(notify::crm::deliver::run(
        cfg.crm.clone(),
        cfg.daemon.data_dir.clone(),
        crm_metrics.clone(),
        crm_stop_rx,
    ));

    // Minimum night flow: its sink after the others, its thread ends with the drain.
    let night_flow = crate::correlate::night_flow::start(cfg, &catalog, handoff.clone())?;
    // The InfluxDB stage first: a drain pass's lines are on disk before the live state (the
    // API) shows them, so what the API has shown survives a crash.
    let mut sinks: Vec<Box<dyn drain::Sink>> = vec![
        Box::new(InfluxSink::new(
            catalog.clone(),
            metrics.clone(),
            batch_lines,
            flush_interval,
            handoff,
        )),
        Box::new(LiveSink::new(live.clone(), metrics.clone())),
        Box::new(AlarmSink::new(alarms.clone()).with_system(metrics.clone())),
    ];
    let night_flow = night_flow.map(|(sink, thread)| {
        sinks.push(Box::new(sink));
        thread
    });
    sinks.push(Box::new(Heartbeat(metrics.clone())));
    let drain = tokio::spawn(drain::run(
        consumers,
        sinks,
        wake,
        Duration::from_millis(100),
        DRAIN_MIN_GAP,
        drain_stop_rx,
    ));
    let writer = tokio::spawn(writer::run(
        target,
        max_retries,
        batch_rx,
        spool,
        metrics.clone(),
        writer_stop_rx,
    ));

    let (stop_correlator, correlator_stop_rx) = watch::channel(false);
    let correlator = tokio::spawn(
        Correlator {
            cfg: cfg.correlate.clone(),
            config: Arc::new(cfg.clone()),
            alarms: alarms.clone(),
            alerts: consumption.clone(),
            incidents: incidents.clone(),
            outages: outages.clone(),
        }
        .run(correlator_stop_rx.clone()),
    );
    let outage_tracker = tokio::spawn(
        Tracker {
            rules: crate::outage::rules::build(cfg, &catalog),
            alarms: alarms.clone(),
            live: live.clone(),
            outages: outages.clone(),
            incidents: incidents.clone(),
            held_since: Default::default(),
        }
        .run(correlator_stop_rx),
    );
    let (api_stop, api_stop_rx) = tokio::sync::oneshot::channel::<()>();
    let state = ApiState {
        live: live.clone(),
        metrics: metrics.clone(),
        alarms: alarms.clone(),
        notify: notify_metrics.clone(),
        crm: crm_metrics,
        config: Arc::new(cfg.clone()),
        consumption: consumption.clone(),
        incidents: incidents.clone(),
        outages: outages.clone(),
        guard: Arc::new(api::auth::Guard::new(&cfg.api)),
    };
    if !state.guard.enforced() {
        tracing::warn!(%api_addr, "no [[api.tokens]]: the API is open to every local user; see README \"Authentication\"");
    }
    let api = tokio::spawn(api::serve(state, listener, async move {
        let _ = api_stop_rx.await;
    }));
    tracing::info!(%api_addr, devices = catalog.devices.len(), points = catalog.point_count(), "vigie started");
    Ok(Daemon {
        live,
        alarms,
        consumption,
        incidents,
        outages,
        recorder: Some(recorder),
        night_flow,
        stop_notify,
        notifier,
        stop_crm,
        crm_feed: Some(crm_feed),
        stop_correlator,
        correlator: Some(correlator),
        outage_tracker: Some(outage_tracker),
        metrics,
        api_addr,
        influx_configured: cfg.influxdb.is_some(),
        stop_pollers,
        stop_drain,
        stop_writer,
        pollers,
        drain,
        writer,
        api,
        api_stop: Some(api_stop),
    })
}

/// Counts the drain's passes in [`Metrics::drain_passes`] (the systemd watchdog reads it).
struct Heartbeat(Arc<Metrics>);

impl drain::Sink for Heartbeat {
    fn record(&mut self, _record: &crate::sample::Record) {}
    fn tick(&mut self) {
        self.0.drain_passes.fetch_add(1, Ordering::Relaxed);
    }
}

impl Daemon {
    /// A one-line summary: sites up (every device answering), devices up, points good,
    /// samples/s since the last call, lines written, spool size.
    pub fn summary(&self, last_samples: &mut u64, elapsed: Duration) -> String {
        let c = &self.live.catalog;
        let devices = self.live.devices();
        let mut site_up = vec![true; c.sites.len()];
        for (d, st) in c.devices.iter().zip(&devices) {
            if !st.is_some_and(|s| s.up) {
                site_up[d.site] = false;
            }
        }
        let (good, points) = self.live.good_points();
        let total = self.metrics.samples_total.load(Ordering::Relaxed);
        let rate = (total - *last_samples) as f64 / elapsed.as_secs_f64().max(1e-3);
        *last_samples = total;
        let w = &self.metrics.writer;
        format!(
            "sites up {}/{} | devices up {}/{} | points good {}/{} | {:.0} samples/s | {}, spool {} KiB",
            site_up.iter().filter(|u| **u).count(),
            c.sites.len(),
            devices.iter().filter(|d| d.is_some_and(|s| s.up)).count(),
            devices.len(),
            good,
            points,
            rate,
            if self.influx_configured {
                format!("InfluxDB {} lines", w.lines_sent.load(Ordering::Relaxed))
            } else {
                "no InfluxDB".to_string()
            },
            w.spool_bytes.load(Ordering::Relaxed) / 1024,
        )
    }

    /// Stops polling, drains and flushes everything to InfluxDB or the spool, stops the API.
    /// Bounded: while stopping each write gets one attempt of at most 2 s, then the batch is
    /// spooled; the writer gets at most `grace` in all.
    pub async fn shutdown(mut self, grace: Duration) {
        // Order matters: pollers finish their poll in flight, then the drain empties the ring
        // buffers and hands the last batch over, then the alarm recorder commits its last
        // events, then the writer sends or spools what is left.
        let _ = self.stop_pollers.send(true);
        for p in self.pollers.drain(..) {
            let _ = p.await;
        }
        let _ = self.stop_drain.send(true);
        let _ = (&mut self.drain).await;
        // The drain dropped the night-flow sink: its recorder stores what it was sent.
        if let Some(t) = self.night_flow.take() {
            let joined = tokio::task::spawn_blocking(move || t.join());
            if tokio::time::timeout(Duration::from_secs(5), joined)
                .await
                .is_err()
            {
                tracing::error!("the night flow recorder did not finish within 5 s");
            }
        }
        let _ = self.stop_correlator.send(true);
        if let Some(c) = self.correlator.take()
            && tokio::time::timeout(Duration::from_secs(10), c)
                .await
                .is_err()
        {
            tracing::error!("the correlator did not stop within 10 s");
        }
        if let Some(t) = self.outage_tracker.take()
            && tokio::time::timeout(Duration::from_secs(10), t)
                .await
                .is_err()
        {
            tracing::error!("the outage tracker did not stop within 10 s");
        }
        // The API next (operator actions go through the alarm recorder), then the recorder
        // commits what is queued and lets go of the writer's input.
        if let Some(s) = self.api_stop.take() {
            let _ = s.send(());
        }
        // The API lets requests in flight finish for SHUTDOWN_GRACE, then cuts them.
        let bound = api::serve::SHUTDOWN_GRACE + Duration::from_secs(1);
        if tokio::time::timeout(bound, &mut self.api).await.is_err() {
            tracing::error!("the API did not stop within {bound:?}");
            self.api.abort();
        }
        self.alarms.close();
        if let Some(r) = self.recorder.take() {
            let joined = tokio::task::spawn_blocking(move || r.join());
            if tokio::time::timeout(Duration::from_secs(5), joined)
                .await
                .is_err()
            {
                tracing::error!("the alarm recorder did not finish within 5 s");
            }
        }
        // The notifier plans what the last commits call for; messages not sent yet wait in
        // the outbox for the next start.
        let _ = self.stop_notify.send(true);
        if let Some(n) = self.notifier.take()
            && tokio::time::timeout(Duration::from_secs(10), n)
                .await
                .is_err()
        {
            tracing::error!("the notifier did not stop within 10 s");
        }
        // The CRM feed last of the database's users: the correlator has stopped publishing.
        // A request in flight gets a moment; events not sent wait for the next start.
        let _ = self.stop_crm.send(true);
        if let Some(c) = self.crm_feed.take()
            && tokio::time::timeout(Duration::from_secs(10), c)
                .await
                .is_err()
        {
            tracing::error!("the CRM feed did not stop within 10 s");
        }
        let _ = self.stop_writer.send(true);
        if tokio::time::timeout(grace, &mut self.writer).await.is_err() {
            tracing::error!(
                "writer did not finish within {grace:?}: batches still queued are lost"
            );
            self.writer.abort();
        }
    }
}
