//! The placement engine in scripts, under the names: `find_optimal_host(req)`
//! (like `ceso place --json`), `recommend_migrations(limit)` (like `ceso optimize
//! recommend --json`) and `optimize_analyze()`. Read-only: applying a plan is the CLI's
//! `optimize apply` / `vm balance`.

use rhai::{Dynamic, Engine, Map};

use crate::ops::placement::{self as ops, engine_error};
use crate::placement::{self, State, Vm, VmUsage};

use super::convert::{Opts, from_serialize};
use super::ctx::{RhaiResultOf, ScriptCtx};
use super::doc::func;
use super::fault::script_error;
use super::placement_policy::load_policies;

const PLACE_OPTS: &[&str] = &[
    "name",
    "cpus",
    "memory_mb",
    "cpu_demand",
    "datastores",
    "networks",
    "devices",
    "cluster",
    "policy",
];

fn gather(ctx: &ScriptCtx, cluster: Option<String>) -> RhaiResultOf<placement::Inventory> {
    let (fleet, scope) = (ctx.fleet().clone(), ctx.scope().clone());
    Ok(ctx
        .run(async move { ops::gather(&fleet, &scope, cluster.as_deref()).await })?
        .inventory)
}

fn policies(
    ctx: &ScriptCtx,
    extra: Vec<String>,
) -> RhaiResultOf<Vec<super::placement_policy::RhaiPolicy>> {
    let extra: Vec<std::path::PathBuf> = extra.into_iter().map(Into::into).collect();
    load_policies(&ctx.fleet().config, &extra).map_err(|e| script_error(e.to_string()))
}

fn find_optimal_host(ctx: &ScriptCtx, req: Map) -> RhaiResultOf<Dynamic> {
    let o = Opts::new("find_optimal_host", req, PLACE_OPTS)?;
    let inv = gather(ctx, o.string("cluster")?)?;
    let policy = policies(ctx, o.list("policy")?)?;
    let name = o.string("name")?.unwrap_or_else(|| "new-vm".into());
    let vm = match (
        inv.vms.iter().find(|v| v.name == name),
        o.int("cpus")?,
        o.int("memory_mb")?,
    ) {
        (Some(v), None, None) => v.clone(),
        (_, Some(cpus), Some(mem)) if cpus > 0 && mem > 0 => Vm {
            name,
            vcpus: cpus as u32,
            memory_mb: mem as u64,
            powered_on: true,
            datastores: o.list("datastores")?,
            networks: o.list("networks")?,
            devices: o.list("devices")?,
            usage: o.int("cpu_demand")?.map(|c| VmUsage {
                cpu_mhz: c.max(0) as u64,
                guest_memory_mb: mem as u64,
                host_memory_mb: mem as u64,
            }),
            ..Default::default()
        },
        _ => {
            return Err(script_error(format!(
                "find_optimal_host: '{name}' is not a VM of the inventory; give cpus and memory_mb (> 0) for a new one"
            )));
        }
    };
    let st = State::new(&inv).map_err(|e| script_error(engine_error(e).to_string()))?;
    let p = placement::find_optimal_host(&st, &vm, &policy)
        .map_err(|e| script_error(engine_error(e).to_string()))?;
    Ok(from_serialize(&p))
}

fn recommend(ctx: &ScriptCtx, limit: i64, cluster: Option<String>) -> RhaiResultOf<Dynamic> {
    if limit < 0 {
        return Err(script_error("recommend_migrations: the limit must be ≥ 0"));
    }
    let inv = gather(ctx, cluster)?;
    let policy = policies(ctx, Vec::new())?;
    let options = ops::balance_options(&ctx.fleet().config, Some(limit as usize));
    let plan = placement::recommend_migrations(&inv, options, &policy)
        .map_err(|e| script_error(engine_error(e).to_string()))?;
    Ok(from_serialize(&plan))
}

pub fn register(engine: &mut Engine, ctx: &ScriptCtx) {
    let c = ctx.clone();
    func(
        "find_optimal_host",
        &["requirements: Map", "Map"],
        "Where a VM would go (like `ceso place --json`): #{name, cpus, memory_mb, cpu_demand,\n\
         datastores, networks, devices, cluster, policy}. An existing VM's name alone uses its\n\
         size and demand. Returns #{ranked: [#{host, score, ...}], rejected: [#{host, reasons}], demand}.",
    )
    .register_into_engine(engine, move |req: Map| find_optimal_host(&c, req));
    let c = ctx.clone();
    func(
        "recommend_migrations",
        &["limit: i64", "Map"],
        "A migration plan of at most `limit` moves that lowers the imbalance (like\n\
         `ceso optimize recommend --json`): #{before, after, moves: [#{vm, from, to, gain}], stopped}.",
    )
    .register_into_engine(engine, move |limit: i64| recommend(&c, limit, None));
    let c = ctx.clone();
    func(
        "recommend_migrations",
        &["limit: i64", "cluster: String", "Map"],
        "recommend_migrations(limit) for one cluster.",
    )
    .register_into_engine(engine, move |limit: i64, cluster: String| {
        recommend(&c, limit, Some(cluster))
    });
    let c = ctx.clone();
    func(
        "optimize_analyze",
        &["Map"],
        "`ceso optimize analyze --json` as a map: clusters (each with its own imbalance), per_host, hot, cold, violations, stranded.",
    )
    .register_into_engine(engine, move || {
        let inv = gather(&c, None)?;
        let st = State::new(&inv).map_err(|e| script_error(engine_error(e).to_string()))?;
        Ok::<_, Box<rhai::EvalAltResult>>(from_serialize(&placement::analyze(&st)))
    });
}
