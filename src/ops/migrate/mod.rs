//! `vm migrate`: moving VMs between hosts and datastores. Inside one vCenter this is
//! RelocateVM_Task (vMotion with `--live`) after a precheck (`precheck`, over facts read
//! by `facts`); between endpoints it is a cold migration over datastore HTTP (`cold`).
//! `evacuate` moves every VM off one host through the same operations.

pub mod evacuate;
pub mod facts;
pub mod precheck;
pub mod relocate;

use serde::Serialize;

use crate::config::LoadedConfig;
use crate::ops::error::OpResult;
use crate::ops::fleet::Fleet;
use crate::ops::progress::Progress;
use crate::ops::vms::VmRef;

pub use precheck::{Check, Kind, Ratios};
pub use relocate::RelocatePlan;

/// What the user asked for (`vm migrate` flags, or a script's options map).
#[derive(Debug, Clone, Default)]
pub struct MigrateSpec {
    pub to_host: Option<String>,
    pub datastore: Option<String>,
    pub resource_pool: Option<String>,
    pub live: bool,
    pub force: bool,
    pub ratios: Ratios,
    /// `phase4.multi_host.migration.check_compatibility`: false skips ceso's advisory
    /// checks as `--force` does.
    pub check_compatibility: bool,
}

impl MigrateSpec {
    /// The config's migration settings and overcommit ratios.
    pub fn with_config(mut self, config: &LoadedConfig) -> Self {
        let phase4 = config.config.phase4.as_ref();
        if let Some(o) = phase4
            .and_then(|p| p.optimization.as_ref())
            .and_then(|o| o.overcommit.as_ref())
        {
            self.ratios = Ratios {
                cpu: o.cpu,
                memory: o.memory,
            };
        }
        self.check_compatibility = phase4
            .and_then(|p| p.multi_host.as_ref())
            .and_then(|m| m.migration.as_ref())
            .is_none_or(|m| m.check_compatibility);
        self
    }
}

/// One VM's migration, planned or done.
#[derive(Debug, Clone, Serialize)]
pub struct MigrateResult {
    #[serde(flatten)]
    pub plan: RelocatePlan,
    pub dry_run: bool,
}

/// Plan (and unless `dry_run`, run) the migration of each VM, concurrently within the
/// fleet's bound; one result per VM, in order.
pub async fn migrate_vms(
    fleet: &Fleet,
    vms: &[VmRef],
    spec: &MigrateSpec,
    dry_run: bool,
    progress: &dyn Progress,
) -> Vec<OpResult<MigrateResult>> {
    fleet
        .each(vms.to_vec(), |vm| async move {
            let plan = relocate::plan(&vm, spec).await?;
            if !dry_run {
                relocate::run(&vm, &plan, progress).await?;
            }
            Ok(MigrateResult { plan, dry_run })
        })
        .await
}
