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
    assert_eq!(m.writer.spool_full.load(Ordering::Relaxed), 0);
    assert_eq!(s.oldest().unwrap().1, b"b 2\n");
    assert_eq!(s.bytes(), 8);
}
