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
