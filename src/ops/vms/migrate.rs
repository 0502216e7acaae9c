//! Moving a running VM to another host of its cluster (vMotion): RelocateVM_Task with
//! only `spec.host`, so storage and resource pool stay.

use crate::ops::error::OpResult;
use crate::ops::fleet::WithEndpoint;
use crate::ops::progress::Progress;
use crate::vim::{MoRef, Request};

use super::VmRef;

pub async fn migrate(
    vm: &VmRef,
    host: &MoRef,
    host_name: &str,
    progress: &dyn Progress,
) -> OpResult<()> {
    let client = vm.endpoint.client().await?;
    let mut req = Request::new("RelocateVM_Task", &vm.moref);
    req.nest("spec", None, |r| {
        r.moref("host", host);
    });
    req.text("priority", "defaultPriority");
    progress.step(&format!("Migrating {} to {host_name}", vm.name));
    let on_task = |t: &crate::vim::TaskProgress| progress.task(t);
    client
        .run_task(req, vm.endpoint.timeouts().task, &on_task)
        .await
        .at(vm.endpoint.name())?;
    Ok(())
}
