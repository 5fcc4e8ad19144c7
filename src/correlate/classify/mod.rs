//! The correlator's classification (issue 4 "Correlation"), as pure functions: consumption
//! alerts and supervision alarm episodes in, each alert's class and the proposed incidents
//! out. No I/O, no clock: the caller passes `now_ns`.
//!
//! # Time
//!
//! All times are ns since the Unix epoch (UTC).
//!
//! - An **alert** covers its billing period `[period_start, period_end)` (weeks, usually).
//!   Its *span* is that period widened by `window` on both sides:
//!   `[period_start − window, period_end + window]`, both ends included.
//! - An **alarm episode** covers `[start_ns, end_ns]`, from its activation to its return to
//!   normal; an episode still active (`end_ns` None) lasts until `now_ns`.
//! - An alert and an episode **overlap** when the episode and the alert's span share an
//!   instant: `episode.start ≤ period_end + window` and `episode.end ≥ period_start − window`.
//!   This is the "overlaps … within the window", read literally: an episode that
//!   started before the period and still held during it (a station down for days) counts, and
//!   so does one that ended within `window` before the period began (the refill after a
//!   burst pushes air through the meters).
//!
//! # Rules, per zone
//!
//! Only the zone's alerts (by `zone` id) and the episodes on the sites of its `fed_by` are
//! considered, and of those episodes only *network alarms*: a condition listed in
//! [`ClassifyConfig::network_conditions`] with a priority at or above
//! [`ClassifyConfig::min_priority`].
//!
//! 1. **Events.** Network alarm episodes are grouped by single linkage: sorted by start, an
//!    episode joins the current group when it starts at most `window` after the latest end so
//!    far (overlapping episodes, a burst's rate-of-change alarm followed by its low-low,
//!    a chattering limit, are one event).
//! 2. **Network event.** A group that overlaps `min_cluster` or more of the zone's alerts is a
//!    network event: those alerts are [`AlertClass::ExplainedByNetworkEvent`] and one
//!    [`ProposedIncident`] of kind [`IncidentKind::NetworkEvent`] links the group's alarms and
//!    those alerts. An alert may overlap two events: it is linked by both incidents.
//!    A group overlapping fewer alerts explains nothing (see "Lone alerts" below).
//!
//!    *2b.* **Rising night flow.** The zone's [`NightFlowRise`]s (nights whose minimum night
//!    flow rose above its baseline, `crate::correlate::night_flow`) are grouped like
//!    episodes (single linkage within `window`: a leak raises every night until repaired).
//!    A group that overlaps, within `window`, `min_cluster` or more of the zone's alerts
//!    proposes one incident of kind [`IncidentKind::LeakSuspected`] that links those alerts,
//!    and makes those not explained by step 2 [`AlertClass::UnsupervisedCluster`] (several
//!    customers of the zone affected: engineers investigate). It does **not** explain them:
//!    water a network leak loses never reaches customers' meters and cannot raise their
//!    bills, while leaks on the customers' side after a frost night raise both the zone's
//!    night flow and their bills. Alerts explained by an alarm event count towards
//!    `min_cluster`, keep their class and are linked by both incidents. A rise alone, or
//!    with fewer alerts, flags nothing and opens nothing (it is logged and stored by the
//!    night-flow stage).
//! 3. **Unsupervised cluster.** The zone's alerts left by steps 2 and 2b are grouped by single
//!    linkage: sorted by `period_start`, an alert joins the current cluster when its period
//!    starts at most `window` after the latest `period_end` so far (periods that overlap or
//!    lie within `window` of each other). A cluster of `min_cluster` or more alerts makes all
//!    of them [`AlertClass::UnsupervisedCluster`] and one incident of kind
//!    [`IncidentKind::SuspectedNetworkAnomaly`] that links them (its reason names the network
//!    alarms, if any, that overlapped some of them without reaching `min_cluster`).
//! 4. **Customer side.** Every other alert is [`AlertClass::CustomerSide`]: the CRM advises the
//!    customer to check their installation.
//!
//! An alert whose zone is not configured is `customer_side` and takes part in nothing else
//! (the API refuses such alerts; one can only appear if a zone is removed from the config).
//! An alert whose period cannot be read (the API refuses those too) is not classified: it
//! is reported in [`Classification::skipped`].
//!
//! **Lone alerts.** One or two alerts that overlap a network alarm are *not* explained by it:
//! alarms on feeding sites are frequent (EEMUA 191 accepts about one per 10 minutes per
//! operator) and billing periods last weeks, so nearly every alert overlaps some alarm; if
//! that were enough, "explained" would become the normal answer and the CRM would stop telling
//! customers with a real leak at home to look for it. What makes a network explanation
//! credible is several customers of one zone going abnormal around the same alarm, which is
//! what `min_cluster` measures (issue 4: an alarm that "overlaps several consumption alerts").
//!
//! # Determinism
//!
//! The result depends on the inputs' contents, never on their order: alerts are
//! de-duplicated by `alert_id` (the lowest `seq` is kept), episodes sorted by
//! (start, alarm id, end), zones with the same id merged (the union of their `fed_by`),
//! classes listed by alert id, incidents by (zone, start, key), ids inside an incident
//! sorted. Incident keys name the incident's oldest member, so re-running the classifier as
//! alerts and alarms arrive finds the same key again (see [`ProposedIncident::key`]).
//!
//! # Cost
//!
//! Per zone, O(n log n + m log m + k) for n alerts, m episodes and k (alert, event) overlaps
//! (each alert finds the events it overlaps by binary search; events are disjoint in time).

use super::alerts::parse_period;
use super::store::StoredAlert;
use crate::alarm::Priority;
use crate::config::ZoneConfig;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::time::Duration;

/// Every alarm condition name (README "Alarms", "Conditions").
mod config;
mod rise;

pub use config::*;
pub use rise::NightFlowRise;

/// One activation of a supervision alarm, from the alarm journal: raised at `start_ns`,
/// back to normal at `end_ns`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AlarmEpisode {
    /// `SITE:DEVICE:POINT:CONDITION` or `SITE:DEVICE:CONDITION`.
    pub alarm_id: String,
    pub site: String,
    /// One of [`CONDITIONS`].
    pub condition: String,
    pub device: String,
    /// None for device alarms.
    pub point: Option<String>,
    pub priority: Priority,
    /// Activation, ns since the epoch.
    pub start_ns: i64,
    /// Return to normal, ns since the epoch; None while still active (then `now_ns`).
    pub end_ns: Option<i64>,
}

/// What an alert is, for the CRM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertClass {
    /// Several alerts of the zone overlap a network alarm on a site feeding it: the network,
    /// not the customer's installation, explains it.
    ExplainedByNetworkEvent,
    /// Alone: the customer should check their installation.
    CustomerSide,
    /// One of several alerts of the zone at the same time with no network alarm: a network
    /// problem supervision does not see is suspected.
    UnsupervisedCluster,
}

impl AlertClass {
    /// The name used in the store, the API and the CRM webhook.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertClass::ExplainedByNetworkEvent => "explained_by_network_event",
            AlertClass::CustomerSide => "customer_side",
            AlertClass::UnsupervisedCluster => "unsupervised_cluster",
        }
    }
}

/// What a proposed incident is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentKind {
    /// Network alarms and the alerts they explain.
    NetworkEvent,
    /// A cluster of alerts with no network alarm: for engineers to investigate.
    SuspectedNetworkAnomaly,
    /// Alerts and a rising minimum night flow in their zone (rule 2b).
    LeakSuspected,
}

impl IncidentKind {
    /// The name used in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentKind::NetworkEvent => "network_event",
            IncidentKind::SuspectedNetworkAnomaly => "suspected_network_anomaly",
            IncidentKind::LeakSuspected => "leak_suspected",
        }
    }
}

/// An incident the classification calls for; the caller opens it, or updates the one
/// already opened with the same `key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProposedIncident {
    /// Deterministic: `net:{zone}:{alarm_id}:{start_ns}` with the event's earliest episode
    /// (ties: the smallest alarm id), `mnf:{zone}:{night_start_ns}` with the earliest rising
    /// night of a rise group, or `cluster:{zone}:{alert_id}` with the cluster's
    /// earliest received alert (ties: the smallest alert id). Both name the oldest member,
    /// so the key stays the same while the event or cluster grows with later alarms and
    /// alerts; when two merge, the merged one keeps the older key.
    pub key: String,
    pub zone: String,
    pub kind: IncidentKind,
    /// One line for a ticket list.
    pub title: String,
    /// Why: which alarms, how many alerts, the window and the threshold.
    pub reason: String,
    /// The sites whose alarms are linked, sorted (empty for a cluster).
    pub sites: Vec<String>,
    /// Sorted, without repeats (empty for a cluster).
    pub alarm_ids: Vec<String>,
    /// Sorted.
    pub alert_ids: Vec<String>,
    /// ns since the epoch: the earliest episode's start (network event) or the earliest
    /// `period_start` (cluster).
    pub start_ns: i64,
}

/// Why an alert's period cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlertPeriodError {
    /// `period_start` is neither a date nor an RFC 3339 time ([`parse_period`]'s message).
    #[error("period_start: {0}")]
    Start(String),
    /// `period_end` is neither a date nor an RFC 3339 time ([`parse_period`]'s message).
    #[error("period_end: {0}")]
    End(String),
    /// An empty or reversed period.
    #[error("period_end {end:?} is not after period_start {start:?}")]
    Empty { start: String, end: String },
}

/// An alert left unclassified (its period cannot be read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedAlert {
    /// The CRM's id.
    pub alert_id: String,
    /// The alert's zone, as received.
    pub zone: String,
    /// Why.
    pub error: AlertPeriodError,
}

/// The classification of a set of alerts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classification {
    /// Every alert (one per `alert_id`) but the skipped ones, by alert id.
    pub alerts: Vec<(String, AlertClass)>,
    /// By (zone, start, key).
    pub incidents: Vec<ProposedIncident>,
    /// Alerts whose period cannot be read, by alert id; not in `alerts`.
    pub skipped: Vec<SkippedAlert>,
}

/// An alert's billing period, ns: `[start, end)`.
pub fn alert_period(a: &StoredAlert) -> Result<(i64, i64), AlertPeriodError> {
    let start = parse_period(&a.alert.period_start).map_err(AlertPeriodError::Start)?;
    let end = parse_period(&a.alert.period_end).map_err(AlertPeriodError::End)?;
    if end <= start {
        return Err(AlertPeriodError::Empty {
            start: a.alert.period_start.clone(),
            end: a.alert.period_end.clone(),
        });
    }
    Ok((start, end))
}

/// One alert of a zone, with its period read.
struct Item<'a> {
    id: &'a str,
    start: i64,
    end: i64,
    received_ns: i64,
}

/// One network alarm episode, with its end resolved.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Ep<'a> {
    start: i64,
    alarm_id: &'a str,
    end: i64,
    site: &'a str,
    priority: Priority,
    active: bool,
}

/// Consecutive episodes (indices into the sorted episodes) and their hull.
struct Group {
    first: usize,
    last: usize,
    start: i64,
    end: i64,
}

/// Classifies every alert and proposes incidents (module docs: the rules). `rises`: the
/// zones' rising night flows (rule 2b; empty when unknown). `now_ns` ends the episodes
/// still active.
pub fn classify(
    alerts: &[StoredAlert],
    episodes: &[AlarmEpisode],
    rises: &[NightFlowRise],
    zones: &[ZoneConfig],
    cfg: &ClassifyConfig,
    now_ns: i64,
) -> Classification {
    // Zones by id, duplicates merged.
    let mut zone_sites: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for z in zones {
        zone_sites
            .entry(z.id.as_str())
            .or_default()
            .extend(z.fed_by.iter().map(String::as_str));
    }

    // Alerts: one per id (lowest seq), periods read, by zone.
    let mut sorted: Vec<&StoredAlert> = alerts.iter().collect();
    sorted.sort_by(|a, b| {
        (&a.alert.alert_id, a.seq, a.received_ns)
            .cmp(&(&b.alert.alert_id, b.seq, b.received_ns))
            .then_with(|| {
                (&a.alert.period_start, &a.alert.period_end, &a.alert.zone).cmp(&(
                    &b.alert.period_start,
                    &b.alert.period_end,
                    &b.alert.zone,
                ))
            })
    });
    sorted.dedup_by(|later, first| later.alert.alert_id == first.alert.alert_id);

    let mut classes: Vec<(String, AlertClass)> = Vec::with_capacity(sorted.len());
    let mut skipped = Vec::new();
    let mut by_zone: BTreeMap<&str, Vec<Item>> = BTreeMap::new();
    for a in sorted {
        let zone = a.alert.zone.as_str();
        if !zone_sites.contains_key(zone) {
            classes.push((a.alert.alert_id.clone(), AlertClass::CustomerSide));
            continue;
        }
        match alert_period(a) {
            Ok((start, end)) => by_zone.entry(zone).or_default().push(Item {
                id: &a.alert.alert_id,
                start,
                end,
                received_ns: a.received_ns,
            }),
            Err(error) => skipped.push(SkippedAlert {
                alert_id: a.alert.alert_id.clone(),
                zone: a.alert.zone.clone(),
                error,
            }),
        }
    }

    // Network alarm episodes by site.
    let conditions: BTreeSet<&str> = cfg.network_conditions.iter().map(String::as_str).collect();
    let mut by_site: BTreeMap<&str, Vec<Ep>> = BTreeMap::new();
    for e in episodes {
        if !conditions.contains(e.condition.as_str()) || e.priority < cfg.min_priority {
            continue;
        }
        let end = e.end_ns.unwrap_or(now_ns).max(e.start_ns);
        by_site.entry(e.site.as_str()).or_default().push(Ep {
            start: e.start_ns,
            alarm_id: &e.alarm_id,
            end,
            site: &e.site,
            priority: e.priority,
            active: e.end_ns.is_none(),
        });
    }

    let mut out = Classification {
        alerts: classes,
        incidents: Vec::new(),
        skipped,
    };
    for (zone, items) in by_zone {
        let sites = &zone_sites[zone];
        let eps: Vec<Ep> = sites
            .iter()
            .filter_map(|s| by_site.get(s))
            .flatten()
            .copied()
            .collect();
        let zone_rises: Vec<&NightFlowRise> = rises.iter().filter(|r| r.zone == zone).collect();
        classify_zone(zone, sites, items, eps, zone_rises, cfg, &mut out);
    }

    out.alerts.sort();
    out.incidents
        .sort_by(|a, b| (&a.zone, a.start_ns, &a.key).cmp(&(&b.zone, b.start_ns, &b.key)));
    out
}

/// The rules for one zone's alerts (`items`), the network episodes on its feeding sites
/// and its rising night flows.
fn classify_zone(
    zone: &str,
    fed_by: &BTreeSet<&str>,
    mut items: Vec<Item>,
    mut eps: Vec<Ep>,
    rises: Vec<&NightFlowRise>,
    cfg: &ClassifyConfig,
    out: &mut Classification,
) {
    let (classes, incidents) = (&mut out.alerts, &mut out.incidents);
    let w = cfg.window_ns();
    let min = cfg.min_cluster();

    // 1. Events: single linkage of episodes within `window`.
    eps.sort();
    eps.dedup();
    let mut groups: Vec<Group> = Vec::new();
    for (i, e) in eps.iter().enumerate() {
        match groups.last_mut() {
            Some(g) if e.start <= g.end.saturating_add(w) => {
                g.last = i;
                g.end = g.end.max(e.end);
            }
            _ => groups.push(Group {
                first: i,
                last: i,
                start: e.start,
                end: e.end,
            }),
        }
    }

    // 2. Overlaps. Groups are disjoint and sorted, so their ends increase: binary search.
    // An alert's span (longer than `window`) that meets a group's hull meets one of its
    // episodes, since the gaps inside a hull are at most `window` long.
    items.sort_by(|a, b| (a.start, a.end, a.id).cmp(&(b.start, b.end, b.id)));
    let mut overlaps: Vec<Vec<usize>> = vec![Vec::new(); groups.len()];
    let mut touched: Vec<Vec<usize>> = vec![Vec::new(); items.len()];
    for (i, it) in items.iter().enumerate() {
        let lo = it.start.saturating_sub(w);
        let hi = it.end.saturating_add(w);
        let first = groups.partition_point(|g| g.end < lo);
        for (gi, _) in groups
            .iter()
            .enumerate()
            .skip(first)
            .take_while(|(_, g)| g.start <= hi)
        {
            overlaps[gi].push(i);
            touched[i].push(gi);
        }
    }
    let mut explained = vec![false; items.len()];
    for (gi, g) in groups.iter().enumerate() {
        let members = &overlaps[gi];
        if members.len() < min {
            continue;
        }
        for &i in members {
            explained[i] = true;
        }
        incidents.push(network_incident(
            zone,
            &eps[g.first..=g.last],
            members.iter().map(|&i| &items[i]),
            cfg,
        ));
    }

    // 2b. Rising night flow.
    let mut flagged = vec![false; items.len()];
    rise::flag(
        zone,
        &items,
        rises,
        cfg,
        &explained,
        &mut flagged,
        incidents,
    );

    // 3. Clusters of the alerts left: single linkage of periods within `window`.
    let rest: Vec<usize> = (0..items.len())
        .filter(|&i| !explained[i] && !flagged[i])
        .collect();
    let mut clusters: Vec<Vec<usize>> = Vec::new();
    let mut cluster_end = i64::MIN;
    for &i in &rest {
        let it = &items[i];
        match clusters.last_mut() {
            Some(c) if it.start <= cluster_end.saturating_add(w) => {
                c.push(i);
                cluster_end = cluster_end.max(it.end);
            }
            _ => {
                clusters.push(vec![i]);
                cluster_end = it.end;
            }
        }
    }

    // 4. Classes.
    for (i, it) in items.iter().enumerate() {
        if explained[i] {
            classes.push((it.id.to_string(), AlertClass::ExplainedByNetworkEvent));
        } else if flagged[i] {
            classes.push((it.id.to_string(), AlertClass::UnsupervisedCluster));
        }
    }
    for c in clusters {
        let class = if c.len() >= min {
            // The events that overlap some of its alerts (fewer than `min`, or those
            // alerts would be explained), with how many.
            let mut counts: BTreeMap<usize, usize> = BTreeMap::new();
            for gi in c.iter().flat_map(|&i| touched[i].iter().copied()) {
                *counts.entry(gi).or_default() += 1;
            }
            let near: Vec<(&[Ep], usize)> = counts
                .into_iter()
                .map(|(gi, n)| (&eps[groups[gi].first..=groups[gi].last], n))
                .collect();
            incidents.push(cluster_incident(zone, fed_by, &items, &c, &near, cfg));
            AlertClass::UnsupervisedCluster
        } else {
            AlertClass::CustomerSide
        };
        for i in c {
            classes.push((items[i].id.to_string(), class));
        }
    }
}

/// The incident of one network event: `eps` sorted by (start, alarm id).
fn network_incident<'a>(
    zone: &str,
    eps: &[Ep],
    members: impl Iterator<Item = &'a Item<'a>>,
    cfg: &ClassifyConfig,
) -> ProposedIncident {
    let first = &eps[0];
    let mut alert_ids: Vec<String> = Vec::new();
    let (mut from, mut to) = (i64::MAX, i64::MIN);
    for it in members {
        alert_ids.push(it.id.to_string());
        from = from.min(it.start);
        to = to.max(it.end);
    }
    alert_ids.sort();
    let sites: Vec<String> = eps
        .iter()
        .map(|e| e.site)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .map(str::to_string)
        .collect();
    let alarms = summarize_alarms(eps);
    let alarm_ids: Vec<String> = alarms.keys().map(|s| s.to_string()).collect();
    let title = format!(
        "Network event in zone {zone}: {} on {}",
        plural(alarm_ids.len(), "alarm", "alarms"),
        sites.join(", ")
    );
    let reason = format!(
        "{} of zone {zone} (billing periods from {} to {}) overlap, within {}, {} on {} \
         (feeding the zone): {}. {} or more alerts overlapping network alarms (priority {} \
         or above) make a network event: these customers' overconsumption is explained by \
         the network, not by their installation.",
        plural(alert_ids.len(), "consumption alert", "consumption alerts"),
        fmt_ns(from),
        fmt_ns(to),
        fmt_duration(cfg.window),
        plural(alarm_ids.len(), "alarm", "alarms"),
        sites.join(", "),
        describe_alarms(&alarms),
        cfg.min_cluster(),
        cfg.min_priority.as_str(),
    );
    ProposedIncident {
        key: format!("net:{zone}:{}:{}", first.alarm_id, first.start),
        zone: zone.to_string(),
        kind: IncidentKind::NetworkEvent,
        title,
        reason,
        sites,
        alarm_ids,
        alert_ids,
        start_ns: first.start,
    }
}

/// The incident of one cluster (`members`: indices into `items`); `near`: the network
/// events that overlapped some of its alerts, with how many.
fn cluster_incident(
    zone: &str,
    fed_by: &BTreeSet<&str>,
    items: &[Item],
    members: &[usize],
    near: &[(&[Ep], usize)],
    cfg: &ClassifyConfig,
) -> ProposedIncident {
    let oldest = members
        .iter()
        .map(|&i| &items[i])
        .min_by_key(|it| (it.received_ns, it.id))
        .map(|it| it.id)
        .unwrap_or_default();
    let from = members.iter().map(|&i| items[i].start).min().unwrap_or(0);
    let to = members.iter().map(|&i| items[i].end).max().unwrap_or(0);
    let mut alert_ids: Vec<String> = members.iter().map(|&i| items[i].id.to_string()).collect();
    alert_ids.sort();
    let feeding = if fed_by.is_empty() {
        "no feeding site configured".to_string()
    } else {
        fed_by.iter().copied().collect::<Vec<_>>().join(", ")
    };
    let mut reason = format!(
        "{} of zone {zone} with billing periods from {} to {}, each overlapping or within {} \
         of another ({} or more make a cluster), and no network alarm (priority {} or above, \
         conditions {}) on the sites feeding the zone ({feeding}) overlaps {} or more of them. \
         Something supervision does not see is suspected: an unmonitored leak or burst, a \
         pressure or metering problem, or a billing error (estimated readings).",
        plural(alert_ids.len(), "consumption alert", "consumption alerts"),
        fmt_ns(from),
        fmt_ns(to),
        fmt_duration(cfg.window),
        cfg.min_cluster(),
        cfg.min_priority.as_str(),
        cfg.network_conditions.join(", "),
        cfg.min_cluster(),
    );
    for (eps, n) in near {
        let _ = write!(
            reason,
            " Network alarms {} overlapped only {n} of them.",
            describe_alarms(&summarize_alarms(eps))
        );
    }
    ProposedIncident {
        key: format!("cluster:{zone}:{oldest}"),
        zone: zone.to_string(),
        kind: IncidentKind::SuspectedNetworkAnomaly,
        title: format!("Suspected network anomaly in zone {zone}"),
        reason,
        sites: Vec::new(),
        alarm_ids: Vec::new(),
        alert_ids,
        start_ns: from,
    }
}

/// Per alarm id: episodes, first start, last end, still active, highest priority.
struct AlarmSummary {
    episodes: usize,
    start: i64,
    end: i64,
    active: bool,
    priority: Priority,
}

fn summarize_alarms<'a>(eps: &[Ep<'a>]) -> BTreeMap<&'a str, AlarmSummary> {
    let mut out: BTreeMap<&str, AlarmSummary> = BTreeMap::new();
    for e in eps {
        let s = out.entry(e.alarm_id).or_insert(AlarmSummary {
            episodes: 0,
            start: e.start,
            end: e.end,
            active: false,
            priority: e.priority,
        });
        s.episodes += 1;
        s.start = s.start.min(e.start);
        s.end = s.end.max(e.end);
        s.active |= e.active;
        s.priority = s.priority.max(e.priority);
    }
    out
}

fn describe_alarms(alarms: &BTreeMap<&str, AlarmSummary>) -> String {
    alarms
        .iter()
        .map(|(id, s)| {
            let times = if s.episodes > 1 {
                format!("{} times", s.episodes)
            } else {
                "once".to_string()
            };
            let end = if s.active {
                "still active".to_string()
            } else {
                format!("to {}", fmt_ns(s.end))
            };
            format!(
                "{id} ({}, {times}, from {} {end})",
                s.priority.as_str(),
                fmt_ns(s.start)
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// RFC 3339 to the second, UTC.
fn fmt_ns(ns: i64) -> String {
    match jiff::Timestamp::from_nanosecond(i128::from(ns)) {
        Ok(t) => format!("{t:.0}"),
        Err(_) => format!("{ns} ns"),
    }
}

/// `48h`, `90m`, `30s`; humantime's form otherwise.
fn fmt_duration(d: Duration) -> String {
    let s = d.as_secs();
    if d.subsec_nanos() != 0 || s == 0 {
        humantime::format_duration(d).to_string()
    } else if s.is_multiple_of(3600) {
        format!("{}h", s / 3600)
    } else if s.is_multiple_of(60) {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod rise_tests;
#[cfg(test)]
mod tests;
