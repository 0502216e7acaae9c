//! Which physical function a virtual function belongs to. The vSphere API lists VFs as
//! PCI devices of their own, with no link to their PF; PCIe places a PF's VFs on its
//! bus after its own functions (the SR-IOV capability's VF offset and stride), the VFs
//! of a lower function first. So each SR-IOV PF with N active VFs takes the next N
//! devices of its bus and vendor, in address order, that are neither PFs nor functions
//! of its own group. Pure: no I/O.

use super::inventory::PciDevice;

/// `0000:af` of `0000:af:02.0`.
fn bus(address: &str) -> &str {
    address.rsplit_once(':').map_or(address, |(bus, _)| bus)
}

/// Fill `sriov.virtual_functions` and `physical_function`; `devices` is in address order.
pub fn link(devices: &mut [PciDevice]) {
    let pfs: Vec<(usize, u32)> = devices
        .iter()
        .enumerate()
        .filter_map(|(i, d)| d.sriov.as_ref().map(|s| (i, s.vfs)))
        .filter(|(_, n)| *n > 0)
        .collect();
    let mut claimed = vec![false; devices.len()];
    for (pf, count) in pfs {
        let vfs: Vec<usize> = (0..devices.len())
            .filter(|&i| {
                let (d, p) = (&devices[i], &devices[pf]);
                !claimed[i]
                    && i != pf
                    && d.address > p.address
                    && bus(&d.address) == bus(&p.address)
                    && d.vendor_device.vendor == p.vendor_device.vendor
                    && d.sriov.is_none()
                    && d.depends_on == d.address
            })
            .take(count as usize)
            .collect();
        let pf_address = devices[pf].address.clone();
        let mut addresses = Vec::new();
        for i in vfs {
            claimed[i] = true;
            devices[i].physical_function = Some(pf_address.clone());
            addresses.push(devices[i].address.clone());
        }
        if let Some(s) = devices[pf].sriov.as_mut() {
            s.virtual_functions = addresses;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::ids::VendorDevice;
    use super::super::inventory::Sriov;
    use super::*;

    fn dev(address: &str, device: u16, depends_on: &str, vfs: Option<u32>) -> PciDevice {
        PciDevice {
            host: "h".into(),
            endpoint: "e".into(),
            address: address.into(),
            id: String::new(),
            subsystem_id: String::new(),
            vendor: String::new(),
            device: String::new(),
            class: String::new(),
            class_id: String::new(),
            gpu: None,
            passthru_capable: true,
            passthru_enabled: false,
            passthru_active: false,
            reboot_pending: false,
            dependent_devices: Vec::new(),
            assigned_to: Vec::new(),
            group_in_use_by: Vec::new(),
            parent_bridge: String::new(),
            sriov: vfs.map(|n| Sriov {
                vfs: n,
                max_vfs: 64,
                ..Sriov::default()
            }),
            physical_function: None,
            esxi_nic: None,
            vendor_short: String::new(),
            vendor_device: VendorDevice {
                vendor: 0x8086,
                device,
            },
            class_code: 0x0200,
            depends_on: depends_on.into(),
        }
    }

    #[test]
    fn each_pf_takes_the_next_vfs_of_its_bus_lower_function_first() {
        let mut devices = vec![
            dev("0000:af:00.0", 0x1572, "0000:af:00.0", Some(2)),
            dev("0000:af:00.1", 0x1572, "0000:af:00.0", Some(1)),
            dev("0000:af:02.0", 0x154c, "0000:af:02.0", None),
            dev("0000:af:02.1", 0x154c, "0000:af:02.1", None),
            dev("0000:af:0a.0", 0x154c, "0000:af:0a.0", None),
            dev("0000:b0:02.0", 0x154c, "0000:b0:02.0", None),
        ];
        link(&mut devices);
        let vfs = |i: usize| devices[i].sriov.as_ref().unwrap().virtual_functions.clone();
        assert_eq!(vfs(0), vec!["0000:af:02.0", "0000:af:02.1"]);
        assert_eq!(vfs(1), vec!["0000:af:0a.0"]);
        assert_eq!(
            devices[4].physical_function.as_deref(),
            Some("0000:af:00.1")
        );
        assert_eq!(devices[5].physical_function, None, "another bus");
    }
}
