//! `backup::…` in scripts: the CLI's `ceso backup` verbs, with the same options as its
//! flags (`#{hot: true, repo: "/backups"}`), returning what `--json` prints.
//!
//! `backup::create` and `backup::restore` take the script's Ctrl-C as their cancel
//! signal instead of being dropped by it: they remove their snapshot (or half-restored
//! VM) before the script stops.

use std::path::PathBuf;
use std::sync::Arc;

use rhai::{Array, Dynamic, Engine, Map, Module};

use crate::backup_repo::RetentionPolicy;
use crate::ops::backup::{self, BackupOptions, RestoreRequest, repo};
use crate::ops::{OpError, OpResult};

use super::convert::{Opts, from_serialize};
use super::ctx::{RhaiResultOf, ScriptCtx};
use super::doc::func;
use super::engine::Limits;
use super::fault::{self, script_error};
use super::hooks::ScriptHooks;
use super::snapshots::target;
use super::vm::scope_of;

pub fn register(engine: &mut Engine, ctx: &ScriptCtx) {
    engine.register_static_module("backup", namespace(ctx).into());
}

fn fail(e: &OpError) -> Box<rhai::EvalAltResult> {
    fault::to_rhai(e)
}

/// `#{repo: PATH}`, else the config's repository, else the default.
fn location(ctx: &ScriptCtx, opts: &Opts) -> RhaiResultOf<PathBuf> {
    let explicit = opts.string("repo")?.map(PathBuf::from);
    repo::location(explicit.as_deref(), &ctx.fleet().config).map_err(|e| fail(&e))
}

fn open(ctx: &ScriptCtx, opts: &Opts) -> RhaiResultOf<crate::backup_repo::Repository> {
    repo::open(&location(ctx, opts)?, false).map_err(|e| fail(&e))
}

/// Run an operation that undoes its own work when `cancel` fires: unlike `ctx.run`, the
/// future is not dropped on Ctrl-C, so its cleanup runs.
fn run_to_end<T, F>(
    ctx: &ScriptCtx,
    op: impl FnOnce(std::pin::Pin<Box<dyn Future<Output = ()> + Send>>) -> F,
) -> RhaiResultOf<T>
where
    F: Future<Output = OpResult<T>>,
{
    let cancel = ctx.cancel().clone();
    let signal = Box::pin(async move { cancel.cancelled().await });
    match ctx.handle().block_on(op(signal)) {
        Ok(value) => Ok(value),
        Err(OpError::Cancelled) => Err(ctx.interrupted(Vec::new())),
        Err(e) => Err(fail(&e)),
    }
}

fn create(ctx: &ScriptCtx, what: Dynamic, opts: Map) -> RhaiResultOf<Dynamic> {
    let opts = Opts::new(
        "backup::create",
        opts,
        &["hot", "quiesce", "full", "repo", "max_rate", "dry_run"],
    )?;
    let vm = target(ctx, &what, "backup::create")?;
    let config = &ctx.fleet().config;
    let settings = config.hot_backup();
    let repo = opts.string("repo")?.map(PathBuf::from);
    let max_rate = opts.string("max_rate")?;
    let mut options =
        BackupOptions::from_config(config, &vm.name, repo.as_deref(), max_rate.as_deref())
            .map_err(|e| fail(&e))?;
    options.hot = opts.flag("hot")?;
    options.full = opts.flag("full")?;
    options.quiesce = opts.flag("quiesce")?.then_some(true);
    if opts.flag("dry_run")? || ctx.policy().dry_run {
        let preview = ctx.run(async { backup::preview(&vm, &settings, &options).await })?;
        ctx.say(&format!(
            "would back up {} ({} {}) into {}",
            vm.name,
            preview.kind,
            preview.mode,
            preview.repository.display()
        ));
        let mut m = from_serialize(&preview)
            .try_cast::<Map>()
            .unwrap_or_default();
        m.insert("dry_run".into(), true.into());
        return Ok(m.into());
    }
    let limits = Limits::from_config(config.settings().scripting.as_ref());
    let runner = Arc::new(ScriptHooks::new(ctx.clone(), limits));
    let tracker = ctx.track(&vm.name);
    let record = run_to_end(ctx, |cancel| {
        backup::create(&vm, &settings, &options, runner, &tracker, cancel)
    })?;
    Ok(from_serialize(&record))
}

fn restore(ctx: &ScriptCtx, id: &str, opts: Map) -> RhaiResultOf<Dynamic> {
    let opts = Opts::new(
        "backup::restore",
        opts,
        &[
            "as_new",
            "datastore",
            "power_on",
            "host",
            "all_hosts",
            "repo",
            "dry_run",
        ],
    )?;
    let name = opts.string("as_new")?.ok_or_else(|| {
        script_error("backup::restore: give the new VM's name: #{as_new: \"...\"}")
    })?;
    let request = RestoreRequest {
        backup: id.to_string(),
        name: name.clone(),
        datastore: opts.string("datastore")?,
        power_on: opts.flag("power_on")?,
        repository: location(ctx, &opts)?,
    };
    let scope = scope_of(ctx, &opts)?;
    let fleet = ctx.fleet().clone();
    let (target, plan) = ctx.run(async {
        let target = fleet.target(&scope).await?;
        let plan = backup::restore::plan(&target, &request).await?;
        Ok((target, plan))
    })?;
    if opts.flag("dry_run")? || ctx.policy().dry_run {
        ctx.say(&format!(
            "would restore backup {} of {} as a new VM {} on {}",
            plan.backup, plan.source_vm, plan.name, plan.datastore
        ));
        let mut m = from_serialize(&plan).try_cast::<Map>().unwrap_or_default();
        m.insert("dry_run".into(), true.into());
        return Ok(m.into());
    }
    let tracker = ctx.track(&name);
    let restored = run_to_end(ctx, |cancel| {
        backup::restore(&target, plan, &tracker, cancel)
    })?;
    Ok(from_serialize(&restored))
}

fn prune(ctx: &ScriptCtx, opts: Map) -> RhaiResultOf<Dynamic> {
    let opts = Opts::new(
        "backup::prune",
        opts,
        &[
            "keep_last",
            "keep_daily",
            "keep_weekly",
            "keep_monthly",
            "vm",
            "repo",
            "dry_run",
        ],
    )?;
    let count = |key: &str| -> RhaiResultOf<u32> {
        let n = opts.int(key)?.unwrap_or(0);
        u32::try_from(n)
            .map_err(|_| script_error(format!("backup::prune: {key} must be 0 or more")))
    };
    let policy = RetentionPolicy {
        keep_last: count("keep_last")?,
        keep_daily: count("keep_daily")?,
        keep_weekly: count("keep_weekly")?,
        keep_monthly: count("keep_monthly")?,
    };
    let repo = open(ctx, &opts)?;
    let vm = opts.string("vm")?;
    let dry_run = opts.flag("dry_run")? || ctx.policy().dry_run;
    let outcome = repo::prune(&repo, &policy, vm.as_deref(), dry_run).map_err(|e| fail(&e))?;
    Ok(from_serialize(&outcome))
}

fn namespace(ctx: &ScriptCtx) -> Module {
    let mut m = Module::new();
    let c = ctx.clone();
    func(
        "create",
        &["vm: Dynamic", "options: Map", "Map"],
        "Back up a VM (name or Vm), like `ceso backup create`. Options: hot, quiesce, full, repo,\nmax_rate (\"50M\"), dry_run. Runs the configured hooks. Returns the backup's record\n(id, kind, bytes_read, bytes_new, disks_read, notes…).",
    )
    .set_into_module(&mut m, move |vm: Dynamic, opts: Map| create(&c, vm, opts));
    let c = ctx.clone();
    func(
        "create",
        &["vm: Dynamic", "Map"],
        "Back up a stopped VM (cold) with the defaults.",
    )
    .set_into_module(&mut m, move |vm: Dynamic| create(&c, vm, Map::new()));
    let c = ctx.clone();
    func(
        "list",
        &["options: Map", "Array"],
        "Backups, oldest first, like `ceso backup list`. Options: vm, repo.",
    )
    .set_into_module(&mut m, move |opts: Map| -> RhaiResultOf<Array> {
        let opts = Opts::new("backup::list", opts, &["vm", "repo"])?;
        let repo = open(&c, &opts)?;
        let listing = repo::list(&repo, opts.string("vm")?.as_deref()).map_err(|e| fail(&e))?;
        Ok(listing.backups.iter().map(from_serialize).collect())
    });
    let c = ctx.clone();
    func(
        "list",
        &["Array"],
        "Every backup in the default repository, oldest first.",
    )
    .set_into_module(&mut m, move || -> RhaiResultOf<Array> {
        let repo = open(&c, &Opts::none("backup::list"))?;
        let listing = repo::list(&repo, None).map_err(|e| fail(&e))?;
        Ok(listing.backups.iter().map(from_serialize).collect())
    });
    let c = ctx.clone();
    func(
        "info",
        &["id: String", "options: Map", "Map"],
        "One backup by id or unique prefix, like `ceso backup info`. Options: repo.",
    )
    .set_into_module(
        &mut m,
        move |id: &str, opts: Map| -> RhaiResultOf<Dynamic> {
            let opts = Opts::new("backup::info", opts, &["repo"])?;
            let repo = open(&c, &opts)?;
            repo::info(&repo, id)
                .map(|b| from_serialize(&b))
                .map_err(|e| fail(&e))
        },
    );
    let c = ctx.clone();
    func(
        "verify",
        &["options: Map", "Map"],
        "Re-read and re-hash every chunk (of #{id: ...} or all), like `ceso backup verify`.\nReturns the report: check `ok`; `affected_backups` lists what corruption hits. Options: id, repo.",
    )
    .set_into_module(&mut m, move |opts: Map| -> RhaiResultOf<Dynamic> {
        let opts = Opts::new("backup::verify", opts, &["id", "repo"])?;
        let repo = open(&c, &opts)?;
        let id = opts.string("id")?;
        repo::verify(&repo, id.as_deref(), &crate::ops::Silent)
            .map(|r| from_serialize(&r))
            .map_err(|e| fail(&e))
    });
    let c = ctx.clone();
    func(
        "delete",
        &["id: String", "options: Map", "Map"],
        "Delete a backup, like `ceso backup delete`. Options: repo, dry_run.",
    )
    .set_into_module(&mut m, move |id: &str, opts: Map| -> RhaiResultOf<Map> {
        let opts = Opts::new("backup::delete", opts, &["repo", "dry_run"])?;
        let repo = open(&c, &opts)?;
        let found = repo::info(&repo, id).map_err(|e| fail(&e))?;
        let mut out = Map::new();
        out.insert("id".into(), found.id.clone().into());
        if opts.flag("dry_run")? || c.policy().dry_run {
            c.say(&format!("would delete backup {} of {}", found.id, found.vm));
            out.insert("dry_run".into(), true.into());
            out.insert("deleted".into(), false.into());
            return Ok(out);
        }
        repo::delete(&repo, &found.id).map_err(|e| fail(&e))?;
        out.insert("deleted".into(), true.into());
        Ok(out)
    });
    let c = ctx.clone();
    func(
        "prune",
        &["options: Map", "Map"],
        "Apply a retention policy per VM and remove unused chunks, like `ceso backup prune`.\nOptions: keep_last, keep_daily, keep_weekly, keep_monthly, vm, repo, dry_run.",
    )
    .set_into_module(&mut m, move |opts: Map| prune(&c, opts));
    let c = ctx.clone();
    func(
        "restore",
        &["id: String", "options: Map", "Map"],
        "Restore a backup as a new VM, like `ceso backup restore`. Options: as_new (required),\ndatastore, power_on, host, repo, dry_run. Returns the new VM's record.",
    )
    .set_into_module(&mut m, move |id: &str, opts: Map| restore(&c, id, opts));
    m
}
