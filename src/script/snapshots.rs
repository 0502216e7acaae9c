//! `snapshot::…` in scripts: the CLI's `ceso snapshot` verbs. A VM is given by name (or
//! id, or glob-free pattern) or as a `Vm` value; a snapshot by id, name or moref.

use rhai::{Array, Dynamic, Engine, Map, Module};

use crate::ops::snapshots::{self, Snapshot, SnapshotSpec};
use crate::ops::vms::{self, VmRef};

use super::convert::{Opts, from_serialize};
use super::ctx::{RhaiResultOf, ScriptCtx};
use super::doc::func;
use super::fault::{self, script_error};
use super::vm::Vm;

pub fn register(engine: &mut Engine, ctx: &ScriptCtx) {
    engine.register_static_module("snapshot", namespace(ctx).into());
}

/// The VM a snapshot function acts on: a `Vm` value or a name.
pub fn target(ctx: &ScriptCtx, what: &Dynamic, function: &str) -> RhaiResultOf<VmRef> {
    if let Some(vm) = what.read_lock::<Vm>() {
        return Ok(vm.0.vm.clone());
    }
    let Ok(name) = what.clone().into_string() else {
        return Err(script_error(format!(
            "{function}: expected a VM name or a Vm, not a {}",
            what.type_name()
        )));
    };
    let fleet = ctx.fleet().clone();
    let scope = ctx.scope().clone();
    ctx.run(async move { vms::find_vm(&fleet, &scope, &name).await })
}

fn find(ctx: &ScriptCtx, vm: &VmRef, wanted: &str) -> RhaiResultOf<Snapshot> {
    let target = vm.clone();
    let all = ctx.run(async move { snapshots::list(&target).await })?;
    snapshots::find(&all, &vm.name, wanted)
        .cloned()
        .map_err(|e| fault::to_rhai(&e))
}

fn to_map(value: &impl serde::Serialize) -> Map {
    from_serialize(value).try_cast::<Map>().unwrap_or_default()
}

fn dry(ctx: &ScriptCtx, vm: &VmRef, what: String) -> Map {
    ctx.say(&format!("would {what}"));
    let mut m = Map::new();
    m.insert("vm".into(), vm.name.clone().into());
    m.insert("dry_run".into(), true.into());
    m.insert("would".into(), what.into());
    m
}

fn list(ctx: &ScriptCtx, what: Dynamic) -> RhaiResultOf<Array> {
    let vm = target(ctx, &what, "snapshot::list")?;
    let all = ctx.run(async move { snapshots::list(&vm).await })?;
    Ok(all.iter().map(from_serialize).collect())
}

fn create(ctx: &ScriptCtx, what: Dynamic, opts: Map) -> RhaiResultOf<Map> {
    let opts = Opts::new(
        "snapshot::create",
        opts,
        &["name", "description", "memory", "quiesce", "dry_run"],
    )?;
    let vm = target(ctx, &what, "snapshot::create")?;
    let spec = SnapshotSpec {
        name: opts.string("name")?.ok_or_else(|| {
            script_error("snapshot::create: give the snapshot a #{name: \"...\"}")
        })?,
        description: opts.string("description")?.unwrap_or_default(),
        memory: opts.flag("memory")?,
        quiesce: opts.flag("quiesce")?,
    };
    if opts.flag("dry_run")? || ctx.policy().dry_run {
        return Ok(dry(
            ctx,
            &vm,
            format!("take snapshot '{}' of {}", spec.name, vm.name),
        ));
    }
    let tracker = ctx.track(&vm.name);
    let snapshot = ctx.run(async { snapshots::create(&vm, &spec, &tracker).await })?;
    Ok(to_map(&snapshot))
}

fn revert(ctx: &ScriptCtx, what: Dynamic, wanted: &str, opts: Map) -> RhaiResultOf<Map> {
    let opts = Opts::new("snapshot::revert", opts, &["dry_run"])?;
    let vm = target(ctx, &what, "snapshot::revert")?;
    let snapshot = find(ctx, &vm, wanted)?;
    if opts.flag("dry_run")? || ctx.policy().dry_run {
        let what = format!(
            "revert {} to snapshot '{}' (id {})",
            vm.name, snapshot.name, snapshot.id
        );
        return Ok(dry(ctx, &vm, what));
    }
    let tracker = ctx.track(&vm.name);
    ctx.run(async { snapshots::revert(&vm, &snapshot, &tracker).await })?;
    Ok(to_map(&snapshot))
}

fn delete(ctx: &ScriptCtx, what: Dynamic, wanted: Option<&str>, opts: Map) -> RhaiResultOf<Array> {
    let opts = Opts::new("snapshot::delete", opts, &["children", "all", "dry_run"])?;
    let vm = target(ctx, &what, "snapshot::delete")?;
    let dry_run = opts.flag("dry_run")? || ctx.policy().dry_run;
    let tracker = ctx.track(&vm.name);
    match (wanted, opts.flag("all")?) {
        (None, true) => {
            let target = vm.clone();
            let all = ctx.run(async move { snapshots::list(&target).await })?;
            if dry_run {
                dry(
                    ctx,
                    &vm,
                    format!("delete all {} snapshots of {}", all.len(), vm.name),
                );
            } else {
                ctx.run(async { snapshots::remove_all(&vm, &tracker).await })?;
            }
            Ok(all.iter().map(from_serialize).collect())
        }
        (Some(wanted), false) => {
            let snapshot = find(ctx, &vm, wanted)?;
            let children = opts.flag("children")?;
            if dry_run {
                dry(
                    ctx,
                    &vm,
                    format!(
                        "delete snapshot '{}' (id {}) of {}",
                        snapshot.name, snapshot.id, vm.name
                    ),
                );
            } else {
                ctx.run(async {
                    snapshots::remove(&vm, &snapshot.moref(), &snapshot.name, children, &tracker)
                        .await
                })?;
            }
            Ok(vec![from_serialize(&snapshot)])
        }
        _ => Err(script_error(
            "snapshot::delete: give one snapshot, or #{all: true} without a snapshot",
        )),
    }
}

fn namespace(ctx: &ScriptCtx) -> Module {
    let mut m = Module::new();
    let c = ctx.clone();
    func(
        "list",
        &["vm: Dynamic", "Array"],
        "The VM's snapshots in tree order (id, name, created, depth, current, quiesced, memory…),\nlike `ceso snapshot list VM`.",
    )
    .set_into_module(&mut m, move |vm: Dynamic| list(&c, vm));
    let c = ctx.clone();
    func(
        "create",
        &["vm: Dynamic", "options: Map", "Map"],
        "Take a snapshot, like `ceso snapshot create`. Options: name (required), description,\nmemory, quiesce, dry_run. Returns the snapshot.",
    )
    .set_into_module(&mut m, move |vm: Dynamic, opts: Map| create(&c, vm, opts));
    let c = ctx.clone();
    func(
        "revert",
        &["vm: Dynamic", "snapshot: String", "Map"],
        "Revert the VM to a snapshot (id, name or moref; a repeated name is Ambiguous).",
    )
    .set_into_module(&mut m, move |vm: Dynamic, snapshot: &str| {
        revert(&c, vm, snapshot, Map::new())
    });
    let c = ctx.clone();
    func(
        "revert",
        &["vm: Dynamic", "snapshot: String", "options: Map", "Map"],
        "Revert the VM to a snapshot. Options: dry_run.",
    )
    .set_into_module(&mut m, move |vm: Dynamic, snapshot: &str, opts: Map| {
        revert(&c, vm, snapshot, opts)
    });
    let c = ctx.clone();
    func(
        "delete",
        &["vm: Dynamic", "snapshot: String", "Array"],
        "Delete one snapshot (its changes are kept in the disks). Returns what was deleted.",
    )
    .set_into_module(&mut m, move |vm: Dynamic, snapshot: &str| {
        delete(&c, vm, Some(snapshot), Map::new())
    });
    let c = ctx.clone();
    func(
        "delete",
        &["vm: Dynamic", "snapshot: String", "options: Map", "Array"],
        "Delete one snapshot. Options: children (its children too), dry_run.",
    )
    .set_into_module(&mut m, move |vm: Dynamic, snapshot: &str, opts: Map| {
        delete(&c, vm, Some(snapshot), opts)
    });
    let c = ctx.clone();
    func(
        "delete",
        &["vm: Dynamic", "options: Map", "Array"],
        "Delete every snapshot with #{all: true} (as `ceso snapshot delete VM --all`). Options: dry_run.",
    )
    .set_into_module(&mut m, move |vm: Dynamic, opts: Map| delete(&c, vm, None, opts));
    m
}
