//! PCI and GPU passthrough: the host's devices, enabling passthrough on them, and
//! giving them to VMs as static DirectPath, Dynamic DirectPath or NVIDIA vGPU.
//!
//! One concept per file: `ids` (PCI numbers), `gpu_table` (the known-GPU data),
//! `inventory` (reading hosts and VMs), `selector` (naming a device), `config_target`
//! (QueryConfigTarget), `passthru` (enable/disable), `assign` (the attach rules),
//! `reconfig` (a checked ReconfigVM with undo), `find` (the VM and its host in one read),
//! `attach`, `detach`, `create` (GPUs at VM creation), `vgpu` (profiles), `list`, `sriov` (SR-IOV virtual functions on a
//! physical function), `vf_links` (which VF belongs to which PF),
//! `sriov_profiles` (MxGPU/Flex partitions for `gpu profiles`), `cuda` (can a CUDA
//! workload run on a GPU: the pure decision), `check` (`gpu check`: reading what a VM has).

pub mod assign;
pub mod attach;
pub mod check;
pub mod config_target;
pub mod create;
pub mod cuda;
pub mod detach;
pub mod find;
pub mod gpu_table;
pub mod ids;
pub mod inventory;
pub mod list;
pub mod passthru;
pub mod reconfig;
pub mod selector;
pub mod sriov;
pub mod sriov_profiles;
pub mod vf_links;
pub mod vgpu;

pub use assign::{Mode, PlannedDevice};
pub use attach::{AttachPlan, AttachRequest, AttachResult, attach};
pub use check::{CheckRequest, GpuCheck, check};
pub use create::{GpuPlan, GpuRequest};
pub use detach::{DetachPlan, DetachResult};
pub use inventory::{HostPci, PciDevice};
pub use list::{ListFilter, PciInfo, info, list, list_each};
pub use passthru::PassthruChange;
pub use vgpu::{VgpuProfile, profiles};

use super::error::{OpError, OpResult};
use super::fleet::Fleet;

/// `pci_passthrough.enabled: false` turns off everything that gives devices to VMs.
/// Taking them away (disable, detach) stays possible, to clean up.
pub fn ensure_enabled(fleet: &Fleet) -> OpResult<()> {
    if fleet.config.pci_passthrough().enabled {
        return Ok(());
    }
    let file = fleet
        .config
        .path
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "the config file".into());
    Err(OpError::refused(
        "PCI passthrough is turned off in the config (pci_passthrough.enabled: false)",
        format!(
            "set pci_passthrough.enabled: true in {file} to attach devices or enable passthrough"
        ),
    ))
}
