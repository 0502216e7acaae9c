//! `ceso vm …`

use crate::ops::pci;
use crate::ops::vms::{self, CreateSpec, PowerAction, VmRef};
use crate::ops::{EndpointError, OpError, OpResult, Scope};

use super::Ctx;
use super::args::{CreateArgs, PowerArgs, VmCommand};
use super::confirm::{confirm, lowercase_first};
use super::progress::TermProgress;
use super::render::mb;
use super::report;

pub fn run(ctx: &Ctx, cmd: VmCommand) -> OpResult<()> {
    match cmd {
        VmCommand::List { pattern, scope } => list(ctx, &ctx.scope(&scope), pattern.as_deref()),
        VmCommand::Info { name, scope } => info(ctx, &ctx.scope(&scope), &name),
        VmCommand::Create(args) => create(ctx, args),
        VmCommand::Start(args) => power(ctx, args, |_| PowerAction::On),
        VmCommand::Stop(args) => power(ctx, args, |force| PowerAction::Off { force }),
        VmCommand::Restart(args) => power(ctx, args, |force| PowerAction::Restart { force }),
        VmCommand::Suspend(args) => power(ctx, args, |_| PowerAction::Suspend),
        VmCommand::Delete {
            name,
            force,
            dry_run,
            scope,
        } => delete(ctx, &ctx.scope(&scope), &name, force, dry_run),
        VmCommand::AttachPci(args) => super::pci::attach(ctx, args),
        VmCommand::DetachPci(args) => super::pci::detach(ctx, args),
        VmCommand::Move(args) => super::rp::move_vms(ctx, args),
        VmCommand::Balance(args) => super::placement::balance(ctx, args),
        VmCommand::Migrate(args) => super::migrate::run(ctx, args),
        VmCommand::Nic(cmd) => super::nic::run(ctx, cmd),
        VmCommand::Update(args) => super::vm_update::run(ctx, *args),
        VmCommand::Clone(args) => super::vm_clone::run_clone(ctx, args),
        VmCommand::Template(cmd) => super::vm_clone::run_template(ctx, cmd),
        VmCommand::Import(args) => super::vm_ovf::import(ctx, args),
        VmCommand::Export(args) => super::vm_ovf::export(ctx, args),
    }
}

fn list(ctx: &Ctx, scope: &Scope, pattern: Option<&str>) -> OpResult<()> {
    let found = ctx
        .app
        .block_on(vms::list_each(&ctx.app.fleet, scope, pattern))?
        .unless_all_failed()?;
    // Nothing matched is not an error (govc agrees), but an empty table alone looks like
    // a broken listing.
    if let (Some(pattern), true) = (pattern, found.items.is_empty() && found.errors.is_empty()) {
        eprintln!("note: no VM matches '{pattern}'");
    }
    if ctx.out.json {
        ctx.out.json_gathered(&found);
    } else {
        table(ctx, scope, &found.items);
    }
    report::endpoint_errors(&found.errors)
}

fn table(ctx: &Ctx, scope: &Scope, vms: &[vms::VmSummary]) {
    let many_endpoints =
        ctx.many_endpoints(scope) || vms.iter().any(|v| v.endpoint != vms[0].endpoint);
    let mut headers = vec!["NAME", "POWER", "HOST", "CPU", "MEMORY", "GUEST OS", "IP"];
    if many_endpoints {
        headers.push("ENDPOINT");
    }
    ctx.out.table(
        &headers,
        vms.iter()
            .map(|v| {
                let mut row = vec![
                    v.name.clone(),
                    ctx.out.power_state(&v.power_state),
                    v.host.clone(),
                    v.cpus.to_string(),
                    mb(v.memory_mb),
                    v.guest_os.clone(),
                    v.ip.clone(),
                ];
                if many_endpoints {
                    row.push(v.endpoint.clone());
                }
                row
            })
            .collect(),
    );
}

fn info(ctx: &Ctx, scope: &Scope, name: &str) -> OpResult<()> {
    let info = ctx.app.block_on(async {
        let vm = vms::find_vm(&ctx.app.fleet, scope, name).await?;
        vms::info(&vm).await
    })?;
    if ctx.out.json {
        ctx.out.json(&info);
        return Ok(());
    }
    ctx.out.fields(&[
        ("Name", info.name.clone()),
        ("ID", info.id.clone()),
        ("Endpoint", info.endpoint.clone()),
        ("Host", info.host.clone()),
        ("Power", ctx.out.power_state(&info.power_state)),
        (
            "CPUs",
            format!("{} ({} per socket)", info.cpus, info.cores_per_socket),
        ),
        ("Memory", mb(info.memory_mb)),
        (
            "Reservation",
            if info.memory_reservation_locked {
                "all memory (locked to the VM's size)".into()
            } else if info.memory_reservation_mb > 0 {
                mb(info.memory_reservation_mb)
            } else {
                "none".into()
            },
        ),
        ("Firmware", info.firmware.clone()),
        ("Guest OS", format!("{} ({})", info.guest_os, info.guest_id)),
        ("IP", info.ip.clone()),
        ("Tools", info.tools.clone()),
        ("UUID", info.uuid.clone()),
        ("Files", info.vmx_path.clone()),
        ("Resource pool", info.resource_pool.clone()),
        ("Datastores", info.datastores.join(", ")),
        ("Networks", info.networks.join(", ")),
        (
            "CBT",
            if info.change_tracking {
                "enabled"
            } else {
                "disabled"
            }
            .into(),
        ),
        ("Snapshots", info.snapshots.to_string()),
    ]);
    if !info.disks.is_empty() {
        println!();
        ctx.out.table(
            &["DISK", "FILE", "SIZE", "THIN"],
            info.disks
                .iter()
                .map(|d| {
                    vec![
                        d.label.clone(),
                        d.file.clone(),
                        mb(d.capacity_bytes / (1024 * 1024)),
                        if d.thin { "yes" } else { "no" }.into(),
                    ]
                })
                .collect(),
        );
    }
    if !info.pci_devices.is_empty() {
        println!();
        ctx.out.table(
            &["PCI DEVICE", "BACKING"],
            info.pci_devices
                .iter()
                .map(|d| vec![d.label.clone(), d.backing.summary()])
                .collect(),
        );
    }
    if !info.nics.is_empty() {
        println!();
        ctx.out.table(
            &["NIC", "TYPE", "MAC", "NETWORK"],
            info.nics
                .iter()
                .map(|n| {
                    vec![
                        n.label.clone(),
                        n.kind.clone(),
                        n.mac.clone(),
                        n.network.clone(),
                    ]
                })
                .collect(),
        );
    }
    Ok(())
}

fn create(ctx: &Ctx, args: CreateArgs) -> OpResult<()> {
    if let Some(template) = &args.from_template {
        return super::vm_clone::create_from_template(ctx, &args, template);
    }
    let scope = ctx.scope(&args.scope);
    let spec = CreateSpec {
        name: args.name.clone(),
        cpus: args.cpu,
        memory_mb: args.memory,
        disk_gb: args.disk,
        datastore: args.datastore.clone(),
        network: args.network.clone().or_else(|| args.portgroup.clone()),
        resource_pool: args.resource_pool.clone(),
        guest_id: args.guest_id.clone(),
    };
    let progress = TermProgress::new(ctx.out.json);
    let fleet = &ctx.app.fleet;
    let gpus = pci::GpuRequest {
        devices: args.gpu.clone(),
        dynamic: args.dynamic,
        vgpus: args.vgpu.clone(),
        cuda: args.cuda.clone(),
        driver: args.driver.clone(),
    };
    let policy = super::placement::policies(ctx, &[])?;
    let mut placed = None;
    let created = ctx.app.block_on(async {
        // With GPUs, the devices choose the host and are checked before anything exists.
        let (target, plan, gpu_plan) = if gpus.is_empty() {
            let mut target = fleet
                .targets(&scope)
                .await?
                .into_iter()
                .next()
                .ok_or_else(|| OpError::invalid("no target"))?;
            // On a vCenter with no host or pool named, the placement engine picks the host.
            vms::create::validate(&spec)?;
            if target.host.is_none()
                && spec.resource_pool.is_none()
                && fleet.config.load_balance()
                && target.endpoint.client().await?.content().is_vcenter()
            {
                let p = crate::ops::placement::choose_host(
                    fleet,
                    &crate::ops::Scope::Named(target.endpoint.name().to_string()),
                    &crate::placement::Vm {
                        name: spec.name.clone(),
                        vcpus: u32::try_from(spec.cpus.max(1)).unwrap_or(u32::MAX),
                        memory_mb: u64::try_from(spec.memory_mb.max(0)).unwrap_or(0),
                        powered_on: true,
                        datastores: spec.datastore.iter().cloned().collect(),
                        // `SWITCH/PORTGROUP`: hosts see the port group by its name.
                        networks: spec
                            .network
                            .iter()
                            .map(|n| n.rsplit('/').next().unwrap_or(n).to_string())
                            .collect(),
                        ..Default::default()
                    },
                    &policy,
                )
                .await?;
                target.host = p.best().map(|b| b.host.clone());
                if target.host.is_none() && !ctx.out.json {
                    eprintln!(
                        "note: no host fits {} by the placement engine (`ceso place {} --cpus {} --memory {} --explain`); vCenter chooses",
                        spec.name, spec.name, spec.cpus, spec.memory_mb
                    );
                }
                placed = Some(p);
            }
            let plan = vms::create::plan(&target, &spec).await?;
            (target, plan, None)
        } else {
            let (target, plan, gpu_plan) = pci::create::plan(fleet, &scope, &spec, &gpus).await?;
            (target, plan, Some(gpu_plan))
        };
        if args.dry_run {
            return Ok((plan, gpu_plan, None));
        }
        let vm = vms::create(&target, &plan, &progress).await?;
        if args.power_on {
            vms::power(&vm, PowerAction::On, &progress).await?;
        }
        Ok::<_, OpError>((plan, gpu_plan, Some(vm)))
    })?;
    progress.finish();
    let (plan, gpu_plan, vm) = created;
    if let Some(g) = &gpu_plan
        && !ctx.out.json
    {
        for note in &g.notes {
            eprintln!("note: {note}");
        }
    }
    match vm {
        None => {
            if ctx.out.json {
                ctx.out.json(&serde_json::json!({"dry_run": true, "plan": plan, "gpus": gpu_plan, "placement": placed}));
            } else {
                println!("Would create VM {} on {}:", plan.name, plan.endpoint);
                ctx.out.fields(&[
                    ("Datacenter", plan.datacenter.clone()),
                    ("Host", super::render::planned_host(&plan.host)),
                    ("Resource pool", plan.resource_pool.clone()),
                    ("Datastore", plan.datastore.clone()),
                    (
                        "Network",
                        plan.network.clone().unwrap_or_else(|| "(none)".into()),
                    ),
                    ("CPUs", plan.cpus.to_string()),
                    ("Memory", mb(plan.memory_mb)),
                    (
                        "Disk",
                        if plan.disk_gb > 0 {
                            format!("{} GB thin", plan.disk_gb)
                        } else {
                            "no disk".into()
                        },
                    ),
                    ("Guest", plan.guest_id.clone()),
                ]);
                if let Some(p) = &placed {
                    println!("Host chosen by the placement engine (`ceso place` explains):");
                    super::placement::render_placement(ctx, p, true);
                }
                if let Some(g) = &gpu_plan {
                    for d in &g.devices {
                        println!("  + {}", super::pci::planned_line(d));
                    }
                    println!("  reserve all memory: memoryReservationLockedToMax = true");
                    for (k, v) in &plan.extra_config {
                        println!("  set {k} = {v}");
                    }
                }
            }
        }
        Some(vm) => {
            if ctx.out.json {
                let info = ctx.app.block_on(vms::info(&vm))?;
                ctx.out.json(&info);
            } else {
                ctx.out.done(&format!(
                    "created VM {} ({}) on {}",
                    vm.name, vm.moref.value, vm.host
                ));
            }
        }
    }
    Ok(())
}

/// Resolve names (exact or globs) to VMs, each once, on the endpoints that answered;
/// the others' errors (each endpoint once) beside them.
fn resolve(
    ctx: &Ctx,
    scope: &Scope,
    names: &[String],
) -> OpResult<(Vec<VmRef>, Vec<EndpointError>)> {
    ctx.app.block_on(async {
        let mut out: Vec<VmRef> = Vec::new();
        let mut errors: Vec<EndpointError> = Vec::new();
        for name in names {
            let found = vms::find_named_each(&ctx.app.fleet, scope, name).await?;
            for vm in found.items {
                vms::push_unique(&mut out, vm);
            }
            for e in found.errors {
                if !errors.iter().any(|o| o.endpoint == e.endpoint) {
                    errors.push(e);
                }
            }
        }
        Ok((out, errors))
    })
}

fn power(ctx: &Ctx, args: PowerArgs, action: impl Fn(bool) -> PowerAction) -> OpResult<()> {
    let action = action(args.force);
    let scope = ctx.scope(&args.scope);
    let (targets, unanswered) = resolve(ctx, &scope, &args.names)?;
    if args.dry_run {
        let rows: Vec<_> = targets
            .iter()
            .map(|v| {
                (
                    v.name.clone(),
                    v.endpoint.name().to_string(),
                    v.host.clone(),
                )
            })
            .collect();
        if ctx.out.json {
            let mut plan = serde_json::json!({"dry_run": true, "action": action.verb(), "vms": rows.iter().map(|r| serde_json::json!({"vm": r.0, "endpoint": r.1, "host": r.2})).collect::<Vec<_>>()});
            if !unanswered.is_empty() {
                plan["errors"] = report::errors_json(&unanswered);
            }
            ctx.out.json(&plan);
        } else {
            for (name, endpoint, host) in rows {
                println!("would {} {name} ({endpoint}/{host})", action.verb());
            }
        }
        return report::endpoint_errors(&unanswered);
    }
    let progress = TermProgress::new(ctx.out.json);
    let results = ctx
        .app
        .block_on(vms::power_many(&ctx.app.fleet, &targets, action, &progress));
    progress.finish();
    let names: Vec<String> = targets.iter().map(|v| v.name.clone()).collect();
    // The error names each VM left; a refusal after another VM changed is partial (7).
    let (done, outcome) = crate::ops::batch::settle(action.past(), &names, results, |r| r.changed);
    if ctx.out.json {
        if unanswered.is_empty() {
            ctx.out.json(&done);
        } else {
            ctx.out.json(&serde_json::json!({
                "results": done,
                "errors": report::errors_json(&unanswered),
            }));
        }
    } else {
        let many = ctx.many_endpoints(&scope) || !unanswered.is_empty();
        for r in &done {
            let vm = if many {
                format!("{} ({})", r.vm, r.endpoint)
            } else {
                r.vm.clone()
            };
            if r.changed {
                ctx.out.done(&format!("{vm}: {} → {}", r.before, r.after));
            } else {
                ctx.out.done(&format!("{vm}: already {}", r.after));
            }
        }
    }
    let partial = report::endpoint_errors(&unanswered);
    outcome.and(partial)
}

fn delete(ctx: &Ctx, scope: &Scope, name: &str, force: bool, dry_run: bool) -> OpResult<()> {
    let vm = ctx.app.block_on(async {
        let vm = vms::find_vm(&ctx.app.fleet, scope, name).await?;
        // A powered-on VM is refused before the question (and by a dry run too).
        vms::delete::check_deletable(&vm, force).await?;
        Ok::<_, OpError>(vm)
    })?;
    let what = format!(
        "Delete VM {} ({}) on {} with all its files",
        vm.name,
        vm.moref.value,
        vm.endpoint.name()
    );
    if dry_run {
        if ctx.out.json {
            ctx.out.json(&serde_json::json!({"dry_run": true, "delete": vm.name, "id": vm.moref.value, "endpoint": vm.endpoint.name()}));
        } else {
            println!("would {}", lowercase_first(&what));
        }
        return Ok(());
    }
    confirm(ctx.yes, &what)?;
    let progress = TermProgress::new(ctx.out.json);
    ctx.app.block_on(vms::delete(&vm, force, &progress))?;
    progress.finish();
    if ctx.out.json {
        ctx.out.json(&serde_json::json!({"deleted": vm.name, "id": vm.moref.value, "endpoint": vm.endpoint.name()}));
    } else {
        ctx.out.done(&format!("deleted {}", vm.name));
    }
    Ok(())
}
