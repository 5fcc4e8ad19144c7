//! The correlator's task: every `[correlate] interval`, the alarm journal's episodes and the
//! stored consumption alerts of the last [`LOOKBACK`] go through [`classify`]; each proposed
//! incident is opened (or updated, by its key), then each alert's class is stored (a change
//! is published to the CRM feed with the incident that links the alert).

use super::classify::{AlarmEpisode, ClassifyConfig, IncidentKind, ProposedIncident, classify};
use super::store::{AlertQuery, AlertStore, Classified};
use crate::alarm::recorder::Alarms;
use crate::alarm::store::HistoryQuery;
use crate::alarm::{AlarmEvent, Priority, StateName};
use crate::config::Config;
use crate::incident::Links;
use crate::incident::store::{IncidentStore, NewIncident};
use crate::outage::store::{OutageQuery, OutageStore};
use crate::outage::{Outage, OutageStatus};
use crate::sample::now_ns;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// How far back alerts (by the end of their period) and alarm events are read: 90 days,
/// longer than a bimonthly billing period plus the window.
pub const LOOKBACK_NS: i64 = 90 * 86_400_000_000_000;
/// The most journal events and alerts read per pass.
const MAX_ROWS: usize = 200_000;

/// Alarm episodes from journal events (oldest first): an episode starts when an alarm
/// becomes active (`active_unacknowledged`) and ends when it leaves the active states for
/// `normal`, `rtn_unacknowledged` or a latched state. Shelving, suppression and out of
/// service hide an alarm without saying its condition cleared: the episode stays open.
pub fn episodes(events: &[AlarmEvent]) -> Vec<AlarmEpisode> {
    let mut open: HashMap<&str, AlarmEpisode> = HashMap::new();
    let mut out = Vec::new();
    for e in events {
        match e.to_state {
            StateName::ActiveUnacknowledged | StateName::ActiveAcknowledged => {
                open.entry(e.alarm_id.as_str())
                    .or_insert_with(|| AlarmEpisode {
                        alarm_id: e.alarm_id.clone(),
                        site: e.site.clone(),
                        condition: e.condition.clone(),
                        device: e.device.clone(),
                        point: e.point.clone(),
                        priority: e.priority,
                        start_ns: e.time_ns,
                        end_ns: None,
                    });
            }
            StateName::Normal
            | StateName::RtnUnacknowledged
            | StateName::LatchedUnacknowledged
            | StateName::LatchedAcknowledged => {
                if let Some(mut ep) = open.remove(e.alarm_id.as_str()) {
                    ep.end_ns = Some(e.time_ns);
                    out.push(ep);
                }
            }
            StateName::Shelved | StateName::Suppressed | StateName::OutOfService => {}
        }
    }
    out.extend(open.into_values());
    out.sort_by(|a, b| (a.start_ns, &a.alarm_id).cmp(&(b.start_ns, &b.alarm_id)));
    out
}

/// The incident a proposal opens: a network event takes its alarms' highest priority, a
/// suspected anomaly or leak is `medium` (to investigate, nothing is known to be broken).
/// It links the outages its alarms derived (an outage's `alarms`), so that the ticket of a
/// breaker trip with customers' alerts shows the outage too.
fn incident(p: &ProposedIncident, episodes: &[AlarmEpisode], outages: &[Outage]) -> NewIncident {
    let priority = match p.kind {
        IncidentKind::NetworkEvent => episodes
            .iter()
            .filter(|e| p.alarm_ids.contains(&e.alarm_id))
            .map(|e| e.priority)
            .max()
            .unwrap_or(Priority::High),
        IncidentKind::SuspectedNetworkAnomaly | IncidentKind::LeakSuspected => Priority::Medium,
    };
    NewIncident {
        title: p.title.clone(),
        description: String::new(),
        priority,
        zone: Some(p.zone.clone()),
        site: p.sites.first().cloned(),
        assignee: None,
        estimated_restoration_ns: None,
        source: "correlation".into(),
        reason: p.reason.clone(),
        links: Links {
            alarms: p.alarm_ids.clone(),
            alerts: p.alert_ids.clone(),
            outages: outages
                .iter()
                .filter(|o| o.alarms.iter().any(|a| p.alarm_ids.contains(a)))
                .map(|o| o.id.to_string())
                .collect(),
        },
    }
}

/// The stores and settings a pass works with.
pub struct Correlator {
    pub cfg: ClassifyConfig,
    pub config: Arc<Config>,
    pub alarms: Alarms,
    pub alerts: Arc<Mutex<AlertStore>>,
    pub incidents: Arc<Mutex<IncidentStore>>,
    pub outages: Arc<Mutex<OutageStore>>,
}

impl Correlator {
    /// One pass; errors are logged (the next pass tries again).
    pub async fn pass(&self) {
        let now = now_ns();
        let query = HistoryQuery {
            from_ns: Some(now - LOOKBACK_NS),
            after_seq: Some(0),
            limit: MAX_ROWS,
            ..Default::default()
        };
        let events = match self.alarms.history(query).await {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(error = %e, "correlator: cannot read the alarm journal");
                return;
            }
        };
        let episodes = episodes(&events);
        let alerts = self.alerts.clone();
        let incidents = self.incidents.clone();
        let outages = self.outages.clone();
        let cfg = self.cfg.clone();
        let zones = self.config.zones.clone();
        let data_dir = self.config.daemon.data_dir.clone();
        let done = tokio::task::spawn_blocking(move || -> Result<(usize, usize), String> {
            let list = alerts
                .lock()
                .map_err(|_| "alert store unavailable".to_string())?
                .list(&AlertQuery {
                    from_ns: Some(now - LOOKBACK_NS),
                    limit: MAX_ROWS,
                    ..Default::default()
                })
                .map_err(|e| e.to_string())?;
            // Without the night-flow table the alarms still correlate.
            let rises = super::night_flow::store::rises_since(&data_dir, now - LOOKBACK_NS)
                .unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "correlator: cannot read the night flow rises");
                    Vec::new()
                });
            let c = classify(&list, &episodes, &rises, &zones, &cfg, now);
            let all = vec![
                OutageStatus::Planned,
                OutageStatus::Active,
                OutageStatus::Ended,
                OutageStatus::Cancelled,
            ];
            let derived = outages
                .lock()
                .map_err(|_| "outage store unavailable".to_string())?
                .list(&OutageQuery {
                    statuses: all,
                    from_ns: Some(now - LOOKBACK_NS),
                    limit: MAX_ROWS,
                    ..Default::default()
                })
                .map_err(|e| e.to_string())?;
            // Incidents first: each alert's event names the incident that links it.
            let mut opened = 0;
            let mut linked: HashMap<&str, i64> = HashMap::new();
            {
                let mut store = incidents
                    .lock()
                    .map_err(|_| "incident store unavailable".to_string())?;
                for p in &c.incidents {
                    let (i, created) = store
                        .upsert_correlated(&p.key, &incident(p, &episodes, &derived), now)
                        .map_err(|e| e.to_string())?;
                    if created {
                        opened += 1;
                        tracing::info!(incident = i.id, zone = %p.zone, title = %p.title, "incident opened by correlation");
                    }
                    for a in &p.alert_ids {
                        let oldest = linked.entry(a.as_str()).or_insert(i.id);
                        *oldest = (*oldest).min(i.id);
                    }
                }
            }
            let classes: Vec<Classified<'_>> = c
                .alerts
                .iter()
                .map(|(id, class)| Classified {
                    alert_id: id,
                    class: class.as_str(),
                    incident_id: linked.get(id.as_str()).copied(),
                })
                .collect();
            let changed = alerts
                .lock()
                .map_err(|_| "alert store unavailable".to_string())?
                .set_classifications(&classes, now)
                .map_err(|e| e.to_string())?;
            Ok((changed, opened))
        })
        .await;
        match done {
            Ok(Ok((changed, opened))) if changed + opened > 0 => {
                tracing::info!(classified = changed, opened, "correlation pass");
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "correlation pass failed"),
            Err(e) => tracing::warn!(error = %e, "correlation pass failed"),
        }
    }

    /// Runs a pass every `interval` (the first one `interval` after start) until `stop`
    /// turns true.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        // The first pass one interval after start: the alarms have been evaluated by then.
        let every = self.cfg.interval.max(std::time::Duration::from_secs(1));
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => self.pass().await,
                r = stop.changed() => if r.is_err() || *stop.borrow() { break },
            }
        }
    }
}
