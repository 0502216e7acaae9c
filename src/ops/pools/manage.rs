//! `rp create/update/delete`: each resolves everything first (the plan, shown as a
//! spec diff by --dry-run), then makes one call.

use serde::Serialize;

use crate::ops::error::{OpError, OpResult};
use crate::ops::fleet::{Target, WithEndpoint};
use crate::ops::progress::Progress;
use crate::ops::spec_diff::SpecDiff;
use crate::vim::Request;

use super::allocation::{self, Allocation, AllocationChange, Resource};
use super::{Pool, PoolInventory};

/// CPU and memory changes of a create or update.
#[derive(Debug, Clone, Default)]
pub struct PoolChange {
    pub cpu: AllocationChange,
    pub memory: AllocationChange,
}

impl PoolChange {
    fn validate(&self) -> OpResult<()> {
        self.cpu.validate(Resource::Cpu)?;
        self.memory.validate(Resource::Memory)
    }
}

/// A planned pool change: the pool (as it will be), its parent, and the diff.
#[derive(Debug, Clone, Serialize)]
pub struct PoolPlan {
    pub endpoint: String,
    pub path: String,
    pub parent: String,
    pub cpu: Allocation,
    pub memory: Allocation,
    pub diff: SpecDiff,
    /// Delete only: where the pool's VMs and child pools go.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub moved_vms: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub moved_pools: Vec<String>,
    #[serde(skip)]
    target: Option<crate::vim::MoRef>,
    #[serde(skip)]
    name: String,
}

fn valid_name(name: &str) -> OpResult<()> {
    if name.trim().is_empty() || name.len() > 80 || name.contains(['/', '\\', '%']) {
        return Err(OpError::Invalid {
            message: format!("'{name}' is not a valid resource pool name"),
            hint: Some("1 to 80 characters, without / \\ or %".into()),
        });
    }
    Ok(())
}

/// Plan `rp create PATH`: the parent is everything before the last `/` (the default
/// cluster's root pool when PATH is a bare name).
pub async fn plan_create(target: &Target, path: &str, change: &PoolChange) -> OpResult<PoolPlan> {
    change.validate()?;
    let inv = PoolInventory::read(&target.endpoint).await?;
    let trimmed = path.trim().trim_end_matches('/');
    let (parent, name) = match trimmed.rsplit_once('/') {
        Some((parent, name)) => (inv.find(parent)?, name),
        None => (inv.default_root()?, trimmed),
    };
    valid_name(name)?;
    if parent.pools.iter().any(|p| p == name) {
        return Err(OpError::refused(
            format!("{} already has a pool named '{name}'", parent.path),
            format!("change it with `ceso rp update {}/{name} …`", parent.path),
        ));
    }
    let cpu = change
        .cpu
        .applied_to(Resource::Cpu, &Allocation::default_for(Resource::Cpu));
    let memory = change
        .memory
        .applied_to(Resource::Memory, &Allocation::default_for(Resource::Memory));
    cpu.check(Resource::Cpu)?;
    memory.check(Resource::Memory)?;
    let new_path = format!("{}/{name}", parent.path);
    let mut diff = SpecDiff::new("CreateResourcePool", &parent.path, None);
    diff.set("name", name);
    for (resource, a) in [(Resource::Cpu, &cpu), (Resource::Memory, &memory)] {
        let f = resource.field();
        diff.set(&format!("{f}.shares"), a.shares_text())
            .set(
                &format!("{f}.reservation"),
                format!("{} {}", a.reservation, resource.unit()),
            )
            .set(&format!("{f}.limit"), a.limit_text(resource))
            .set(
                &format!("{f}.expandableReservation"),
                a.expandable.to_string(),
            );
    }
    Ok(PoolPlan {
        endpoint: target.endpoint.name().to_string(),
        path: new_path,
        parent: parent.path.clone(),
        cpu,
        memory,
        diff,
        moved_vms: Vec::new(),
        moved_pools: Vec::new(),
        target: Some(parent.moref()),
        name: name.to_string(),
    })
}

pub async fn create(target: &Target, plan: &PoolPlan, progress: &dyn Progress) -> OpResult<Pool> {
    let endpoint = target.endpoint.name().to_string();
    let client = target.endpoint.client().await?;
    let parent = plan
        .target
        .clone()
        .ok_or_else(|| OpError::invalid("the plan has no parent pool"))?;
    let mut req = Request::new("CreateResourcePool", &parent);
    req.text("name", &plan.name);
    req.nest("spec", None, |r| {
        allocation::write_full(r, Resource::Cpu, &plan.cpu);
        allocation::write_full(r, Resource::Memory, &plan.memory);
    });
    progress.step(&format!("Creating resource pool {}", plan.path));
    let created = client
        .call_returnval(req)
        .await
        .at(&endpoint)?
        .and_then(|n| n.as_moref())
        .ok_or_else(|| OpError::invalid("CreateResourcePool returned no pool"))?;
    let inv = PoolInventory::read(&target.endpoint).await?;
    inv.by_id(&created)
        .cloned()
        .ok_or_else(|| OpError::invalid(format!("pool {} vanished after creation", created)))
}

pub async fn plan_update(target: &Target, wanted: &str, change: &PoolChange) -> OpResult<PoolPlan> {
    change.validate()?;
    if change.cpu.is_empty() && change.memory.is_empty() {
        return Err(OpError::Invalid {
            message: "nothing to change".into(),
            hint: Some(
                "give --cpu-shares, --memory-limit, --expandable … (see `ceso rp update --help`)"
                    .into(),
            ),
        });
    }
    let inv = PoolInventory::read(&target.endpoint).await?;
    let pool = inv.find(wanted)?;
    let cpu = change.cpu.applied_to(Resource::Cpu, &pool.cpu);
    let memory = change.memory.applied_to(Resource::Memory, &pool.memory);
    cpu.check(Resource::Cpu)?;
    memory.check(Resource::Memory)?;
    let mut diff = SpecDiff::new("UpdateConfig", &pool.path, None);
    allocation::diff(&mut diff, Resource::Cpu, &pool.cpu, &cpu);
    allocation::diff(&mut diff, Resource::Memory, &pool.memory, &memory);
    Ok(PoolPlan {
        endpoint: target.endpoint.name().to_string(),
        path: pool.path.clone(),
        parent: pool.parent.clone().unwrap_or_default(),
        cpu,
        memory,
        diff,
        moved_vms: Vec::new(),
        moved_pools: Vec::new(),
        target: Some(pool.moref()),
        name: pool.name.clone(),
    })
}

pub async fn update(
    target: &Target,
    plan: &PoolPlan,
    change: &PoolChange,
    progress: &dyn Progress,
) -> OpResult<Pool> {
    let endpoint = target.endpoint.name().to_string();
    let client = target.endpoint.client().await?;
    let pool = plan
        .target
        .clone()
        .ok_or_else(|| OpError::invalid("the plan has no pool"))?;
    if !plan.diff.is_empty() {
        let mut req = Request::new("UpdateConfig", &pool);
        req.nest("config", None, |r| {
            allocation::write_change(r, Resource::Cpu, &change.cpu);
            allocation::write_change(r, Resource::Memory, &change.memory);
        });
        progress.step(&format!("Updating resource pool {}", plan.path));
        client.call(req).await.at(&endpoint)?;
    }
    let inv = PoolInventory::read(&target.endpoint).await?;
    inv.by_id(&pool)
        .cloned()
        .ok_or_else(|| OpError::invalid(format!("pool {} vanished", plan.path)))
}

pub async fn plan_delete(target: &Target, wanted: &str) -> OpResult<PoolPlan> {
    let inv = PoolInventory::read(&target.endpoint).await?;
    let pool = inv.find(wanted)?;
    let Some(parent) = pool.parent.clone() else {
        return Err(OpError::refused(
            format!(
                "{} is the root pool of {}: it cannot be deleted",
                pool.path, pool.owner
            ),
            "delete the pools inside it instead",
        ));
    };
    let mut diff = SpecDiff::new("Destroy_Task", &pool.path, None);
    diff.unset("name", pool.name.clone());
    if !pool.vms.is_empty() {
        diff.edit(
            "vm",
            format!("{} [{}]", pool.path, pool.vms.join(", ")),
            format!("{parent} (vSphere moves them to the parent)"),
        );
    }
    if !pool.pools.is_empty() {
        diff.edit(
            "resourcePool",
            format!("{} [{}]", pool.path, pool.pools.join(", ")),
            format!("{parent} (vSphere moves them to the parent)"),
        );
    }
    Ok(PoolPlan {
        endpoint: target.endpoint.name().to_string(),
        path: pool.path.clone(),
        parent,
        cpu: pool.cpu.clone(),
        memory: pool.memory.clone(),
        diff,
        moved_vms: pool.vms.clone(),
        moved_pools: pool.pools.clone(),
        target: Some(pool.moref()),
        name: pool.name.clone(),
    })
}

pub async fn delete(target: &Target, plan: &PoolPlan, progress: &dyn Progress) -> OpResult<()> {
    let endpoint = target.endpoint.name().to_string();
    let client = target.endpoint.client().await?;
    let pool = plan
        .target
        .clone()
        .ok_or_else(|| OpError::invalid("the plan has no pool"))?;
    progress.step(&format!("Deleting resource pool {}", plan.path));
    client
        .run_task(
            Request::new("Destroy_Task", &pool),
            target.endpoint.timeouts().task,
            &|t| progress.task(t),
        )
        .await
        .at(&endpoint)?;
    Ok(())
}
