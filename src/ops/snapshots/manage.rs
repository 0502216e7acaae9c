//! Snapshot tasks: CreateSnapshot_Task, RevertToSnapshot_Task, RemoveSnapshot_Task and
//! RemoveAllSnapshots_Task. Removing keeps the disks: vSphere consolidates the snapshot's
//! changes into them.

use crate::ops::error::{OpError, OpResult};
use crate::ops::fleet::WithEndpoint;
use crate::ops::progress::Progress;
use crate::ops::vms::VmRef;
use crate::vim::{MoRef, Request};

use super::tree::{self, Snapshot};

#[derive(Debug, Clone, Default)]
pub struct SnapshotSpec {
    pub name: String,
    pub description: String,
    /// Include the VM's memory (a powered-on VM resumes running on revert).
    pub memory: bool,
    /// Ask VMware Tools to flush and freeze the guest file systems first.
    pub quiesce: bool,
}

/// The VM's snapshots in tree order.
pub async fn list(vm: &VmRef) -> OpResult<Vec<Snapshot>> {
    let client = vm.endpoint.client().await?;
    let props = client
        .properties(&vm.moref, &["snapshot"])
        .await
        .at(vm.endpoint.name())?;
    Ok(tree::decode(props.get("snapshot")))
}

/// Take a snapshot; returns it as listed afterwards.
pub async fn create(
    vm: &VmRef,
    spec: &SnapshotSpec,
    progress: &dyn Progress,
) -> OpResult<Snapshot> {
    let task = start_create(vm, spec, progress).await?;
    let moref = finish_create(vm, spec, &task, progress).await?;
    let all = list(vm).await?;
    all.into_iter()
        .find(|s| s.moref == moref.value)
        .ok_or_else(|| {
            OpError::invalid(format!(
                "snapshot {} of {} vanished right after it was taken",
                moref.value, vm.name
            ))
        })
}

/// Start CreateSnapshot_Task; returns the task (so an interrupted caller can still wait
/// for the snapshot and remove it).
pub async fn start_create(
    vm: &VmRef,
    spec: &SnapshotSpec,
    progress: &dyn Progress,
) -> OpResult<MoRef> {
    if spec.name.trim().is_empty() {
        return Err(OpError::invalid("a snapshot needs a name (--name)"));
    }
    let client = vm.endpoint.client().await?;
    let mut req = Request::new("CreateSnapshot_Task", &vm.moref);
    req.text("name", &spec.name)
        .text("description", &spec.description)
        .text("memory", spec.memory)
        .text("quiesce", spec.quiesce);
    progress.step(&format!("Creating snapshot {} of {}", spec.name, vm.name));
    client
        .call_returnval(req)
        .await
        .map_err(|e| snapshot_error(vm, spec, e))?
        .and_then(|n| n.as_moref())
        .ok_or_else(|| OpError::invalid("CreateSnapshot_Task returned no task"))
}

/// Wait for a CreateSnapshot_Task; returns the snapshot.
pub async fn finish_create(
    vm: &VmRef,
    spec: &SnapshotSpec,
    task: &MoRef,
    progress: &dyn Progress,
) -> OpResult<MoRef> {
    let client = vm.endpoint.client().await?;
    client
        .wait_task(task, vm.endpoint.timeouts().task, &|t| progress.task(t))
        .await
        .map_err(|e| snapshot_error(vm, spec, e))?
        .and_then(|n| n.as_moref())
        .ok_or_else(|| OpError::invalid("CreateSnapshot_Task returned no snapshot"))
}

fn snapshot_error(vm: &VmRef, spec: &SnapshotSpec, e: crate::vim::Error) -> OpError {
    let quiesce_failed = spec.quiesce
        && matches!(
            e.fault_name(),
            Some("ToolsUnavailable" | "ApplicationQuiesceFault" | "QuiesceDatastoreIOForHAFailed")
        );
    if quiesce_failed {
        let message = format!("cannot take a quiesced snapshot of {}: {e}", vm.name);
        return OpError::vim(vm.endpoint.name(), e).context(
            message,
            Some(
                "quiescing needs VMware Tools running in the guest; retry without --quiesce".into(),
            ),
        );
    }
    OpError::vim(vm.endpoint.name(), e)
}

/// Go back to a snapshot's state (the current state is lost).
pub async fn revert(vm: &VmRef, snapshot: &Snapshot, progress: &dyn Progress) -> OpResult<()> {
    let client = vm.endpoint.client().await?;
    let req = Request::new("RevertToSnapshot_Task", &snapshot.moref());
    progress.step(&format!(
        "Reverting {} to snapshot {} ({})",
        vm.name, snapshot.name, snapshot.id
    ));
    client
        .run_task(req, vm.endpoint.timeouts().task, &|t| progress.task(t))
        .await
        .at(vm.endpoint.name())?;
    Ok(())
}

/// Remove one snapshot (and its children with `children`).
pub async fn remove(
    vm: &VmRef,
    snapshot: &MoRef,
    label: &str,
    children: bool,
    progress: &dyn Progress,
) -> OpResult<()> {
    let client = vm.endpoint.client().await?;
    let mut req = Request::new("RemoveSnapshot_Task", snapshot);
    req.text("removeChildren", children)
        .text("consolidate", true);
    progress.step(&format!("Removing snapshot {label} of {}", vm.name));
    client
        .run_task(req, vm.endpoint.timeouts().task, &|t| progress.task(t))
        .await
        .at(vm.endpoint.name())?;
    Ok(())
}

/// Remove every snapshot of the VM.
pub async fn remove_all(vm: &VmRef, progress: &dyn Progress) -> OpResult<()> {
    let client = vm.endpoint.client().await?;
    let mut req = Request::new("RemoveAllSnapshots_Task", &vm.moref);
    req.text("consolidate", true);
    progress.step(&format!("Removing all snapshots of {}", vm.name));
    client
        .run_task(req, vm.endpoint.timeouts().task, &|t| progress.task(t))
        .await
        .at(vm.endpoint.name())?;
    Ok(())
}
