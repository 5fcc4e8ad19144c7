//! A batch too large for InfluxDB (413) is split in halves; a half InfluxDB then refuses as
//! bad data (400, a field type conflict) is dropped alone, and the other half is still sent
//! (a review of issue 6 found it dropped with the first). Real part: Debian's InfluxDB 1.6
//! with a small `max-body-size`; vigie's writer and spool through the library.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::InfluxV1;
use vigie::metrics::Metrics;
use vigie::sink::spool::Spool;

/// Lines of the spooled batch; line 2 writes a float into the string field `s`.
const LINES: usize = 20;
const T0_NS: i64 = 1_700_000_000_000_000_000;

fn batch() -> String {
    (0..LINES)
        .map(|k| {
            let t = T0_NS + k as i64 * 1_000_000;
            if k == 2 {
                format!("m,d=x s=1.5 {t}\n")
            } else {
                format!("m,d=x v={k}.5 {t}\n")
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_split_batch_keeps_sending_its_halves_after_one_is_refused_as_bad_data() {
    let body = batch();
    // The whole batch is over the limit, each half under it.
    let limit = body.len() * 3 / 4;
    let influx = InfluxV1::start_with_http(&format!("  max-body-size = {limit}"));
    let write_url = format!("{}/write?db={}", influx.url, influx.db);
    let (status, answer) = support::http("POST", &write_url, &body);
    assert_eq!(status, 413, "the whole batch must be too large: {answer}");
    let (status, answer) =
        support::http("POST", &write_url, &format!("m,d=x s=\"text\" {T0_NS}\n"));
    assert_eq!(status, 204, "{answer}");

    let tmp = tempfile::tempdir().unwrap();
    let metrics = Arc::new(Metrics::default());
    let spool = Arc::new(Mutex::new(
        Spool::open(tmp.path(), 1 << 20, metrics.clone()).unwrap(),
    ));
    spool.lock().unwrap().push(body.as_bytes(), false).unwrap();
    let cfg: vigie::config::InfluxConfig = toml::from_str(&format!(
        "url = {:?}\napi = \"v1\"\ndatabase = {:?}\ntimeout = \"2s\"",
        influx.url, influx.db
    ))
    .unwrap();
    let target = vigie::sink::influx::writer::Target::new(&cfg).unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let writer = tokio::spawn(vigie::sink::influx::writer::run(
        Some(target),
        0,
        rx,
        spool.clone(),
        metrics.clone(),
        stopping,
    ));

    // The replay tick sends the spooled batch at once.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !spool.lock().unwrap().is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.send(true).unwrap();
    drop(tx);
    writer.await.unwrap();

    assert!(
        spool.lock().unwrap().is_empty(),
        "the batch is still in the spool"
    );
    let rows = influx.values("SELECT v FROM m");
    let found: Vec<f64> = rows.iter().filter_map(|r| r[1].as_f64()).collect();
    let expected: Vec<f64> = (0..LINES)
        .filter(|&k| k != 2)
        .map(|k| k as f64 + 0.5)
        .collect();
    assert_eq!(
        found, expected,
        "every line but the conflicting one must be in InfluxDB"
    );
    assert!(
        metrics
            .writer
            .batches_rejected
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 1,
        "the refused half is counted"
    );
}
