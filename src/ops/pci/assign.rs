//! Choosing what to give a VM on one host, and checking every rule before anything
//! changes: the device is passthrough-enabled and active on that host, no other VM has
//! it, its dependent functions can come along, a vGPU profile is one the host offers.
//! Shared by `vm attach-pci` and `vm create --gpu`.

use serde::Serialize;

use crate::ops::devices::PciBacking;
use crate::ops::error::{OpError, OpResult, close_names};
use crate::vim::MoRef;

use super::config_target::ConfigTarget;
use super::ids;
use super::inventory::{HostPci, PciDevice};
use super::selector::{self, Want};

/// How the device is given to the VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Static DirectPath I/O: this physical device.
    DirectPath,
    /// Dynamic DirectPath: any free device with this vendor:device, chosen at power-on.
    Dynamic,
    /// NVIDIA vGPU: a share of a GPU the host's vGPU manager owns.
    Vgpu,
}

/// One device to add, resolved and checked.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedDevice {
    pub mode: Mode,
    /// The physical device (static DirectPath), or the one the selector matched (dynamic).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// vendor:device
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    pub name: String,
    /// Added because it depends on (or is depended on by) the device asked for.
    pub dependent: bool,
    pub backing: PciBacking,
    /// GPU framebuffer (known GPUs), for the 64-bit MMIO window.
    #[serde(skip)]
    pub gpu_memory_gb: u32,
    /// The physical device this plan counts on (dynamic: the free one that matched).
    #[serde(skip)]
    pub reserved: Option<String>,
}

/// Why `d` cannot go to the VM `vm` (None: it can). A device already given to this
/// VM is reported too: attaching it twice is a mistake.
fn refusal(host: &HostPci, d: &PciDevice, vm: Option<&MoRef>) -> Option<OpError> {
    let vm_name = vm.and_then(|m| host.vm(m)).map(|v| v.name.clone());
    let label = format!("{} ({}) on {}", d.address, d.display_name(), host.name);
    if !d.passthru_capable {
        return Some(OpError::refused(
            format!("{label} is not passthrough capable"),
            "choose a device that `ceso pci list --assignable` shows",
        ));
    }
    if !d.passthru_enabled {
        return Some(OpError::refused(
            format!("passthrough is not enabled for {label}"),
            format!(
                "enable it first: `ceso pci enable {} --host {}`",
                d.address, host.name
            ),
        ));
    }
    if !d.passthru_active {
        return Some(OpError::refused(
            format!(
                "passthrough for {label} is enabled but not active: the host has not rebooted since"
            ),
            format!("reboot {} (in maintenance mode) and try again", host.name),
        ));
    }
    if let Some(name) = &vm_name
        && d.assigned_to.contains(name)
    {
        return Some(OpError::refused(
            format!("{label} is already attached to {name}"),
            format!("`ceso vm info {name}` shows its devices"),
        ));
    }
    if let Some(other) = d.assigned_to.first() {
        return Some(OpError::refused(
            format!("{label} is in use by VM {other}"),
            format!(
                "detach it from {other} first (`ceso vm detach-pci {other} {}`), or pick a free device with a selector such as `{}`",
                d.address, d.id
            ),
        ));
    }
    None
}

/// A static DirectPath device and the functions that must go with it.
pub fn direct_path(
    host: &HostPci,
    target: &ConfigTarget,
    device: &str,
    vm: Option<&MoRef>,
) -> OpResult<Vec<PlannedDevice>> {
    let picked = selector::resolve(std::slice::from_ref(host), device, Want::Assign)?;
    let d = host.device(&picked.address).ok_or_else(|| {
        OpError::invalid(format!("{} vanished from {}", picked.address, host.name))
    })?;
    if let Some(e) = refusal(host, d, vm) {
        return Err(e);
    }
    let mut out = vec![planned_static(host, target, d, false)];
    for other in host.group(&d.address) {
        if other.address == d.address || !other.passthru_capable {
            continue;
        }
        let vm_has_it = vm
            .and_then(|m| host.vm(m))
            .is_some_and(|v| other.assigned_to.contains(&v.name));
        if vm_has_it {
            continue;
        }
        if let Some(e) = refusal(host, other, vm) {
            return Err(OpError::Refused {
                message: format!(
                    "{} depends on {} (they share an IOMMU group and go to one VM together), which cannot be attached: {e}",
                    d.address, other.address
                ),
                hint: e.hint(),
            });
        }
        out.push(planned_static(host, target, other, true));
    }
    Ok(out)
}

fn planned_static(
    host: &HostPci,
    target: &ConfigTarget,
    d: &PciDevice,
    dependent: bool,
) -> PlannedDevice {
    // QueryConfigTarget's systemId is what ESXi checks at power-on; the host's
    // hardware UUID is the same value on hosts that do not list the device there.
    let (system_id, vendor_raw) = match target.pci(&d.address) {
        Some(t) => (t.system_id.clone(), t.vendor_id_raw),
        None => (host.system_id.clone(), ids::signed(d.vendor_device.vendor)),
    };
    PlannedDevice {
        mode: Mode::DirectPath,
        address: Some(d.address.clone()),
        id: Some(d.id.clone()),
        profile: None,
        name: d.display_name(),
        dependent,
        backing: PciBacking::DirectPath {
            id: d.address.clone(),
            // The API documents deviceId as a hex string (what vSphere clients send).
            device_id: format!("{:x}", d.vendor_device.device),
            system_id,
            vendor_id: vendor_raw,
        },
        gpu_memory_gb: d.gpu.as_ref().map_or(0, |g| g.memory_gb),
        reserved: Some(d.address.clone()),
    }
}

/// Dynamic DirectPath by the vendor:device of the device `device` names. At least one
/// matching device must be free on the host, or the VM could not power on.
pub fn dynamic(
    host: &HostPci,
    target: &ConfigTarget,
    device: &str,
    vm: Option<&MoRef>,
) -> OpResult<PlannedDevice> {
    let picked = selector::resolve(std::slice::from_ref(host), device, Want::Assign)?;
    let d = host.device(&picked.address).ok_or_else(|| {
        OpError::invalid(format!("{} vanished from {}", picked.address, host.name))
    })?;
    let id = d.vendor_device;
    let free = host
        .devices
        .iter()
        .filter(|x| x.vendor_device == id && x.is_assignable())
        .count();
    if free == 0 {
        return Err(refusal(host, d, vm).unwrap_or_else(|| {
            OpError::refused(
                format!(
                    "no free {id} device on {} for Dynamic DirectPath",
                    host.name
                ),
                "enable another one with `ceso pci enable`",
            )
        }));
    }
    let (vendor_raw, device_raw) = match target.dynamic(id) {
        Some(t) => (t.vendor_id_raw, t.device_id_raw),
        None => (i64::from(id.vendor), i64::from(id.device)),
    };
    Ok(PlannedDevice {
        mode: Mode::Dynamic,
        address: None,
        id: Some(id.to_string()),
        profile: None,
        name: d.display_name(),
        dependent: false,
        backing: PciBacking::Dynamic {
            vendor_id: vendor_raw,
            device_id: device_raw,
            label: String::new(),
        },
        gpu_memory_gb: d.gpu.as_ref().map_or(0, |g| g.memory_gb),
        reserved: host
            .devices
            .iter()
            .find(|x| x.vendor_device == id && x.is_assignable())
            .map(|x| x.address.clone()),
    })
}

/// A free SR-IOV virtual function of the physical function `device` names: that VF
/// (static) or any free VF with its vendor:device (`dynamic`, ESXi picks at power-on).
pub fn virtual_function(
    host: &HostPci,
    target: &ConfigTarget,
    device: &str,
    dynamic: bool,
) -> OpResult<PlannedDevice> {
    let picked = selector::resolve(std::slice::from_ref(host), device, Want::Sriov)?;
    let pf = host.device(&picked.address).ok_or_else(|| {
        OpError::invalid(format!("{} vanished from {}", picked.address, host.name))
    })?;
    let label = format!("{} ({}) on {}", pf.address, pf.display_name(), host.name);
    let Some(sriov) = &pf.sriov else {
        return Err(OpError::refused(
            format!("{label} is not SR-IOV capable: it has no virtual functions"),
            "attach the whole device without --vf, or pick an SR-IOV device (`ceso pci list` shows them)",
        ));
    };
    let enable_hint = format!(
        "`ceso pci sriov enable {} --vfs N --host {}`, then reboot the host",
        pf.address, host.name
    );
    if sriov.vfs == 0 {
        let why = if sriov.enabled {
            format!("SR-IOV is configured on {label} but the host has not rebooted since")
        } else {
            format!("SR-IOV is not enabled on {label}")
        };
        return Err(OpError::refused(why, enable_hint));
    }
    let vfs: Vec<&PciDevice> = sriov
        .virtual_functions
        .iter()
        .filter_map(|a| host.device(a))
        .collect();
    let Some(free) = vfs.iter().find(|vf| vf.is_assignable()) else {
        let users: Vec<String> = vfs
            .iter()
            .filter(|vf| !vf.assigned_to.is_empty())
            .map(|vf| format!("{} by {}", vf.address, vf.assigned_to.join(", ")))
            .collect();
        return Err(OpError::refused(
            format!(
                "no free virtual function on {label}: {} of {} in use ({})",
                users.len(),
                vfs.len(),
                users.join("; ")
            ),
            format!(
                "detach one (`ceso vm detach-pci VM DEVICE`), or raise the count (max {}): {enable_hint}",
                sriov.max_vfs
            ),
        ));
    };
    // A VF gets an even share of its GPU's framebuffer (MxGPU, Flex).
    let share = pf
        .gpu
        .as_ref()
        .map_or(0, |g| g.memory_gb / sriov.vfs.max(1));
    let mut planned = if dynamic {
        let id = free.vendor_device;
        let (vendor_raw, device_raw) = match target.dynamic(id) {
            Some(t) => (t.vendor_id_raw, t.device_id_raw),
            None => (i64::from(id.vendor), i64::from(id.device)),
        };
        PlannedDevice {
            mode: Mode::Dynamic,
            address: None,
            id: Some(id.to_string()),
            profile: None,
            name: String::new(),
            dependent: false,
            backing: PciBacking::Dynamic {
                vendor_id: vendor_raw,
                device_id: device_raw,
                label: String::new(),
            },
            gpu_memory_gb: 0,
            reserved: Some(free.address.clone()),
        }
    } else {
        planned_static(host, target, free, false)
    };
    planned.name = format!("virtual function of {}", pf.display_name());
    planned.gpu_memory_gb = share;
    Ok(planned)
}

/// An NVIDIA vGPU of a profile the host offers.
pub fn vgpu(host: &HostPci, target: &ConfigTarget, profile: &str) -> OpResult<PlannedDevice> {
    if profile.to_lowercase().contains("gvt") {
        // Intel's mediated GPU sharing is a KVM/Xen feature; ESXi has no mdev framework.
        return Err(OpError::refused(
            format!(
                "{profile}: Intel GVT-g does not exist on ESXi (it needs the Linux KVM or Xen mediated-device framework)"
            ),
            "the nearest on ESXi is SR-IOV on an Intel Data Center GPU Flex: `ceso pci sriov enable flex170 --vfs N`, reboot the host, then `ceso vm attach-pci VM flex170 --vf`",
        ));
    }
    let mut offered: Vec<&str> = host.shared_gpu_types.iter().map(String::as_str).collect();
    offered.extend(target.vgpu_types.iter().map(String::as_str));
    offered.sort_unstable();
    offered.dedup();
    if offered.is_empty() {
        return Err(OpError::refused(
            format!("host {} offers no vGPU profiles", host.name),
            "vGPU needs the NVIDIA vGPU manager installed on the host, the host graphics type set to Shared Direct, and a GPU that is not in passthrough mode (`ceso pci disable DEVICE`)",
        ));
    }
    let Some(name) = offered
        .iter()
        .find(|p| p.eq_ignore_ascii_case(profile.trim()))
    else {
        return Err(OpError::NotFound {
            kind: "vGPU profile",
            name: profile.to_string(),
            suggestions: close_names(profile, offered.iter().copied()),
        });
    };
    let described = super::vgpu::describe(name, &Default::default());
    Ok(PlannedDevice {
        mode: Mode::Vgpu,
        address: None,
        id: None,
        profile: Some(name.to_string()),
        name: match &described.gpu {
            Some(gpu) => format!("vGPU {name} on {gpu}"),
            None => format!("vGPU {name}"),
        },
        dependent: false,
        backing: PciBacking::Vgpu {
            profile: name.to_string(),
        },
        gpu_memory_gb: 0,
        reserved: None,
    })
}

/// `pciPassthru.64bitMMIOSizeGB` for GPUs with this much memory in total: the next
/// power of two. GPUs with 16 GB or more need a 64-bit MMIO window this large (and
/// EFI firmware) or the guest cannot map their memory.
pub fn mmio_size_gb(total_gpu_memory_gb: u32) -> Option<u32> {
    (total_gpu_memory_gb >= 16).then(|| total_gpu_memory_gb.next_power_of_two())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mmio_window_is_the_next_power_of_two() {
        assert_eq!(mmio_size_gb(8), None);
        assert_eq!(mmio_size_gb(16), Some(16));
        assert_eq!(mmio_size_gb(24), Some(32));
        assert_eq!(mmio_size_gb(80), Some(128));
        assert_eq!(mmio_size_gb(160), Some(256));
    }
}
