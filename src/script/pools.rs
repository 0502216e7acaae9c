//! Resource pools and DRS reads in scripts, under the CLI's names: `rp(name)` / `rps()`
//! with `pool.vms()`, `drs_rules()`, `drs_groups()`, `drs_check()`, the `rp::` verbs
//! (`rp::create`, `rp::update`, `rp::delete`) and `vm::move` (dry-run like the CLI).
//! The `drs::` and `cluster::` verbs are in drs.rs.

use std::sync::Arc;

use rhai::{Array, Dynamic, Engine, Map, Module};

use crate::ops::drs;
use crate::ops::pools::{self, AllocationChange, Pool, PoolChange, manage, moves};
use crate::ops::spec_diff::SpecDiff;
use crate::ops::vms::{self, VmRef};
use crate::vim::MoRef;

use super::convert::{Opts, from_serialize};
use super::ctx::{RhaiResultOf, ScriptCtx};
use super::doc::func;
use super::fault;
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
    engine.register_static_module("rp", namespace(ctx).into());
}

fn snapshot(ctx: &ScriptCtx) -> RhaiResultOf<drs::Snapshot> {
    let (fleet, scope) = (ctx.fleet().clone(), ctx.scope().clone());
    ctx.run(async move {
        let target = fleet.target(&scope).await?;
        Ok(drs::load(&target, None).await?.1)
    })
}

const ALLOC_OPTS: &[&str] = &[
    "cpu_shares",
    "memory_shares",
    "cpu_reservation",
    "memory_reservation",
    "cpu_limit",
    "memory_limit",
    "expandable",
    "dry_run",
];

/// `#{cpu_shares, cpu_reservation, …, expandable}` as the CLI's allocation flags.
fn pool_change(opts: &Opts) -> RhaiResultOf<PoolChange> {
    let expandable = opts.opt_flag("expandable")?;
    let one = |r: &str| -> RhaiResultOf<AllocationChange> {
        AllocationChange::from_text(
            &format!("{r}_"),
            opts.text(&format!("{r}_shares"))?.as_deref(),
            opts.int(&format!("{r}_reservation"))?,
            opts.text(&format!("{r}_limit"))?.as_deref(),
            expandable,
        )
        .map_err(|e| fault::to_rhai(&e))
    };
    Ok(PoolChange {
        cpu: one("cpu")?,
        memory: one("memory")?,
    })
}

/// The plan as a map with `dry_run`; on a dry run each line of the diff is said.
pub(super) fn planned<T: serde::Serialize>(
    ctx: &ScriptCtx,
    plan: &T,
    diff: &SpecDiff,
    dry_run: bool,
) -> Map {
    if dry_run {
        for line in diff.lines() {
            ctx.say(&format!("would send {line}"));
        }
    }
    let mut m = from_serialize(plan).try_cast::<Map>().unwrap_or_default();
    m.insert("dry_run".into(), dry_run.into());
    m
}

fn create(ctx: &ScriptCtx, path: &str, opts: Map) -> RhaiResultOf<Map> {
    let opts = Opts::new("rp::create", opts, ALLOC_OPTS)?;
    let change = pool_change(&opts)?;
    let dry_run = opts.flag("dry_run")? || ctx.policy().dry_run;
    let (fleet, scope, path) = (ctx.fleet().clone(), ctx.scope().clone(), path.to_string());
    let tracker = ctx.track(&path);
    let plan = ctx.run(async move {
        let target = fleet.target(&scope).await?;
        let plan = manage::plan_create(&target, &path, &change).await?;
        if !dry_run {
            pools::create(&target, &plan, &tracker).await?;
        }
        Ok(plan)
    })?;
    Ok(planned(ctx, &plan, &plan.diff, dry_run))
}

fn update(ctx: &ScriptCtx, pool: &str, opts: Map) -> RhaiResultOf<Map> {
    let opts = Opts::new("rp::update", opts, ALLOC_OPTS)?;
    let change = pool_change(&opts)?;
    let dry_run = opts.flag("dry_run")? || ctx.policy().dry_run;
    let (fleet, scope, pool) = (ctx.fleet().clone(), ctx.scope().clone(), pool.to_string());
    let tracker = ctx.track(&pool);
    let plan = ctx.run(async move {
        let target = fleet.target(&scope).await?;
        let plan = manage::plan_update(&target, &pool, &change).await?;
        if !dry_run {
            pools::update(&target, &plan, &change, &tracker).await?;
        }
        Ok(plan)
    })?;
    Ok(planned(ctx, &plan, &plan.diff, dry_run))
}

fn delete(ctx: &ScriptCtx, pool: &str, opts: Map) -> RhaiResultOf<Map> {
    let opts = Opts::new("rp::delete", opts, &["dry_run"])?;
    let dry_run = opts.flag("dry_run")? || ctx.policy().dry_run;
    let (fleet, scope, pool) = (ctx.fleet().clone(), ctx.scope().clone(), pool.to_string());
    let tracker = ctx.track(&pool);
    let plan = ctx.run(async move {
        let target = fleet.target(&scope).await?;
        let plan = manage::plan_delete(&target, &pool).await?;
        if !dry_run {
            pools::delete(&target, &plan, &tracker).await?;
        }
        Ok(plan)
    })?;
    Ok(planned(ctx, &plan, &plan.diff, dry_run))
}

/// `vm::move(names, pool)`: like `ceso vm move NAMES… --resource-pool POOL`.
pub fn move_vms(ctx: &ScriptCtx, names: Vec<String>, pool: &str, opts: Map) -> RhaiResultOf<Array> {
    let opts = Opts::new("vm::move", opts, &["dry_run"])?;
    let dry_run = opts.flag("dry_run")? || ctx.policy().dry_run;
    let (fleet, scope, pool) = (ctx.fleet().clone(), ctx.scope().clone(), pool.to_string());
    let tracker = ctx.track(&pool);
    let rows = ctx.run(async move {
        let mut targets: Vec<VmRef> = Vec::new();
        for name in &names {
            for vm in vms::find_named(&fleet, &scope, name).await? {
                vms::push_unique(&mut targets, vm);
            }
        }
        let pool = pool.as_str();
        if dry_run {
            return moves::plan_moves(&fleet, &targets, pool).await;
        }
        let results = pools::move_vms(&fleet, &targets, pool, &tracker).await?;
        let names: Vec<String> = targets.iter().map(|v| v.name.clone()).collect();
        let (done, outcome) = crate::ops::batch::settle("moved", &names, results, |r| r.changed);
        outcome.map(|()| done)
    })?;
    Ok(rows
        .iter()
        .map(|r| {
            if dry_run {
                if r.changed {
                    ctx.say(&format!("would move {} from {} to {}", r.vm, r.from, r.to));
                } else {
                    ctx.say(&format!("{} is already in {}", r.vm, r.to));
                }
            }
            let mut m = from_serialize(r).try_cast::<Map>().unwrap_or_default();
            m.insert("dry_run".into(), dry_run.into());
            Dynamic::from(m)
        })
        .collect())
}

/// `rp::…`: the CLI's `ceso rp` verbs.
fn namespace(ctx: &ScriptCtx) -> Module {
    let mut m = Module::new();
    let c = ctx.clone();
    func(
        "create",
        &["path: String", "options: Map", "Map"],
        "Create a pool, like `ceso rp create PARENT/NAME`. Options (the CLI's flags): cpu_shares,\nmemory_shares (low/normal/high or a number), cpu_reservation (MHz), memory_reservation (MB),\ncpu_limit, memory_limit (a number or \"unlimited\"), expandable, dry_run.",
    )
    .set_into_module(&mut m, move |path: &str, opts: Map| create(&c, path, opts));
    let c = ctx.clone();
    func(
        "create",
        &["path: String", "Map"],
        "Create a pool with default allocation.",
    )
    .set_into_module(&mut m, move |path: &str| create(&c, path, Map::new()));
    let c = ctx.clone();
    func(
        "update",
        &["pool: String", "options: Map", "Map"],
        "Change a pool's allocation, like `ceso rp update`: only what is given changes. Options as\nrp::create.",
    )
    .set_into_module(&mut m, move |pool: &str, opts: Map| update(&c, pool, opts));
    let c = ctx.clone();
    func(
        "delete",
        &["pool: String", "Map"],
        "Delete a pool, like `ceso rp delete`; its VMs and child pools move to the parent.",
    )
    .set_into_module(&mut m, move |pool: &str| delete(&c, pool, Map::new()));
    let c = ctx.clone();
    func(
        "delete",
        &["pool: String", "options: Map", "Map"],
        "Delete a pool. Options: dry_run.",
    )
    .set_into_module(&mut m, move |pool: &str, opts: Map| delete(&c, pool, opts));
    m
}
