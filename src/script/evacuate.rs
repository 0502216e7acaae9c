//! `host::evacuate(name, #{…})`: `ceso host evacuate` in scripts, the same ops calls.
//! No question is asked (a script's call is its consent); `dry_run` plans only.

use rhai::{Array, Dynamic, Map, Module};

use crate::ops::migrate::evacuate::{self, Destination, EvacuateSpec};

use super::convert::{Opts, from_serialize};
use super::ctx::{RhaiResultOf, ScriptCtx};
use super::doc::func;
use super::fault::{fault_map, script_error, thrown};
use super::placement_policy::load_policies;

const OPTIONS: &[&str] = &[
    "to_host",
    "auto",
    "cold",
    "warm",
    "maintenance",
    "dry_run",
    "policy",
];

/// Adds `evacuate` to the `host::` namespace.
pub fn add_to(m: &mut Module, ctx: &ScriptCtx) {
    let c = ctx.clone();
    func(
        "evacuate",
        &["name: String", "options: Map", "Array"],
        "Move every VM off a host, like `ceso host evacuate`. Options: to_host (one target for\nall; another endpoint, \"ENDPOINT/HOST\", moves them by cold migration and needs cold, or warm) or auto (the placement engine picks each VM's host; policy: plugin files), cold (shut\ndown, move and restart running VMs that cannot be vMotioned), warm (onto another endpoint:
copy each running VM while it runs, then cut over), maintenance (enter\nmaintenance mode once no VM is left), dry_run. Returns one map per VM (vm, from_host,\nto_host, method, outcome, checks, error). When a VM does not move, a fault whose\n`results` holds those maps.",
    )
    .set_into_module(m, move |name: &str, opts: Map| evacuate_host(&c, name, opts));
}

fn evacuate_host(ctx: &ScriptCtx, name: &str, opts: Map) -> RhaiResultOf<Array> {
    let opts = Opts::new("host::evacuate", opts, OPTIONS)?;
    let destination = match (opts.string("to_host")?, opts.flag("auto")?) {
        (Some(h), false) => Destination::Host(h),
        (None, true) => Destination::Auto,
        _ => {
            return Err(script_error(
                "host::evacuate: give one of #{to_host: \"...\"} or #{auto: true}",
            ));
        }
    };
    let spec = EvacuateSpec {
        host: name.to_string(),
        destination,
        cold: opts.flag("cold")?,
        warm: opts.flag("warm")?,
        maintenance: opts.flag("maintenance")?,
    };
    let dry_run = opts.flag("dry_run")? || ctx.policy().dry_run;
    let extra: Vec<std::path::PathBuf> = opts.list("policy")?.into_iter().map(Into::into).collect();
    let policy = load_policies(&ctx.fleet().config, &extra)
        .map_err(|e| script_error(format!("host::evacuate: {e}")))?;
    let (fleet, scope) = (ctx.fleet().clone(), ctx.scope().clone());
    let tracker = ctx.track(name);
    let mut ev = ctx.run(async {
        let plan = evacuate::plan(&fleet, &scope, &spec, &policy).await?;
        Ok(if dry_run {
            plan
        } else {
            evacuate::run(&fleet, plan, &tracker).await
        })
    })?;
    if ev.dry_run {
        for v in ev.moving() {
            ctx.say(&format!(
                "would move {} to {}",
                v.vm,
                v.to_host.as_deref().unwrap_or("?")
            ));
        }
    }
    let results: Array = ev.vms.iter().map(from_serialize).collect();
    let maintenance = from_serialize(&ev.maintenance);
    match ev.result() {
        Ok(()) => Ok(results),
        Err(e) => {
            let mut fault = fault_map(&e);
            fault.insert("results".into(), Dynamic::from_array(results));
            fault.insert("maintenance".into(), maintenance);
            Err(thrown(fault))
        }
    }
}
