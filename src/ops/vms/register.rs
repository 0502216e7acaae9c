//! Registering a VM from its `.vmx` (RegisterVM_Task) and unregistering one
//! (UnregisterVM, which leaves its files): the two ends of a cold migration between
//! endpoints.

use crate::ops::error::{OpError, OpResult};
use crate::ops::fleet::{Endpoint, WithEndpoint};
use crate::ops::progress::Progress;
use crate::vim::{DatastorePath, MoRef, Request};

use super::VmRef;

/// Where a registered VM goes: the datacenter's VM folder, a pool, a host.
pub struct Placement<'a> {
    pub folder: &'a MoRef,
    pub pool: &'a MoRef,
    pub host: &'a MoRef,
    pub host_name: &'a str,
}

/// RegisterVM_Task: the VM described by `vmx` appears under `name`.
pub async fn register(
    endpoint: &std::sync::Arc<Endpoint>,
    vmx: &DatastorePath,
    name: &str,
    at: &Placement<'_>,
    progress: &dyn Progress,
) -> OpResult<VmRef> {
    let client = endpoint.client().await?;
    let mut req = Request::new("RegisterVM_Task", at.folder);
    req.text("path", vmx.to_string())
        .text("name", name)
        .text("asTemplate", false)
        .moref("pool", at.pool)
        .moref("host", at.host);
    progress.step(&format!("Registering {name} on {}", endpoint.name()));
    let result = client
        .run_task(req, endpoint.timeouts().task, &|t| progress.task(t))
        .await
        .at(endpoint.name())?;
    let moref = result
        .and_then(|n| n.as_moref())
        .ok_or_else(|| OpError::invalid("RegisterVM_Task returned no VM"))?;
    Ok(VmRef {
        endpoint: endpoint.clone(),
        moref,
        name: name.to_string(),
        host: at.host_name.to_string(),
        power_state: Some("poweredOff".into()),
    })
}

/// UnregisterVM: the VM leaves the inventory, its files stay.
pub async fn unregister(vm: &VmRef, progress: &dyn Progress) -> OpResult<()> {
    let client = vm.endpoint.client().await?;
    progress.step(&format!(
        "Unregistering {} from {}",
        vm.name,
        vm.endpoint.name()
    ));
    client
        .call(Request::new("UnregisterVM", &vm.moref))
        .await
        .at(vm.endpoint.name())?;
    Ok(())
}
