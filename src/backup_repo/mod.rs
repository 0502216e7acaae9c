//! Backup repository engine: deduplicated, compressed storage of VM disk
//! backups in a local directory. Pure storage: no network I/O; the backup
//! operation feeds it bytes and reads them back for restore.
//!
//! # On-disk format (version 2)
//!
//! ```text
//! <repo>/
//!   ceso-repo.json                 marker + settings (JSON, see below)
//!   lock                           lock file (OS advisory lock, empty)
//!   packs/<2 hex>/<64 hex>.pack    chunks, ~32 MiB per pack (see below)
//!   backups/<id>.json.zst          one manifest per backup (zstd of JSON)
//!   packs/**/.tmp-*, backups/.tmp-*   temp files of writers in progress
//! ```
//!
//! Version 1 (one file per chunk under `chunks/`) is refused with
//! [`RepoError::OutdatedRepository`]; no such repositories were released.
//!
//! **`ceso-repo.json`** — `{"kind": "ceso-backup-repository", "version": 2,
//! "id": "<uuid>", "created": "<RFC 3339>", "chunker": {"min_size": 16384,
//! "avg_size": 65536, "max_size": 262144}, "chunk_compression": "zstd"}`.
//! A directory without it is not a repository; creating a repository in a
//! non-empty directory is refused.
//!
//! **Chunks.** Disk content is cut into content-defined chunks with FastCDC
//! (2020 variant, normalization level 1) using the `chunker` sizes (default
//! min 16 KiB / avg 64 KiB / max 256 KiB). A chunk is named by the BLAKE3
//! hash of its *uncompressed* bytes (lowercase hex in manifests). Identical
//! content is stored once, across disks, backups and VMs. A reader re-hashes
//! every chunk it reads, so corruption is always detected.
//!
//! **Packs.** Chunks are stored in pack files. A pack is
//!
//! ```text
//! [chunk 0 stored bytes][chunk 1 stored bytes]…              the data, back to back
//! [index: n entries of 49 bytes]                             in data order
//!     hash (32, BLAKE3 of the uncompressed chunk) | offset (u64 LE) |
//!     stored length (u32 LE) | uncompressed length (u32 LE) | encoding (u8:
//!     0 = raw, 1 = one zstd frame, level 1)
//! [n (u32 LE)]["CESOPAK2"]
//! ```
//!
//! named `packs/<2 hex>/<64 hex>.pack` by the BLAKE3 hash of everything after
//! the data (index, count, magic), in a directory named by that hash's first
//! byte. The entries must tile the data exactly. So every byte of a pack is
//! covered by a hash: a damaged index does not match the pack's name (the
//! pack is then unreadable and its chunks count as missing), a damaged chunk
//! does not hash to its id. A chunk is stored raw when zstd does not make it
//! smaller. The repository keeps a chunk → (pack, offset, length) index in
//! memory, built from the pack indexes when it is opened (and rebuilt when a
//! chunk is not found, to see packs written meanwhile by other processes).
//! The same chunk may be in two packs (two concurrent backups, or a crash
//! during gc); readers use either, gc keeps one.
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
//! compressed by a few worker threads inside the writer and appended to the
//! pack by the writer; full packs are synced by a background thread.
//!
//! Memory: writing holds about one max-size chunk per queued job (bounded);
//! restore holds one chunk; the open repository holds the chunk index
//! (~100 bytes per stored chunk, i.e. ~1.6 MiB per GiB of unique data);
//! `gc`, `prune` and `verify` also keep the set of referenced chunk hashes
//! (~50 bytes per distinct chunk) and, for gc, every pack's index.

//! # Crash safety
//!
//! A writer appends chunks to a pack in a temp file (`packs/.tmp-*`). When
//! the pack reaches 32 MiB its index is written and it is made durable in the
//! background (fsync, rename into place, directory fsync) while the next
//! pack fills; the end of each disk and the commit wait for every pack. So a
//! pack under its final name is always complete and durable, and only then
//! are its chunks visible to the writer's repository. The manifest is written
//! last, atomically (temp + fsync + rename + directory fsync), after every
//! pack it needs is durable. A killed backup thus leaves only a temp pack and
//! packs no manifest references: no manifest points at a missing chunk, and
//! the next backup, verify and restore work.
//!
//! [`Repository::gc`] removes temp files, deletes packs without a live chunk
//! and rewrites every pack that holds a dead (or duplicate) chunk with only
//! its live chunks — the new pack is durable before the old one is removed —
//! so after gc the repository holds exactly the live chunks. (Rewriting
//! every partially dead pack costs I/O on large repositories; a live-fraction
//! threshold would trade space for that I/O.) Packs with a damaged index are
//! left alone.
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
