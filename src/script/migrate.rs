//! `vm::migrate(vms, #{to_host, …})`: `ceso vm migrate` in scripts, the same ops call.

use rhai::{Array, Dynamic, Map, Module};

use crate::ops::migrate::{self, MigrateSpec};

use super::convert::{Opts, from_serialize};
use super::ctx::{RhaiResultOf, ScriptCtx};
use super::doc::func;
use super::fault::{script_error, to_rhai};

const OPTIONS: &[&str] = &[
    "to_host",
    "datastore",
    "resource_pool",
    "live",
    "force",
    "cold",
    "shutdown",
    "keep_source",
    "network_map",
    "dry_run",
    "warm",
    "cutover_at",
    "cutover_when_delta_below",
    "max_rounds",
    "max_rate",
];

/// Adds `migrate` to the `vm::` namespace.
pub fn add_to(m: &mut Module, ctx: &ScriptCtx) {
    let c = ctx.clone();
    func(
        "migrate",
        &["vms: Dynamic", "options: Map", "Array"],
        "Migrate VMs like `ceso vm migrate`: names, globs, a Vm or an array. Options: to_host\n(required), datastore, resource_pool, live (vMotion of a running VM), force (skip ceso's\nadvisory checks), cold (between endpoints: copy the files), shutdown, keep_source,\nnetwork_map (#{old: \"new\"}), warm (between endpoints: copy while it runs, then cut over) with\ncutover_at, cutover_when_delta_below, max_rounds, max_rate; dry_run. Returns one map per VM with its checks; a failed check is a fault.",
    )
    .set_into_module(m, move |what: Dynamic, opts: Map| migrate_vms(&c, what, opts));
}

fn migrate_vms(ctx: &ScriptCtx, what: Dynamic, opts: Map) -> RhaiResultOf<Array> {
    let opts = Opts::new("vm::migrate", opts, OPTIONS)?;
    let to_host = opts
        .string("to_host")?
        .ok_or_else(|| script_error("vm::migrate: give the target as #{to_host: \"...\"}"))?;
    let spec = MigrateSpec {
        to_host: Some(to_host),
        datastore: opts.string("datastore")?,
        resource_pool: opts.string("resource_pool")?,
        live: opts.flag("live")?,
        force: opts.flag("force")?,
        cold: opts.flag("cold")?,
        shutdown: opts.flag("shutdown")?,
        keep_source: opts.flag("keep_source")?,
        network_map: network_map(&opts)?,
        warm: opts.flag("warm")?,
        warm_options: migrate::WarmOptions::parse(
            opts.string("cutover_at")?.as_deref(),
            opts.string("cutover_when_delta_below")?.as_deref(),
            opts.int("max_rounds")?,
            opts.string("max_rate")?.as_deref(),
        )
        .map_err(|e| to_rhai(&e))?,
        ..MigrateSpec::default()
    }
    .with_config(&ctx.fleet().config);
    let dry_run = opts.flag("dry_run")? || ctx.policy().dry_run;
    let targets = super::vm::resolve(ctx, what, &ctx.scope().clone(), "vm::migrate")?;
    let fleet = ctx.fleet().clone();
    let names: Vec<String> = targets.iter().map(|v| v.name.clone()).collect();
    let tracker = ctx.track(&names.join(", "));
    let results = ctx.run(async {
        Ok(migrate::migrate_vms(&fleet, &targets, &spec, dry_run, &tracker).await)
    })?;
    let names: Vec<String> = targets.iter().map(|v| v.name.clone()).collect();
    let (done, outcome) = migrate::settle(&names, results, dry_run);
    outcome.map_err(|e| to_rhai(&e))?;
    let mut out = Array::new();
    for r in done {
        if dry_run {
            ctx.say(&format!(
                "would migrate {} to {}",
                r.plan.vm(),
                r.plan.to_host()
            ));
        }
        out.push(from_serialize(&r));
    }
    Ok(out)
}

/// `network_map: #{"VM Network": "prod"}` (or an array of "OLD=NEW" strings).
fn network_map(opts: &Opts) -> RhaiResultOf<Vec<(String, String)>> {
    let Some(value) = opts.raw("network_map") else {
        return Ok(Vec::new());
    };
    let items: Vec<String> = if let Some(map) = value.clone().try_cast::<Map>() {
        map.into_iter().map(|(k, v)| format!("{k}={v}")).collect()
    } else if let Some(list) = value.clone().try_cast::<Array>() {
        list.into_iter().map(|v| v.to_string()).collect()
    } else {
        return Err(script_error(
            "vm::migrate: network_map is a map #{old: \"new\"} or an array of \"OLD=NEW\"",
        ));
    };
    migrate::parse_network_map(&items).map_err(|e| to_rhai(&e))
}
