//! `vm::update(name, #{…})` and `vm.update(#{…})`: `ceso vm update` in scripts, with
//! the CLI's option names in snake_case (cpus, memory_mb, add_disks, …).

use rhai::{Engine, Map, Module};

use crate::ops::pools::allocation::AllocationChange;
use crate::ops::vms::update_input::{self, Cdrom};
use crate::ops::vms::update_spec::UpdateRequest;
use crate::ops::vms::{self, VmRef, update};

use super::convert::Opts;
use super::ctx::{RhaiResultOf, ScriptCtx};
use super::doc::func;
use super::vm::{Vm, scope_of};

const OPTIONS: &[&str] = &[
    "cpus",
    "cores_per_socket",
    "memory_mb",
    "cpu_hot_add",
    "memory_hot_add",
    "cpu_reservation",
    "cpu_limit",
    "cpu_shares",
    "memory_reservation",
    "memory_limit",
    "memory_shares",
    "notes",
    "firmware",
    "secure_boot",
    "guest_id",
    "boot_order",
    "boot_delay",
    "add_disks",
    "disk_controller",
    "grow_disks",
    "remove_disks",
    "delete_files",
    "cdrom",
    "eject",
    "dry_run",
];

const DOC: &str = "Change a VM in one ReconfigVM, like `ceso vm update`. Options: cpus, cores_per_socket,\nmemory_mb, cpu_hot_add, memory_hot_add (true/false), cpu_/memory_ reservation, limit,\nshares, notes, firmware (\"bios\"/\"efi\"), secure_boot, guest_id, boot_order (\"disk,cdrom\"),\nboot_delay (ms), add_disks ([\"20G:thin@ds\"]), disk_controller, grow_disks\n([\"Hard disk 1=40G\"]), remove_disks, delete_files, cdrom (\"[ds] x.iso\"), eject, dry_run.\nReturns #{vm, changed, dry_run, changes}; a refused change throws (nothing sent).";

fn request(o: &Opts) -> RhaiResultOf<UpdateRequest> {
    let err = |e: crate::ops::OpError| super::fault::to_rhai(&e);
    Ok(UpdateRequest {
        cpus: o.int("cpus")?,
        cores_per_socket: o.int("cores_per_socket")?,
        memory_mb: o.int("memory_mb")?,
        cpu_hot_add: o.opt_flag("cpu_hot_add")?,
        memory_hot_add: o.opt_flag("memory_hot_add")?,
        cpu: AllocationChange::from_text(
            "cpu_",
            o.text("cpu_shares")?.as_deref(),
            o.int("cpu_reservation")?,
            o.text("cpu_limit")?.as_deref(),
            None,
        )
        .map_err(err)?,
        memory: AllocationChange::from_text(
            "memory_",
            o.text("memory_shares")?.as_deref(),
            o.int("memory_reservation")?,
            o.text("memory_limit")?.as_deref(),
            None,
        )
        .map_err(err)?,
        notes: o.string("notes")?,
        firmware: o.string("firmware")?.map(|f| f.to_ascii_lowercase()),
        secure_boot: o.opt_flag("secure_boot")?,
        guest_id: o.string("guest_id")?,
        boot_order: o
            .string("boot_order")?
            .map(|b| update_input::parse_boot_order(&b))
            .transpose()
            .map_err(err)?,
        boot_delay_ms: o.int("boot_delay")?,
        add_disks: o
            .list("add_disks")?
            .iter()
            .map(|d| update_input::parse_new_disk(d))
            .collect::<Result<_, _>>()
            .map_err(err)?,
        disk_controller: o.string("disk_controller")?,
        grow_disks: o
            .list("grow_disks")?
            .iter()
            .map(|g| update_input::parse_grow(g))
            .collect::<Result<_, _>>()
            .map_err(err)?,
        remove_disks: o.list("remove_disks")?,
        delete_files: o.flag("delete_files")?,
        cdrom: match (o.string("cdrom")?, o.flag("eject")?) {
            (Some(iso), _) => Some(Cdrom::Insert(update_input::parse_iso(&iso).map_err(err)?)),
            (None, true) => Some(Cdrom::Eject),
            (None, false) => None,
        },
    })
}

fn run(ctx: &ScriptCtx, vm: VmRef, opts: &Opts) -> RhaiResultOf<Map> {
    let req = request(opts)?;
    let dry_run = opts.flag("dry_run")? || ctx.policy().dry_run;
    let tracker = ctx.track(&vm.name);
    let (plan, changed) = ctx.run(async {
        let plan = update::prepare(&vm, &req).await?;
        if dry_run {
            return Ok((plan, false));
        }
        let changed = update::apply(&vm, &plan, &tracker).await?;
        Ok((plan, changed))
    })?;
    if dry_run {
        for line in plan.diff.lines() {
            ctx.say(&format!("would: {line}"));
        }
    }
    let mut m = Map::new();
    m.insert("vm".into(), plan.vm.clone().into());
    m.insert("changed".into(), changed.into());
    m.insert("dry_run".into(), dry_run.into());
    m.insert(
        "changes".into(),
        super::convert::from_serialize(&plan.diff.fields),
    );
    Ok(m)
}

/// `vm::update(name, options)` in the `vm` namespace.
pub fn namespace_functions(m: &mut Module, ctx: &ScriptCtx) {
    let c = ctx.clone();
    func("update", &["name: String", "options: Map", "Map"], DOC).set_into_module(
        m,
        move |name: &str, opts: Map| {
            let mut known = OPTIONS.to_vec();
            known.push("host");
            let opts = Opts::new("vm::update", opts, &known)?;
            let scope = scope_of(&c, &opts)?;
            let fleet = c.fleet().clone();
            let found = c.run(async move { vms::select_one(&fleet, &scope, name).await })?;
            run(&c, found.vm, &opts)
        },
    );
}

/// `vm.update(options)` on a Vm object.
pub fn register_method(engine: &mut Engine, ctx: &ScriptCtx) {
    let c = ctx.clone();
    func("update", &["vm: Vm", "options: Map", "Map"], DOC).register_into_engine(
        engine,
        move |vm: &mut Vm, opts: Map| {
            let opts = Opts::new("update", opts, OPTIONS)?;
            run(&c, vm.0.vm.clone(), &opts)
        },
    );
}
