//! Powering many VMs: on a vCenter, VMs of one datacenter start with one
//! PowerOnMultiVM_Task (govc `vm.power -on -M`), and their per-VM tasks are watched
//! together, so 50 VMs cost a handful of round trips instead of two each. Everything
//! else (ESXi, one VM, other actions) goes VM by VM, concurrently.

use crate::ops::error::{OpError, OpResult};
use crate::ops::fleet::{Fleet, WithEndpoint};
use crate::ops::progress::Progress;
use crate::vim::{self, MoRef, PropertySpec, Request};

use super::VmRef;
use super::power::{PowerAction, PowerResult, power};

/// Power `targets`; one result per target, in order.
pub async fn power_many(
    fleet: &Fleet,
    targets: &[VmRef],
    action: PowerAction,
    progress: &dyn Progress,
) -> Vec<OpResult<PowerResult>> {
    let mut results: Vec<Option<OpResult<PowerResult>>> = targets.iter().map(|_| None).collect();
    if action == PowerAction::On && targets.len() > 1 {
        // Group by endpoint, in first-seen order.
        let mut groups: Vec<Vec<usize>> = Vec::new();
        for (i, vm) in targets.iter().enumerate() {
            match groups
                .iter_mut()
                .find(|g| targets[g[0]].endpoint.name() == vm.endpoint.name())
            {
                Some(g) => g.push(i),
                None => groups.push(vec![i]),
            }
        }
        let batches = fleet
            .each_endpoint(groups, |group| async move {
                let vms: Vec<&VmRef> = group.iter().map(|&i| &targets[i]).collect();
                Ok::<_, OpError>((group.clone(), start_batch(&vms, progress).await))
            })
            .await;
        // A batch that failed as a whole started nothing: those VMs go one by one.
        for (group, outcome) in batches.into_iter().flatten() {
            if let Ok(Some(per_vm)) = outcome {
                for (i, r) in group.into_iter().zip(per_vm) {
                    results[i] = Some(r);
                }
            }
        }
    }
    let rest: Vec<usize> = (0..targets.len())
        .filter(|&i| results[i].is_none())
        .collect();
    let singles = fleet
        .each(rest.clone(), |i| async move {
            power(&targets[i], action, progress).await
        })
        .await;
    for (i, r) in rest.into_iter().zip(singles) {
        results[i] = Some(r);
    }
    results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(OpError::invalid("no result"))))
        .collect()
}

/// Start the VMs of one endpoint with PowerOnMultiVM_Task. None when the endpoint
/// cannot batch (ESXi, several datacenters, fewer than two VMs to start): the caller
/// goes VM by VM.
async fn start_batch(
    vms: &[&VmRef],
    progress: &dyn Progress,
) -> OpResult<Option<Vec<OpResult<PowerResult>>>> {
    let Some(first) = vms.first() else {
        return Ok(None);
    };
    let endpoint = first.endpoint.name().to_string();
    let client = first.endpoint.client().await?;
    if !client.content().is_vcenter() || vms.iter().any(|v| v.power_state.is_none()) {
        return Ok(None);
    }
    let to_start: Vec<&VmRef> = vms
        .iter()
        .copied()
        .filter(|v| v.power_state.as_deref() != Some("poweredOn"))
        .collect();
    if to_start.len() < 2 {
        return Ok(None);
    }
    let datacenters = client
        .collect_view(
            &client.content().root_folder,
            &[PropertySpec {
                kind: "Datacenter",
                paths: &["name"],
            }],
        )
        .await
        .at(&endpoint)?;
    // A VM must be started by its own datacenter; finding each VM's would cost more
    // round trips than the batch saves, so only one-datacenter vCenters batch.
    let [dc] = datacenters.as_slice() else {
        return Ok(None);
    };
    progress.step(&format!("Start {} VMs on {endpoint}", to_start.len()));
    let timeout = first.endpoint.timeouts().task;
    let mut req = Request::new("PowerOnMultiVM_Task", &dc.obj);
    for vm in &to_start {
        req.moref("vm", &vm.moref);
    }
    let on_task = |t: &vim::TaskProgress| progress.task(t);
    let result = client
        .run_task(req, timeout, &on_task)
        .await
        .at(&endpoint)?
        .unwrap_or_default();
    // attempted: {vm, task}; notAttempted: {vm, fault: LocalizedMethodFault}.
    let mut tasks: Vec<(MoRef, MoRef)> = Vec::new();
    let mut refused: Vec<(MoRef, vim::Error)> = Vec::new();
    for item in &result.children {
        let Some(vm) = item.child("vm").and_then(|n| n.as_moref()) else {
            continue;
        };
        match &*item.name {
            "attempted" => match item.child("task").and_then(|n| n.as_moref()) {
                Some(task) => tasks.push((vm, task)),
                None => refused.push((vm, vim::Error::Other("not started".into()))),
            },
            "notAttempted" => {
                let message = item.str_at("fault.localizedMessage").unwrap_or_default();
                let error = match item.path("fault.fault") {
                    Some(fault) => vim::Error::from_fault_node(fault, message),
                    None => vim::Error::Other(format!("not started: {message}")),
                };
                refused.push((vm, error));
            }
            _ => {}
        }
    }
    let task_refs: Vec<MoRef> = tasks.iter().map(|(_, t)| t.clone()).collect();
    let mut outcomes: Vec<Option<Result<_, vim::Error>>> = client
        .wait_tasks(&task_refs, timeout)
        .await
        .at(&endpoint)?
        .into_iter()
        .map(Some)
        .collect();
    // Stock vcsim (and some vCenters) finish the batch with no result at all although
    // the VMs started: for the VMs the result does not mention, one property read says
    // what is true instead of guessing.
    let unmentioned: Vec<MoRef> = to_start
        .iter()
        .map(|v| v.moref.clone())
        .filter(|m| !tasks.iter().any(|(v, _)| v == m) && !refused.iter().any(|(v, _)| v == m))
        .collect();
    let states = client
        .retrieve(
            &unmentioned,
            &[PropertySpec {
                kind: "VirtualMachine",
                paths: &["runtime.powerState"],
            }],
        )
        .await
        .at(&endpoint)?;
    let state_of = |m: &MoRef| {
        states
            .iter()
            .find(|o| o.obj == *m)
            .and_then(|o| o.str("runtime.powerState"))
            .map(str::to_string)
    };
    let mut per_vm = Vec::with_capacity(vms.len());
    for vm in vms {
        let before = vm.power_state.clone().unwrap_or_default();
        let done = |changed: bool| PowerResult {
            vm: vm.name.clone(),
            endpoint: endpoint.clone(),
            after: "poweredOn".into(),
            before: before.clone(),
            changed,
        };
        if before == "poweredOn" {
            per_vm.push(Ok(done(false)));
        } else if let Some(i) = tasks.iter().position(|(v, _)| *v == vm.moref) {
            per_vm.push(match outcomes[i].take() {
                Some(Ok(_)) => Ok(done(true)),
                Some(Err(e)) => Err(OpError::vim(&endpoint, e)),
                None => Err(OpError::invalid("the same VM twice in one batch")),
            });
        } else if let Some(i) = refused.iter().position(|(v, _)| *v == vm.moref) {
            let (_, e) = refused.swap_remove(i);
            per_vm.push(Err(OpError::vim(&endpoint, e)));
        } else {
            per_vm.push(match state_of(&vm.moref).as_deref() {
                Some("poweredOn") => Ok(done(true)),
                state => Err(OpError::vim(
                    &endpoint,
                    vim::Error::Other(format!(
                        "vCenter did not say whether it started {}, and it is {}",
                        vm.name,
                        state.unwrap_or("gone")
                    )),
                )),
            });
        }
    }
    Ok(Some(per_vm))
}
