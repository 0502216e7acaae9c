//! `vm move VM… --resource-pool POOL`: MoveIntoResourcePool, one VM per call so that
//! one refusal does not hold up the rest. A pool only takes VMs of its own cluster or
//! host; moving elsewhere is a migration, and is refused before anything is sent.

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

/// Move VMs concurrently (bounded by the fleet's concurrency); one result per VM.
pub async fn move_vms(
    fleet: &crate::ops::Fleet,
    vms: &[VmRef],
    pool: &str,
    progress: &dyn Progress,
) -> Vec<OpResult<MoveResult>> {
    fleet
        .each(vms.to_vec(), |vm| async move {
            move_vm(&vm, pool, progress).await
        })
        .await
}
