//! An SR-IOV network adapter (`VirtualSriovEthernetCard`): the VM's port group as the
//! network backing, and the NIC's physical function as `sriovBacking`; ESXi picks a
//! free virtual function of it at power-on. The physical function must be SR-IOV
//! active with virtual functions, on the VM's host.

use crate::ops::error::{OpError, OpResult};
use crate::ops::fleet::Target;
use crate::ops::pci::ids;
use crate::ops::pci::inventory;
use crate::ops::pci::selector::{self, Want};
use crate::ops::vms::VmRef;
use crate::vim::Node;

use super::spec_tree::{leaf, object};

pub const CARD_TYPE: &str = "VirtualSriovEthernetCard";

/// The physical function `pf` names on the VM's host, checked: its address and the
/// `sriovBacking` node.
pub async fn pf_backing(vm: &VmRef, pf: &str) -> OpResult<(String, Node)> {
    let hosts = inventory::scan_target(Target {
        endpoint: vm.endpoint.clone(),
        host: Some(vm.host.clone()),
    })
    .await?;
    let picked = selector::resolve(&hosts, pf, Want::Sriov)?;
    let host = &hosts[picked.host];
    let d = host.device(&picked.address).ok_or_else(|| {
        OpError::invalid(format!("{} vanished from {}", picked.address, host.name))
    })?;
    let label = format!("{} ({}) on {}", d.address, d.display_name(), host.name);
    if d.class_code >> 8 != 0x02 {
        return Err(OpError::refused(
            format!("{label} is not a network adapter"),
            "for a GPU's virtual function use `ceso vm attach-pci VM DEVICE --vf`",
        ));
    }
    let Some(sriov) = &d.sriov else {
        return Err(OpError::refused(
            format!("{label} is not SR-IOV capable"),
            "`ceso pci list` shows SR-IOV capable NICs (the SR-IOV column)",
        ));
    };
    if sriov.vfs == 0 {
        return Err(OpError::refused(
            if sriov.enabled {
                format!("SR-IOV is configured on {label} but the host has not rebooted since")
            } else {
                format!("SR-IOV is not enabled on {label}")
            },
            format!(
                "`ceso pci sriov enable {} --vfs N --host {}`, then reboot the host",
                d.address, host.name
            ),
        ));
    }
    let node = object(
        "sriovBacking",
        Some("VirtualSriovEthernetCardSriovBackingInfo"),
        vec![object(
            "physicalFunctionBacking",
            Some("VirtualPCIPassthroughDeviceBackingInfo"),
            vec![
                leaf("deviceName", ""),
                leaf("id", &d.address),
                leaf("deviceId", format!("{:x}", d.vendor_device.device)),
                leaf("systemId", &host.system_id),
                leaf("vendorId", ids::signed(d.vendor_device.vendor)),
            ],
        )],
    );
    Ok((d.address.clone(), node))
}
