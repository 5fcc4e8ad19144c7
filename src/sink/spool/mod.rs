//! The disk spool: every batch of line protocol, on disk before it is sent to InfluxDB, kept
//! in order in `<data_dir>/spool/` until InfluxDB has taken it (a write-ahead queue).
//!
//! One file per batch, named by a 20-digit sequence number so names sort in write order:
//! - `<seq>.open`: the batch the drain is filling. Each drain pass appends its lines (one
//!   `write`, no fsync), so a `kill -9` loses nothing the drain took from the ring buffers;
//!   a power cut may lose up to one `flush_interval` of it.
//! - `<seq>.lp`: a sealed batch, synced and renamed (the folder synced too): after a crash or
//!   a power cut it is whole. Sealed batches handed to the writer are *in flight*; the others
//!   are the backlog, replayed oldest first.
//!
//! At start-up an `.open` file left by a crash is cut after its last complete line and sealed.
//! The spool is bounded by `max_bytes` of sealed batches; when a batch would pass it,
//! [`FullPolicy`] says what gives.

use crate::metrics::Metrics;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

#[cfg(test)]
mod tests;

/// Runs the spool's blocking file work (writes, fsyncs, reads) without stalling the other
/// tasks of a multi-threaded tokio runtime; elsewhere it just runs it.
pub fn blocking<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// What happens to a new batch when the spool is full (`[daemon] spool_full`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FullPolicy {
    /// Keep the oldest batches, refuse the new one: the history in InfluxDB stays contiguous
    /// up to the moment the spool filled (the default).
    #[default]
    RefuseNew,
    /// Drop the oldest waiting batches to make room: the most recent history is kept.
    DropOldest,
}

/// Spool errors.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("spool full ({used} of {max} bytes): batch of {size} bytes refused")]
    Full { used: u64, max: u64, size: u64 },
    /// Another process (another vigie) holds the spool folder.
    #[error("spool {path} is in use by another process (another vigie with the same data_dir?)")]
    InUse { path: PathBuf },
    /// A thread panicked while holding the spool.
    #[error("spool lock poisoned by a panic")]
    Poisoned,
}

/// Logs batches the spool could not keep loudly, but once per 10 s with a count, not once
/// per batch (a full spool refuses one batch per second or more).
#[derive(Debug, Default)]
pub struct RefusalLog(std::sync::Mutex<(u64, Option<std::time::Instant>)>);

impl RefusalLog {
    /// Counts one refusal of `error`; `what` says what became of the batch.
    pub fn log(&self, error: &SpoolError, what: &str) {
        let Ok(mut g) = self.0.lock() else { return };
        g.0 += 1;
        if g.1
            .is_none_or(|t| t.elapsed() >= std::time::Duration::from_secs(10))
        {
            tracing::error!(error = %error, batches = g.0, "the disk spool could not keep batches: {what}");
            *g = (0, Some(std::time::Instant::now()));
        }
    }
}

/// A sealed batch in the index.
#[derive(Debug, Clone, Copy)]
struct Entry {
    size: u64,
    /// Handed to the writer as a live batch: replay leaves it alone until it is released.
    in_flight: bool,
}

/// When a raised `full` flag clears. With hysteresis, so that a small batch fitting in the
/// last bytes (the alarm's own event line) does not clear it while the drain's batches are
/// still refused: an alarm that chattered once a second would notify each time.
#[derive(Debug, Clone, Copy)]
enum ClearWhen {
    /// After a refusal or a drop: once the sealed batches take at most this many bytes
    /// (the bound less the larger of a tenth of it and twice the batch that did not fit).
    AtMost(u64),
    /// After a disk error: at the next batch sealed from the drain.
    NextSeal,
}

/// The batch being filled (`<seq>.open`).
struct Open {
    seq: u64,
    file: std::fs::File,
    size: u64,
}

/// The spool folder and its index.
pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    policy: FullPolicy,
    /// Bytes of sealed batches.
    used: u64,
    next_seq: u64,
    files: BTreeMap<u64, Entry>,
    open: Option<Open>,
    /// Set while the spool cannot keep every batch (`vigie_spool_full`, the system alarm):
    /// when it clears.
    full: Option<ClearWhen>,
    refusals: RefusalLog,
    metrics: Arc<Metrics>,
    /// Held open for the spool's life: its exclusive lock keeps a second vigie out.
    _lock: std::fs::File,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SpoolError + '_ {
    move |source| SpoolError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Spool {
    /// Opens (creating) `dir` with the default [`FullPolicy`]: indexes the batches a previous
    /// run left there, seals its `.open` batch (cut after the last whole line) and removes
    /// half-written `.tmp` files. Errors: the folder cannot be used, or another process holds it.
    pub fn open(dir: &Path, max_bytes: u64, metrics: Arc<Metrics>) -> Result<Spool, SpoolError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let lock_path = dir.join(".lock");
        let lock = std::fs::File::create(&lock_path).map_err(io(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(SpoolError::InUse {
                    path: dir.to_path_buf(),
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(&lock_path)(e)),
        }
        let mut files = BTreeMap::new();
        let mut recovered = 0;
        for e in std::fs::read_dir(dir).map_err(io(dir))? {
            let e = match e {
                Ok(e) => e,
                Err(e) => {
                    tracing::error!(dir = %dir.display(), error = %e, "cannot read an entry of the spool folder; skipped");
                    continue;
                }
            };
            let path = e.path();
            let name = e.file_name().to_string_lossy().to_string();
            if name.ends_with(".tmp") {
                let _ = std::fs::remove_file(&path);
                continue;
            }
            if let Some(seq) = name
                .strip_suffix(".open")
                .and_then(|s| s.parse::<u64>().ok())
            {
                let recovered_size = recover_open(&path).unwrap_or_else(|e| {
                    set_aside(&path, &e);
                    None
                });
                if let Some(size) = recovered_size {
                    files.insert(
                        seq,
                        Entry {
                            size,
                            in_flight: false,
                        },
                    );
                    recovered += 1;
                }
                continue;
            }
            if let Some(seq) = name.strip_suffix(".lp").and_then(|s| s.parse::<u64>().ok()) {
                let size = match e.metadata() {
                    Ok(m) if m.is_file() => m.len(),
                    Ok(_) => {
                        set_aside(&path, &"not a file");
                        continue;
                    }
                    Err(err) => {
                        set_aside(&path, &err);
                        continue;
                    }
                };
                files.insert(
                    seq,
                    Entry {
                        size,
                        in_flight: false,
                    },
                );
            }
        }
        let used = files.values().map(|e| e.size).sum();
        let next_seq = files.last_key_value().map(|(s, _)| s + 1).unwrap_or(0);
        metrics.writer.spool_bytes.store(used, Ordering::Relaxed);
        metrics
            .writer
            .spool_backlog
            .store(files.len() as u64, Ordering::Relaxed);
        if !files.is_empty() {
            tracing::info!(batches = files.len(), bytes = used, recovered_open = recovered, dir = %dir.display(), "spool holds batches from an earlier run; replaying them");
        }
        let spool = Spool {
            dir: dir.to_path_buf(),
            max_bytes,
            policy: FullPolicy::default(),
            used,
            next_seq,
            files,
            open: None,
            full: None,
            refusals: RefusalLog::default(),
            metrics,
            _lock: lock,
        };
        if recovered > 0 {
            spool.sync_dir()?;
        }
        Ok(spool)
    }

    /// The same spool with `policy` for a full spool.
    pub fn with_policy(mut self, policy: FullPolicy) -> Spool {
        self.policy = policy;
        self
    }

    fn path(&self, seq: u64, ext: &str) -> PathBuf {
        self.dir.join(format!("{seq:020}.{ext}"))
    }

    /// Batches waiting to be replayed (sealed, not in flight).
    pub fn len(&self) -> usize {
        self.files.values().filter(|e| !e.in_flight).count()
    }

    /// True when no batch waits to be replayed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of sealed batches (in flight or waiting).
    pub fn bytes(&self) -> u64 {
        self.used
    }

    /// Appends whole lines to the batch being filled (creating `<seq>.open`). Written, not
    /// synced: a process crash keeps them, [`Spool::seal`] makes them durable. Errors: I/O
    /// (the caller keeps the lines in memory, the open batch is dropped, and the error is
    /// counted and raises the full flag).
    pub fn append(&mut self, lines: &[u8]) -> Result<(), SpoolError> {
        if lines.is_empty() {
            return Ok(());
        }
        let appended = self.append_to_open(lines);
        if appended.is_err() {
            self.discard_open();
        }
        self.note_io(appended)
    }

    fn append_to_open(&mut self, lines: &[u8]) -> Result<(), SpoolError> {
        if self.open.is_none() {
            let seq = self.next_seq;
            let path = self.path(seq, "open");
            let file = std::fs::File::create(&path).map_err(io(&path))?;
            self.next_seq += 1;
            self.open = Some(Open { seq, file, size: 0 });
        }
        let path = self.open.as_ref().map(|o| self.path(o.seq, "open"));
        let (Some(open), Some(path)) = (self.open.as_mut(), path) else {
            return Ok(());
        };
        open.file.write_all(lines).map_err(io(&path))?;
        open.size += lines.len() as u64;
        Ok(())
    }

    /// Drops the batch being filled, if any (its lines are kept in memory by the caller).
    pub fn discard_open(&mut self) {
        if let Some(open) = self.open.take() {
            let _ = std::fs::remove_file(self.path(open.seq, "open"));
        }
    }

    /// Seals the batch being filled: synced, renamed to `.lp`, handed out as in flight.
    /// Ok(None) when nothing was appended. Errors: full (the batch is refused, counted and
    /// logged) or I/O (counted and logged by the caller); either way the open file is gone.
    pub fn seal(&mut self) -> Result<Option<u64>, SpoolError> {
        let Some(open) = self.open.take() else {
            return Ok(None);
        };
        let from = self.path(open.seq, "open");
        if open.size == 0 {
            let _ = std::fs::remove_file(&from);
            return Ok(None);
        }
        let sealed = self.make_room(open.size).and_then(|()| {
            open.file.sync_all().map_err(io(&from))?;
            let to = self.path(open.seq, "lp");
            std::fs::rename(&from, &to).map_err(io(&to))?;
            self.sync_dir()
        });
        if let Err(e) = sealed {
            let _ = std::fs::remove_file(&from);
            return self.note_io(Err(e));
        }
        if matches!(self.full, Some(ClearWhen::NextSeal)) {
            self.clear_full();
        }
        self.index(open.seq, open.size, true);
        Ok(Some(open.seq))
    }

    /// Writes a whole batch durably as its own file; `in_flight` when it is handed to the
    /// writer now, else it joins the backlog. Errors: full (refused, counted, logged) or I/O
    /// (counted; the caller logs it).
    pub fn push(&mut self, batch: &[u8], in_flight: bool) -> Result<u64, SpoolError> {
        let size = batch.len() as u64;
        self.make_room(size)?;
        let seq = self.next_seq;
        // The number is used even if the write fails: a file left behind is never overwritten.
        self.next_seq += 1;
        let written = self.write_batch(seq, batch);
        self.note_io(written)?;
        self.index(seq, size, in_flight);
        if !in_flight {
            self.count_backlog(1);
        }
        Ok(seq)
    }

    fn write_batch(&self, seq: u64, batch: &[u8]) -> Result<(), SpoolError> {
        let path = self.path(seq, "lp");
        let tmp = self.path(seq, "tmp");
        let written = std::fs::File::create(&tmp)
            .and_then(|mut f| {
                f.write_all(batch)?;
                f.sync_all()
            })
            .map_err(io(&tmp));
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written?;
        std::fs::rename(&tmp, &path).map_err(io(&path))?;
        self.sync_dir()
    }

    fn index(&mut self, seq: u64, size: u64, in_flight: bool) {
        self.files.insert(seq, Entry { size, in_flight });
        self.used += size;
        self.publish();
    }

    fn count_backlog(&self, n: u64) {
        self.metrics
            .writer
            .batches_spooled
            .fetch_add(n, Ordering::Relaxed);
    }

    /// Publishes the gauges, and clears the full flag once the spool has drained enough.
    fn publish(&mut self) {
        if let Some(ClearWhen::AtMost(bytes)) = self.full
            && self.used <= bytes
        {
            self.clear_full();
        }
        let w = &self.metrics.writer;
        w.spool_bytes.store(self.used, Ordering::Relaxed);
        w.spool_backlog.store(self.len() as u64, Ordering::Relaxed);
    }

    /// Raises the full flag (`vigie_spool_full`, the system alarm `vigie:spool:spool_full`)
    /// and logs `error` (rate-limited). A later `clear` condition replaces an earlier one.
    fn raise_full(&mut self, clear: ClearWhen, error: &SpoolError, what: &str) {
        if self.full.is_none() {
            tracing::warn!("the disk spool cannot keep every batch: vigie_spool_full = 1");
        }
        self.full = Some(clear);
        self.metrics.writer.spool_full.store(1, Ordering::Relaxed);
        self.refusals.log(error, what);
    }

    fn clear_full(&mut self) {
        self.full = None;
        self.metrics.writer.spool_full.store(0, Ordering::Relaxed);
        tracing::info!(
            bytes = self.used,
            "the disk spool keeps every batch again: vigie_spool_full = 0"
        );
    }

    /// Counts an I/O error (`vigie_spool_errors_total`) and raises the full flag until the
    /// next batch is sealed: a disk that is full before `spool_max_mib`, or failing, loses
    /// batches as surely as a full spool.
    fn note_io<T>(&mut self, r: Result<T, SpoolError>) -> Result<T, SpoolError> {
        if let Err(e @ SpoolError::Io { .. }) = &r {
            self.metrics
                .writer
                .spool_errors
                .fetch_add(1, Ordering::Relaxed);
            self.raise_full(ClearWhen::NextSeal, e, "kept in memory only");
        }
        r
    }

    /// Makes room for `size` bytes under the policy, or refuses (counted, logged, and the
    /// full flag raised). Under [`FullPolicy::DropOldest`] nothing is deleted unless deleting
    /// waiting batches does make room (batches in flight cannot be deleted).
    fn make_room(&mut self, size: u64) -> Result<(), SpoolError> {
        if self.used + size <= self.max_bytes {
            return Ok(());
        }
        let clear = ClearWhen::AtMost(
            self.max_bytes
                .saturating_sub((self.max_bytes / 10).max(size.saturating_mul(2))),
        );
        let waiting: Vec<(u64, u64)> = self
            .files
            .iter()
            .filter(|(_, e)| !e.in_flight)
            .map(|(s, e)| (*s, e.size))
            .collect();
        let waiting_bytes: u64 = waiting.iter().map(|(_, b)| b).sum();
        let room_by_dropping = self.used - waiting_bytes + size <= self.max_bytes;
        if self.policy == FullPolicy::DropOldest && room_by_dropping {
            let mut dropped = 0;
            for (seq, _) in waiting {
                if self.used + size <= self.max_bytes {
                    break;
                }
                if let Err(e) = self.remove(seq) {
                    tracing::error!(error = %e, "cannot delete a spooled batch to make room");
                }
                dropped += 1;
            }
            self.metrics
                .writer
                .spool_dropped
                .fetch_add(dropped, Ordering::Relaxed);
            let e = SpoolError::Full {
                used: self.used,
                max: self.max_bytes,
                size,
            };
            self.raise_full(
                clear,
                &e,
                "the oldest waiting batches were deleted to make room",
            );
            return Ok(());
        }
        self.metrics
            .writer
            .spool_refused
            .fetch_add(1, Ordering::Relaxed);
        let e = SpoolError::Full {
            used: self.used,
            max: self.max_bytes,
            size,
        };
        self.raise_full(clear, &e, "the new batch is not kept on disk");
        Err(e)
    }
    /// Makes renames in the folder durable (a power cut keeps them).
    fn sync_dir(&self) -> Result<(), SpoolError> {
        std::fs::File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io(&self.dir))
    }

    /// An in-flight batch the writer could not send: it joins the backlog, in its place.
    pub fn release(&mut self, seq: u64) {
        if let Some(e) = self.files.get_mut(&seq)
            && e.in_flight
        {
            e.in_flight = false;
            self.count_backlog(1);
            self.publish();
        }
    }

    /// The oldest waiting batch, with its sequence number for [`Spool::remove`]. A batch file
    /// that vanished is forgotten; one that cannot be read is moved aside as `<seq>.lp.bad`
    /// (and logged) so it cannot block the batches behind it.
    pub fn oldest(&mut self) -> Option<(u64, Vec<u8>)> {
        loop {
            let seq = self
                .files
                .iter()
                .find(|(_, e)| !e.in_flight)
                .map(|(s, _)| *s)?;
            let path = self.path(seq, "lp");
            match std::fs::read(&path) {
                Ok(data) => return Some((seq, data)),
                Err(e) => {
                    if e.kind() == std::io::ErrorKind::NotFound {
                        tracing::warn!(file = %path.display(), "a spooled batch vanished; skipping it");
                    } else {
                        let aside = path.with_extension("lp.bad");
                        let _ = std::fs::rename(&path, &aside);
                        tracing::error!(file = %path.display(), error = %e, moved_to = %aside.display(), "cannot read a spooled batch; moved aside");
                    }
                    self.forget(seq);
                }
            }
        }
    }

    fn forget(&mut self, seq: u64) -> Option<Entry> {
        let e = self.files.remove(&seq)?;
        // Counted out now, whatever the file system says next.
        self.used = self.used.saturating_sub(e.size);
        self.publish();
        Some(e)
    }

    /// Moves a waiting batch to the back of the queue (a batch InfluxDB keeps refusing must
    /// not hold up the ones behind it). Its bytes stay counted.
    pub fn requeue(&mut self, seq: u64) -> Result<(), SpoolError> {
        let Some(entry) = self.files.get(&seq).copied() else {
            return Ok(());
        };
        let new_seq = self.next_seq;
        let (from, to) = (self.path(seq, "lp"), self.path(new_seq, "lp"));
        std::fs::rename(&from, &to).map_err(io(&to))?;
        self.sync_dir()?;
        self.next_seq += 1;
        self.files.remove(&seq);
        self.files.insert(new_seq, entry);
        Ok(())
    }

    /// Removes a batch InfluxDB has taken (or refused as bad data). The folder is not synced:
    /// a removal lost to a power cut only sends the batch again, which InfluxDB absorbs.
    pub fn remove(&mut self, seq: u64) -> Result<(), SpoolError> {
        if self.forget(seq).is_some() {
            let path = self.path(seq, "lp");
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(&path)(e)),
            }
        }
        Ok(())
    }
}

/// Seals an `.open` batch a crash left: cut after its last complete line (a `kill -9` may
/// stop a `write` half-way), synced and renamed to `.lp`. Its size, or None when it held no
/// complete line (then it is removed).
fn recover_open(path: &Path) -> Result<Option<u64>, SpoolError> {
    let data = std::fs::read(path).map_err(io(path))?;
    let whole = data.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    if whole == 0 {
        std::fs::remove_file(path).map_err(io(path))?;
        return Ok(None);
    }
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(io(path))?;
    f.set_len(whole as u64).map_err(io(path))?;
    f.sync_all().map_err(io(path))?;
    let to = path.with_extension("lp");
    std::fs::rename(path, &to).map_err(io(&to))?;
    if whole < data.len() {
        tracing::warn!(file = %to.display(), dropped_bytes = data.len() - whole, "a batch cut by a crash: its last, partial line was dropped");
    }
    Ok(Some(whole as u64))
}

/// Moves a batch file that cannot be read at start-up aside as `<name>.bad` and logs it: one
/// damaged file must not keep vigie from starting (and polling).
fn set_aside(path: &Path, error: &dyn std::fmt::Display) {
    let mut aside = path.as_os_str().to_owned();
    aside.push(".bad");
    let aside = PathBuf::from(aside);
    match std::fs::rename(path, &aside) {
        Ok(()) => {
            tracing::error!(file = %path.display(), error = %error, moved_to = %aside.display(), "cannot read a spooled batch at start-up; moved aside")
        }
        Err(e) => {
            tracing::error!(file = %path.display(), error = %error, rename_error = %e, "cannot read a spooled batch at start-up, nor move it aside; skipped")
        }
    }
}
