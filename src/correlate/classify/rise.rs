//! Rule 2b of the classification: a zone's rising minimum night flow (MNF) as a network
//! event indicator (module docs of [`super`]).

use super::{ClassifyConfig, IncidentKind, Item, ProposedIncident, fmt_duration, fmt_ns, plural};
use serde::Serialize;
use std::fmt::Write as _;

/// A night whose MNF rose above its baseline (`crate::correlate::night_flow`), stored in
/// the `night_flow` table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NightFlowRise {
    /// The water zone's id.
    pub zone: String,
    /// The night's window, ns since the epoch (UTC): `[night_start_ns, night_end_ns)`.
    pub night_start_ns: i64,
    pub night_end_ns: i64,
    /// The night's MNF, m³/h.
    pub mnf_m3_per_h: f64,
    /// The median MNF of the previous valid nights, m³/h.
    pub baseline_m3_per_h: f64,
}

/// Rises of one zone (sorted by night) grouped by single linkage: a night joins the group
/// when it starts at most `window` after the group's last night ends (a leak raises every
/// night until it is repaired: consecutive nights are one event).
fn groups<'a>(rises: &[&'a NightFlowRise], w: i64) -> Vec<Vec<&'a NightFlowRise>> {
    let mut out: Vec<Vec<&NightFlowRise>> = Vec::new();
    let mut end = i64::MIN;
    for r in rises {
        match out.last_mut() {
            Some(g) if r.night_start_ns <= end.saturating_add(w) => g.push(r),
            _ => out.push(vec![r]),
        }
        end = end.max(r.night_end_ns);
    }
    out
}

/// Rule 2b for one zone: each group of rises that overlaps (within `window`, like an alarm
/// episode) `min_cluster` or more of the zone's alerts proposes one
/// [`IncidentKind::LeakSuspected`] incident linking them, and flags (`flagged`) those not
/// already explained by an alarm event (`explained`): they become
/// [`super::AlertClass::UnsupervisedCluster`], not explained. Alerts explained by an alarm
/// event count towards `min_cluster` and keep their class (they are linked by both
/// incidents).
///
/// Why not explained: water a network leak loses never reaches customers' meters, so it
/// cannot raise their bills; what raises both a zone's night flow and several customers'
/// bills is leaks on the customers' side (pipes burst by a frost night) or metering. The CRM
/// must not tell these customers to skip a leak search at home.
pub(super) fn flag(
    zone: &str,
    items: &[Item],
    mut rises: Vec<&NightFlowRise>,
    cfg: &ClassifyConfig,
    explained: &[bool],
    flagged: &mut [bool],
    incidents: &mut Vec<ProposedIncident>,
) {
    let w = cfg.window_ns();
    rises.sort_by(|a, b| {
        (a.night_start_ns, a.night_end_ns)
            .cmp(&(b.night_start_ns, b.night_end_ns))
            .then(a.mnf_m3_per_h.total_cmp(&b.mnf_m3_per_h))
    });
    rises.dedup_by(|a, b| a.night_start_ns == b.night_start_ns);
    for g in groups(&rises, w) {
        let (Some(first), Some(last)) = (g.first(), g.last()) else {
            continue;
        };
        let (from, to) = (first.night_start_ns, last.night_end_ns);
        let members: Vec<usize> = (0..items.len())
            .filter(|&i| {
                from <= items[i].end.saturating_add(w) && to >= items[i].start.saturating_sub(w)
            })
            .collect();
        if members.len() < cfg.min_cluster() {
            continue;
        }
        for &i in &members {
            if !explained[i] {
                flagged[i] = true;
            }
        }
        let mut alert_ids: Vec<String> = members.iter().map(|&i| items[i].id.to_string()).collect();
        alert_ids.sort();
        let mut nights = String::new();
        for r in &g {
            let _ = write!(
                nights,
                "{}{} ({:.2} m³/h against a baseline of {:.2} m³/h)",
                if nights.is_empty() { "" } else { ", " },
                fmt_ns(r.night_start_ns),
                r.mnf_m3_per_h,
                r.baseline_m3_per_h
            );
        }
        let reason = format!(
            "The minimum night flow of zone {zone} rose on {} from {}: {nights}. {} of the \
             zone overlap it within {}; with {} or more, water is lost in the zone at night \
             and several customers are affected: engineers investigate. A network leak \
             loses water before the meters and does not raise bills, so these alerts are \
             not explained by it: leaks on the customers' side (after a frost night) or \
             metering are as likely.",
            plural(g.len(), "night", "nights"),
            fmt_ns(from),
            plural(alert_ids.len(), "consumption alert", "consumption alerts"),
            fmt_duration(cfg.window),
            cfg.min_cluster(),
        );
        incidents.push(ProposedIncident {
            key: format!("mnf:{zone}:{from}"),
            zone: zone.to_string(),
            kind: IncidentKind::LeakSuspected,
            title: format!("Rising minimum night flow in zone {zone} (leak suspected)"),
            reason,
            sites: Vec::new(),
            alarm_ids: Vec::new(),
            alert_ids,
            start_ns: from,
        });
    }
}
