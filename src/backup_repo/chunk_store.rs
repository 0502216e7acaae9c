//! Content-addressed chunks stored in pack files: `packs/<2 hex>/<64 hex>.pack`.
//!
//! A pack is the stored bytes of its chunks back to back, followed by an
//! index (one 49-byte entry per chunk: BLAKE3 hash of the uncompressed bytes,
//! offset, stored length, uncompressed length, encoding), the entry count
//! (u32 LE) and the magic `CESOPAK2`. The pack's name is the BLAKE3 hash of
//! everything after the chunk data (index, count, magic), so a damaged index
//! is detected when the pack is loaded, and a damaged chunk when it is read
//! (its content no longer hashes to its id). Every byte of a pack is thus
//! covered by a hash.
//!
//! The store keeps an in-memory index chunk → (pack, offset, length), loaded
//! from the pack indexes when the repository is opened.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock, mpsc};
use std::thread;

use super::chunker::{Chunk, ChunkHash};
use super::error::{RepoError, Result};
use super::fsutil;

/// zstd level used for chunks.
pub const COMPRESSION_LEVEL: i32 = 1;

/// A writer closes its current pack once it holds this many bytes.
pub const PACK_TARGET_BYTES: u64 = 32 * 1024 * 1024;

/// Largest chunk the reader will decompress (FastCDC's maximum chunk size);
/// protects against a corrupt entry claiming a huge size.
const MAX_DECOMPRESSED: usize = 16 * 1024 * 1024;

const PACK_MAGIC: &[u8; 8] = b"CESOPAK2";
const PACK_SUFFIX: &str = ".pack";
const ENTRY_LEN: usize = 32 + 8 + 4 + 4 + 1;
const TRAILER_LEN: usize = 4 + PACK_MAGIC.len();

/// Bytes of a chunk compressed first to tell whether it compresses at all.
const PROBE_BYTES: usize = 4096;

/// Packs being made durable in the background by one writer, at most.
const MAX_FINISHING: usize = 2;

/// How a chunk's bytes are stored in its pack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// As is (zstd would not make it smaller).
    Raw = 0,
    /// One zstd frame.
    Zstd = 1,
}

/// Where a chunk is stored.
#[derive(Debug, Clone)]
pub struct Location {
    pub pack: Arc<PathBuf>,
    pub offset: u64,
    pub stored_len: u32,
    pub raw_len: u32,
    pub encoding: Encoding,
}

/// One index entry of a pack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackEntry {
    pub hash: ChunkHash,
    pub offset: u64,
    pub stored_len: u32,
    pub raw_len: u32,
    pub encoding: Encoding,
}

/// A pack file found on disk, with its index.
#[derive(Debug, Clone)]
pub struct PackInfo {
    pub path: PathBuf,
    pub size: u64,
    pub entries: Vec<PackEntry>,
}

/// A pack whose index cannot be read (its chunks count as missing).
#[derive(Debug, Clone)]
pub struct BrokenPack {
    pub path: PathBuf,
    pub reason: String,
}

/// A leftover temporary file found in the pack directories.
#[derive(Debug, Clone)]
pub struct TempFile {
    pub path: PathBuf,
    pub size: u64,
}

/// Totals of the pack directory.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Chunks in packs.
    pub chunks: u64,
    /// Bytes of pack files on disk.
    pub bytes: u64,
}

/// Contents of the pack directories.
#[derive(Debug, Clone, Default)]
pub struct Scan {
    /// Sorted by path.
    pub packs: Vec<PackInfo>,
    pub broken: Vec<BrokenPack>,
    pub temps: Vec<TempFile>,
}

#[derive(Debug, Default)]
struct Index {
    chunks: HashMap<ChunkHash, Location>,
    /// Packs loaded (or written by this process), by path.
    packs: HashSet<PathBuf>,
}

/// Read access to the packs, the in-memory index, and listing/removal for gc.
#[derive(Debug, Clone)]
pub struct ChunkStore {
    root: PathBuf,
    index: Arc<RwLock<Index>>,
}

fn encode_index(entries: &[PackEntry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.len() * ENTRY_LEN + TRAILER_LEN);
    for e in entries {
        out.extend_from_slice(&e.hash.0);
        out.extend_from_slice(&e.offset.to_le_bytes());
        out.extend_from_slice(&e.stored_len.to_le_bytes());
        out.extend_from_slice(&e.raw_len.to_le_bytes());
        out.push(e.encoding as u8);
    }
    out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
    out.extend_from_slice(PACK_MAGIC);
    out
}

/// Size of a pack holding chunks of `data_bytes` stored bytes in `n` entries.
fn pack_size(data_bytes: u64, n: usize) -> u64 {
    data_bytes + (n * ENTRY_LEN + TRAILER_LEN) as u64
}

fn le_u32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_le_bytes(a)
}

fn le_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

/// Reads and checks a pack's index. `Err(reason)` for a damaged pack.
fn read_pack_index(
    path: &Path,
    name_hash: &ChunkHash,
) -> Result<std::result::Result<PackInfo, String>> {
    let mut f = File::open(path).map_err(|e| RepoError::io("open", path, e))?;
    let size = f
        .metadata()
        .map_err(|e| RepoError::io("stat", path, e))?
        .len();
    if size < TRAILER_LEN as u64 {
        return Ok(Err(format!("{size} bytes is too short for a pack")));
    }
    let mut trailer = [0u8; TRAILER_LEN];
    f.seek(SeekFrom::Start(size - TRAILER_LEN as u64))
        .and_then(|_| f.read_exact(&mut trailer))
        .map_err(|e| RepoError::io("read", path, e))?;
    if &trailer[4..] != PACK_MAGIC {
        return Ok(Err("no pack trailer (bad magic)".into()));
    }
    let n = le_u32(&trailer) as usize;
    let index_len = (n * ENTRY_LEN) as u64;
    if index_len + TRAILER_LEN as u64 > size {
        return Ok(Err(format!(
            "index of {n} entries does not fit in {size} bytes"
        )));
    }
    let data_len = size - TRAILER_LEN as u64 - index_len;
    let mut tail = vec![0u8; index_len as usize + TRAILER_LEN];
    f.seek(SeekFrom::Start(data_len))
        .and_then(|_| f.read_exact(&mut tail))
        .map_err(|e| RepoError::io("read", path, e))?;
    if ChunkHash::of(&tail) != *name_hash {
        return Ok(Err("index does not match the pack's name (damaged)".into()));
    }
    let mut entries = Vec::with_capacity(n);
    let mut expect = 0u64;
    for raw in tail[..index_len as usize].chunks_exact(ENTRY_LEN) {
        let mut hash = [0u8; 32];
        hash.copy_from_slice(&raw[..32]);
        let e = PackEntry {
            hash: ChunkHash(hash),
            offset: le_u64(&raw[32..]),
            stored_len: le_u32(&raw[40..]),
            raw_len: le_u32(&raw[44..]),
            encoding: match raw[48] {
                0 => Encoding::Raw,
                1 => Encoding::Zstd,
                x => return Ok(Err(format!("unknown chunk encoding {x}"))),
            },
        };
        if e.offset != expect {
            return Ok(Err("index entries do not tile the pack".into()));
        }
        expect += u64::from(e.stored_len);
        entries.push(e);
    }
    if expect != data_len {
        return Ok(Err("index entries do not tile the pack".into()));
    }
    Ok(Ok(PackInfo {
        path: path.to_path_buf(),
        size,
        entries,
    }))
}

impl ChunkStore {
    /// `root` is the `packs` directory. The index starts empty: call
    /// [`reload`](Self::reload) for an existing repository.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        ChunkStore {
            root: root.into(),
            index: Arc::new(RwLock::new(Index::default())),
        }
    }

    /// Opens the store and loads the index of every pack.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let store = Self::new(root);
        store.reload()?;
        Ok(store)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn read_index(&self) -> std::sync::RwLockReadGuard<'_, Index> {
        self.index.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write_index(&self) -> std::sync::RwLockWriteGuard<'_, Index> {
        self.index.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Rebuilds the in-memory index from the packs on disk (picks up packs
    /// written by other processes, forgets removed ones).
    pub fn reload(&self) -> Result<()> {
        let scan = self.scan()?;
        let mut index = Index::default();
        for p in scan.packs {
            let pack = Arc::new(p.path.clone());
            for e in &p.entries {
                index.chunks.entry(e.hash).or_insert_with(|| Location {
                    pack: Arc::clone(&pack),
                    offset: e.offset,
                    stored_len: e.stored_len,
                    raw_len: e.raw_len,
                    encoding: e.encoding,
                });
            }
            index.packs.insert(p.path);
        }
        *self.write_index() = index;
        Ok(())
    }

    fn publish(&self, pack: &Path, entries: &[PackEntry]) {
        let pack = Arc::new(pack.to_path_buf());
        let mut index = self.write_index();
        for e in entries {
            index.chunks.entry(e.hash).or_insert_with(|| Location {
                pack: Arc::clone(&pack),
                offset: e.offset,
                stored_len: e.stored_len,
                raw_len: e.raw_len,
                encoding: e.encoding,
            });
        }
        index.packs.insert(pack.to_path_buf());
    }

    /// Whether the index knows the chunk (in a durable pack).
    pub fn contains(&self, hash: &ChunkHash) -> Result<bool> {
        Ok(self.read_index().chunks.contains_key(hash))
    }

    /// Where the chunk is stored, if known.
    pub fn locate(&self, hash: &ChunkHash) -> Option<Location> {
        self.read_index().chunks.get(hash).cloned()
    }

    /// Path named in errors about a chunk: its pack, or the pack directory.
    pub fn path(&self, hash: &ChunkHash) -> PathBuf {
        self.locate(hash)
            .map_or_else(|| self.root.clone(), |l| l.pack.as_ref().clone())
    }

    fn pack_path(&self, name: &ChunkHash) -> PathBuf {
        self.root
            .join(hex::encode(&name.0[..1]))
            .join(format!("{}{PACK_SUFFIX}", name.to_hex()))
    }

    /// Reads, decompresses and verifies a chunk. Errors with
    /// [`RepoError::MissingChunk`] or [`RepoError::CorruptChunk`].
    pub fn read(&self, hash: &ChunkHash) -> Result<Vec<u8>> {
        let loc = match self.locate(hash) {
            Some(l) => l,
            None => {
                // Maybe in a pack another process wrote since we loaded.
                self.reload()?;
                self.locate(hash).ok_or_else(|| RepoError::MissingChunk {
                    hash: *hash,
                    path: self.root.clone(),
                })?
            }
        };
        let path = loc.pack.as_ref();
        let corrupt = |reason: String| RepoError::CorruptChunk {
            hash: *hash,
            path: path.clone(),
            reason,
        };
        let mut f = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(RepoError::MissingChunk {
                    hash: *hash,
                    path: path.clone(),
                });
            }
            Err(e) => return Err(RepoError::io("open", path, e)),
        };
        let mut stored = vec![0u8; loc.stored_len as usize];
        f.seek(SeekFrom::Start(loc.offset))
            .and_then(|_| f.read_exact(&mut stored))
            .map_err(|e| RepoError::io("read", path, e))?;
        let data = match loc.encoding {
            Encoding::Raw => stored,
            Encoding::Zstd => {
                zstd::bulk::decompress(&stored, MAX_DECOMPRESSED.min(loc.raw_len as usize))
                    .map_err(|e| {
                        corrupt(format!("cannot decompress {} bytes: {e}", stored.len()))
                    })?
            }
        };
        let actual = ChunkHash::of(&data);
        if actual != *hash {
            return Err(corrupt(format!("content hashes to {actual}")));
        }
        Ok(data)
    }

    /// Walks the pack directories: packs (with their indexes), damaged
    /// packs, and leftover temp files. Other files are left alone.
    pub fn scan(&self) -> Result<Scan> {
        let mut scan = Scan::default();
        for (dname, dpath, dmeta) in fsutil::list_dir(&self.root)? {
            if fsutil::is_temp_name(&dname) && dmeta.is_file() {
                scan.temps.push(TempFile {
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
                    scan.temps.push(TempFile {
                        path,
                        size: meta.len(),
                    });
                    continue;
                }
                let Some(stem) = name.strip_suffix(PACK_SUFFIX) else {
                    continue;
                };
                let Ok(id) = stem.parse::<ChunkHash>() else {
                    continue;
                };
                if hex::encode(&id.0[..1]) != dname {
                    continue;
                }
                match read_pack_index(&path, &id) {
                    Ok(Ok(p)) => scan.packs.push(p),
                    Ok(Err(reason)) => scan.broken.push(BrokenPack { path, reason }),
                    // Removed meanwhile (e.g. by gc in another process).
                    Err(RepoError::Io { source, .. })
                        if source.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
        }
        scan.packs.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(scan)
    }

    /// Number of chunks and pack bytes on disk.
    pub fn stats(&self) -> Result<StoreStats> {
        let scan = self.scan()?;
        Ok(StoreStats {
            chunks: scan.packs.iter().map(|p| p.entries.len() as u64).sum(),
            bytes: scan.packs.iter().map(|p| p.size).sum(),
        })
    }

    /// Size a rewrite of `pack` keeping `keep` entries would have.
    pub fn rewritten_size(pack: &PackInfo, keep: &[PackEntry]) -> u64 {
        let _ = pack;
        pack_size(
            keep.iter().map(|e| u64::from(e.stored_len)).sum(),
            keep.len(),
        )
    }

    /// Writes a new pack with the `keep` entries of `pack` (stored bytes
    /// copied as they are: a damaged chunk stays detectably damaged), makes
    /// it durable, then removes `pack`. A crash in between leaves both (the
    /// chunks are then stored twice until the next gc).
    pub fn rewrite_pack(&self, pack: &PackInfo, keep: &[PackEntry]) -> Result<()> {
        if !keep.is_empty() {
            let mut src =
                File::open(&pack.path).map_err(|e| RepoError::io("open", &pack.path, e))?;
            let mut out = PackFile::create(&self.root)?;
            for e in keep {
                let mut buf = vec![0u8; e.stored_len as usize];
                src.seek(SeekFrom::Start(e.offset))
                    .and_then(|_| src.read_exact(&mut buf))
                    .map_err(|err| RepoError::io("read", &pack.path, err))?;
                out.append(e.hash, &buf, e.raw_len, e.encoding)?;
            }
            let done = out.finish(self)?;
            let done = done.make_durable()?;
            if done.path == pack.path {
                // Same content (nothing dropped): nothing to remove.
                return Ok(());
            }
        }
        self.remove_file(&pack.path)?;
        if let Some(dir) = pack.path.parent() {
            fsutil::sync_dir(dir)?;
        }
        Ok(())
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

/// A pack being written to its temp file.
struct PackFile {
    file: File,
    tmp: PathBuf,
    entries: Vec<PackEntry>,
    len: u64,
}

/// A complete pack in its temp file, not yet durable.
struct FinishedPack {
    file: File,
    tmp: PathBuf,
    path: PathBuf,
    entries: Vec<PackEntry>,
    root: PathBuf,
}

/// A pack durable under its final name.
struct DurablePack {
    path: PathBuf,
    entries: Vec<PackEntry>,
}

impl PackFile {
    fn create(root: &Path) -> Result<PackFile> {
        fsutil::ensure_dir(root)?;
        let tmp = fsutil::temp_path(root, "pack");
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| RepoError::io("create", &tmp, e))?;
        Ok(PackFile {
            file,
            tmp,
            entries: Vec::new(),
            len: 0,
        })
    }

    fn append(
        &mut self,
        hash: ChunkHash,
        stored: &[u8],
        raw_len: u32,
        encoding: Encoding,
    ) -> Result<()> {
        self.file
            .write_all(stored)
            .map_err(|e| RepoError::io("write", &self.tmp, e))?;
        self.entries.push(PackEntry {
            hash,
            offset: self.len,
            stored_len: stored.len() as u32,
            raw_len,
            encoding,
        });
        self.len += stored.len() as u64;
        Ok(())
    }

    /// Writes the index; the pack's name follows from it.
    fn finish(mut self, store: &ChunkStore) -> Result<FinishedPack> {
        let tail = encode_index(&self.entries);
        self.file
            .write_all(&tail)
            .map_err(|e| RepoError::io("write", &self.tmp, e))?;
        Ok(FinishedPack {
            file: self.file,
            path: store.pack_path(&ChunkHash::of(&tail)),
            tmp: self.tmp,
            entries: self.entries,
            root: store.root.clone(),
        })
    }
}

impl FinishedPack {
    /// fsync, rename into place, fsync of the directory (and of the pack
    /// root when the directory is new).
    fn make_durable(self) -> Result<DurablePack> {
        self.file
            .sync_all()
            .map_err(|e| RepoError::io("fsync", &self.tmp, e))?;
        drop(self.file);
        let dir = self.path.parent().unwrap_or(&self.root).to_path_buf();
        let new_dir = !dir.is_dir();
        if new_dir {
            fsutil::ensure_dir(&dir)?;
        }
        fs::rename(&self.tmp, &self.path)
            .map_err(|e| RepoError::io("rename into place", &self.path, e))?;
        fsutil::sync_dir(&dir)?;
        if new_dir {
            fsutil::sync_dir(&self.root)?;
        }
        Ok(DurablePack {
            path: self.path,
            entries: self.entries,
        })
    }
}

/// A chunk to compress.
struct Job {
    chunk: Chunk,
}

/// A chunk ready to append to a pack.
struct Encoded {
    hash: ChunkHash,
    /// The stored bytes (the chunk itself when raw).
    stored: Vec<u8>,
    raw_len: u32,
    encoding: Encoding,
}

/// Adds chunks to a store, skipping those already present.
///
/// New chunks are compressed by a few worker threads (in parallel with the
/// caller's chunking and hashing) and appended to a pack in a temp file.
/// When the pack reaches [`PACK_TARGET_BYTES`] its index is written and it
/// is made durable in the background (fsync, rename into place, directory
/// fsync) while the next pack fills. [`flush`](Self::flush) closes the
/// current pack and waits until every pack is durable; only then are the
/// chunks visible in the store's index. A writer that is killed leaves a
/// temp file and possibly complete packs no manifest references, both
/// removed by gc. Memory is bounded: the job queue holds at most
/// `2 × workers` chunks.
pub struct ChunkWriter {
    store: ChunkStore,
    jobs: Option<mpsc::SyncSender<Job>>,
    done: mpsc::Receiver<Result<Encoded>>,
    workers: Vec<thread::JoinHandle<()>>,
    in_flight: usize,
    open: Option<PackFile>,
    finishing: Vec<thread::JoinHandle<Result<DurablePack>>>,
    durable: Vec<DurablePack>,
    /// Hashes put since the last flush (not yet visible in the store).
    pending_hashes: HashSet<ChunkHash>,
    /// Stored bytes of the chunks written by this writer so far.
    stored_bytes: u64,
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
            open: None,
            finishing: Vec::new(),
            durable: Vec::new(),
            pending_hashes: HashSet::new(),
            stored_bytes: 0,
        })
    }

    fn stopped(&self) -> RepoError {
        RepoError::io(
            "write chunks to",
            self.store.root(),
            io::Error::other("chunk writer threads stopped"),
        )
    }

    /// Stored bytes written so far (call [`wait`](Self::wait) first for
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
        let hash = chunk.hash;
        let sent = match &self.jobs {
            Some(tx) => tx.send(Job { chunk }).is_ok(),
            None => false,
        };
        if !sent {
            // A worker failed and they all stopped: report its error if any.
            self.collect(true)?;
            return Err(self.stopped());
        }
        self.in_flight += 1;
        self.pending_hashes.insert(hash);
        Ok(true)
    }

    fn append(&mut self, enc: Encoded) -> Result<()> {
        let pack = match &mut self.open {
            Some(p) => p,
            None => self.open.insert(PackFile::create(self.store.root())?),
        };
        pack.append(enc.hash, &enc.stored, enc.raw_len, enc.encoding)?;
        self.stored_bytes += enc.stored.len() as u64;
        if pack.len >= PACK_TARGET_BYTES {
            self.close_pack()?;
        }
        Ok(())
    }

    /// Writes the open pack's index and starts making it durable.
    fn close_pack(&mut self) -> Result<()> {
        let Some(pack) = self.open.take() else {
            return Ok(());
        };
        let finished = pack.finish(&self.store)?;
        while self.finishing.len() >= MAX_FINISHING {
            let h = self.finishing.remove(0);
            let d = join_finishing(h, self.store.root())?;
            self.durable.push(d);
        }
        let handle = thread::Builder::new()
            .name("ceso-pack-sync".into())
            .spawn(move || finished.make_durable())
            .map_err(|e| RepoError::io("start pack sync thread for", self.store.root(), e))?;
        self.finishing.push(handle);
        Ok(())
    }

    /// Gathers compressed chunks and appends them to the open pack; with
    /// `wait_all`, until none is in flight.
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
            self.append(msg?)?;
        }
        Ok(())
    }

    /// Waits until every chunk put so far is written to a pack file.
    pub fn wait(&mut self) -> Result<()> {
        self.collect(true)
    }

    /// Makes every chunk put so far durable and visible in the store.
    pub fn flush(&mut self) -> Result<()> {
        self.collect(true)?;
        self.close_pack()?;
        for h in std::mem::take(&mut self.finishing) {
            let d = join_finishing(h, self.store.root())?;
            self.durable.push(d);
        }
        for d in std::mem::take(&mut self.durable) {
            self.store.publish(&d.path, &d.entries);
        }
        self.pending_hashes.clear();
        Ok(())
    }
}

fn join_finishing(h: thread::JoinHandle<Result<DurablePack>>, root: &Path) -> Result<DurablePack> {
    h.join().unwrap_or_else(|_| {
        Err(RepoError::io(
            "write pack in",
            root,
            io::Error::other("pack sync thread panicked"),
        ))
    })
}

impl Drop for ChunkWriter {
    /// Abandons what was not flushed: stops the workers, drops their output
    /// and removes the open temp pack (a killed writer leaves one for gc).
    /// Packs already closed are still made durable, but nothing references
    /// them until a later backup does (or prune removes them).
    fn drop(&mut self) {
        self.jobs = None;
        for h in self.workers.drain(..) {
            let _ = h.join();
        }
        while self.done.try_recv().is_ok() {}
        if let Some(p) = self.open.take() {
            drop(p.file);
            let _ = fs::remove_file(&p.tmp);
        }
        for h in self.finishing.drain(..) {
            let _ = h.join();
        }
    }
}

fn worker(
    jobs: Arc<Mutex<mpsc::Receiver<Job>>>,
    done: mpsc::Sender<Result<Encoded>>,
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
        let Chunk { data, hash } = job.chunk;
        let raw_len = data.len() as u32;
        // Cheap probe: when the chunk's first bytes do not compress at all
        // (random or already compressed data), store it raw without
        // compressing the whole chunk.
        let incompressible = data.len() > 2 * PROBE_BYTES
            && compressor
                .compress(&data[..PROBE_BYTES])
                .is_ok_and(|c| c.len() >= PROBE_BYTES);
        let res = if incompressible {
            Ok(Encoded {
                hash,
                stored: data,
                raw_len,
                encoding: Encoding::Raw,
            })
        } else {
            compress(&mut compressor, data, hash, raw_len, &root)
        };
        if done.send(res).is_err() {
            return;
        }
    }
}

fn compress(
    compressor: &mut zstd::bulk::Compressor<'_>,
    data: Vec<u8>,
    hash: ChunkHash,
    raw_len: u32,
    root: &Path,
) -> Result<Encoded> {
    {
        compressor
            .compress(&data)
            .map_err(|e| RepoError::io("compress chunk for", root, e))
            .map(|compressed| {
                if compressed.len() < data.len() {
                    Encoded {
                        hash,
                        stored: compressed,
                        raw_len,
                        encoding: Encoding::Zstd,
                    }
                } else {
                    // Incompressible: keep the bytes as they are (no
                    // decompression on read either).
                    Encoded {
                        hash,
                        stored: data,
                        raw_len,
                        encoding: Encoding::Raw,
                    }
                }
            })
    }
}

/// Every chunk of every pack, with the pack it is read from (the first pack
/// holding it, in path order) marked as `owner`.
pub fn owners(packs: &[PackInfo]) -> HashMap<ChunkHash, usize> {
    let mut owner = HashMap::new();
    for (i, p) in packs.iter().enumerate() {
        for e in &p.entries {
            owner.entry(e.hash).or_insert(i);
        }
    }
    owner
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup_repo::testutil::TempDir;

    /// Flips one byte in the middle of a chunk's stored bytes.
    pub(crate) fn flip_chunk_byte(store: &ChunkStore, hash: &ChunkHash) {
        let loc = store.locate(hash).unwrap();
        let mut raw = fs::read(loc.pack.as_ref()).unwrap();
        raw[(loc.offset + u64::from(loc.stored_len) / 2) as usize] ^= 0x55;
        fs::write(loc.pack.as_ref(), &raw).unwrap();
    }

    #[test]
    fn put_read_dedup_and_corruption() {
        let tmp = TempDir::new("chunkstore");
        let store = ChunkStore::new(tmp.path().join("packs"));
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
        // Incompressible chunks are stored raw and read back the same.
        let r = Chunk::new(crate::backup_repo::testutil::Prng::new(9).bytes(5000));
        assert!(w.put(r.clone()).unwrap());
        w.flush().unwrap();
        assert_eq!(store.locate(&r.hash).unwrap().encoding, Encoding::Raw);
        assert_eq!(store.read(&r.hash).unwrap(), r.data);
        let stats = store.stats().unwrap();
        assert_eq!(stats.chunks, 2);
        // A fresh store finds the chunks through the pack indexes.
        let reopened = ChunkStore::open(tmp.path().join("packs")).unwrap();
        assert_eq!(reopened.read(&c.hash).unwrap(), c.data);

        // Flip a byte in the stored chunk: read reports corruption.
        for h in [c.hash, r.hash] {
            flip_chunk_byte(&store, &h);
            match store.read(&h) {
                Err(RepoError::CorruptChunk { hash, .. }) => assert_eq!(hash, h),
                other => panic!("expected corruption, got {other:?}"),
            }
        }

        let missing = ChunkHash::of(b"nope");
        assert!(matches!(
            store.read(&missing),
            Err(RepoError::MissingChunk { .. })
        ));

        // A flipped byte in a pack's index: the pack is reported damaged.
        let pack = store.locate(&c.hash).unwrap().pack;
        let mut raw = fs::read(pack.as_ref()).unwrap();
        let last = raw.len() - TRAILER_LEN - 3;
        raw[last] ^= 0x01;
        fs::write(pack.as_ref(), &raw).unwrap();
        let scan = store.scan().unwrap();
        assert_eq!(scan.broken.len(), 1, "{scan:?}");
        assert_eq!(scan.broken[0].path, *pack);
    }

    #[test]
    fn a_dropped_writer_removes_its_unflushed_temp_pack() {
        let tmp = TempDir::new("chunkstore-abandon");
        let store = ChunkStore::new(tmp.path().join("packs"));
        let mut w = ChunkWriter::new(store.clone()).unwrap();
        w.put(Chunk::new(vec![1; 1000])).unwrap();
        w.put(Chunk::new(vec![2; 1000])).unwrap();
        drop(w);
        let scan = store.scan().unwrap();
        assert!(scan.packs.is_empty());
        assert!(scan.temps.is_empty(), "{:?}", scan.temps);
        assert!(!store.contains(&ChunkHash::of(&[1; 1000])).unwrap());
    }
}
