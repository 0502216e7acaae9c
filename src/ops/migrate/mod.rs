//! `vm migrate`: moving VMs between hosts and datastores. Inside one vCenter this is
//! RelocateVM_Task (vMotion with `--live`) after a precheck (`precheck`, over facts read
//! by `facts`); between endpoints it is a cold migration over datastore HTTP (`cold`).
//! `evacuate` moves every VM off one host through the same operations.

pub mod cold;
pub mod copy;
pub mod delta_copy;
pub mod delta_disk;
pub mod evacuate;
pub mod facts;
pub mod journal;
pub mod precheck;
pub mod relocate;
pub mod warm;
pub mod warm_rounds;

use std::sync::Arc;

use serde::Serialize;

use crate::config::LoadedConfig;
use crate::ops::error::{OpError, OpResult};
use crate::ops::fleet::{Endpoint, Fleet};
use crate::ops::progress::Progress;
use crate::ops::vms::VmRef;

pub use cold::{ColdOutcome, ColdPlan};
pub use precheck::{Check, Kind, Ratios};
pub use relocate::RelocatePlan;
pub use warm::{WarmOptions, WarmOutcome};

/// What to do when the delta rounds of a warm migration do not converge.
pub const NOT_CONVERGING_HINT: &str = "cut over at a set time (`--cutover-at`), accept a larger last delta (`--cutover-when-delta-below`), allow more rounds (`--max-rounds`), or migrate cold (`--cold --shutdown`)";

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
    /// `--cold`: copy the VM's files to another endpoint.
    pub cold: bool,
    /// `--shutdown`: shut a running VM's guest down first (and power it on after).
    pub shutdown: bool,
    /// `--keep-source`: unregister the source but keep its files.
    pub keep_source: bool,
    /// `--network-map OLD=NEW,…`
    pub network_map: Vec<(String, String)>,
    /// `phase4.multi_host.migration.preserve_mac`: the copy keeps the source's MACs.
    pub preserve_mac: bool,
    /// `--warm`: copy while the VM runs, then cut over.
    pub warm: bool,
    /// Snapshots of the VM that are a warm migration's own leftovers (a killed run's
    /// round snapshot), removed before it copies: the snapshot check does not count them.
    pub own_snapshots: usize,
    pub warm_options: WarmOptions,
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
        self.preserve_mac = phase4
            .and_then(|p| p.multi_host.as_ref())
            .and_then(|m| m.migration.as_ref())
            .is_none_or(|m| m.preserve_mac);
        self
    }
}

/// `OLD=NEW` pairs of `--network-map` (comma-separated lists are split by the caller).
pub fn parse_network_map(items: &[String]) -> OpResult<Vec<(String, String)>> {
    items
        .iter()
        .filter(|i| !i.trim().is_empty())
        .map(|item| match item.split_once('=') {
            Some((old, new)) if !old.trim().is_empty() && !new.trim().is_empty() => {
                Ok((old.trim().to_string(), new.trim().to_string()))
            }
            _ => Err(crate::ops::OpError::Invalid {
                message: format!("--network-map {item}: expected OLD=NEW"),
                hint: Some("e.g. --network-map 'VM Network=prod-vlan10,backup=backup-net'".into()),
            }),
        })
        .collect()
}

/// One VM's migration, planned or done.
#[derive(Debug, Clone, Serialize)]
pub struct MigrateResult {
    #[serde(flatten)]
    pub plan: Planned,
    pub dry_run: bool,
    /// What a cold migration between endpoints did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<ColdOutcome>,
    /// What a warm migration between endpoints did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warm: Option<WarmOutcome>,
}

/// Inside one endpoint (RelocateVM_Task) or between two (a cold copy).
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Planned {
    Relocate(Box<RelocatePlan>),
    Cold(Box<ColdPlan>),
}

impl Planned {
    pub fn vm(&self) -> &str {
        match self {
            Planned::Relocate(p) => &p.vm,
            Planned::Cold(p) => &p.vm,
        }
    }

    pub fn to_host(&self) -> &str {
        match self {
            Planned::Relocate(p) => &p.to_host,
            Planned::Cold(p) => &p.to_host,
        }
    }

    pub fn checks(&self) -> &[Check] {
        match self {
            Planned::Relocate(p) => &p.checks,
            Planned::Cold(p) => &p.checks,
        }
    }
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
    let to_host = spec.to_host.clone().unwrap_or_default();
    let elsewhere = other_endpoint(fleet, &to_host);
    fleet
        .each(vms.to_vec(), |vm| {
            let elsewhere = elsewhere.clone();
            let to_host = to_host.clone();
            async move {
                let target = match elsewhere {
                    Some(t) if t.0.name() != vm.endpoint.name() => Some(t),
                    _ => None,
                };
                if let Some((endpoint, host)) = target {
                    return cold_one(&vm, &endpoint, host.as_deref(), spec, dry_run, progress)
                        .await;
                }
                if spec.warm {
                    return Err(OpError::refused(
                        format!(
                            "{} and {to_host} are on one endpoint: a warm migration is between endpoints; nothing was changed",
                            vm.name
                        ),
                        "inside one vCenter use --live (vMotion)",
                    ));
                }
                match relocate::plan(&vm, spec).await {
                    Ok(plan) => {
                        if !dry_run {
                            relocate::run(&vm, &plan, progress).await?;
                        }
                        Ok(MigrateResult {
                            plan: Planned::Relocate(Box::new(plan)),
                            dry_run,
                            outcome: None,
                            warm: None,
                        })
                    }
                    // Not a host of the VM's endpoint: perhaps one of another endpoint.
                    Err(OpError::NotFound { kind: "host", .. }) if fleet.endpoints().len() > 1 => {
                        let (endpoint, host) =
                            host_elsewhere(fleet, vm.endpoint.name(), &to_host).await?;
                        cold_one(&vm, &endpoint, Some(&host), spec, dry_run, progress).await
                    }
                    Err(e) => Err(e),
                }
            }
        })
        .await
}

/// The VMs that migrate_vms moved (or would move), and Ok, or the error naming each VM
/// left: a partial failure (exit 7) once any VM moved, never a refusal after a change.
pub fn settle(
    names: &[String],
    results: Vec<OpResult<MigrateResult>>,
    dry_run: bool,
) -> (Vec<MigrateResult>, OpResult<()>) {
    let verb = if dry_run { "would migrate" } else { "migrated" };
    // A dry run changes nothing: a VM refused in it is never a partial change.
    crate::ops::batch::settle(verb, names, results, |r| {
        !dry_run
            && match &r.plan {
                Planned::Relocate(p) => p.changed,
                Planned::Cold(_) => true,
            }
    })
}

/// `--to-host ENDPOINT` or `--to-host ENDPOINT/HOST`: a host of another configured
/// endpoint (None: a host name, looked up on the VM's own endpoint first).
pub(crate) fn other_endpoint(
    fleet: &Fleet,
    to_host: &str,
) -> Option<(Arc<Endpoint>, Option<String>)> {
    if let Some(e) = fleet.endpoint(to_host) {
        return Some((e.clone(), None));
    }
    let (endpoint, host) = to_host.split_once('/')?;
    fleet
        .endpoint(endpoint)
        .map(|e| (e.clone(), Some(host.to_string())))
}

/// `to_host`, not a host of endpoint `own`, as the one host of that name on another
/// configured endpoint (and that endpoint).
pub(crate) async fn host_elsewhere(
    fleet: &Fleet,
    own: &str,
    to_host: &str,
) -> OpResult<(Arc<Endpoint>, String)> {
    let found = crate::ops::hosts::find(fleet, &crate::ops::fleet::Scope::Default, to_host).await?;
    let endpoint = fleet
        .endpoint(&found.summary.endpoint)
        .cloned()
        .ok_or_else(|| OpError::invalid(format!("no endpoint {}", found.summary.endpoint)))?;
    if endpoint.name() == own {
        return Err(OpError::NotFound {
            kind: "host",
            name: to_host.to_string(),
            suggestions: Vec::new(),
        });
    }
    Ok((endpoint, found.summary.name))
}

async fn cold_one(
    vm: &VmRef,
    endpoint: &Arc<Endpoint>,
    host: Option<&str>,
    spec: &MigrateSpec,
    dry_run: bool,
    progress: &dyn Progress,
) -> OpResult<MigrateResult> {
    if spec.warm {
        let plan = warm::plan(vm, endpoint, host, spec, dry_run, progress).await?;
        let warm = if dry_run {
            None
        } else {
            Some(warm::run(vm, &plan, &spec.warm_options, spec.force, progress).await?)
        };
        return Ok(MigrateResult {
            plan: Planned::Cold(Box::new(plan)),
            dry_run,
            outcome: None,
            warm,
        });
    }
    let plan = cold::plan(vm, endpoint, host, spec).await?;
    let outcome = if dry_run {
        None
    } else {
        Some(cold::run(vm, &plan, progress).await?)
    };
    Ok(MigrateResult {
        plan: Planned::Cold(Box::new(plan)),
        dry_run,
        outcome,
        warm: None,
    })
}
