//! Small filesystem helpers: atomic writes, directory fsync, temp-file names,
//! and the repository lock.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::error::{RepoError, Result};

/// Prefix of every temporary file the repository writes. Files with this
/// prefix are never part of the repository's content; `gc` removes leftovers
/// (from killed writers) while it holds the exclusive lock.
pub const TEMP_PREFIX: &str = ".tmp-";

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh temporary file name in `dir` for content that will be renamed to
/// `final_name`. Unique within this process and across processes (pid).
pub fn temp_path(dir: &Path, final_name: &str) -> PathBuf {
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    dir.join(format!(
        "{TEMP_PREFIX}{final_name}-{}-{n}",
        std::process::id()
    ))
}

/// Whether a directory entry name is one of our temporary files.
pub fn is_temp_name(name: &str) -> bool {
    name.starts_with(TEMP_PREFIX)
}

/// Creates `path` (which must not exist) and writes `data` to it, without fsync.
pub fn write_new(path: &Path, data: &[u8]) -> Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| RepoError::io("create", path, e))?;
    f.write_all(data)
        .map_err(|e| RepoError::io("write", path, e))
}

/// Flushes a file's content to stable storage.
pub fn sync_file(path: &Path) -> Result<()> {
    File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| RepoError::io("fsync", path, e))
}

/// Makes renames and creations inside `dir` durable (no-op where directories
/// cannot be opened, i.e. Windows).
pub fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)
            .and_then(|f| f.sync_all())
            .map_err(|e| RepoError::io("fsync directory", dir, e))?;
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
    }
    Ok(())
}

/// Writes `data` to `dir/name` atomically and durably: temp file in the same
/// directory, fsync, rename over the final name, fsync of the directory.
/// Readers see either the old file (or none) or the complete new one.
pub fn write_atomic(dir: &Path, name: &str, data: &[u8]) -> Result<()> {
    let tmp = temp_path(dir, name);
    let dest = dir.join(name);
    let res = (|| {
        write_new(&tmp, data)?;
        sync_file(&tmp)?;
        fs::rename(&tmp, &dest).map_err(|e| RepoError::io("rename into place", &dest, e))?;
        sync_dir(dir)
    })();
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res
}

/// Creates a directory (and parents) if missing.
pub fn ensure_dir(path: &Path) -> Result<()> {
    fs::create_dir_all(path).map_err(|e| RepoError::io("create directory", path, e))
}

/// Lists a directory's entries as (name, path, metadata). A missing directory
/// is empty. Names that are not UTF-8 are skipped (we never create them).
pub fn list_dir(dir: &Path) -> Result<Vec<(String, PathBuf, fs::Metadata)>> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(RepoError::io("list directory", dir, e)),
    };
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| RepoError::io("list directory", dir, e))?;
        let path = entry.path();
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let meta = match entry.metadata() {
            Ok(m) => m,
            // Removed between listing and stat (e.g. by a concurrent rename).
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(RepoError::io("stat", &path, e)),
        };
        out.push((name, path, meta));
    }
    Ok(out)
}

/// Lock modes of the repository lock file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    /// Backups, restores, verify, delete of a manifest: many at once.
    Shared,
    /// Removing chunks (gc, prune): alone.
    Exclusive,
}

/// Holds the repository lock (an OS file lock on `<repo>/lock`) until dropped.
#[derive(Debug)]
pub struct RepoLock {
    _file: File,
}

impl RepoLock {
    /// Takes the lock without waiting; fails with [`RepoError::Locked`] when a
    /// conflicting lock is held (by this or another process).
    pub fn acquire(path: &Path, mode: LockMode, what: &'static str) -> Result<RepoLock> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| RepoError::io("open lock file", path, e))?;
        let res = match mode {
            LockMode::Shared => file.try_lock_shared(),
            LockMode::Exclusive => file.try_lock(),
        };
        match res {
            Ok(()) => Ok(RepoLock { _file: file }),
            Err(TryLockError::WouldBlock) => Err(RepoError::Locked {
                path: path.to_path_buf(),
                what,
                mode: match mode {
                    LockMode::Shared => "shared",
                    LockMode::Exclusive => "exclusive",
                },
            }),
            Err(TryLockError::Error(e)) => Err(RepoError::io("lock", path, e)),
        }
    }
}
