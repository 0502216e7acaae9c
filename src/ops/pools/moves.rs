//! `vm move VM… --resource-pool POOL`: MoveIntoResourcePool, one VM per call. Every
//! VM is planned first: a pool only takes VMs of its own cluster or host (moving
//! elsewhere is a migration), and when any VM is refused, all are, before anything is
//! sent.

use serde::Serialize;

use crate::ops::error::{OpError, OpResult};
use crate::ops::fleet::WithEndpoint;
use crate::ops::progress::Progress;
use crate::ops::vms::VmRef;
use crate::vim::{MoRef, Request};

use super::PoolInventory;

#[derive(Debug, Clone, Serialize)]
pub struct MoveResult {
    pub vm: String,
    pub endpoint: String,
    pub from: String,
    pub to: String,
    pub changed: bool,
    #[serde(skip)]
    pool: Option<MoRef>,
}

/// Where `vm` would go: (from path, to path), or a refusal.
pub async fn plan_move(vm: &VmRef, pool: &str) -> OpResult<MoveResult> {
    let endpoint = vm.endpoint.name().to_string();
    let client = vm.endpoint.client().await?;
    let inv = PoolInventory::read(&vm.endpoint).await?;
    let to = inv.find(pool)?;
    let current = client
        .properties(&vm.moref, &["resourcePool"])
        .await
        .at(&endpoint)?
        .moref("resourcePool");
    let from = current.as_ref().and_then(|p| inv.by_id(p));
    let Some(from) = from else {
        return Err(OpError::refused(
            format!("{} is not in a resource pool (a template?)", vm.name),
            "only registered VMs in a pool can be moved",
        ));
    };
    if from.owner != to.owner {
        return Err(OpError::refused(
            format!(
                "{} is in {} ({}); {} belongs to {}",
                vm.name, from.owner, from.path, to.path, to.owner
            ),
            "a pool takes only VMs of its own cluster or host; moving to another one is a migration",
        ));
    }
    Ok(MoveResult {
        vm: vm.name.clone(),
        endpoint,
        from: from.path.clone(),
        to: to.path.clone(),
        changed: from.id != to.id,
        pool: Some(to.moref()),
    })
}

/// Move one VM (already planned) into its pool.
pub async fn move_vm(vm: &VmRef, pool: &str, progress: &dyn Progress) -> OpResult<MoveResult> {
    let planned = plan_move(vm, pool).await?;
    if !planned.changed {
        return Ok(planned);
    }
    let client = vm.endpoint.client().await?;
    let to = planned
        .pool
        .clone()
        .ok_or_else(|| OpError::invalid("the plan has no pool"))?;
    let mut req = Request::new("MoveIntoResourcePool", &to);
    req.moref("list", &vm.moref);
    progress.step(&format!("Moving {} into {}", vm.name, planned.to));
    client.call(req).await.at(vm.endpoint.name())?;
    Ok(planned)
}

/// Every VM's move, planned; when any VM cannot move, that refusal for all of them
/// (each VM named with its reason) and nothing is sent.
pub async fn plan_moves(
    fleet: &crate::ops::Fleet,
    vms: &[VmRef],
    pool: &str,
) -> OpResult<Vec<MoveResult>> {
    let plans = fleet
        .each(vms.to_vec(), |vm| async move { plan_move(&vm, pool).await })
        .await;
    let mut ok = Vec::new();
    let mut refused = Vec::new();
    for (vm, plan) in vms.iter().zip(plans) {
        match plan {
            Ok(p) => ok.push(p),
            Err(e) => refused.push((vm.name.clone(), e)),
        }
    }
    match crate::ops::batch::combine(refused, "nothing was moved") {
        None => Ok(ok),
        Some(e) => Err(e),
    }
}

/// Plan every VM's move (all refused if one is), then move them concurrently (bounded
/// by the fleet's concurrency); one result per VM, for `batch::settle`.
pub async fn move_vms(
    fleet: &crate::ops::Fleet,
    vms: &[VmRef],
    pool: &str,
    progress: &dyn Progress,
) -> OpResult<Vec<OpResult<MoveResult>>> {
    plan_moves(fleet, vms, pool).await?;
    Ok(fleet
        .each(vms.to_vec(), |vm| async move {
            move_vm(&vm, pool, progress).await
        })
        .await)
}
