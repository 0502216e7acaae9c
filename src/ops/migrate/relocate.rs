//! Migration inside one vCenter (or one ESXi host's own datastores): RelocateVM_Task,
//! after the precheck. `--live` moves a running VM (vMotion); a running VM without it is
//! refused, never powered off behind the user's back.

use serde::Serialize;

use crate::ops::drs;
use crate::ops::error::{OpError, OpResult};
use crate::ops::fleet::{Target, WithEndpoint};
use crate::ops::pools::PoolInventory;
use crate::ops::progress::Progress;
use crate::ops::vms::VmRef;
use crate::vim::{Client, MoRef, Request};

use super::MigrateSpec;
use super::facts::Inventory;
use super::precheck::{self, Check, Input, Kind};

/// What a relocation would do (shown by --dry-run) and, after it, did.
#[derive(Debug, Clone, Serialize)]
pub struct RelocatePlan {
    pub vm: String,
    pub endpoint: String,
    pub kind: &'static str,
    pub from_host: String,
    pub to_host: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_datastore: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_datastore: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_pool: Option<String>,
    /// Nothing to move: already on that host and datastore.
    pub changed: bool,
    pub checks: Vec<Check>,
    #[serde(skip)]
    spec: Spec,
}

#[derive(Debug, Clone, Default)]
struct Spec {
    host: Option<MoRef>,
    datastore: Option<MoRef>,
    pool: Option<MoRef>,
}

/// Read, decide and check; nothing is changed. A failed check is an error listing
/// every check line.
pub async fn plan(vm: &VmRef, spec: &MigrateSpec) -> OpResult<RelocatePlan> {
    let plan = assess(vm, spec).await?;
    refuse_blocked(&plan)?;
    Ok(plan)
}

/// `plan` that keeps a plan whose checks failed (`host evacuate` decides per VM what a
/// failed check means: a passthrough device sends a running VM cold).
pub async fn assess(vm: &VmRef, spec: &MigrateSpec) -> OpResult<RelocatePlan> {
    let endpoint = vm.endpoint.name().to_string();
    let client = vm.endpoint.client().await?;
    let inv = Inventory::read(vm).await?;
    let facts = inv.vm_facts(vm).await?;
    if facts.powered_on && !spec.live {
        return Err(OpError::refused(
            format!("{} is powered on; it was not migrated", vm.name),
            format!(
                "pass --live to move it running (vMotion), or stop it first (`ceso vm stop {}`)",
                vm.name
            ),
        ));
    }
    let to_host = spec
        .to_host
        .as_deref()
        .ok_or_else(|| OpError::invalid("give the target host with --to-host"))?;
    let target = inv.host(to_host)?;
    let from = inv
        .hosts
        .iter()
        .find(|h| h.facts.id == facts.host_id)
        .ok_or_else(|| OpError::invalid(format!("{} has no host (orphaned?)", vm.name)))?;
    let datastore = match &spec.datastore {
        Some(ds) => Some((ds.clone(), inv.datastore(ds)?)),
        None => None,
    };
    let pool = match &spec.resource_pool {
        Some(p) => {
            let pools = PoolInventory::read(&vm.endpoint).await?;
            let pool = pools.find(p)?;
            if pool.owner != target.compute_name {
                return Err(OpError::Invalid {
                    message: format!(
                        "pool {} belongs to {}, but {} is in {}",
                        pool.path, pool.owner, target.facts.name, target.compute_name
                    ),
                    hint: Some("pick a pool of the target host's cluster (`ceso rp list`)".into()),
                });
            }
            Some((pool.path.clone(), pool.moref()))
        }
        // Another compute resource: its root pool (vSphere needs a pool there).
        None if target.compute != from.compute => target
            .root_pool
            .clone()
            .map(|p| (format!("{}/Resources", target.compute_name), p)),
        None => None,
    };
    let drs = if target.in_cluster {
        let t = Target {
            endpoint: vm.endpoint.clone(),
            host: None,
        };
        Some(drs::load(&t, Some(&target.compute_name)).await?.1)
    } else {
        None
    };
    let ds_name = datastore.as_ref().map(|(n, _)| n.as_str());
    let moves_host = target.moref != from.moref;
    let moves_ds = ds_name
        .is_some_and(|d| facts.datastores.is_empty() || facts.datastores.iter().any(|f| f != d));
    let mut checks = precheck::run(&Input {
        vm: &facts,
        target: &target.facts,
        datastore: ds_name,
        ratios: spec.ratios,
        drs: drs.as_ref(),
        force: spec.force || !spec.check_compatibility,
        cold: false,
    });
    let relocate = Spec {
        host: moves_host.then(|| target.moref.clone()),
        datastore: datastore
            .as_ref()
            .filter(|_| moves_ds)
            .map(|(_, m)| m.clone()),
        pool: pool.as_ref().map(|(_, m)| m.clone()),
    };
    checks.extend(server_checks(&client, &endpoint, vm, &relocate).await?);
    let kind = match (facts.powered_on, moves_host, moves_ds) {
        (true, true, true) => "vmotion+storage",
        (true, true, false) => "vmotion",
        (true, false, true) => "storage vmotion",
        _ => "cold relocate",
    };
    let plan = RelocatePlan {
        vm: vm.name.clone(),
        endpoint,
        kind,
        from_host: from.facts.name.clone(),
        to_host: target.facts.name.clone(),
        from_datastore: moves_ds.then(|| facts.datastores.join(", ")),
        to_datastore: ds_name.filter(|_| moves_ds).map(str::to_string),
        to_pool: pool.map(|(n, _)| n),
        changed: moves_host || moves_ds,
        checks,
        spec: relocate,
    };
    Ok(plan)
}

/// The refusal listing every check line, when any check blocks the move.
pub fn refuse_blocked(plan: &RelocatePlan) -> OpResult<()> {
    let failed: Vec<String> = plan
        .checks
        .iter()
        .filter(|c| c.blocks())
        .map(Check::line)
        .collect();
    if !failed.is_empty() {
        let advisory_only = plan
            .checks
            .iter()
            .filter(|c| c.blocks())
            .all(|c| c.kind == Kind::Advisory);
        return Err(OpError::refused(
            format!(
                "{} cannot move to {}; nothing was changed:\n{}",
                plan.vm,
                plan.to_host,
                failed.join("\n")
            ),
            if advisory_only {
                "these are ceso's advisory checks: --force migrates anyway"
            } else {
                "fix what the FAIL lines name (or pick another host); --force skips only ceso's advisory checks"
            },
        ));
    }
    Ok(())
}

/// The server's compatibility checks (VirtualMachineProvisioningChecker.CheckRelocate_Task)
/// where it has them; a note otherwise (vcsim and ESXi have none: RelocateVM_Task
/// checks on its own).
async fn server_checks(
    client: &Client,
    endpoint: &str,
    vm: &VmRef,
    spec: &Spec,
) -> OpResult<Vec<Check>> {
    let Some(checker) = client.content().manager("vmProvisioningChecker") else {
        return Ok(vec![Check {
            name: "server",
            kind: Kind::Server,
            ok: true,
            forced: false,
            reason: "this server has no provisioning checker; RelocateVM_Task checks as it runs"
                .into(),
        }]);
    };
    let mut req = Request::new("CheckRelocate_Task", &checker);
    req.moref("vm", &vm.moref);
    req.nest("spec", None, |r| write_spec(r, spec));
    for test in [
        "sourceTests",
        "hostTests",
        "resourcePoolTests",
        "datastoreTests",
        "networkTests",
    ] {
        req.text("testType", test);
    }
    let result = match client
        .run_task(req, vm.endpoint.timeouts().task, &|_| {})
        .await
    {
        Ok(result) => result,
        // vcsim lists a checker that implements nothing.
        Err(e) if e.is_fault("MethodNotFound") || e.is_fault("NotImplemented") => {
            return Ok(vec![Check {
                name: "server",
                kind: Kind::Server,
                ok: true,
                forced: false,
                reason: "this server's provisioning checker does not implement CheckRelocate; RelocateVM_Task checks as it runs".into(),
            }]);
        }
        Err(e) => return Err(OpError::vim(endpoint, e)),
    };
    let mut out = Vec::new();
    for r in result.iter().flat_map(|n| n.items()) {
        for (node, ok) in r
            .children_named("error")
            .map(|e| (e, false))
            .chain(r.children_named("warning").map(|w| (w, true)))
        {
            let message = node
                .str_at("localizedMessage")
                .filter(|m| !m.is_empty())
                .map(str::to_string)
                .unwrap_or_else(|| node.xsi_type.clone().unwrap_or_else(|| "fault".into()));
            out.push(Check {
                name: "server",
                kind: Kind::Server,
                ok,
                forced: false,
                reason: if ok {
                    format!("warning: {message}")
                } else {
                    message
                },
            });
        }
    }
    if out.is_empty() {
        out.push(Check {
            name: "server",
            kind: Kind::Server,
            ok: true,
            forced: false,
            reason: "CheckRelocate found nothing".into(),
        });
    }
    Ok(out)
}

/// VirtualMachineRelocateSpec in WSDL order: datastore, pool, host.
fn write_spec(r: &mut Request, spec: &Spec) {
    if let Some(ds) = &spec.datastore {
        r.moref("datastore", ds);
    }
    if let Some(pool) = &spec.pool {
        r.moref("pool", pool);
    }
    if let Some(host) = &spec.host {
        r.moref("host", host);
    }
}

/// Run a planned relocation.
pub async fn run(vm: &VmRef, plan: &RelocatePlan, progress: &dyn Progress) -> OpResult<()> {
    if !plan.changed {
        return Ok(());
    }
    let step = format!("Migrating {} to {} ({})", vm.name, plan.to_host, plan.kind);
    relocate(vm, &plan.spec, &step, progress).await
}

/// One RelocateVM_Task, waited for.
async fn relocate(vm: &VmRef, spec: &Spec, step: &str, progress: &dyn Progress) -> OpResult<()> {
    let client = vm.endpoint.client().await?;
    let mut req = Request::new("RelocateVM_Task", &vm.moref);
    req.nest("spec", None, |r| write_spec(r, spec));
    req.text("priority", "defaultPriority");
    progress.step(step);
    client
        .run_task(req, vm.endpoint.timeouts().task, &|t| progress.task(t))
        .await
        .at(vm.endpoint.name())?;
    Ok(())
}
