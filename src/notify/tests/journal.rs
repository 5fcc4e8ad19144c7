//! Following the journal: clears to those told of the latest activation and within
//! max_age, gaps left by the journal's retention, the instance id, a database of an
//! earlier vigie.

use super::event;
use super::fixture::{S, fixture, router, row, status};
use crate::alarm::store::Store;
use crate::alarm::{Priority, StateName};
use crate::notify::channels::message_id;
use crate::notify::outbox::Db;

const A: &str = "PS-01:pump1:discharge_pressure_bar:low_low";

const ON_CLEAR: &str = r#"
[[notify.routes]]
notify_on_clear = true
levels = [{ recipients = ["amina"], via = ["email"], webhooks = ["hook"] }]
"#;

#[test]
fn notify_cleared_goes_only_to_those_told_of_the_latest_activation() {
    let mut f = fixture(ON_CLEAR);
    let t0 = 1_000_000 * S;
    f.plan(t0);
    let (raised, cleared) = (StateName::ActiveUnacknowledged, StateName::Normal);
    // An activation told to amina and the hook, then its clear.
    f.push(A, raised, Priority::High, t0);
    f.plan(t0);
    assert_eq!(f.deliver(t0).len(), 2);
    f.push(A, cleared, Priority::High, t0 + 10 * S);
    assert_eq!(f.plan(t0 + 10 * S).notifications, 2);
    assert_eq!(f.deliver(t0 + 10 * S).len(), 2);
    // Raised again, acknowledged and cleared before the message went: nobody was told,
    // nobody hears of the clear.
    f.push(A, raised, Priority::High, t0 + 20 * S);
    f.push(
        A,
        StateName::ActiveAcknowledged,
        Priority::High,
        t0 + 21 * S,
    );
    f.push(A, cleared, Priority::High, t0 + 22 * S);
    f.plan(t0 + 22 * S);
    assert!(f.deliver(t0 + 23 * S).is_empty());
    assert_eq!(
        f.statuses(A)[4..],
        [
            status("amina", "raised", "superseded"),
            status("hook", "raised", "superseded"),
            status("amina", "cleared", "superseded"),
            status("hook", "cleared", "superseded"),
        ]
    );
    // An activation too old to be notified (read after a long stop): its clear goes to
    // nobody, not to those told of an earlier one.
    let now = t0 + 200_000 * S;
    f.push(A, raised, Priority::High, now - 25 * 3600 * S);
    f.push(A, cleared, Priority::High, now);
    let p = f.plan(now);
    assert_eq!((p.notifications, p.too_old), (0, 1));
    // A clear older than max_age is not notified either.
    let t1 = now + 100 * S;
    f.push(A, raised, Priority::High, t1);
    f.plan_aged(t1, 10 * S);
    assert_eq!(f.deliver(t1).len(), 2);
    f.push(A, cleared, Priority::High, t1 + S);
    let p = f.plan_aged(t1 + 20 * S, 10 * S);
    assert_eq!((p.notifications, p.too_old), (0, 1));
}

#[test]
fn notify_a_gap_in_the_journal_is_reported() {
    let mut f = fixture(ON_CLEAR);
    let t0 = 1_000 * S;
    assert_eq!(f.plan(t0).gap, None);
    for (i, d) in ["a", "b", "c"].iter().enumerate() {
        let a = format!("PS-01:{d}:p:low");
        f.push(
            &a,
            StateName::ActiveUnacknowledged,
            Priority::High,
            t0 + i as i64 * S,
        );
    }
    // The journal's retention deletes the first two before the notifier reads them.
    assert_eq!(f.store.prune(t0 + S + S / 2).unwrap(), 2);
    let p = f.plan(t0 + 3 * S);
    assert_eq!(p.gap, Some((1, 2)));
    assert_eq!(p.notifications, 2, "the third is notified");
    assert_eq!(f.plan(t0 + 4 * S).gap, None, "reported once");
}

#[test]
fn notify_message_ids_carry_the_database_instance() {
    let one = tempfile::tempdir().unwrap();
    let two = tempfile::tempdir().unwrap();
    let a = Db::open(one.path()).unwrap().instance().to_string();
    assert_eq!(a.len(), 16);
    assert!(a.chars().all(|c| c.is_ascii_hexdigit()), "{a}");
    assert_eq!(Db::open(one.path()).unwrap().instance(), a, "kept");
    assert_ne!(Db::open(two.path()).unwrap().instance(), a);
    assert_eq!(message_id(&a, 7), format!("vigie-notify-{a}-7"));
}

/// The tables as the first vigie with notifications made them.
const EARLIER: &str = "
    CREATE TABLE notify_cursor(id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL);
    CREATE TABLE notify_outbox(
        id INTEGER PRIMARY KEY AUTOINCREMENT, created_ns INTEGER NOT NULL,
        due_ns INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, target TEXT NOT NULL,
        channel TEXT NOT NULL, alarm_id TEXT NOT NULL, event_seq INTEGER NOT NULL,
        level INTEGER NOT NULL, kind TEXT NOT NULL, payload TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending', last_error TEXT, sent_ns INTEGER,
        batch INTEGER, UNIQUE(event_seq, level, kind, target, channel));
    CREATE TABLE notify_escalation(
        activation_seq INTEGER NOT NULL, route INTEGER NOT NULL, alarm_id TEXT NOT NULL,
        activation_ns INTEGER NOT NULL, next_level INTEGER NOT NULL, due_ns INTEGER NOT NULL,
        payload TEXT NOT NULL, PRIMARY KEY(activation_seq, route));
    CREATE INDEX notify_escalation_alarm ON notify_escalation(alarm_id);
    CREATE INDEX notify_escalation_due ON notify_escalation(due_ns);";

#[test]
fn notify_a_database_of_an_earlier_vigie_is_brought_up_to_date() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = 1_000 * S;
    let mut store = Store::open(dir.path()).unwrap();
    let mut events = vec![event(
        0,
        A,
        StateName::ActiveUnacknowledged,
        Priority::Critical,
        t0,
    )];
    store.commit(&mut events, &[]).unwrap();
    let seq = events[0].seq;
    let payload =
        serde_json::to_string(&crate::notify::message::AlarmData::from(&events[0])).unwrap();
    {
        let conn = rusqlite::Connection::open(dir.path().join("alarms.sqlite")).unwrap();
        conn.execute_batch(EARLIER).unwrap();
        conn.execute("INSERT INTO notify_cursor(id, seq) VALUES (1, ?1)", [seq])
            .unwrap();
        conn.execute(
            "INSERT INTO notify_outbox(created_ns, due_ns, target, channel, alarm_id, event_seq,
                level, kind, payload) VALUES (?1, ?1, 'hook', 'webhook', ?2, ?3, 0, 'raised', ?4)",
            rusqlite::params![t0, A, seq, payload],
        )
        .unwrap();
        // An escalation of the second route (by position, then).
        conn.execute(
            "INSERT INTO notify_escalation VALUES (?1, 1, ?2, ?3, 1, ?4, ?5)",
            rusqlite::params![seq, A, t0, t0 + 2 * S, payload],
        )
        .unwrap();
    }
    let mut db = Db::open(dir.path()).unwrap();
    let r = router(
        r#"
[[notify.routes]]
sites = ["SS-12"]
levels = [{ webhooks = ["hook"] }, { after = "2s", recipients = ["amina"], via = ["email"] }]
[[notify.routes]]
sites = ["PS-01"]
levels = [{ webhooks = ["hook"] }, { after = "2s", recipients = ["chef"], via = ["email"] }]
"#,
        true,
    );
    assert_eq!(db.plan(&r, t0 + 2 * S, 3600 * S).unwrap().notifications, 1);
    let conn = rusqlite::Connection::open(dir.path().join("alarms.sqlite")).unwrap();
    let rows: Vec<(String, String, String, i64, i64, i64)> = conn
        .prepare("SELECT target, channel, kind, level, priority, activation_seq FROM notify_outbox ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let (t, c, k, l) = row("chef", "email", "escalated", 1);
    assert_eq!(
        rows,
        [
            ("hook".into(), "webhook".into(), "raised".into(), 0, 3, seq),
            (t, c, k, l, 3, seq),
        ]
    );
    let legacy: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE name = 'notify_escalation_legacy'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(legacy, 0);
    assert_eq!(db.instance().len(), 16);
}
