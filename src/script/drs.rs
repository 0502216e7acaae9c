//! The `drs::` and `cluster::` verbs in scripts, under the CLI's names and flags:
//! `drs::create_rule` (VM-VM and VM-Host), `drs::delete_rule` / `enable_rule` /
//! `disable_rule`, `drs::create_group` / `delete_group` / `add` / `remove`, and
//! `cluster::update`. Each takes `cluster` (default: the scope's cluster) and `dry_run`.

use rhai::{Engine, Map, Module};

use crate::ops::clusters::{self, ClusterUpdate};
use crate::ops::drs::groups::{self, GroupChange};
use crate::ops::drs::model::GroupKind;
use crate::ops::drs::rules::{self, NewRule, RulePlan, RuleSpec};
use crate::ops::drs::{self, Snapshot};
use crate::ops::{OpError, OpResult};

use super::convert::{Opts, from_serialize};
use super::ctx::{RhaiResultOf, ScriptCtx};
use super::doc::func;
use super::fault::script_error;
use super::pools::planned;

pub fn register(engine: &mut Engine, ctx: &ScriptCtx) {
    engine.register_static_module("drs", namespace(ctx).into());
    engine.register_static_module("cluster", cluster_namespace(ctx).into());
}

/// Plan against the cluster's DRS snapshot, apply unless dry-run.
fn rule_change(
    ctx: &ScriptCtx,
    opts: &Opts,
    object: &str,
    plan: impl FnOnce(&Snapshot) -> OpResult<RulePlan> + Send + 'static,
) -> RhaiResultOf<Map> {
    let dry_run = opts.flag("dry_run")? || ctx.policy().dry_run;
    let cluster = opts.string("cluster")?;
    let (fleet, scope) = (ctx.fleet().clone(), ctx.scope().clone());
    let tracker = ctx.track(object);
    let plan = ctx.run(async move {
        let target = fleet.target(&scope).await?;
        let (cref, s) = drs::load(&target, cluster.as_deref()).await?;
        let plan = plan(&s)?;
        if !dry_run {
            rules::apply(&cref, &plan, &tracker).await?;
        }
        Ok(plan)
    })?;
    Ok(planned(ctx, &plan, &plan.diff, dry_run))
}

fn group_change(ctx: &ScriptCtx, opts: &Opts, change: GroupChange) -> RhaiResultOf<Map> {
    let dry_run = opts.flag("dry_run")? || ctx.policy().dry_run;
    let cluster = opts.string("cluster")?;
    let (fleet, scope) = (ctx.fleet().clone(), ctx.scope().clone());
    let tracker = ctx.track("DRS group");
    let plan = ctx.run(async move {
        let target = fleet.target(&scope).await?;
        let (cref, s) = drs::load(&target, cluster.as_deref()).await?;
        let plan = groups::plan(&s, &change)?;
        if !dry_run {
            groups::apply(&cref, &plan, &tracker).await?;
        }
        Ok(plan)
    })?;
    Ok(planned(ctx, &plan, &plan.diff, dry_run))
}

fn create_rule(ctx: &ScriptCtx, opts: Map) -> RhaiResultOf<Map> {
    let opts = Opts::new(
        "drs::create_rule",
        opts,
        &[
            "name",
            "keep_together",
            "separate",
            "vm_group",
            "host_group",
            "must",
            "should",
            "not",
            "mandatory",
            "disabled",
            "cluster",
            "dry_run",
        ],
    )?;
    let name = opts
        .string("name")?
        .ok_or_else(|| script_error("drs::create_rule: give the rule a #{name: \"...\"}"))?;
    let (vm_group, host_group) = (opts.string("vm_group")?, opts.string("host_group")?);
    let rule = match (opts.list("keep_together")?, opts.list("separate")?) {
        (vms, none) if !vms.is_empty() && none.is_empty() => NewRule::KeepTogether(vms),
        (none, vms) if none.is_empty() && !vms.is_empty() => NewRule::Separate(vms),
        (a, b) if a.is_empty() && b.is_empty() && (vm_group.is_some() || host_group.is_some()) => {
            let (must, should) = (opts.flag("must")?, opts.flag("should")?);
            if must == should {
                return Err(script_error(
                    "drs::create_rule: a VM-Host rule takes one of must: true or should: true",
                ));
            }
            NewRule::VmHost {
                vm_group: vm_group.unwrap_or_default(),
                host_group: host_group.unwrap_or_default(),
                must,
                not: opts.flag("not")?,
            }
        }
        _ => {
            return Err(script_error(
                "drs::create_rule: give one of keep_together: [...], separate: [...] or vm_group + host_group",
            ));
        }
    };
    let spec = RuleSpec {
        name: name.clone(),
        rule,
        enabled: !opts.flag("disabled")?,
        mandatory: opts.flag("mandatory")?,
    };
    rule_change(ctx, &opts, &name, move |s| rules::plan_create(s, &spec))
}

fn named_rule(ctx: &ScriptCtx, function: &'static str, name: &str, opts: Map) -> RhaiResultOf<Map> {
    let opts = Opts::new(function, opts, &["cluster", "dry_run"])?;
    let n = name.to_string();
    rule_change(ctx, &opts, name, move |s| match function {
        "drs::delete_rule" => rules::plan_delete(s, &n),
        "drs::enable_rule" => rules::plan_enable(s, &n, true),
        _ => rules::plan_enable(s, &n, false),
    })
}

fn create_group(ctx: &ScriptCtx, name: &str, opts: Map) -> RhaiResultOf<Map> {
    let opts = Opts::new(
        "drs::create_group",
        opts,
        &["vms", "hosts", "cluster", "dry_run"],
    )?;
    let (kind, members) = match (opts.list("vms")?, opts.list("hosts")?) {
        (vms, hosts) if hosts.is_empty() && !vms.is_empty() => (GroupKind::Vm, vms),
        (vms, hosts) if vms.is_empty() && !hosts.is_empty() => (GroupKind::Host, hosts),
        _ => {
            return Err(script_error(
                "drs::create_group: give one of vms: [...] or hosts: [...]",
            ));
        }
    };
    let change = GroupChange::Create {
        name: name.to_string(),
        kind,
        members,
    };
    group_change(ctx, &opts, change)
}

fn namespace(ctx: &ScriptCtx) -> Module {
    let mut m = Module::new();
    let c = ctx.clone();
    func(
        "create_rule",
        &["options: Map", "Map"],
        "Create a DRS rule, like `ceso drs rule create`. Options: name; keep_together or separate\n(VM names or globs) for a VM-VM rule, or vm_group + host_group with must or should (and not)\nfor a VM-Host rule; mandatory, disabled, cluster, dry_run.",
    )
    .set_into_module(&mut m, move |opts: Map| create_rule(&c, opts));
    for (name, doc) in [
        (
            "delete_rule",
            "Delete a DRS rule, like `ceso drs rule delete`.",
        ),
        (
            "enable_rule",
            "Enable a DRS rule, like `ceso drs rule enable`.",
        ),
        (
            "disable_rule",
            "Disable a DRS rule, like `ceso drs rule disable`.",
        ),
    ] {
        let function: &'static str = match name {
            "delete_rule" => "drs::delete_rule",
            "enable_rule" => "drs::enable_rule",
            _ => "drs::disable_rule",
        };
        let c = ctx.clone();
        func(name, &["rule: String", "Map"], doc).set_into_module(&mut m, move |rule: &str| {
            named_rule(&c, function, rule, Map::new())
        });
        let c = ctx.clone();
        func(
            name,
            &["rule: String", "options: Map", "Map"],
            "Options: cluster, dry_run.",
        )
        .set_into_module(&mut m, move |rule: &str, opts: Map| {
            named_rule(&c, function, rule, opts)
        });
    }
    let c = ctx.clone();
    func(
        "create_group",
        &["name: String", "options: Map", "Map"],
        "Create a DRS group, like `ceso drs group create`. Options: vms or hosts (names or globs),\ncluster, dry_run.",
    )
    .set_into_module(&mut m, move |name: &str, opts: Map| {
        create_group(&c, name, opts)
    });
    let c = ctx.clone();
    func(
        "delete_group",
        &["name: String", "options: Map", "Map"],
        "Delete a DRS group, like `ceso drs group delete`. Options: cluster, dry_run.",
    )
    .set_into_module(&mut m, move |name: &str, opts: Map| {
        let opts = Opts::new("drs::delete_group", opts, &["cluster", "dry_run"])?;
        group_change(&c, &opts, GroupChange::Delete { name: name.into() })
    });
    let c = ctx.clone();
    func(
        "delete_group",
        &["name: String", "Map"],
        "Delete a DRS group.",
    )
    .set_into_module(&mut m, move |name: &str| {
        group_change(
            &c,
            &Opts::none("drs::delete_group"),
            GroupChange::Delete { name: name.into() },
        )
    });
    for (verb, doc) in [
        (
            "add",
            "Add members (names or globs) to a DRS group, like `ceso drs group add`.",
        ),
        (
            "remove",
            "Remove members (names or globs) from a DRS group, like `ceso drs group remove`.",
        ),
    ] {
        let function: &'static str = if verb == "add" {
            "drs::add"
        } else {
            "drs::remove"
        };
        let members_of = move |name: &str, members: rhai::Array| -> RhaiResultOf<GroupChange> {
            let members = super::convert::strings(members, function)?;
            let name = name.to_string();
            Ok(if function == "drs::add" {
                GroupChange::Add { name, members }
            } else {
                GroupChange::Remove { name, members }
            })
        };
        let c = ctx.clone();
        func(verb, &["group: String", "members: Array", "Map"], doc).set_into_module(
            &mut m,
            move |name: &str, members: rhai::Array| {
                group_change(&c, &Opts::none(function), members_of(name, members)?)
            },
        );
        let c = ctx.clone();
        func(
            verb,
            &["group: String", "members: Array", "options: Map", "Map"],
            "Options: cluster, dry_run.",
        )
        .set_into_module(
            &mut m,
            move |name: &str, members: rhai::Array, opts: Map| {
                let opts = Opts::new(function, opts, &["cluster", "dry_run"])?;
                group_change(&c, &opts, members_of(name, members)?)
            },
        );
    }
    m
}

fn cluster_update(ctx: &ScriptCtx, cluster: &str, opts: Map) -> RhaiResultOf<Map> {
    let opts = Opts::new(
        "cluster::update",
        opts,
        &["drs", "drs_automation", "drs_threshold", "dry_run"],
    )?;
    let change = ClusterUpdate {
        drs: opts.opt_flag("drs")?,
        automation: opts.string("drs_automation")?,
        threshold: opts.int("drs_threshold")?,
    };
    let dry_run = opts.flag("dry_run")? || ctx.policy().dry_run;
    let (fleet, scope, cluster) = (
        ctx.fleet().clone(),
        ctx.scope().clone(),
        cluster.to_string(),
    );
    let tracker = ctx.track(&cluster);
    let (info, diff) = ctx.run(async move {
        change.validate()?;
        let target = fleet.target(&scope).await?;
        if dry_run {
            let current = clusters::info(&target, Some(&cluster)).await?;
            let diff = change.diff(&current);
            return Ok::<_, OpError>((current, diff));
        }
        clusters::update(&target, Some(&cluster), &change, &tracker).await
    })?;
    let mut m = planned(ctx, &info, &diff, dry_run);
    m.insert("changes".into(), from_serialize(&diff));
    Ok(m)
}

fn cluster_namespace(ctx: &ScriptCtx) -> Module {
    let mut m = Module::new();
    let c = ctx.clone();
    func(
        "update",
        &["cluster: String", "options: Map", "Map"],
        "Change a cluster's DRS settings, like `ceso cluster update`: only what is given changes.\nOptions: drs (true/false), drs_automation (manual, partiallyAutomated, fullyAutomated),\ndrs_threshold (1-5), dry_run. Returns the cluster as it is afterwards.",
    )
    .set_into_module(&mut m, move |cluster: &str, opts: Map| {
        cluster_update(&c, cluster, opts)
    });
    m
}
