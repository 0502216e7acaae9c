//! Hot and cold VM backups into a deduplicating repository (`crate::backup_repo`), with
//! CBT incrementals, hooks, verify, prune and restore.

pub mod cbt;
pub mod create;
pub mod descriptor;
pub mod hooks;
pub mod layout;
pub mod leftover;
pub mod plan;
pub mod reader;
pub mod repo;
pub mod restore;
pub mod throttle;
pub mod writer;

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::config::LoadedConfig;
use crate::ops::error::{OpError, OpResult};

pub use create::{BackupPreview, BackupRecord, DiskRead, create, preview};
pub use hooks::{HookContext, HookPhase, HookRunner, HookSet};
pub use restore::{RestorePlan, RestoreRequest, RestoredVm, restore};
pub use throttle::parse_rate;

/// What `backup create` was asked for (config and flags already merged by the surface).
#[derive(Debug, Clone, Default, Serialize)]
pub struct BackupOptions {
    /// Back up a running VM from a snapshot (required when it runs).
    pub hot: bool,
    /// `--quiesce` / `--no-quiesce`; None: the VM's or the global config default.
    pub quiesce: Option<bool>,
    /// Read every disk completely even when an incremental is possible.
    pub full: bool,
    pub repository: PathBuf,
    /// Read limit in bytes per second.
    pub max_rate: Option<u64>,
    pub hooks: HookSet,
}

impl BackupOptions {
    /// What the config says for a backup of `vm`: the repository (unless `repo` is
    /// given), the hooks (global, then the VM's) and the read limit (unless `max_rate` is
    /// given). The surface then sets its flags.
    pub fn from_config(
        config: &LoadedConfig,
        vm: &str,
        repo: Option<&Path>,
        max_rate: Option<&str>,
    ) -> OpResult<BackupOptions> {
        let settings = config.hot_backup();
        let max_rate = match (max_rate, &settings.max_rate) {
            (Some(text), _) => Some(parse_rate(text).map_err(OpError::invalid)?),
            (None, Some(text)) => Some(parse_rate(text).map_err(|m| {
                OpError::invalid(format!("hot_backup.max_rate in the config: {m}"))
            })?),
            (None, None) => None,
        };
        Ok(BackupOptions {
            hot: false,
            quiesce: None,
            full: false,
            repository: repo::location(repo, config)?,
            max_rate,
            hooks: HookSet::from_config(
                &settings,
                vm,
                config.path.as_deref().and_then(Path::parent),
            ),
        })
    }
}
