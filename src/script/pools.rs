//! Resource pools and DRS in scripts, under the CLI's names: `rp(name)` / `rps()` with
//! `pool.vms()`, `drs_rules()`, `drs_groups()`, `drs_check()`, and `drs::create_rule`
//! / `drs::delete_rule` (dry-run like the CLI).

use std::sync::Arc;

use rhai::{Array, Dynamic, Engine, Map, Module};

use crate::ops::drs::{self, rules};
use crate::ops::pools::{self, Pool};
use crate::vim::MoRef;

use super::convert::{Opts, from_serialize};
use super::ctx::{RhaiResultOf, ScriptCtx};
use super::doc::func;
use super::fault::script_error;
use super::object::{ScriptObject, register_object};

#[derive(Debug, Clone)]
pub struct ResourcePool(pub Arc<Pool>);

impl ScriptObject for ResourcePool {
    const TYPE: &'static str = "ResourcePool";
    const COLUMNS: &'static [&'static str] = &["path", "cpu_shares", "memory_shares", "vm_count"];

    fn fields(&self) -> Vec<(&'static str, Dynamic)> {
        let p = &self.0;
        vec![
            ("name", p.name.clone().into()),
            ("path", p.path.clone().into()),
            ("id", p.id.clone().into()),
            ("owner", p.owner.clone().into()),
            ("cpu_shares", p.cpu.shares_text().into()),
            ("memory_shares", p.memory.shares_text().into()),
            ("vm_count", (p.vms.len() as i64).into()),
            ("cpu", from_serialize(&p.cpu)),
            ("memory", from_serialize(&p.memory)),
            ("endpoint", p.endpoint.clone().into()),
        ]
    }

    fn display(&self) -> String {
        format!("ResourcePool {} ({} VMs)", self.0.path, self.0.vms.len())
    }

    fn managed(&self) -> Option<(String, MoRef)> {
        Some((self.0.endpoint.clone(), self.0.moref()))
    }
}

fn strings(items: &[String]) -> Array {
    items.iter().cloned().map(Dynamic::from).collect()
}

pub fn register(engine: &mut Engine, ctx: &ScriptCtx) {
    register_object::<ResourcePool>(engine, ctx);
    engine
        .register_get("name", |p: &mut ResourcePool| p.0.name.clone())
        .register_get("path", |p: &mut ResourcePool| p.0.path.clone())
        .register_get("owner", |p: &mut ResourcePool| p.0.owner.clone());
    func(
        "vms",
        &["pool: ResourcePool", "Array"],
        "Names of the VMs in this pool.",
    )
    .register_into_engine(engine, |p: &mut ResourcePool| strings(&p.0.vms));
    func(
        "pools",
        &["pool: ResourcePool", "Array"],
        "Names of the child pools.",
    )
    .register_into_engine(engine, |p: &mut ResourcePool| strings(&p.0.pools));

    let c = ctx.clone();
    func(
        "rps",
        &["Array"],
        "Every resource pool, in tree order (like `ceso rp list`).",
    )
    .register_into_engine(engine, move || {
        let (fleet, scope) = (c.fleet().clone(), c.scope().clone());
        let all = c.run(async move { pools::list(&fleet, &scope, None).await })?;
        Ok::<_, Box<rhai::EvalAltResult>>(
            all.into_iter()
                .map(|p| Dynamic::from(ResourcePool(Arc::new(p))))
                .collect::<Array>(),
        )
    });
    let c = ctx.clone();
    func(
        "rp",
        &["name: String", "ResourcePool"],
        "The pool with this path or unique name (like `ceso rp info`).",
    )
    .register_into_engine(engine, move |name: &str| {
        let (fleet, scope, name) = (c.fleet().clone(), c.scope().clone(), name.to_string());
        c.run(async move {
            let target = fleet.target(&scope).await?;
            pools::info(&target, &name).await
        })
        .map(|p| ResourcePool(Arc::new(p)))
    });

    let c = ctx.clone();
    func(
        "drs_rules",
        &["Array"],
        "The default cluster's DRS rules (like `ceso drs rule list --json`).",
    )
    .register_into_engine(engine, move || {
        let s = snapshot(&c)?;
        Ok::<_, Box<rhai::EvalAltResult>>(s.rules.iter().map(from_serialize).collect::<Array>())
    });
    let c = ctx.clone();
    func(
        "drs_groups",
        &["Array"],
        "The default cluster's DRS groups.",
    )
    .register_into_engine(engine, move || {
        let s = snapshot(&c)?;
        Ok::<_, Box<rhai::EvalAltResult>>(s.groups.iter().map(from_serialize).collect::<Array>())
    });
    let c = ctx.clone();
    func(
        "drs_check",
        &["Map"],
        "`ceso drs check` as a map (ok, findings).",
    )
    .register_into_engine(engine, move || {
        let (fleet, scope) = (c.fleet().clone(), c.scope().clone());
        let report = c.run(async move {
            let target = fleet.target(&scope).await?;
            drs::check_cluster(&target, None).await
        })?;
        Ok::<_, Box<rhai::EvalAltResult>>(from_serialize(&report))
    });
    engine.register_static_module("drs", namespace(ctx).into());
}

fn snapshot(ctx: &ScriptCtx) -> RhaiResultOf<drs::Snapshot> {
    let (fleet, scope) = (ctx.fleet().clone(), ctx.scope().clone());
    ctx.run(async move {
        let target = fleet.target(&scope).await?;
        Ok(drs::load(&target, None).await?.1)
    })
}

fn create_rule(ctx: &ScriptCtx, opts: Map) -> RhaiResultOf<Map> {
    let opts = Opts::new(
        "drs::create_rule",
        opts,
        &[
            "name",
            "keep_together",
            "separate",
            "mandatory",
            "disabled",
            "dry_run",
        ],
    )?;
    let name = opts
        .string("name")?
        .ok_or_else(|| script_error("drs::create_rule: give the rule a #{name: \"...\"}"))?;
    let rule = match (opts.list("keep_together")?, opts.list("separate")?) {
        (vms, none) if !vms.is_empty() && none.is_empty() => rules::NewRule::KeepTogether(vms),
        (none, vms) if none.is_empty() && !vms.is_empty() => rules::NewRule::Separate(vms),
        _ => {
            return Err(script_error(
                "drs::create_rule: give one of keep_together: [...] or separate: [...]",
            ));
        }
    };
    let spec = rules::RuleSpec {
        name,
        rule,
        enabled: !opts.flag("disabled")?,
        mandatory: opts.flag("mandatory")?,
    };
    let dry_run = opts.flag("dry_run")? || ctx.policy().dry_run;
    let (fleet, scope) = (ctx.fleet().clone(), ctx.scope().clone());
    let tracker = ctx.track(&spec.name);
    let plan = ctx.run(async move {
        let target = fleet.target(&scope).await?;
        let (cluster, s) = drs::load(&target, None).await?;
        let plan = rules::plan_create(&s, &spec)?;
        if !dry_run {
            rules::apply(&cluster, &plan, &tracker).await?;
        }
        Ok(plan)
    })?;
    if dry_run {
        for line in plan.diff.lines() {
            ctx.say(&format!("would send {line}"));
        }
    }
    let mut m = from_serialize(&plan).try_cast::<Map>().unwrap_or_default();
    m.insert("dry_run".into(), dry_run.into());
    Ok(m)
}

fn namespace(ctx: &ScriptCtx) -> Module {
    let mut m = Module::new();
    let c = ctx.clone();
    func(
        "create_rule",
        &["options: Map", "Map"],
        "Create a VM-VM rule on the default cluster, like `ceso drs rule create`. Options: name,\nkeep_together or separate (VM names or globs), mandatory, disabled, dry_run.",
    )
    .set_into_module(&mut m, move |opts: Map| create_rule(&c, opts));
    m
}
