//! SR-IOV on a physical function: `UpdatePassthruConfig` with a `HostSriovConfig`
//! (sriovEnabled, numVirtualFunction), checked first against the device's
//! `maxVirtualFunctionSupported`, its passthrough state and the VMs using the virtual
//! functions that would go. ESXi creates or removes the VFs when the host reboots (or
//! its driver reloads), so the result says whether that is still to come.

use serde::Serialize;

use crate::ops::error::{OpError, OpResult};
use crate::ops::fleet::{Fleet, Scope, WithEndpoint};
use crate::ops::progress::Progress;
use crate::vim::Request;

use super::inventory::{self, HostPci, PciDevice, Sriov};
use super::selector::Want;

#[derive(Debug, Clone, Serialize)]
pub struct SriovChange {
    pub host: String,
    pub endpoint: String,
    pub address: String,
    pub name: String,
    pub enable: bool,
    /// Virtual functions configured (0 when disabled).
    pub vfs_requested: u32,
    /// Virtual functions that exist now.
    pub vfs: u32,
    pub max_vfs: u32,
    pub virtual_functions: Vec<String>,
    /// False when the device already was configured this way.
    pub changed: bool,
    /// The host must reboot (or reload the driver) before the VFs follow.
    pub reboot_required: bool,
    /// ESXi's own network adapter on this device, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub esxi_nic: Option<String>,
    pub dry_run: bool,
}

/// The resolved change, checked; nothing sent yet.
pub struct SriovPlan {
    pub host: HostPci,
    pub address: String,
    pub enable: bool,
    pub vfs: u32,
    pub changed: bool,
}

impl SriovPlan {
    pub fn device(&self) -> Option<&PciDevice> {
        self.host.device(&self.address)
    }

    /// ESXi uses the NIC (a vmnic): reconfiguring SR-IOV reloads its driver.
    pub fn esxi_nic(&self) -> Option<&str> {
        self.device().and_then(|d| d.esxi_nic.as_deref())
    }

    /// What `apply` would report, for --dry-run.
    pub fn preview(&self) -> SriovChange {
        let mut report = self.report(&self.host, true);
        report.vfs_requested = self.vfs;
        report.reboot_required = self.changed;
        report
    }

    fn report(&self, host: &HostPci, dry_run: bool) -> SriovChange {
        let device = host.device(&self.address);
        let sriov = device.and_then(|d| d.sriov.clone()).unwrap_or_default();
        SriovChange {
            host: host.name.clone(),
            endpoint: host.endpoint.name().to_string(),
            address: self.address.clone(),
            name: device.map(PciDevice::display_name).unwrap_or_default(),
            enable: self.enable,
            vfs_requested: sriov.vfs_requested,
            vfs: sriov.vfs,
            max_vfs: sriov.max_vfs,
            reboot_required: sriov.reboot_pending(),
            virtual_functions: sriov.virtual_functions,
            changed: self.changed,
            esxi_nic: device.and_then(|d| d.esxi_nic.clone()),
            dry_run,
        }
    }
}

/// Resolve the device and check the change. `vfs` is required to enable.
pub async fn plan(
    fleet: &Fleet,
    scope: &Scope,
    device: &str,
    enable: bool,
    vfs: Option<u32>,
) -> OpResult<SriovPlan> {
    if enable {
        super::ensure_enabled(fleet)?;
    }
    let (host, address) = inventory::pick(fleet, scope, device, Want::Sriov).await?;
    let d = host
        .device(&address)
        .ok_or_else(|| OpError::invalid(format!("{address} vanished from {}", host.name)))?;
    let label = format!("{} ({}) on {}", d.address, d.display_name(), host.name);
    let Some(sriov) = &d.sriov else {
        return Err(OpError::refused(
            format!("{label} is not SR-IOV capable"),
            not_capable_hint(d),
        ));
    };
    let vfs = match (enable, vfs) {
        (false, _) => 0,
        (true, None) => {
            return Err(OpError::Invalid {
                message: "say how many virtual functions: --vfs N".into(),
                hint: Some(format!("{label} supports 1 to {}", sriov.max_vfs)),
            });
        }
        (true, Some(n)) => check_count(&label, sriov, n)?,
    };
    if enable && (d.passthru_enabled || d.passthru_active) {
        return Err(OpError::refused(
            format!("{label} is in whole-device passthrough mode"),
            format!(
                "a device is either passed through whole or split into virtual functions: `ceso pci disable {} --host {}` first (and reboot if it says so)",
                d.address, host.name
            ),
        ));
    }
    let going = going_vfs(&host, sriov, vfs);
    if !going.is_empty() {
        return Err(OpError::refused(
            format!(
                "cannot {} SR-IOV on {label}: virtual functions in use ({})",
                if enable { "shrink" } else { "disable" },
                going.join("; ")
            ),
            "detach them first (`ceso vm detach-pci VM DEVICE`), or keep that many virtual functions",
        ));
    }
    host.passthru_system()?;
    let changed = sriov.enabled != enable || (enable && sriov.vfs_requested != vfs);
    Ok(SriovPlan {
        address: d.address.clone(),
        host,
        enable,
        vfs,
        changed,
    })
}

fn not_capable_hint(d: &PciDevice) -> String {
    if d.physical_function.is_some() {
        "this is a virtual function: name its physical function".into()
    } else {
        "`ceso pci list` shows SR-IOV capable devices (the sriov column)".into()
    }
}

/// The VF count, checked against what the device supports.
pub fn check_count(label: &str, sriov: &Sriov, n: u32) -> OpResult<u32> {
    if n == 0 {
        return Err(OpError::Invalid {
            message: "--vfs 0: to turn SR-IOV off use `ceso pci sriov disable`".into(),
            hint: Some(format!("{label} supports 1 to {}", sriov.max_vfs)),
        });
    }
    if n > sriov.max_vfs {
        return Err(OpError::refused(
            format!(
                "{label} supports at most {} virtual functions, not {n}",
                sriov.max_vfs
            ),
            format!("use --vfs 1 to {}", sriov.max_vfs),
        ));
    }
    Ok(n)
}

/// VFs the change removes that a VM has (ESXi removes the last ones).
fn going_vfs(host: &HostPci, sriov: &Sriov, keep: u32) -> Vec<String> {
    sriov
        .virtual_functions
        .iter()
        .skip(keep as usize)
        .filter_map(|a| host.device(a))
        .filter(|vf| !vf.assigned_to.is_empty())
        .map(|vf| format!("{} by {}", vf.address, vf.assigned_to.join(", ")))
        .collect()
}

/// Apply a plan (a no-op plan reports the current state).
pub async fn apply(plan: &SriovPlan, progress: &dyn Progress) -> OpResult<SriovChange> {
    if !plan.changed {
        return Ok(plan.report(&plan.host, false));
    }
    let host = &plan.host;
    let endpoint = host.endpoint.name().to_string();
    let client = host.endpoint.client().await?;
    let system = host.passthru_system()?;
    progress.step(&format!(
        "{} SR-IOV on {} of {} ({} virtual functions)",
        if plan.enable { "Enabling" } else { "Disabling" },
        plan.address,
        host.name,
        plan.vfs
    ));
    let mut req = Request::new("UpdatePassthruConfig", &system);
    req.nest("config", Some("HostSriovConfig"), |r| {
        r.text("id", &plan.address)
            .text("passthruEnabled", false)
            .text("sriovEnabled", plan.enable)
            .text("numVirtualFunction", plan.vfs);
    });
    client.call(req).await.at(&endpoint)?;
    let after = inventory::rescan(host).await?;
    let report = plan.report(&after, false);
    if report.reboot_required {
        progress.note(&format!(
            "host {} must reboot (or reload the device's driver) before the virtual functions follow ({} now, {} configured)",
            host.name, report.vfs, report.vfs_requested
        ));
    }
    Ok(report)
}

/// Plan and, unless `dry_run`, apply.
pub async fn set(
    fleet: &Fleet,
    scope: &Scope,
    device: &str,
    enable: bool,
    vfs: Option<u32>,
    dry_run: bool,
    progress: &dyn Progress,
) -> OpResult<SriovChange> {
    let plan = plan(fleet, scope, device, enable, vfs).await?;
    if dry_run {
        return Ok(plan.preview());
    }
    apply(&plan, progress).await
}
