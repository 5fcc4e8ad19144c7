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
            let e = e.map_err(io(dir))?;
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
                if let Some(size) = recover_open(&path)? {
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
                let size = e.metadata().map_err(io(&path))?.len();
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
    /// (the caller keeps the lines in memory and the open batch is dropped).
    pub fn append(&mut self, lines: &[u8]) -> Result<(), SpoolError> {
        if lines.is_empty() {
            return Ok(());
        }
        if self.open.is_none() {
            let seq = self.next_seq;
            let path = self.path(seq, "open");
            let file = std::fs::File::create(&path).map_err(io(&path))?;
            self.next_seq += 1;
            self.open = Some(Open { seq, file, size: 0 });
        }
        let Some(open) = self.open.as_mut() else {
            return Ok(());
        };
        if let Err(e) = open.file.write_all(lines) {
            let seq = open.seq;
            let path = self.path(seq, "open");
            self.discard_open();
            return Err(io(&path)(e));
        }
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
    /// Ok(None) when nothing was appended. Errors: full (the batch is refused under
    /// [`FullPolicy::RefuseNew`], counted) or I/O; either way the open file is gone.
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
            return Err(e);
        }
        self.index(open.seq, open.size, true);
        Ok(Some(open.seq))
    }

    /// Writes a whole batch durably as its own file; `in_flight` when it is handed to the
    /// writer now, else it joins the backlog. Errors: full (refused, counted) or I/O.
    pub fn push(&mut self, batch: &[u8], in_flight: bool) -> Result<u64, SpoolError> {
        let size = batch.len() as u64;
        self.make_room(size)?;
        let seq = self.next_seq;
        let path = self.path(seq, "lp");
        let tmp = self.path(seq, "tmp");
        let mut f = std::fs::File::create(&tmp).map_err(io(&tmp))?;
        f.write_all(batch).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io(&path))?;
        self.sync_dir()?;
        self.next_seq += 1;
        self.index(seq, size, in_flight);
        if !in_flight {
            self.count_backlog(1);
        }
        Ok(seq)
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

    fn publish(&self) {
        let w = &self.metrics.writer;
        w.spool_bytes.store(self.used, Ordering::Relaxed);
        w.spool_backlog.store(self.len() as u64, Ordering::Relaxed);
    }

    /// Makes room for `size` bytes under the policy, or refuses (counted, and the spool's
    /// `full` flag raised until a batch fits again).
    fn make_room(&mut self, size: u64) -> Result<(), SpoolError> {
        let metrics = self.metrics.clone();
        let w = &metrics.writer;
        if self.used + size > self.max_bytes && self.policy == FullPolicy::DropOldest {
            let waiting: Vec<u64> = self
                .files
                .iter()
                .filter(|(_, e)| !e.in_flight)
                .map(|(s, _)| *s)
                .collect();
            for seq in waiting {
                if self.used + size <= self.max_bytes {
                    break;
                }
                let _ = self.remove(seq);
                w.spool_dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
        if self.used + size > self.max_bytes {
            w.spool_refused.fetch_add(1, Ordering::Relaxed);
            w.spool_full.store(1, Ordering::Relaxed);
            return Err(SpoolError::Full {
                used: self.used,
                max: self.max_bytes,
                size,
            });
        }
        w.spool_full.store(0, Ordering::Relaxed);
        Ok(())
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
