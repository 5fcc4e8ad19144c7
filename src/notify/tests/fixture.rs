//! A journal and the notifier's tables in a real SQLite file, with a router.

use super::{config, event};
use crate::alarm::store::Store;
use crate::alarm::{AlarmEvent, Priority, StateName};
use crate::config::notify::validate;
use crate::notify::outbox::{Batch, Db, Limits};
use crate::notify::plan::Planned;
use crate::notify::route::{Channel, Router};
use jiff::tz::TimeZone;
use std::collections::HashSet;

/// One second, ns.
pub(super) const S: i64 = 1_000_000_000;

pub(super) struct Fixture {
    pub dir: tempfile::TempDir,
    pub store: Store,
    pub db: Db,
    pub router: Router,
}

/// The recipients (amina, chef: e-mail) and webhook (hook) every fixture has, then
/// `routes` (and rosters).
fn text(routes: &str) -> String {
    format!(
        r#"
[notify]
public_url = "http://vigie:8080"
[notify.smtp]
host = "127.0.0.1"
from = "vigie@example.net"
[[notify.webhooks]]
id = "hook"
url = "http://127.0.0.1:9/"
[[notify.recipients]]
id = "amina"
email = "amina@example.net"
[[notify.recipients]]
id = "chef"
email = "chef@example.net"
{routes}"#
    )
}

/// The router of `routes`, which must pass `validate` when `checked`.
pub(super) fn router(routes: &str, checked: bool) -> Router {
    let c = config(&text(routes));
    let n = c.notify.clone().unwrap();
    if checked {
        assert_eq!(validate(&n, &c), Vec::<(String, String)>::new());
    }
    Router::new(&n, &c, TimeZone::UTC)
}

/// A fixture whose configuration passes `validate`.
pub(super) fn fixture(routes: &str) -> Fixture {
    build(routes, true)
}

/// A fixture whose configuration may not pass `validate` (e.g. a roster gap).
pub(super) fn unchecked(routes: &str) -> Fixture {
    build(routes, false)
}

fn build(routes: &str, checked: bool) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let db = Db::open(dir.path()).unwrap();
    Fixture {
        router: router(routes, checked),
        dir,
        store,
        db,
    }
}

impl Fixture {
    pub fn commit(&mut self, mut events: Vec<AlarmEvent>) {
        self.store.commit(&mut events, &[]).unwrap();
    }

    /// Commits one event of `alarm` to `to` at `t`.
    pub fn push(&mut self, alarm: &str, to: StateName, priority: Priority, t: i64) {
        self.commit(vec![event(0, alarm, to, priority, t)]);
    }

    /// Plans at `now` with a max_age of 24 h.
    pub fn plan(&mut self, now: i64) -> Planned {
        self.db.plan(&self.router, now, 24 * 3600 * S).unwrap()
    }

    /// Plans at `now` with `max_age`.
    pub fn plan_aged(&mut self, now: i64, max_age: i64) -> Planned {
        self.db.plan(&self.router, now, max_age).unwrap()
    }

    /// The messages due at `now` under `lim`, none busy.
    pub fn take(&mut self, now: i64, lim: Limits) -> Vec<Batch> {
        self.db
            .take_batches(now, &HashSet::new(), &|_: &str, _: Channel| lim)
            .unwrap()
    }

    /// Takes the messages due at `now` (no limits) and records them sent; returns them.
    pub fn deliver(&mut self, now: i64) -> Vec<Batch> {
        let batches = self.take(now, limits(0, 1000));
        for b in &batches {
            self.db.mark_sent(b.id, now).unwrap();
        }
        batches
    }

    fn query<T>(&self, sql: &str, f: impl Fn(&rusqlite::Row<'_>) -> rusqlite::Result<T>) -> Vec<T> {
        let conn = rusqlite::Connection::open(self.dir.path().join("alarms.sqlite")).unwrap();
        let mut st = conn.prepare(sql).unwrap();
        st.query_map([], |r| f(r))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// (target, channel, kind, level) of every outbox row, in id order.
    pub fn rows(&self) -> Vec<(String, String, String, i64)> {
        self.query(
            "SELECT target, channel, kind, level FROM notify_outbox ORDER BY id",
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
    }

    /// (target, kind, status) of every outbox row of `alarm`, in id order.
    pub fn statuses(&self, alarm: &str) -> Vec<(String, String, String)> {
        self.query(
            &format!(
                "SELECT target, kind, status FROM notify_outbox WHERE alarm_id = '{alarm}' ORDER BY id"
            ),
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
    }

    /// (alarm id, route key, next level) of every pending escalation.
    pub fn escalations(&self) -> Vec<(String, String, i64)> {
        self.query(
            "SELECT alarm_id, route_key, next_level FROM notify_escalation ORDER BY alarm_id",
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
    }
}

/// `(target, channel, kind, level)` as [`Fixture::rows`] gives it.
pub(super) fn row(t: &str, c: &str, k: &str, l: i64) -> (String, String, String, i64) {
    (t.into(), c.into(), k.into(), l)
}

/// `(target, kind, status)` as [`Fixture::statuses`] gives it.
pub(super) fn status(t: &str, k: &str, s: &str) -> (String, String, String) {
    (t.into(), k.into(), s.into())
}

/// Limits with `min_interval_s`, `messages` per hour, 3 notifications per message,
/// critical exempt from the rate limit.
pub(super) fn limits(min_interval_s: i64, messages: u32) -> Limits {
    Limits {
        min_interval_ns: min_interval_s * S,
        messages,
        per_ns: 3600 * S,
        max_items: 3,
        exempt: Some(Priority::Critical),
    }
}

/// `2025-06-07T12:00:00Z`-style instants, ns.
pub(super) fn at(s: &str) -> i64 {
    let t: jiff::Timestamp = s.parse().unwrap();
    i64::try_from(t.as_nanosecond()).unwrap()
}
