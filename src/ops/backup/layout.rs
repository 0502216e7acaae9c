//! The VM configuration stored with every backup (`devices.json`, beside the raw
//! `vm.vmx`): enough to build the VM again on restore — CPU, memory, firmware, guest,
//! storage controllers, disks (controller, unit, capacity) and NICs (type, network).

use serde::{Deserialize, Serialize};

use crate::ops::vms::VmInfo;
use crate::ops::vms::info::{device_kind, disk};
use crate::vim::Node;

pub const LAYOUT_FILE: &str = "devices.json";
pub const VMX_FILE: &str = "vm.vmx";

/// Current format of `devices.json`.
const LAYOUT_FORMAT: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VmLayout {
    pub format: u32,
    pub name: String,
    pub guest_id: String,
    pub cpus: i64,
    pub cores_per_socket: i64,
    pub memory_mb: i64,
    /// `bios` or `efi` (empty when the server did not say).
    pub firmware: String,
    pub uuid: String,
    pub instance_uuid: String,
    pub vmx_path: String,
    pub controllers: Vec<ControllerLayout>,
    pub disks: Vec<DiskLayout>,
    pub nics: Vec<NicLayout>,
    /// The device list as the server described it, for reference and manual recovery.
    pub devices: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControllerLayout {
    pub key: i64,
    pub kind: String,
    pub bus_number: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskLayout {
    pub key: i64,
    pub label: String,
    pub controller_key: i64,
    pub unit_number: i64,
    pub capacity_bytes: i64,
    pub thin: bool,
    pub file: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NicLayout {
    pub key: i64,
    pub kind: String,
    pub network: String,
    pub mac: String,
}

/// Storage controllers a restore can recreate, by vSphere type name.
pub fn is_storage_controller(kind: &str) -> bool {
    matches!(
        kind,
        "VirtualLsiLogicController"
            | "VirtualLsiLogicSASController"
            | "ParaVirtualSCSIController"
            | "VirtualBusLogicController"
            | "VirtualAHCIController"
            | "VirtualNVMEController"
            | "VirtualIDEController"
    )
}

impl VmLayout {
    /// From the VM's details and the device list of the snapshot being backed up.
    pub fn capture(info: &VmInfo, firmware: &str, devices: &[&Node]) -> VmLayout {
        let disks: Vec<DiskLayout> = devices
            .iter()
            .filter(|d| device_kind(d) == "VirtualDisk")
            .map(|d| {
                let decoded = disk(d);
                DiskLayout {
                    key: decoded.key,
                    label: decoded.label,
                    controller_key: d.i64_at("controllerKey").unwrap_or(0),
                    unit_number: d.i64_at("unitNumber").unwrap_or(0),
                    capacity_bytes: decoded.capacity_bytes,
                    thin: decoded.thin,
                    file: decoded.file,
                }
            })
            .collect();
        let controllers = devices
            .iter()
            .filter(|d| is_storage_controller(device_kind(d)))
            .map(|d| ControllerLayout {
                key: d.i64_at("key").unwrap_or(0),
                kind: device_kind(d).to_string(),
                bus_number: d.i64_at("busNumber").unwrap_or(0),
            })
            .filter(|c| disks.iter().any(|d| d.controller_key == c.key))
            .collect();
        VmLayout {
            format: LAYOUT_FORMAT,
            name: info.name.clone(),
            guest_id: info.guest_id.clone(),
            cpus: info.cpus,
            cores_per_socket: info.cores_per_socket,
            memory_mb: info.memory_mb,
            firmware: firmware.to_string(),
            uuid: info.uuid.clone(),
            instance_uuid: info.instance_uuid.clone(),
            vmx_path: info.vmx_path.clone(),
            controllers,
            disks,
            nics: info
                .nics
                .iter()
                .map(|n| NicLayout {
                    key: n.key,
                    kind: n.kind.clone(),
                    network: n.network.clone(),
                    mac: n.mac.clone(),
                })
                .collect(),
            devices: serde_json::Value::Array(devices.iter().map(|d| d.to_json()).collect()),
        }
    }

    pub fn parse(bytes: &[u8]) -> Result<VmLayout, String> {
        let layout: VmLayout = serde_json::from_slice(bytes)
            .map_err(|e| format!("{LAYOUT_FILE} is not valid: {e}"))?;
        if layout.format > LAYOUT_FORMAT {
            return Err(format!(
                "{LAYOUT_FILE} has format {}, this ceso reads up to {LAYOUT_FORMAT}",
                layout.format
            ));
        }
        Ok(layout)
    }
}
