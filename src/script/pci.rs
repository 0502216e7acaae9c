//! PCI and GPU passthrough in scripts, named as in the CLI: `pci_list()`, `pci_info(d)`,
//! `pci_enable(d)`, `pci_disable(d)`, `gpu_profiles()`, `gpu_check(vm, #{cuda, driver})`, the `PciDevice` type, and the
//! `Vm` methods `vm.attach_pci(..)` / `vm.detach_pci(..)`.

use rhai::{Array, Dynamic, Engine, Map};

use crate::ops::pci::{self, AttachRequest, ListFilter, PciDevice, attach, detach, passthru};

use super::convert::{Opts, from_serialize};
use super::ctx::{RhaiResultOf, ScriptCtx};
use super::doc::func;
use super::object::{ScriptObject, register_object};
use super::vm::{Vm, scope_of};

#[derive(Debug, Clone)]
pub struct Pci(pub PciDevice);

impl ScriptObject for Pci {
    const TYPE: &'static str = "PciDevice";

    fn fields(&self) -> Vec<(&'static str, Dynamic)> {
        let d = &self.0;
        vec![
            ("host", d.host.clone().into()),
            ("address", d.address.clone().into()),
            ("id", d.id.clone().into()),
            ("vendor", d.vendor_short.clone().into()),
            ("device", d.display_name().into()),
            ("class", d.class.clone().into()),
            ("passthru", d.state().into()),
            ("assigned_to", strings(&d.assigned_to)),
            ("endpoint", d.endpoint.clone().into()),
        ]
    }

    fn display(&self) -> String {
        let d = &self.0;
        format!(
            "PciDevice {} {} {} on {} ({})",
            d.address,
            d.id,
            d.display_name(),
            d.host,
            d.state()
        )
    }
}

fn strings(items: &[String]) -> Dynamic {
    items
        .iter()
        .cloned()
        .map(Dynamic::from)
        .collect::<Array>()
        .into()
}

const SCOPE_OPTS: &[&str] = &["host", "all_hosts"];

pub fn register(engine: &mut Engine, ctx: &ScriptCtx) {
    register_object::<Pci>(engine, ctx);
    engine
        .register_get("host", |d: &mut Pci| d.0.host.clone())
        .register_get("address", |d: &mut Pci| d.0.address.clone())
        .register_get("id", |d: &mut Pci| d.0.id.clone())
        .register_get("vendor", |d: &mut Pci| d.0.vendor.clone())
        .register_get("device", |d: &mut Pci| d.0.device.clone())
        .register_get("class", |d: &mut Pci| d.0.class.clone())
        .register_get("is_gpu", |d: &mut Pci| d.0.is_gpu())
        .register_get("gpu_model", |d: &mut Pci| {
            d.0.gpu
                .as_ref()
                .map_or(Dynamic::UNIT, |g| g.model.clone().into())
        })
        .register_get("gpu_memory_gb", |d: &mut Pci| {
            d.0.gpu
                .as_ref()
                .map_or(Dynamic::UNIT, |g| i64::from(g.memory_gb).into())
        })
        .register_get("passthru_capable", |d: &mut Pci| d.0.passthru_capable)
        .register_get("passthru_enabled", |d: &mut Pci| d.0.passthru_enabled)
        .register_get("passthru_active", |d: &mut Pci| d.0.passthru_active)
        .register_get("assignable", |d: &mut Pci| d.0.is_assignable())
        .register_get("dependent_devices", |d: &mut Pci| {
            strings(&d.0.dependent_devices)
        })
        .register_get("assigned_to", |d: &mut Pci| strings(&d.0.assigned_to))
        .register_get("sriov", |d: &mut Pci| {
            d.0.sriov.as_ref().map_or(Dynamic::UNIT, from_serialize)
        })
        .register_get("physical_function", |d: &mut Pci| {
            d.0.physical_function
                .clone()
                .map_or(Dynamic::UNIT, Dynamic::from)
        });
    register_functions(engine, ctx);
    register_vm_methods(engine, ctx);
    super::sriov::register(engine, ctx);
}

fn list(ctx: &ScriptCtx, opts: Opts) -> RhaiResultOf<Array> {
    let scope = scope_of(ctx, &opts)?;
    let filter = ListFilter {
        gpus: opts.flag("gpus")?,
        assignable: opts.flag("assignable")?,
    };
    let fleet = ctx.fleet().clone();
    let devices = ctx.run(async move { pci::list(&fleet, &scope, filter).await })?;
    Ok(devices.into_iter().map(|d| Dynamic::from(Pci(d))).collect())
}

fn info(ctx: &ScriptCtx, device: &str, opts: Opts) -> RhaiResultOf<Dynamic> {
    let scope = scope_of(ctx, &opts)?;
    let fleet = ctx.fleet().clone();
    let info = ctx.run(async move { pci::info(&fleet, &scope, device).await })?;
    Ok(from_serialize(&info))
}

fn set(ctx: &ScriptCtx, device: &str, enable: bool, opts: Opts) -> RhaiResultOf<Dynamic> {
    let scope = scope_of(ctx, &opts)?;
    let dry_run = opts.flag("dry_run")? || ctx.policy().dry_run;
    let fleet = ctx.fleet().clone();
    let tracker = ctx.track(device);
    let change = ctx.run(async {
        let plan = passthru::plan(&fleet, &scope, device, enable).await?;
        if dry_run {
            return Ok(plan.preview());
        }
        passthru::apply(&plan, &tracker).await
    })?;
    if change.dry_run && change.changed {
        let verb = if enable { "enable" } else { "disable" };
        let names: Vec<&str> = change.devices.iter().map(|d| d.address.as_str()).collect();
        ctx.say(&format!(
            "would {verb} passthrough for {} on {}",
            names.join(", "),
            change.host
        ));
    }
    Ok(from_serialize(&change))
}

fn profiles(ctx: &ScriptCtx, opts: Opts) -> RhaiResultOf<Array> {
    let scope = scope_of(ctx, &opts)?;
    let fleet = ctx.fleet().clone();
    let rows = ctx.run(async move { pci::profiles(&fleet, &scope).await })?;
    Ok(rows.iter().map(from_serialize).collect())
}

const CHECK_OPTS: &[&str] = &["cuda", "driver", "host", "all_hosts"];

/// `gpu_check(vm, #{cuda, driver})`: the `gpu check` answer as a map; an incompatible
/// GPU is an answer (`compatible: false`), not an error.
fn check(ctx: &ScriptCtx, target: String, opts: Opts) -> RhaiResultOf<Dynamic> {
    let scope = scope_of(ctx, &opts)?;
    let req = pci::CheckRequest {
        target,
        cuda: opts.string("cuda")?,
        driver: opts.string("driver")?,
    };
    let fleet = ctx.fleet().clone();
    let result = ctx.run(async move { pci::check(&fleet, &scope, &req).await })?;
    Ok(from_serialize(&result))
}

fn register_functions(engine: &mut Engine, ctx: &ScriptCtx) {
    let c = ctx.clone();
    func(
        "gpu_check",
        &["vm: String", "options: Map", "Map"],
        "Can a CUDA workload run on the VM's GPU, like `ceso gpu check`: #{cuda: \"12.4\", driver: \"550.90.07\"}.\nThe VM may also be a device (address, GPU model, vGPU profile). Returns compatible, checks, table.",
    )
    .register_into_engine(engine, move |target: &str, opts: Map| {
        check(&c, target.to_string(), Opts::new("gpu_check", opts, CHECK_OPTS)?)
    });
    let c = ctx.clone();
    func(
        "gpu_check",
        &["vm: Vm", "options: Map", "Map"],
        "`gpu_check` for a Vm object: #{cuda: \"12.4\", driver: \"550.90.07\"}.",
    )
    .register_into_engine(engine, move |vm: &mut Vm, opts: Map| {
        check(
            &c,
            vm.0.vm.name.clone(),
            Opts::new("gpu_check", opts, CHECK_OPTS)?,
        )
    });
    let c = ctx.clone();
    func(
        "gpu_check",
        &["vm: String", "Map"],
        "`gpu_check` without a CUDA release: the GPU's compute capability and the releases supporting it.",
    )
    .register_into_engine(engine, move |target: &str| {
        check(&c, target.to_string(), Opts::none("gpu_check"))
    });
    let c = ctx.clone();
    func(
        "pci_list",
        &["Array"],
        "Every PCI device of the hosts in scope, like `ceso pci list`.",
    )
    .register_into_engine(engine, move || list(&c, Opts::none("pci_list")));
    let c = ctx.clone();
    func(
        "pci_list",
        &["options: Map", "Array"],
        "PCI devices, like `ceso pci list`. Options: gpus, assignable, host, all_hosts.",
    )
    .register_into_engine(engine, move |opts: Map| {
        list(
            &c,
            Opts::new(
                "pci_list",
                opts,
                &["gpus", "assignable", "host", "all_hosts"],
            )?,
        )
    });
    let c = ctx.clone();
    func(
        "pci_info",
        &["device: String", "Map"],
        "Everything about one device (address, vendor:device, vendor or GPU model), like `ceso pci info`.",
    )
    .register_into_engine(engine, move |device: &str| {
        info(&c, device, Opts::none("pci_info"))
    });
    let c = ctx.clone();
    func(
        "pci_info",
        &["device: String", "options: Map", "Map"],
        "One device on another scope: #{host: \"esx2\"}.",
    )
    .register_into_engine(engine, move |device: &str, opts: Map| {
        info(&c, device, Opts::new("pci_info", opts, SCOPE_OPTS)?)
    });
    for (name, enable) in [("pci_enable", true), ("pci_disable", false)] {
        let verb = if enable { "Enable" } else { "Disable" };
        let c = ctx.clone();
        func(
            name,
            &["device: String", "Map"],
            &format!(
                "{verb} passthrough for a device and its dependent functions, like `ceso pci {}`. Says whether the host must reboot.",
                verb.to_lowercase()
            ),
        )
        .register_into_engine(engine, move |device: &str| {
            set(&c, device, enable, Opts::none(name))
        });
        let c = ctx.clone();
        func(
            name,
            &["device: String", "options: Map", "Map"],
            &format!("{verb} passthrough. Options: host, dry_run."),
        )
        .register_into_engine(engine, move |device: &str, opts: Map| {
            set(
                &c,
                device,
                enable,
                Opts::new(name, opts, &["host", "all_hosts", "dry_run"])?,
            )
        });
    }
    let c = ctx.clone();
    func(
        "gpu_profiles",
        &["Array"],
        "The NVIDIA vGPU profiles the hosts offer, like `ceso gpu profiles`.",
    )
    .register_into_engine(engine, move || profiles(&c, Opts::none("gpu_profiles")));
    let c = ctx.clone();
    func(
        "gpu_profiles",
        &["options: Map", "Array"],
        "vGPU profiles of another scope: #{host: \"esx2\"}.",
    )
    .register_into_engine(engine, move |opts: Map| {
        profiles(&c, Opts::new("gpu_profiles", opts, SCOPE_OPTS)?)
    });
}

fn attach_pci(ctx: &ScriptCtx, vm: &Vm, device: Option<&str>, opts: Map) -> RhaiResultOf<Map> {
    let known: &[&str] = if device.is_some() {
        &["dynamic", "vf", "dry_run", "host"]
    } else {
        &["vgpu", "dry_run"]
    };
    let opts = Opts::new("attach_pci", opts, known)?;
    let req = AttachRequest {
        device: device.map(str::to_string),
        dynamic: opts.flag("dynamic")?,
        vgpu: opts.string("vgpu")?,
        vf: opts.flag("vf")?,
    };
    let device_host = opts.string("host")?;
    let dry_run = opts.flag("dry_run")? || ctx.policy().dry_run;
    let fleet = ctx.fleet().clone();
    let target = vm.0.vm.clone();
    let tracker = ctx.track(&target.name);
    let (plan, result) = ctx.run(async {
        let plan = attach::plan_vm(&fleet, &target, device_host, &req).await?;
        if dry_run {
            return Ok((plan, None));
        }
        let result = attach::apply(&plan, &tracker).await?;
        Ok((plan, Some(result)))
    })?;
    let mut m = match &result {
        Some(r) => from_serialize(r),
        None => {
            let names: Vec<String> = plan.devices.iter().map(|d| d.name.clone()).collect();
            ctx.say(&format!(
                "would attach {} to {} on {}",
                names.join(", "),
                plan.vm,
                plan.host
            ));
            from_serialize(&plan)
        }
    }
    .try_cast::<Map>()
    .unwrap_or_default();
    m.insert("dry_run".into(), result.is_none().into());
    Ok(m)
}

fn detach_pci(ctx: &ScriptCtx, vm: &Vm, device: &str, opts: Map) -> RhaiResultOf<Map> {
    let opts = Opts::new("detach_pci", opts, &["all", "dry_run"])?;
    let all = opts.flag("all")?;
    let dry_run = opts.flag("dry_run")? || ctx.policy().dry_run;
    let target = vm.0.vm.clone();
    let tracker = ctx.track(&target.name);
    let (plan, result) = ctx.run(async {
        let plan = detach::plan_vm(&target, device, all).await?;
        if dry_run {
            return Ok((plan, None));
        }
        let result = detach::apply(&plan, &tracker).await?;
        Ok((plan, Some(result)))
    })?;
    let mut m = match &result {
        Some(r) => from_serialize(r),
        None => {
            let labels: Vec<String> = plan
                .devices
                .iter()
                .map(|d| format!("{} ({})", d.label, d.name))
                .collect();
            ctx.say(&format!(
                "would detach {} from {}",
                labels.join(", "),
                plan.vm
            ));
            from_serialize(&plan)
        }
    }
    .try_cast::<Map>()
    .unwrap_or_default();
    m.insert("dry_run".into(), result.is_none().into());
    Ok(m)
}

fn register_vm_methods(engine: &mut Engine, ctx: &ScriptCtx) {
    let c = ctx.clone();
    func(
        "attach_pci",
        &["vm: Vm", "device: String", "Map"],
        "Give the powered-off VM a PCI device (static DirectPath), like `ceso vm attach-pci`:\nan address, vendor:device, vendor or GPU model (the first free match). Locks the\nmemory reservation; dependent functions come along.",
    )
    .register_into_engine(engine, move |vm: &mut Vm, device: &str| {
        attach_pci(&c, vm, Some(device), Map::new())
    });
    let c = ctx.clone();
    func(
        "attach_pci",
        &["vm: Vm", "device: String", "options: Map", "Map"],
        "Attach a device. Options: dynamic (Dynamic DirectPath by vendor:device), host (the\ndevice's host, when not the VM's: refused), dry_run.",
    )
    .register_into_engine(engine, move |vm: &mut Vm, device: &str, opts: Map| {
        attach_pci(&c, vm, Some(device), opts)
    });
    let c = ctx.clone();
    func(
        "attach_pci",
        &["vm: Vm", "options: Map", "Map"],
        "Attach an NVIDIA vGPU: #{vgpu: \"grid_a30-4c\"} (a profile from gpu_profiles()); dry_run.",
    )
    .register_into_engine(engine, move |vm: &mut Vm, opts: Map| {
        attach_pci(&c, vm, None, opts)
    });
    let c = ctx.clone();
    func(
        "detach_pci",
        &["vm: Vm", "device: String", "Map"],
        "Remove one PCI device or vGPU from the powered-off VM, like `ceso vm detach-pci`: by\naddress, vendor:device, vGPU profile, label or key.",
    )
    .register_into_engine(engine, move |vm: &mut Vm, device: &str| {
        detach_pci(&c, vm, device, Map::new())
    });
    let c = ctx.clone();
    func(
        "detach_pci",
        &["vm: Vm", "device: String", "options: Map", "Map"],
        "Detach. Options: all (every match, e.g. every vGPU of a profile), dry_run.",
    )
    .register_into_engine(engine, move |vm: &mut Vm, device: &str, opts: Map| {
        detach_pci(&c, vm, device, opts)
    });
}
