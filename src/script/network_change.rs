//! The changing `network` and `vswitch` verbs in scripts, under the CLI's names, with
//! its flags as option keys: `network::create` / `update` / `delete` (standard port
//! groups) and `vswitch::create` / `delete`, on `host`, `cluster` or `all_hosts`. Each
//! returns the per-host report of the CLI's `--json` and honours `dry_run` / DRY_RUN.

use rhai::{Engine, Map, Module};

use crate::ops::network::policy::{PolicyChange, PolicyInput};
use crate::ops::network::vswitch::{self, VswitchCreate};
use crate::ops::network::{HostSelector, PortgroupChange, portgroup};

use super::convert::{Opts, from_serialize};
use super::ctx::{RhaiResultOf, ScriptCtx};
use super::doc::func;
use super::fault;
use super::vm::scope_of;

const HOST_OPTS: &[&str] = &["host", "cluster", "all_hosts", "dry_run"];

const POLICY_OPTS: &[&str] = &[
    "promiscuous",
    "mac_changes",
    "forged_transmits",
    "shaping",
    "shaping_in",
    "shaping_out",
    "load_balancing",
    "active",
    "standby",
    "unused",
    "notify_switches",
    "failback",
    "failure_detection",
    "inherit",
];

pub fn register(engine: &mut Engine, ctx: &ScriptCtx) {
    engine.register_static_module("network", network_namespace(ctx).into());
    engine.register_static_module("vswitch", vswitch_namespace(ctx).into());
}

fn options(function: &'static str, opts: Map, own: &[&str]) -> RhaiResultOf<Opts> {
    let known: Vec<&str> = HOST_OPTS.iter().chain(own).copied().collect();
    Opts::new(function, opts, &known)
}

fn selector(ctx: &ScriptCtx, opts: &Opts) -> RhaiResultOf<HostSelector> {
    Ok(HostSelector {
        scope: scope_of(ctx, opts)?,
        cluster: opts.string("cluster")?,
    })
}

fn policy(opts: &Opts) -> RhaiResultOf<PolicyChange> {
    let some = |key: &str| -> RhaiResultOf<Option<Vec<String>>> {
        let items = opts.list(key)?;
        Ok((!items.is_empty()).then_some(items))
    };
    let input = PolicyInput {
        promiscuous: opts.text("promiscuous")?,
        mac_changes: opts.text("mac_changes")?,
        forged_transmits: opts.text("forged_transmits")?,
        shaping: opts.text("shaping")?,
        shaping_in: opts.text("shaping_in")?,
        shaping_out: opts.text("shaping_out")?,
        load_balancing: opts.text("load_balancing")?,
        active: some("active")?,
        standby: some("standby")?,
        unused: some("unused")?,
        notify_switches: opts.text("notify_switches")?,
        failback: opts.text("failback")?,
        failure_detection: opts.text("failure_detection")?,
        inherit: opts.list("inherit")?,
    };
    input.parse().map_err(|e| fault::to_rhai(&e))
}

/// Run a multi-host change (dry-run or not) and return its report as a map.
fn report<F, Fut>(ctx: &ScriptCtx, opts: &Opts, object: &str, change: F) -> RhaiResultOf<Map>
where
    F: FnOnce(HostSelector, bool, super::in_flight::Tracker) -> Fut,
    Fut: std::future::Future<Output = crate::ops::OpResult<crate::ops::network::hosts_apply::Report>>,
{
    let dry_run = opts.flag("dry_run")? || ctx.policy().dry_run;
    let sel = selector(ctx, opts)?;
    let r = ctx.run(change(sel, dry_run, ctx.track(object)))?;
    if dry_run {
        for h in &r.hosts {
            for c in &h.changes {
                ctx.say(&format!(
                    "would change {} on {}: {} -> {}",
                    c.setting, h.host, c.before, c.after
                ));
            }
        }
    }
    Ok(from_serialize(&r).try_cast::<Map>().unwrap_or_default())
}

/// `network::create` and `network::update` (which also takes `rename`).
fn portgroup_change(ctx: &ScriptCtx, name: &str, opts: Map, update: bool) -> RhaiResultOf<Map> {
    let (function, own): (&'static str, &[&str]) = if update {
        ("network::update", &["vlan_id", "vswitch", "rename"])
    } else {
        ("network::create", &["vlan_id", "vswitch"])
    };
    let own: Vec<&str> = own.iter().chain(POLICY_OPTS).copied().collect();
    let opts = options(function, opts, &own)?;
    let change = PortgroupChange {
        name: name.to_string(),
        vlan: opts.int("vlan_id")?,
        vswitch: opts.string("vswitch")?,
        rename: opts.string("rename")?,
        policy: policy(&opts)?,
    };
    let fleet = ctx.fleet().clone();
    report(ctx, &opts, name, |sel, dry_run, tracker| async move {
        if update {
            portgroup::update(&fleet, &sel, &change, dry_run, &tracker).await
        } else {
            portgroup::create(&fleet, &sel, &change, dry_run, &tracker).await
        }
    })
}

fn create(ctx: &ScriptCtx, name: &str, opts: Map) -> RhaiResultOf<Map> {
    portgroup_change(ctx, name, opts, false)
}

fn update(ctx: &ScriptCtx, name: &str, opts: Map) -> RhaiResultOf<Map> {
    portgroup_change(ctx, name, opts, true)
}

fn delete(ctx: &ScriptCtx, name: &str, opts: Map) -> RhaiResultOf<Map> {
    let opts = options("network::delete", opts, &[])?;
    let (fleet, name) = (ctx.fleet().clone(), name.to_string());
    report(
        ctx,
        &opts,
        &name.clone(),
        |sel, dry_run, tracker| async move {
            portgroup::delete(&fleet, &sel, &name, dry_run, &tracker).await
        },
    )
}

fn vswitch_create(ctx: &ScriptCtx, name: &str, opts: Map) -> RhaiResultOf<Map> {
    let own: Vec<&str> = ["uplinks", "mtu", "ports"]
        .iter()
        .chain(POLICY_OPTS)
        .copied()
        .collect();
    let opts = options("vswitch::create", opts, &own)?;
    let req = VswitchCreate {
        name: name.to_string(),
        uplinks: opts.list("uplinks")?,
        mtu: opts.int("mtu")?,
        ports: opts.int("ports")?,
        policy: policy(&opts)?,
    };
    let fleet = ctx.fleet().clone();
    report(ctx, &opts, name, |sel, dry_run, tracker| async move {
        vswitch::create(&fleet, &sel, &req, dry_run, &tracker).await
    })
}

fn vswitch_delete(ctx: &ScriptCtx, name: &str, opts: Map) -> RhaiResultOf<Map> {
    let opts = options("vswitch::delete", opts, &[])?;
    let (fleet, name) = (ctx.fleet().clone(), name.to_string());
    report(
        ctx,
        &opts,
        &name.clone(),
        |sel, dry_run, tracker| async move {
            vswitch::delete(&fleet, &sel, &name, dry_run, &tracker).await
        },
    )
}

type Verb = fn(&ScriptCtx, &str, Map) -> RhaiResultOf<Map>;

fn add(m: &mut Module, ctx: &ScriptCtx, name: &'static str, doc: &'static str, verb: Verb) {
    let c = ctx.clone();
    func(name, &["name: String", "options: Map", "Map"], doc)
        .set_into_module(m, move |n: &str, opts: Map| verb(&c, n, opts));
    let c = ctx.clone();
    func(name, &["name: String", "Map"], doc)
        .set_into_module(m, move |n: &str| verb(&c, n, Map::new()));
}

fn network_namespace(ctx: &ScriptCtx) -> Module {
    let mut m = Module::new();
    add(
        &mut m,
        ctx,
        "create",
        "Create a standard port group, like `ceso network create` (all-or-nothing across hosts).\nOptions: vlan_id, vswitch; policies promiscuous, mac_changes, forged_transmits (accept/reject),\nshaping (\"avg,peak,burst\" or \"off\"), load_balancing, active, standby, unused (uplink arrays),\nnotify_switches, failback, failure_detection, inherit; host, cluster or all_hosts; dry_run.",
        create,
    );
    add(
        &mut m,
        ctx,
        "update",
        "Change a standard port group, like `ceso network update`: vlan_id, vswitch, rename, policies.",
        update,
    );
    add(
        &mut m,
        ctx,
        "delete",
        "Delete a standard port group, like `ceso network delete`. Options: host, cluster, all_hosts, dry_run.",
        delete,
    );
    m
}

fn vswitch_namespace(ctx: &ScriptCtx) -> Module {
    let mut m = Module::new();
    add(
        &mut m,
        ctx,
        "create",
        "Create a standard vSwitch, like `ceso vswitch create`. Options: uplinks, mtu, ports, policies,\nhost/cluster/all_hosts, dry_run.",
        vswitch_create,
    );
    add(
        &mut m,
        ctx,
        "delete",
        "Delete a vSwitch and its port groups, like `ceso vswitch delete`.",
        vswitch_delete,
    );
    m
}
