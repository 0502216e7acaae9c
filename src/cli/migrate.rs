//! `ceso vm migrate`: parse, resolve the VMs, call ops::migrate, render the checks.

use crate::ops::migrate::{self, MigrateResult, MigrateSpec, Planned};
use crate::ops::vms::{self, VmRef};
use crate::ops::{OpError, OpResult};

use super::Ctx;
use super::args::MigrateArgs;
use super::progress::TermProgress;

pub fn run(ctx: &Ctx, args: MigrateArgs) -> OpResult<()> {
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
    let spec = MigrateSpec {
        to_host: Some(args.to_host.clone()),
        datastore: args.datastore.clone(),
        resource_pool: args.resource_pool.clone(),
        live: args.live,
        force: args.force,
        cold: args.cold,
        shutdown: args.shutdown,
        keep_source: args.keep_source,
        network_map: migrate::parse_network_map(&args.network_map)?,
        warm: args.warm,
        warm_options: migrate::WarmOptions::parse(
            args.cutover_at.as_deref(),
            args.cutover_when_delta_below.as_deref(),
            args.max_rounds,
            args.max_rate.as_deref(),
        )?,
        ..MigrateSpec::default()
    }
    .with_config(&fleet.config);
    let progress = TermProgress::new(ctx.out.json);
    let results = ctx.app.block_on(migrate::migrate_vms(
        fleet,
        &targets,
        &spec,
        args.dry_run,
        &progress,
    ));
    progress.finish();
    report(ctx, &targets, results, args.dry_run)
}

/// Every VM's checks and outcome. VMs are independent: the others go on when one
/// fails; the command's error names each VM left (a partial failure, exit 7, once any
/// VM moved).
fn report(
    ctx: &Ctx,
    targets: &[VmRef],
    results: Vec<OpResult<MigrateResult>>,
    dry_run: bool,
) -> OpResult<()> {
    let names: Vec<String> = targets.iter().map(|v| v.name.clone()).collect();
    let (done, outcome) = migrate::settle(&names, results, dry_run);
    if ctx.out.json {
        ctx.out.json(&done);
    } else {
        for r in &done {
            let what = describe(&r.plan);
            if dry_run {
                println!("would migrate {what}");
                if let Planned::Cold(p) = &r.plan {
                    for line in copy_lines(p) {
                        println!("  {line}");
                    }
                }
                for c in r.plan.checks() {
                    println!("  {}", c.line());
                }
            } else {
                for c in r.plan.checks().iter().filter(|c| c.forced) {
                    eprintln!("{}: {}", r.plan.vm(), c.line());
                }
                let changed = match &r.plan {
                    Planned::Relocate(p) => p.changed,
                    Planned::Cold(_) => true,
                };
                let verb = if changed { "migrated " } else { "" };
                ctx.out.done(&format!("{verb}{what}"));
                if let Some(o) = &r.outcome {
                    report_cold(o);
                }
                if let Some(o) = &r.warm {
                    report_warm(o);
                }
            }
        }
        if dry_run && !done.is_empty() {
            eprintln!("dry run: nothing was changed");
        }
    }
    outcome
}

/// A cold migration's plan: each file to copy, then each NIC's network.
pub(super) fn copy_lines(p: &migrate::ColdPlan) -> Vec<String> {
    let files = p
        .files
        .iter()
        .map(|f| format!("copy {} → {} ({} bytes)", f.source, f.target, f.size));
    let nics = p
        .networks
        .iter()
        .map(|n| format!("{} ({}): {} → {}", n.nic, n.mac, n.from, n.to));
    files.chain(nics).collect()
}

/// What a cold migration did, on stderr (stdout stays the one-line summary).
pub(super) fn report_cold(o: &migrate::ColdOutcome) {
    let resumed = if o.files_resumed > 0 {
        format!(" ({} already copied by an earlier run)", o.files_resumed)
    } else {
        String::new()
    };
    let source = match o.source {
        "deleted" => "unregistered and deleted",
        "kept" => "unregistered, files kept",
        _ => "unregistered, files left",
    };
    eprintln!(
        "  {} file(s), {} bytes copied and verified{resumed}; source {source}",
        o.files_copied, o.bytes_copied
    );
    for line in o.changes.iter().chain(&o.notes) {
        eprintln!("  {line}");
    }
}

/// What a warm migration did, on stderr: each round, then the downtime.
pub(super) fn report_warm(o: &migrate::WarmOutcome) {
    for r in &o.rounds {
        let what = if r.index == 0 { "base" } else { "delta" };
        eprintln!(
            "  round {} ({what}): {} bytes in {} ms",
            r.index,
            r.bytes,
            r.duration.as_millis()
        );
    }
    eprintln!(
        "  cut over because {}; downtime {} ms; {} bytes sent; source {}",
        o.cutover_reason, o.downtime_ms, o.bytes_sent, o.source
    );
    if !o.cutover_steps.is_empty() {
        let steps: Vec<String> = o
            .cutover_steps
            .iter()
            .map(|s| format!("{} {} ms", s.step, s.ms))
            .collect();
        eprintln!("  downtime by step: {}", steps.join(", "));
    }
    for line in o.changes.iter().chain(&o.notes) {
        eprintln!("  {line}");
    }
}

fn describe(planned: &Planned) -> String {
    let p = match planned {
        Planned::Cold(c) => {
            return format!(
                "{} ({}): {} on {} → {} on {}, {}",
                c.vm, c.kind, c.from_host, c.from_endpoint, c.to_host, c.to_endpoint, c.folder
            );
        }
        Planned::Relocate(p) => p,
    };
    if !p.changed {
        return format!("{}: already on {}", p.vm, p.to_host);
    }
    let mut text = format!("{} ({}): {} → {}", p.vm, p.kind, p.from_host, p.to_host);
    if let (Some(from), Some(to)) = (&p.from_datastore, &p.to_datastore) {
        text.push_str(&format!(", [{from}] → [{to}]"));
    }
    if let Some(pool) = &p.to_pool {
        text.push_str(&format!(", pool {pool}"));
    }
    text
}
