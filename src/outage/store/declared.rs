//! Declared outages (planned works, or a fault vigie cannot see): declared through the
//! API, changed until they end, started and ended on time by the tracker.

use super::{OutageError, OutageStore, announce, json_list, sql_err, utility_str};
use crate::config::Utility;
use crate::config::outages::OutageCause;
use crate::idempotency::Seen;
use crate::notify::crm::CrmEventKind;
use crate::outage::{Outage, OutageSource, OutageStatus};
use rusqlite::params;

/// An outage declared through the API (planned works, or a fault vigie cannot see).
#[derive(Debug, Clone, PartialEq)]
pub struct Declared {
    pub cause: OutageCause,
    pub description: String,
    pub utility: Option<Utility>,
    pub site: Option<String>,
    pub zones: Vec<String>,
    pub start_ns: i64,
    pub planned_end_ns: Option<i64>,
    pub reference: Option<String>,
}

/// A change to a declared outage (`PATCH`); None leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeclaredChange {
    pub description: Option<String>,
    /// Some(None) removes the announced end.
    pub planned_end_ns: Option<Option<i64>>,
    /// `ended` (supply back now) or `cancelled` (works called off).
    pub status: Option<OutageStatus>,
}

impl OutageStore {
    /// Declares an outage: `planned` when it starts after `now_ns`, else `active` (an
    /// `outage_started` event; a planned one is announced with `outage_planned`). With an
    /// idempotency key already used for the same `request` (its canonical text), returns
    /// that outage and false; used for another request, [`OutageError::KeyReused`].
    pub fn declare(
        &mut self,
        d: &Declared,
        key: Option<(&str, &str)>,
        now_ns: i64,
    ) -> Result<(Outage, bool), OutageError> {
        if let Some((k, request)) = key {
            match crate::idempotency::seen(&self.conn, "outages", k, request)
                .map_err(|e| self.err(e))?
            {
                Seen::New => {}
                Seen::Same(id) => return Ok((self.get(id)?, false)),
                Seen::Other => return Err(OutageError::KeyReused(k.to_string())),
            }
        }
        let status = if d.start_ns > now_ns {
            OutageStatus::Planned
        } else {
            OutageStatus::Active
        };
        let err = sql_err(&self.path);
        let id = self.write(|tx| {
            tx.execute(
                "INSERT INTO outages(status, planned, source, cause, description, utility, site,
                    zones, start_ns, planned_end_ns, etr_ns, alarms, reference, idempotency_key,
                    request, created_ns, updated_ns)
                 VALUES (?1, ?2, 'declared', ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, '[]', ?10, ?11,
                    ?12, ?13, ?13)",
                params![
                    status.as_str(),
                    d.cause == OutageCause::PlannedWorks,
                    d.cause.as_str(),
                    d.description,
                    utility_str(d.utility),
                    d.site,
                    json_list(&d.zones),
                    d.start_ns,
                    d.planned_end_ns,
                    d.reference,
                    key.map(|k| k.0),
                    key.map(|k| k.1),
                    now_ns,
                ],
            )
            .map_err(&err)?;
            let id = tx.last_insert_rowid();
            let kind = if status == OutageStatus::Active {
                CrmEventKind::OutageStarted
            } else {
                CrmEventKind::OutagePlanned
            };
            announce(tx, id, kind, now_ns).map_err(&err)?;
            Ok(id)
        })?;
        Ok((self.get(id)?, true))
    }

    /// Changes a declared outage. Errors: unknown, derived from alarms, already over.
    pub fn change_declared(
        &mut self,
        id: i64,
        c: &DeclaredChange,
        now_ns: i64,
    ) -> Result<Outage, OutageError> {
        let before = self.get(id)?;
        if before.source != OutageSource::Declared {
            return Err(OutageError::Derived(id));
        }
        if matches!(before.status, OutageStatus::Ended | OutageStatus::Cancelled) {
            return Err(OutageError::Finished {
                id,
                status: before.status.as_str(),
            });
        }
        if c.status == Some(OutageStatus::Ended) && before.status == OutageStatus::Planned {
            return Err(OutageError::NotStarted(id));
        }
        if let Some(Some(end)) = c.planned_end_ns
            && end <= before.start_ns
        {
            return Err(OutageError::EndBeforeStart(id));
        }
        let err = sql_err(&self.path);
        let changed = c
            .description
            .as_ref()
            .is_some_and(|d| *d != before.description)
            || c.planned_end_ns.is_some_and(|e| e != before.planned_end_ns);
        if changed {
            self.write(|tx| {
                if let Some(d) = &c.description {
                    tx.execute(
                        "UPDATE outages SET description = ?1 WHERE id = ?2",
                        params![d, id],
                    )
                    .map_err(&err)?;
                }
                if let Some(e) = c.planned_end_ns {
                    // The announced end is the estimate unless an incident gave another.
                    tx.execute(
                        "UPDATE outages SET planned_end_ns = ?1,
                            etr_ns = CASE WHEN etr_ns IS planned_end_ns THEN ?1 ELSE etr_ns END
                         WHERE id = ?2",
                        params![e, id],
                    )
                    .map_err(&err)?;
                }
                tx.execute(
                    "UPDATE outages SET updated_ns = ?1 WHERE id = ?2",
                    params![now_ns, id],
                )
                .map_err(&err)?;
                announce(tx, id, CrmEventKind::OutageUpdated, now_ns).map_err(&err)
            })?;
        }
        match c.status {
            // Works called off before they started cut no supply: no end time.
            Some(OutageStatus::Cancelled) if before.status == OutageStatus::Planned => {
                self.finish(id, OutageStatus::Cancelled, None, now_ns)
            }
            Some(s @ (OutageStatus::Ended | OutageStatus::Cancelled)) => {
                self.finish(id, s, Some(now_ns), now_ns)
            }
            _ => self.get(id),
        }
    }

    /// Starts declared outages whose start has come and ends those whose announced end has
    /// passed. Returns the outages it changed.
    pub fn advance_declared(&mut self, now_ns: i64) -> Result<Vec<Outage>, OutageError> {
        let mut changed = Vec::new();
        for o in self.open_outages()? {
            if o.source != OutageSource::Declared {
                continue;
            }
            if o.status == OutageStatus::Planned && o.start_ns <= now_ns {
                let err = sql_err(&self.path);
                self.write(|tx| {
                    tx.execute(
                        "UPDATE outages SET status = 'active', updated_ns = ?1 WHERE id = ?2",
                        params![now_ns, o.id],
                    )
                    .map_err(&err)?;
                    announce(tx, o.id, CrmEventKind::OutageStarted, now_ns).map_err(&err)
                })?;
                changed.push(self.get(o.id)?);
            }
            if let Some(end) = o.planned_end_ns.filter(|e| *e <= now_ns) {
                changed.push(self.finish(o.id, OutageStatus::Ended, Some(end), now_ns)?);
            }
        }
        Ok(changed)
    }
}
