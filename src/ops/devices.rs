//! Writers for VirtualDeviceConfigSpec entries (`deviceChange`), in WSDL field order.
//! Each feature area adds the device kinds it needs here.

use crate::vim::{MoRef, Request};

/// Where a NIC connects.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NicBacking {
    /// A standard port group (or opaque ESX network) by name.
    Network { name: String, network: MoRef },
    /// A distributed port group.
    DvPortgroup {
        name: String,
        switch_uuid: String,
        portgroup_key: String,
    },
}

/// How a PCI passthrough device is backed.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PciBacking {
    /// Static DirectPath I/O: one physical device by address.
    DirectPath {
        id: String,
        device_id: String,
        system_id: String,
        vendor_id: i64,
    },
    /// Dynamic DirectPath: any free device matching vendor/device, picked at power-on.
    Dynamic {
        vendor_id: i64,
        device_id: i64,
        label: String,
    },
    /// NVIDIA vGPU profile.
    Vgpu { profile: String },
}

#[derive(Debug, Clone, serde::Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum DeviceChange {
    AddScsiController {
        key: i32,
    },
    AddDisk {
        key: i32,
        controller_key: i32,
        unit: i32,
        capacity_kb: i64,
        /// `[datastore] folder/file.vmdk`
        file_name: String,
    },
    AddNic {
        key: i32,
        backing: NicBacking,
    },
    AddPci {
        key: i32,
        backing: PciBacking,
    },
    /// Remove an existing device, described by its type and key.
    Remove {
        kind: String,
        key: i64,
    },
}

pub fn write(r: &mut Request, change: &DeviceChange) {
    r.nest("deviceChange", None, |r| match change {
        DeviceChange::AddScsiController { key } => {
            r.text("operation", "add");
            r.nest("device", Some("ParaVirtualSCSIController"), |r| {
                r.text("key", key)
                    .text("busNumber", 0)
                    .text("sharedBus", "noSharing");
            });
        }
        DeviceChange::AddDisk {
            key,
            controller_key,
            unit,
            capacity_kb,
            file_name,
        } => {
            r.text("operation", "add").text("fileOperation", "create");
            r.nest("device", Some("VirtualDisk"), |r| {
                r.text("key", key);
                r.nest("backing", Some("VirtualDiskFlatVer2BackingInfo"), |r| {
                    r.text("fileName", file_name)
                        .text("diskMode", "persistent")
                        .text("thinProvisioned", true);
                });
                r.text("controllerKey", controller_key)
                    .text("unitNumber", unit)
                    .text("capacityInKB", capacity_kb)
                    .text("capacityInBytes", capacity_kb * 1024);
            });
        }
        DeviceChange::AddNic { key, backing } => {
            r.text("operation", "add");
            r.nest("device", Some("VirtualVmxnet3"), |r| {
                r.text("key", key);
                match backing {
                    NicBacking::Network { name, network } => {
                        r.nest(
                            "backing",
                            Some("VirtualEthernetCardNetworkBackingInfo"),
                            |r| {
                                r.text("deviceName", name).moref("network", network);
                            },
                        );
                    }
                    NicBacking::DvPortgroup {
                        switch_uuid,
                        portgroup_key,
                        ..
                    } => {
                        r.nest(
                            "backing",
                            Some("VirtualEthernetCardDistributedVirtualPortBackingInfo"),
                            |r| {
                                r.nest("port", None, |r| {
                                    r.text("switchUuid", switch_uuid)
                                        .text("portgroupKey", portgroup_key);
                                });
                            },
                        );
                    }
                }
                r.nest("connectable", None, |r| {
                    r.text("startConnected", true)
                        .text("allowGuestControl", true)
                        .text("connected", false);
                });
                r.text("addressType", "generated");
            });
        }
        DeviceChange::AddPci { key, backing } => {
            r.text("operation", "add");
            r.nest("device", Some("VirtualPCIPassthrough"), |r| {
                r.text("key", key);
                match backing {
                    PciBacking::DirectPath {
                        id,
                        device_id,
                        system_id,
                        vendor_id,
                    } => {
                        r.nest(
                            "backing",
                            Some("VirtualPCIPassthroughDeviceBackingInfo"),
                            |r| {
                                r.text("deviceName", "")
                                    .text("id", id)
                                    .text("deviceId", device_id)
                                    .text("systemId", system_id)
                                    .text("vendorId", vendor_id);
                            },
                        );
                    }
                    PciBacking::Dynamic {
                        vendor_id,
                        device_id,
                        label,
                    } => {
                        r.nest(
                            "backing",
                            Some("VirtualPCIPassthroughDynamicBackingInfo"),
                            |r| {
                                r.text("deviceName", "");
                                r.nest("allowedDevice", None, |r| {
                                    r.text("vendorId", vendor_id).text("deviceId", device_id);
                                });
                                // An empty label would restrict the match to unlabelled devices.
                                if !label.is_empty() {
                                    r.text("customLabel", label);
                                }
                            },
                        );
                    }
                    PciBacking::Vgpu { profile } => {
                        r.nest(
                            "backing",
                            Some("VirtualPCIPassthroughVmiopBackingInfo"),
                            |r| {
                                r.text("vgpu", profile);
                            },
                        );
                    }
                }
            });
        }
        DeviceChange::Remove { kind, key } => {
            r.text("operation", "remove");
            r.nest("device", Some(kind), |r| {
                r.text("key", key);
            });
        }
    });
}

/// One `extraConfig` entry (an OptionValue); an empty value removes the key.
pub fn write_option(r: &mut Request, key: &str, value: &str) {
    r.nest("extraConfig", None, |r| {
        r.text("key", key).typed_text("value", "xsd:string", value);
    });
}
