//! `backup verify`: re-read and re-hash every chunk the selected backups
//! reference, each chunk once however many backups share it.

use std::collections::{BTreeSet, HashMap, HashSet};

use super::chunker::ChunkHash;
use super::error::{RepoError, Result};
use super::fsutil::{LockMode, RepoLock};
use super::repository::{BrokenManifest, Repository};

/// A chunk that failed verification, with every backup that references it
/// (those backups cannot be restored completely).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkProblem {
    pub hash: ChunkHash,
    /// What is wrong (for corrupt chunks).
    pub reason: String,
    /// Ids of all backups referencing the chunk, sorted.
    pub affected_backups: Vec<String>,
}

/// Result of [`Repository::verify`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Backups whose chunks were checked.
    pub backups_checked: Vec<String>,
    /// Distinct chunks read and re-hashed.
    pub chunks_checked: u64,
    /// Their uncompressed size.
    pub bytes_checked: u64,
    pub corrupt: Vec<ChunkProblem>,
    pub missing: Vec<ChunkProblem>,
    /// Manifests that cannot be read at all.
    pub broken_manifests: Vec<BrokenManifest>,
}

impl VerifyReport {
    /// No problem found.
    pub fn is_ok(&self) -> bool {
        self.corrupt.is_empty() && self.missing.is_empty() && self.broken_manifests.is_empty()
    }

    /// Every backup hit by some problem.
    pub fn affected_backups(&self) -> BTreeSet<String> {
        self.corrupt
            .iter()
            .chain(&self.missing)
            .flat_map(|p| p.affected_backups.iter().cloned())
            .chain(self.broken_manifests.iter().map(|b| b.id.clone()))
            .collect()
    }
}

/// Progress of a running verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyProgress {
    pub chunks_done: u64,
    pub chunks_total: u64,
    pub bytes_done: u64,
}

struct ChunkUse {
    lens: Vec<u32>,
    users: Vec<u32>,
    selected: bool,
}

impl Repository {
    /// Verifies the given backups (exact ids), or all when `None`.
    pub fn verify(&self, ids: Option<&[String]>) -> Result<VerifyReport> {
        self.verify_with_progress(ids, &mut |_| {})
    }

    /// Like [`verify`](Self::verify), calling `progress` after each chunk.
    pub fn verify_with_progress(
        &self,
        ids: Option<&[String]>,
        progress: &mut dyn FnMut(VerifyProgress),
    ) -> Result<VerifyReport> {
        let _lock = RepoLock::acquire(&self.root().join("lock"), LockMode::Shared, "verify")?;
        let all = self.ids()?;
        let selected: HashSet<&str> = match ids {
            Some(list) => {
                for id in list {
                    if !all.contains(id) {
                        return Err(RepoError::BackupNotFound { id: id.clone() });
                    }
                }
                list.iter().map(String::as_str).collect()
            }
            None => all.iter().map(String::as_str).collect(),
        };

        let mut report = VerifyReport::default();
        // Which backups use which chunk, over *all* backups, so a problem is
        // reported with everything it affects.
        let mut uses: HashMap<ChunkHash, ChunkUse> = HashMap::new();
        for (idx, id) in all.iter().enumerate() {
            let m = match self.load(id) {
                Ok(m) => m,
                Err(RepoError::BackupNotFound { .. }) => continue,
                Err(e) => {
                    report.broken_manifests.push(BrokenManifest {
                        id: id.clone(),
                        error: e.to_string(),
                    });
                    continue;
                }
            };
            let is_selected = selected.contains(id.as_str());
            if is_selected {
                report.backups_checked.push(id.clone());
            }
            let idx = idx as u32;
            for r in m.chunk_refs() {
                let u = uses.entry(r.hash).or_insert_with(|| ChunkUse {
                    lens: Vec::new(),
                    users: Vec::new(),
                    selected: false,
                });
                u.selected |= is_selected;
                if u.users.last() != Some(&idx) {
                    u.users.push(idx);
                }
                if !u.lens.contains(&r.len) {
                    u.lens.push(r.len);
                }
            }
        }

        let mut todo: Vec<(&ChunkHash, &ChunkUse)> =
            uses.iter().filter(|(_, u)| u.selected).collect();
        // Hash order = directory order on disk.
        todo.sort_by_key(|(h, _)| **h);
        let total = todo.len() as u64;
        let store = self.chunk_store();
        for (hash, u) in todo {
            let affected = || u.users.iter().map(|&i| all[i as usize].clone()).collect();
            match store.read(hash) {
                Ok(data) => {
                    report.bytes_checked += data.len() as u64;
                    if u.lens.iter().any(|&l| l as usize != data.len()) {
                        report.corrupt.push(ChunkProblem {
                            hash: *hash,
                            reason: format!(
                                "holds {} bytes but manifests reference it as {:?} bytes",
                                data.len(),
                                u.lens
                            ),
                            affected_backups: affected(),
                        });
                    }
                }
                Err(RepoError::MissingChunk { .. }) => report.missing.push(ChunkProblem {
                    hash: *hash,
                    reason: "chunk is in no readable pack".into(),
                    affected_backups: affected(),
                }),
                Err(RepoError::CorruptChunk { reason, .. }) => report.corrupt.push(ChunkProblem {
                    hash: *hash,
                    reason,
                    affected_backups: affected(),
                }),
                // An unreadable file (EIO, permissions) is as bad as corrupt.
                Err(e) => report.corrupt.push(ChunkProblem {
                    hash: *hash,
                    reason: e.to_string(),
                    affected_backups: affected(),
                }),
            }
            report.chunks_checked += 1;
            progress(VerifyProgress {
                chunks_done: report.chunks_checked,
                chunks_total: total,
                bytes_done: report.bytes_checked,
            });
        }
        Ok(report)
    }
}
