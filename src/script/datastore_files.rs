//! `datastore::ls|mkdir|rm|mv|cp|upload|download` in scripts: the CLI's datastore file
//! verbs. Paths are `[datastore] dir/file` or `datastore:dir/file`.

use std::path::PathBuf;

use rhai::{Array, Engine, Map, Module};

use crate::ops::Silent;
use crate::ops::datastore_files::{self as files, DsLocation};

use super::convert::{Opts, from_serialize};
use super::ctx::{RhaiResultOf, ScriptCtx};
use super::doc::func;
use super::fault::script_error;

pub fn register(engine: &mut Engine, ctx: &ScriptCtx) {
    engine.register_static_module("datastore", namespace(ctx).into());
}

fn locate(ctx: &ScriptCtx, path: &str) -> RhaiResultOf<DsLocation> {
    let fleet = ctx.fleet().clone();
    let scope = ctx.scope().clone();
    ctx.run(async move { files::locate(&fleet, &scope, path).await })
}

fn dry(ctx: &ScriptCtx, opts: &Opts, what: String) -> RhaiResultOf<Option<Map>> {
    if !(opts.flag("dry_run")? || ctx.policy().dry_run) {
        return Ok(None);
    }
    ctx.say(&format!("would {what}"));
    let mut m = Map::new();
    m.insert("dry_run".into(), true.into());
    m.insert("would".into(), what.into());
    Ok(Some(m))
}

fn done(verb: &str, path: String) -> Map {
    let mut m = Map::new();
    m.insert("done".into(), verb.into());
    m.insert("path".into(), path.into());
    m
}

fn ls(ctx: &ScriptCtx, path: &str, opts: Opts) -> RhaiResultOf<Array> {
    let loc = locate(ctx, path)?;
    let recursive = opts.flag("recursive")?;
    let found = ctx.run(async { files::ls(&loc, recursive, &Silent).await })?;
    Ok(found.iter().map(from_serialize).collect())
}

fn mkdir(ctx: &ScriptCtx, path: &str, opts: Opts) -> RhaiResultOf<Map> {
    let loc = locate(ctx, path)?;
    if let Some(m) = dry(ctx, &opts, format!("create folder {}", loc.path))? {
        return Ok(m);
    }
    let parents = opts.flag("parents")?;
    ctx.run(async { files::make_dir(&loc, parents).await })?;
    Ok(done("created", loc.path.to_string()))
}

fn rm(ctx: &ScriptCtx, path: &str, opts: Opts) -> RhaiResultOf<Array> {
    let loc = locate(ctx, path)?;
    let recursive = opts.flag("recursive")?;
    let targets = ctx.run(async { files::removal_targets(&loc, recursive, &Silent).await })?;
    let names: Vec<String> = targets.iter().map(ToString::to_string).collect();
    if dry(ctx, &opts, format!("delete {}", names.join(", ")))?.is_some() {
        return Ok(Vec::new());
    }
    let tracker = ctx.track(&loc.path.to_string());
    ctx.run(async { files::remove(&loc, &targets, &tracker).await })?;
    Ok(names.into_iter().map(Into::into).collect())
}

fn mv_or_cp(ctx: &ScriptCtx, from: &str, to: &str, opts: Opts, copy: bool) -> RhaiResultOf<Map> {
    let from = locate(ctx, from)?;
    let to = locate(ctx, to)?;
    let verb = if copy { "copy" } else { "move" };
    if let Some(m) = dry(ctx, &opts, format!("{verb} {} to {}", from.path, to.path))? {
        return Ok(m);
    }
    let force = opts.flag("force")?;
    let tracker = ctx.track(&from.path.to_string());
    ctx.run(async {
        if copy {
            files::copy(&from, &to, force, &tracker).await
        } else {
            files::move_file(&from, &to, force, &tracker).await
        }
    })?;
    Ok(done(
        if copy { "copied" } else { "moved" },
        to.path.to_string(),
    ))
}

fn upload(ctx: &ScriptCtx, local: &str, remote: &str, opts: Opts) -> RhaiResultOf<Map> {
    let loc = locate(ctx, remote)?;
    let local = PathBuf::from(local);
    if let Some(m) = dry(
        ctx,
        &opts,
        format!("upload {} to {}", local.display(), loc.path),
    )? {
        return Ok(m);
    }
    let force = opts.flag("force")?;
    let tracker = ctx.track(&loc.path.to_string());
    let size = ctx.run(async {
        if !force {
            files::check_absent(&loc, &Silent).await?;
        }
        files::upload(&loc, &local, &tracker).await
    })?;
    let mut m = done("uploaded", loc.path.to_string());
    m.insert("size".into(), (size as i64).into());
    Ok(m)
}

fn download(ctx: &ScriptCtx, remote: &str, local: &str, opts: Opts) -> RhaiResultOf<Map> {
    ctx.require_write("datastore::download")?;
    let loc = locate(ctx, remote)?;
    let found = ctx.run(async { files::matches(&loc, &Silent).await })?;
    let [file] = found.as_slice() else {
        return Err(script_error(format!(
            "datastore::download: {} names {} files; give one file",
            loc.path,
            found.len()
        )));
    };
    if file.is_folder() {
        return Err(script_error(format!(
            "datastore::download: {} is a folder",
            loc.path
        )));
    }
    if let Some(m) = dry(ctx, &opts, format!("download {} to {local}", loc.path))? {
        return Ok(m);
    }
    let force = opts.flag("force")?;
    let tracker = ctx.track(&loc.path.to_string());
    let local = PathBuf::from(local);
    let got = ctx.run(async { files::download(&loc, file, &local, force, &tracker).await })?;
    Ok(from_serialize(&got).try_cast::<Map>().unwrap_or_default())
}

fn namespace(ctx: &ScriptCtx) -> Module {
    let mut m = Module::new();
    let c = ctx.clone();
    func(
        "ls",
        &["path: String", "Array"],
        "Files and folders at a datastore path (`LocalDS_0:iso`, `[ds] dir/*.iso`): path, name,\nkind, file_type, size, modified. Like `ceso datastore ls`.",
    )
    .set_into_module(&mut m, move |path: &str| {
        ls(&c, path, Opts::none("datastore::ls"))
    });
    let c = ctx.clone();
    func(
        "ls",
        &["path: String", "options: Map", "Array"],
        "`datastore::ls` with options: recursive.",
    )
    .set_into_module(&mut m, move |path: &str, opts: Map| {
        ls(&c, path, Opts::new("datastore::ls", opts, &["recursive"])?)
    });
    let c = ctx.clone();
    func(
        "mkdir",
        &["path: String", "options: Map", "Map"],
        "Create a datastore folder. Options: parents, dry_run.",
    )
    .set_into_module(&mut m, move |path: &str, opts: Map| {
        mkdir(
            &c,
            path,
            Opts::new("datastore::mkdir", opts, &["parents", "dry_run"])?,
        )
    });
    let c = ctx.clone();
    func(
        "mkdir",
        &["path: String", "Map"],
        "Create a datastore folder.",
    )
    .set_into_module(&mut m, move |path: &str| {
        mkdir(&c, path, Opts::none("datastore::mkdir"))
    });
    let c = ctx.clone();
    func(
        "rm",
        &["path: String", "options: Map", "Array"],
        "Delete datastore files (a glob in the last part). Options: recursive (folders too),\ndry_run. Returns the deleted paths.",
    )
    .set_into_module(&mut m, move |path: &str, opts: Map| {
        rm(
            &c,
            path,
            Opts::new("datastore::rm", opts, &["recursive", "dry_run"])?,
        )
    });
    let c = ctx.clone();
    func(
        "rm",
        &["path: String", "Array"],
        "Delete datastore files (not folders).",
    )
    .set_into_module(&mut m, move |path: &str| {
        rm(&c, path, Opts::none("datastore::rm"))
    });
    for (name, copy) in [("mv", false), ("cp", true)] {
        let c = ctx.clone();
        let function: &'static str = if copy {
            "datastore::cp"
        } else {
            "datastore::mv"
        };
        func(
            name,
            &["from: String", "to: String", "options: Map", "Map"],
            "Move (mv) or copy (cp) a datastore file. Options: force (replace), dry_run.",
        )
        .set_into_module(&mut m, move |from: &str, to: &str, opts: Map| {
            mv_or_cp(
                &c,
                from,
                to,
                Opts::new(function, opts, &["force", "dry_run"])?,
                copy,
            )
        });
        let c = ctx.clone();
        func(
            name,
            &["from: String", "to: String", "Map"],
            "Move (mv) or copy (cp) a datastore file.",
        )
        .set_into_module(&mut m, move |from: &str, to: &str| {
            mv_or_cp(&c, from, to, Opts::none(function), copy)
        });
    }
    let c = ctx.clone();
    func(
        "upload",
        &["local: String", "remote: String", "options: Map", "Map"],
        "Upload a local file to a datastore path. Options: force (replace), dry_run.",
    )
    .set_into_module(&mut m, move |local: &str, remote: &str, opts: Map| {
        upload(
            &c,
            local,
            remote,
            Opts::new("datastore::upload", opts, &["force", "dry_run"])?,
        )
    });
    let c = ctx.clone();
    func(
        "upload",
        &["local: String", "remote: String", "Map"],
        "Upload a local file to a datastore path (refused when it exists).",
    )
    .set_into_module(&mut m, move |local: &str, remote: &str| {
        upload(&c, local, remote, Opts::none("datastore::upload"))
    });
    let c = ctx.clone();
    func(
        "download",
        &["remote: String", "local: String", "options: Map", "Map"],
        "Download one datastore file (needs --allow-write); an interrupted download resumes.\nOptions: force (replace the local file), dry_run.",
    )
    .set_into_module(&mut m, move |remote: &str, local: &str, opts: Map| {
        download(
            &c,
            remote,
            local,
            Opts::new("datastore::download", opts, &["force", "dry_run"])?,
        )
    });
    let c = ctx.clone();
    func(
        "download",
        &["remote: String", "local: String", "Map"],
        "Download one datastore file (needs --allow-write).",
    )
    .set_into_module(&mut m, move |remote: &str, local: &str| {
        download(&c, remote, local, Opts::none("datastore::download"))
    });
    m
}
