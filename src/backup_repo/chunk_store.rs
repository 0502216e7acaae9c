//! Content-addressed chunk files: `chunks/<2 hex>/<64 hex>`, each one zstd
//! frame of the chunk's bytes, named by the BLAKE3 hash of those bytes.

use std::collections::{BTreeSet, HashSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

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

/// What [`ChunkWriter::put`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    /// The chunk was already stored (or is waiting in this writer's batch).
    Existing,
    /// The chunk was new; its compressed size.
    New { stored_bytes: u64 },
}

/// Adds chunks to a store, skipping those already present.
///
/// Each new chunk is compressed and written to a temp file next to its final
/// name. Every [`BATCH_BYTES`] (or on [`flush`](Self::flush)) the batch is
/// made durable: fsync of every temp file, rename into place, fsync of the
/// touched directories. A chunk is thus never visible under its final name
/// before its content is on stable storage. A writer that is killed leaves
/// temp files and unreferenced chunks, both removed by gc.
pub struct ChunkWriter {
    store: ChunkStore,
    compressor: zstd::bulk::Compressor<'static>,
    /// (temp path, final path) of chunks written but not yet renamed.
    pending: Vec<(PathBuf, PathBuf)>,
    pending_hashes: HashSet<ChunkHash>,
    pending_bytes: u64,
    created_dirs: bool,
}

impl ChunkWriter {
    pub fn new(store: ChunkStore) -> Result<Self> {
        let compressor = zstd::bulk::Compressor::new(COMPRESSION_LEVEL)
            .map_err(|e| RepoError::io("create zstd compressor for", store.root(), e))?;
        Ok(ChunkWriter {
            store,
            compressor,
            pending: Vec::new(),
            pending_hashes: HashSet::new(),
            pending_bytes: 0,
            created_dirs: false,
        })
    }

    /// Stores `chunk` unless it already exists.
    pub fn put(&mut self, chunk: &Chunk) -> Result<PutOutcome> {
        if self.pending_hashes.contains(&chunk.hash) || self.store.contains(&chunk.hash)? {
            return Ok(PutOutcome::Existing);
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
        let compressed = self
            .compressor
            .compress(&chunk.data)
            .map_err(|e| RepoError::io("compress chunk for", &dest, e))?;
        let tmp = fsutil::temp_path(&dir, &chunk.hash.to_hex());
        fsutil::write_new(&tmp, &compressed)?;
        let stored = compressed.len() as u64;
        self.pending.push((tmp, dest));
        self.pending_hashes.insert(chunk.hash);
        self.pending_bytes += stored;
        if self.pending_bytes >= BATCH_BYTES || self.pending.len() >= BATCH_FILES {
            self.flush()?;
        }
        Ok(PutOutcome::New {
            stored_bytes: stored,
        })
    }

    /// Makes every chunk put so far durable and visible under its final name.
    pub fn flush(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let temps: Vec<&Path> = self.pending.iter().map(|(t, _)| t.as_path()).collect();
        fsutil::sync_all_parallel(&temps, fsutil::sync_file)?;
        let mut dirs = BTreeSet::new();
        for (tmp, dest) in &self.pending {
            fs::rename(tmp, dest).map_err(|e| RepoError::io("rename into place", dest, e))?;
            if let Some(d) = dest.parent() {
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
        let first = w.put(&c).unwrap();
        assert!(matches!(first, PutOutcome::New { stored_bytes } if stored_bytes < 200));
        // Same chunk in the same batch: not written twice.
        assert_eq!(w.put(&c).unwrap(), PutOutcome::Existing);
        // Not visible before flush.
        assert!(!store.contains(&c.hash).unwrap());
        w.flush().unwrap();
        assert!(store.contains(&c.hash).unwrap());
        assert_eq!(w.put(&c).unwrap(), PutOutcome::Existing);
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
        w.put(&Chunk::new(vec![1; 1000])).unwrap();
        w.put(&Chunk::new(vec![2; 1000])).unwrap();
        drop(w);
        let (chunks, temps) = store.scan().unwrap();
        assert!(chunks.is_empty());
        assert_eq!(temps.len(), 2);
    }
}
