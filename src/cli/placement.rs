//! `ceso place`, `ceso optimize …`, `ceso inventory dump` and `ceso vm balance`.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use crate::ops::placement::{self as ops, PLAN_KIND, PlanFile, PlannedMove, engine_error};
use crate::ops::{OpError, OpResult, Scope};
use crate::placement::filter::Reason;
use crate::placement::{self, Inventory, Placement, Plan, State, Vm};
use crate::script::placement_policy::{RhaiPolicy, load_policies};

use super::Ctx;
use super::args::ScopeArgs;
use super::confirm::confirm;
use super::progress::TermProgress;

/// Where the inventory comes from: the servers, or a file from `inventory dump`.
#[derive(Debug, Clone, Default, Args)]
pub struct Source {
    /// Only the hosts and VMs of this cluster
    #[arg(long)]
    pub cluster: Option<String>,
    /// Work offline on a file written by `ceso inventory dump`
    #[arg(long, value_name = "FILE")]
    pub inventory: Option<PathBuf>,
    /// A Rhai policy plugin (filter(vm, host), score(vm, host)); adds to the config's
    #[arg(long, value_name = "FILE")]
    pub policy: Vec<PathBuf>,
    #[command(flatten)]
    pub scope: ScopeArgs,
}

#[derive(Debug, Args)]
pub struct PlaceArgs {
    /// The VM: a new name (give its size) or an existing VM (its size and demand are read)
    pub name: String,
    /// vCPUs of a new VM
    #[arg(long, value_parser = crate::cli::numbers::int::<u32>(1, None))]
    pub cpus: Option<u32>,
    /// Memory of a new VM, MB
    #[arg(long, value_name = "MB", value_parser = crate::cli::numbers::int::<u64>(1, None))]
    pub memory: Option<u64>,
    /// Expected CPU demand, MHz (default: vCPUs × the host's MHz per core)
    #[arg(long, value_name = "MHZ", value_parser = crate::cli::numbers::int::<u64>(0, None))]
    pub cpu_demand: Option<u64>,
    /// Datastores the VM needs (repeat)
    #[arg(long)]
    pub datastore: Vec<String>,
    /// Networks the VM needs (repeat)
    #[arg(long)]
    pub network: Vec<String>,
    /// Passthrough devices it needs, vendor:device (repeat)
    #[arg(long)]
    pub device: Vec<String>,
    /// Show every host's reasons, not only the best hosts
    #[arg(long)]
    pub explain: bool,
    #[command(flatten)]
    pub source: Source,
}

#[derive(Debug, Subcommand)]
pub enum OptimizeCommand {
    /// Imbalance per resource, load and overcommit per host, hot/cold hosts, rule violations, stranded capacity
    Analyze {
        #[command(flatten)]
        source: Source,
    },
    /// A migration plan that lowers the imbalance (--json > plan.json for `optimize apply`)
    Recommend {
        /// Most migrations in the plan
        #[arg(long, value_name = "N", value_parser = crate::cli::numbers::int::<usize>(0, None))]
        max_moves: Option<usize>,
        #[command(flatten)]
        source: Source,
    },
    /// Run a plan (a file from `optimize recommend --json`, or a fresh one), re-checking each step
    Apply {
        /// The plan file (default: recommend one now)
        plan: Option<PathBuf>,
        #[arg(long, value_name = "N", value_parser = crate::cli::numbers::int::<usize>(0, None))]
        max_moves: Option<usize>,
        /// Check every step against the live inventory and migrate nothing
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        source: Source,
    },
}

#[derive(Debug, Subcommand)]
pub enum InventoryCommand {
    /// Write what the placement engine reads, as JSON (schema: docs/placement.md)
    Dump {
        #[arg(long)]
        cluster: Option<String>,
        #[command(flatten)]
        scope: ScopeArgs,
    },
}

/// `vm balance`: recommend + apply.
#[derive(Debug, Args)]
pub struct BalanceArgs {
    #[arg(long, value_name = "N", value_parser = crate::cli::numbers::int::<usize>(0, None))]
    pub max_moves: Option<usize>,
    /// Show the plan, checked against the inventory, and migrate nothing
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub source: Source,
}

pub fn policies(ctx: &Ctx, extra: &[PathBuf]) -> OpResult<Vec<RhaiPolicy>> {
    load_policies(&ctx.app.fleet.config, extra).map_err(engine_error)
}

/// The engine's input, live or from a file: either way narrowed to `--cluster` and
/// given the config's host groups, policies and overcommit by the same code.
fn inventory(ctx: &Ctx, source: &Source) -> OpResult<Inventory> {
    let cluster = source.cluster.as_deref();
    match &source.inventory {
        Some(path) => ops::offline(path, cluster, &ctx.app.fleet.config),
        None => Ok(ctx
            .app
            .block_on(ops::gather(&ctx.app.fleet, &scope(ctx, source), cluster))?
            .inventory),
    }
}

fn scope(ctx: &Ctx, source: &Source) -> Scope {
    ctx.scope(&source.scope)
}

pub fn place(ctx: &Ctx, args: PlaceArgs) -> OpResult<()> {
    let inv = inventory(ctx, &args.source)?;
    let policy = policies(ctx, &args.source.policy)?;
    let st = State::new(&inv).map_err(engine_error)?;
    let vm = match inv.vms.iter().find(|v| v.name == args.name) {
        Some(v) if args.cpus.is_none() && args.memory.is_none() => v.clone(),
        _ => {
            let (Some(cpus), Some(memory)) = (args.cpus, args.memory) else {
                return Err(OpError::Invalid {
                    message: format!("{} is not a VM of the inventory", args.name),
                    hint: Some("for a new VM give its size: --cpus N --memory MB".into()),
                });
            };
            Vm {
                name: args.name.clone(),
                vcpus: cpus,
                memory_mb: memory,
                powered_on: true,
                datastores: args.datastore.clone(),
                networks: args.network.clone(),
                devices: args.device.clone(),
                usage: args.cpu_demand.map(|c| placement::VmUsage {
                    cpu_mhz: c,
                    guest_memory_mb: memory,
                    host_memory_mb: memory,
                }),
                ..Default::default()
            }
        }
    };
    let p = placement::find_optimal_host(&st, &vm, &policy).map_err(engine_error)?;
    render_placement(ctx, &p, args.explain);
    if p.ranked.is_empty() {
        return Err(OpError::refused(
            format!("no host can take {}", vm.name),
            "see the reasons above (--explain); free capacity or relax the rules",
        ));
    }
    Ok(())
}

fn reasons_text(reasons: &[Reason]) -> String {
    reasons
        .iter()
        .map(|r| r.message.as_str())
        .collect::<Vec<_>>()
        .join("; ")
}

pub fn render_placement(ctx: &Ctx, p: &Placement, explain: bool) {
    if ctx.out.json {
        ctx.out.json(p);
        return;
    }
    let shown = if explain {
        p.ranked.len()
    } else {
        p.ranked.len().min(5)
    };
    let rows = p.ranked[..shown]
        .iter()
        .map(|r| {
            vec![
                r.host.clone(),
                format!("{:.1}", r.score),
                format!("{:.0}%", r.cpu_load_after * 100.0),
                format!("{:.0}%", r.memory_load_after * 100.0),
                if r.policy_score != 0.0 {
                    format!("policy {:+.1}", r.policy_score)
                } else {
                    String::new()
                } + &*r
                    .soft_rules_broken
                    .iter()
                    .map(|s| format!(" soft: {s}"))
                    .collect::<String>(),
            ]
        })
        .collect();
    ctx.out
        .table(&["HOST", "SCORE", "CPU AFTER", "MEM AFTER", "NOTES"], rows);
    if let Some(d) = p.demand {
        println!(
            "{}: demand {:.0} MHz, {:.0} MB ({})",
            p.vm,
            d.cpu_mhz,
            d.memory_mb,
            match d.source {
                placement::demand::Source::QuickStats => "from quickStats",
                placement::demand::Source::Configured => "configured size: no quickStats",
            }
        );
    }
    if explain {
        for r in &p.rejected {
            println!("not {}: {}", r.host, reasons_text(&r.reasons));
        }
    } else if !p.rejected.is_empty() {
        println!(
            "{} host(s) cannot take it (--explain says why)",
            p.rejected.len()
        );
    }
}

pub fn optimize(ctx: &Ctx, cmd: OptimizeCommand) -> OpResult<()> {
    match cmd {
        OptimizeCommand::Analyze { source } => {
            let inv = inventory(ctx, &source)?;
            let st = State::new(&inv).map_err(engine_error)?;
            let a = placement::analyze(&st);
            if ctx.out.json {
                ctx.out.json(&a);
                return Ok(());
            }
            let rows = a
                .per_host
                .iter()
                .map(|h| {
                    vec![
                        h.host.clone(),
                        h.cluster.clone(),
                        h.vms.to_string(),
                        format!("{:.0}%", h.cpu_load * 100.0),
                        format!("{:.0}%", h.memory_load * 100.0),
                        format!("{:.2}", h.cpu_overcommit),
                        format!("{:.2}", h.memory_overcommit),
                        if !h.eligible {
                            "out of service".into()
                        } else if a.hot.contains(&h.host) {
                            "hot".into()
                        } else if a.cold.contains(&h.host) {
                            "cold".into()
                        } else {
                            String::new()
                        },
                    ]
                })
                .collect();
            ctx.out.table(
                &[
                    "HOST", "CLUSTER", "VMS", "CPU", "MEM", "CPU OC", "MEM OC", "STATE",
                ],
                rows,
            );
            // Per cluster: VMs never move between clusters, so their imbalances
            // are never pooled into one figure.
            for c in &a.clusters {
                println!(
                    "imbalance of {}: cpu {:.4}, memory {:.4}, total {:.4}{} ({} host(s))",
                    c.cluster,
                    c.imbalance.cpu,
                    c.imbalance.memory,
                    c.imbalance.total,
                    c.lower_bound
                        .map(|b| format!(", lowest reachable ≥ {:.4}", b.total))
                        .unwrap_or_default(),
                    c.hosts
                );
            }
            println!(
                "stranded: {:.0} MHz CPU, {:.0} MB memory; demand: {} VMs from quickStats, {} configured, {} powered off",
                a.stranded.cpu_mhz,
                a.stranded.memory_mb,
                a.demand.quick_stats,
                a.demand.configured,
                a.demand.powered_off
            );
            for v in &a.violations {
                println!(
                    "{} rule broken: {} on {}: {}",
                    if v.mandatory { "hard" } else { "soft" },
                    v.vm,
                    v.host,
                    v.message
                );
            }
            Ok(())
        }
        OptimizeCommand::Recommend { max_moves, source } => {
            let plan = recommend(ctx, &source, max_moves)?;
            render_plan(ctx, &plan, source.cluster.as_deref());
            Ok(())
        }
        OptimizeCommand::Apply {
            plan,
            max_moves,
            dry_run,
            source,
        } => {
            let moves = match plan {
                Some(path) => read_plan(&path)?.moves,
                None => to_moves(&recommend(ctx, &source, max_moves)?),
            };
            run_apply(ctx, &source, &moves, dry_run)
        }
    }
}

pub fn balance(ctx: &Ctx, args: BalanceArgs) -> OpResult<()> {
    let plan = recommend(ctx, &args.source, args.max_moves)?;
    if !ctx.out.json {
        render_plan(ctx, &plan, args.source.cluster.as_deref());
    }
    run_apply(ctx, &args.source, &to_moves(&plan), args.dry_run)
}

pub fn dump(ctx: &Ctx, cmd: InventoryCommand) -> OpResult<()> {
    let InventoryCommand::Dump { cluster, scope } = cmd;
    // What the servers say: the config is applied when the file is used.
    let g = ctx.app.block_on(ops::gather_servers(
        &ctx.app.fleet,
        &ctx.scope(&scope),
        cluster.as_deref(),
    ))?;
    // Always JSON: it is the engine's input file.
    println!(
        "{}",
        serde_json::to_string_pretty(&g.inventory)
            .map_err(|e| OpError::invalid(format!("inventory as JSON: {e}")))?
    );
    Ok(())
}

/// `phase4.optimization.enabled: false` turns migration planning off (analysis and
/// placement stay available).
fn require_enabled(ctx: &Ctx) -> OpResult<()> {
    if ctx.app.fleet.config.optimization_enabled() {
        return Ok(());
    }
    Err(OpError::refused(
        "optimization is disabled in the config (phase4.optimization.enabled: false)",
        "set phase4.optimization.enabled: true to plan or run migrations",
    ))
}

fn recommend(ctx: &Ctx, source: &Source, max_moves: Option<usize>) -> OpResult<Plan> {
    require_enabled(ctx)?;
    let inv = inventory(ctx, source)?;
    let policy = policies(ctx, &source.policy)?;
    let options = ops::balance_options(&ctx.app.fleet.config, max_moves);
    placement::recommend_migrations(&inv, options, &policy).map_err(engine_error)
}

fn to_moves(plan: &Plan) -> Vec<PlannedMove> {
    plan.moves
        .iter()
        .map(|m| PlannedMove {
            vm: m.vm.clone(),
            from: m.from.clone(),
            to: m.to.clone(),
            gain: m.gain,
        })
        .collect()
}

fn render_plan(ctx: &Ctx, plan: &Plan, cluster: Option<&str>) {
    if ctx.out.json {
        let file = PlanFile {
            kind: PLAN_KIND.into(),
            cluster: cluster.map(str::to_string),
            moves: to_moves(plan),
        };
        ctx.out.json(&serde_json::json!({
            "kind": file.kind,
            "cluster": file.cluster,
            "moves": file.moves,
            "before": plan.before,
            "after": plan.after,
            "clusters": plan.clusters,
            "stopped": plan.stopped,
            "migration_cost": plan.migration_cost,
            "move_threshold": plan.move_threshold,
            "demand": plan.demand,
        }));
        return;
    }
    let rows = plan
        .moves
        .iter()
        .enumerate()
        .map(|(i, m)| {
            vec![
                (i + 1).to_string(),
                m.vm.clone(),
                m.from.clone(),
                m.to.clone(),
                format!("{:.0} MHz / {:.0} MB", m.cpu_mhz, m.memory_mb),
                format!("{:.4}", m.gain),
                format!("{:.4}", m.imbalance_after.total),
            ]
        })
        .collect();
    ctx.out.table(
        &["#", "VM", "FROM", "TO", "DEMAND", "GAIN", "IMBALANCE AFTER"],
        rows,
    );
    let cut = if plan.before.total > 0.0 {
        100.0 * (plan.before.total - plan.after.total) / plan.before.total
    } else {
        0.0
    };
    for c in &plan.clusters {
        println!(
            "imbalance of {}: {:.4} → {:.4} with {} migration(s)",
            c.cluster, c.before.total, c.after.total, c.moves
        );
    }
    println!(
        "all clusters pooled: imbalance {:.4} → {:.4} ({cut:.1} % lower) with {} migration(s); stopped: {}",
        plan.before.total,
        plan.after.total,
        plan.moves.len(),
        plan.stopped
    );
}

fn read_plan(path: &Path) -> OpResult<PlanFile> {
    let text = std::fs::read_to_string(path).map_err(|e| OpError::Invalid {
        message: format!("cannot read {}: {e}", path.display()),
        hint: Some("give the file written by `ceso optimize recommend --json > plan.json`".into()),
    })?;
    let plan: PlanFile = serde_json::from_str(&text).map_err(|e| OpError::Invalid {
        message: format!(
            "{}:{}:{}: not a plan: {e}",
            path.display(),
            e.line(),
            e.column()
        ),
        hint: Some("write it with `ceso optimize recommend --json > plan.json`".into()),
    })?;
    if plan.kind != PLAN_KIND {
        return Err(OpError::Invalid {
            message: format!(
                "{}: kind is '{}', not '{PLAN_KIND}'",
                path.display(),
                plan.kind
            ),
            hint: Some("write it with `ceso optimize recommend --json > plan.json`".into()),
        });
    }
    Ok(plan)
}

fn run_apply(ctx: &Ctx, source: &Source, moves: &[PlannedMove], dry_run: bool) -> OpResult<()> {
    if source.inventory.is_some() {
        return Err(OpError::Invalid {
            message: "a plan is applied to the live inventory, not to a file".into(),
            hint: Some("drop --inventory".into()),
        });
    }
    require_enabled(ctx)?;
    if moves.is_empty() {
        if ctx.out.json {
            ctx.out
                .json(&serde_json::json!({"steps": [], "complete": true}));
        } else {
            println!("nothing to migrate: the plan is empty");
        }
        return Ok(());
    }
    // `optimization.auto_balance: true` is the operator's standing consent to move VMs.
    if !dry_run && !ctx.app.fleet.config.optimization().auto_balance {
        confirm(ctx.yes, &format!("Migrate {} VM(s)", moves.len()))?;
    }
    let policy = policies(ctx, &source.policy)?;
    let progress = TermProgress::new(ctx.out.json);
    let (report, failure) = ctx.app.block_on(ops::apply(
        &ctx.app.fleet,
        &scope(ctx, source),
        source.cluster.as_deref(),
        moves,
        &policy,
        dry_run,
        &progress,
    ))?;
    if ctx.out.json {
        ctx.out.json(&report);
    } else {
        for s in &report.steps {
            let what = match s.outcome {
                ops::StepOutcome::Migrated => "migrated",
                ops::StepOutcome::WouldMigrate => "would migrate",
                ops::StepOutcome::Stopped => "stopped at",
                ops::StepOutcome::Failed => "FAILED",
            };
            println!(
                "{what} {} {} → {}{}",
                s.vm,
                s.from,
                s.to,
                s.reason
                    .as_ref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            );
        }
        println!(
            "imbalance {:.4} → {:.4}{}",
            report.imbalance_before,
            report.imbalance_after,
            if dry_run {
                " (dry run: nothing was migrated)"
            } else {
                ""
            }
        );
    }
    if let Some(e) = failure {
        let done = report
            .steps
            .iter()
            .filter(|s| matches!(s.outcome, ops::StepOutcome::Migrated))
            .count();
        let message = format!(
            "the plan stopped at a failed migration after {done} of {} step(s) had run (they stay done): {e}",
            moves.len()
        );
        return Err(e.context(
            message,
            Some(
                "run `ceso optimize recommend` again for a plan of the inventory as it is now"
                    .into(),
            ),
        ));
    }
    if !report.complete {
        return Err(OpError::refused(
            "the plan was stopped: the inventory no longer matches it",
            "run `ceso optimize recommend` again for a plan of the inventory as it is now",
        ));
    }
    Ok(())
}
