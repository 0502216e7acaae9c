//! SR-IOV in scripts, named as in the CLI: `pci_sriov_enable(device, #{vfs: 4})` and
//! `pci_sriov_disable(device)`; `vm.attach_pci(device, #{vf: true})` is in `pci`, and
//! `vm.nic_add(..., #{sriov: PF})` in `network`.

use rhai::{Dynamic, Engine, Map};

use crate::ops::pci::sriov;

use super::convert::{Opts, from_serialize};
use super::ctx::{RhaiResultOf, ScriptCtx};
use super::doc::func;
use super::vm::scope_of;

fn set(ctx: &ScriptCtx, device: &str, enable: bool, opts: Opts) -> RhaiResultOf<Dynamic> {
    let scope = scope_of(ctx, &opts)?;
    let vfs = match opts.int("vfs")? {
        Some(n) => Some(u32::try_from(n).map_err(|_| {
            super::fault::script_error(format!("pci_sriov_enable: vfs {n} is not a count"))
        })?),
        None => None,
    };
    let dry_run = opts.flag("dry_run")? || ctx.policy().dry_run;
    let fleet = ctx.fleet().clone();
    let tracker = ctx.track(device);
    let change = ctx.run(async {
        let plan = sriov::plan(&fleet, &scope, device, enable, vfs).await?;
        if dry_run {
            return Ok(plan.preview());
        }
        sriov::apply(&plan, &tracker).await
    })?;
    if change.dry_run && change.changed {
        ctx.say(&format!(
            "would set SR-IOV {} on {} of {}",
            if enable {
                format!("to {} virtual functions", change.vfs_requested)
            } else {
                "off".to_string()
            },
            change.address,
            change.host
        ));
    }
    Ok(from_serialize(&change))
}

pub fn register(engine: &mut Engine, ctx: &ScriptCtx) {
    let c = ctx.clone();
    func(
        "pci_sriov_enable",
        &["device: String", "options: Map", "Map"],
        "Enable SR-IOV on a GPU or NIC, like `ceso pci sriov enable DEVICE --vfs N`: #{vfs: 4, host, dry_run}.\nThe virtual functions appear after a host reboot (reboot_required says so).",
    )
    .register_into_engine(engine, move |device: &str, opts: Map| {
        set(
            &c,
            device,
            true,
            Opts::new("pci_sriov_enable", opts, &["vfs", "host", "all_hosts", "dry_run"])?,
        )
    });
    let c = ctx.clone();
    func(
        "pci_sriov_disable",
        &["device: String", "Map"],
        "Disable SR-IOV on a device, like `ceso pci sriov disable`.",
    )
    .register_into_engine(engine, move |device: &str| {
        set(&c, device, false, Opts::none("pci_sriov_disable"))
    });
    let c = ctx.clone();
    func(
        "pci_sriov_disable",
        &["device: String", "options: Map", "Map"],
        "Disable SR-IOV. Options: host, dry_run.",
    )
    .register_into_engine(engine, move |device: &str, opts: Map| {
        set(
            &c,
            device,
            false,
            Opts::new("pci_sriov_disable", opts, &["host", "all_hosts", "dry_run"])?,
        )
    });
}
