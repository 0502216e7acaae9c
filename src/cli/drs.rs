//! `ceso drs …`: groups, rules, check, recommendations.

use clap::{ArgGroup, Args, Subcommand};

use crate::ops::clusters::ClusterRef;
use crate::ops::drs::groups::{self, GroupChange};
use crate::ops::drs::rules::{self, NewRule, RuleSpec};
use crate::ops::drs::{self, GroupKind, RuleKind, Snapshot, recommendations};
use crate::ops::{OpError, OpResult, Target, vms};

use super::Ctx;
use super::args::ScopeArgs;
use super::confirm::confirm;
use super::plan;
use super::progress::TermProgress;

/// Which cluster (default: vcenter.cluster in the config, or the only one).
#[derive(Debug, Clone, Default, Args)]
pub struct ClusterArg {
    /// Cluster name (default: vcenter.cluster in the config, or the only cluster)
    #[arg(long)]
    pub cluster: Option<String>,
    #[command(flatten)]
    pub scope: ScopeArgs,
}

#[derive(Debug, Subcommand)]
pub enum DrsCommand {
    /// VM groups and host groups
    #[command(subcommand)]
    Group(GroupCommand),
    /// Affinity, anti-affinity and VM-Host rules
    #[command(subcommand)]
    Rule(RuleCommand),
    /// Contradictions in the rule set, missing VMs/hosts/groups, and current violations
    Check {
        cluster: Option<String>,
        #[command(flatten)]
        scope: ScopeArgs,
    },
    /// DRS's own pending recommendations (or, with --vm, the hosts it would pick for a VM)
    Recommendations {
        cluster: Option<String>,
        /// Ask RecommendHostsForVm for this VM
        #[arg(long)]
        vm: Option<String>,
        #[command(flatten)]
        scope: ScopeArgs,
    },
    /// Apply pending recommendations by key (see `drs recommendations`)
    Apply {
        #[arg(required = true)]
        keys: Vec<String>,
        /// Show what would be applied and change nothing
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        cluster: ClusterArg,
    },
}

#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// Groups with their members
    List {
        #[command(flatten)]
        cluster: ClusterArg,
    },
    /// Create a VM group (--vms) or a host group (--hosts)
    #[command(group(ArgGroup::new("members").required(true).args(["vms", "hosts"])))]
    Create {
        name: String,
        /// VM names or globs, comma-separated or repeated ('web-*')
        #[arg(long, num_args = 1.., value_delimiter = ',')]
        vms: Vec<String>,
        /// Host names, comma-separated or repeated
        #[arg(long, num_args = 1.., value_delimiter = ',')]
        hosts: Vec<String>,
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        cluster: ClusterArg,
    },
    /// Delete a group (asks first unless --yes; refused while a rule uses it)
    Delete {
        name: String,
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        cluster: ClusterArg,
    },
    /// Add members (VM or host names, globs) to a group
    Add {
        name: String,
        #[arg(required = true, value_delimiter = ',')]
        members: Vec<String>,
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        cluster: ClusterArg,
    },
    /// Remove members from a group
    Remove {
        name: String,
        #[arg(required = true, value_delimiter = ',')]
        members: Vec<String>,
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        cluster: ClusterArg,
    },
}

#[derive(Debug, Subcommand)]
pub enum RuleCommand {
    /// Rules: type, VMs or groups, enabled, mandatory
    List {
        #[command(flatten)]
        cluster: ClusterArg,
    },
    /// Create a rule: --keep-together A,B | --separate A,B,C | --vm-group G --host-group H (--must|--should) [--not]
    #[command(group(ArgGroup::new("kind").required(true).args(["keep_together", "separate", "vm_group"])))]
    Create {
        name: String,
        /// VM-VM affinity: these VMs run on one host
        #[arg(long, value_name = "VMS", value_delimiter = ',')]
        keep_together: Vec<String>,
        /// VM-VM anti-affinity: these VMs run on different hosts
        #[arg(long, value_name = "VMS", value_delimiter = ',')]
        separate: Vec<String>,
        /// VM-Host rule: the VM group
        #[arg(long, requires = "host_group")]
        vm_group: Option<String>,
        /// VM-Host rule: the host group
        #[arg(long, requires = "vm_group")]
        host_group: Option<String>,
        /// VM-Host: a requirement DRS and HA never break
        #[arg(long, conflicts_with = "should", requires = "vm_group")]
        must: bool,
        /// VM-Host: a preference DRS may break when it must
        #[arg(long, requires = "vm_group")]
        should: bool,
        /// VM-Host: must/should NOT run on the host group
        #[arg(long, requires = "vm_group")]
        not: bool,
        /// VM-VM rules: mandatory (never broken, even by HA)
        #[arg(long, conflicts_with = "vm_group")]
        mandatory: bool,
        /// Create it disabled
        #[arg(long)]
        disabled: bool,
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        cluster: ClusterArg,
    },
    /// Delete a rule (asks first unless --yes)
    Delete {
        /// Rule name or key
        name: String,
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        cluster: ClusterArg,
    },
    /// Enable a rule
    Enable {
        name: String,
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        cluster: ClusterArg,
    },
    /// Disable a rule
    Disable {
        name: String,
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        cluster: ClusterArg,
    },
}

fn load(
    ctx: &Ctx,
    cluster: Option<&str>,
    scope: &ScopeArgs,
) -> OpResult<(Target, ClusterRef, Snapshot)> {
    ctx.app.block_on(async {
        let target = ctx.app.fleet.target(&ctx.scope(scope)).await?;
        let (cluster, snapshot) = drs::load(&target, cluster).await?;
        Ok((target, cluster, snapshot))
    })
}

pub fn run(ctx: &Ctx, cmd: DrsCommand) -> OpResult<()> {
    match cmd {
        DrsCommand::Group(cmd) => group(ctx, cmd),
        DrsCommand::Rule(cmd) => rule(ctx, cmd),
        DrsCommand::Check { cluster, scope } => check(ctx, cluster.as_deref(), &scope),
        DrsCommand::Recommendations { cluster, vm, scope } => {
            recommend(ctx, cluster.as_deref(), vm.as_deref(), &scope)
        }
        DrsCommand::Apply {
            keys,
            dry_run,
            cluster,
        } => apply(ctx, &keys, dry_run, &cluster),
    }
}

fn group(ctx: &Ctx, cmd: GroupCommand) -> OpResult<()> {
    let (change, dry_run, cluster) = match cmd {
        GroupCommand::List { cluster } => {
            let (_, _, s) = load(ctx, cluster.cluster.as_deref(), &cluster.scope)?;
            return list_groups(ctx, &s);
        }
        GroupCommand::Create {
            name,
            vms,
            hosts,
            dry_run,
            cluster,
        } => {
            let (kind, members) = if vms.is_empty() {
                (GroupKind::Host, hosts)
            } else {
                (GroupKind::Vm, vms)
            };
            (
                GroupChange::Create {
                    name,
                    kind,
                    members,
                },
                dry_run,
                cluster,
            )
        }
        GroupCommand::Delete {
            name,
            dry_run,
            cluster,
        } => (GroupChange::Delete { name }, dry_run, cluster),
        GroupCommand::Add {
            name,
            members,
            dry_run,
            cluster,
        } => (GroupChange::Add { name, members }, dry_run, cluster),
        GroupCommand::Remove {
            name,
            members,
            dry_run,
            cluster,
        } => (GroupChange::Remove { name, members }, dry_run, cluster),
    };
    let (_, cref, s) = load(ctx, cluster.cluster.as_deref(), &cluster.scope)?;
    let planned = groups::plan(&s, &change)?;
    if dry_run {
        plan::dry_run(ctx, &planned.diff, &planned);
        return Ok(());
    }
    if planned.operation == "remove" {
        confirm(
            ctx.yes,
            &format!(
                "Delete {} group '{}' of {}",
                planned.group.kind.label(),
                planned.group.name,
                cref.name
            ),
        )?;
    }
    let progress = TermProgress::new(ctx.out.json);
    ctx.app
        .block_on(groups::apply(&cref, &planned, &progress))?;
    progress.finish();
    if ctx.out.json {
        ctx.out.json(&planned);
    } else {
        let verb = match planned.operation {
            "add" => "created",
            "remove" => "deleted",
            _ => "changed",
        };
        ctx.out.done(&format!(
            "{verb} {} group '{}' on {}",
            planned.group.kind.label(),
            planned.group.name,
            cref.name
        ));
        plan::sent(ctx, &planned.diff);
    }
    Ok(())
}

fn list_groups(ctx: &Ctx, s: &Snapshot) -> OpResult<()> {
    let rows: Vec<serde_json::Value> = s
        .groups
        .iter()
        .map(|g| {
            serde_json::json!({
                "name": g.name,
                "kind": g.kind,
                "members": s.member_names(g),
                "ids": g.members,
                "rules": s.rules_using(&g.name).iter().map(|r| r.name.clone()).collect::<Vec<_>>(),
            })
        })
        .collect();
    if ctx.out.json {
        ctx.out.json(&rows);
        return Ok(());
    }
    if s.groups.is_empty() {
        eprintln!("{} has no DRS groups", s.cluster);
        return Ok(());
    }
    ctx.out.table(
        &["GROUP", "KIND", "MEMBERS", "USED BY"],
        s.groups
            .iter()
            .map(|g| {
                vec![
                    g.name.clone(),
                    g.kind.label().to_string(),
                    s.member_names(g).join(", "),
                    s.rules_using(&g.name)
                        .iter()
                        .map(|r| r.name.clone())
                        .collect::<Vec<_>>()
                        .join(", "),
                ]
            })
            .collect(),
    );
    Ok(())
}

fn rule(ctx: &Ctx, cmd: RuleCommand) -> OpResult<()> {
    let (cluster, dry_run) = match &cmd {
        RuleCommand::List { cluster } => {
            let (_, _, s) = load(ctx, cluster.cluster.as_deref(), &cluster.scope)?;
            return list_rules(ctx, &s);
        }
        RuleCommand::Create {
            cluster, dry_run, ..
        }
        | RuleCommand::Delete {
            cluster, dry_run, ..
        }
        | RuleCommand::Enable {
            cluster, dry_run, ..
        }
        | RuleCommand::Disable {
            cluster, dry_run, ..
        } => (cluster.clone(), *dry_run),
    };
    let (_, cref, s) = load(ctx, cluster.cluster.as_deref(), &cluster.scope)?;
    let planned = match cmd {
        RuleCommand::Create {
            name,
            keep_together,
            separate,
            vm_group,
            host_group,
            must,
            should: _,
            not,
            mandatory,
            disabled,
            ..
        } => {
            let rule = if !keep_together.is_empty() {
                NewRule::KeepTogether(keep_together)
            } else if !separate.is_empty() {
                NewRule::Separate(separate)
            } else {
                NewRule::VmHost {
                    vm_group: vm_group.unwrap_or_default(),
                    host_group: host_group.unwrap_or_default(),
                    must,
                    not,
                }
            };
            rules::plan_create(
                &s,
                &RuleSpec {
                    name,
                    rule,
                    enabled: !disabled,
                    mandatory,
                },
            )?
        }
        RuleCommand::Delete { name, .. } => rules::plan_delete(&s, &name)?,
        RuleCommand::Enable { name, .. } => rules::plan_enable(&s, &name, true)?,
        RuleCommand::Disable { name, .. } => rules::plan_enable(&s, &name, false)?,
        RuleCommand::List { .. } => return Ok(()),
    };
    if dry_run {
        plan::dry_run(ctx, &planned.diff, &planned);
        return Ok(());
    }
    if planned.operation == "remove" {
        confirm(
            ctx.yes,
            &format!("Delete DRS rule '{}' of {}", planned.rule.name, cref.name),
        )?;
    }
    let progress = TermProgress::new(ctx.out.json);
    ctx.app.block_on(rules::apply(&cref, &planned, &progress))?;
    progress.finish();
    // Read it back: the server assigns the key.
    let after = if planned.operation == "remove" {
        None
    } else {
        let (_, _, s) = load(ctx, Some(&cref.moref.value), &cluster.scope)?;
        s.rule(&planned.rule.name).cloned()
    };
    if ctx.out.json {
        ctx.out.json(&serde_json::json!({
            "cluster": cref.name,
            "operation": planned.operation,
            "rule": after.as_ref().unwrap_or(&planned.rule),
            "vms": planned.vms,
        }));
    } else {
        let verb = match planned.operation {
            "add" => "created",
            "remove" => "deleted",
            _ if planned.rule.enabled => "enabled",
            _ => "disabled",
        };
        let key = after.as_ref().map_or(planned.rule.key, |r| r.key);
        ctx.out.done(&format!(
            "{verb} DRS rule '{}' (key {key}) on {}",
            planned.rule.name, cref.name
        ));
        plan::sent(ctx, &planned.diff);
    }
    Ok(())
}

/// A rule as `drs rule list` shows it, with names for ids.
fn rule_row(s: &Snapshot, r: &drs::Rule) -> serde_json::Value {
    let (vms, vm_group, host_group) = match &r.kind {
        RuleKind::KeepTogether { vms } | RuleKind::Separate { vms } => (
            vms.iter().map(|v| s.vm_name(v)).collect::<Vec<_>>(),
            None,
            None,
        ),
        RuleKind::VmHost {
            vm_group,
            host_group,
            ..
        } => (Vec::new(), Some(vm_group.clone()), Some(host_group.clone())),
    };
    serde_json::json!({
        "key": r.key,
        "name": r.name,
        "type": r.kind.label(),
        "enabled": r.enabled,
        "mandatory": r.mandatory,
        "placement": r.placement(),
        "vms": vms,
        "vm_group": vm_group,
        "host_group": host_group,
        "uuid": r.uuid,
    })
}

fn list_rules(ctx: &Ctx, s: &Snapshot) -> OpResult<()> {
    let rows: Vec<serde_json::Value> = s.rules.iter().map(|r| rule_row(s, r)).collect();
    if ctx.out.json {
        ctx.out.json(&rows);
        return Ok(());
    }
    if s.rules.is_empty() {
        eprintln!("{} has no DRS rules", s.cluster);
        return Ok(());
    }
    ctx.out.table(
        &["KEY", "RULE", "TYPE", "ENABLED", "MANDATORY", "APPLIES TO"],
        s.rules
            .iter()
            .map(|r| {
                vec![
                    r.key.to_string(),
                    r.name.clone(),
                    r.kind.label().to_string(),
                    if r.enabled { "yes" } else { "no" }.into(),
                    if r.mandatory { "yes" } else { "no" }.into(),
                    match &r.kind {
                        RuleKind::KeepTogether { vms } | RuleKind::Separate { vms } => vms
                            .iter()
                            .map(|v| s.vm_name(v))
                            .collect::<Vec<_>>()
                            .join(", "),
                        RuleKind::VmHost {
                            vm_group,
                            host_group,
                            ..
                        } => format!("{vm_group} {} {host_group}", r.placement()),
                    },
                ]
            })
            .collect(),
    );
    Ok(())
}

fn check(ctx: &Ctx, cluster: Option<&str>, scope: &ScopeArgs) -> OpResult<()> {
    let report = ctx.app.block_on(async {
        let target = ctx.app.fleet.target(&ctx.scope(scope)).await?;
        drs::check_cluster(&target, cluster).await
    })?;
    if ctx.out.json {
        ctx.out.json(&report);
    } else {
        for f in &report.findings {
            println!("{:<13} {}", f.kind.label(), f.message);
        }
    }
    if report.ok {
        ctx.out.done(&format!(
            "{}: {} rule(s) and {} group(s), no contradictions or violations",
            report.cluster, report.rules, report.groups
        ));
        return Ok(());
    }
    let count = |k: drs::FindingKind| report.findings.iter().filter(|f| f.kind == k).count();
    Err(OpError::Io(format!(
        "drs check found {} contradiction(s), {} violation(s) and {} missing reference(s) in {}",
        count(drs::FindingKind::Contradiction),
        count(drs::FindingKind::Violation),
        count(drs::FindingKind::Missing),
        report.cluster
    )))
}

fn recommend(
    ctx: &Ctx,
    cluster: Option<&str>,
    vm: Option<&str>,
    scope: &ScopeArgs,
) -> OpResult<()> {
    let (_, cref, _) = load(ctx, cluster, scope)?;
    if let Some(vm) = vm {
        let hosts = ctx.app.block_on(async {
            let vm = vms::find_vm(&ctx.app.fleet, &ctx.scope(scope), vm).await?;
            recommendations::hosts_for_vm(&cref, &vm).await
        })?;
        if ctx.out.json {
            ctx.out.json(&hosts);
        } else {
            ctx.out.table(
                &["HOST", "RATING"],
                hosts
                    .iter()
                    .map(|h| vec![h.host.clone(), h.rating.to_string()])
                    .collect(),
            );
        }
        return Ok(());
    }
    let all = ctx.app.block_on(recommendations::list(&cref))?;
    if ctx.out.json {
        ctx.out.json(&all);
        return Ok(());
    }
    if all.is_empty() {
        eprintln!(
            "DRS has no pending recommendations for {} (a fully automated cluster applies its own)",
            cref.name
        );
        return Ok(());
    }
    ctx.out.table(
        &["KEY", "RATING", "REASON", "ACTIONS"],
        all.iter()
            .map(|r| {
                vec![
                    r.key.clone(),
                    r.rating.to_string(),
                    r.reason.clone(),
                    r.actions.join("; "),
                ]
            })
            .collect(),
    );
    Ok(())
}

fn apply(ctx: &Ctx, keys: &[String], dry_run: bool, cluster: &ClusterArg) -> OpResult<()> {
    let (_, cref, _) = load(ctx, cluster.cluster.as_deref(), &cluster.scope)?;
    let pending = ctx.app.block_on(recommendations::list(&cref))?;
    let mut chosen = Vec::new();
    for key in keys {
        let Some(r) = pending.iter().find(|r| &r.key == key) else {
            return Err(OpError::NotFound {
                kind: "DRS recommendation",
                name: key.clone(),
                suggestions: pending.iter().map(|r| r.key.clone()).collect(),
            });
        };
        chosen.push(r.clone());
    }
    if dry_run {
        if ctx.out.json {
            ctx.out
                .json(&serde_json::json!({"dry_run": true, "apply": chosen}));
        } else {
            for r in &chosen {
                println!("would apply {}: {}", r.key, r.actions.join("; "));
            }
        }
        return Ok(());
    }
    for (i, r) in chosen.iter().enumerate() {
        if let Err(e) = ctx.app.block_on(recommendations::apply(&cref, &r.key)) {
            // Those applied before stay applied: then this is a partial failure (7).
            // "recommendation 2", not "2": a bare number may occur in the error's text.
            let names: Vec<String> = chosen
                .iter()
                .map(|r| format!("recommendation {}", r.key))
                .collect();
            let mut results: Vec<OpResult<()>> = (0..i).map(|_| Ok(())).collect();
            results.push(Err(e));
            results.extend(
                chosen[i + 1..]
                    .iter()
                    .map(|_| Err(OpError::invalid("not tried after the failure before it"))),
            );
            return crate::ops::batch::settle("applied", &names, results, |_| true).1;
        }
        ctx.out
            .done(&format!("applied {}: {}", r.key, r.actions.join("; ")));
    }
    if ctx.out.json {
        ctx.out.json(&chosen);
    }
    Ok(())
}
