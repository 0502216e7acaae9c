//! Finding the VM a PCI command acts on in the same read that gives its host's PCI
//! picture: one ContainerView read per endpoint instead of a VM lookup and then a scan.

use crate::ops::error::{OpError, OpResult, close_names};
use crate::ops::fleet::{Fleet, Target};
use crate::ops::vms::VmRef;
use crate::vim::MoRef;

use super::inventory::{self, HostPci};

/// The hosts of the VM's endpoint, the index of the VM's host among them, and the VM.
pub struct Found {
    pub hosts: Vec<HostPci>,
    pub host: usize,
    pub vm: VmRef,
}

impl Found {
    pub fn host(&self) -> &HostPci {
        &self.hosts[self.host]
    }
}

/// The one VM called `wanted` (or with that moref id: `vm-42`, `VirtualMachine:vm-42`) on
/// the targets' endpoints. With `on_target_host`, a target narrowed to an ESXi host only
/// sees that host's VMs (as `vm` commands do); without, `--host` is left to the caller.
pub async fn find_vm(
    fleet: &Fleet,
    targets: &[Target],
    wanted: &str,
    on_target_host: bool,
) -> OpResult<Found> {
    let mut endpoints: Vec<Target> = Vec::new();
    for t in targets {
        if !endpoints
            .iter()
            .any(|e| e.endpoint.name() == t.endpoint.name())
        {
            endpoints.push(Target {
                endpoint: t.endpoint.clone(),
                host: None,
            });
        }
    }
    let scans = fleet.each_endpoint(endpoints, inventory::scan_target).await;
    let moref = MoRef::parse(wanted);
    let mut all_names: Vec<String> = Vec::new();
    let mut hits: Vec<(usize, usize, usize)> = Vec::new();
    let mut lists: Vec<Vec<HostPci>> = Vec::new();
    for (e, scan) in scans.into_iter().enumerate() {
        let hosts = scan?;
        for (h, host) in hosts.iter().enumerate() {
            let visible = !on_target_host
                || targets.iter().any(|t| {
                    t.endpoint.name() == host.endpoint.name()
                        && t.host.as_ref().is_none_or(|n| *n == host.name)
                });
            if !visible {
                continue;
            }
            for (v, vm) in host.vms.iter().enumerate() {
                let hit = vm.name == wanted
                    || vm.moref.value == wanted
                    || moref.as_ref().is_some_and(|m| *m == vm.moref);
                if hit {
                    hits.push((e, h, v));
                }
                all_names.push(vm.name.clone());
            }
        }
        lists.push(hosts);
    }
    match hits.as_slice() {
        [(e, h, v)] => {
            let hosts = lists.swap_remove(*e);
            let host = &hosts[*h];
            let vm = &host.vms[*v];
            let vm = VmRef {
                endpoint: host.endpoint.clone(),
                moref: vm.moref.clone(),
                name: vm.name.clone(),
                host: host.name.clone(),
                power_state: None,
            };
            Ok(Found {
                hosts,
                host: *h,
                vm,
            })
        }
        [] => Err(OpError::NotFound {
            kind: "VM",
            name: wanted.to_string(),
            suggestions: close_names(wanted, all_names.iter().map(String::as_str)),
        }),
        many => Err(OpError::Ambiguous {
            kind: "VM",
            name: wanted.to_string(),
            candidates: many
                .iter()
                .map(|(e, h, v)| {
                    let host = &lists[*e][*h];
                    let vm = &host.vms[*v];
                    format!(
                        "{} ({} on {}/{})",
                        vm.name,
                        vm.moref.value,
                        host.endpoint.name(),
                        host.name
                    )
                })
                .collect(),
        }),
    }
}

/// The hosts of a known VM's endpoint and the host it runs on now.
pub async fn of_vm(vm: &VmRef) -> OpResult<Found> {
    let hosts = inventory::scan_target(Target {
        endpoint: vm.endpoint.clone(),
        host: None,
    })
    .await?;
    let host = hosts
        .iter()
        .position(|h| h.vm(&vm.moref).is_some())
        .ok_or_else(|| OpError::NotFound {
            kind: "VM",
            name: vm.name.clone(),
            suggestions: Vec::new(),
        })?;
    let mut vm = vm.clone();
    vm.host = hosts[host].name.clone();
    Ok(Found { hosts, host, vm })
}
