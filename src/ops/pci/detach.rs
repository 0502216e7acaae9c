//! `vm detach-pci`: remove one passthrough device (or vGPU) from a powered-off VM, with
//! the functions that were attached with it. One vGPU at a time unless `all`: a VM
//! with several vGPUs of one profile keeps the others.

use serde::Serialize;

use crate::ops::error::{OpError, OpResult, close_names};
use crate::ops::fleet::{Fleet, Scope};
use crate::ops::progress::Progress;
use crate::ops::vms::VmRef;

use super::ids::VendorDevice;
use super::inventory::{HostPci, VmBacking, VmPciDevice};
use super::reconfig::{self, Change};
use super::selector::Selector;

/// The NotFound kind for a device the VM does not have.
pub const ATTACHED: &str = "attached PCI device";

#[derive(Debug, Clone, Serialize)]
pub struct DetachDevice {
    pub key: i64,
    pub label: String,
    pub name: String,
    pub backing: VmBacking,
    /// Removed because it went with the device asked for.
    pub dependent: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct DetachPlan {
    pub vm: String,
    pub vm_id: String,
    pub endpoint: String,
    pub host: String,
    pub devices: Vec<DetachDevice>,
    pub notes: Vec<String>,
    #[serde(skip)]
    vm_ref: Option<VmRef>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DetachResult {
    pub vm: String,
    pub endpoint: String,
    pub host: String,
    pub removed: Vec<DetachDevice>,
    /// PCI devices the VM still has.
    pub remaining: usize,
    pub memory_reservation_locked: bool,
    pub notes: Vec<String>,
}

/// What the user may type to name a VM's device, for "did you mean".
fn names_of(host: &HostPci, d: &VmPciDevice) -> Vec<String> {
    let mut names = vec![d.label.clone(), d.key.to_string()];
    match &d.backing {
        VmBacking::DirectPath { id } => {
            names.push(id.clone());
            if let Some(x) = host.device(id) {
                names.push(x.id.clone());
            }
        }
        VmBacking::Dynamic {
            allowed,
            assigned_id,
        } => {
            names.extend(allowed.iter().cloned());
            names.extend(assigned_id.iter().cloned());
        }
        VmBacking::Vgpu { profile } => names.push(profile.clone()),
        VmBacking::Other { .. } => {}
    }
    names
}

fn matches(host: &HostPci, d: &VmPciDevice, text: &str) -> bool {
    let t = text.trim();
    if d.label.eq_ignore_ascii_case(t) || d.key.to_string() == t {
        return true;
    }
    let id_of = |address: &str| host.device(address).map(|x| x.vendor_device);
    let ids: Vec<VendorDevice> = match &d.backing {
        VmBacking::DirectPath { id } => id_of(id).into_iter().collect(),
        VmBacking::Dynamic { allowed, .. } => allowed
            .iter()
            .filter_map(|a| VendorDevice::parse(a))
            .collect(),
        VmBacking::Vgpu { profile } => return profile.eq_ignore_ascii_case(t),
        VmBacking::Other { .. } => Vec::new(),
    };
    match Selector::parse(t) {
        Some(Selector::Address(a)) => super::inventory::uses(&d.backing, &a),
        Some(Selector::Id(id)) => ids.contains(&id),
        Some(Selector::Vendor { id, .. }) => ids.iter().any(|x| x.vendor == id),
        Some(Selector::Model { ids: models, .. }) => ids.iter().any(|x| models.contains(x)),
        None => false,
    }
}

fn describe(host: &HostPci, d: &VmPciDevice) -> String {
    match &d.backing {
        VmBacking::DirectPath { id } => match host.device(id) {
            Some(x) => format!("{id} {}", x.display_name()),
            None => id.clone(),
        },
        VmBacking::Dynamic { allowed, .. } => {
            let names: Vec<String> = allowed
                .iter()
                .map(|a| {
                    match VendorDevice::parse(a).and_then(|id| super::gpu_table::table().gpu(id)) {
                        Some(g) => format!("{a} {} {}", g.vendor, g.model),
                        None => a.clone(),
                    }
                })
                .collect();
            format!("dynamic {}", names.join(" or "))
        }
        VmBacking::Vgpu { profile } => format!("vGPU {profile}"),
        VmBacking::Other { backing } => backing.clone(),
    }
}

pub async fn plan(
    fleet: &Fleet,
    scope: &Scope,
    vm_name: &str,
    device: &str,
    all: bool,
) -> OpResult<DetachPlan> {
    let targets = fleet.targets(scope).await?;
    let found = super::find::find_vm(fleet, &targets, vm_name, true).await?;
    plan_found(&found, device, all)
}

/// The plan for a VM already in hand (scripts hold `Vm` values).
pub async fn plan_vm(vm: &VmRef, device: &str, all: bool) -> OpResult<DetachPlan> {
    let found = super::find::of_vm(vm).await?;
    plan_found(&found, device, all)
}

fn plan_found(found: &super::find::Found, device: &str, all: bool) -> OpResult<DetachPlan> {
    let vm = found.vm.clone();
    let host = found.host();
    let state = host
        .vm(&vm.moref)
        .ok_or_else(|| OpError::invalid(format!("{} vanished from {}", vm.name, host.name)))?
        .clone();
    if state.devices.is_empty() {
        return Err(OpError::NotFound {
            kind: ATTACHED,
            name: device.to_string(),
            suggestions: vec![],
        });
    }
    let hits: Vec<&VmPciDevice> = state
        .devices
        .iter()
        .filter(|d| matches(host, d, device))
        .collect();
    if hits.is_empty() {
        let names: Vec<String> = state
            .devices
            .iter()
            .flat_map(|d| names_of(host, d))
            .collect();
        let mut suggestions = close_names(device, names.iter().map(String::as_str));
        if suggestions.is_empty() {
            suggestions = state
                .devices
                .iter()
                .map(|d| format!("{} ({})", d.label, describe(host, d)))
                .collect();
        }
        return Err(OpError::NotFound {
            kind: ATTACHED,
            name: device.to_string(),
            suggestions,
        });
    }
    if state.power_state != "poweredOff" {
        return Err(reconfig::powered_on(&vm.name, &state.power_state));
    }
    let chosen: Vec<&VmPciDevice> = if all {
        hits
    } else {
        hits.into_iter().take(1).collect()
    };
    let mut devices: Vec<DetachDevice> = chosen
        .iter()
        .map(|d| DetachDevice {
            key: d.key,
            label: d.label.clone(),
            name: describe(host, d),
            backing: d.backing.clone(),
            dependent: false,
        })
        .collect();
    // Functions of the same group were attached together and leave together.
    for d in &chosen {
        if let VmBacking::DirectPath { id } = &d.backing {
            let group: Vec<String> = host.group(id).iter().map(|x| x.address.clone()).collect();
            for other in &state.devices {
                let in_group = matches!(&other.backing, VmBacking::DirectPath { id: o } if o != id && group.contains(o));
                if in_group && !devices.iter().any(|x| x.key == other.key) {
                    devices.push(DetachDevice {
                        key: other.key,
                        label: other.label.clone(),
                        name: describe(host, other),
                        backing: other.backing.clone(),
                        dependent: true,
                    });
                }
            }
        }
    }
    let mut notes = Vec::new();
    let remaining = state.devices.len() - devices.len();
    if remaining == 0 && state.memory_locked {
        notes.push(format!(
            "{} keeps its full memory reservation (memoryReservationLockedToMax); clear it in the VM's settings if it no longer needs one",
            vm.name
        ));
    }
    Ok(DetachPlan {
        vm: vm.name.clone(),
        vm_id: vm.moref.value.clone(),
        endpoint: vm.endpoint.name().to_string(),
        host: host.name.clone(),
        devices,
        notes,
        vm_ref: Some(vm),
    })
}

pub async fn apply(plan: &DetachPlan, progress: &dyn Progress) -> OpResult<DetachResult> {
    let vm = plan
        .vm_ref
        .as_ref()
        .ok_or_else(|| OpError::invalid("the detach plan has no VM"))?;
    let change = Change {
        remove: plan.devices.iter().map(|d| d.key).collect(),
        ..Change::default()
    };
    let applied = reconfig::apply(vm, &change, progress).await?;
    Ok(DetachResult {
        vm: plan.vm.clone(),
        endpoint: plan.endpoint.clone(),
        host: plan.host.clone(),
        removed: plan.devices.clone(),
        remaining: applied.after.pci.len(),
        memory_reservation_locked: applied.after.memory_locked,
        notes: plan.notes.clone(),
    })
}
