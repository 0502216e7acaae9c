//! Content-addressed chunk files: `chunks/<2 hex>/<64 hex>`, each one zstd
//! frame of the chunk's bytes, named by the BLAKE3 hash of those bytes.

use std::collections::{BTreeSet, HashSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;

use super::chunker::{Chunk, ChunkHash};
use super::error::{RepoError, Result};
use super::fsutil;

/// zstd level used for chunks.
pub const COMPRESSION_LEVEL: i32 = 3;

/// Largest chunk the reader will decompress (FastCDC's maximum chunk size);
/// protects against a corrupt frame header claiming a huge size.
const MAX_DECOMPRESSED: usize = 16 * 1024 * 1024;

/// When a [`ChunkWriter`] has this many bytes waiting in temp files, it makes
/// them durable and renames them into place.
const BATCH_BYTES: u64 = 64 * 1024 * 1024;
/// … or this many files.
const BATCH_FILES: usize = 2048;

/// Read access to the chunk directory, plus listing and removal for gc.
#[derive(Debug, Clone)]
pub struct ChunkStore {
    root: PathBuf,
}

/// A chunk file found on disk.
#[derive(Debug, Clone)]
pub struct StoredChunk {
    pub hash: ChunkHash,
    pub path: PathBuf,
    /// Compressed size on disk.
    pub size: u64,
}

/// A leftover temporary file found in the chunk directories.
#[derive(Debug, Clone)]
pub struct TempFile {
    pub path: PathBuf,
    pub size: u64,
}

/// Totals of the chunk directory.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    pub chunks: u64,
    /// Compressed bytes on disk.
    pub bytes: u64,
}

impl ChunkStore {
    /// `root` is the `chunks` directory.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        ChunkStore { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn dir_name(hash: &ChunkHash) -> String {
        hex::encode(&hash.0[..1])
    }

    /// Path of the chunk file for `hash` (whether or not it exists).
    pub fn path(&self, hash: &ChunkHash) -> PathBuf {
        self.root.join(Self::dir_name(hash)).join(hash.to_hex())
    }

    /// Whether a chunk file for `hash` exists. An empty file (never valid zstd)
    /// counts as absent so that a writer replaces it.
    pub fn contains(&self, hash: &ChunkHash) -> Result<bool> {
        let path = self.path(hash);
        match fs::metadata(&path) {
            Ok(m) => Ok(m.is_file() && m.len() > 0),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(RepoError::io("stat", path, e)),
        }
    }

    /// Reads, decompresses and verifies a chunk. Errors with
    /// [`RepoError::MissingChunk`] or [`RepoError::CorruptChunk`].
    pub fn read(&self, hash: &ChunkHash) -> Result<Vec<u8>> {
        let path = self.path(hash);
        let compressed = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(RepoError::MissingChunk { hash: *hash, path });
            }
            Err(e) => return Err(RepoError::io("read", path, e)),
        };
        let data = zstd::bulk::decompress(&compressed, MAX_DECOMPRESSED).map_err(|e| {
            RepoError::CorruptChunk {
                hash: *hash,
                path: path.clone(),
                reason: format!("cannot decompress {} bytes: {e}", compressed.len()),
            }
        })?;
        let actual = ChunkHash::of(&data);
        if actual != *hash {
            return Err(RepoError::CorruptChunk {
                hash: *hash,
                path,
                reason: format!("content hashes to {actual}"),
            });
        }
        Ok(data)
    }

    /// Compressed size of a stored chunk, if present.
    pub fn stored_size(&self, hash: &ChunkHash) -> Result<Option<u64>> {
        let path = self.path(hash);
        match fs::metadata(&path) {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(RepoError::io("stat", path, e)),
        }
    }

    /// Walks the chunk directories: chunk files and leftover temp files.
    /// Files that are neither (not written by ceso) are left alone.
    pub fn scan(&self) -> Result<(Vec<StoredChunk>, Vec<TempFile>)> {
        let mut chunks = Vec::new();
        let mut temps = Vec::new();
        for (dname, dpath, dmeta) in fsutil::list_dir(&self.root)? {
            if fsutil::is_temp_name(&dname) && dmeta.is_file() {
                temps.push(TempFile {
                    path: dpath,
                    size: dmeta.len(),
                });
                continue;
            }
            if !dmeta.is_dir() || dname.len() != 2 {
                continue;
            }
            for (name, path, meta) in fsutil::list_dir(&dpath)? {
                if !meta.is_file() {
                    continue;
                }
                if fsutil::is_temp_name(&name) {
                    temps.push(TempFile {
                        path,
                        size: meta.len(),
                    });
                } else if let Ok(hash) = name.parse::<ChunkHash>()
                    && Self::dir_name(&hash) == dname
                {
                    chunks.push(StoredChunk {
                        hash,
                        path,
                        size: meta.len(),
                    });
                }
            }
        }
        Ok((chunks, temps))
    }

    /// Number of chunks and compressed bytes on disk.
    pub fn stats(&self) -> Result<StoreStats> {
        let (chunks, _) = self.scan()?;
        Ok(StoreStats {
            chunks: chunks.len() as u64,
            bytes: chunks.iter().map(|c| c.size).sum(),
        })
    }

    /// Removes a file found by [`scan`](Self::scan). Already gone is fine.
    pub fn remove_file(&self, path: &Path) -> Result<()> {
        match fs::remove_file(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(RepoError::io("remove", path, e)),
        }
    }
}

/// A chunk to compress and write to its temp file.
struct Job {
    data: Vec<u8>,
    tmp: PathBuf,
    dest: PathBuf,
}

/// A chunk written to its temp file (not yet durable).
struct Written {
    tmp: PathBuf,
    dest: PathBuf,
    stored: u64,
}

/// Adds chunks to a store, skipping those already present.
///
/// New chunks are compressed and written to temp files (next to their final
/// names) by a few worker threads, so compression runs in parallel with the
/// caller's chunking and hashing, and file-creation latency overlaps. Every
/// [`BATCH_BYTES`] (or on [`flush`](Self::flush)) the batch is made durable:
/// fsync of every temp file, rename into place, fsync of the touched
/// directories. A chunk is thus never visible under its final name before
/// its content is on stable storage. A writer that is killed leaves temp
/// files and unreferenced chunks, both removed by gc. Memory is bounded: the
/// job queue holds at most `2 × workers` chunks.
pub struct ChunkWriter {
    store: ChunkStore,
    jobs: Option<mpsc::SyncSender<Job>>,
    done: mpsc::Receiver<Result<Written>>,
    workers: Vec<thread::JoinHandle<()>>,
    in_flight: usize,
    /// Chunks in temp files, waiting for fsync + rename.
    pending: Vec<Written>,
    /// Hashes in flight or pending (not yet visible in the store).
    pending_hashes: HashSet<ChunkHash>,
    pending_bytes: u64,
    /// Compressed bytes written by this writer so far (completed writes).
    stored_bytes: u64,
    created_dirs: bool,
}

impl ChunkWriter {
    pub fn new(store: ChunkStore) -> Result<Self> {
        let n = thread::available_parallelism()
            .map_or(2, |n| n.get())
            .saturating_mul(2)
            .clamp(4, 16);
        let (job_tx, job_rx) = mpsc::sync_channel::<Job>(2 * n);
        let job_rx = Arc::new(Mutex::new(job_rx));
        let (done_tx, done_rx) = mpsc::channel();
        let mut workers = Vec::with_capacity(n);
        for i in 0..n {
            let rx = Arc::clone(&job_rx);
            let tx = done_tx.clone();
            let root = store.root().to_path_buf();
            let handle = thread::Builder::new()
                .name(format!("ceso-chunk-writer-{i}"))
                .spawn(move || worker(rx, tx, root))
                .map_err(|e| RepoError::io("start chunk writer thread for", store.root(), e))?;
            workers.push(handle);
        }
        Ok(ChunkWriter {
            store,
            jobs: Some(job_tx),
            done: done_rx,
            workers,
            in_flight: 0,
            pending: Vec::new(),
            pending_hashes: HashSet::new(),
            pending_bytes: 0,
            stored_bytes: 0,
            created_dirs: false,
        })
    }

    fn stopped(&self) -> RepoError {
        RepoError::io(
            "write chunks to",
            self.store.root(),
            io::Error::other("chunk writer threads stopped"),
        )
    }

    /// Compressed bytes written so far (call [`wait`](Self::wait) first for
    /// an exact figure).
    pub fn stored_bytes(&self) -> u64 {
        self.stored_bytes
    }

    /// Stores `chunk` unless it already exists; returns whether it was new.
    /// Write errors surface on a later call (or on `wait`/`flush`).
    pub fn put(&mut self, chunk: Chunk) -> Result<bool> {
        self.collect(false)?;
        if self.pending_hashes.contains(&chunk.hash) || self.store.contains(&chunk.hash)? {
            return Ok(false);
        }
        let dest = self.store.path(&chunk.hash);
        let dir = dest
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| self.store.root().to_path_buf());
        if !dir.is_dir() {
            fsutil::ensure_dir(&dir)?;
            self.created_dirs = true;
        }
        let tmp = fsutil::temp_path(&dir, &chunk.hash.to_hex());
        let job = Job {
            data: chunk.data,
            tmp,
            dest,
        };
        let sent = match &self.jobs {
            Some(tx) => tx.send(job).is_ok(),
            None => false,
        };
        if !sent {
            // A worker failed and they all stopped: report its error if any.
            self.collect(true)?;
            return Err(self.stopped());
        }
        self.in_flight += 1;
        self.pending_hashes.insert(chunk.hash);
        if self.pending_bytes >= BATCH_BYTES || self.pending.len() >= BATCH_FILES {
            self.flush()?;
        }
        Ok(true)
    }

    /// Gathers finished writes; with `wait_all`, until none is in flight.
    fn collect(&mut self, wait_all: bool) -> Result<()> {
        while self.in_flight > 0 {
            let msg = if wait_all {
                self.done.recv().map_err(|_| self.stopped())?
            } else {
                match self.done.try_recv() {
                    Ok(m) => m,
                    Err(mpsc::TryRecvError::Empty) => return Ok(()),
                    Err(mpsc::TryRecvError::Disconnected) => return Err(self.stopped()),
                }
            };
            self.in_flight -= 1;
            let w = msg?;
            self.pending_bytes += w.stored;
            self.stored_bytes += w.stored;
            self.pending.push(w);
        }
        Ok(())
    }

    /// Waits until every chunk put so far is written to its temp file.
    pub fn wait(&mut self) -> Result<()> {
        self.collect(true)
    }

    /// Makes every chunk put so far durable and visible under its final name.
    pub fn flush(&mut self) -> Result<()> {
        self.collect(true)?;
        if self.pending.is_empty() {
            return Ok(());
        }
        let temps: Vec<&Path> = self.pending.iter().map(|w| w.tmp.as_path()).collect();
        fsutil::sync_all_parallel(&temps, fsutil::sync_file)?;
        let mut dirs = BTreeSet::new();
        for w in &self.pending {
            fs::rename(&w.tmp, &w.dest)
                .map_err(|e| RepoError::io("rename into place", &w.dest, e))?;
            if let Some(d) = w.dest.parent() {
                dirs.insert(d.to_path_buf());
            }
        }
        let dirs: Vec<&Path> = dirs.iter().map(PathBuf::as_path).collect();
        fsutil::sync_all_parallel(&dirs, fsutil::sync_dir)?;
        if self.created_dirs {
            fsutil::sync_dir(self.store.root())?;
            self.created_dirs = false;
        }
        self.pending.clear();
        self.pending_hashes.clear();
        self.pending_bytes = 0;
        Ok(())
    }
}

impl Drop for ChunkWriter {
    /// Stops the workers after they finish queued jobs. Nothing is renamed:
    /// an uncommitted writer leaves temp files for gc, like a killed one.
    fn drop(&mut self) {
        self.jobs = None;
        for h in self.workers.drain(..) {
            let _ = h.join();
        }
    }
}

fn worker(
    jobs: Arc<Mutex<mpsc::Receiver<Job>>>,
    done: mpsc::Sender<Result<Written>>,
    root: PathBuf,
) {
    let mut compressor = match zstd::bulk::Compressor::new(COMPRESSION_LEVEL) {
        Ok(c) => c,
        Err(e) => {
            let _ = done.send(Err(RepoError::io("create zstd compressor for", root, e)));
            return;
        }
    };
    loop {
        let job = match jobs.lock() {
            Ok(rx) => match rx.recv() {
                Ok(job) => job,
                Err(_) => return, // writer dropped
            },
            Err(_) => return,
        };
        let res = compressor
            .compress(&job.data)
            .map_err(|e| RepoError::io("compress chunk for", &job.dest, e))
            .and_then(|compressed| {
                fsutil::write_new(&job.tmp, &compressed)?;
                Ok(Written {
                    tmp: job.tmp,
                    dest: job.dest,
                    stored: compressed.len() as u64,
                })
            });
        if done.send(res).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup_repo::testutil::TempDir;

    #[test]
    fn put_read_dedup_and_corruption() {
        let tmp = TempDir::new("chunkstore");
        let store = ChunkStore::new(tmp.path().join("chunks"));
        let mut w = ChunkWriter::new(store.clone()).unwrap();
        let c = Chunk::new(b"hello hello hello hello".repeat(100));
        assert!(w.put(c.clone()).unwrap());
        // Same chunk in the same batch: not written twice.
        assert!(!w.put(c.clone()).unwrap());
        // Not visible before flush.
        assert!(!store.contains(&c.hash).unwrap());
        w.flush().unwrap();
        assert!(w.stored_bytes() > 0 && w.stored_bytes() < 200);
        assert!(store.contains(&c.hash).unwrap());
        assert!(!w.put(c.clone()).unwrap());
        assert_eq!(store.read(&c.hash).unwrap(), c.data);
        let stats = store.stats().unwrap();
        assert_eq!(stats.chunks, 1);

        // Flip a byte in the compressed file: read reports corruption.
        let path = store.path(&c.hash);
        let mut raw = fs::read(&path).unwrap();
        let last = raw.len() - 1;
        raw[last / 2] ^= 0x55;
        fs::write(&path, &raw).unwrap();
        match store.read(&c.hash) {
            Err(RepoError::CorruptChunk { hash, .. }) => assert_eq!(hash, c.hash),
            other => panic!("expected corruption, got {other:?}"),
        }

        // Valid zstd of other content under this name: hash mismatch.
        let other = zstd::bulk::compress(b"other", 3).unwrap();
        fs::write(&path, other).unwrap();
        assert!(matches!(
            store.read(&c.hash),
            Err(RepoError::CorruptChunk { .. })
        ));

        let missing = ChunkHash::of(b"nope");
        assert!(matches!(
            store.read(&missing),
            Err(RepoError::MissingChunk { .. })
        ));
    }

    #[test]
    fn unflushed_writer_leaves_only_temp_files() {
        let tmp = TempDir::new("chunkstore-kill");
        let store = ChunkStore::new(tmp.path().join("chunks"));
        let mut w = ChunkWriter::new(store.clone()).unwrap();
        w.put(Chunk::new(vec![1; 1000])).unwrap();
        w.put(Chunk::new(vec![2; 1000])).unwrap();
        drop(w);
        let (chunks, temps) = store.scan().unwrap();
        assert!(chunks.is_empty());
        assert_eq!(temps.len(), 2);
    }
}
