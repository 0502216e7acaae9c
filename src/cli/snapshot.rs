//! `ceso snapshot …`

use crate::ops::snapshots::{self, Snapshot, SnapshotSpec};
use crate::ops::vms::{self, VmRef};
use crate::ops::{OpResult, Scope};

use super::Ctx;
use super::args::{ScopeArgs, SnapshotCommand};
use super::confirm::{confirm, lowercase_first};
use super::progress::TermProgress;
use super::render::{age, clock};

pub fn run(ctx: &Ctx, cmd: SnapshotCommand) -> OpResult<()> {
    match cmd {
        SnapshotCommand::List { vm, scope } => list(ctx, &vm, &scope),
        SnapshotCommand::Create {
            vm,
            name,
            description,
            memory,
            quiesce,
            dry_run,
            scope,
        } => {
            let vm = find(ctx, &ctx.scope(&scope), &vm)?;
            let spec = SnapshotSpec {
                name,
                description,
                memory,
                quiesce,
            };
            if dry_run {
                return dry(
                    ctx,
                    &format!("take snapshot '{}' of {}", spec.name, vm.name),
                );
            }
            let progress = TermProgress::new(ctx.out.json);
            let snapshot = ctx.app.block_on(snapshots::create(&vm, &spec, &progress))?;
            progress.finish();
            if ctx.out.json {
                ctx.out.json(&snapshot);
            } else {
                ctx.out.done(&format!(
                    "took snapshot '{}' (id {}) of {}",
                    snapshot.name, snapshot.id, vm.name
                ));
            }
            Ok(())
        }
        SnapshotCommand::Revert {
            vm,
            snapshot,
            dry_run,
            scope,
        } => {
            let (vm, snapshot) = find_snapshot(ctx, &scope, &vm, &snapshot)?;
            let what = format!(
                "Revert {} to snapshot '{}' (id {}); its current state is lost",
                vm.name, snapshot.name, snapshot.id
            );
            if dry_run {
                return dry(ctx, &what);
            }
            confirm(ctx.yes, &what)?;
            let progress = TermProgress::new(ctx.out.json);
            ctx.app
                .block_on(snapshots::revert(&vm, &snapshot, &progress))?;
            progress.finish();
            report(ctx, "reverted", &vm, &[snapshot])
        }
        SnapshotCommand::Delete {
            vm,
            snapshot,
            children,
            all,
            dry_run,
            scope,
        } => {
            let progress = TermProgress::new(ctx.out.json);
            if all {
                let vm = find(ctx, &ctx.scope(&scope), &vm)?;
                let existing = ctx.app.block_on(snapshots::list(&vm))?;
                let what = format!("Delete all {} snapshots of {}", existing.len(), vm.name);
                if dry_run {
                    return dry(ctx, &what);
                }
                confirm(ctx.yes, &what)?;
                ctx.app.block_on(snapshots::remove_all(&vm, &progress))?;
                progress.finish();
                return report(ctx, "deleted", &vm, &existing);
            }
            let wanted = snapshot.unwrap_or_default();
            let vm = find(ctx, &ctx.scope(&scope), &vm)?;
            let all = ctx.app.block_on(snapshots::list(&vm))?;
            let snapshot = snapshots::find(&all, &vm.name, &wanted)?.clone();
            // With --children, the ones that go too are named in the question and the report.
            let below = if children {
                snapshots::descendants(&all, snapshot.id)
            } else {
                Vec::new()
            };
            let what = if below.is_empty() {
                format!(
                    "Delete snapshot '{}' (id {}) of {}",
                    snapshot.name, snapshot.id, vm.name
                )
            } else {
                format!(
                    "Delete snapshot '{}' (id {}) of {} and its children {}",
                    snapshot.name,
                    snapshot.id,
                    vm.name,
                    below
                        .iter()
                        .map(|s| format!("'{}' (id {})", s.name, s.id))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            if dry_run {
                return dry(ctx, &what);
            }
            confirm(ctx.yes, &what)?;
            ctx.app.block_on(snapshots::remove(
                &vm,
                &snapshot.moref(),
                &snapshot.name,
                children,
                &progress,
            ))?;
            progress.finish();
            let mut removed = vec![snapshot];
            removed.extend(below);
            report(ctx, "deleted", &vm, &removed)
        }
    }
}

fn find(ctx: &Ctx, scope: &Scope, name: &str) -> OpResult<VmRef> {
    ctx.app.block_on(vms::find_vm(&ctx.app.fleet, scope, name))
}

fn find_snapshot(
    ctx: &Ctx,
    scope: &ScopeArgs,
    vm: &str,
    wanted: &str,
) -> OpResult<(VmRef, Snapshot)> {
    let vm = find(ctx, &ctx.scope(scope), vm)?;
    let all = ctx.app.block_on(snapshots::list(&vm))?;
    let snapshot = snapshots::find(&all, &vm.name, wanted)?.clone();
    Ok((vm, snapshot))
}

fn dry(ctx: &Ctx, what: &str) -> OpResult<()> {
    if ctx.out.json {
        ctx.out
            .json(&serde_json::json!({"dry_run": true, "would": what}));
    } else {
        println!("would {}", lowercase_first(what));
    }
    Ok(())
}

fn report(ctx: &Ctx, verb: &str, vm: &VmRef, snapshots: &[Snapshot]) -> OpResult<()> {
    if ctx.out.json {
        ctx.out
            .json(&serde_json::json!({"vm": vm.name, verb: snapshots}));
    } else if snapshots.is_empty() {
        ctx.out.done(&format!("{} has no snapshots", vm.name));
    } else {
        for s in snapshots {
            ctx.out.done(&format!(
                "{verb} snapshot '{}' (id {}) of {}",
                s.name, s.id, vm.name
            ));
        }
    }
    Ok(())
}

fn list(ctx: &Ctx, vm: &str, scope: &ScopeArgs) -> OpResult<()> {
    let vm = find(ctx, &ctx.scope(scope), vm)?;
    let all = ctx.app.block_on(snapshots::list(&vm))?;
    if ctx.out.json {
        ctx.out.json(&all);
        return Ok(());
    }
    if all.is_empty() {
        eprintln!("{} has no snapshots", vm.name);
        return Ok(());
    }
    let now = chrono::Utc::now();
    ctx.out.table(
        &["ID", "NAME", "CREATED", "AGE", "QUIESCED", "MEMORY", ""],
        all.iter()
            .map(|s| {
                vec![
                    s.id.to_string(),
                    format!("{}{}", "  ".repeat(s.depth), s.name),
                    clock(&s.created),
                    s.age_seconds(now).map(age).unwrap_or_default(),
                    yes_no(s.quiesced),
                    yes_no(s.memory),
                    if s.current {
                        "← current".into()
                    } else {
                        String::new()
                    },
                ]
            })
            .collect(),
    );
    Ok(())
}

fn yes_no(v: bool) -> String {
    if v { "yes" } else { "no" }.into()
}
