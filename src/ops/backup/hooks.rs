//! Pre/post backup hooks. Operations only know the `HookRunner` trait; the surface that
//! runs ceso (CLI, scripts) supplies the Rhai implementation, so `ops` does not depend on
//! the scripting layer.
//!
//! A failing pre-hook aborts the backup before any snapshot is taken; post-hooks run
//! whatever happened and are told the result.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use crate::config::schema::HotBackup;
use crate::ops::error::{OpError, OpResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HookPhase {
    Pre,
    Post,
}

/// The VM, as hooks see it.
#[derive(Debug, Clone, Serialize)]
pub struct HookVm {
    pub name: String,
    pub id: String,
    pub uuid: String,
    pub endpoint: String,
    pub power_state: String,
}

/// How the backup ended, for post-hooks.
#[derive(Debug, Clone, Default, Serialize)]
pub struct HookResult {
    pub ok: bool,
    pub error: Option<String>,
    pub kind: Option<String>,
    pub bytes_read: u64,
    pub bytes_new: u64,
}

/// What a hook is given (as the map `ctx` in Rhai).
#[derive(Debug, Clone, Serialize)]
pub struct HookContext {
    pub phase: HookPhase,
    pub vm: HookVm,
    pub backup_id: String,
    /// `hot` or `cold`.
    pub mode: String,
    pub quiesce: bool,
    /// Name of the backup snapshot (None before it is taken, or when none was).
    pub snapshot: Option<String>,
    /// None for pre-hooks.
    pub result: Option<HookResult>,
}

/// Runs one hook script. Err carries the script's failure in its own words.
pub trait HookRunner: Send + Sync {
    fn run(&self, script: &Path, context: &HookContext) -> Result<(), String>;
}

/// The hook scripts of one backup: global ones first, then the VM's own, then those
/// given on the command line.
#[derive(Debug, Clone, Default, Serialize)]
pub struct HookSet {
    pub pre: Vec<PathBuf>,
    pub post: Vec<PathBuf>,
}

impl HookSet {
    /// From the `hot_backup` config section; relative paths are relative to the config
    /// file's folder.
    pub fn from_config(config: &HotBackup, vm: &str, config_dir: Option<&Path>) -> HookSet {
        let resolve = |p: &String| {
            let path = PathBuf::from(p);
            match config_dir {
                Some(dir) if path.is_relative() => dir.join(path),
                _ => path,
            }
        };
        let own = config.vms.get(vm).map(|v| &v.hooks);
        HookSet {
            pre: config
                .hooks
                .pre
                .iter()
                .chain(own.into_iter().flat_map(|h| &h.pre))
                .map(resolve)
                .collect(),
            post: config
                .hooks
                .post
                .iter()
                .chain(own.into_iter().flat_map(|h| &h.post))
                .map(resolve)
                .collect(),
        }
    }

    pub fn add(&mut self, pre: &[PathBuf], post: &[PathBuf]) {
        self.pre.extend_from_slice(pre);
        self.post.extend_from_slice(post);
    }

    /// Every script must exist before a backup starts (a typo is found before any work).
    pub fn check(&self) -> OpResult<()> {
        for script in self.pre.iter().chain(&self.post) {
            if !script.is_file() {
                return Err(OpError::Invalid {
                    message: format!("hook script {} does not exist", script.display()),
                    hint: Some("hooks are paths to Rhai scripts (hot_backup.hooks / --pre-hook / --post-hook)".into()),
                });
            }
        }
        Ok(())
    }
}

/// Run pre-hooks in order; the first failure stops them and is the error.
pub async fn run_pre(
    runner: &Arc<dyn HookRunner>,
    scripts: &[PathBuf],
    context: &HookContext,
) -> OpResult<()> {
    for script in scripts {
        run_one(runner, script, context)
            .await
            .map_err(|message| OpError::Refused {
                message: format!("pre-backup hook {} failed: {message}", script.display()),
                hint: Some(
                    "nothing was snapshotted or stored; fix the hook or the condition it checks"
                        .into(),
                ),
            })?;
    }
    Ok(())
}

/// Run every post-hook; returns the failures as messages (the backup's outcome stands).
pub async fn run_post(
    runner: &Arc<dyn HookRunner>,
    scripts: &[PathBuf],
    context: &HookContext,
) -> Vec<String> {
    let mut failures = Vec::new();
    for script in scripts {
        if let Err(message) = run_one(runner, script, context).await {
            failures.push(format!(
                "post-backup hook {} failed: {message}",
                script.display()
            ));
        }
    }
    failures
}

/// Scripts are synchronous and may take a while: run them off the async workers.
async fn run_one(
    runner: &Arc<dyn HookRunner>,
    script: &Path,
    context: &HookContext,
) -> Result<(), String> {
    let runner = Arc::clone(runner);
    let script = script.to_path_buf();
    let context = context.clone();
    tokio::task::spawn_blocking(move || runner.run(&script, &context))
        .await
        .map_err(|e| format!("the hook crashed: {e}"))?
}
