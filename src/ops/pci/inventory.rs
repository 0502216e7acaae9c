//! The PCI devices of the hosts in scope, with their passthrough state and the VMs
//! they are assigned to. One ContainerView read per endpoint (hosts and VMs together),
//! endpoints in parallel.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;

use crate::ops::error::{OpError, OpResult};
use crate::ops::fleet::{Endpoint, Fleet, Gathered, Scope, Target, WithEndpoint};
use crate::vim::{MoRef, Node, ObjectContent, PropertySpec};

use super::gpu_table::{self, GpuModel};
use super::ids::{self, VendorDevice};

const HOST_PATHS: &[&str] = &[
    "name",
    "parent",
    "hardware.pciDevice",
    "hardware.systemInfo.uuid",
    "config.pciPassthruInfo",
    "config.sharedPassthruGpuTypes",
    "configManager.pciPassthruSystem",
    "capability.deviceRebindWithoutRebootSupported",
    "config.network.pnic",
];

const VM_PATHS: &[&str] = &[
    "name",
    "runtime.host",
    "runtime.powerState",
    "config.hardware.device",
    "config.hardware.memoryMB",
    "config.memoryReservationLockedToMax",
];

/// One physical PCI function of a host.
#[derive(Debug, Clone, Serialize)]
pub struct PciDevice {
    pub host: String,
    pub endpoint: String,
    /// `0000:3b:00.0`
    pub address: String,
    /// `10de:20b7`, unsigned hex.
    pub id: String,
    /// Subsystem `vendor:device`.
    pub subsystem_id: String,
    pub vendor: String,
    pub device: String,
    pub class: String,
    /// `0302`
    pub class_id: String,
    /// The model from the known-GPU table, when the device is in it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gpu: Option<GpuModel>,
    pub passthru_capable: bool,
    pub passthru_enabled: bool,
    pub passthru_active: bool,
    /// Enabled/disabled, but the host must reboot before it takes effect.
    pub reboot_pending: bool,
    /// Other functions of the same dependency group: ESXi passes them through together.
    pub dependent_devices: Vec<String>,
    /// VMs configured with this device (static DirectPath) or running on it (dynamic).
    pub assigned_to: Vec<String>,
    /// VMs holding another function of its group: the group goes to one VM only.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub group_in_use_by: Vec<String>,
    pub parent_bridge: String,
    /// SR-IOV state of a physical function (`HostSriovInfo`), when it is SR-IOV capable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sriov: Option<Sriov>,
    /// The physical function this virtual function belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub physical_function: Option<String>,
    /// The ESXi network adapter (`vmnic2`) driving this device: ESXi itself uses it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub esxi_nic: Option<String>,
    /// The vendor's short name (`NVIDIA`) when the table knows it, for narrow tables.
    #[serde(skip)]
    pub vendor_short: String,
    #[serde(skip)]
    pub vendor_device: VendorDevice,
    #[serde(skip)]
    pub class_code: u16,
    /// The device this one depends on (its own address when independent).
    #[serde(skip)]
    pub depends_on: String,
}

/// What `HostSriovInfo` says about a physical function.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Sriov {
    /// Configured (`sriovEnabled`).
    pub enabled: bool,
    /// In effect since the host's last reboot (`sriovActive`).
    pub active: bool,
    /// Virtual functions that exist now.
    pub vfs: u32,
    /// Virtual functions configured for the next reboot.
    pub vfs_requested: u32,
    pub max_vfs: u32,
    /// The addresses of its virtual functions (see `vf_links`).
    pub virtual_functions: Vec<String>,
}

impl Sriov {
    /// Configured differently from what runs: the host must reboot.
    pub fn reboot_pending(&self) -> bool {
        self.enabled != self.active || (self.enabled && self.vfs_requested != self.vfs)
    }
}

impl PciDevice {
    /// Enabled, active, and no VM has it.
    pub fn is_assignable(&self) -> bool {
        self.passthru_capable
            && self.passthru_enabled
            && self.passthru_active
            && self.assigned_to.is_empty()
            && self.group_in_use_by.is_empty()
    }

    pub fn is_gpu(&self) -> bool {
        self.gpu.is_some() || ids::is_gpu_class(self.class_code)
    }

    /// A function that follows another one (a GPU's audio function, a NIC's second
    /// port): selectors skip it, it travels with the device it depends on.
    pub fn is_companion(&self) -> bool {
        self.depends_on != self.address
    }

    /// `A30 (24 GB)` for known GPUs, the host's device name otherwise.
    pub fn display_name(&self) -> String {
        match &self.gpu {
            // Models named by their memory (A100 PCIe 80GB) need no second mention of it.
            Some(g) if g.model.contains("GB") => format!("{} {}", g.vendor, g.model),
            Some(g) => format!("{} {} ({} GB)", g.vendor, g.model, g.memory_gb),
            None => self.device.clone(),
        }
    }

    pub fn state(&self) -> &'static str {
        match (
            self.passthru_capable,
            self.passthru_enabled,
            self.passthru_active,
        ) {
            (false, _, _) => "-",
            (true, true, true) => "active",
            (true, true, false) => "enabled, reboot pending",
            (true, false, true) => "disabled, reboot pending",
            (true, false, false) => "capable",
        }
    }
}

/// How a VM's VirtualPCIPassthrough device is backed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum VmBacking {
    DirectPath {
        id: String,
    },
    Dynamic {
        allowed: Vec<String>,
        assigned_id: Option<String>,
    },
    Vgpu {
        profile: String,
    },
    Other {
        backing: String,
    },
}

impl VmBacking {
    /// One line for a table: what the device is backed by.
    pub fn summary(&self) -> String {
        match self {
            VmBacking::DirectPath { id } => format!("passthrough {id}"),
            VmBacking::Dynamic {
                allowed,
                assigned_id,
            } => format!(
                "dynamic passthrough of {} ({})",
                allowed.join(" or "),
                assigned_id
                    .as_deref()
                    .map_or("unassigned".to_string(), |id| format!("now {id}"))
            ),
            VmBacking::Vgpu { profile } => format!("vGPU {profile}"),
            VmBacking::Other { backing } => backing.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct VmPciDevice {
    pub key: i64,
    pub label: String,
    pub backing: VmBacking,
}

/// A VM as PCI operations see it.
#[derive(Debug, Clone)]
pub struct VmPci {
    pub name: String,
    pub moref: MoRef,
    pub host: Option<MoRef>,
    pub power_state: String,
    pub memory_mb: i64,
    pub memory_locked: bool,
    pub devices: Vec<VmPciDevice>,
    /// Every device key in use, to pick new negative keys that do not clash.
    pub max_key: i64,
}

/// One ESXi host's PCI picture.
#[derive(Clone)]
pub struct HostPci {
    pub endpoint: Arc<Endpoint>,
    pub moref: MoRef,
    pub name: String,
    /// The ComputeResource / cluster (its EnvironmentBrowser answers QueryConfigTarget).
    pub parent: Option<MoRef>,
    pub pci_system: Option<MoRef>,
    pub system_id: String,
    /// None when the host does not say (older hosts: assume a reboot is needed).
    pub rebind_without_reboot: Option<bool>,
    /// vGPU types the host offers now (`config.sharedPassthruGpuTypes`).
    pub shared_gpu_types: Vec<String>,
    pub devices: Vec<PciDevice>,
    /// VMs whose runtime.host is this host.
    pub vms: Vec<VmPci>,
}

impl std::fmt::Debug for HostPci {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({} on {})",
            self.name,
            self.moref.value,
            self.endpoint.name()
        )
    }
}

impl HostPci {
    pub fn device(&self, address: &str) -> Option<&PciDevice> {
        self.devices.iter().find(|d| d.address == address)
    }

    /// The device and the functions that go with it, in address order.
    pub fn group(&self, address: &str) -> Vec<&PciDevice> {
        let root = root_of(&self.devices, address);
        self.devices
            .iter()
            .filter(|d| root_of(&self.devices, &d.address) == root)
            .collect()
    }

    pub fn vm(&self, moref: &MoRef) -> Option<&VmPci> {
        self.vms.iter().find(|v| &v.moref == moref)
    }

    /// The host's HostPciPassthruSystem, which every passthrough or SR-IOV change goes through.
    pub fn passthru_system(&self) -> OpResult<MoRef> {
        self.pci_system.clone().ok_or_else(|| {
            OpError::refused(
                format!("host {} has no PCI passthrough system", self.name),
                "the host does not support PCI passthrough configuration through the API",
            )
        })
    }
}

/// Scan the hosts in scope and take the one holding the device `device` names: the
/// host and the device's address.
pub async fn pick(
    fleet: &Fleet,
    scope: &Scope,
    device: &str,
    want: super::selector::Want,
) -> OpResult<(HostPci, String)> {
    let hosts = scan(fleet, scope).await?;
    let picked = super::selector::resolve(&hosts, device, want)?;
    let host = hosts
        .into_iter()
        .nth(picked.host)
        .ok_or_else(|| OpError::invalid("the chosen host vanished from the list"))?;
    Ok((host, picked.address))
}

/// Follow dependentDevice links to the device heading the group (bounded: the data
/// comes from outside and may loop).
fn root_of(devices: &[PciDevice], address: &str) -> String {
    let mut current = address.to_string();
    for _ in 0..8 {
        match devices.iter().find(|d| d.address == current) {
            Some(d) if d.depends_on != current => current = d.depends_on.clone(),
            _ => break,
        }
    }
    current
}

/// Every host in scope with its PCI devices and VMs, sorted by endpoint and host name.
pub async fn scan(fleet: &Fleet, scope: &Scope) -> OpResult<Vec<HostPci>> {
    scan_each(fleet, scope).await?.strict()
}

/// `scan`, keeping the hosts of the endpoints that answered when others fail.
pub async fn scan_each(fleet: &Fleet, scope: &Scope) -> OpResult<Gathered<HostPci>> {
    let hosts = fleet.gather_each(scope, scan_target).await?;
    Ok(hosts.map_items(|mut hosts| {
        hosts.sort_by(|a, b| {
            a.endpoint
                .name()
                .cmp(b.endpoint.name())
                .then(a.name.cmp(&b.name))
        });
        hosts
    }))
}

/// The hosts of one target (all hosts of the endpoint, or the one `--host` named).
pub async fn scan_target(target: Target) -> OpResult<Vec<HostPci>> {
    let endpoint = target.endpoint.name().to_string();
    let client = target.endpoint.client().await?;
    let objects = client
        .collect_view(
            &client.content().root_folder,
            &[
                PropertySpec {
                    kind: "HostSystem",
                    paths: HOST_PATHS,
                },
                PropertySpec {
                    kind: "VirtualMachine",
                    paths: VM_PATHS,
                },
            ],
        )
        .await
        .at(&endpoint)?;
    let mut vms_by_host: HashMap<MoRef, Vec<VmPci>> = HashMap::new();
    for o in objects.iter().filter(|o| o.obj.kind == "VirtualMachine") {
        let vm = decode_vm(o);
        if let Some(host) = vm.host.clone() {
            vms_by_host.entry(host).or_default().push(vm);
        }
    }
    let mut hosts = Vec::new();
    for o in objects.iter().filter(|o| o.obj.kind == "HostSystem") {
        let name = o.str("name").unwrap_or_default().to_string();
        if target.host.as_ref().is_some_and(|wanted| *wanted != name) {
            continue;
        }
        let mut vms = vms_by_host.remove(&o.obj).unwrap_or_default();
        vms.sort_by(|a, b| a.name.cmp(&b.name));
        hosts.push(decode_host(&target.endpoint, o, name, vms));
    }
    Ok(hosts)
}

/// Re-read one host (after a change), keeping the same shape as `scan`.
pub async fn rescan(host: &HostPci) -> OpResult<HostPci> {
    let target = Target {
        endpoint: host.endpoint.clone(),
        host: Some(host.name.clone()),
    };
    scan_target(target)
        .await?
        .into_iter()
        .find(|h| h.moref == host.moref)
        .ok_or_else(|| crate::ops::OpError::NotFound {
            kind: "host",
            name: host.name.clone(),
            suggestions: vec![],
        })
}

fn decode_host(
    endpoint: &Arc<Endpoint>,
    o: &ObjectContent,
    name: String,
    vms: Vec<VmPci>,
) -> HostPci {
    let infos: HashMap<String, &Node> = o
        .get("config.pciPassthruInfo")
        .map(Node::items)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|n| Some((n.text_of("id")?.to_string(), n)))
        .collect();
    let pnics: HashMap<String, String> = o
        .get("config.network.pnic")
        .map(Node::items)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|n| {
            Some((
                n.text_of("pci")?.to_string(),
                n.text_of("device")?.to_string(),
            ))
        })
        .collect();
    let table = gpu_table::table();
    let mut devices: Vec<PciDevice> = o
        .get("hardware.pciDevice")
        .map(Node::items)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|d| {
            let address = d.text_of("id")?.to_string();
            let short = |field: &str| ids::unsigned(d.i64_at(field).unwrap_or(0));
            let vendor_device = VendorDevice {
                vendor: short("vendorId"),
                device: short("deviceId"),
            };
            let subsystem = VendorDevice {
                vendor: short("subVendorId"),
                device: short("subDeviceId"),
            };
            let class_code = short("classId");
            let info = infos.get(&address);
            let flag = |field: &str| info.and_then(|i| i.bool_at(field)).unwrap_or(false);
            let capable = flag("passthruCapable");
            let enabled = flag("passthruEnabled");
            let active = flag("passthruActive");
            let depends_on = info
                .and_then(|i| i.text_of("dependentDevice"))
                .filter(|s| !s.is_empty())
                .unwrap_or(&address)
                .to_string();
            let vendor_name = d.text_of("vendorName").unwrap_or_default();
            let vendor = if vendor_name.is_empty() {
                table
                    .vendor(vendor_device.vendor)
                    .map(|v| v.name.clone())
                    .unwrap_or_else(|| format!("vendor {:04x}", vendor_device.vendor))
            } else {
                vendor_name.to_string()
            };
            let device_name = d.text_of("deviceName").unwrap_or_default();
            let vendor_short = table
                .vendor(vendor_device.vendor)
                .map(|v| v.name.clone())
                .unwrap_or_else(|| vendor.clone());
            Some(PciDevice {
                vendor_short,
                host: name.clone(),
                endpoint: endpoint.name().to_string(),
                id: vendor_device.to_string(),
                subsystem_id: subsystem.to_string(),
                vendor,
                device: if device_name.is_empty() {
                    format!("device {:04x}", vendor_device.device)
                } else {
                    device_name.to_string()
                },
                class: ids::class_name(class_code).to_string(),
                class_id: format!("{class_code:04x}"),
                gpu: table.gpu(vendor_device).cloned(),
                passthru_capable: capable,
                passthru_enabled: enabled,
                passthru_active: active,
                reboot_pending: capable && enabled != active,
                dependent_devices: Vec::new(),
                assigned_to: Vec::new(),
                group_in_use_by: Vec::new(),
                parent_bridge: d.text_of("parentBridge").unwrap_or_default().to_string(),
                sriov: info.and_then(|i| decode_sriov(i)),
                physical_function: None,
                esxi_nic: pnics.get(address.as_str()).cloned(),
                vendor_device,
                class_code,
                depends_on,
                address,
            })
        })
        .collect();
    devices.sort_by(|a, b| a.address.cmp(&b.address));
    super::vf_links::link(&mut devices);
    // Groups and assignments need the whole list.
    let groups: Vec<Vec<String>> = devices
        .iter()
        .map(|d| {
            let root = root_of(&devices, &d.address);
            devices
                .iter()
                .filter(|o| o.address != d.address && root_of(&devices, &o.address) == root)
                .map(|o| o.address.clone())
                .collect()
        })
        .collect();
    for (d, group) in devices.iter_mut().zip(groups) {
        d.dependent_devices = group;
        d.assigned_to = vms
            .iter()
            .filter(|vm| vm.devices.iter().any(|v| uses(&v.backing, &d.address)))
            .map(|vm| vm.name.clone())
            .collect();
    }
    let busy: Vec<Vec<String>> = devices
        .iter()
        .map(|d| {
            let mut users: Vec<String> = devices
                .iter()
                .filter(|o| d.dependent_devices.contains(&o.address))
                .flat_map(|o| o.assigned_to.iter().cloned())
                .filter(|vm| !d.assigned_to.contains(vm))
                .collect();
            users.sort();
            users.dedup();
            users
        })
        .collect();
    for (d, users) in devices.iter_mut().zip(busy) {
        d.group_in_use_by = users;
    }
    HostPci {
        endpoint: endpoint.clone(),
        moref: o.obj.clone(),
        parent: o.moref("parent"),
        pci_system: o.moref("configManager.pciPassthruSystem"),
        system_id: o
            .str("hardware.systemInfo.uuid")
            .unwrap_or_default()
            .to_string(),
        rebind_without_reboot: o.bool("capability.deviceRebindWithoutRebootSupported"),
        shared_gpu_types: o
            .get("config.sharedPassthruGpuTypes")
            .map(|n| {
                n.items()
                    .into_iter()
                    .map(|i| i.text.clone())
                    .filter(|t| !t.is_empty())
                    .collect()
            })
            .unwrap_or_default(),
        name,
        devices,
        vms,
    }
}

/// The SR-IOV fields of a `HostSriovInfo` entry (None for other entries, or when the
/// device is not SR-IOV capable).
fn decode_sriov(info: &Node) -> Option<Sriov> {
    if info.xsi_type.as_deref() != Some("HostSriovInfo")
        || info.bool_at("sriovCapable") != Some(true)
    {
        return None;
    }
    let count = |field: &str| u32::try_from(info.i64_at(field).unwrap_or(0)).unwrap_or(0);
    Some(Sriov {
        enabled: info.bool_at("sriovEnabled").unwrap_or(false),
        active: info.bool_at("sriovActive").unwrap_or(false),
        vfs: count("numVirtualFunction"),
        vfs_requested: count("numVirtualFunctionRequested"),
        max_vfs: count("maxVirtualFunctionSupported"),
        virtual_functions: Vec::new(),
    })
}

/// Does this backing hold the physical device at `address`?
pub fn uses(backing: &VmBacking, address: &str) -> bool {
    match backing {
        VmBacking::DirectPath { id } => id == address,
        VmBacking::Dynamic { assigned_id, .. } => assigned_id.as_deref() == Some(address),
        _ => false,
    }
}

fn decode_vm(o: &ObjectContent) -> VmPci {
    let all: Vec<&Node> = o
        .get("config.hardware.device")
        .map(Node::items)
        .unwrap_or_default();
    let max_key = all
        .iter()
        .filter_map(|d| d.i64_at("key"))
        .max()
        .unwrap_or(0);
    let devices = all.into_iter().filter_map(vm_pci_device).collect();
    VmPci {
        name: o.str("name").unwrap_or_default().to_string(),
        moref: o.obj.clone(),
        host: o.moref("runtime.host"),
        power_state: o.str("runtime.powerState").unwrap_or_default().to_string(),
        memory_mb: o.i64("config.hardware.memoryMB").unwrap_or(0),
        memory_locked: o
            .bool("config.memoryReservationLockedToMax")
            .unwrap_or(false),
        devices,
        max_key,
    }
}

/// A VM device, when it is a PCI passthrough device or vGPU.
pub fn vm_pci_device(d: &Node) -> Option<VmPciDevice> {
    (d.xsi_type.as_deref() == Some("VirtualPCIPassthrough")).then(|| VmPciDevice {
        key: d.i64_at("key").unwrap_or(0),
        label: d.str_at("deviceInfo.label").unwrap_or_default().to_string(),
        backing: decode_backing(d.child("backing")),
    })
}

fn decode_backing(backing: Option<&Node>) -> VmBacking {
    let Some(b) = backing else {
        return VmBacking::Other {
            backing: String::new(),
        };
    };
    match b.xsi_type.as_deref().unwrap_or_default() {
        "VirtualPCIPassthroughDeviceBackingInfo" => VmBacking::DirectPath {
            id: b.text_of("id").unwrap_or_default().to_string(),
        },
        "VirtualPCIPassthroughDynamicBackingInfo" => VmBacking::Dynamic {
            allowed: b
                .children_named("allowedDevice")
                .map(|a| {
                    VendorDevice {
                        vendor: ids::unsigned(a.i64_at("vendorId").unwrap_or(0)),
                        device: ids::unsigned(a.i64_at("deviceId").unwrap_or(0)),
                    }
                    .to_string()
                })
                .collect(),
            assigned_id: b
                .text_of("assignedId")
                .filter(|s| !s.is_empty())
                .map(str::to_string),
        },
        "VirtualPCIPassthroughVmiopBackingInfo" => VmBacking::Vgpu {
            profile: b.text_of("vgpu").unwrap_or_default().to_string(),
        },
        other => VmBacking::Other {
            backing: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vim::xml;

    #[test]
    fn backings_decode_by_xsi_type() {
        let doc = xml::parse(
            r#"<d xmlns:X="http://www.w3.org/2001/XMLSchema-instance">
            <backing X:type="VirtualPCIPassthroughDeviceBackingInfo"><deviceName></deviceName><id>0000:3b:00.0</id><deviceId>20b7</deviceId></backing>
            <backing X:type="VirtualPCIPassthroughDynamicBackingInfo"><allowedDevice><vendorId>-32634</vendorId><deviceId>5490</deviceId></allowedDevice><assignedId>0000:af:00.0</assignedId></backing>
            <backing X:type="VirtualPCIPassthroughVmiopBackingInfo"><vgpu>grid_a30-4c</vgpu></backing>
            </d>"#,
        )
        .unwrap();
        let b: Vec<VmBacking> = doc
            .children_named("backing")
            .map(|b| decode_backing(Some(b)))
            .collect();
        assert_eq!(
            b[0],
            VmBacking::DirectPath {
                id: "0000:3b:00.0".into()
            }
        );
        assert_eq!(
            b[1],
            VmBacking::Dynamic {
                allowed: vec!["8086:1572".into()],
                assigned_id: Some("0000:af:00.0".into())
            }
        );
        assert!(uses(&b[1], "0000:af:00.0"));
        assert_eq!(
            b[2],
            VmBacking::Vgpu {
                profile: "grid_a30-4c".into()
            }
        );
    }
}
