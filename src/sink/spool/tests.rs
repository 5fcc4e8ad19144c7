use super::*;

#[test]
fn batches_survive_reopen_in_order_and_the_bound_holds() {
    let dir = tempfile::tempdir().unwrap();
    let m = Arc::new(Metrics::default());
    let mut s = Spool::open(dir.path(), 10, m.clone()).unwrap();
    s.push(b"a 1\n", false).unwrap();
    s.push(b"b 2\n", false).unwrap();
    assert!(matches!(
        s.push(b"c 3\n", false),
        Err(SpoolError::Full { .. })
    ));
    assert_eq!(m.writer.spool_refused.load(Ordering::Relaxed), 1);
    std::fs::write(dir.path().join("00000000000000000009.tmp"), b"half").unwrap();
    drop(s);
    let mut s = Spool::open(dir.path(), 10, m).unwrap();
    assert_eq!(s.len(), 2);
    let (seq, data) = s.oldest().unwrap();
    assert_eq!(data, b"a 1\n");
    s.remove(seq).unwrap();
    assert_eq!(s.oldest().unwrap().1, b"b 2\n");
    s.push(b"d 4\n", false).unwrap();
    assert_eq!(s.len(), 2);
    assert!(!dir.path().join("00000000000000000009.tmp").exists());
}

#[test]
fn a_second_spool_on_the_same_folder_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let first = Spool::open(dir.path(), 1 << 20, Arc::new(Metrics::default())).unwrap();
    let second = Spool::open(dir.path(), 1 << 20, Arc::new(Metrics::default()));
    assert!(
        matches!(second, Err(SpoolError::InUse { .. })),
        "{:?}",
        second.err()
    );
    drop(first);
    assert!(Spool::open(dir.path(), 1 << 20, Arc::new(Metrics::default())).is_ok());
}

#[test]
fn a_requeued_batch_goes_behind_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Spool::open(dir.path(), 1 << 20, Arc::new(Metrics::default())).unwrap();
    s.push(b"a 1\n", false).unwrap();
    s.push(b"b 2\n", false).unwrap();
    let (seq, _) = s.oldest().unwrap();
    s.requeue(seq).unwrap();
    assert_eq!(s.oldest().unwrap().1, b"b 2\n");
    assert_eq!((s.len(), s.bytes()), (2, 8));
    drop(s);
    let mut s = Spool::open(dir.path(), 1 << 20, Arc::new(Metrics::default())).unwrap();
    assert_eq!(s.oldest().unwrap().1, b"b 2\n");
}

#[test]
fn a_vanished_or_unreadable_batch_does_not_block_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let m = Arc::new(Metrics::default());
    let mut s = Spool::open(dir.path(), 1 << 20, m).unwrap();
    for b in [b"a 1\n", b"b 2\n", b"c 3\n"] {
        s.push(b, false).unwrap();
    }
    std::fs::remove_file(dir.path().join(format!("{:020}.lp", 0))).unwrap();
    // A folder where a file should be: reading it fails with an error other than NotFound.
    let second = dir.path().join(format!("{:020}.lp", 1));
    std::fs::remove_file(&second).unwrap();
    std::fs::create_dir(&second).unwrap();
    assert_eq!(s.oldest().unwrap().1, b"c 3\n");
    assert_eq!(s.len(), 1);
    assert_eq!(s.bytes(), 4);
}

#[test]
fn an_open_batch_cut_by_a_crash_is_sealed_at_its_last_whole_line() {
    let dir = tempfile::tempdir().unwrap();
    let m = Arc::new(Metrics::default());
    let mut s = Spool::open(dir.path(), 1 << 20, m.clone()).unwrap();
    s.append(b"a 1\nb 2\n").unwrap();
    s.append(b"c 3\nd ").unwrap(); // a write a kill -9 stopped half-way
    // The process dies here: nothing seals the open batch (Spool has no Drop of its own).
    drop(s);
    // Another open file with no whole line is removed.
    std::fs::write(dir.path().join(format!("{:020}.open", 7)), b"partial").unwrap();
    let mut s = Spool::open(dir.path(), 1 << 20, m).unwrap();
    assert_eq!(s.len(), 1);
    let (seq, data) = s.oldest().unwrap();
    assert_eq!(data, b"a 1\nb 2\nc 3\n");
    s.remove(seq).unwrap();
    assert!(s.oldest().is_none());
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n != ".lock")
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn batches_in_flight_are_not_replayed_until_released() {
    let dir = tempfile::tempdir().unwrap();
    let m = Arc::new(Metrics::default());
    let mut s = Spool::open(dir.path(), 1 << 20, m.clone()).unwrap();
    s.append(b"live 1\n").unwrap();
    let live = s.seal().unwrap().unwrap();
    let waiting = s.push(b"old 1\n", false).unwrap();
    assert_eq!(s.len(), 1);
    assert_eq!(s.oldest().unwrap(), (waiting, b"old 1\n".to_vec()));
    s.remove(waiting).unwrap();
    assert!(
        s.oldest().is_none(),
        "an in-flight batch was offered for replay"
    );
    s.release(live);
    assert_eq!(s.oldest().unwrap(), (live, b"live 1\n".to_vec()));
    assert_eq!(m.writer.batches_spooled.load(Ordering::Relaxed), 2);
    // Nothing appended: nothing sealed.
    assert_eq!(s.seal().unwrap(), None);
}

#[test]
fn a_full_spool_refuses_new_batches_or_drops_the_oldest_by_policy() {
    let dir = tempfile::tempdir().unwrap();
    let m = Arc::new(Metrics::default());
    let mut s = Spool::open(dir.path(), 8, m.clone()).unwrap();
    s.push(b"a 1\n", false).unwrap();
    s.push(b"b 2\n", false).unwrap();
    s.append(b"c 3\n").unwrap();
    assert!(matches!(s.seal(), Err(SpoolError::Full { .. })));
    assert_eq!(m.writer.spool_full.load(Ordering::Relaxed), 1);
    assert_eq!(s.oldest().unwrap().1, b"a 1\n");
    drop(s);
    let mut s = Spool::open(dir.path(), 8, m.clone())
        .unwrap()
        .with_policy(FullPolicy::DropOldest);
    s.append(b"c 3\n").unwrap();
    s.seal().unwrap().unwrap();
    assert_eq!(m.writer.spool_dropped.load(Ordering::Relaxed), 1);
    // Deleting unsent batches is as loud as refusing them.
    assert_eq!(m.writer.spool_full.load(Ordering::Relaxed), 1);
    assert_eq!(s.oldest().unwrap().1, b"b 2\n");
    assert_eq!(s.bytes(), 8);
}

// Found by a review of issue 6's spool: each test failed on the code before its fix.

#[test]
fn drop_oldest_deleting_batches_raises_the_full_flag() {
    // README: "Either way vigie says so loudly": deleting samples InfluxDB has not taken
    // raises the flag behind `vigie_spool_full` and the system alarm (it used to store 0).
    let dir = tempfile::tempdir().unwrap();
    let m = Arc::new(Metrics::default());
    let mut s = Spool::open(dir.path(), 8, m.clone())
        .unwrap()
        .with_policy(FullPolicy::DropOldest);
    s.push(b"a 1\n", false).unwrap();
    s.push(b"b 2\n", false).unwrap();
    s.append(b"c 3\n").unwrap();
    s.seal().unwrap().unwrap();
    assert_eq!(m.writer.spool_dropped.load(Ordering::Relaxed), 1);
    assert_eq!(
        m.writer.spool_full.load(Ordering::Relaxed),
        1,
        "a batch was deleted to make room, yet vigie_spool_full is 0 (no alarm)"
    );
}

#[test]
fn a_small_batch_that_fits_does_not_clear_full_while_the_drains_are_refused() {
    // refuse_new: the drain's batch (big) is refused, then a small alarm_events batch (the
    // spool_full alarm's own raise event) still fits. Clearing the flag then would make the
    // alarm chatter (normal at the next drain pass, raised again at the next seal), each
    // raise journaled and notified: it clears only once the spool has drained (hysteresis).
    let dir = tempfile::tempdir().unwrap();
    let m = Arc::new(Metrics::default());
    let mut s = Spool::open(dir.path(), 16, m.clone()).unwrap();
    for b in [b"a 1\n", b"b 2\n", b"c 3\n"] {
        s.push(b, false).unwrap();
    }
    s.append(b"big 12345\n").unwrap();
    assert!(matches!(s.seal(), Err(SpoolError::Full { .. })));
    assert_eq!(m.writer.spool_full.load(Ordering::Relaxed), 1);
    // The alarm's raise event, 4 bytes here, fits in the room left.
    s.push(b"e 5\n", true).unwrap();
    assert_eq!(
        m.writer.spool_full.load(Ordering::Relaxed),
        1,
        "the full flag cleared while the drain's batches are still refused"
    );
}

#[test]
fn drop_oldest_deletes_nothing_when_deleting_cannot_make_room() {
    // In-flight batches cannot be deleted: when in-flight + new > max (or the new batch
    // alone > max), deleting the backlog would not make room, so nothing is deleted (it
    // used to delete every waiting batch and refuse the new one anyway: both lost).
    let dir = tempfile::tempdir().unwrap();
    let m = Arc::new(Metrics::default());
    let mut s = Spool::open(dir.path(), 8, m.clone())
        .unwrap()
        .with_policy(FullPolicy::DropOldest);
    s.push(b"L 1\n", true).unwrap(); // a live batch handed to the writer
    s.push(b"a 1\n", false).unwrap(); // the backlog
    s.append(b"cc 33\n").unwrap(); // 6 bytes: cannot fit beside the 4 in flight
    assert!(matches!(s.seal(), Err(SpoolError::Full { .. })));
    assert_eq!(
        s.oldest().map(|(_, d)| d),
        Some(b"a 1\n".to_vec()),
        "the backlog was deleted for a batch that was refused anyway"
    );
    assert_eq!(m.writer.spool_dropped.load(Ordering::Relaxed), 0);
}

#[test]
fn one_unreadable_open_batch_does_not_keep_vigie_from_starting() {
    // One `.open` file that cannot be read (EIO after a power cut; here a folder, EISDIR)
    // is moved aside and logged; it must not stop the daemon at start-up (no polling at all).
    let dir = tempfile::tempdir().unwrap();
    let m = Arc::new(Metrics::default());
    let mut s = Spool::open(dir.path(), 1 << 20, m.clone()).unwrap();
    s.push(b"a 1\n", false).unwrap();
    drop(s);
    std::fs::create_dir(dir.path().join(format!("{:020}.open", 3))).unwrap();
    let opened = Spool::open(dir.path(), 1 << 20, m);
    assert!(opened.is_ok(), "{:?}", opened.err());
    let mut s = opened.unwrap();
    assert_eq!(s.oldest().map(|(_, d)| d), Some(b"a 1\n".to_vec()));
    assert!(dir.path().join(format!("{:020}.open.bad", 3)).exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_influxdb_outage_does_not_reorder_the_backlog() {
    // The writer's replay tick (every 2 s) tries the oldest batch during an outage. Those
    // failures are InfluxDB's, not the batch's: it must not be moved behind the others (it
    // was after five), or replay is no longer oldest first and drop_oldest (by sequence)
    // deletes newer batches while keeping older ones.
    let dir = tempfile::tempdir().unwrap();
    let m = Arc::new(Metrics::default());
    let spool = Arc::new(std::sync::Mutex::new(
        Spool::open(dir.path(), 1 << 20, m.clone()).unwrap(),
    ));
    for b in [b"a v=1 1\n", b"b v=2 2\n", b"c v=3 3\n"] {
        spool.lock().unwrap().push(b, false).unwrap();
    }
    // InfluxDB down: nothing listens on this loopback port any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg: crate::config::InfluxConfig = toml::from_str(&format!(
        "url = \"http://127.0.0.1:{port}\"\napi = \"v1\"\ndatabase = \"db\"\ntimeout = \"1s\""
    ))
    .unwrap();
    let target = crate::sink::influx::writer::Target::new(&cfg).unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let writer = tokio::spawn(crate::sink::influx::writer::run(
        Some(target),
        0,
        rx,
        spool.clone(),
        m,
        stopping,
    ));
    tokio::time::sleep(std::time::Duration::from_secs(12)).await;
    stop.send(true).unwrap();
    drop(tx);
    writer.await.unwrap();
    let oldest = spool.lock().unwrap().oldest().map(|(_, d)| d);
    assert_eq!(
        oldest.as_deref().map(String::from_utf8_lossy),
        Some("a v=1 1\n".into()),
        "12 s of InfluxDB outage reordered the backlog"
    );
}

#[test]
fn a_disk_error_is_counted_and_raises_the_full_flag_until_a_batch_is_sealed() {
    let dir = tempfile::tempdir().unwrap();
    let m = Arc::new(Metrics::default());
    let mut s = Spool::open(dir.path(), 1 << 20, m.clone()).unwrap();
    // The next batch's file cannot be created: a folder stands in its place (as root,
    // permissions would not stop the write).
    let blocker = dir.path().join(format!("{:020}.open", 0));
    std::fs::create_dir(&blocker).unwrap();
    assert!(matches!(s.append(b"a 1\n"), Err(SpoolError::Io { .. })));
    assert_eq!(m.writer.spool_errors.load(Ordering::Relaxed), 1);
    assert_eq!(m.writer.spool_full.load(Ordering::Relaxed), 1);
    // A small batch pushed meanwhile does not clear it; the next sealed batch does.
    std::fs::remove_dir(&blocker).unwrap();
    s.push(b"e 1\n", true).unwrap();
    assert_eq!(m.writer.spool_full.load(Ordering::Relaxed), 1);
    s.append(b"b 2\n").unwrap();
    s.seal().unwrap().unwrap();
    assert_eq!(m.writer.spool_full.load(Ordering::Relaxed), 0);
}

#[test]
fn the_full_flag_clears_once_the_backlog_has_drained_below_the_bound() {
    let dir = tempfile::tempdir().unwrap();
    let m = Arc::new(Metrics::default());
    let mut s = Spool::open(dir.path(), 100, m.clone()).unwrap();
    let mut waiting = Vec::new();
    for _ in 0..9 {
        waiting.push(s.push(&[b'x'; 10], false).unwrap());
    }
    s.append(&[b'y'; 20]).unwrap();
    assert!(matches!(s.seal(), Err(SpoolError::Full { .. })));
    assert_eq!(m.writer.spool_full.load(Ordering::Relaxed), 1);
    // 90 bytes, then 80, then 70: cleared at 100 - max(10, 2 * 20) = 60 bytes.
    for (k, seq) in waiting.iter().enumerate().take(3) {
        assert_eq!(m.writer.spool_full.load(Ordering::Relaxed), 1, "after {k}");
        s.remove(*seq).unwrap();
    }
    assert_eq!(s.bytes(), 60);
    assert_eq!(m.writer.spool_full.load(Ordering::Relaxed), 0);
}
