//! The disk spool: batches of line protocol that could not be written to InfluxDB (or that
//! have no InfluxDB to go to), kept in order in `<data_dir>/spool/` until replayed.
//!
//! One file per batch, named by a 20-digit sequence number so names sort in write order.
//! A batch is written to a `.tmp` file, synced, then renamed: after a crash a batch is
//! either whole or absent. The spool is bounded: when a batch would pass `max_bytes` it is
//! refused and counted (keep the oldest, refuse new: history stays contiguous).

use crate::metrics::Metrics;
use std::collections::VecDeque;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// Runs the spool's blocking file work (writes, fsyncs, reads) without stalling the other
/// tasks of a multi-threaded tokio runtime; elsewhere it just runs it.
pub fn blocking<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
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
}

/// The spool folder and its index.
pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    used: u64,
    next_seq: u64,
    /// (sequence, size), oldest first.
    files: VecDeque<(u64, u64)>,
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
    /// Opens (creating) `dir`, indexing the batches a previous run left there and removing
    /// half-written `.tmp` files.
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
        let mut files = Vec::new();
        for e in std::fs::read_dir(dir).map_err(io(dir))? {
            let e = e.map_err(io(dir))?;
            let path = e.path();
            let name = e.file_name().to_string_lossy().to_string();
            if name.ends_with(".tmp") {
                let _ = std::fs::remove_file(&path);
                continue;
            }
            if let Some(seq) = name.strip_suffix(".lp").and_then(|s| s.parse::<u64>().ok()) {
                let size = e.metadata().map_err(io(&path))?.len();
                files.push((seq, size));
            }
        }
        files.sort();
        let used = files.iter().map(|f| f.1).sum();
        let next_seq = files.last().map(|f| f.0 + 1).unwrap_or(0);
        metrics.writer.spool_bytes.store(used, Ordering::Relaxed);
        if !files.is_empty() {
            tracing::info!(batches = files.len(), bytes = used, dir = %dir.display(), "spool holds batches from an earlier run");
        }
        Ok(Spool {
            dir: dir.to_path_buf(),
            max_bytes,
            used,
            next_seq,
            files: files.into(),
            metrics,
            _lock: lock,
        })
    }

    fn path(&self, seq: u64) -> PathBuf {
        self.dir.join(format!("{seq:020}.lp"))
    }

    /// Batches waiting.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Bytes used.
    pub fn bytes(&self) -> u64 {
        self.used
    }

    /// Appends a batch durably. Errors: full (refused and counted) or I/O.
    pub fn push(&mut self, batch: &[u8]) -> Result<(), SpoolError> {
        let size = batch.len() as u64;
        if self.used + size > self.max_bytes {
            self.metrics
                .writer
                .spool_refused
                .fetch_add(1, Ordering::Relaxed);
            return Err(SpoolError::Full {
                used: self.used,
                max: self.max_bytes,
                size,
            });
        }
        let seq = self.next_seq;
        let path = self.path(seq);
        let tmp = path.with_extension("tmp");
        let mut f = std::fs::File::create(&tmp).map_err(io(&tmp))?;
        f.write_all(batch).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io(&path))?;
        self.sync_dir()?;
        self.next_seq += 1;
        self.used += size;
        self.files.push_back((seq, size));
        self.metrics
            .writer
            .batches_spooled
            .fetch_add(1, Ordering::Relaxed);
        self.metrics
            .writer
            .spool_bytes
            .store(self.used, Ordering::Relaxed);
        Ok(())
    }

    /// Makes renames and removals in the folder durable (a power cut keeps them).
    fn sync_dir(&self) -> Result<(), SpoolError> {
        std::fs::File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io(&self.dir))
    }

    /// The oldest batch, with its sequence number for [`Spool::remove`]. A batch file that
    /// vanished is forgotten; one that cannot be read is moved aside as `<seq>.lp.bad` (and
    /// logged) so it cannot block the batches behind it.
    pub fn oldest(&mut self) -> Option<(u64, Vec<u8>)> {
        while let Some(&(seq, size)) = self.files.front() {
            let path = self.path(seq);
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
                    self.files.pop_front();
                    self.used = self.used.saturating_sub(size);
                    self.metrics
                        .writer
                        .spool_bytes
                        .store(self.used, Ordering::Relaxed);
                }
            }
        }
        None
    }

    /// Moves a batch to the back of the queue (a batch InfluxDB keeps refusing must not hold
    /// up the ones behind it). Its bytes stay counted.
    pub fn requeue(&mut self, seq: u64) -> Result<(), SpoolError> {
        let Some(pos) = self.files.iter().position(|f| f.0 == seq) else {
            return Ok(());
        };
        let new_seq = self.next_seq;
        let (from, to) = (self.path(seq), self.path(new_seq));
        std::fs::rename(&from, &to).map_err(io(&to))?;
        self.sync_dir()?;
        self.next_seq += 1;
        if let Some((_, size)) = self.files.remove(pos) {
            self.files.push_back((new_seq, size));
        }
        Ok(())
    }

    /// Removes a replayed batch.
    pub fn remove(&mut self, seq: u64) -> Result<(), SpoolError> {
        if let Some(pos) = self.files.iter().position(|f| f.0 == seq) {
            let (_, size) = self.files.remove(pos).unwrap_or((seq, 0));
            // Counted out now, whatever the file system says next.
            self.used = self.used.saturating_sub(size);
            self.metrics
                .writer
                .spool_bytes
                .store(self.used, Ordering::Relaxed);
            let path = self.path(seq);
            match std::fs::remove_file(&path) {
                Ok(()) => self.sync_dir()?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(&path)(e)),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_survive_reopen_in_order_and_the_bound_holds() {
        let dir = tempfile::tempdir().unwrap();
        let m = Arc::new(Metrics::default());
        let mut s = Spool::open(dir.path(), 10, m.clone()).unwrap();
        s.push(b"a 1\n").unwrap();
        s.push(b"b 2\n").unwrap();
        assert!(matches!(s.push(b"c 3\n"), Err(SpoolError::Full { .. })));
        assert_eq!(m.writer.spool_refused.load(Ordering::Relaxed), 1);
        std::fs::write(dir.path().join("00000000000000000009.tmp"), b"half").unwrap();
        drop(s);
        let mut s = Spool::open(dir.path(), 10, m).unwrap();
        assert_eq!(s.len(), 2);
        let (seq, data) = s.oldest().unwrap();
        assert_eq!(data, b"a 1\n");
        s.remove(seq).unwrap();
        assert_eq!(s.oldest().unwrap().1, b"b 2\n");
        s.push(b"d 4\n").unwrap();
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
        s.push(b"a 1\n").unwrap();
        s.push(b"b 2\n").unwrap();
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
            s.push(b).unwrap();
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
}
