//! Copies and templates in scripts: `vm::clone`, `vm::template_mark`,
//! `vm::template_unmark`, `vm::import_ovf` and `vm::export_ovf`, the same ops calls as
//! `ceso vm clone|template|import|export` (`import` and `export` are Rhai keywords, so
//! the OVF functions carry the format in their names).

use rhai::{Dynamic, Map, Module};

use crate::ops::ovf::{self, ImportSpec};
use crate::ops::vms::clone::{self, CloneSpec};
use crate::ops::vms::{self, FoundVm};

use super::convert::{Opts, from_serialize};
use super::ctx::{RhaiResultOf, ScriptCtx};
use super::doc::func;
use super::fault::script_error;
use super::vm::{Vm, scope_of};

const CLONE_OPTS: &[&str] = &[
    "host",
    "datastore",
    "resource_pool",
    "linked",
    "snapshot",
    "power_on",
    "dry_run",
    "endpoint",
];

/// Adds the functions to the `vm::` namespace.
pub fn add_to(m: &mut Module, ctx: &ScriptCtx) {
    for with_opts in [false, true] {
        let c = ctx.clone();
        let doc = "Clone a VM or template (vCenter), like `ceso vm clone SRC NEW`. Options: host (the\nclone's ESXi host), datastore, resource_pool, linked, snapshot, power_on, endpoint,\ndry_run. Returns the new Vm, or the plan under dry_run.";
        if with_opts {
            func(
                "clone",
                &["source: String", "name: String", "options: Map", "Dynamic"],
                doc,
            )
            .set_into_module(m, move |src: &str, name: &str, opts: Map| {
                clone_vm(&c, src, name, opts)
            });
        } else {
            func("clone", &["source: String", "name: String", "Dynamic"], doc)
                .set_into_module(m, move |src: &str, name: &str| {
                    clone_vm(&c, src, name, Map::new())
                });
        }
    }
    for (fname, template) in [("template_mark", true), ("template_unmark", false)] {
        let c = ctx.clone();
        let doc = if template {
            "Make a powered-off VM a template, like `ceso vm template mark`. Options: dry_run, host."
        } else {
            "Make a template a VM again, like `ceso vm template unmark`. Options: resource_pool,\ndry_run, host."
        };
        func(fname, &["name: String", "options: Map", "Map"], doc)
            .set_into_module(m, move |name: &str, opts: Map| {
                set_template(&c, name, template, opts)
            });
        let c = ctx.clone();
        func(fname, &["name: String", "Map"], doc).set_into_module(m, move |name: &str| {
            set_template(&c, name, template, Map::new())
        });
    }
    let c = ctx.clone();
    func(
        "import_ovf",
        &["file: String", "options: Map", "Dynamic"],
        "Import an OVF or OVA as a new VM, like `ceso vm import`. Options: name, network_map\n(#{\"OVF net\": \"network\"}), datastore, resource_pool, power_on, host, dry_run.\nReturns the new Vm, or the plan under dry_run.",
    )
    .set_into_module(m, move |file: &str, opts: Map| import(&c, file, opts));
    let c = ctx.clone();
    func(
        "export_ovf",
        &["vm: String", "dir: String", "options: Map", "Map"],
        "Export a powered-off VM into a directory as OVF (ova: true for one .ova), like\n`ceso vm export`; needs --allow-write. Options: ova, host, dry_run. Returns the files with\ntheir SHA-256.",
    )
    .set_into_module(m, move |vm: &str, dir: &str, opts: Map| export(&c, vm, dir, opts));
}

fn clone_vm(ctx: &ScriptCtx, source: &str, name: &str, opts: Map) -> RhaiResultOf<Dynamic> {
    let opts = Opts::new("vm::clone", opts, CLONE_OPTS)?;
    let spec = CloneSpec {
        name: name.to_string(),
        host: opts.string("host")?,
        datastore: opts.string("datastore")?,
        resource_pool: opts.string("resource_pool")?,
        linked: opts.flag("linked")?,
        snapshot: opts.string("snapshot")?,
        power_on: opts.flag("power_on")?,
    };
    let scope = match opts.string("endpoint")? {
        Some(e) => crate::ops::Scope::Named(e),
        None => ctx.scope().clone(),
    };
    let dry_run = opts.flag("dry_run")? || ctx.policy().dry_run;
    let fleet = ctx.fleet().clone();
    let tracker = ctx.track(name);
    let source = source.to_string();
    let (plan, made) = ctx.run(async {
        let src = vms::find_vm(&fleet, &scope, &source).await?;
        let plan = clone::plan(&src, &spec).await?;
        if dry_run {
            return Ok((plan, None));
        }
        let vm = clone::clone(&src, &plan, &tracker).await?;
        let summary = vms::select::refresh(&vm).await?;
        Ok((plan, Some(FoundVm { vm, summary })))
    })?;
    let would = format!(
        "would clone {} to {} on {}",
        plan.source, plan.name, plan.endpoint
    );
    Ok(made_or_plan(ctx, &plan, made, &would))
}

fn set_template(ctx: &ScriptCtx, name: &str, template: bool, opts: Map) -> RhaiResultOf<Map> {
    let function = if template {
        "vm::template_mark"
    } else {
        "vm::template_unmark"
    };
    let known: &[&str] = if template {
        &["dry_run", "host"]
    } else {
        &["resource_pool", "dry_run", "host"]
    };
    let opts = Opts::new(function, opts, known)?;
    let pool = if template {
        None
    } else {
        opts.string("resource_pool")?
    };
    let dry_run = opts.flag("dry_run")? || ctx.policy().dry_run;
    let scope = scope_of(ctx, &opts)?;
    let fleet = ctx.fleet().clone();
    let name = name.to_string();
    let change = ctx.run(async {
        let vm = vms::find_vm(&fleet, &scope, &name).await?;
        let change = clone::plan_template(&vm, template, pool.as_deref()).await?;
        if !dry_run {
            clone::set_template(&vm, &change).await?;
        }
        Ok(change)
    })?;
    if dry_run && change.changed {
        ctx.say(&format!(
            "would make {} {}",
            change.vm,
            if template { "a template" } else { "a VM" }
        ));
    }
    let mut m = from_serialize(&change)
        .try_cast::<Map>()
        .unwrap_or_default();
    if dry_run {
        m.insert("dry_run".into(), true.into());
    }
    Ok(m)
}

fn import(ctx: &ScriptCtx, file: &str, opts: Map) -> RhaiResultOf<Dynamic> {
    let opts = Opts::new(
        "vm::import_ovf",
        opts,
        &[
            "name",
            "network_map",
            "datastore",
            "resource_pool",
            "power_on",
            "host",
            "dry_run",
        ],
    )?;
    let mut network_map = Vec::new();
    if let Some(raw) = opts.raw("network_map") {
        let map = raw.clone().try_cast::<Map>().ok_or_else(|| {
            script_error("vm::import_ovf: network_map is a map, #{\"VM Network\": \"prod\"}")
        })?;
        for (from, to) in map {
            let to = to.into_string().map_err(|ty| {
                script_error(format!(
                    "vm::import_ovf: network_map values are names, not {ty}"
                ))
            })?;
            network_map.push((from.to_string(), to));
        }
    }
    let spec = ImportSpec {
        file: file.into(),
        name: opts.string("name")?,
        network_map,
        datastore: opts.string("datastore")?,
        resource_pool: opts.string("resource_pool")?,
        power_on: opts.flag("power_on")?,
    };
    let scope = scope_of(ctx, &opts)?;
    let dry_run = opts.flag("dry_run")? || ctx.policy().dry_run;
    let fleet = ctx.fleet().clone();
    let tracker = ctx.track(file);
    let (plan, made) = ctx.run(async {
        let plan = ovf::import::plan(&fleet, &scope, &spec).await?;
        if dry_run {
            return Ok((plan, None));
        }
        let vm = ovf::import(&plan, &tracker).await?;
        let summary = vms::select::refresh(&vm).await?;
        Ok((plan, Some(FoundVm { vm, summary })))
    })?;
    let would = format!(
        "would import {} as {} on {}",
        plan.file, plan.name, plan.endpoint
    );
    Ok(made_or_plan(ctx, &plan, made, &would))
}

/// The new VM; under dry_run the plan (with `dry_run: true`), after saying what would
/// happen.
fn made_or_plan<P: serde::Serialize>(
    ctx: &ScriptCtx,
    plan: &P,
    made: Option<FoundVm>,
    would: &str,
) -> Dynamic {
    match made {
        Some(found) => Dynamic::from(Vm(found)),
        None => {
            ctx.say(would);
            dry_run_map(plan).into()
        }
    }
}

/// A plan as a map with `dry_run: true`.
fn dry_run_map<P: serde::Serialize>(plan: &P) -> Map {
    let mut m = from_serialize(plan).try_cast::<Map>().unwrap_or_default();
    m.insert("dry_run".into(), true.into());
    m
}

fn export(ctx: &ScriptCtx, vm: &str, dir: &str, opts: Map) -> RhaiResultOf<Map> {
    let opts = Opts::new("vm::export_ovf", opts, &["ova", "host", "dry_run"])?;
    let dry_run = opts.flag("dry_run")? || ctx.policy().dry_run;
    if !dry_run {
        ctx.require_write("vm::export_ovf")?;
    }
    let as_ova = opts.flag("ova")?;
    let scope = scope_of(ctx, &opts)?;
    let fleet = ctx.fleet().clone();
    let tracker = ctx.track(vm);
    let (vm, dir) = (vm.to_string(), std::path::PathBuf::from(dir));
    let (plan, result) = ctx.run(async {
        let found = vms::find_vm(&fleet, &scope, &vm).await?;
        let plan = ovf::export::plan(&found, &dir, as_ova).await?;
        if dry_run {
            return Ok((plan, None));
        }
        let result = ovf::export(&found, &plan, &tracker).await?;
        Ok((plan, Some(result)))
    })?;
    let value = match result {
        Some(r) => from_serialize(&r),
        None => {
            ctx.say(&format!("would export {} into {}", plan.vm, plan.dir));
            dry_run_map(&plan).into()
        }
    };
    Ok(value.try_cast::<Map>().unwrap_or_default())
}
