//! `ceso vm clone`, `ceso vm template mark|unmark` and `ceso vm create --from-template`.

use clap::{Args, Subcommand};

use crate::ops::vms::clone::{self, ClonePlan, CloneSpec};
use crate::ops::vms::{self, VmRef};
use crate::ops::{OpResult, Scope};

use super::Ctx;
use super::args::{CreateArgs, ScopeArgs};
use super::progress::TermProgress;

#[derive(Debug, Args)]
pub struct CloneArgs {
    /// The VM or template to copy
    pub source: String,
    /// Name of the new VM
    pub name: String,
    /// ESXi host of the vCenter to put the clone on (default: the source's)
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,
    /// Datastore for the clone's files (default: the source's)
    #[arg(long, value_name = "DS")]
    pub datastore: Option<String>,
    /// Resource pool: a path (DC0/Cluster1/Resources/prod) or a unique name
    #[arg(long, value_name = "POOL")]
    pub resource_pool: Option<String>,
    /// Share the source's disks below a snapshot (only the changes are the clone's own)
    #[arg(long)]
    pub linked: bool,
    /// Clone the state of this snapshot (with --linked: its base; default the current one)
    #[arg(long, value_name = "SNAPSHOT")]
    pub snapshot: Option<String>,
    /// Power the clone on once created
    #[arg(long)]
    pub power_on: bool,
    /// Show the plan and change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// The endpoint (vCenter) from the config, when several are configured
    #[arg(long, value_name = "NAME")]
    pub endpoint: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum TemplateCommand {
    /// Make a powered-off VM a template (MarkAsTemplate)
    Mark {
        name: String,
        /// Show what would change and change nothing
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        scope: ScopeArgs,
    },
    /// Make a template a VM again (MarkAsVirtualMachine)
    Unmark {
        name: String,
        /// The pool it goes into (default: the root pool of its host's cluster)
        #[arg(long, value_name = "POOL")]
        resource_pool: Option<String>,
        /// Show what would change and change nothing
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        scope: ScopeArgs,
    },
}

impl TemplateCommand {
    pub fn dry_run_flag(&mut self) -> &mut bool {
        match self {
            TemplateCommand::Mark { dry_run, .. } | TemplateCommand::Unmark { dry_run, .. } => {
                dry_run
            }
        }
    }
}

pub fn run_clone(ctx: &Ctx, args: CloneArgs) -> OpResult<()> {
    let scope = match &args.endpoint {
        Some(name) => Scope::Named(name.clone()),
        None => ctx.scope.clone(),
    };
    let spec = CloneSpec {
        name: args.name.clone(),
        host: args.host.clone(),
        datastore: args.datastore.clone(),
        resource_pool: args.resource_pool.clone(),
        linked: args.linked,
        snapshot: args.snapshot.clone(),
        power_on: args.power_on,
    };
    let source = ctx
        .app
        .block_on(vms::find_vm(&ctx.app.fleet, &scope, &args.source))?;
    clone_and_show(ctx, &source, &spec, args.dry_run)
}

/// `vm create NAME --from-template T`: a clone of the template, on the scope's host.
pub fn create_from_template(ctx: &Ctx, args: &CreateArgs, template: &str) -> OpResult<()> {
    let scope = ctx.scope(&args.scope);
    let (source, host) = ctx.app.block_on(async {
        let target = ctx.app.fleet.target(&scope).await?;
        let on_endpoint = Scope::Named(target.endpoint.name().to_string());
        let source = vms::find_vm(&ctx.app.fleet, &on_endpoint, template).await?;
        Ok::<_, crate::ops::OpError>((source, target.host))
    })?;
    let spec = CloneSpec {
        name: args.name.clone(),
        host,
        datastore: args.datastore.clone(),
        resource_pool: args.resource_pool.clone(),
        linked: false,
        snapshot: None,
        power_on: args.power_on,
    };
    clone_and_show(ctx, &source, &spec, args.dry_run)
}

fn clone_and_show(ctx: &Ctx, source: &VmRef, spec: &CloneSpec, dry_run: bool) -> OpResult<()> {
    let progress = TermProgress::new(ctx.out.json);
    let (plan, vm) = ctx.app.block_on(async {
        let plan = clone::plan(source, spec).await?;
        if dry_run {
            return Ok((plan, None));
        }
        let vm = clone::clone(source, &plan, &progress).await?;
        Ok::<_, crate::ops::OpError>((plan, Some(vm)))
    })?;
    progress.finish();
    match vm {
        None => show_plan(ctx, &plan),
        Some(vm) => {
            if ctx.out.json {
                let info = ctx.app.block_on(vms::info(&vm))?;
                ctx.out.json(&info);
            } else {
                let linked = if plan.linked { "linked clone" } else { "clone" };
                ctx.out.done(&format!(
                    "created VM {} ({}) on {}, a {linked} of {}{}",
                    vm.name,
                    vm.moref.value,
                    vm.host,
                    plan.source,
                    if plan.power_on { ", powered on" } else { "" }
                ));
            }
        }
    }
    Ok(())
}

fn show_plan(ctx: &Ctx, plan: &ClonePlan) {
    if ctx.out.json {
        ctx.out
            .json(&serde_json::json!({"dry_run": true, "plan": plan}));
        return;
    }
    let or = |v: &Option<String>, default: &str| v.clone().unwrap_or_else(|| default.into());
    println!(
        "Would clone {} {} ({}) to {} on {}:",
        if plan.source_is_template {
            "template"
        } else {
            "VM"
        },
        plan.source,
        plan.source_id,
        plan.name,
        plan.endpoint
    );
    ctx.out.fields(&[
        ("Host", or(&plan.host, "(the source's)")),
        ("Datastore", or(&plan.datastore, "(the source's)")),
        ("Resource pool", or(&plan.resource_pool, "(the source's)")),
        (
            "Disks",
            if plan.linked {
                "linked (delta disks on the snapshot)".into()
            } else {
                "full copies".into()
            },
        ),
        ("Snapshot", or(&plan.snapshot, "(current state)")),
        ("Power on", if plan.power_on { "yes" } else { "no" }.into()),
    ]);
}

pub fn run_template(ctx: &Ctx, cmd: TemplateCommand) -> OpResult<()> {
    let (name, template, pool, dry_run, scope) = match cmd {
        TemplateCommand::Mark {
            name,
            dry_run,
            scope,
        } => (name, true, None, dry_run, scope),
        TemplateCommand::Unmark {
            name,
            resource_pool,
            dry_run,
            scope,
        } => (name, false, resource_pool, dry_run, scope),
    };
    let scope = ctx.scope(&scope);
    let change = ctx.app.block_on(async {
        let vm = vms::find_vm(&ctx.app.fleet, &scope, &name).await?;
        let change = clone::plan_template(&vm, template, pool.as_deref()).await?;
        if !dry_run {
            clone::set_template(&vm, &change).await?;
        }
        Ok::<_, crate::ops::OpError>(change)
    })?;
    if ctx.out.json {
        let mut value = serde_json::to_value(&change).unwrap_or_default();
        if dry_run {
            value["dry_run"] = true.into();
        }
        ctx.out.json(&value);
        return Ok(());
    }
    let what = if template { "a template" } else { "a VM" };
    match (change.changed, dry_run) {
        (false, _) => ctx.out.done(&format!("{}: already {what}", change.vm)),
        (true, true) => println!("would make {} {what}", change.vm),
        (true, false) => ctx.out.done(&format!(
            "{} is now {what}{}",
            change.vm,
            change
                .resource_pool
                .as_ref()
                .map(|p| format!(" in pool {p}"))
                .unwrap_or_default()
        )),
    }
    Ok(())
}
