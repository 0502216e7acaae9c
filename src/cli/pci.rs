//! `ceso pci …`, `ceso gpu …`, and the PCI parts of `ceso vm …` (attach-pci, detach-pci).

use crate::ops::OpResult;
use crate::ops::pci::{
    self, AttachRequest, ListFilter, PciDevice, PlannedDevice, detach, passthru,
};

use super::Ctx;
use super::args::{AttachPciArgs, DetachPciArgs, GpuCommand, PciCommand, SriovCommand};
use super::confirm::confirm;
use super::progress::TermProgress;
use super::render::mb;

pub fn run(ctx: &Ctx, cmd: PciCommand) -> OpResult<()> {
    match cmd {
        PciCommand::List {
            gpus,
            assignable,
            scope,
        } => list(ctx, &ctx.scope(&scope), ListFilter { gpus, assignable }),
        PciCommand::Info { device, scope } => info(ctx, &ctx.scope(&scope), &device),
        PciCommand::Enable(c) => set(ctx, &ctx.scope(&c.scope), &c.device, true, c.dry_run),
        PciCommand::Disable(c) => set(ctx, &ctx.scope(&c.scope), &c.device, false, c.dry_run),
        PciCommand::Sriov(SriovCommand::Enable { change: c, vfs }) => {
            super::sriov::set(ctx, &ctx.scope(&c.scope), &c.device, Some(vfs), c.dry_run)
        }
        PciCommand::Sriov(SriovCommand::Disable(c)) => {
            super::sriov::set(ctx, &ctx.scope(&c.scope), &c.device, None, c.dry_run)
        }
    }
}

pub fn run_gpu(ctx: &Ctx, cmd: GpuCommand) -> OpResult<()> {
    match cmd {
        GpuCommand::Profiles { scope } => profiles(ctx, &ctx.scope(&scope)),
        GpuCommand::Check {
            target,
            cuda,
            driver,
            scope,
        } => check(
            ctx,
            &ctx.scope(&scope),
            pci::CheckRequest {
                target,
                cuda,
                driver,
            },
        ),
    }
}

/// `gpu check`: the check lines (or the JSON object), then exit 6 when not compatible.
fn check(ctx: &Ctx, scope: &crate::ops::Scope, req: pci::CheckRequest) -> OpResult<()> {
    let result = ctx.app.block_on(pci::check(&ctx.app.fleet, scope, &req))?;
    if ctx.out.json {
        ctx.out.json(&result);
    } else {
        let what = match (&result.cuda, &result.driver) {
            (Some(c), Some(d)) => format!("CUDA {c}, driver {d}"),
            (Some(c), None) => format!("CUDA {c}"),
            (None, Some(d)) => format!("driver {d}"),
            (None, None) => "CUDA".into(),
        };
        let on = if result.kind == "vm" {
            format!("{} on {}", result.target, result.host)
        } else {
            format!("a VM given {} on {}", result.target, result.host)
        };
        println!("{what} on {on}:");
        for c in &result.checks {
            println!("  {}", c.line());
        }
        println!(
            "table: {} (version {})",
            result.table.path, result.table.version
        );
    }
    if result.compatible {
        Ok(())
    } else {
        let failed = result
            .checks
            .iter()
            .filter(|c| c.status == pci::cuda::Status::Fail)
            .count();
        Err(crate::ops::OpError::refused(
            format!(
                "{} cannot run {}: {failed} check(s) failed",
                result.target,
                result
                    .cuda
                    .as_ref()
                    .map_or("a CUDA workload".to_string(), |c| format!("CUDA {c}"))
            ),
            "see the FAIL lines above",
        ))
    }
}

fn yes_no(value: bool) -> String {
    if value { "yes" } else { "no" }.into()
}

fn list(ctx: &Ctx, scope: &crate::ops::Scope, filter: ListFilter) -> OpResult<()> {
    let (found, scanned) = ctx
        .app
        .block_on(pci::list_each(&ctx.app.fleet, scope, filter))?;
    let found = found.unless_all_failed()?;
    if ctx.out.json {
        ctx.out.json_gathered(&found);
    } else {
        table(ctx, scope, &found.items, scanned);
    }
    super::report::endpoint_errors(&found.errors)
}

fn table(ctx: &Ctx, scope: &crate::ops::Scope, devices: &[PciDevice], scanned: usize) {
    let many_endpoints =
        ctx.many_endpoints(scope) || devices.iter().any(|d| d.endpoint != devices[0].endpoint);
    let many_hosts =
        many_endpoints || scanned > 1 || devices.iter().any(|d| d.host != devices[0].host);
    let mut headers = vec![
        "ADDRESS",
        "ID",
        "VENDOR",
        "DEVICE",
        "CLASS",
        "PASSTHRU",
        "SR-IOV",
        "DEPENDENT",
        "VM",
    ];
    if many_hosts {
        headers.insert(0, "HOST");
    }
    if many_endpoints {
        headers.insert(0, "ENDPOINT");
    }
    let rows = super::sriov::under_their_pf(devices)
        .into_iter()
        .map(|d| {
            let mut row = vec![
                super::sriov::address_cell(d),
                d.id.clone(),
                d.vendor_short.clone(),
                device_cell(d),
                d.class.clone(),
                d.state().to_string(),
                super::sriov::sriov_cell(d),
                d.dependent_devices.join(" "),
                d.assigned_to.join(", "),
            ];
            if many_hosts {
                row.insert(0, d.host.clone());
            }
            if many_endpoints {
                row.insert(0, d.endpoint.clone());
            }
            row
        })
        .collect();
    ctx.out.table(&headers, rows);
}

fn device_cell(d: &PciDevice) -> String {
    match &d.gpu {
        // Models named by memory size (A100 PCIe 80GB) need no second mention of it.
        Some(g) if g.model.contains("GB") => g.model.clone(),
        Some(g) => format!("{} {} GB", g.model, g.memory_gb),
        None => d.device.clone(),
    }
}

fn info(ctx: &Ctx, scope: &crate::ops::Scope, device: &str) -> OpResult<()> {
    let info = ctx.app.block_on(pci::info(&ctx.app.fleet, scope, device))?;
    if ctx.out.json {
        ctx.out.json(&info);
        return Ok(());
    }
    let d = &info.device;
    let mut fields = vec![
        ("Address", d.address.clone()),
        ("Host", format!("{} ({})", d.host, d.endpoint)),
        ("ID", format!("{} (subsystem {})", d.id, d.subsystem_id)),
        ("Vendor", d.vendor.clone()),
        ("Device", d.device.clone()),
        ("Class", format!("{} ({})", d.class, d.class_id)),
    ];
    if let Some(g) = &d.gpu {
        fields.push((
            "GPU",
            format!(
                "{} {} ({}), {} GB",
                g.vendor, g.model, g.architecture, g.memory_gb
            ),
        ));
        if g.mig_slices > 0 {
            fields.push(("MIG", format!("{} slices", g.mig_slices)));
        }
    }
    fields.extend([
        ("Passthrough", d.state().to_string()),
        ("Capable", yes_no(d.passthru_capable)),
        ("Enabled", yes_no(d.passthru_enabled)),
        ("Active", yes_no(d.passthru_active)),
        (
            "Assignable",
            if info.not_assignable_because.is_empty() {
                "yes".into()
            } else {
                format!("no: {}", info.not_assignable_because)
            },
        ),
        (
            "Dependent",
            if info.group.is_empty() {
                "none".into()
            } else {
                info.group
                    .iter()
                    .map(|g| format!("{} ({}, {})", g.address, g.device, g.state()))
                    .collect::<Vec<_>>()
                    .join("; ")
            },
        ),
        ("SR-IOV", super::sriov::info_cell(d)),
        ("Parent bridge", d.parent_bridge.clone()),
        (
            "Used by",
            if info.used_by.is_empty() {
                "none".into()
            } else {
                info.used_by
                    .iter()
                    .map(|u| format!("{} ({}, {})", u.vm, u.power_state, u.device.label))
                    .collect::<Vec<_>>()
                    .join("; ")
            },
        ),
        (
            "Rebind",
            match info.rebind_without_reboot {
                Some(true) => "passthrough changes apply at once".into(),
                Some(false) => "passthrough changes need a host reboot".into(),
                None => "unknown (older hosts need a reboot)".into(),
            },
        ),
        (
            "Reset on stop",
            if info.auto_reset {
                "by ESXi, with the host's reset method (auto_reset: true)".into()
            } else {
                "auto_reset: false, but set per host in /etc/vmware/passthru.map (no API switch)"
                    .into()
            },
        ),
    ]);
    ctx.out.fields(&fields);
    if !info.vgpu_profiles.is_empty() {
        println!();
        profile_table(ctx, &info.vgpu_profiles);
    }
    Ok(())
}

fn set(
    ctx: &Ctx,
    scope: &crate::ops::Scope,
    device: &str,
    enable: bool,
    dry_run: bool,
) -> OpResult<()> {
    let progress = TermProgress::new(ctx.out.json);
    let fleet = &ctx.app.fleet;
    let plan = ctx
        .app
        .block_on(passthru::plan(fleet, scope, device, enable))?;
    let list = plan
        .devices()
        .iter()
        .map(|d| format!("{} {}", d.address, d.display_name()))
        .collect::<Vec<_>>()
        .join(", ");
    let host_io = plan
        .devices()
        .iter()
        .any(|d| pci::ids::is_host_io_class(d.class_code));
    if !dry_run && plan.changed && (!enable || host_io) {
        // Disabling breaks VMs configured with the device at their next power-on;
        // enabling a NIC or storage controller takes it away from ESXi itself.
        let verb = if enable { "Enable" } else { "Disable" };
        confirm(
            ctx.yes,
            &format!("{verb} passthrough for {list} on {}", plan.host.name),
        )?;
    }
    let result = if dry_run {
        plan.preview()
    } else {
        ctx.app.block_on(passthru::apply(&plan, &progress))?
    };
    progress.finish();
    if ctx.out.json {
        ctx.out.json(&result);
        return Ok(());
    }
    let verb = if enable { "enable" } else { "disable" };
    let names = result
        .devices
        .iter()
        .map(|d| d.address.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    if result.dry_run {
        if result.changed {
            println!("would {verb} passthrough for {list} on {}", result.host);
            if result.reboot_required {
                println!("the host may need a reboot before the change is active");
            }
        } else {
            println!(
                "nothing to do: passthrough is already {verb}d for {names} on {}",
                result.host
            );
        }
        return Ok(());
    }
    if !result.changed {
        ctx.out.done(&format!(
            "passthrough already {verb}d for {names} on {}",
            result.host
        ));
    } else if result.reboot_required {
        ctx.out.done(&format!(
            "passthrough {verb}d for {names} on {}; reboot the host before it is active",
            result.host
        ));
    } else {
        ctx.out.done(&format!(
            "passthrough {verb}d for {names} on {} (active now)",
            result.host
        ));
    }
    Ok(())
}

fn profiles(ctx: &Ctx, scope: &crate::ops::Scope) -> OpResult<()> {
    let rows = ctx.app.block_on(pci::profiles(&ctx.app.fleet, scope))?;
    if ctx.out.json {
        ctx.out.json(&rows);
        return Ok(());
    }
    if rows.is_empty() {
        eprintln!(
            "no host in scope offers vGPU profiles (no NVIDIA vGPU manager, or every GPU is in passthrough mode)"
        );
        return Ok(());
    }
    profile_table(ctx, &rows);
    Ok(())
}

fn profile_table(ctx: &Ctx, rows: &[pci::VgpuProfile]) {
    ctx.out.table(
        &[
            "PROFILE",
            "GPU",
            "SERIES",
            "FRAMEBUFFER",
            "PER GPU",
            "HOSTS",
            "USED BY",
        ],
        rows.iter()
            .map(|p| {
                vec![
                    p.name.clone(),
                    p.gpu.clone().unwrap_or_else(|| "unknown".into()),
                    p.series.clone(),
                    mb(i64::try_from(p.framebuffer_mb).unwrap_or(i64::MAX)),
                    p.max_per_gpu.map(|m| m.to_string()).unwrap_or_default(),
                    p.hosts.join(", "),
                    p.used_by.join(", "),
                ]
            })
            .collect(),
    );
}

pub fn planned_line(d: &PlannedDevice) -> String {
    let what = match d.mode {
        pci::Mode::DirectPath => format!(
            "{} {}, DirectPath",
            d.address.as_deref().unwrap_or_default(),
            d.name
        ),
        pci::Mode::Dynamic => format!(
            "{} {}, Dynamic DirectPath",
            d.id.as_deref().unwrap_or_default(),
            d.name
        ),
        pci::Mode::Vgpu => d.name.clone(),
    };
    if d.dependent {
        format!("{what}, dependent device")
    } else {
        what
    }
}

pub fn attach(ctx: &Ctx, args: AttachPciArgs) -> OpResult<()> {
    let scope = ctx.scope(&args.scope);
    let req = AttachRequest {
        device: args.device.clone(),
        dynamic: args.dynamic,
        vgpu: args.vgpu.clone(),
        vf: args.vf,
    };
    let progress = TermProgress::new(ctx.out.json);
    let (plan, result) = ctx.app.block_on(pci::attach(
        &ctx.app.fleet,
        &scope,
        &args.vm,
        &req,
        args.dry_run,
        &progress,
    ))?;
    progress.finish();
    for note in &plan.notes {
        if !ctx.out.json {
            eprintln!("note: {note}");
        }
    }
    match result {
        None => {
            if ctx.out.json {
                ctx.out
                    .json(&serde_json::json!({"dry_run": true, "plan": plan}));
                return Ok(());
            }
            println!("Would attach to {} on {}:", plan.vm, plan.host);
            for d in &plan.devices {
                println!("  + {}", planned_line(d));
            }
            if plan.lock_memory_reservation {
                println!(
                    "  reserve all memory ({}): memoryReservationLockedToMax = true",
                    mb(plan.memory_mb)
                );
            }
            for (k, v) in &plan.extra_config {
                println!("  set {k} = {v}");
            }
        }
        Some(r) => {
            if ctx.out.json {
                ctx.out.json(&r);
                return Ok(());
            }
            for d in &r.devices {
                ctx.out.done(&format!(
                    "{}: attached {} as {}",
                    r.vm,
                    planned_line(&d.device),
                    d.label
                ));
            }
            if plan.lock_memory_reservation {
                ctx.out.done(&format!(
                    "{}: memory reservation locked to its size ({})",
                    r.vm,
                    mb(plan.memory_mb)
                ));
            }
        }
    }
    Ok(())
}

pub fn detach(ctx: &Ctx, args: DetachPciArgs) -> OpResult<()> {
    let scope = ctx.scope(&args.scope);
    let fleet = &ctx.app.fleet;
    let plan = ctx.app.block_on(detach::plan(
        fleet,
        &scope,
        &args.vm,
        &args.device,
        args.all,
    ))?;
    let what = plan
        .devices
        .iter()
        .map(|d| format!("{} ({})", d.label, d.name))
        .collect::<Vec<_>>()
        .join(", ");
    if args.dry_run {
        if ctx.out.json {
            ctx.out
                .json(&serde_json::json!({"dry_run": true, "plan": plan}));
        } else {
            println!("Would detach from {} on {}:", plan.vm, plan.host);
            for d in &plan.devices {
                let dep = if d.dependent {
                    ", dependent device"
                } else {
                    ""
                };
                println!("  - {} ({}{dep})", d.label, d.name);
            }
        }
        return Ok(());
    }
    confirm(ctx.yes, &format!("Detach {what} from {}", plan.vm))?;
    let progress = TermProgress::new(ctx.out.json);
    let result = ctx.app.block_on(detach::apply(&plan, &progress))?;
    progress.finish();
    if ctx.out.json {
        ctx.out.json(&result);
        return Ok(());
    }
    for d in &result.removed {
        ctx.out
            .done(&format!("{}: detached {} ({})", result.vm, d.label, d.name));
    }
    for note in &result.notes {
        eprintln!("note: {note}");
    }
    Ok(())
}
