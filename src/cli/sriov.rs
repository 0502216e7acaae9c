//! `ceso pci sriov enable|disable`, and how `pci list` shows SR-IOV: the VF counts of a
//! physical function, its virtual functions listed under it.

use crate::ops::OpResult;
use crate::ops::pci::{PciDevice, sriov};

use super::Ctx;
use super::confirm::confirm;
use super::progress::TermProgress;

/// `vfs`: Some to enable with that many virtual functions, None to disable.
pub fn set(
    ctx: &Ctx,
    scope: &crate::ops::Scope,
    device: &str,
    vfs: Option<u32>,
    dry_run: bool,
) -> OpResult<()> {
    let enable = vfs.is_some();
    let progress = TermProgress::new(ctx.out.json);
    let plan = ctx
        .app
        .block_on(sriov::plan(&ctx.app.fleet, scope, device, enable, vfs))?;
    let name = plan
        .device()
        .map(|d| format!("{} {}", d.address, d.display_name()))
        .unwrap_or_else(|| plan.address.clone());
    if !dry_run && plan.changed {
        // Reconfiguring SR-IOV reloads the driver of a NIC ESXi uses (its traffic stops);
        // disabling takes the virtual functions away from VMs configured with them.
        let question = match (plan.esxi_nic(), enable) {
            (Some(nic), _) => Some(format!(
                "{name} is ESXi's {nic} on {}: its traffic stops while the driver reloads. {} SR-IOV",
                plan.host.name,
                if enable { "Enable" } else { "Disable" }
            )),
            (None, false) => Some(format!(
                "Disable SR-IOV on {name} of {} (its virtual functions go at the next reboot)",
                plan.host.name
            )),
            (None, true) => None,
        };
        if let Some(q) = question {
            confirm(ctx.yes, &q)?;
        }
    }
    let result = if dry_run {
        plan.preview()
    } else {
        ctx.app.block_on(sriov::apply(&plan, &progress))?
    };
    progress.finish();
    if ctx.out.json {
        ctx.out.json(&result);
        return Ok(());
    }
    let what = if enable {
        format!(
            "SR-IOV with {} virtual functions (max {})",
            result.vfs_requested, result.max_vfs
        )
    } else {
        "SR-IOV off".to_string()
    };
    let on = format!("{name} on {}", result.host);
    let reboot =
        "reboot the host (or reload the device's driver) before the virtual functions follow";
    match (result.dry_run, result.changed, result.reboot_required) {
        (true, true, _) => println!("would set {what} on {on}; {reboot}"),
        (_, false, false) => ctx
            .out
            .done(&format!("nothing to do: {on} already has {what}")),
        (_, false, true) => ctx.out.done(&format!(
            "{on} already configured for {what}; {reboot} ({} now)",
            result.vfs
        )),
        (false, true, true) => ctx.out.done(&format!("set {what} on {on}; {reboot}")),
        (false, true, false) => ctx.out.done(&format!(
            "set {what} on {on} (active now: {} virtual functions)",
            result.vfs
        )),
    }
    Ok(())
}

/// Physical functions followed by their virtual functions; other devices in order.
pub fn under_their_pf(devices: &[PciDevice]) -> Vec<&PciDevice> {
    let mut out = Vec::with_capacity(devices.len());
    for d in devices.iter().filter(|d| {
        d.physical_function.is_none()
            || !devices.iter().any(|p| {
                p.host == d.host
                    && p.endpoint == d.endpoint
                    && Some(&p.address) == d.physical_function.as_ref()
            })
    }) {
        out.push(d);
        if let Some(s) = &d.sriov {
            out.extend(devices.iter().filter(|vf| {
                vf.host == d.host
                    && vf.endpoint == d.endpoint
                    && s.virtual_functions.contains(&vf.address)
            }));
        }
    }
    out
}

/// A VF's address, marked as belonging to the row above.
pub fn address_cell(d: &PciDevice) -> String {
    match &d.physical_function {
        Some(_) => format!("└ {}", d.address),
        None => d.address.clone(),
    }
}

/// `4/8 VFs`, `0/8 VFs (4 after reboot)`, `VF of 0000:18:00.0`, or `-`.
pub fn sriov_cell(d: &PciDevice) -> String {
    if let Some(pf) = &d.physical_function {
        return format!("VF of {pf}");
    }
    let Some(s) = &d.sriov else {
        return "-".into();
    };
    let mut cell = format!("{}/{} VFs", s.vfs, s.max_vfs);
    if s.reboot_pending() {
        let after = if s.enabled { s.vfs_requested } else { 0 };
        cell.push_str(&format!(" ({after} after reboot)"));
    }
    cell
}

/// `pci info`'s SR-IOV line: the counts and the virtual functions by address.
pub fn info_cell(d: &PciDevice) -> String {
    match &d.sriov {
        Some(s) if !s.virtual_functions.is_empty() => format!(
            "{}: {}{}",
            sriov_cell(d),
            s.virtual_functions.join(" "),
            d.esxi_nic
                .as_ref()
                .map_or(String::new(), |n| format!(" (ESXi's {n})"))
        ),
        _ => sriov_cell(d),
    }
}
