//! `vm update`: read the VM, plan one ReconfigVM_Task (update_spec), send it. The power
//! state is read again just before sending: a VM started since the plan was made is
//! refused, not half-changed.

use crate::ops::error::{OpError, OpResult};
use crate::ops::fleet::WithEndpoint;
use crate::ops::progress::Progress;
use crate::vim::Request;

use super::VmRef;
use super::update_spec::{self, Cdrom, UpdatePlan, UpdateRequest, VmConfig};
use crate::ops::datastore_files;

/// The plan for `req` on `vm`, or why it is refused; nothing is sent.
pub async fn prepare(vm: &VmRef, req: &UpdateRequest) -> OpResult<UpdatePlan> {
    if req.is_empty() {
        return Err(OpError::Invalid {
            message: format!("nothing to change on {}", vm.name),
            hint: Some("give at least one setting, e.g. --cpu 4 or --memory 8192 (`ceso vm update --help`)".into()),
        });
    }
    let client = vm.endpoint.client().await?;
    let props = client
        .properties(&vm.moref, update_spec::PATHS)
        .await
        .at(vm.endpoint.name())?;
    let plan = update_spec::plan(&VmConfig::read(&vm.name, &props), req)?;
    if let Some(Cdrom::Insert(iso)) = &req.cdrom {
        check_iso(vm, iso).await?;
    }
    Ok(plan)
}

/// The ISO must be on its datastore: ReconfigVM would accept a missing one and leave
/// the guest an empty drive (real hosts fail only at power-on or connect).
async fn check_iso(vm: &VmRef, iso: &str) -> OpResult<()> {
    let path = datastore_files::parse_path(iso)?;
    let loc = datastore_files::locate_on(vm.endpoint.clone(), path).await?;
    let found = match datastore_files::matches(&loc, &crate::ops::progress::Silent).await {
        Ok(found) => found,
        // Its folder is missing.
        Err(OpError::NotFound { .. }) => Vec::new(),
        Err(e) => return Err(e),
    };
    if found.iter().any(|f| !f.is_folder()) {
        return Ok(());
    }
    Err(OpError::NotFound {
        kind: "ISO image",
        name: iso.to_string(),
        suggestions: Vec::new(),
    })
}

/// Send the plan (nothing when it changes nothing). Returns whether the VM changed.
pub async fn apply(vm: &VmRef, plan: &UpdatePlan, progress: &dyn Progress) -> OpResult<bool> {
    if plan.is_empty() {
        return Ok(false);
    }
    let endpoint = vm.endpoint.name();
    let client = vm.endpoint.client().await?;
    let now = client
        .properties(&vm.moref, &["runtime.powerState"])
        .await
        .at(endpoint)?;
    let state = now.str("runtime.powerState").unwrap_or_default();
    if state != plan.power_state {
        return Err(OpError::refused(
            format!(
                "{} went from {} to {state} while the change was planned",
                vm.name, plan.power_state
            ),
            "run the command again: what is allowed depends on the power state; nothing was changed",
        ));
    }
    let mut req = Request::new("ReconfigVM_Task", &vm.moref);
    plan.write(&mut req);
    progress.step(&format!("Reconfiguring {}", vm.name));
    client
        .run_task(req, vm.endpoint.timeouts().task, &|t| progress.task(t))
        .await
        .at(endpoint)?;
    Ok(true)
}
