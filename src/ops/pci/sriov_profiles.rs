//! SR-IOV GPU partitions for `gpu profiles`, next to NVIDIA's vGPU types: an AMD MxGPU
//! (Instinct, Radeon Pro V) or Intel Flex physical function split into N virtual
//! functions gives each VF 1/N of the framebuffer. The counts offered are the powers of
//! two up to the device's `maxVirtualFunctionSupported`, and that maximum. Pure: no I/O.

use std::collections::BTreeMap;

use super::inventory::{HostPci, VmBacking};
use super::vgpu::VgpuProfile;

/// The VF counts worth listing for a device supporting up to `max`.
pub fn counts(max: u32) -> Vec<u32> {
    let mut out: Vec<u32> = (0..6).map(|i| 1 << i).filter(|n| *n <= max).collect();
    if max > 0 && !out.contains(&max) {
        out.push(max);
    }
    out
}

/// One row per GPU model and VF count, with the hosts having such a GPU and the VMs
/// holding one of its VFs (counted on the row of the GPU's current VF count).
pub fn partitions(hosts: &[HostPci]) -> Vec<VgpuProfile> {
    let mut rows: BTreeMap<(String, u32), VgpuProfile> = BTreeMap::new();
    for host in hosts {
        for pf in &host.devices {
            let (Some(sriov), Some(gpu)) = (&pf.sriov, &pf.gpu) else {
                continue;
            };
            let series = if pf.vendor_device.vendor == 0x1002 {
                "MxGPU (SR-IOV)"
            } else {
                "SR-IOV"
            };
            for n in counts(sriov.max_vfs) {
                let row = rows
                    .entry((gpu.family.clone(), n))
                    .or_insert_with(|| VgpuProfile {
                        name: format!("{}/{n}vf", gpu.family.to_lowercase()),
                        gpu: Some(format!("{} {}", gpu.vendor, gpu.model)),
                        series: series.to_string(),
                        framebuffer_mb: u64::from(gpu.memory_gb) * 1024 / u64::from(n),
                        mig_slices: None,
                        max_per_gpu: Some(n),
                        hosts: Vec::new(),
                        used_by: Vec::new(),
                        source: "sriov",
                    });
                if !row.hosts.contains(&host.name) {
                    row.hosts.push(host.name.clone());
                }
                if sriov.vfs != n {
                    continue;
                }
                for vm in &host.vms {
                    for d in &vm.devices {
                        let holds = matches!(&d.backing, VmBacking::DirectPath { id } if sriov.virtual_functions.contains(id))
                            || matches!(&d.backing, VmBacking::Dynamic { assigned_id: Some(id), .. } if sriov.virtual_functions.contains(id));
                        if holds {
                            row.used_by.push(vm.name.clone());
                        }
                    }
                }
            }
        }
    }
    rows.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_powers_of_two_and_the_maximum() {
        assert_eq!(counts(8), vec![1, 2, 4, 8]);
        assert_eq!(counts(31), vec![1, 2, 4, 8, 16, 31]);
        assert_eq!(counts(0), Vec::<u32>::new());
    }
}
