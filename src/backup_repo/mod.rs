//! Backup repository engine: deduplicated, compressed storage of VM disk
//! backups in a local directory. Pure storage: no network I/O; the backup
//! operation feeds it bytes and reads them back for restore.
//!
//! # On-disk format (version 1)
//!
//! ```text
//! <repo>/
//!   ceso-repo.json                 marker + settings (JSON, see below)
//!   lock                           lock file (OS advisory lock, empty)
//!   chunks/<2 hex>/<64 hex>        one chunk: a zstd frame (level 1)
//!   backups/<id>.json.zst          one manifest per backup (zstd of JSON)
//!   chunks/**/.tmp-*, backups/.tmp-*   temp files of writers in progress
//! ```
//!
//! **`ceso-repo.json`** — `{"kind": "ceso-backup-repository", "version": 1,
//! "id": "<uuid>", "created": "<RFC 3339>", "chunker": {"min_size": 16384,
//! "avg_size": 65536, "max_size": 262144}, "chunk_compression": "zstd"}`.
//! A directory without it is not a repository; creating a repository in a
//! non-empty directory is refused.
//!
//! **Chunks.** Disk content is cut into content-defined chunks with FastCDC
//! (2020 variant, normalization level 1) using the `chunker` sizes (default
//! min 16 KiB / avg 64 KiB / max 256 KiB). A chunk is named by the BLAKE3
//! hash of its *uncompressed* bytes, in lowercase hex, in a directory named
//! by the hash's first byte. The file holds one zstd frame of those bytes.
//! Identical content is stored once, across disks, backups and VMs. A
//! reader re-hashes every chunk it reads, so corruption is always detected.
//!
//! **Manifests** (`backups/<id>.json.zst`, JSON compressed with zstd):
//!
//! ```json
//! {
//!   "format": 1,
//!   "id": "20261122T031500Z-web01-3fa2",
//!   "vm": {"name": "web01", "uuid": "5003…", "moref": "vm-42", "endpoint": "vc.example"},
//!   "created": "2026-11-22T03:15:00Z",
//!   "kind": "full" | "incremental",
//!   "mode": "hot" | "cold",
//!   "quiesced": true,
//!   "parent": "20261121T031500Z-web01-91c0" | null,
//!   "disks": [{"key": 2000, "label": "Hard disk 1",
//!              "datastore_path": "[ds1] web01/web01.vmdk",
//!              "change_id": "52 aa … /7" | null,
//!              "map": {"capacity": 21474836480,
//!                      "chunks": [{"offset": 0, "len": 65536, "hash": "<64 hex>"}, …]}}],
//!   "files": [{"name": "vm.vmx", "size": 3012, "chunks": [{"offset": 0, "len": 3012, "hash": "…"}]},
//!             {"name": "devices.json", …}],
//!   "stats": {"bytes_read": …, "bytes_new": …, "chunks_new": …, "duration_ms": …}
//! }
//! ```
//!
//! A disk's `chunks` cover `[0, capacity)` in order with no gap or overlap;
//! zero regions are ordinary (deduplicated) chunks of zeros. Ids are
//! `YYYYMMDDTHHMMSSZ-<vm short name>-<4 hex>` (UTC), so they sort by time;
//! commands accept any unique prefix.
//!
//! **Every manifest is a synthetic full.** An incremental backup reads only
//! what changed (CBT) and [`splice`]s the new chunks into the parent's map.
//! The result lists every chunk of the disk, so a backup never needs its
//! parent to restore: deleting or pruning any backup never breaks another.
//! The `parent` field is informational.
//!
//! A chunk is replaced whole, so new bytes must be re-chunked together with
//! the rest of every parent chunk they touch. Two ways, same resulting map:
//! - give [`DiskWriter`] the exact extents from `QueryChangedDiskAreas`: the
//!   rest of each touched chunk is read from the parent's chunks in the
//!   repository (verified). Only changed bytes cross the network.
//! - give it [`read_plan`] ranges (changed extents widened to parent chunk
//!   boundaries and merged): no repository reads, but more network reads
//!   (64 scattered 4 KiB writes on a 20 MiB disk: ~27% of the disk instead
//!   of 256 KiB). Use this if the parent's chunks cannot be read.
//!
//! Either way the *stored* amplification is the same: each touched chunk
//! (64 KiB on average) is stored anew.
//!
//! # Usage sketch
//!
//! ```ignore
//! let repo = Repository::init_or_open("/backups/repo")?;
//! let mut bw = repo.begin_backup(BackupMeta::new(vm, BackupKind::Incremental, BackupMode::Hot))?;
//! let mut dw = bw.disk_writer(disk_info, Some(&parent.disk(2000).unwrap().map))?;
//! for extent in changed_areas {            // from QueryChangedDiskAreas
//!     dw.begin_range(extent)?;
//!     while let Some(bytes) = next_http_piece() { dw.push(&bytes)?; }
//!     dw.end_range()?;                     // errors if the response was short
//! }
//! dw.finish()?;
//! bw.add_file("vm.vmx", &vmx)?;
//! let manifest = bw.commit()?;             // manifest written last
//! ```
//!
//! The engine is synchronous (file I/O and CPU work). From async code, move
//! the [`Repository`] (e.g. in an `Arc`) into `spawn_blocking` and feed the
//! writer from a channel; [`BackupWriter`] is `Send`. New chunks are
//! compressed and written by a few worker threads inside the writer.
//!
//! Memory: writing holds about one max-size chunk per queued job (bounded);
//! restore holds one chunk; `gc`, `prune` and `verify` keep the set of
//! referenced chunk hashes in memory (~50 bytes per distinct chunk, i.e.
//! ~1 MiB per 1.3 GiB of unique data).

//! # Crash safety
//!
//! Chunks are written to temp files, fsynced, then renamed into place (in
//! batches of 64 MiB, fsyncs issued concurrently), so a chunk file under its
//! final name is always complete. The
//! manifest is written last, atomically (temp + fsync + rename + directory
//! fsync), after every chunk it references is durable. A killed backup thus
//! leaves only unreferenced chunks and temp files: no manifest points at a
//! missing chunk, and the next backup, verify and restore work. [`Repository::gc`]
//! removes the leftovers.
//!
//! # Concurrency
//!
//! The `lock` file is locked *shared* by backups, restores, verify and
//! delete (several may run at once), and *exclusive* by gc and prune, which
//! remove chunks. Locks are taken without waiting: a conflicting operation
//! fails with [`RepoError::Locked`].

mod chunk_store;
mod chunker;
mod disk_map;
mod error;
mod fsutil;
mod manifest;
mod repository;
mod retention;
mod verify;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod testutil;

pub use chunk_store::{COMPRESSION_LEVEL, ChunkStore, StoreStats};
pub use chunker::{
    Chunk, ChunkHash, ChunkerParams, ParseHashError, StreamChunker, ZeroRun, chunk_all,
};
pub use disk_map::{ChunkRef, DiskMap, Extent, read_plan, splice};
pub use error::{RepoError, Result};
pub use manifest::{
    BackupKind, BackupMode, BackupStats, DiskEntry, DiskSummary, FileEntry, MANIFEST_FORMAT,
    Manifest, ManifestSummary, VmInfo, format_time,
};
pub use repository::{
    BackupMeta, BackupWriter, BrokenManifest, DiskInfo, DiskReader, DiskWriteStats, DiskWriter,
    GcReport, Listing, PruneReport, REPO_FORMAT, REPO_MARKER, RepoConfig, Repository,
};
pub use retention::{RetentionDecision, RetentionInput, RetentionPolicy, apply_policy};
pub use verify::{ChunkProblem, VerifyProgress, VerifyReport};
