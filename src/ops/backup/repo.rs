//! The backup repository as operations see it: where it is (`--repo`, the `hot_backup`
//! config section, or the XDG data directory), its errors in the user's terms, and the
//! maintenance commands (list, info, verify, delete, prune) as serialisable records.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::backup_repo::{
    self as engine, BackupKind, BackupMode, Manifest, ManifestSummary, RepoError, Repository,
    RetentionPolicy, format_time,
};
use crate::config::LoadedConfig;
use crate::ops::error::{OpError, OpResult};
use crate::ops::progress::Progress;

/// The repository directory: `--repo`, else `hot_backup.repository` (relative to the
/// config file's folder), else `$XDG_DATA_HOME/ceso/backups`.
pub fn location(explicit: Option<&Path>, config: &LoadedConfig) -> OpResult<PathBuf> {
    if let Some(path) = explicit {
        return Ok(expand_home(path));
    }
    if let Some(configured) = config.hot_backup().repository {
        let path = expand_home(Path::new(&configured));
        let base = config.path.as_deref().and_then(Path::parent);
        return Ok(match base {
            Some(dir) if path.is_relative() => dir.join(path),
            _ => path,
        });
    }
    dirs::data_dir()
        .map(|d| d.join("ceso").join("backups"))
        .ok_or_else(|| OpError::Invalid {
            message: "no backup repository given and no data directory to default to".into(),
            hint: Some("pass --repo PATH or set hot_backup.repository in the config".into()),
        })
}

fn expand_home(path: &Path) -> PathBuf {
    match (path.strip_prefix("~"), dirs::home_dir()) {
        (Ok(rest), Some(home)) => home.join(rest),
        _ => path.to_path_buf(),
    }
}

/// Open the repository; `create` makes it when the directory is missing or empty.
pub fn open(path: &Path, create: bool) -> OpResult<Repository> {
    let result = if create {
        Repository::init_or_open(path)
    } else {
        Repository::open(path)
    };
    result.map_err(|e| match e {
        RepoError::NotARepository { path, reason } if !create => OpError::Invalid {
            message: format!("{} is not a backup repository: {reason}", path.display()),
            hint: Some(
                "give the repository with --repo PATH; `ceso backup create` makes one".into(),
            ),
        },
        other => repo_error(other),
    })
}

/// The repository if it exists (a dry run or a refused backup must not create one).
pub fn open_existing(path: &Path) -> OpResult<Option<Repository>> {
    if path.join(engine::REPO_MARKER).is_file() {
        open(path, false).map(Some)
    } else {
        Ok(None)
    }
}

/// A repository error in the user's terms.
pub fn repo_error(e: RepoError) -> OpError {
    match e {
        RepoError::BackupNotFound { id } => OpError::NotFound {
            kind: "backup",
            name: id,
            suggestions: Vec::new(),
        },
        RepoError::AmbiguousId { prefix, candidates } => OpError::Ambiguous {
            kind: "backup",
            name: prefix,
            candidates,
        },
        RepoError::Locked { .. } => OpError::Refused {
            message: e.to_string(),
            hint: Some(
                "a prune or gc is running on this repository; try again when it ends".into(),
            ),
        },
        RepoError::EmptyPolicy => OpError::Invalid {
            message: e.to_string(),
            hint: Some(
                "e.g. --keep-last 7 --keep-daily 14 --keep-weekly 8 --keep-monthly 12".into(),
            ),
        },
        RepoError::NotARepository { .. }
        | RepoError::UnsupportedVersion { .. }
        | RepoError::OutdatedRepository { .. } => OpError::Invalid {
            message: e.to_string(),
            hint: Some("check --repo / hot_backup.repository".into()),
        },
        other => OpError::Io(other.to_string()),
    }
}

/// One disk of a backup, as listed.
#[derive(Debug, Clone, Serialize)]
pub struct DiskRecord {
    pub key: i32,
    pub label: String,
    pub datastore_path: String,
    pub capacity: u64,
    pub change_id: Option<String>,
}

/// A backup as `backup list` / `backup info` show it.
#[derive(Debug, Clone, Serialize)]
pub struct BackupSummary {
    pub id: String,
    pub vm: String,
    pub vm_uuid: String,
    pub vm_id: String,
    pub endpoint: String,
    /// RFC 3339, full precision.
    pub created: String,
    /// Order of creation in the repository (0: written before ceso numbered them).
    pub seq: u64,
    pub kind: BackupKind,
    pub mode: BackupMode,
    pub quiesced: bool,
    pub parent: Option<String>,
    /// Sum of the disk capacities (what a restore writes).
    pub size: u64,
    pub bytes_read: u64,
    /// Compressed bytes this backup added to the repository.
    pub bytes_new: u64,
    pub chunks_new: u64,
    pub duration_ms: u64,
    pub disks: Vec<DiskRecord>,
    pub files: Vec<String>,
}

impl From<&ManifestSummary> for BackupSummary {
    fn from(s: &ManifestSummary) -> Self {
        Self {
            id: s.id.clone(),
            vm: s.vm.name.clone(),
            vm_uuid: s.vm.uuid.clone(),
            vm_id: s.vm.moref.clone(),
            endpoint: s.vm.endpoint.clone(),
            created: format_time(&s.created),
            seq: s.seq,
            kind: s.kind,
            mode: s.mode,
            quiesced: s.quiesced,
            parent: s.parent.clone(),
            size: s.logical_size(),
            bytes_read: s.stats.bytes_read,
            bytes_new: s.stats.bytes_new,
            chunks_new: s.stats.chunks_new,
            duration_ms: s.stats.duration_ms,
            disks: s
                .disks
                .iter()
                .map(|d| DiskRecord {
                    key: d.key,
                    label: d.label.clone(),
                    datastore_path: d.datastore_path.clone(),
                    capacity: d.capacity,
                    change_id: d.change_id.clone(),
                })
                .collect(),
            files: s.files.clone(),
        }
    }
}

/// A manifest that cannot be read, reported by list and verify.
#[derive(Debug, Clone, Serialize)]
pub struct BrokenBackup {
    pub id: String,
    pub error: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Listing {
    pub repository: PathBuf,
    pub backups: Vec<BackupSummary>,
    pub broken: Vec<BrokenBackup>,
}

/// Backups, oldest first, optionally of one VM (name, UUID or id).
pub fn list(repo: &Repository, vm: Option<&str>) -> OpResult<Listing> {
    let listing = repo.list(vm).map_err(repo_error)?;
    Ok(Listing {
        repository: repo.root().to_path_buf(),
        backups: listing.backups.iter().map(BackupSummary::from).collect(),
        broken: listing
            .broken
            .into_iter()
            .map(|b| BrokenBackup {
                id: b.id,
                error: b.error,
            })
            .collect(),
    })
}

/// The full manifest of a backup given by id or unique id prefix.
pub fn load(repo: &Repository, id: &str) -> OpResult<Manifest> {
    let id = repo.resolve_id(id).map_err(repo_error)?;
    repo.load(&id).map_err(repo_error)
}

/// One backup's record, by id or unique id prefix.
pub fn info(repo: &Repository, id: &str) -> OpResult<BackupSummary> {
    let id = repo.resolve_id(id).map_err(repo_error)?;
    Ok(BackupSummary::from(&repo.summary(&id).map_err(repo_error)?))
}

#[derive(Debug, Clone, Serialize)]
pub struct ChunkProblem {
    pub chunk: String,
    pub problem: String,
    pub backups: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VerifyOutcome {
    pub ok: bool,
    pub backups_checked: Vec<String>,
    pub chunks_checked: u64,
    pub bytes_checked: u64,
    pub corrupt: Vec<ChunkProblem>,
    pub missing: Vec<ChunkProblem>,
    pub broken: Vec<BrokenBackup>,
    /// Every backup that cannot be restored completely.
    pub affected_backups: Vec<String>,
}

/// Re-read and re-hash every chunk of one backup (`id`) or of all.
pub fn verify(
    repo: &Repository,
    id: Option<&str>,
    progress: &dyn Progress,
) -> OpResult<VerifyOutcome> {
    let ids = match id {
        Some(id) => Some(vec![repo.resolve_id(id).map_err(repo_error)?]),
        None => None,
    };
    progress.step("Verifying chunks");
    let mut last = std::time::Instant::now();
    let report = repo
        .verify_with_progress(ids.as_deref(), &mut |p| {
            if p.chunks_done == p.chunks_total || last.elapsed().as_millis() > 200 {
                last = std::time::Instant::now();
                progress.step(&format!(
                    "Verifying chunk {} of {}",
                    p.chunks_done, p.chunks_total
                ));
            }
        })
        .map_err(repo_error)?;
    let problems = |list: &[engine::ChunkProblem]| {
        list.iter()
            .map(|p| ChunkProblem {
                chunk: p.hash.to_hex(),
                problem: p.reason.clone(),
                backups: p.affected_backups.clone(),
            })
            .collect::<Vec<_>>()
    };
    Ok(VerifyOutcome {
        ok: report.is_ok(),
        affected_backups: report.affected_backups().into_iter().collect(),
        backups_checked: report.backups_checked.clone(),
        chunks_checked: report.chunks_checked,
        bytes_checked: report.bytes_checked,
        corrupt: problems(&report.corrupt),
        missing: problems(&report.missing),
        broken: report
            .broken_manifests
            .iter()
            .map(|b| BrokenBackup {
                id: b.id.clone(),
                error: b.error.clone(),
            })
            .collect(),
    })
}

/// Delete one backup's manifest. Its chunks stay until a prune removes the unused ones;
/// other backups never depend on it.
pub fn delete(repo: &Repository, id: &str) -> OpResult<String> {
    let id = repo.resolve_id(id).map_err(repo_error)?;
    repo.delete(&id).map_err(repo_error)?;
    Ok(id)
}

#[derive(Debug, Clone, Serialize)]
pub struct PruneDecision {
    pub id: String,
    pub vm: String,
    /// The endpoint the VM was backed up from (retention is per endpoint and VM).
    pub endpoint: String,
    pub created: String,
    pub keep: bool,
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PruneOutcome {
    pub dry_run: bool,
    pub decisions: Vec<PruneDecision>,
    pub removed: Vec<String>,
    pub chunks_removed: u64,
    pub bytes_freed: u64,
    pub temp_files_removed: u64,
}

/// Apply a retention policy (per VM), delete the backups it drops and the chunks only
/// they used, plus temp files left by killed backups.
pub fn prune(
    repo: &Repository,
    policy: &RetentionPolicy,
    vm: Option<&str>,
    dry_run: bool,
) -> OpResult<PruneOutcome> {
    // Names and endpoints of the VMs, for the report (decisions carry the group key).
    let listing = repo.list(None).map_err(repo_error)?;
    let report = repo.prune(policy, vm, dry_run).map_err(repo_error)?;
    let vm_of = |id: &str| {
        listing
            .backups
            .iter()
            .find(|b| b.id == id)
            .map(|b| (b.vm.name.clone(), b.vm.endpoint.clone()))
            .unwrap_or_default()
    };
    Ok(PruneOutcome {
        dry_run,
        decisions: report
            .decisions
            .iter()
            .map(|d| {
                let (vm, endpoint) = vm_of(&d.id);
                PruneDecision {
                    vm,
                    endpoint,
                    id: d.id.clone(),
                    created: format_time(&d.created),
                    keep: d.keep,
                    reasons: d.reasons.clone(),
                }
            })
            .collect(),
        removed: report.removed,
        chunks_removed: report.gc.chunks_removed,
        bytes_freed: report.gc.bytes_freed + report.gc.temp_bytes_freed,
        temp_files_removed: report.gc.temp_files_removed,
    })
}
