//! `ceso vm import FILE.ovf|ova` and `ceso vm export VM DIR [--ova]`.

use std::path::PathBuf;

use clap::Args;

use crate::ops::ovf::{self, ImportSpec};
use crate::ops::vms;
use crate::ops::{OpError, OpResult};

use super::Ctx;
use super::args::ScopeArgs;
use super::progress::TermProgress;
use super::render::mb;

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// An OVF descriptor (its files beside it) or an OVA package
    pub file: PathBuf,
    /// Name of the new VM (default: the descriptor's)
    #[arg(long)]
    pub name: Option<String>,
    /// Connect an OVF network to one of yours, OVF=NETWORK (comma-separated or repeated)
    #[arg(long, value_name = "OVF=NETWORK", value_delimiter = ',')]
    pub network_map: Vec<String>,
    #[arg(long, value_name = "DS")]
    pub datastore: Option<String>,
    /// Resource pool: a path (DC0/Cluster1/Resources/prod) or a unique name
    #[arg(long, value_name = "POOL")]
    pub resource_pool: Option<String>,
    /// Power the VM on once imported
    #[arg(long)]
    pub power_on: bool,
    /// Check the package and show the plan; change nothing
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub scope: ScopeArgs,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// A powered-off VM
    pub vm: String,
    /// Directory to write the package into (created when missing)
    pub dir: PathBuf,
    /// One .ova file instead of .ovf, .mf and the disks
    #[arg(long)]
    pub ova: bool,
    /// Show what would be written and change nothing
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub scope: ScopeArgs,
}

/// `OLD=NEW` pairs.
fn network_map(items: &[String]) -> OpResult<Vec<(String, String)>> {
    items
        .iter()
        .map(|item| {
            item.split_once('=')
                .filter(|(a, b)| !a.is_empty() && !b.is_empty())
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .ok_or_else(|| OpError::Invalid {
                    message: format!("--network-map '{item}' is not OVF=NETWORK"),
                    hint: Some("e.g. --network-map 'VM Network=prod'".into()),
                })
        })
        .collect()
}

pub fn import(ctx: &Ctx, args: ImportArgs) -> OpResult<()> {
    let scope = ctx.scope(&args.scope);
    let spec = ImportSpec {
        file: args.file.clone(),
        name: args.name.clone(),
        network_map: network_map(&args.network_map)?,
        datastore: args.datastore.clone(),
        resource_pool: args.resource_pool.clone(),
        power_on: args.power_on,
    };
    let progress = TermProgress::new(ctx.out.json);
    let (plan, vm) = ctx.app.block_on(async {
        let plan = ovf::import::plan(&ctx.app.fleet, &scope, &spec).await?;
        if args.dry_run {
            return Ok((plan, None));
        }
        let vm = ovf::import(&plan, &progress).await?;
        Ok::<_, OpError>((plan, Some(vm)))
    })?;
    progress.finish();
    let Some(vm) = vm else {
        if ctx.out.json {
            ctx.out
                .json(&serde_json::json!({"dry_run": true, "plan": plan}));
            return Ok(());
        }
        println!(
            "Would import {} as VM {} on {}:",
            plan.file, plan.name, plan.endpoint
        );
        ctx.out.fields(&[
            ("Datacenter", plan.datacenter.clone()),
            ("Host", super::render::planned_host(&plan.host)),
            ("Resource pool", plan.resource_pool.clone()),
            ("Datastore", plan.datastore.clone()),
            (
                "Networks",
                plan.networks
                    .iter()
                    .map(|n| format!("{} → {}", n.ovf, n.network))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
        ]);
        for f in &plan.files {
            println!(
                "  upload {} ({}){}",
                f.name,
                mb(i64::try_from(f.size >> 20).unwrap_or(i64::MAX)),
                if f.in_manifest {
                    ", checked against the manifest"
                } else {
                    ""
                }
            );
        }
        return Ok(());
    };
    if ctx.out.json {
        let info = ctx.app.block_on(vms::info(&vm))?;
        ctx.out.json(&info);
    } else {
        ctx.out.done(&format!(
            "imported {} as VM {} ({}) on {}",
            plan.file, vm.name, vm.moref.value, vm.host
        ));
    }
    Ok(())
}

pub fn export(ctx: &Ctx, args: ExportArgs) -> OpResult<()> {
    let scope = ctx.scope(&args.scope);
    let progress = TermProgress::new(ctx.out.json);
    let (plan, result) = ctx.app.block_on(async {
        let vm = vms::find_vm(&ctx.app.fleet, &scope, &args.vm).await?;
        let plan = ovf::export::plan(&vm, &args.dir, args.ova).await?;
        if args.dry_run {
            return Ok((plan, None));
        }
        let result = ovf::export(&vm, &plan, &progress).await?;
        Ok::<_, OpError>((plan, Some(result)))
    })?;
    progress.finish();
    match result {
        None => {
            if ctx.out.json {
                ctx.out
                    .json(&serde_json::json!({"dry_run": true, "plan": plan}));
            } else {
                println!(
                    "would export {} ({} disk(s), {}) into {}: {}",
                    plan.vm,
                    plan.disks,
                    mb(plan.disk_capacity_bytes >> 20),
                    plan.dir,
                    plan.files.join(", ")
                );
            }
        }
        Some(r) => {
            if ctx.out.json {
                ctx.out.json(&r);
            } else {
                ctx.out.done(&format!("exported {} to {}", r.vm, r.path));
                for f in &r.files {
                    println!(
                        "  {}  {}  {}",
                        f.sha256,
                        mb(i64::try_from(f.size >> 20).unwrap_or(0)),
                        f.name
                    );
                }
            }
        }
    }
    Ok(())
}
