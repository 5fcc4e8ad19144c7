//! The outbox's order, batching and outcomes on a real SQLite file; the request's shape.

use super::deliver::{Failure, FailureKind, Outcome, body, idempotency_key, outcome};
use super::outbox::{Batch, Outbox};
use super::{CrmEvent, CrmEventKind, publish};
use rusqlite::Connection;
use serde_json::json;

fn setup() -> (tempfile::TempDir, Outbox, Connection) {
    let dir = tempfile::tempdir().expect("temp dir");
    let outbox = Outbox::open(dir.path()).expect("open outbox");
    let conn = Connection::open(dir.path().join(crate::alarm::store::FILE_NAME)).expect("open");
    (dir, outbox, conn)
}

fn outage(conn: &Connection, kind: CrmEventKind, key: &str) -> i64 {
    let event = CrmEvent {
        kind,
        key,
        time_ns: 1_764_000_000_000_000_000,
        data: json!({"id": key}),
    };
    publish(conn, &event).expect("publish")
}

fn ids(b: &Batch) -> Vec<i64> {
    b.events.iter().map(|e| e.id).collect()
}

#[test]
fn crm_publish_is_part_of_the_callers_transaction() {
    let (_dir, mut outbox, mut conn) = setup();
    let tx = conn.transaction().expect("tx");
    outage(&tx, CrmEventKind::OutageStarted, "1");
    drop(tx); // rolled back
    assert_eq!(outbox.pending().expect("pending"), 0);
    let tx = conn.transaction().expect("tx");
    let a = outage(&tx, CrmEventKind::OutageStarted, "1");
    let b = outage(&tx, CrmEventKind::OutageEnded, "1");
    tx.commit().expect("commit");
    assert!(b > a);
    let batch = outbox.next_batch(10).expect("next").expect("a batch");
    assert_eq!(ids(&batch), [a, b]);
    assert_eq!(batch.events[0].kind, "outage_started");
    assert_eq!(batch.events[1].kind, "outage_ended");
    assert_eq!(batch.events[0].data, json!({"id": "1"}));
}

#[test]
fn crm_batches_are_bounded_in_order_and_the_same_on_retry() {
    let (_dir, mut outbox, conn) = setup();
    let first: Vec<i64> = (0..5)
        .map(|n| outage(&conn, CrmEventKind::OutageUpdated, &n.to_string()))
        .collect();
    let b = outbox.next_batch(3).expect("next").expect("a batch");
    assert_eq!((b.id, ids(&b)), (first[0], first[..3].to_vec()));
    outbox.mark_retry(b.id, 42, "HTTP 503").expect("retry");
    // Events published meanwhile do not join the request being retried.
    let later = outage(&conn, CrmEventKind::OutageEnded, "9");
    let again = outbox.next_batch(10).expect("next").expect("a batch");
    assert_eq!((again.id, ids(&again)), (b.id, ids(&b)));
    assert_eq!((again.attempts, again.due_ns), (1, 42));
    outbox.mark_sent(b.id, 43).expect("sent");
    let next = outbox.next_batch(10).expect("next").expect("a batch");
    assert_eq!(ids(&next), [first[3], first[4], later]);
    outbox.mark_sent(next.id, 44).expect("sent");
    assert_eq!(outbox.next_batch(10).expect("next"), None);
    assert_eq!(outbox.pending().expect("pending"), 0);
}

#[test]
fn crm_a_refused_request_is_split_and_only_the_refused_event_fails() {
    let (_dir, mut outbox, conn) = setup();
    let e: Vec<i64> = (0..3)
        .map(|n| outage(&conn, CrmEventKind::OutageStarted, &n.to_string()))
        .collect();
    let b = outbox.next_batch(10).expect("next").expect("a batch");
    outbox.split(b.id, "HTTP 400").expect("split");
    let one = outbox.next_batch(10).expect("next").expect("a batch");
    assert_eq!((one.id, ids(&one)), (e[0], vec![e[0]]));
    outbox.mark_failed(one.id, "HTTP 400").expect("failed");
    let two = outbox.next_batch(10).expect("next").expect("a batch");
    assert_eq!(ids(&two), [e[1]]);
    outbox.mark_sent(two.id, 1).expect("sent");
    let three = outbox.next_batch(10).expect("next").expect("a batch");
    assert_eq!(ids(&three), [e[2]]);
    let status: Vec<String> = conn
        .prepare("SELECT status FROM crm_outbox ORDER BY id")
        .and_then(|mut s| {
            s.query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<String>>>()
        })
        .expect("statuses");
    assert_eq!(status, ["failed", "sent", "pending"]);
}

#[test]
fn crm_discarded_and_old_events_are_pruned_but_pending_ones_never() {
    let (_dir, mut outbox, conn) = setup();
    outage(&conn, CrmEventKind::OutageStarted, "1");
    assert_eq!(outbox.discard_pending().expect("discard"), 1);
    outage(&conn, CrmEventKind::OutageStarted, "2");
    assert_eq!(outbox.prune(i64::MAX).expect("prune"), 1);
    assert_eq!(outbox.pending().expect("pending"), 1);
    let b = outbox.next_batch(10).expect("next").expect("a batch");
    assert_eq!(b.events[0].key, "2");
}

#[test]
fn crm_request_body_and_key() {
    let (_dir, mut outbox, conn) = setup();
    let id = outage(&conn, CrmEventKind::OutageEnded, "17");
    let b = outbox.next_batch(10).expect("next").expect("a batch");
    assert_eq!(
        body(&b),
        json!({"events": [{
            "id": id, "kind": "outage_ended", "key": "17",
            "time": "2025-11-24T16:00:00Z", "data": {"id": "17"}
        }]})
    );
    let key = idempotency_key(outbox.instance(), &b);
    assert_eq!(key, format!("vigie-crm-{}-{id}-{id}", outbox.instance()));
    assert_eq!(outbox.instance().len(), 16);
    // The instance id is the notifier's: made once per database.
    assert_eq!(
        Outbox::open(_dir.path()).expect("reopen").instance(),
        outbox.instance()
    );
}

#[test]
fn crm_a_split_request_and_its_events_have_distinct_keys() {
    let (_dir, mut outbox, conn) = setup();
    let e: Vec<i64> = (0..3)
        .map(|n| outage(&conn, CrmEventKind::OutageStarted, &n.to_string()))
        .collect();
    let whole = outbox.next_batch(10).expect("next").expect("a batch");
    let whole_key = idempotency_key(outbox.instance(), &whole);
    assert_eq!(
        whole_key,
        format!("vigie-crm-{}-{}-{}", outbox.instance(), e[0], e[2])
    );
    outbox.split(whole.id, "HTTP 400").expect("split");
    let mut keys = vec![whole_key];
    for id in &e {
        let one = outbox.next_batch(10).expect("next").expect("a batch");
        assert_eq!(ids(&one), [*id]);
        // The same request again (a retry, a restart): the same key.
        let key = idempotency_key(outbox.instance(), &one);
        let again = outbox.next_batch(10).expect("next").expect("a batch");
        assert_eq!(idempotency_key(outbox.instance(), &again), key);
        keys.push(key);
        outbox.mark_sent(one.id, 1).expect("sent");
    }
    let mut distinct = keys.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 4, "{keys:?}");
}

fn failure(kind: FailureKind) -> Result<(), Failure> {
    Err(Failure {
        message: "CRM webhook: HTTP".to_string(),
        kind,
    })
}

#[test]
fn crm_answers_decide_sent_retry_split_or_failed() {
    let now = 1_000_000_000_000;
    assert_eq!(outcome(&Ok(()), 5, 0, now), Outcome::Sent);
    let refused = failure(FailureKind::Refused);
    assert_eq!(outcome(&refused, 5, 0, now), Outcome::Split);
    assert_eq!(outcome(&refused, 1, 0, now), Outcome::Failed);
    for kind in [FailureKind::Transient, FailureKind::Misconfigured] {
        for (attempts, base_s) in [(0, 5.0), (1, 10.0), (10, 300.0)] {
            let Outcome::Retry(due) = outcome(&failure(kind), 1, attempts, now) else {
                panic!("{kind:?} is retried");
            };
            let s = (due - now) as f64 / 1e9;
            assert!(s >= base_s * 0.8 && s <= base_s * 1.2, "{attempts}: {s} s");
        }
    }
}

#[test]
fn crm_only_content_refusals_give_events_up() {
    for (code, kind) in [
        (400, FailureKind::Refused),
        (409, FailureKind::Refused),
        (413, FailureKind::Refused),
        (422, FailureKind::Refused),
        (401, FailureKind::Misconfigured),
        (403, FailureKind::Misconfigured),
        (404, FailureKind::Misconfigured),
        (405, FailureKind::Transient),
        (408, FailureKind::Transient),
        (410, FailureKind::Transient),
        (429, FailureKind::Transient),
        (500, FailureKind::Transient),
        (503, FailureKind::Transient),
    ] {
        let status = reqwest::StatusCode::from_u16(code).expect("a status");
        assert_eq!(FailureKind::of(status), kind, "HTTP {code}");
    }
}

#[test]
fn crm_event_kinds_have_their_wire_names() {
    let names: Vec<&str> = [
        CrmEventKind::AlertClassified,
        CrmEventKind::OutagePlanned,
        CrmEventKind::OutageStarted,
        CrmEventKind::OutageUpdated,
        CrmEventKind::OutageEnded,
    ]
    .into_iter()
    .map(CrmEventKind::as_str)
    .collect();
    assert_eq!(
        names,
        [
            "alert_classified",
            "outage_planned",
            "outage_started",
            "outage_updated",
            "outage_ended"
        ]
    );
}
