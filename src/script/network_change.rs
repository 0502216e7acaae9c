//! The changing `network` and `vswitch` verbs in scripts, under the CLI's names, with
//! its flags as option keys: `network::create` / `update` / `delete` (standard port
//! groups) and `vswitch::create` / `delete`, on `host`, `cluster` or `all_hosts`;
//! `dvs::portgroup_create` / `update` / `delete`; `vm::nic_add` / `nic_set` / `nic_remove`.
//! Each returns what the CLI's `--json` shows and honours `dry_run` / DRY_RUN.

use rhai::{Engine, Map, Module};

use crate::ops::network::dvs::{
    self, DvPortgroupChange, DvsChange, DvsCreate, Membership, MembershipChange,
};
use crate::ops::network::nic;
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
    engine.register_static_module("dvs", dvs_namespace(ctx).into());
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

/// Say a switch-level or NIC change on a dry run; the change as a map.
fn said<T: serde::Serialize>(ctx: &ScriptCtx, dry_run: bool, lines: Vec<String>, value: &T) -> Map {
    if dry_run {
        for line in lines {
            ctx.say(&line);
        }
    }
    from_serialize(value).try_cast::<Map>().unwrap_or_default()
}

fn dv_change(
    ctx: &ScriptCtx,
    switch: &str,
    name: &str,
    opts: Map,
    update: bool,
) -> RhaiResultOf<Map> {
    let (function, own): (&'static str, &[&str]) = if update {
        (
            "dvs::portgroup_update",
            &["vlan_id", "trunk", "pvlan", "ports", "binding", "rename"],
        )
    } else {
        (
            "dvs::portgroup_create",
            &["vlan_id", "trunk", "pvlan", "ports", "binding"],
        )
    };
    let own: Vec<&str> = own.iter().chain(POLICY_OPTS).copied().collect();
    let opts = options(function, opts, &own)?;
    let change = DvPortgroupChange {
        switch: switch.to_string(),
        name: name.to_string(),
        rename: opts.string("rename")?,
        vlan: dvs::dv_vlan(
            opts.int("vlan_id")?,
            opts.string("trunk")?.as_deref(),
            opts.int("pvlan")?,
        )
        .map_err(|e| fault::to_rhai(&e))?,
        ports: opts.int("ports")?,
        binding: opts.string("binding")?,
        policy: policy(&opts)?,
    };
    let fleet = ctx.fleet().clone();
    switch_change(ctx, &opts, name, |scope, dry_run, tracker| async move {
        if update {
            dvs::portgroup_update(&fleet, &scope, &change, dry_run, &tracker).await
        } else {
            dvs::portgroup_create(&fleet, &scope, &change, dry_run, &tracker).await
        }
    })
}

fn dv_delete(ctx: &ScriptCtx, switch: &str, name: &str, opts: Map) -> RhaiResultOf<Map> {
    let opts = Opts::new(
        "dvs::portgroup_delete",
        opts,
        &["host", "all_hosts", "dry_run"],
    )?;
    let dry_run = opts.flag("dry_run")? || ctx.policy().dry_run;
    let (fleet, scope, tracker) = (ctx.fleet().clone(), scope_of(ctx, &opts)?, ctx.track(name));
    let (switch, name) = (switch.to_string(), name.to_string());
    let c = ctx.run(async move {
        dvs::portgroup_delete(&fleet, &scope, &switch, &name, dry_run, &tracker).await
    })?;
    let lines = vec![format!(
        "would delete port group {} of {}",
        c.object, c.switch
    )];
    Ok(said(ctx, dry_run, lines, &c))
}

/// Run a switch-level change (dry-run or not) and return it as a map.
fn switch_change<F, Fut>(ctx: &ScriptCtx, opts: &Opts, object: &str, change: F) -> RhaiResultOf<Map>
where
    F: FnOnce(crate::ops::Scope, bool, super::in_flight::Tracker) -> Fut,
    Fut: std::future::Future<Output = crate::ops::OpResult<DvsChange>>,
{
    let dry_run = opts.flag("dry_run")? || ctx.policy().dry_run;
    let c = ctx.run(change(scope_of(ctx, opts)?, dry_run, ctx.track(object)))?;
    let lines = c
        .changes
        .iter()
        .map(|d| {
            format!(
                "would change {} of {}: {} -> {}",
                d.setting, c.object, d.before, d.after
            )
        })
        .collect();
    Ok(said(ctx, dry_run, lines, &c))
}

fn dvs_create(ctx: &ScriptCtx, name: &str, opts: Map) -> RhaiResultOf<Map> {
    let opts = Opts::new(
        "dvs::create",
        opts,
        &[
            "uplinks",
            "mtu",
            "datacenter",
            "host",
            "all_hosts",
            "dry_run",
        ],
    )?;
    let uplinks = match opts.int("uplinks")? {
        None => 2,
        Some(n) => u32::try_from(n).map_err(|_| {
            super::fault::script_error(format!(
                "dvs::create: uplinks {n} is not a number of uplink ports"
            ))
        })?,
    };
    let req = DvsCreate {
        name: name.to_string(),
        uplinks,
        mtu: opts.int("mtu")?,
        datacenter: opts.string("datacenter")?,
    };
    let fleet = ctx.fleet().clone();
    switch_change(ctx, &opts, name, |scope, dry_run, tracker| async move {
        dvs::create(&fleet, &scope, &req, dry_run, &tracker).await
    })
}

fn dvs_update(ctx: &ScriptCtx, name: &str, opts: Map) -> RhaiResultOf<Map> {
    let own: Vec<&str> = ["mtu", "host", "all_hosts", "dry_run"]
        .iter()
        .chain(POLICY_OPTS)
        .copied()
        .collect();
    let opts = Opts::new("dvs::update", opts, &own)?;
    let (mtu, policy) = (opts.int("mtu")?, policy(&opts)?);
    let (fleet, n) = (ctx.fleet().clone(), name.to_string());
    switch_change(ctx, &opts, name, |scope, dry_run, tracker| async move {
        dvs::update(&fleet, &scope, &n, mtu, &policy, dry_run, &tracker).await
    })
}

fn dvs_delete(ctx: &ScriptCtx, name: &str, opts: Map) -> RhaiResultOf<Map> {
    let opts = Opts::new("dvs::delete", opts, &["host", "all_hosts", "dry_run"])?;
    let (fleet, n) = (ctx.fleet().clone(), name.to_string());
    switch_change(ctx, &opts, name, |scope, dry_run, tracker| async move {
        dvs::delete(&fleet, &scope, &n, dry_run, &tracker).await
    })
}

fn dvs_hosts(
    ctx: &ScriptCtx,
    switch: &str,
    hosts: rhai::Array,
    opts: Map,
    op: Membership,
) -> RhaiResultOf<Map> {
    let (function, own): (&'static str, &[&str]) = match op {
        Membership::Add => (
            "dvs::host_add",
            &["uplinks", "host", "all_hosts", "dry_run"],
        ),
        Membership::Remove => ("dvs::host_remove", &["host", "all_hosts", "dry_run"]),
    };
    let opts = Opts::new(function, opts, own)?;
    let change = MembershipChange {
        switch: switch.to_string(),
        hosts: super::convert::strings(hosts, function)?,
        uplinks: opts.list("uplinks")?,
        op,
    };
    let fleet = ctx.fleet().clone();
    switch_change(ctx, &opts, switch, |scope, dry_run, tracker| async move {
        dvs::hosts(&fleet, &scope, &change, dry_run, &tracker).await
    })
}

fn dvs_namespace(ctx: &ScriptCtx) -> Module {
    let mut m = Module::new();
    add(
        &mut m,
        ctx,
        "create",
        "Create a distributed switch, like `ceso dvs create`. Options: uplinks (number of uplink ports,\ndefault 2), mtu, datacenter, dry_run.",
        dvs_create,
    );
    add(
        &mut m,
        ctx,
        "update",
        "Change a distributed switch's MTU and default policies, like `ceso dvs update`. Options: mtu,\nthe policies of network::create, dry_run.",
        dvs_update,
    );
    add(
        &mut m,
        ctx,
        "delete",
        "Delete a distributed switch, like `ceso dvs delete`. Options: dry_run.",
        dvs_delete,
    );
    for (name, op) in [
        ("host_add", Membership::Add),
        ("host_remove", Membership::Remove),
    ] {
        let c = ctx.clone();
        let doc = if matches!(op, Membership::Add) {
            "Add hosts to a distributed switch, like `ceso dvs host add DVS HOSTS… --uplinks NICS`.\nOptions: uplinks (physical NICs each host gives), dry_run."
        } else {
            "Remove hosts from a distributed switch, like `ceso dvs host remove`. Options: dry_run."
        };
        func(
            name,
            &["dvs: String", "hosts: Array", "options: Map", "Map"],
            doc,
        )
        .set_into_module(
            &mut m,
            move |switch: &str, hosts: rhai::Array, opts: Map| {
                dvs_hosts(&c, switch, hosts, opts, op)
            },
        );
    }
    for update in [false, true] {
        let c = ctx.clone();
        let (name, doc) = if update {
            (
                "portgroup_update",
                "Change a distributed port group, like `ceso dvs portgroup update DVS NAME`: settings not\nnamed survive. Options as dvs::portgroup_create, and rename.",
            )
        } else {
            (
                "portgroup_create",
                "Create a distributed port group, like `ceso dvs portgroup create DVS NAME`. Options: vlan_id,\ntrunk (\"100-200,300\"), pvlan, ports, binding (static/ephemeral), the policies of network::create\n(shaping_in, shaping_out too), host or all_hosts, dry_run.",
            )
        };
        func(
            name,
            &["dvs: String", "name: String", "options: Map", "Map"],
            doc,
        )
        .set_into_module(&mut m, move |switch: &str, pg: &str, opts: Map| {
            dv_change(&c, switch, pg, opts, update)
        });
        let c = ctx.clone();
        func(name, &["dvs: String", "name: String", "Map"], doc)
            .set_into_module(&mut m, move |switch: &str, pg: &str| {
                dv_change(&c, switch, pg, Map::new(), update)
            });
    }
    let c = ctx.clone();
    func(
        "portgroup_delete",
        &["dvs: String", "name: String", "options: Map", "Map"],
        "Delete a distributed port group, like `ceso dvs portgroup delete`. Options: dry_run.",
    )
    .set_into_module(&mut m, move |switch: &str, pg: &str, opts: Map| {
        dv_delete(&c, switch, pg, opts)
    });
    let c = ctx.clone();
    func(
        "portgroup_delete",
        &["dvs: String", "name: String", "Map"],
        "Delete a distributed port group.",
    )
    .set_into_module(&mut m, move |switch: &str, pg: &str| {
        dv_delete(&c, switch, pg, Map::new())
    });
    m
}

enum NicVerb {
    Add,
    Set,
    Remove,
}

/// `vm::nic_add(vm, #{network, type})`, `vm::nic_set(vm, nic, #{network})`, `vm::nic_remove(vm, nic)`.
fn nic_change(
    ctx: &ScriptCtx,
    verb: NicVerb,
    vm: &str,
    which: &str,
    opts: Map,
) -> RhaiResultOf<Map> {
    let (function, own): (&'static str, &[&str]) = match verb {
        NicVerb::Add => (
            "vm::nic_add",
            &["network", "type", "sriov", "host", "all_hosts", "dry_run"],
        ),
        NicVerb::Set => ("vm::nic_set", &["network", "host", "all_hosts", "dry_run"]),
        NicVerb::Remove => ("vm::nic_remove", &["host", "all_hosts", "dry_run"]),
    };
    let opts = Opts::new(function, opts, own)?;
    let network = match verb {
        NicVerb::Remove => String::new(),
        _ => opts.string("network")?.ok_or_else(|| {
            super::fault::script_error(format!(
                "{function}: give the #{{network: \"...\"}} to connect to"
            ))
        })?,
    };
    let kind = opts.string("type")?;
    let sriov = opts.string("sriov")?;
    let dry_run = opts.flag("dry_run")? || ctx.policy().dry_run;
    let (fleet, scope, tracker) = (ctx.fleet().clone(), scope_of(ctx, &opts)?, ctx.track(vm));
    let (vm, which) = (vm.to_string(), which.to_string());
    let c = ctx.run(async move {
        match verb {
            NicVerb::Add => {
                nic::add(
                    &fleet,
                    &scope,
                    &vm,
                    nic::NewNic {
                        network: &network,
                        kind: kind.as_deref(),
                        sriov: sriov.as_deref(),
                    },
                    dry_run,
                    &tracker,
                )
                .await
            }
            NicVerb::Set => {
                nic::set(&fleet, &scope, &vm, &which, &network, dry_run, &tracker).await
            }
            NicVerb::Remove => nic::remove(&fleet, &scope, &vm, &which, dry_run, &tracker).await,
        }
    })?;
    let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "(none)".into());
    let lines = vec![format!(
        "{} {} would {} {} -> {}",
        c.vm,
        c.nic,
        c.action,
        show(&c.before),
        show(&c.after)
    )];
    Ok(said(ctx, dry_run, lines, &c))
}

/// The `vm::nic_*` functions, added to the `vm::` namespace by vm.rs.
pub fn nic_functions(m: &mut Module, ctx: &ScriptCtx) {
    let c = ctx.clone();
    func(
        "nic_add",
        &["vm: String", "options: Map", "Map"],
        "Add a network adapter, like `ceso vm nic add VM --network NAME`. Options: network (a port\ngroup or SWITCH/PORTGROUP), type (vmxnet3, e1000e, …), sriov (a physical function: an SR-IOV\nadapter), host, dry_run.",
    )
    .set_into_module(m, move |vm: &str, opts: Map| nic_change(&c, NicVerb::Add, vm, "", opts));
    let c = ctx.clone();
    func(
        "nic_set",
        &["vm: String", "nic: String", "options: Map", "Map"],
        "Connect an adapter to another network keeping its MAC, like `ceso vm nic set VM NIC\n--network NAME`. Options: network, host, dry_run.",
    )
    .set_into_module(m, move |vm: &str, which: &str, opts: Map| {
        nic_change(&c, NicVerb::Set, vm, which, opts)
    });
    let c = ctx.clone();
    func(
        "nic_remove",
        &["vm: String", "nic: String", "options: Map", "Map"],
        "Remove an adapter, like `ceso vm nic remove VM NIC`. Options: host, dry_run.",
    )
    .set_into_module(m, move |vm: &str, which: &str, opts: Map| {
        nic_change(&c, NicVerb::Remove, vm, which, opts)
    });
    let c = ctx.clone();
    func(
        "nic_remove",
        &["vm: String", "nic: String", "Map"],
        "Remove an adapter.",
    )
    .set_into_module(m, move |vm: &str, which: &str| {
        nic_change(&c, NicVerb::Remove, vm, which, Map::new())
    });
}
