//! `ceso rp …` (resource pools) and `ceso vm move`.

use clap::{Args, Subcommand};

use crate::ops::pools::{self, AllocationChange, Pool, PoolChange, Resource, manage};
use crate::ops::vms::{self, VmRef};
use crate::ops::{OpError, OpResult};

use super::Ctx;
use super::args::{MoveArgs, ScopeArgs};
use super::confirm::confirm;
use super::plan;
use super::progress::TermProgress;

/// How a pool is named on the command line (shared help text).
const POOL_HELP: &str = "Pool path (DC0/Cluster1/Resources/prod, or govc's /DC0/host/Cluster1/Resources/prod) or a unique name";

#[derive(Debug, Subcommand)]
pub enum RpCommand {
    /// The pool tree of each cluster and standalone host: shares, reservations, limits, VMs
    List {
        /// Only the pools of this cluster (or standalone host)
        #[arg(long)]
        cluster: Option<String>,
        #[command(flatten)]
        scope: ScopeArgs,
    },
    /// One pool: allocation, VMs and child pools
    Info {
        #[arg(help = POOL_HELP)]
        pool: String,
        #[command(flatten)]
        scope: ScopeArgs,
    },
    /// Create a pool: PATH is PARENT/NAME (a bare NAME goes under the default cluster)
    Create {
        path: String,
        #[command(flatten)]
        alloc: AllocArgs,
        /// Show the spec that would be sent and change nothing
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        scope: ScopeArgs,
    },
    /// Change a pool's allocation: only what is given changes
    Update {
        #[arg(help = POOL_HELP)]
        pool: String,
        #[command(flatten)]
        alloc: AllocArgs,
        /// Show the change and change nothing
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        scope: ScopeArgs,
    },
    /// Delete a pool; vSphere moves its VMs and child pools to the parent (asks first unless --yes)
    Delete {
        #[arg(help = POOL_HELP)]
        pool: String,
        /// Show what would happen and change nothing
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        scope: ScopeArgs,
    },
}

/// CPU (MHz) and memory (MB) allocation options.
#[derive(Debug, Clone, Default, Args)]
pub struct AllocArgs {
    /// CPU shares: low, normal, high or a number (`--cpu` too, as in the spec)
    #[arg(long, value_name = "SHARES", visible_alias = "cpu")]
    pub cpu_shares: Option<String>,
    /// Memory shares: low, normal, high or a number (`--memory` too, as in the spec)
    #[arg(long, value_name = "SHARES", visible_alias = "memory")]
    pub memory_shares: Option<String>,
    /// Guaranteed CPU, MHz
    #[arg(long, value_name = "MHZ", value_parser = crate::cli::numbers::int::<i64>(0, None))]
    pub cpu_reservation: Option<i64>,
    /// Guaranteed memory, MB
    #[arg(long, value_name = "MB", value_parser = crate::cli::numbers::int::<i64>(0, None))]
    pub memory_reservation: Option<i64>,
    /// CPU limit, MHz or `unlimited`
    #[arg(long, value_name = "MHZ")]
    pub cpu_limit: Option<String>,
    /// Memory limit, MB or `unlimited`
    #[arg(long, value_name = "MB")]
    pub memory_limit: Option<String>,
    /// Let the pool borrow unreserved CPU and memory from its parent
    #[arg(long, conflicts_with = "no_expandable")]
    pub expandable: bool,
    /// Reservations may not grow beyond the pool's own
    #[arg(long)]
    pub no_expandable: bool,
}

impl AllocArgs {
    pub fn change(&self) -> OpResult<PoolChange> {
        let expandable = match (self.expandable, self.no_expandable) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        };
        Ok(PoolChange {
            cpu: AllocationChange::from_text(
                "--cpu-",
                self.cpu_shares.as_deref(),
                self.cpu_reservation,
                self.cpu_limit.as_deref(),
                expandable,
            )?,
            memory: AllocationChange::from_text(
                "--memory-",
                self.memory_shares.as_deref(),
                self.memory_reservation,
                self.memory_limit.as_deref(),
                expandable,
            )?,
        })
    }
}

pub fn run(ctx: &Ctx, cmd: RpCommand) -> OpResult<()> {
    let fleet = &ctx.app.fleet;
    match cmd {
        RpCommand::List { cluster, scope } => {
            let all =
                ctx.app
                    .block_on(pools::list(fleet, &ctx.scope(&scope), cluster.as_deref()))?;
            list(ctx, &all);
            Ok(())
        }
        RpCommand::Info { pool, scope } => {
            let p = ctx.app.block_on(async {
                let target = fleet.target(&ctx.scope(&scope)).await?;
                pools::info(&target, &pool).await
            })?;
            info(ctx, &p);
            Ok(())
        }
        RpCommand::Create {
            path,
            alloc,
            dry_run,
            scope,
        } => {
            let change = alloc.change()?;
            let progress = TermProgress::new(ctx.out.json);
            let done = ctx.app.block_on(async {
                let target = fleet.target(&ctx.scope(&scope)).await?;
                let planned = manage::plan_create(&target, &path, &change).await?;
                if dry_run {
                    return Ok((planned, None));
                }
                let pool = pools::create(&target, &planned, &progress).await?;
                Ok::<_, OpError>((planned, Some(pool)))
            })?;
            progress.finish();
            finish(ctx, &done.0, done.1, "created")
        }
        RpCommand::Update {
            pool,
            alloc,
            dry_run,
            scope,
        } => {
            let change = alloc.change()?;
            let progress = TermProgress::new(ctx.out.json);
            let done = ctx.app.block_on(async {
                let target = fleet.target(&ctx.scope(&scope)).await?;
                let planned = manage::plan_update(&target, &pool, &change).await?;
                if dry_run {
                    return Ok((planned, None));
                }
                let pool = pools::update(&target, &planned, &change, &progress).await?;
                Ok::<_, OpError>((planned, Some(pool)))
            })?;
            progress.finish();
            finish(ctx, &done.0, done.1, "updated")
        }
        RpCommand::Delete {
            pool,
            dry_run,
            scope,
        } => {
            let target = ctx.app.block_on(fleet.target(&ctx.scope(&scope)))?;
            let planned = ctx.app.block_on(manage::plan_delete(&target, &pool))?;
            if dry_run {
                plan::dry_run(ctx, &planned.diff, &planned);
                return Ok(());
            }
            let mut question = format!("Delete resource pool {}", planned.path);
            if !planned.moved_vms.is_empty() || !planned.moved_pools.is_empty() {
                question.push_str(&format!(
                    "; its {} VM(s) and {} child pool(s) move to {}",
                    planned.moved_vms.len(),
                    planned.moved_pools.len(),
                    planned.parent
                ));
            }
            confirm(ctx.yes, &question)?;
            let progress = TermProgress::new(ctx.out.json);
            ctx.app
                .block_on(pools::delete(&target, &planned, &progress))?;
            progress.finish();
            if ctx.out.json {
                ctx.out.json(&serde_json::json!({"deleted": planned.path, "moved_to": planned.parent, "vms": planned.moved_vms, "pools": planned.moved_pools}));
            } else {
                ctx.out
                    .done(&format!("deleted resource pool {}", planned.path));
                if !planned.moved_vms.is_empty() {
                    ctx.out.done(&format!(
                        "VMs now in {}: {}",
                        planned.parent,
                        planned.moved_vms.join(", ")
                    ));
                }
                if !planned.moved_pools.is_empty() {
                    ctx.out.done(&format!(
                        "pools now in {}: {}",
                        planned.parent,
                        planned.moved_pools.join(", ")
                    ));
                }
            }
            Ok(())
        }
    }
}

fn finish(ctx: &Ctx, planned: &manage::PoolPlan, pool: Option<Pool>, verb: &str) -> OpResult<()> {
    let Some(pool) = pool else {
        plan::dry_run(ctx, &planned.diff, planned);
        return Ok(());
    };
    if ctx.out.json {
        ctx.out.json(&pool);
    } else {
        ctx.out
            .done(&format!("{verb} resource pool {} ({})", pool.path, pool.id));
        plan::sent(ctx, &planned.diff);
    }
    Ok(())
}

fn limit(l: i64) -> String {
    if l < 0 {
        "unlimited".into()
    } else {
        l.to_string()
    }
}

fn list(ctx: &Ctx, all: &[Pool]) {
    if ctx.out.json {
        ctx.out.json(all);
        return;
    }
    ctx.out.table(
        &[
            "POOL",
            "CPU SHARES",
            "CPU RES",
            "CPU LIMIT",
            "MEM SHARES",
            "MEM RES",
            "MEM LIMIT",
            "EXPANDABLE",
            "VMS",
            "POOLS",
        ],
        all.iter()
            .map(|p| {
                vec![
                    if p.depth == 0 {
                        p.path.clone()
                    } else {
                        format!("{}{}", "  ".repeat(p.depth), p.name)
                    },
                    p.cpu.shares_text(),
                    p.cpu.reservation.to_string(),
                    limit(p.cpu.limit),
                    p.memory.shares_text(),
                    p.memory.reservation.to_string(),
                    limit(p.memory.limit),
                    match (p.cpu.expandable, p.memory.expandable) {
                        (true, true) => "yes".into(),
                        (false, false) => "no".into(),
                        (c, _) => if c { "cpu" } else { "memory" }.into(),
                    },
                    p.vms.len().to_string(),
                    p.pools.len().to_string(),
                ]
            })
            .collect(),
    );
    eprintln!("CPU in MHz, memory in MB");
}

fn info(ctx: &Ctx, p: &Pool) {
    if ctx.out.json {
        ctx.out.json(p);
        return;
    }
    let alloc = |a: &pools::Allocation, r: Resource| {
        format!(
            "shares {}, reservation {} {}{}, limit {}",
            a.shares_text(),
            a.reservation,
            r.unit(),
            if a.expandable { " (expandable)" } else { "" },
            a.limit_text(r)
        )
    };
    ctx.out.fields(&[
        ("Name", p.name.clone()),
        ("Path", p.path.clone()),
        ("ID", p.id.clone()),
        ("Kind", p.kind.clone()),
        ("Owner", format!("{} ({})", p.owner, p.owner_kind)),
        ("Parent", p.parent.clone().unwrap_or_else(|| "-".into())),
        ("CPU", alloc(&p.cpu, Resource::Cpu)),
        ("Memory", alloc(&p.memory, Resource::Memory)),
        (
            "VMs",
            if p.vms.is_empty() {
                "-".into()
            } else {
                p.vms.join(", ")
            },
        ),
        (
            "Child pools",
            if p.pools.is_empty() {
                "-".into()
            } else {
                p.pools.join(", ")
            },
        ),
    ]);
}

/// `vm move VM… --resource-pool POOL`.
pub fn move_vms(ctx: &Ctx, args: MoveArgs) -> OpResult<()> {
    let scope = ctx.scope(&args.scope);
    let fleet = &ctx.app.fleet;
    let targets: Vec<VmRef> = ctx.app.block_on(async {
        let mut out: Vec<VmRef> = Vec::new();
        for name in &args.names {
            for vm in vms::find_named(fleet, &scope, name).await? {
                vms::push_unique(&mut out, vm);
            }
        }
        Ok::<_, OpError>(out)
    })?;
    let pool = args.resource_pool.as_str();
    if args.dry_run {
        let rows = ctx
            .app
            .block_on(pools::moves::plan_moves(fleet, &targets, pool))?;
        if ctx.out.json {
            ctx.out
                .json(&serde_json::json!({"dry_run": true, "moves": rows}));
        } else {
            for r in &rows {
                if r.changed {
                    println!("would move {} from {} to {}", r.vm, r.from, r.to);
                } else {
                    println!("{} is already in {}", r.vm, r.to);
                }
            }
        }
        return Ok(());
    }
    let progress = TermProgress::new(ctx.out.json);
    let results = ctx
        .app
        .block_on(pools::move_vms(fleet, &targets, pool, &progress));
    progress.finish();
    let names: Vec<String> = targets.iter().map(|v| v.name.clone()).collect();
    let (done, outcome) = crate::ops::batch::settle("moved", &names, results?, |r| r.changed);
    if ctx.out.json {
        ctx.out.json(&done);
    } else {
        for r in &done {
            if r.changed {
                ctx.out.done(&format!("{}: {} → {}", r.vm, r.from, r.to));
            } else {
                ctx.out.done(&format!("{}: already in {}", r.vm, r.to));
            }
        }
    }
    outcome
}
