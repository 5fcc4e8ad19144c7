//! The Prometheus text of [`Metrics`], whole or in pieces rendered as they are sent.

use super::{BUCKETS_S, DeviceCounters, Histogram, Metrics};
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

impl Histogram {
    fn render(&self, out: &mut String, name: &str, labels: &str) {
        for (b, le) in self.buckets.iter().zip(BUCKETS_S) {
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels},le=\"{le}\"}} {}",
                b.load(Ordering::Relaxed)
            );
        }
        let n = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {n}");
        let _ = writeln!(
            out,
            "{name}_sum{{{labels}}} {}",
            self.sum_us.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "{name}_count{{{labels}}} {n}");
    }
}

/// A per-device counter's name, Prometheus type, help text and accessor.
type DeviceMetric = (
    &'static str,
    &'static str,
    &'static str,
    fn(&DeviceCounters) -> &AtomicU64,
);

impl Metrics {
    /// The Prometheus text format, whole. `GET /metrics` sends [`Metrics::chunks`] instead.
    pub fn render(&self) -> String {
        let mut at = RenderCursor::default();
        let mut o = String::new();
        while let Some(piece) = self.render_next(&mut at) {
            o.push_str(&piece);
        }
        o
    }

    /// The Prometheus text format in pieces of about [`CHUNK_BYTES`] (whole lines), each
    /// rendered when it is taken: at 10,000 devices the text is about 35 MB, which a scrape
    /// would otherwise hold whole, on top of everything else, every scrape interval.
    pub fn chunks(self: &Arc<Self>) -> TextChunks {
        TextChunks {
            metrics: self.clone(),
            at: RenderCursor::default(),
        }
    }

    /// The piece of text after `at`, and `at` moved past it; None after the last piece.
    fn render_next(&self, at: &mut RenderCursor) -> Option<String> {
        let families = DEVICE_COUNTERS.len() + DEVICE_HISTOGRAMS.len();
        if at.family > families {
            return None;
        }
        let mut o = String::with_capacity(CHUNK_BYTES + 4096);
        while at.family < families && o.len() < CHUNK_BYTES {
            if at.device == 0 {
                family_header(at.family, &mut o);
            }
            match self.devices.get(at.device) {
                Some(d) => {
                    render_device(at.family, d, &mut o);
                    at.device += 1;
                }
                None => {
                    at.family += 1;
                    at.device = 0;
                }
            }
        }
        if at.family == families {
            self.render_tail(&mut o);
            at.family += 1;
        }
        Some(o)
    }

    /// Everything after the per-device families: ring buffers, writer, spool, API.
    fn render_tail(&self, o: &mut String) {
        let g = |v: &AtomicU64| v.load(Ordering::Relaxed);
        let _ = writeln!(
            o,
            "# HELP vigie_ring_buffer_fill records waiting in a ring buffer\n# TYPE vigie_ring_buffer_fill gauge"
        );
        let buffers = self.buffers.lock().map(|b| b.clone()).unwrap_or_default();
        for b in &buffers {
            let _ = writeln!(
                o,
                "vigie_ring_buffer_fill{{connection=\"{}\"}} {}",
                b.name,
                b.occupied.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            o,
            "# HELP vigie_ring_buffer_capacity records a ring buffer holds\n# TYPE vigie_ring_buffer_capacity gauge"
        );
        for b in &buffers {
            let _ = writeln!(
                o,
                "vigie_ring_buffer_capacity{{connection=\"{}\"}} {}",
                b.name, b.capacity
            );
        }
        let _ = writeln!(
            o,
            "# HELP vigie_ring_buffer_overflow_total records refused by a full ring buffer\n# TYPE vigie_ring_buffer_overflow_total counter"
        );
        for b in &buffers {
            let _ = writeln!(
                o,
                "vigie_ring_buffer_overflow_total{{connection=\"{}\"}} {}",
                b.name,
                g(&b.overflow)
            );
        }
        let w = &self.writer;
        for (name, kind, help, v) in [
            (
                "vigie_samples_total",
                "counter",
                "samples drained from the ring buffers",
                &self.samples_total,
            ),
            (
                "vigie_samples_good_total",
                "counter",
                "good samples drained",
                &self.samples_good,
            ),
            (
                "vigie_writer_batches_total",
                "counter",
                "batches InfluxDB accepted",
                &w.batches_sent,
            ),
            (
                "vigie_writer_lines_total",
                "counter",
                "lines InfluxDB accepted",
                &w.lines_sent,
            ),
            (
                "vigie_writer_retries_total",
                "counter",
                "write attempts retried after 5xx or connection errors",
                &w.retries,
            ),
            (
                "vigie_writer_failed_total",
                "counter",
                "batches that exhausted their retries",
                &w.batches_failed,
            ),
            (
                "vigie_writer_rejected_total",
                "counter",
                "batches InfluxDB rejected with 4xx (data errors)",
                &w.batches_rejected,
            ),
            (
                "vigie_spool_batches_total",
                "counter",
                "batches that waited in the disk spool (InfluxDB down, slow or not configured)",
                &w.batches_spooled,
            ),
            (
                "vigie_spool_replayed_total",
                "counter",
                "spooled batches sent to InfluxDB",
                &w.batches_replayed,
            ),
            (
                "vigie_spool_bytes",
                "gauge",
                "bytes in the disk spool",
                &w.spool_bytes,
            ),
            (
                "vigie_spool_refused_total",
                "counter",
                "batches refused because the spool was full",
                &w.spool_refused,
            ),
            (
                "vigie_spool_backlog_batches",
                "gauge",
                "batches waiting in the disk spool for InfluxDB",
                &w.spool_backlog,
            ),
            (
                "vigie_spool_dropped_total",
                "counter",
                "waiting batches dropped to make room (spool_full = drop_oldest)",
                &w.spool_dropped,
            ),
            (
                "vigie_spool_full",
                "gauge",
                "1 while the disk spool cannot keep every batch (full, or failing)",
                &w.spool_full,
            ),
            (
                "vigie_spool_errors_total",
                "counter",
                "writes to the disk spool that failed (disk full, I/O error)",
                &w.spool_errors,
            ),
            (
                "vigie_fields_dropped_non_finite_total",
                "counter",
                "NaN or infinite values not written",
                &w.fields_dropped_non_finite,
            ),
            (
                "vigie_http_requests_total",
                "counter",
                "HTTP API requests",
                &self.http_requests,
            ),
        ] {
            let _ = writeln!(
                o,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {}",
                g(v)
            );
        }
        self.api_serve.render(o);
    }
}

/// Where [`Metrics::render_next`] stopped: a per-device family (the counters of
/// [`DEVICE_COUNTERS`], then [`DEVICE_HISTOGRAMS`], then the tail) and the next device in it.
#[derive(Debug, Default, Clone, Copy)]
struct RenderCursor {
    family: usize,
    device: usize,
}

/// The pieces of one rendering of the metrics ([`Metrics::chunks`]).
pub struct TextChunks {
    metrics: Arc<Metrics>,
    at: RenderCursor,
}

impl Iterator for TextChunks {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        self.metrics.render_next(&mut self.at)
    }
}

/// `# HELP` and `# TYPE` of per-device family `family`.
fn family_header(family: usize, o: &mut String) {
    let (name, kind, help) = match DEVICE_COUNTERS.get(family) {
        Some(&(name, kind, help, _)) => (name, kind, help),
        None => {
            let (name, help, _) = DEVICE_HISTOGRAMS[family - DEVICE_COUNTERS.len()];
            (name, "histogram", help)
        }
    };
    let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// Device `d`'s lines of per-device family `family`.
fn render_device(family: usize, d: &DeviceCounters, o: &mut String) {
    match DEVICE_COUNTERS.get(family) {
        Some(&(name, _, _, f)) => {
            let _ = writeln!(
                o,
                "{name}{{site=\"{}\",device=\"{}\"}} {}",
                d.site,
                d.device,
                f(d).load(Ordering::Relaxed)
            );
        }
        None => {
            let (name, _, f) = DEVICE_HISTOGRAMS[family - DEVICE_COUNTERS.len()];
            let labels = format!("site=\"{}\",device=\"{}\"", d.site, d.device);
            f(d).render(o, name, &labels);
        }
    }
}

/// Bytes of text in one piece of [`Metrics::chunks`], about.
pub const CHUNK_BYTES: usize = 64 * 1024;

/// The per-device counters: name, Prometheus type, help, accessor.
const DEVICE_COUNTERS: [DeviceMetric; 7] = [
    (
        "vigie_device_up",
        "gauge",
        "1 when the device's last poll got every reply",
        |d| &d.up,
    ),
    (
        "vigie_polls_total",
        "counter",
        "polls that sent requests (skipped slots of a silent unit are not counted)",
        |d| &d.polls,
    ),
    (
        "vigie_requests_total",
        "counter",
        "Modbus read requests sent",
        |d| &d.requests,
    ),
    (
        "vigie_timeouts_total",
        "counter",
        "requests with no reply in time",
        |d| &d.timeouts,
    ),
    (
        "vigie_errors_total",
        "counter",
        "connection failures and malformed replies",
        |d| &d.errors,
    ),
    (
        "vigie_exceptions_total",
        "counter",
        "Modbus exception replies",
        |d| &d.exceptions,
    ),
    (
        "vigie_missed_slots_total",
        "counter",
        "poll slots skipped because the poll ran late",
        |d| &d.missed_slots,
    ),
];

/// A per-device histogram's name, help text and accessor.
type DeviceHistogram = (
    &'static str,
    &'static str,
    fn(&DeviceCounters) -> &Histogram,
);

/// The per-device histograms.
const DEVICE_HISTOGRAMS: [DeviceHistogram; 2] = [
    ("vigie_poll_latency_seconds", "time to poll a device", |d| {
        &d.poll_latency
    }),
    (
        "vigie_poll_lateness_seconds",
        "poll start after its grid slot",
        |d| &d.lateness,
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_whole_lines_that_add_up_to_the_whole_text() {
        let metrics = Arc::new(Metrics::new(
            (0..3000).map(|i| (format!("S{i:05}"), "u1".to_string())),
        ));
        metrics.devices[1234].lateness.observe(0.004);
        metrics.devices[2999]
            .requests
            .fetch_add(7, Ordering::Relaxed);
        let pieces: Vec<String> = metrics.chunks().collect();
        assert!(pieces.len() > 10, "{} pieces", pieces.len());
        for piece in &pieces {
            assert!(piece.ends_with('\n'));
            assert!(piece.len() < CHUNK_BYTES + 4096 || piece.contains("vigie_ring_buffer_fill"));
        }
        let whole = metrics.render();
        assert_eq!(pieces.concat(), whole);
        // Each family's header comes once, before its samples.
        for name in ["vigie_requests_total", "vigie_poll_lateness_seconds"] {
            let header = format!("# TYPE {name} ");
            assert_eq!(whole.matches(&header).count(), 1, "{name}");
        }
        assert!(whole.contains("vigie_requests_total{site=\"S02999\",device=\"u1\"} 7\n"));
        assert!(whole.contains(
            "vigie_poll_lateness_seconds_bucket{site=\"S01234\",device=\"u1\",le=\"0.005\"} 1\n"
        ));
        assert!(whole.contains("vigie_http_requests_total 0\n"));
    }

    #[test]
    fn every_family_has_one_header_and_all_its_samples_right_after_it() {
        // The exposition format's rule (prometheus.io/docs/instrumenting/exposition_formats):
        // a metric family's lines are one group, after its `# TYPE`; pieces must not break it.
        let metrics = Arc::new(Metrics::new(
            (0..700).map(|i| (format!("S{i:03}"), "u1".to_string())),
        ));
        let pieces: Vec<String> = metrics.chunks().collect();
        assert!(pieces.len() > 5, "{} pieces", pieces.len());
        let text = pieces.concat();
        let mut families = std::collections::HashSet::new();
        let mut current: Option<(&str, &str)> = None;
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
                assert!(families.insert(name), "# TYPE {name} twice");
                current = Some((name, kind));
            } else if !line.starts_with("# HELP ") {
                let metric = line.split(['{', ' ']).next().unwrap_or_default();
                let (name, kind) = current.expect("a sample before any # TYPE");
                let in_family = metric == name
                    || (kind == "histogram"
                        && ["_bucket", "_sum", "_count"]
                            .iter()
                            .any(|suffix| metric.strip_suffix(suffix) == Some(name)));
                assert!(in_family, "{line:?} under # TYPE {name}");
            }
        }
        for name in [
            "vigie_device_up",
            "vigie_missed_slots_total",
            "vigie_poll_latency_seconds",
            "vigie_poll_lateness_seconds",
            "vigie_ring_buffer_fill",
            "vigie_http_requests_total",
        ] {
            assert!(families.contains(name), "no # TYPE {name}");
        }
    }

    #[test]
    fn no_devices_still_renders_every_header_and_the_tail() {
        let metrics = Arc::new(Metrics::new(std::iter::empty()));
        let pieces: Vec<String> = metrics.chunks().collect();
        assert_eq!(pieces.len(), 1);
        assert!(pieces[0].contains("# TYPE vigie_device_up gauge\n"));
        assert!(pieces[0].contains("# TYPE vigie_poll_latency_seconds histogram\n"));
        assert!(pieces[0].contains("vigie_http_requests_total 0\n"));
    }

    #[test]
    fn histogram_renders_cumulative_buckets_in_increasing_order_then_inf_sum_count() {
        let h = Histogram::default();
        for s in [0.0004, 0.004, 0.004, 0.018, 3.0, 9.0] {
            h.observe(s);
        }
        let mut out = String::new();
        h.render(&mut out, "x", "d=\"a\"");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), BUCKETS_S.len() + 3);
        let count_at = |le: &str| {
            let prefix = format!("x_bucket{{d=\"a\",le=\"{le}\"}} ");
            lines
                .iter()
                .find_map(|l| l.strip_prefix(&prefix))
                .and_then(|v| v.parse::<u64>().ok())
        };
        assert_eq!(count_at("0.0005"), Some(1));
        assert_eq!(count_at("0.005"), Some(3));
        assert_eq!(count_at("0.02"), Some(4));
        assert_eq!(count_at("5"), Some(5));
        assert_eq!(count_at("+Inf"), Some(6));
        assert!(BUCKETS_S.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(lines[BUCKETS_S.len() + 2], "x_count{d=\"a\"} 6");
    }
}
