//! `ceso datastore ls|upload|download|rm|mkdir|mv|cp`: files on datastores.

use std::path::{Path, PathBuf};

use clap::Args;

use crate::ops::datastore_files::{self as files, DsFile, DsLocation};
use crate::ops::{OpError, OpResult, Progress, Silent};

use super::Ctx;
use super::args::ScopeArgs;
use super::confirm::confirm;
use super::progress::TermProgress;
use super::render::bytes;

#[derive(Debug, Args)]
pub struct LsArgs {
    /// `[datastore] dir` or `datastore:dir`; a glob in the last part (`iso/*.iso`)
    pub path: String,
    /// Everything below the folder too
    #[arg(long, short = 'R')]
    pub recursive: bool,
    #[command(flatten)]
    pub scope: ScopeArgs,
}

#[derive(Debug, Args)]
pub struct UploadArgs {
    /// Local file (a folder with --recursive)
    pub local: PathBuf,
    /// Destination `datastore:dir/file`; ending in `/`, the local name is kept
    pub remote: String,
    #[command(flatten)]
    pub flags: TransferFlags,
}

#[derive(Debug, Args)]
pub struct DownloadArgs {
    /// `datastore:dir/file`, a glob in the last part, or a folder with --recursive
    pub remote: String,
    /// Local file or folder (default: the current folder)
    pub local: Option<PathBuf>,
    #[command(flatten)]
    pub flags: TransferFlags,
}

/// What uploads and downloads share.
#[derive(Debug, Args)]
pub struct TransferFlags {
    /// A folder with everything in it
    #[arg(long, short = 'R')]
    pub recursive: bool,
    /// Replace files that exist at the destination
    #[arg(long)]
    pub force: bool,
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub scope: ScopeArgs,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// `datastore:dir/file` or a glob in the last part (asks first unless --yes)
    #[arg(required = true)]
    pub paths: Vec<String>,
    /// Also delete folders, with everything in them
    #[arg(long, short = 'R')]
    pub recursive: bool,
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub scope: ScopeArgs,
}

#[derive(Debug, Args)]
pub struct MkdirArgs {
    pub path: String,
    /// Create missing parent folders too
    #[arg(long, short = 'p')]
    pub parents: bool,
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub scope: ScopeArgs,
}

#[derive(Debug, Args)]
pub struct MoveArgs {
    pub source: String,
    pub destination: String,
    /// Replace an existing destination
    #[arg(long)]
    pub force: bool,
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub scope: ScopeArgs,
}

fn locate(ctx: &Ctx, scope: &ScopeArgs, path: &str) -> OpResult<DsLocation> {
    ctx.app
        .block_on(files::locate(&ctx.app.fleet, &ctx.scope(scope), path))
}

/// "would …" lines, or one JSON object, for --dry-run.
fn dry(ctx: &Ctx, would: &[String]) -> OpResult<()> {
    if ctx.out.json {
        ctx.out
            .json(&serde_json::json!({"dry_run": true, "would": would}));
    } else {
        for line in would {
            println!("would {line}");
        }
    }
    Ok(())
}

pub fn ls(ctx: &Ctx, args: LsArgs) -> OpResult<()> {
    let loc = locate(ctx, &args.scope, &args.path)?;
    let found = ctx.app.block_on(files::ls(&loc, args.recursive, &Silent))?;
    if ctx.out.json {
        ctx.out.json(&found);
        return Ok(());
    }
    ctx.out.table(
        &["PATH", "SIZE", "MODIFIED", "TYPE"],
        found
            .iter()
            .map(|f| {
                vec![
                    if f.is_folder() {
                        format!("{}/", f.path)
                    } else {
                        f.path.clone()
                    },
                    if f.is_folder() {
                        String::new()
                    } else {
                        bytes(f.size)
                    },
                    f.modified.clone().unwrap_or_default(),
                    f.file_type.trim_end_matches("FileInfo").to_string(),
                ]
            })
            .collect(),
    );
    Ok(())
}

pub fn mkdir(ctx: &Ctx, args: MkdirArgs) -> OpResult<()> {
    let loc = locate(ctx, &args.scope, &args.path)?;
    if args.dry_run {
        return dry(ctx, &[format!("create folder {}", loc.path)]);
    }
    ctx.app.block_on(files::make_dir(&loc, args.parents))?;
    done(ctx, "created", &[loc.path.to_string()])
}

pub fn rm(ctx: &Ctx, args: RmArgs) -> OpResult<()> {
    let mut targets = Vec::new();
    let mut loc = None;
    for path in &args.paths {
        let here = locate(ctx, &args.scope, path)?;
        targets.extend(
            ctx.app
                .block_on(files::removal_targets(&here, args.recursive, &Silent))?,
        );
        loc.get_or_insert(here);
    }
    let Some(loc) = loc else {
        return Ok(());
    };
    let names: Vec<String> = targets.iter().map(ToString::to_string).collect();
    if args.dry_run {
        return dry(
            ctx,
            &names
                .iter()
                .map(|n| format!("delete {n}"))
                .collect::<Vec<_>>(),
        );
    }
    confirm(ctx.yes, &format!("Delete {}", names.join(", ")))?;
    let progress = TermProgress::new(ctx.out.json);
    ctx.app.block_on(files::remove(&loc, &targets, &progress))?;
    progress.finish();
    done(ctx, "deleted", &names)
}

pub fn mv_or_cp(ctx: &Ctx, args: MoveArgs, copy: bool) -> OpResult<()> {
    let from = locate(ctx, &args.scope, &args.source)?;
    let to = locate(ctx, &args.scope, &args.destination)?;
    let verb = if copy { "copy" } else { "move" };
    if args.dry_run {
        return dry(ctx, &[format!("{verb} {} to {}", from.path, to.path)]);
    }
    let progress = TermProgress::new(ctx.out.json);
    ctx.app.block_on(async {
        if copy {
            files::copy(&from, &to, args.force, &progress).await
        } else {
            files::move_file(&from, &to, args.force, &progress).await
        }
    })?;
    progress.finish();
    done(
        ctx,
        if copy { "copied" } else { "moved" },
        &[format!("{} to {}", from.path, to.path)],
    )
}

pub fn upload(ctx: &Ctx, args: UploadArgs) -> OpResult<()> {
    let loc = locate(ctx, &args.flags.scope, &args.remote)?;
    let name = args
        .local
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let base = if args.remote.ends_with('/') || loc.path.path.is_empty() {
        join(&loc.path.path, &name)
    } else {
        loc.path.path.clone()
    };
    let plan = upload_plan(&args.local, &base, args.flags.recursive)?;
    if args.flags.dry_run {
        return dry(
            ctx,
            &plan
                .iter()
                .map(|(local, remote)| match local {
                    Some(l) => format!("upload {} to {}", l.display(), loc.at(remote).path),
                    None => format!("create folder {}", loc.at(remote).path),
                })
                .collect::<Vec<_>>(),
        );
    }
    let progress = TermProgress::new(ctx.out.json);
    let mut uploaded = Vec::new();
    ctx.app.block_on(async {
        if !args.flags.force {
            for (local, remote) in &plan {
                if local.is_some() && !files::matches(&loc.at(remote), &Silent).await?.is_empty() {
                    return Err(OpError::refused(
                        format!(
                            "{} already exists; nothing was uploaded",
                            loc.at(remote).path
                        ),
                        "pass --force to replace it",
                    ));
                }
            }
        }
        for (local, remote) in &plan {
            let at = loc.at(remote);
            match local {
                None => match files::make_dir(&at, true).await {
                    Err(e) if e.fault_name() == Some("FileAlreadyExists") => {}
                    other => other?,
                },
                Some(local) => {
                    progress.step(&format!("Uploading {}", local.display()));
                    let size = files::upload(&at, local, &progress).await?;
                    uploaded.push(serde_json::json!({
                        "local": local.display().to_string(),
                        "remote": at.path.to_string(),
                        "size": size,
                    }));
                }
            }
        }
        Ok(())
    })?;
    progress.finish();
    if ctx.out.json {
        ctx.out.json(&uploaded);
        return Ok(());
    }
    let names: Vec<String> = uploaded
        .iter()
        .map(|u| u["remote"].as_str().unwrap_or_default().to_string())
        .collect();
    done(ctx, "uploaded", &names)
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

/// (local file, remote path) pairs; folders (None) before what goes in them.
fn upload_plan(
    local: &Path,
    remote: &str,
    recursive: bool,
) -> OpResult<Vec<(Option<PathBuf>, String)>> {
    let meta = std::fs::metadata(local)
        .map_err(|e| OpError::invalid(format!("{}: {e}", local.display())))?;
    if !meta.is_dir() {
        return Ok(vec![(Some(local.to_path_buf()), remote.to_string())]);
    }
    if !recursive {
        return Err(OpError::Invalid {
            message: format!("{} is a folder", local.display()),
            hint: Some("pass --recursive to upload it with everything in it".into()),
        });
    }
    let mut plan = vec![(None, remote.to_string())];
    let mut entries: Vec<_> = std::fs::read_dir(local)
        .map_err(|e| OpError::Io(format!("{}: {e}", local.display())))?
        .filter_map(Result::ok)
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().to_string();
        plan.extend(upload_plan(&entry.path(), &join(remote, &name), true)?);
    }
    Ok(plan)
}

pub fn download(ctx: &Ctx, args: DownloadArgs) -> OpResult<()> {
    let loc = locate(ctx, &args.flags.scope, &args.remote)?;
    let found = ctx.app.block_on(files::matches(&loc, &Silent))?;
    if found.is_empty() {
        return Err(OpError::NotFound {
            kind: "datastore file",
            name: loc.path.to_string(),
            suggestions: Vec::new(),
        });
    }
    let local = args.local.clone().unwrap_or_else(|| PathBuf::from("."));
    // Several files, a folder, or an existing local folder: into that folder.
    let into_dir = found.len() > 1 || found[0].is_folder() || local.is_dir();
    let mut plan: Vec<(DsFile, PathBuf)> = Vec::new();
    for top in &found {
        let target = if into_dir {
            local.join(&top.name)
        } else {
            local.clone()
        };
        if !top.is_folder() {
            plan.push((top.clone(), target));
            continue;
        }
        if !args.flags.recursive {
            return Err(OpError::Invalid {
                message: format!("{} is a folder", top.datastore_path()),
                hint: Some("pass --recursive to download it with everything in it".into()),
            });
        }
        let below = ctx
            .app
            .block_on(files::ls(&loc.at(&top.path), true, &Silent))?;
        for file in below.into_iter().filter(|f| !f.is_folder()) {
            let rel = file
                .path
                .strip_prefix(&format!("{}/", top.path))
                .unwrap_or(&file.name)
                .to_string();
            plan.push((file, target.join(rel)));
        }
    }
    if args.flags.dry_run {
        return dry(
            ctx,
            &plan
                .iter()
                .map(|(f, l)| format!("download {} to {}", f.datastore_path(), l.display()))
                .collect::<Vec<_>>(),
        );
    }
    let progress = TermProgress::new(ctx.out.json);
    let mut done_list = Vec::new();
    for (file, target) in &plan {
        if let Some(parent) = target.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| OpError::Io(format!("{}: {e}", parent.display())))?;
        }
        progress.step(&format!("Downloading {}", file.datastore_path()));
        done_list.push(ctx.app.block_on(files::download(
            &loc,
            file,
            target,
            args.flags.force,
            &progress,
        ))?);
    }
    progress.finish();
    if ctx.out.json {
        ctx.out.json(&done_list);
        return Ok(());
    }
    for d in &done_list {
        let resumed = if d.resumed_from > 0 {
            format!(" (resumed at {})", bytes(d.resumed_from))
        } else {
            String::new()
        };
        ctx.out.done(&format!(
            "downloaded {} to {} ({}){resumed}",
            d.source,
            d.local,
            bytes(d.size)
        ));
    }
    Ok(())
}

fn done(ctx: &Ctx, verb: &str, what: &[String]) -> OpResult<()> {
    if ctx.out.json {
        ctx.out
            .json(&serde_json::json!({ "done": verb, "paths": what }));
    } else {
        for w in what {
            ctx.out.done(&format!("{verb} {w}"));
        }
    }
    Ok(())
}
