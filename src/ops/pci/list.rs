//! `pci list` and `pci info`.

use serde::Serialize;

use crate::ops::error::{OpError, OpResult};
use crate::ops::fleet::{Fleet, Gathered, Scope};

use super::inventory::{self, PciDevice, VmBacking, VmPciDevice};
use super::selector::{self, Want};
use super::vgpu::{self, VgpuProfile};

#[derive(Debug, Clone, Copy, Default)]
pub struct ListFilter {
    /// Display controllers, 3D controllers and accelerators only.
    pub gpus: bool,
    /// Only devices a VM can be given now.
    pub assignable: bool,
}

/// Every PCI device of the hosts in scope, by endpoint, host and address.
pub async fn list(fleet: &Fleet, scope: &Scope, filter: ListFilter) -> OpResult<Vec<PciDevice>> {
    list_each(fleet, scope, filter).await?.0.strict()
}

/// `list`, keeping the devices of the endpoints that answered when others fail, and how
/// many hosts were scanned: a table shows which host a device is on whenever several
/// were looked at, even when the filter left one host's devices.
pub async fn list_each(
    fleet: &Fleet,
    scope: &Scope,
    filter: ListFilter,
) -> OpResult<(Gathered<PciDevice>, usize)> {
    let hosts = inventory::scan_each(fleet, scope).await?;
    let scanned = hosts.items.len();
    let devices = hosts.map_items(|hosts| {
        hosts
            .into_iter()
            .flat_map(|h| h.devices)
            .filter(|d| !filter.gpus || d.is_gpu())
            .filter(|d| !filter.assignable || d.is_assignable())
            .collect()
    });
    Ok((devices, scanned))
}

#[derive(Debug, Clone, Serialize)]
pub struct VmUse {
    pub vm: String,
    pub power_state: String,
    pub device: VmPciDevice,
}

#[derive(Debug, Clone, Serialize)]
pub struct PciInfo {
    #[serde(flatten)]
    pub device: PciDevice,
    /// Why a VM cannot be given the device now (empty when it can).
    pub not_assignable_because: String,
    /// The functions that go with it (same dependency group).
    pub group: Vec<PciDevice>,
    /// VMs that use it, with how.
    pub used_by: Vec<VmUse>,
    /// ESXi can switch passthrough without a reboot (None: the host does not say).
    pub rebind_without_reboot: Option<bool>,
    /// vGPU profiles of this GPU the host offers now (NVIDIA GPUs not in passthrough mode).
    pub vgpu_profiles: Vec<VgpuProfile>,
    /// pci_passthrough.auto_reset from the config.
    pub auto_reset: bool,
}

pub async fn info(fleet: &Fleet, scope: &Scope, device: &str) -> OpResult<PciInfo> {
    let hosts = inventory::scan(fleet, scope).await?;
    let picked = selector::resolve(&hosts, device, Want::Any)?;
    let host = hosts
        .get(picked.host)
        .ok_or_else(|| OpError::invalid("the chosen host vanished from the list"))?;
    let d = host
        .device(&picked.address)
        .ok_or_else(|| OpError::invalid(format!("{} vanished from {}", picked.address, host.name)))?
        .clone();
    let used_by = host
        .vms
        .iter()
        .flat_map(|vm| {
            vm.devices
                .iter()
                .filter(|x| inventory::uses(&x.backing, &d.address))
                .map(|x| VmUse {
                    vm: vm.name.clone(),
                    power_state: vm.power_state.clone(),
                    device: x.clone(),
                })
        })
        .collect();
    let config = fleet.config.pci_passthrough();
    let vgpu_profiles = match d.gpu.as_ref().and_then(|g| g.vgpu.as_deref()) {
        Some(prefix) if !d.passthru_active => host
            .shared_gpu_types
            .iter()
            .filter(|t| vgpu::parse_profile(t).is_some_and(|p| p.prefix == prefix))
            .map(|t| {
                let mut p = vgpu::describe(t, &config.gpu_profiles);
                p.hosts.push(host.name.clone());
                p.used_by = host
                    .vms
                    .iter()
                    .filter(|vm| {
                        vm.devices.iter().any(
                            |x| matches!(&x.backing, VmBacking::Vgpu { profile } if profile == t),
                        )
                    })
                    .map(|vm| vm.name.clone())
                    .collect();
                p
            })
            .collect(),
        _ => Vec::new(),
    };
    Ok(PciInfo {
        not_assignable_because: selector::why_not_assignable(&d),
        group: host
            .group(&d.address)
            .into_iter()
            .filter(|x| x.address != d.address)
            .cloned()
            .collect(),
        used_by,
        rebind_without_reboot: host.rebind_without_reboot,
        vgpu_profiles,
        auto_reset: config.auto_reset,
        device: d,
    })
}
