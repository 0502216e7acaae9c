//! `ceso backup …`

use std::path::PathBuf;
use std::sync::Arc;

use crate::backup_repo::RetentionPolicy;
use crate::ops::backup::{self, BackupOptions, RestoreRequest, repo};
use crate::ops::vms;
use crate::ops::{OpError, OpResult};
use crate::script::ScriptCtx;
use crate::script::hooks::ScriptHooks;

use super::Ctx;
use super::args::{BackupCommand, BackupCreateArgs, PruneArgs, RepoArgs, RestoreArgs, ScriptArgs};
use super::confirm::{confirm, lowercase_first};
use super::interrupted;
use super::progress::TermProgress;
use super::render::{bytes, mb};

pub fn run(ctx: &Ctx, cmd: BackupCommand) -> OpResult<()> {
    match cmd {
        BackupCommand::Create(args) => create(ctx, args),
        BackupCommand::List { vm, repo } => list(ctx, vm.as_deref(), &repo),
        BackupCommand::Info { id, repo } => info(ctx, &id, &repo),
        BackupCommand::Verify { id, repo } => verify(ctx, id.as_deref(), &repo),
        BackupCommand::Delete { id, dry_run, repo } => delete(ctx, &id, dry_run, &repo),
        BackupCommand::Prune(args) => prune(ctx, args),
        BackupCommand::Restore(args) => restore(ctx, args),
    }
}

fn location(ctx: &Ctx, args: &RepoArgs) -> OpResult<PathBuf> {
    repo::location(args.repo.as_deref(), &ctx.app.fleet.config)
}

fn open(ctx: &Ctx, args: &RepoArgs) -> OpResult<crate::backup_repo::Repository> {
    repo::open(&location(ctx, args)?, false)
}

fn create(ctx: &Ctx, args: BackupCreateArgs) -> OpResult<()> {
    let config = &ctx.app.fleet.config;
    let settings = config.hot_backup();
    let vm = ctx.app.block_on(vms::find_vm(
        &ctx.app.fleet,
        &ctx.scope(&args.scope),
        &args.vm,
    ))?;
    let mut options = BackupOptions::from_config(
        config,
        &vm.name,
        args.repo.repo.as_deref(),
        args.max_rate.as_deref(),
    )?;
    options.hooks.add(&args.pre_hook, &args.post_hook);
    options.hot = args.hot;
    options.full = args.full;
    options.quiesce = match (args.quiesce, args.no_quiesce) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    };
    if args.dry_run {
        let preview = ctx
            .app
            .block_on(backup::preview(&vm, &settings, &options))?;
        if ctx.out.json {
            ctx.out
                .json(&serde_json::json!({"dry_run": true, "plan": preview}));
            return Ok(());
        }
        println!("Would back up {}:", preview.vm);
        ctx.out.fields(&[
            (
                "Mode",
                format!(
                    "{}{}",
                    preview.mode,
                    if preview.quiesce { ", quiesced" } else { "" }
                ),
            ),
            (
                "Kind",
                match &preview.parent {
                    Some(parent) => format!("{} (changes since {parent})", preview.kind),
                    None => preview.kind.clone(),
                },
            ),
            (
                "Repository",
                format!(
                    "{}{}",
                    preview.repository.display(),
                    if preview.repository_exists {
                        ""
                    } else {
                        " (will be created)"
                    }
                ),
            ),
            (
                "CBT",
                match (preview.use_cbt, preview.enable_cbt) {
                    (false, _) => "not used (hot_backup.cbt_enabled: false)".into(),
                    (true, true) => "will be enabled on the VM".into(),
                    (true, false) => "enabled".into(),
                },
            ),
            (
                "Max rate",
                preview
                    .max_rate
                    .map(|r| format!("{}/s", bytes(r)))
                    .unwrap_or_else(|| "unlimited".into()),
            ),
            ("Pre-hooks", paths(&preview.hooks.pre)),
            ("Post-hooks", paths(&preview.hooks.post)),
            (
                "Leftovers",
                if preview.leftover_snapshots.is_empty() {
                    "none".into()
                } else {
                    format!("would remove {}", preview.leftover_snapshots.join(", "))
                },
            ),
        ]);
        for note in &preview.notes {
            eprintln!("note: {note}");
        }
        return Ok(());
    }
    let runner = hook_runner(ctx);
    let progress = TermProgress::new(ctx.out.json);
    let record = ctx.app.block_on(backup::create(
        &vm,
        &settings,
        &options,
        runner,
        &progress,
        interrupted(),
    ))?;
    progress.finish();
    if ctx.out.json {
        ctx.out.json(&record);
        return Ok(());
    }
    let b = &record.backup;
    ctx.out.done(&format!(
        "backup {} of {} ({}, {}): read {} of {} at {}/s, stored {} new in {:.1}s",
        b.id,
        b.vm,
        b.kind,
        b.mode,
        bytes(b.bytes_read),
        bytes(b.size),
        bytes(b.bytes_read * 1000 / record.read_ms.max(1)),
        bytes(b.bytes_new),
        b.duration_ms as f64 / 1000.0
    ));
    for note in &record.notes {
        eprintln!("note: {note}");
    }
    Ok(())
}

/// Hooks run on the script engine, with the permissions and limits of `ceso run`
/// (settings.scripting).
fn hook_runner(ctx: &Ctx) -> Arc<ScriptHooks> {
    let (limits, policy) = super::script::limits_and_policy(ctx.app, &ScriptArgs::default());
    Arc::new(ScriptHooks::new(ScriptCtx::new(ctx.app, policy), limits))
}

fn paths(list: &[PathBuf]) -> String {
    if list.is_empty() {
        return "none".into();
    }
    list.iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn list(ctx: &Ctx, vm: Option<&str>, args: &RepoArgs) -> OpResult<()> {
    let repo = open(ctx, args)?;
    let listing = repo::list(&repo, vm)?;
    for broken in &listing.broken {
        eprintln!(
            "warning: backup {} cannot be read: {}",
            broken.id, broken.error
        );
    }
    if ctx.out.json {
        // Like every list, an array; unreadable backups were warned about above.
        ctx.out.json(&listing.backups);
        return Ok(());
    }
    ctx.out.table(
        &[
            "ID", "VM", "ENDPOINT", "CREATED", "KIND", "MODE", "SIZE", "READ", "NEW",
        ],
        listing
            .backups
            .iter()
            .map(|b| {
                vec![
                    b.id.clone(),
                    b.vm.clone(),
                    b.endpoint.clone(),
                    shown_time(&b.created),
                    b.kind.to_string(),
                    format!("{}{}", b.mode, if b.quiesced { " (quiesced)" } else { "" }),
                    bytes(b.size),
                    bytes(b.bytes_read),
                    bytes(b.bytes_new),
                ]
            })
            .collect(),
    );
    Ok(())
}

/// A stored time for a table: to the second (`--json` has full precision; rows are in
/// creation order).
fn shown_time(rfc3339: &str) -> String {
    let seconds = match rfc3339.split_once('.') {
        Some((whole, _)) => format!("{whole}Z"),
        None => rfc3339.to_string(),
    };
    seconds.replace('T', " ")
}

fn info(ctx: &Ctx, id: &str, args: &RepoArgs) -> OpResult<()> {
    let repo = open(ctx, args)?;
    let b = repo::info(&repo, id)?;
    if ctx.out.json {
        ctx.out.json(&b);
        return Ok(());
    }
    ctx.out.fields(&[
        ("ID", b.id.clone()),
        (
            "VM",
            format!(
                "{} ({} on {}, uuid {})",
                b.vm, b.vm_id, b.endpoint, b.vm_uuid
            ),
        ),
        ("Created", b.created.clone()),
        ("Kind", b.kind.to_string()),
        (
            "Mode",
            format!("{}{}", b.mode, if b.quiesced { ", quiesced" } else { "" }),
        ),
        ("Based on", b.parent.clone().unwrap_or_else(|| "-".into())),
        ("Size", bytes(b.size)),
        ("Read", bytes(b.bytes_read)),
        (
            "Stored new",
            format!("{} in {} chunks", bytes(b.bytes_new), b.chunks_new),
        ),
        ("Duration", format!("{:.1}s", b.duration_ms as f64 / 1000.0)),
        ("Files", b.files.join(", ")),
    ]);
    println!();
    ctx.out.table(
        &["DISK", "KEY", "SIZE", "FILE", "CHANGE ID"],
        b.disks
            .iter()
            .map(|d| {
                vec![
                    d.label.clone(),
                    d.key.to_string(),
                    mb((d.capacity / (1 << 20)) as i64),
                    d.datastore_path.clone(),
                    d.change_id.clone().unwrap_or_else(|| "-".into()),
                ]
            })
            .collect(),
    );
    Ok(())
}

fn verify(ctx: &Ctx, id: Option<&str>, args: &RepoArgs) -> OpResult<()> {
    let repo = open(ctx, args)?;
    let progress = TermProgress::new(ctx.out.json);
    let outcome = repo::verify(&repo, id, &progress)?;
    progress.finish();
    if ctx.out.json {
        ctx.out.json(&outcome);
    }
    for p in &outcome.corrupt {
        eprintln!(
            "corrupt chunk {}: {}; affects {}",
            p.chunk,
            p.problem,
            p.backups.join(", ")
        );
    }
    for p in &outcome.missing {
        eprintln!(
            "missing chunk {}; affects {}",
            p.chunk,
            p.backups.join(", ")
        );
    }
    for b in &outcome.broken {
        eprintln!("backup {} cannot be read: {}", b.id, b.error);
    }
    if !outcome.ok {
        return Err(OpError::Io(format!(
            "verify found {} corrupt and {} missing chunk(s) and {} unreadable backup(s); backups that cannot be restored completely: {}",
            outcome.corrupt.len(),
            outcome.missing.len(),
            outcome.broken.len(),
            outcome.affected_backups.join(", ")
        )));
    }
    ctx.out.done(&format!(
        "verified {} backup(s): {} chunks, {} of data, all intact",
        outcome.backups_checked.len(),
        outcome.chunks_checked,
        bytes(outcome.bytes_checked)
    ));
    Ok(())
}

fn delete(ctx: &Ctx, id: &str, dry_run: bool, args: &RepoArgs) -> OpResult<()> {
    let repo = open(ctx, args)?;
    let b = repo::info(&repo, id)?;
    let what = format!("Delete backup {} of {} (created {})", b.id, b.vm, b.created);
    if dry_run {
        if ctx.out.json {
            ctx.out
                .json(&serde_json::json!({"dry_run": true, "delete": b.id}));
        } else {
            println!("would {}", lowercase_first(&what));
        }
        return Ok(());
    }
    confirm(ctx.yes, &what)?;
    let id = repo::delete(&repo, &b.id)?;
    if ctx.out.json {
        ctx.out.json(&serde_json::json!({"deleted": id}));
    } else {
        ctx.out.done(&format!(
            "deleted backup {id}; `ceso backup prune` removes the chunks no backup uses any more"
        ));
    }
    Ok(())
}

fn prune(ctx: &Ctx, args: PruneArgs) -> OpResult<()> {
    let repo = open(ctx, &args.repo)?;
    let policy = RetentionPolicy {
        keep_last: args.keep_last,
        keep_daily: args.keep_daily,
        keep_weekly: args.keep_weekly,
        keep_monthly: args.keep_monthly,
    };
    let vm = args.vm.as_deref();
    let preview = repo::prune(&repo, &policy, vm, true)?;
    let outcome = if args.dry_run {
        preview
    } else {
        if !preview.removed.is_empty() {
            confirm(
                ctx.yes,
                &format!(
                    "Remove {} backup(s): {}",
                    preview.removed.len(),
                    preview.removed.join(", ")
                ),
            )?;
        }
        repo::prune(&repo, &policy, vm, false)?
    };
    if ctx.out.json {
        ctx.out.json(&outcome);
        return Ok(());
    }
    ctx.out.table(
        &["ID", "VM", "ENDPOINT", "CREATED", "DECISION", "WHY"],
        outcome
            .decisions
            .iter()
            .map(|d| {
                vec![
                    d.id.clone(),
                    d.vm.clone(),
                    d.endpoint.clone(),
                    shown_time(&d.created),
                    if d.keep { "keep" } else { "remove" }.into(),
                    d.reasons.join(", "),
                ]
            })
            .collect(),
    );
    let verb = if outcome.dry_run {
        "would remove"
    } else {
        "removed"
    };
    ctx.out.done(&format!(
        "{verb} {} backup(s) and {} unused chunk(s), freeing {}",
        outcome.removed.len(),
        outcome.chunks_removed,
        bytes(outcome.bytes_freed)
    ));
    Ok(())
}

fn restore(ctx: &Ctx, args: RestoreArgs) -> OpResult<()> {
    let scope = ctx.scope(&args.scope);
    let request = RestoreRequest {
        backup: args.id.clone(),
        name: args.as_new.clone(),
        datastore: args.datastore.clone(),
        power_on: args.power_on,
        repository: location(ctx, &args.repo)?,
    };
    let (target, plan) = ctx.app.block_on(async {
        let target = ctx.app.fleet.target(&scope).await?;
        let plan = backup::restore::plan(&target, &request).await?;
        Ok::<_, OpError>((target, plan))
    })?;
    if args.dry_run {
        if ctx.out.json {
            ctx.out
                .json(&serde_json::json!({"dry_run": true, "plan": plan}));
            return Ok(());
        }
        println!(
            "Would restore backup {} of {} as a new VM {}:",
            plan.backup, plan.source_vm, plan.name
        );
        ctx.out.fields(&[
            ("Endpoint", plan.endpoint.clone()),
            ("Host", super::render::planned_host(&plan.host)),
            ("Datastore", plan.datastore.clone()),
            ("Resource pool", plan.resource_pool.clone()),
            (
                "CPUs / memory",
                format!("{} / {}", plan.cpus, mb(plan.memory_mb)),
            ),
            (
                "Disks",
                plan.disks
                    .iter()
                    .map(|d| format!("{} {}", d.label, bytes(d.capacity)))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            ("NICs", plan.nics.join(", ")),
            ("Power on", if plan.power_on { "yes" } else { "no" }.into()),
        ]);
        for note in &plan.notes {
            eprintln!("note: {note}");
        }
        return Ok(());
    }
    for note in &plan.notes {
        eprintln!("note: {note}");
    }
    let progress = TermProgress::new(ctx.out.json);
    let restored = ctx
        .app
        .block_on(backup::restore(&target, plan, &progress, interrupted()))?;
    progress.finish();
    if ctx.out.json {
        ctx.out.json(&restored);
    } else {
        ctx.out.done(&format!(
            "restored backup {} as {} ({}) on {}: {} written{}",
            restored.backup,
            restored.name,
            restored.id,
            restored.host,
            bytes(restored.bytes_written),
            if restored.powered_on {
                ", powered on"
            } else {
                ""
            }
        ));
    }
    Ok(())
}
