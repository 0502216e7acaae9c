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

use std::path::PathBuf;

use serde::Serialize;

pub use create::{BackupPreview, BackupRecord, DiskRead, create, preview};
pub use hooks::{HookContext, HookPhase, HookRunner, HookSet, NoHookRunner};
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
