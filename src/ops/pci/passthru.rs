//! Enabling and disabling passthrough on a host: HostPciPassthruSystem.UpdatePassthruConfig
//! for the device and every function of its group (ESXi unclaims them together), then a
//! fresh read to tell whether the change is active or waits for a reboot.

use serde::Serialize;

use crate::ops::error::{OpError, OpResult};
use crate::ops::fleet::{Fleet, Scope, WithEndpoint};
use crate::ops::progress::Progress;
use crate::vim::Request;

use super::inventory::{self, HostPci, PciDevice};
use super::selector::Want;

#[derive(Debug, Clone, Serialize)]
pub struct DeviceState {
    pub address: String,
    pub id: String,
    pub name: String,
    pub enabled: bool,
    pub active: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct PassthruChange {
    pub host: String,
    pub endpoint: String,
    /// The device asked for, then the functions that go with it.
    pub devices: Vec<DeviceState>,
    pub enable: bool,
    /// False when every device already was in the wanted state.
    pub changed: bool,
    /// The change is configured but the host must reboot before it is active.
    pub reboot_required: bool,
    pub dry_run: bool,
}

/// The plan: which host, which devices, and whether anything would change.
pub struct PassthruPlan {
    pub host: HostPci,
    pub addresses: Vec<String>,
    pub enable: bool,
    pub changed: bool,
}

impl PassthruPlan {
    /// The devices of the plan (for a confirmation question, the dry-run output).
    pub fn devices(&self) -> Vec<&PciDevice> {
        self.addresses
            .iter()
            .filter_map(|a| self.host.device(a))
            .collect()
    }

    /// What `apply` would report, for --dry-run.
    pub fn preview(&self) -> PassthruChange {
        self.report(&self.host, true)
    }

    fn report(&self, host: &HostPci, dry_run: bool) -> PassthruChange {
        let devices: Vec<DeviceState> = self
            .addresses
            .iter()
            .filter_map(|a| host.device(a))
            .map(|d| DeviceState {
                address: d.address.clone(),
                id: d.id.clone(),
                name: d.display_name(),
                enabled: if dry_run {
                    self.enable
                } else {
                    d.passthru_enabled
                },
                active: d.passthru_active,
            })
            .collect();
        let reboot_required = if dry_run {
            // Without asking the host to try, its capability is the best guess.
            self.changed && host.rebind_without_reboot != Some(true)
        } else {
            devices.iter().any(|d| d.enabled != d.active)
        };
        PassthruChange {
            host: host.name.clone(),
            endpoint: host.endpoint.name().to_string(),
            devices,
            enable: self.enable,
            changed: self.changed,
            reboot_required,
            dry_run,
        }
    }
}

/// Resolve the device and check that the change is allowed. Changes nothing.
pub async fn plan(
    fleet: &Fleet,
    scope: &Scope,
    device: &str,
    enable: bool,
) -> OpResult<PassthruPlan> {
    if enable {
        super::ensure_enabled(fleet)?;
    }
    let want = if enable { Want::Enable } else { Want::Disable };
    let (host, address) = inventory::pick(fleet, scope, device, want).await?;
    let Some(target) = host.device(&address) else {
        return Err(OpError::invalid(format!(
            "{address} vanished from {}",
            host.name
        )));
    };
    if !target.passthru_capable {
        return Err(OpError::refused(
            format!(
                "{} on {} ({}) is not passthrough capable",
                target.address,
                host.name,
                target.display_name()
            ),
            "enable VT-d/AMD-Vi (IOMMU) in the server firmware; devices the host itself needs (its boot controller, bridges) cannot be passed through",
        ));
    }
    // The whole group changes together; functions that cannot be passed through
    // (a bridge the group hangs from) are left to ESXi.
    let group: Vec<&PciDevice> = host
        .group(&address)
        .into_iter()
        .filter(|d| d.passthru_capable)
        .collect();
    if !enable {
        let users: Vec<String> = group
            .iter()
            .filter(|d| !d.assigned_to.is_empty())
            .map(|d| format!("{} by {}", d.address, d.assigned_to.join(", ")))
            .collect();
        if !users.is_empty() {
            return Err(OpError::refused(
                format!(
                    "cannot disable passthrough on {}: in use ({})",
                    host.name,
                    users.join("; ")
                ),
                format!(
                    "detach it first: `ceso vm detach-pci {} {}`",
                    group
                        .iter()
                        .find_map(|d| d.assigned_to.first())
                        .map_or("VM", String::as_str),
                    address
                ),
            ));
        }
    }
    host.passthru_system()?;
    let changed = group.iter().any(|d| d.passthru_enabled != enable);
    let mut addresses = vec![address.clone()];
    addresses.extend(
        group
            .iter()
            .map(|d| d.address.clone())
            .filter(|a| *a != address),
    );
    Ok(PassthruPlan {
        host,
        addresses,
        enable,
        changed,
    })
}

/// Apply a plan (a no-op plan reports the current state).
pub async fn apply(plan: &PassthruPlan, progress: &dyn Progress) -> OpResult<PassthruChange> {
    if !plan.changed {
        return Ok(plan.report(&plan.host, false));
    }
    let host = &plan.host;
    let endpoint = host.endpoint.name().to_string();
    let client = host.endpoint.client().await?;
    let system = host.passthru_system()?;
    let verb = if plan.enable { "Enabling" } else { "Disabling" };
    progress.step(&format!(
        "{verb} passthrough for {} on {}",
        plan.addresses.join(", "),
        host.name
    ));
    let mut req = Request::new("UpdatePassthruConfig", &system);
    for address in &plan.addresses {
        req.nest("config", Some("HostPciPassthruConfig"), |r| {
            r.text("id", address).text("passthruEnabled", plan.enable);
        });
    }
    client.call(req).await.at(&endpoint)?;
    let after = inventory::rescan(host).await?;
    let report = plan.report(&after, false);
    if report.reboot_required {
        progress.note(&format!(
            "host {} must reboot before the change is active (passthruActive still {})",
            host.name, !plan.enable
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
    dry_run: bool,
    progress: &dyn Progress,
) -> OpResult<PassthruChange> {
    let plan = plan(fleet, scope, device, enable).await?;
    if dry_run {
        return Ok(plan.preview());
    }
    apply(&plan, progress).await
}
