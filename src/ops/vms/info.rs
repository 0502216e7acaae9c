//! `vm info`: one VM in detail.

use serde::Serialize;

use crate::ops::error::OpResult;
use crate::ops::fleet::WithEndpoint;
use crate::ops::pci::inventory::{VmPciDevice, vm_pci_device};
use crate::vim::{Client, MoRef, Node, ObjectContent};

use super::VmRef;

pub const INFO_PATHS: &[&str] = &[
    "name",
    "config.uuid",
    "config.instanceUuid",
    "config.guestId",
    "config.guestFullName",
    "config.hardware.numCPU",
    "config.hardware.numCoresPerSocket",
    "config.hardware.memoryMB",
    "config.hardware.device",
    "config.files.vmPathName",
    "config.changeTrackingEnabled",
    "config.memoryReservationLockedToMax",
    "config.memoryAllocation.reservation",
    "config.firmware",
    "config.template",
    "runtime.powerState",
    "runtime.host",
    "runtime.bootTime",
    "guest.ipAddress",
    "guest.hostName",
    "guest.toolsRunningStatus",
    "resourcePool",
    "datastore",
    "network",
    "snapshot",
];

#[derive(Debug, Clone, Serialize)]
pub struct VmInfo {
    pub name: String,
    pub id: String,
    pub endpoint: String,
    pub host: String,
    pub power_state: String,
    pub cpus: i64,
    pub cores_per_socket: i64,
    pub memory_mb: i64,
    pub guest_id: String,
    pub guest_os: String,
    pub ip: String,
    pub hostname: String,
    pub tools: String,
    pub uuid: String,
    pub instance_uuid: String,
    pub vmx_path: String,
    pub resource_pool: String,
    pub datastores: Vec<String>,
    pub networks: Vec<String>,
    pub change_tracking: bool,
    pub memory_reservation_locked: bool,
    /// Reserved memory in MB (all of it when locked to the maximum).
    pub memory_reservation_mb: i64,
    /// `bios` or `efi`.
    pub firmware: String,
    pub template: bool,
    pub snapshots: usize,
    pub boot_time: String,
    pub disks: Vec<DiskInfo>,
    pub nics: Vec<NicInfo>,
    /// PCI passthrough devices and vGPUs.
    pub pci_devices: Vec<VmPciDevice>,
    pub devices: Vec<DeviceInfo>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DiskInfo {
    pub key: i64,
    pub label: String,
    pub file: String,
    pub capacity_bytes: i64,
    pub thin: bool,
    pub change_id: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct NicInfo {
    pub key: i64,
    pub label: String,
    pub kind: String,
    pub mac: String,
    pub network: String,
    /// An SR-IOV adapter's physical function (ESXi picks a virtual function of it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sriov_physical_function: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeviceInfo {
    pub key: i64,
    pub kind: String,
    pub label: String,
    pub summary: String,
    /// The device's backing as the server sent it (file, network, PCI id…).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backing: Option<serde_json::Value>,
}

pub async fn info(vm: &VmRef) -> OpResult<VmInfo> {
    let endpoint = vm.endpoint.name().to_string();
    let client = vm.endpoint.client().await?;
    let props = client
        .properties(&vm.moref, INFO_PATHS)
        .await
        .at(&endpoint)?;
    decode(&client, vm, &props).await.at(&endpoint)
}

async fn decode(
    client: &Client,
    vm: &VmRef,
    p: &ObjectContent,
) -> Result<VmInfo, crate::vim::Error> {
    let networks = p.morefs("network");
    let datastores = p.morefs("datastore");
    let pool = p.moref("resourcePool");
    let mut lookup: Vec<MoRef> = networks.iter().chain(&datastores).cloned().collect();
    lookup.extend(pool.clone());
    let names = client.names_of(&lookup).await?;
    let name_of = |m: &MoRef| names.get(m).cloned().unwrap_or_else(|| m.value.clone());
    let devices: Vec<&Node> = p
        .get("config.hardware.device")
        .map(Node::items)
        .unwrap_or_default();
    let text = |path: &str| p.str(path).unwrap_or_default().to_string();
    Ok(VmInfo {
        name: text("name"),
        id: vm.moref.value.clone(),
        endpoint: vm.endpoint.name().to_string(),
        host: vm.host.clone(),
        power_state: text("runtime.powerState"),
        cpus: p.i64("config.hardware.numCPU").unwrap_or(0),
        cores_per_socket: p.i64("config.hardware.numCoresPerSocket").unwrap_or(1),
        memory_mb: p.i64("config.hardware.memoryMB").unwrap_or(0),
        guest_id: text("config.guestId"),
        guest_os: text("config.guestFullName"),
        ip: text("guest.ipAddress"),
        hostname: text("guest.hostName"),
        tools: text("guest.toolsRunningStatus"),
        uuid: text("config.uuid"),
        instance_uuid: text("config.instanceUuid"),
        vmx_path: text("config.files.vmPathName"),
        resource_pool: pool.as_ref().map(&name_of).unwrap_or_default(),
        datastores: datastores.iter().map(&name_of).collect(),
        networks: networks.iter().map(&name_of).collect(),
        change_tracking: p.bool("config.changeTrackingEnabled").unwrap_or(false),
        memory_reservation_locked: p
            .bool("config.memoryReservationLockedToMax")
            .unwrap_or(false),
        memory_reservation_mb: p.i64("config.memoryAllocation.reservation").unwrap_or(0),
        firmware: text("config.firmware"),
        template: p.bool("config.template").unwrap_or(false),
        snapshots: p.get("snapshot").map(count_snapshots).unwrap_or(0),
        boot_time: text("runtime.bootTime"),
        disks: devices
            .iter()
            .filter(|d| device_kind(d) == "VirtualDisk")
            .map(|d| disk(d))
            .collect(),
        nics: devices
            .iter()
            .filter(|d| d.child("macAddress").is_some() || d.child("addressType").is_some())
            .map(|d| nic(d, &name_of))
            .collect(),
        pci_devices: devices.iter().filter_map(|d| vm_pci_device(d)).collect(),
        devices: devices
            .iter()
            .map(|d| DeviceInfo {
                key: d.i64_at("key").unwrap_or(0),
                kind: device_kind(d).to_string(),
                label: d.str_at("deviceInfo.label").unwrap_or_default().to_string(),
                summary: d
                    .str_at("deviceInfo.summary")
                    .unwrap_or_default()
                    .to_string(),
                backing: d.child("backing").map(Node::to_json),
            })
            .collect(),
    })
}

pub fn device_kind(device: &Node) -> &str {
    device.xsi_type.as_deref().unwrap_or(&device.name)
}

pub fn disk(d: &Node) -> DiskInfo {
    let capacity = d
        .i64_at("capacityInBytes")
        .or_else(|| d.i64_at("capacityInKB").map(|kb| kb * 1024))
        .unwrap_or(0);
    DiskInfo {
        key: d.i64_at("key").unwrap_or(0),
        label: d.str_at("deviceInfo.label").unwrap_or_default().to_string(),
        file: d.str_at("backing.fileName").unwrap_or_default().to_string(),
        capacity_bytes: capacity,
        thin: d.bool_at("backing.thinProvisioned").unwrap_or(false),
        change_id: d.str_at("backing.changeId").unwrap_or_default().to_string(),
    }
}

fn nic(d: &Node, name_of: &dyn Fn(&MoRef) -> String) -> NicInfo {
    let network = d
        .moref_at("backing.network")
        .map(|m| name_of(&m))
        .or_else(|| d.str_at("backing.deviceName").map(str::to_string))
        .or_else(|| {
            // A DV port's group key is the port group's moref id on vCenter.
            let key = d.str_at("backing.port.portgroupKey")?;
            Some(name_of(&MoRef::new("DistributedVirtualPortgroup", key)))
        })
        .unwrap_or_default();
    NicInfo {
        key: d.i64_at("key").unwrap_or(0),
        label: d.str_at("deviceInfo.label").unwrap_or_default().to_string(),
        kind: device_kind(d).to_string(),
        mac: d.str_at("macAddress").unwrap_or_default().to_string(),
        network,
        sriov_physical_function: d
            .str_at("sriovBacking.physicalFunctionBacking.id")
            .map(str::to_string),
    }
}

fn count_snapshots(tree: &Node) -> usize {
    fn walk(list: &Node) -> usize {
        1 + list
            .children_named("childSnapshotList")
            .map(walk)
            .sum::<usize>()
    }
    tree.children_named("rootSnapshotList").map(walk).sum()
}
