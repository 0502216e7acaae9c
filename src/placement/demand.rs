//! What a VM costs a host: its current demand (quickStats when the server reports it,
//! else its configured size) and its configured allocation (what overcommit counts).

use serde::Serialize;

use super::model::{Vm, VmUsage};

/// Where a demand figure came from, shown in every output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// `summary.quickStats`: overallCpuUsage and hostMemoryUsage (guestMemoryUsage when
    /// the host figure is missing).
    QuickStats,
    /// No statistics: vCPUs × the host's MHz per core, and the configured memory.
    Configured,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Demand {
    pub cpu_mhz: f64,
    pub memory_mb: f64,
    pub source: Source,
}

impl Demand {
    pub const ZERO: Demand = Demand {
        cpu_mhz: 0.0,
        memory_mb: 0.0,
        source: Source::Configured,
    };
}

/// Demand of `vm` on a host whose cores run at `core_mhz`. A powered-off VM demands
/// nothing (it neither runs nor holds memory); a running one whose quickStats measure
/// nothing ([`VmUsage::measured`]) demands its configured size.
pub fn demand(vm: &Vm, core_mhz: f64) -> Demand {
    if !vm.powered_on {
        return Demand::ZERO;
    }
    match vm.usage.and_then(VmUsage::measured) {
        Some(u) => Demand {
            cpu_mhz: u.cpu_mhz as f64,
            memory_mb: if u.host_memory_mb > 0 {
                u.host_memory_mb
            } else {
                u.guest_memory_mb
            } as f64,
            source: Source::QuickStats,
        },
        None => Demand {
            cpu_mhz: f64::from(vm.vcpus) * core_mhz,
            memory_mb: vm.memory_mb as f64,
            source: Source::Configured,
        },
    }
}

/// The configured size overcommit is measured on: vCPUs × MHz per core and memory.
/// Only powered-on VMs count, as vCenter's admission control does.
pub fn allocation(vm: &Vm, core_mhz: f64) -> (f64, f64) {
    if vm.powered_on {
        (f64::from(vm.vcpus) * core_mhz, vm.memory_mb as f64)
    } else {
        (0.0, 0.0)
    }
}
