//! The repository: a directory of chunks and manifests, and the operations
//! on it (backup writing, restore reading, listing, delete, gc, prune).

use std::collections::HashSet;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};

use super::chunk_store::{ChunkStore, ChunkWriter, PackEntry, StoreStats, owners};
use super::chunker::{Chunk, ChunkHash, ChunkerParams, StreamChunker, ZeroRun, chunk_all};
use super::disk_map::{ChunkRef, DiskMap, Extent, splice};
use super::error::{RepoError, Result};
use super::fsutil::{self, LockMode, RepoLock};
use super::manifest::{
    self, BackupKind, BackupMode, BackupStats, DiskEntry, FileEntry, MANIFEST_FORMAT,
    MANIFEST_SUFFIX, Manifest, ManifestSummary, VmInfo,
};
use super::retention::{RetentionDecision, RetentionInput, RetentionPolicy, apply_policy};

/// Name of the marker file that makes a directory a repository.
pub const REPO_MARKER: &str = "ceso-repo.json";
/// Repository format version written by this build.
pub const REPO_FORMAT: u32 = 2;
const REPO_KIND: &str = "ceso-backup-repository";
const PACKS_DIR: &str = "packs";
const BACKUPS_DIR: &str = "backups";
const LOCK_FILE: &str = "lock";
/// The last creation sequence number given out (see `Manifest::seq`).
const SEQUENCE_FILE: &str = "sequence";
const SEQUENCE_LOCK: &str = "sequence.lock";

/// Contents of `ceso-repo.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoConfig {
    /// Always `"ceso-backup-repository"`.
    pub kind: String,
    /// [`REPO_FORMAT`] when created.
    pub version: u32,
    /// Random id of this repository.
    pub id: String,
    #[serde(with = "manifest::rfc3339")]
    pub created: DateTime<Utc>,
    /// Chunk sizes every writer must use (dedup depends on it).
    pub chunker: ChunkerParams,
    /// Informational: `"zstd"`.
    pub chunk_compression: String,
}

/// An open repository. Cheap to share by reference; every operation takes
/// the repository lock it needs (shared or exclusive, see the module docs).
#[derive(Debug)]
pub struct Repository {
    root: PathBuf,
    config: RepoConfig,
    store: ChunkStore,
}

/// A manifest that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokenManifest {
    pub id: String,
    pub error: String,
}

/// Result of [`Repository::list`].
#[derive(Debug, Clone, Default)]
pub struct Listing {
    /// Oldest first.
    pub backups: Vec<ManifestSummary>,
    /// Manifests that exist but cannot be read (reported, not fatal).
    pub broken: Vec<BrokenManifest>,
}

/// What [`Repository::gc`] removed (or would remove, in a dry run).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GcReport {
    pub dry_run: bool,
    /// Chunks in packs before.
    pub chunks_total: u64,
    /// Unreferenced (or duplicate) chunks removed.
    pub chunks_removed: u64,
    /// Pack bytes freed (removed packs, and what rewriting packs saved).
    pub bytes_freed: u64,
    /// Packs removed (no live chunk left).
    pub packs_removed: u64,
    /// Packs rewritten without their dead chunks.
    pub packs_rewritten: u64,
    /// Leftover temp files (killed writers) removed.
    pub temp_files_removed: u64,
    pub temp_bytes_freed: u64,
}

/// What [`Repository::prune`] did (or would do).
#[derive(Debug, Clone, Default)]
pub struct PruneReport {
    pub dry_run: bool,
    /// One decision per backup considered, with reasons.
    pub decisions: Vec<RetentionDecision>,
    /// Ids of the backups removed.
    pub removed: Vec<String>,
    pub gc: GcReport,
}

/// Describes a backup about to be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupMeta {
    pub vm: VmInfo,
    pub kind: BackupKind,
    pub mode: BackupMode,
    pub quiesced: bool,
    /// Backup this one is based on (incremental), informational.
    pub parent: Option<String>,
    /// Creation time (full precision); `new` uses now.
    pub created: DateTime<Utc>,
}

impl BackupMeta {
    pub fn new(vm: VmInfo, kind: BackupKind, mode: BackupMode) -> Self {
        BackupMeta {
            vm,
            kind,
            mode,
            quiesced: false,
            parent: None,
            created: Utc::now(),
        }
    }
}

/// Describes one disk being written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskInfo {
    pub key: i32,
    pub label: String,
    pub datastore_path: String,
    pub capacity: u64,
    pub change_id: Option<String>,
}

/// Counters of one disk written by a [`DiskWriter`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiskWriteStats {
    /// Bytes pushed (read from the source).
    pub bytes_read: u64,
    /// Bytes recorded as zeros without reading (gaps of a full backup,
    /// growth of an incremental not covered by any range).
    pub bytes_zero_filled: u64,
    /// Bytes of parent chunks read from the repository to complete chunks
    /// around changed ranges (incremental with exact CBT extents).
    pub bytes_from_parent: u64,
    /// Ranges written.
    pub ranges: u64,
    /// Chunks in the resulting map.
    pub chunks: u64,
    /// Chunks that were new to the repository.
    pub chunks_new: u64,
    /// Their compressed size.
    pub bytes_new: u64,
}

impl Repository {
    /// Creates a new repository at `path`, which must not exist or be an empty
    /// directory.
    pub fn create(path: impl AsRef<Path>) -> Result<Repository> {
        Self::create_with(path, ChunkerParams::default())
    }

    /// Like [`create`](Self::create) with explicit chunk sizes.
    pub fn create_with(path: impl AsRef<Path>, chunker: ChunkerParams) -> Result<Repository> {
        let root = path.as_ref().to_path_buf();
        chunker
            .validate()
            .map_err(|e| RepoError::invalid(root.join(REPO_MARKER), e))?;
        match fs::read_dir(&root) {
            Ok(mut rd) => {
                if rd.next().is_some() {
                    let reason = if root.join(REPO_MARKER).exists() {
                        "it already is one".to_string()
                    } else {
                        format!("directory is not empty and has no {REPO_MARKER}")
                    };
                    return Err(RepoError::NotARepository {
                        path: root,
                        reason: format!("cannot create a repository here: {reason}"),
                    });
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => fsutil::ensure_dir(&root)?,
            Err(e) if e.kind() == io::ErrorKind::NotADirectory => {
                return Err(RepoError::NotARepository {
                    path: root,
                    reason: "it is a file, not a directory".into(),
                });
            }
            Err(e) => return Err(RepoError::io("list directory", root, e)),
        }
        let config = RepoConfig {
            kind: REPO_KIND.into(),
            version: REPO_FORMAT,
            id: uuid::Uuid::new_v4().to_string(),
            created: Utc::now().trunc_subsecs(0),
            chunker,
            chunk_compression: "zstd".into(),
        };
        fsutil::ensure_dir(&root.join(PACKS_DIR))?;
        fsutil::ensure_dir(&root.join(BACKUPS_DIR))?;
        let json = serde_json::to_vec_pretty(&config)
            .map_err(|e| RepoError::invalid(root.join(REPO_MARKER), e.to_string()))?;
        // The marker is written last: a crash before leaves an empty-ish
        // directory without marker, which `create` refuses; the user removes it.
        fsutil::write_atomic(&root, REPO_MARKER, &json)?;
        fsutil::sync_dir(&root)?;
        Ok(Repository {
            store: ChunkStore::new(root.join(PACKS_DIR)),
            root,
            config,
        })
    }

    /// Opens an existing repository and loads its pack indexes.
    pub fn open(path: impl AsRef<Path>) -> Result<Repository> {
        let root = path.as_ref().to_path_buf();
        let marker = root.join(REPO_MARKER);
        let bytes = match fs::read(&marker) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let reason = if root.is_dir() {
                    format!("{REPO_MARKER} not found")
                } else {
                    "no such directory".to_string()
                };
                return Err(RepoError::NotARepository { path: root, reason });
            }
            Err(e) => return Err(RepoError::io("read", marker, e)),
        };
        let config: RepoConfig = serde_json::from_slice(&bytes)
            .map_err(|e| RepoError::invalid(&marker, format!("not a repository marker: {e}")))?;
        if config.kind != REPO_KIND {
            return Err(RepoError::invalid(
                &marker,
                format!("kind is {:?}, expected {REPO_KIND:?}", config.kind),
            ));
        }
        if config.version != 0 && config.version < REPO_FORMAT {
            return Err(RepoError::OutdatedRepository {
                path: marker,
                found: config.version,
                supported: REPO_FORMAT,
            });
        }
        if config.version > REPO_FORMAT || config.version == 0 {
            return Err(RepoError::UnsupportedVersion {
                path: marker,
                found: config.version,
                supported: REPO_FORMAT,
            });
        }
        config
            .chunker
            .validate()
            .map_err(|e| RepoError::invalid(&marker, e))?;
        Ok(Repository {
            store: ChunkStore::open(root.join(PACKS_DIR))?,
            root,
            config,
        })
    }

    /// Opens the repository at `path`, creating it if `path` does not exist
    /// or is an empty directory. Refuses a non-empty directory that is not a
    /// repository.
    pub fn init_or_open(path: impl AsRef<Path>) -> Result<Repository> {
        let path = path.as_ref();
        if path.join(REPO_MARKER).exists() {
            Self::open(path)
        } else {
            Self::create(path)
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn config(&self) -> &RepoConfig {
        &self.config
    }

    pub fn chunk_store(&self) -> &ChunkStore {
        &self.store
    }

    fn backups_dir(&self) -> PathBuf {
        self.root.join(BACKUPS_DIR)
    }

    /// Path of a backup's manifest.
    pub fn manifest_path(&self, id: &str) -> PathBuf {
        self.backups_dir().join(format!("{id}{MANIFEST_SUFFIX}"))
    }

    fn lock(&self, mode: LockMode, what: &'static str) -> Result<RepoLock> {
        RepoLock::acquire(&self.root.join(LOCK_FILE), mode, what)
    }

    /// Chunk count and compressed bytes of the whole repository.
    pub fn stats(&self) -> Result<StoreStats> {
        self.store.stats()
    }

    /// Ids of all committed backups, sorted (= by creation time).
    pub fn ids(&self) -> Result<Vec<String>> {
        let mut ids: Vec<String> = fsutil::list_dir(&self.backups_dir())?
            .into_iter()
            .filter(|(name, _, meta)| meta.is_file() && !fsutil::is_temp_name(name))
            .filter_map(|(name, _, _)| name.strip_suffix(MANIFEST_SUFFIX).map(str::to_string))
            .filter(|id| manifest::is_valid_id(id))
            .collect();
        ids.sort();
        Ok(ids)
    }

    fn read_manifest_file(&self, id: &str) -> Result<(PathBuf, Vec<u8>)> {
        if !manifest::is_valid_id(id) {
            return Err(RepoError::BackupNotFound { id: id.into() });
        }
        let path = self.manifest_path(id);
        match fs::read(&path) {
            Ok(b) => Ok((path, b)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(RepoError::BackupNotFound { id: id.into() })
            }
            Err(e) => Err(RepoError::io("read", path, e)),
        }
    }

    /// Loads a backup's full manifest (exact id; see [`resolve_id`](Self::resolve_id)).
    pub fn load(&self, id: &str) -> Result<Manifest> {
        let (path, bytes) = self.read_manifest_file(id)?;
        Manifest::decode(&bytes, &path, id)
    }

    /// Loads a backup's summary (no chunk lists).
    pub fn summary(&self, id: &str) -> Result<ManifestSummary> {
        let (path, bytes) = self.read_manifest_file(id)?;
        ManifestSummary::decode(&bytes, &path, id)
    }

    /// Lists backups, oldest first, optionally only those of one VM (name,
    /// UUID or moref). Unreadable manifests are reported in `broken`.
    pub fn list(&self, vm: Option<&str>) -> Result<Listing> {
        let mut listing = Listing::default();
        for id in self.ids()? {
            match self.summary(&id) {
                Ok(s) => {
                    if vm.is_none_or(|f| s.vm.matches(f)) {
                        listing.backups.push(s);
                    }
                }
                // Deleted between listing and reading.
                Err(RepoError::BackupNotFound { .. }) => {}
                Err(e) => listing.broken.push(BrokenManifest {
                    id,
                    error: e.to_string(),
                }),
            }
        }
        listing.backups.sort_by(|a, b| {
            manifest::creation_order((&a.created, a.seq, &a.id), (&b.created, b.seq, &b.id))
        });
        Ok(listing)
    }

    /// Resolves a user-given id or unique id prefix to a backup id.
    pub fn resolve_id(&self, prefix: &str) -> Result<String> {
        let ids = self.ids()?;
        if ids.iter().any(|id| id == prefix) {
            return Ok(prefix.to_string());
        }
        let matches: Vec<String> = ids
            .into_iter()
            .filter(|id| id.starts_with(prefix))
            .collect();
        match matches.len() {
            0 => Err(RepoError::BackupNotFound { id: prefix.into() }),
            1 => Ok(matches.into_iter().next().unwrap_or_default()),
            _ => Err(RepoError::AmbiguousId {
                prefix: prefix.into(),
                candidates: matches,
            }),
        }
    }

    /// Deletes a backup's manifest. Its chunks stay until [`gc`](Self::gc).
    /// Other backups never depend on it (each manifest is a synthetic full).
    pub fn delete(&self, id: &str) -> Result<()> {
        let _lock = self.lock(LockMode::Shared, "delete")?;
        self.delete_locked(id)
    }

    fn delete_locked(&self, id: &str) -> Result<()> {
        if !manifest::is_valid_id(id) {
            return Err(RepoError::BackupNotFound { id: id.into() });
        }
        let path = self.manifest_path(id);
        match fs::remove_file(&path) {
            Ok(()) => fsutil::sync_dir(&self.backups_dir()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(RepoError::BackupNotFound { id: id.into() })
            }
            Err(e) => Err(RepoError::io("remove", path, e)),
        }
    }

    /// Every chunk referenced by a manifest not in `exclude`. Fails if a
    /// manifest cannot be read (its chunks would otherwise be removed).
    fn referenced_chunks(&self, exclude: &HashSet<String>) -> Result<HashSet<ChunkHash>> {
        let mut refs = HashSet::new();
        let mut broken = Vec::new();
        for id in self.ids()? {
            if exclude.contains(&id) {
                continue;
            }
            match self.load(&id) {
                Ok(m) => refs.extend(m.chunk_refs().map(|r| r.hash)),
                Err(RepoError::BackupNotFound { .. }) => {}
                Err(e) => broken.push(format!("{id}: {e}")),
            }
        }
        if !broken.is_empty() {
            return Err(RepoError::UnreadableManifests { broken });
        }
        Ok(refs)
    }

    /// Removes chunks no manifest references, and temp files left by killed
    /// writers. Takes the exclusive lock (fails while a backup is running).
    pub fn gc(&self, dry_run: bool) -> Result<GcReport> {
        let _lock = self.lock(
            if dry_run {
                LockMode::Shared
            } else {
                LockMode::Exclusive
            },
            "gc",
        )?;
        let refs = self.referenced_chunks(&HashSet::new())?;
        self.sweep(&refs, dry_run)
    }

    /// Deletes packs without a live chunk, rewrites packs holding any dead
    /// chunk (or a second copy of a chunk stored elsewhere) with only their
    /// live chunks, and removes temp files. Packs whose index is damaged are
    /// left alone (verify reports their chunks as missing).
    fn sweep(&self, referenced: &HashSet<ChunkHash>, dry_run: bool) -> Result<GcReport> {
        let scan = self.store.scan()?;
        let mut temps = scan.temps;
        for (name, path, meta) in fsutil::list_dir(&self.backups_dir())? {
            if meta.is_file() && fsutil::is_temp_name(&name) {
                temps.push(super::chunk_store::TempFile {
                    path,
                    size: meta.len(),
                });
            }
        }
        let owner = owners(&scan.packs);
        let mut report = GcReport {
            dry_run,
            chunks_total: scan.packs.iter().map(|p| p.entries.len() as u64).sum(),
            ..GcReport::default()
        };
        for (i, pack) in scan.packs.iter().enumerate() {
            let keep: Vec<PackEntry> = pack
                .entries
                .iter()
                .filter(|e| referenced.contains(&e.hash) && owner.get(&e.hash) == Some(&i))
                .copied()
                .collect();
            if keep.len() == pack.entries.len() {
                continue;
            }
            let new_size = if keep.is_empty() {
                report.packs_removed += 1;
                0
            } else {
                report.packs_rewritten += 1;
                ChunkStore::rewritten_size(pack, &keep)
            };
            if !dry_run {
                self.store.rewrite_pack(pack, &keep)?;
            }
            report.chunks_removed += (pack.entries.len() - keep.len()) as u64;
            report.bytes_freed += pack.size.saturating_sub(new_size);
        }
        for t in &temps {
            if !dry_run {
                self.store.remove_file(&t.path)?;
            }
            report.temp_files_removed += 1;
            report.temp_bytes_freed += t.size;
        }
        if !dry_run {
            self.store.reload()?;
        }
        Ok(report)
    }

    /// Applies a retention policy (optionally to one VM's backups only),
    /// deletes the backups it does not keep, then removes the chunks only
    /// they used. A dry run computes the same report and changes nothing.
    pub fn prune(
        &self,
        policy: &RetentionPolicy,
        vm: Option<&str>,
        dry_run: bool,
    ) -> Result<PruneReport> {
        if policy.is_empty() {
            return Err(RepoError::EmptyPolicy);
        }
        let _lock = self.lock(
            if dry_run {
                LockMode::Shared
            } else {
                LockMode::Exclusive
            },
            "prune",
        )?;
        let listing = self.list(None)?;
        if !listing.broken.is_empty() {
            return Err(RepoError::UnreadableManifests {
                broken: listing
                    .broken
                    .iter()
                    .map(|b| format!("{}: {}", b.id, b.error))
                    .collect(),
            });
        }
        let inputs: Vec<RetentionInput> = listing
            .backups
            .iter()
            .filter(|s| vm.is_none_or(|f| s.vm.matches(f)))
            .map(|s| RetentionInput {
                id: s.id.clone(),
                group: s.vm.group_key(),
                created: s.created,
                seq: s.seq,
            })
            .collect();
        let decisions = apply_policy(&inputs, policy)?;
        let removed: Vec<String> = decisions
            .iter()
            .filter(|d| !d.keep)
            .map(|d| d.id.clone())
            .collect();
        let removed_set: HashSet<String> = removed.iter().cloned().collect();
        // Read what the kept backups reference before deleting anything, so a
        // manifest that turns out unreadable stops the prune early.
        let refs = self.referenced_chunks(&removed_set)?;
        if !dry_run {
            for id in &removed {
                self.delete_locked(id)?;
            }
        }
        let gc = self.sweep(&refs, dry_run)?;
        Ok(PruneReport {
            dry_run,
            decisions,
            removed,
            gc,
        })
    }

    /// The next creation sequence number of this repository (1, 2, …), counted in
    /// `sequence` under its own lock so concurrent backups each get their own.
    fn next_seq(&self) -> Result<u64> {
        let _lock = RepoLock::acquire(
            &self.root.join(SEQUENCE_LOCK),
            LockMode::Exclusive,
            "backup",
        )?;
        let path = self.root.join(SEQUENCE_FILE);
        let last = match fs::read_to_string(&path) {
            Ok(text) => text
                .trim()
                .parse::<u64>()
                .map_err(|e| RepoError::invalid(&path, format!("not a sequence number: {e}")))?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
            Err(e) => return Err(RepoError::io("read", path, e)),
        };
        let next = last + 1;
        fsutil::write_atomic(&self.root, SEQUENCE_FILE, format!("{next}\n").as_bytes())?;
        Ok(next)
    }

    /// Starts writing a backup. Holds the shared lock until committed or
    /// dropped, so gc/prune cannot remove chunks it relies on.
    pub fn begin_backup(&self, meta: BackupMeta) -> Result<BackupWriter<'_>> {
        let lock = self.lock(LockMode::Shared, "backup")?;
        fsutil::ensure_dir(&self.backups_dir())?;
        fsutil::ensure_dir(self.store.root())?;
        let seq = self.next_seq()?;
        let mut id = manifest::new_id(meta.created, &meta.vm.name);
        let mut tries = 0;
        while self.manifest_path(&id).exists() {
            tries += 1;
            if tries > 100 {
                return Err(RepoError::InvalidWrite(format!(
                    "cannot find an unused backup id like {id}"
                )));
            }
            id = manifest::new_id(meta.created, &meta.vm.name);
        }
        Ok(BackupWriter {
            repo: self,
            _lock: lock,
            id,
            seq,
            meta,
            started: Instant::now(),
            chunks: ChunkWriter::new(self.store.clone())?,
            zero: ZeroRun::new(self.config.chunker),
            disks: Vec::new(),
            files: Vec::new(),
            stats: BackupStats::default(),
            unfinished_disk: None,
        })
    }

    /// Reads a disk of a backup back, chunk by chunk, in order. Each chunk is
    /// verified (hash and length) as it is read. Holds the shared lock.
    pub fn restore_ranges<'a>(&'a self, m: &'a Manifest, key: i32) -> Result<DiskReader<'a>> {
        let disk = m.disk(key).ok_or_else(|| RepoError::DiskNotFound {
            id: m.id.clone(),
            key,
        })?;
        Ok(DiskReader {
            store: &self.store,
            _lock: self.lock(LockMode::Shared, "restore")?,
            refs: &disk.map.chunks,
            next: 0,
        })
    }

    /// Writes a backed-up disk's full content to `out`; returns the bytes written.
    pub fn restore_disk(&self, m: &Manifest, key: i32, out: &mut dyn Write) -> Result<u64> {
        let mut written = 0;
        for block in self.restore_ranges(m, key)? {
            let (_, data) = block?;
            out.write_all(&data)
                .map_err(|e| RepoError::io("write restored data to", "restore output", e))?;
            written += data.len() as u64;
        }
        Ok(written)
    }

    /// Reads a file stored with a backup (e.g. "vm.vmx").
    pub fn read_file(&self, m: &Manifest, name: &str) -> Result<Vec<u8>> {
        let f = m.file(name).ok_or_else(|| RepoError::FileNotFound {
            id: m.id.clone(),
            name: name.into(),
        })?;
        let _lock = self.lock(LockMode::Shared, "restore")?;
        let mut out = Vec::with_capacity(usize::try_from(f.size).unwrap_or(0));
        for r in &f.chunks {
            out.extend_from_slice(&read_ref(&self.store, r)?);
        }
        Ok(out)
    }
}

/// Reads one referenced chunk and checks its length against the reference.
fn read_ref(store: &ChunkStore, r: &ChunkRef) -> Result<Vec<u8>> {
    let data = store.read(&r.hash)?;
    if data.len() != r.len as usize {
        return Err(RepoError::CorruptChunk {
            hash: r.hash,
            path: store.path(&r.hash),
            reason: format!(
                "holds {} bytes but is referenced as {} bytes",
                data.len(),
                r.len
            ),
        });
    }
    Ok(data)
}

/// Iterator over a backed-up disk's content as `(offset, bytes)`, one chunk
/// at a time (memory: one chunk). Yields an error for a missing or corrupt
/// chunk; the caller decides whether to stop.
pub struct DiskReader<'a> {
    store: &'a ChunkStore,
    _lock: RepoLock,
    refs: &'a [ChunkRef],
    next: usize,
}

impl DiskReader<'_> {
    /// Chunks not yet read.
    pub fn remaining(&self) -> &[ChunkRef] {
        &self.refs[self.next..]
    }
}

impl Iterator for DiskReader<'_> {
    type Item = Result<(u64, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        let r = self.refs.get(self.next)?;
        self.next += 1;
        Some(read_ref(self.store, r).map(|d| (r.offset, d)))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.refs.len() - self.next;
        (n, Some(n))
    }
}

/// Writes one backup: disks (via [`DiskWriter`]) and files, then
/// [`commit`](Self::commit) writes the manifest — last, after every chunk is
/// durable. Dropping the writer without committing leaves the repository
/// valid (unreferenced chunks and temp files, removed by gc).
pub struct BackupWriter<'r> {
    repo: &'r Repository,
    _lock: RepoLock,
    id: String,
    seq: u64,
    meta: BackupMeta,
    started: Instant,
    chunks: ChunkWriter,
    zero: ZeroRun,
    disks: Vec<DiskEntry>,
    files: Vec<FileEntry>,
    stats: BackupStats,
    unfinished_disk: Option<i32>,
}

impl<'r> BackupWriter<'r> {
    /// The id the backup will have.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Counters so far (for progress display; `bytes_new` lags slightly
    /// behind while chunks are being compressed).
    pub fn stats(&self) -> BackupStats {
        BackupStats {
            bytes_new: self.chunks.stored_bytes(),
            ..self.stats
        }
    }

    /// Stores a chunk unless present; returns whether it was new.
    fn store_chunk(&mut self, chunk: Chunk) -> Result<bool> {
        let new = self.chunks.put(chunk)?;
        if new {
            self.stats.chunks_new += 1;
        }
        Ok(new)
    }

    /// Starts a disk. For an incremental, pass the parent backup's map of
    /// this disk: regions no range covers keep the parent's chunks. Without
    /// parent, regions no range covers are zeros (e.g. unallocated areas).
    pub fn disk_writer<'w>(
        &'w mut self,
        info: DiskInfo,
        parent: Option<&'w DiskMap>,
    ) -> Result<DiskWriter<'w, 'r>> {
        if let Some(k) = self.unfinished_disk {
            return Err(RepoError::InvalidWrite(format!(
                "disk {k} was started but not finished"
            )));
        }
        if self.disks.iter().any(|d| d.key == info.key) {
            return Err(RepoError::InvalidWrite(format!(
                "disk {} was already written in this backup",
                info.key
            )));
        }
        if let Some(p) = parent {
            if p.capacity > info.capacity {
                return Err(RepoError::InvalidWrite(format!(
                    "disk {} shrank from {} to {} bytes; take a full backup instead",
                    info.key, p.capacity, info.capacity
                )));
            }
            p.validate().map_err(|e| {
                RepoError::InvalidWrite(format!("parent map of disk {}: {e}", info.key))
            })?;
        }
        self.unfinished_disk = Some(info.key);
        // Attribute in-flight chunks of earlier writes to them, not this disk.
        self.chunks.wait()?;
        let stored_at_start = self.chunks.stored_bytes();
        Ok(DiskWriter {
            stored_at_start,
            bw: self,
            info,
            parent,
            open: None,
            span: None,
            ranges: Vec::new(),
            last_end: 0,
            stats: DiskWriteStats::default(),
        })
    }

    /// Makes the chunks written so far durable (the writer also does this
    /// every 64 MiB and at commit). Optional; e.g. after each disk.
    pub fn flush_chunks(&mut self) -> Result<()> {
        self.chunks.flush()
    }

    /// Stores a small file with the backup (VM configuration, device layout).
    pub fn add_file(&mut self, name: &str, data: &[u8]) -> Result<()> {
        if self.files.iter().any(|f| f.name == name) {
            return Err(RepoError::InvalidWrite(format!(
                "file {name:?} was already added to this backup"
            )));
        }
        let mut chunks = Vec::new();
        let mut offset = 0u64;
        for c in chunk_all(self.repo.config.chunker, data) {
            let (hash, len) = (c.hash, c.len());
            self.store_chunk(c)?;
            chunks.push(ChunkRef {
                offset,
                len: len as u32,
                hash,
            });
            offset += len as u64;
        }
        self.stats.bytes_read += data.len() as u64;
        self.files.push(FileEntry {
            name: name.into(),
            size: data.len() as u64,
            chunks,
        });
        Ok(())
    }

    /// Makes all chunks durable, then writes the manifest atomically. Only
    /// now does the backup exist.
    pub fn commit(mut self) -> Result<Manifest> {
        if let Some(k) = self.unfinished_disk {
            return Err(RepoError::InvalidWrite(format!(
                "disk {k} was started but not finished"
            )));
        }
        self.chunks.flush()?;
        self.stats.bytes_new = self.chunks.stored_bytes();
        self.stats.duration_ms =
            u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let m = Manifest {
            format: MANIFEST_FORMAT,
            id: self.id,
            vm: self.meta.vm,
            created: self.meta.created,
            seq: self.seq,
            kind: self.meta.kind,
            mode: self.meta.mode,
            quiesced: self.meta.quiesced,
            parent: self.meta.parent,
            disks: self.disks,
            files: self.files,
            stats: self.stats,
        };
        let bytes = m.encode()?;
        fsutil::write_atomic(
            &self.repo.backups_dir(),
            &format!("{}{MANIFEST_SUFFIX}", m.id),
            &bytes,
        )?;
        Ok(m)
    }
}

/// The caller's range being received.
struct OpenRange {
    extent: Extent,
    received: u64,
}

/// A region being re-chunked: the caller's ranges plus, with a parent, the
/// parent's bytes that complete the chunks they touch. Its ends lie on the
/// parent's chunk boundaries, so it can replace parent chunks whole.
struct Span {
    start: u64,
    /// End so far (grows when a following range touches the same chunks).
    end: u64,
    /// Next position to feed into the chunker.
    cursor: u64,
    chunker: StreamChunker,
    refs: Vec<ChunkRef>,
}

/// Writes one disk of a backup as a sequence of ranges, each streamed with
/// [`push`](Self::push) between [`begin_range`](Self::begin_range) and
/// [`end_range`](Self::end_range). Ranges come in increasing order without
/// overlap.
///
/// With a parent map (incremental), ranges may be the exact changed extents
/// reported by CBT: the rest of every parent chunk a range touches is read
/// from the repository (verified) and re-chunked together with the new bytes,
/// so only changed bytes come from the source. Ranges from
/// [`read_plan`](super::disk_map::read_plan) already cover whole parent
/// chunks and need no such reads; both give the same map.
pub struct DiskWriter<'w, 'r> {
    bw: &'w mut BackupWriter<'r>,
    info: DiskInfo,
    parent: Option<&'w DiskMap>,
    open: Option<OpenRange>,
    span: Option<Span>,
    ranges: Vec<(Extent, Vec<ChunkRef>)>,
    last_end: u64,
    stats: DiskWriteStats,
    stored_at_start: u64,
}

impl DiskWriter<'_, '_> {
    fn err(&self, msg: String) -> RepoError {
        RepoError::InvalidWrite(format!("disk {}: {msg}", self.info.key))
    }

    fn count_new(&mut self, new: bool) {
        if new {
            self.stats.chunks_new += 1;
        }
    }

    /// `[start, end)` widened to the parent's chunk boundaries.
    fn widen(&self, e: Extent) -> (u64, u64) {
        let Some(p) = self.parent else {
            return (e.offset, e.end());
        };
        let start = p
            .chunk_at(e.offset)
            .map_or(e.offset, |i| p.chunks[i].offset);
        let end = if e.end() <= p.capacity {
            p.chunk_at(e.end() - 1)
                .map_or(e.end(), |i| p.chunks[i].end())
        } else {
            e.end()
        };
        (start, end)
    }

    /// Feeds bytes into the open span's chunker and stores complete chunks.
    fn feed(&mut self, data: &[u8]) -> Result<()> {
        let Some(span) = self.span.as_mut() else {
            return Err(self.err("no open span".into()));
        };
        let chunks = span.chunker.push(data);
        span.cursor += data.len() as u64;
        self.store(chunks)
    }

    fn store(&mut self, chunks: Vec<Chunk>) -> Result<()> {
        for c in chunks {
            let (hash, len) = (c.hash, c.len() as u32);
            let new = self.bw.store_chunk(c)?;
            self.count_new(new);
            let Some(span) = self.span.as_mut() else {
                return Err(self.err("no open span".into()));
            };
            let offset = span.refs.last().map_or(span.start, |r| r.end());
            span.refs.push(ChunkRef { offset, len, hash });
        }
        Ok(())
    }

    /// Feeds the parent's content of `[from, to)` (zeros beyond the parent's
    /// capacity), one parent chunk at a time.
    fn feed_parent(&mut self, from: u64, to: u64) -> Result<()> {
        if from >= to {
            return Ok(());
        }
        let parent = self.parent;
        let mut pos = from;
        if let Some(p) = parent {
            while pos < to.min(p.capacity) {
                let Some(i) = p.chunk_at(pos) else {
                    return Err(self.err(format!("parent map has no chunk at {pos}")));
                };
                let r = p.chunks[i];
                let data = read_ref(&self.bw.repo.store, &r)?;
                let a = (pos - r.offset) as usize;
                let b = (to.min(r.end()) - r.offset) as usize;
                self.feed(&data[a..b])?;
                self.stats.bytes_from_parent += (b - a) as u64;
                pos = r.offset + b as u64;
            }
        }
        if pos < to {
            let zeros = vec![0u8; 1 << 16];
            while pos < to {
                let n = (to - pos).min(zeros.len() as u64) as usize;
                self.feed(&zeros[..n])?;
                pos += n as u64;
            }
        }
        Ok(())
    }

    /// Completes the open span: feeds the parent's rest of its last chunk and
    /// cuts the final chunks.
    fn close_span(&mut self) -> Result<()> {
        let Some(span) = self.span.as_ref() else {
            return Ok(());
        };
        let (cursor, end) = (span.cursor, span.end);
        self.feed_parent(cursor, end)?;
        let Some(mut span) = self.span.take() else {
            return Err(self.err("no open span".into()));
        };
        let chunker = std::mem::replace(
            &mut span.chunker,
            StreamChunker::new(self.bw.repo.config.chunker),
        );
        let tail = chunker.finish();
        self.span = Some(span);
        self.store(tail)?;
        let Some(span) = self.span.take() else {
            return Err(self.err("no open span".into()));
        };
        self.ranges
            .push((Extent::new(span.start, span.end - span.start), span.refs));
        Ok(())
    }

    /// Announces that the bytes of `extent` follow.
    pub fn begin_range(&mut self, extent: Extent) -> Result<()> {
        if let Some(r) = &self.open {
            return Err(self.err(format!("range {} is still open", r.extent)));
        }
        if extent.len == 0 {
            return Err(self.err(format!("empty range at {}", extent.offset)));
        }
        if extent.offset < self.last_end {
            return Err(self.err(format!(
                "range {extent} starts before the end of the previous range ({})",
                self.last_end
            )));
        }
        if extent.end() > self.info.capacity {
            return Err(self.err(format!(
                "range {extent} extends beyond the capacity {}",
                self.info.capacity
            )));
        }
        let (start, end) = self.widen(extent);
        match &mut self.span {
            // Touches the chunks of the open span: continue it.
            Some(span) if start <= span.end => {
                span.end = span.end.max(end);
                let cursor = span.cursor;
                self.feed_parent(cursor, extent.offset)?;
            }
            _ => {
                self.close_span()?;
                self.span = Some(Span {
                    start,
                    end,
                    cursor: start,
                    chunker: StreamChunker::new(self.bw.repo.config.chunker),
                    refs: Vec::new(),
                });
                self.feed_parent(start, extent.offset)?;
            }
        }
        self.open = Some(OpenRange {
            extent,
            received: 0,
        });
        Ok(())
    }

    /// Feeds the next bytes of the open range.
    pub fn push(&mut self, data: &[u8]) -> Result<()> {
        let Some(r) = self.open.as_mut() else {
            return Err(self.err("push without begin_range".into()));
        };
        let n = data.len() as u64;
        if r.received + n > r.extent.len {
            let (e, got) = (r.extent, r.received + n);
            return Err(self.err(format!(
                "range {e} received {got} bytes, more than its length {}",
                e.len
            )));
        }
        r.received += n;
        self.stats.bytes_read += n;
        self.bw.stats.bytes_read += n;
        self.feed(data)
    }

    /// Ends the open range; errors if fewer bytes than announced arrived
    /// (e.g. a truncated HTTP response).
    pub fn end_range(&mut self) -> Result<()> {
        let Some(r) = self.open.as_ref() else {
            return Err(self.err("end_range without begin_range".into()));
        };
        if r.received != r.extent.len {
            let (e, got) = (r.extent, r.received);
            return Err(self.err(format!("range {e} ended after {got} of {} bytes", e.len)));
        }
        self.last_end = r.extent.end();
        self.open = None;
        self.stats.ranges += 1;
        Ok(())
    }

    /// Convenience: one range whose bytes are all in memory.
    pub fn write_range(&mut self, offset: u64, data: &[u8]) -> Result<()> {
        self.begin_range(Extent::new(offset, data.len() as u64))?;
        self.push(data)?;
        self.end_range()
    }

    /// Zero chunks for `[from, to)`, without hashing the zeros.
    fn zero_fill(&mut self, from: u64, to: u64) -> Result<()> {
        let (n, tail) = self.bw.zero.split(to - from);
        let (unit_hash, unit_len) = (self.bw.zero.unit().hash, self.bw.zero.unit().len());
        let mut refs = Vec::new();
        let mut pos = from;
        if n > 0 {
            let unit = self.bw.zero.unit().clone();
            let new = self.bw.store_chunk(unit)?;
            self.count_new(new);
        }
        for _ in 0..n {
            refs.push(ChunkRef {
                offset: pos,
                len: unit_len as u32,
                hash: unit_hash,
            });
            pos += unit_len as u64;
        }
        if tail > 0 {
            let c = Chunk::new(vec![0; tail]);
            let hash = c.hash;
            let new = self.bw.store_chunk(c)?;
            self.count_new(new);
            refs.push(ChunkRef {
                offset: pos,
                len: tail as u32,
                hash,
            });
        }
        self.stats.bytes_zero_filled += to - from;
        self.ranges.push((Extent::new(from, to - from), refs));
        Ok(())
    }

    /// Completes the disk: regions no range covered keep the parent's chunks
    /// (or are zeros: without parent, or beyond the parent's capacity); builds
    /// the full map and adds it to the backup.
    pub fn finish(mut self) -> Result<DiskWriteStats> {
        if let Some(r) = &self.open {
            return Err(self.err(format!("range {} was not ended", r.extent)));
        }
        self.close_span()?;
        let capacity = self.info.capacity;
        let fill_from = self.parent.map_or(0, |p| p.capacity);
        let mut gaps = Vec::new();
        let mut pos = fill_from;
        for (e, _) in &self.ranges {
            if e.offset > pos {
                gaps.push((pos, e.offset));
            }
            pos = pos.max(e.end());
        }
        if capacity > pos {
            gaps.push((pos, capacity));
        }
        for (from, to) in gaps {
            self.zero_fill(from, to)?;
        }
        let empty = DiskMap::empty();
        let parent = self.parent.unwrap_or(&empty);
        let ranges = std::mem::take(&mut self.ranges);
        let map = splice(parent, capacity, ranges)
            .map_err(|e| self.err(format!("cannot build the disk map: {e}")))?;
        self.stats.chunks = map.chunks.len() as u64;
        self.bw.chunks.wait()?;
        self.stats.bytes_new = self.bw.chunks.stored_bytes() - self.stored_at_start;
        let info = self.info.clone();
        self.bw.disks.push(DiskEntry {
            key: info.key,
            label: info.label,
            datastore_path: info.datastore_path,
            change_id: info.change_id,
            map,
        });
        self.bw.unfinished_disk = None;
        Ok(self.stats)
    }
}
