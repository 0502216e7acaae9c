//! `tasks()`, `task_cancel(id)` and `events(obj, #{since})` in scripts: the TaskManager's
//! recent tasks and the EventManager's history.

use rhai::{Array, Dynamic, Engine, Map};

use crate::ops::events::{self, EventQuery};
use crate::ops::tasks;

use super::convert::{Opts, from_serialize};
use super::ctx::{RhaiResultOf, ScriptCtx};
use super::doc::func;
use super::fault::script_error;

pub fn register(engine: &mut Engine, ctx: &ScriptCtx) {
    let c = ctx.clone();
    func(
        "tasks",
        &["Array"],
        "Queued and running vSphere tasks (id, description_id, entity, state, progress, user,\nqueued, started, completed, error), like `ceso task list`.",
    )
    .register_into_engine(engine, move || list(&c, Opts::none("tasks")));
    let c = ctx.clone();
    func(
        "tasks",
        &["options: Map", "Array"],
        "`tasks()` with options: recent (finished ones too).",
    )
    .register_into_engine(engine, move |opts: Map| {
        list(&c, Opts::new("tasks", opts, &["recent"])?)
    });
    let c = ctx.clone();
    func(
        "task_cancel",
        &["id: String", "Map"],
        "Cancel a queued or running task (refused when finished or not cancelable). Options\nvia task_cancel(id, #{dry_run: true}).",
    )
    .register_into_engine(engine, move |id: &str| {
        cancel(&c, id, Opts::none("task_cancel"))
    });
    let c = ctx.clone();
    func(
        "task_cancel",
        &["id: String", "options: Map", "Map"],
        "Cancel a task. Options: dry_run.",
    )
    .register_into_engine(engine, move |id: &str, opts: Map| {
        cancel(&c, id, Opts::new("task_cancel", opts, &["dry_run"])?)
    });
    let c = ctx.clone();
    func(
        "events",
        &["object: Dynamic", "Array"],
        "Events of an object (name, `Type:id`, or () for all) and everything below it, oldest\nfirst: key, type, created, user, object, message. Like `ceso events`.",
    )
    .register_into_engine(engine, move |object: Dynamic| {
        list_events(&c, object, Opts::none("events"))
    });
    let c = ctx.clone();
    func(
        "events",
        &["object: Dynamic", "options: Map", "Array"],
        "`events(obj)` with options: since (`1h`), types (array of event types), limit.",
    )
    .register_into_engine(engine, move |object: Dynamic, opts: Map| {
        list_events(
            &c,
            object,
            Opts::new("events", opts, &["since", "types", "limit"])?,
        )
    });
}

fn list(ctx: &ScriptCtx, opts: Opts) -> RhaiResultOf<Array> {
    let recent = opts.flag("recent")?;
    let fleet = ctx.fleet().clone();
    let scope = ctx.scope().clone();
    let found = ctx.run(async move { tasks::recent(&fleet, &scope, recent).await?.strict() })?;
    Ok(found.iter().map(from_serialize).collect())
}

fn cancel(ctx: &ScriptCtx, id: &str, opts: Opts) -> RhaiResultOf<Map> {
    let fleet = ctx.fleet().clone();
    let scope = ctx.scope().clone();
    let (target, task) = ctx.run(async move { tasks::get(&fleet, &scope, id).await })?;
    ctx.run(async { tasks::check_cancelable(&task) })?;
    let mut m = Map::new();
    m.insert("task".into(), task.id.clone().into());
    if opts.flag("dry_run")? || ctx.policy().dry_run {
        ctx.say(&format!("would cancel task {}", task.id));
        m.insert("dry_run".into(), true.into());
        return Ok(m);
    }
    ctx.run(async { tasks::cancel(&target, &task).await })?;
    m.insert("cancelled".into(), true.into());
    Ok(m)
}

fn list_events(ctx: &ScriptCtx, object: Dynamic, opts: Opts) -> RhaiResultOf<Array> {
    let object = if object.is_unit() {
        None
    } else {
        Some(object.into_string().map_err(|t| {
            script_error(format!("events: expected an object name or (), not a {t}"))
        })?)
    };
    let since = match opts.string("since")? {
        Some(text) => {
            let secs = crate::metrics::duration::parse(&text).ok_or_else(|| {
                script_error(format!("events: since '{text}' is not a duration like 1h"))
            })?;
            Some(chrono::Utc::now() - chrono::Duration::seconds(secs))
        }
        None => None,
    };
    let limit = opts.int("limit")?.unwrap_or(100).max(0) as usize;
    let query = EventQuery {
        object,
        since,
        types: opts.list("types")?,
        limit,
    };
    let fleet = ctx.fleet().clone();
    let scope = ctx.scope().clone();
    let found = ctx.run(async move {
        let target = fleet.target(&scope).await?;
        let mut stream = events::open(&target, query).await?;
        let history = stream.history().await;
        stream.close().await;
        history
    })?;
    Ok(found.iter().map(from_serialize).collect())
}
