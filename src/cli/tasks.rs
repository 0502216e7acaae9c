//! `ceso task list|cancel` and `ceso events`.

use std::time::{Duration, Instant};

use clap::{Args, Subcommand};

use crate::ops::events::{self, EventQuery, EventSummary};
use crate::ops::tasks::{self, TaskSummary};
use crate::ops::{OpError, OpResult};

use super::Ctx;
use super::args::ScopeArgs;
use super::confirm::confirm;
use super::render::clock;

/// How often --follow asks the server.
const POLL: Duration = Duration::from_secs(1);

#[derive(Debug, Subcommand)]
pub enum TaskCommand {
    /// The TaskManager's tasks: queued and running ones, all recent ones with --recent
    List {
        /// Also the recently finished tasks (with their result)
        #[arg(long)]
        recent: bool,
        /// Keep watching: print tasks as they start, move and finish (Ctrl-C stops)
        #[arg(long)]
        follow: bool,
        /// With --follow: stop after this long (`30s`, `5m`)
        #[arg(long = "for", value_name = "DURATION", requires = "follow")]
        for_: Option<String>,
        #[command(flatten)]
        scope: ScopeArgs,
    },
    /// Cancel a queued or running task (see `task list`); asks first unless --yes
    Cancel {
        /// Task id: `task-12` or `Task:task-12`
        id: String,
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        scope: ScopeArgs,
    },
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// An inventory object (VM, host, cluster, datacenter, datastore, network) by name
    /// or `Type:id`; its events and those of everything below it
    pub object: Option<String>,
    /// Only events this recent (`30m`, `1h`, `2d`)
    #[arg(long, value_name = "DURATION")]
    pub since: Option<String>,
    /// Only events of these types (`VmPoweredOffEvent`; a base type covers subtypes)
    #[arg(long = "type", value_name = "TYPE")]
    pub types: Vec<String>,
    /// At most this many events (the newest)
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
    /// Keep watching: print new events as they come (Ctrl-C stops)
    #[arg(long)]
    pub follow: bool,
    /// With --follow: stop after this long (`30s`, `5m`)
    #[arg(long = "for", value_name = "DURATION", requires = "follow")]
    pub for_: Option<String>,
    #[command(flatten)]
    pub scope: ScopeArgs,
}

fn duration(flag: &str, text: &str) -> OpResult<Duration> {
    crate::metrics::duration::parse(text)
        .map(|s| Duration::from_secs(s as u64))
        .ok_or_else(|| OpError::Invalid {
            message: format!("{flag} {text}: not a duration"),
            hint: Some("write it as 30s, 15m, 1h or 2d".into()),
        })
}

fn deadline(for_: &Option<String>) -> OpResult<Option<Instant>> {
    for_.as_deref()
        .map(|t| duration("--for", t).map(|d| Instant::now() + d))
        .transpose()
}

pub fn run(ctx: &Ctx, cmd: TaskCommand) -> OpResult<()> {
    match cmd {
        TaskCommand::List {
            recent,
            follow,
            for_,
            scope,
        } => {
            let scope = ctx.scope(&scope);
            let until = deadline(&for_)?;
            let found = ctx
                .app
                .block_on(tasks::recent(&ctx.app.fleet, &scope, recent || follow))?
                .unless_all_failed()?;
            if !follow {
                if ctx.out.json {
                    ctx.out.json_gathered(&found);
                } else {
                    task_table(ctx, &found.items);
                }
                return super::report::endpoint_errors(&found.errors);
            }
            // Finished tasks from before are known, shown only with --recent.
            let mut seen: Vec<TaskSummary> = found
                .items
                .iter()
                .filter(|t| !recent && t.finished())
                .cloned()
                .collect();
            print_tasks(ctx, &found.items, &mut seen);
            ctx.app.block_on(async {
                loop {
                    if !wait_poll(until).await {
                        return Ok(());
                    }
                    let now = tasks::recent(&ctx.app.fleet, &scope, true).await?;
                    // Only what started or changed since the last look.
                    print_tasks(ctx, &now.items, &mut seen);
                }
            })
        }
        TaskCommand::Cancel { id, dry_run, scope } => {
            let (target, task) =
                ctx.app
                    .block_on(tasks::get(&ctx.app.fleet, &ctx.scope(&scope), &id))?;
            tasks::check_cancelable(&task)?;
            let what = format!(
                "Cancel task {} ({} on {}, {})",
                task.id, task.description_id, task.entity, task.state
            );
            if dry_run {
                if ctx.out.json {
                    ctx.out
                        .json(&serde_json::json!({"dry_run": true, "would": what}));
                } else {
                    println!("would {}", super::confirm::lowercase_first(&what));
                }
                return Ok(());
            }
            confirm(ctx.yes, &what)?;
            ctx.app.block_on(tasks::cancel(&target, &task))?;
            if ctx.out.json {
                ctx.out
                    .json(&serde_json::json!({"cancelled": task.id, "task": task}));
            } else {
                ctx.out.done(&format!("asked to cancel task {}", task.id));
            }
            Ok(())
        }
    }
}

/// Sleep one poll interval; false on Ctrl-C or when the --for time is up.
async fn wait_poll(until: Option<Instant>) -> bool {
    let wait = match until {
        Some(end) => match end.checked_duration_since(Instant::now()) {
            Some(left) if !left.is_zero() => left.min(POLL),
            _ => return false,
        },
        None => POLL,
    };
    tokio::select! {
        _ = tokio::time::sleep(wait) => true,
        _ = super::interrupted() => false,
    }
}

/// Print the tasks not yet printed in this state; one JSON object a line under --json.
fn print_tasks(ctx: &Ctx, now: &[TaskSummary], seen: &mut Vec<TaskSummary>) {
    for task in now {
        if seen.contains(task) {
            continue;
        }
        seen.retain(|s| !(s.id == task.id && s.endpoint == task.endpoint));
        seen.push(task.clone());
        if ctx.out.json {
            println!("{}", serde_json::to_string(task).unwrap_or_default());
        } else {
            println!("{}", task_row(task).join("  "));
        }
    }
}

fn task_row(t: &TaskSummary) -> Vec<String> {
    vec![
        t.id.clone(),
        t.description_id.clone(),
        t.entity.clone(),
        match (t.state.as_str(), t.progress) {
            ("running", Some(p)) => format!("running {p}%"),
            (state, _) => state.to_string(),
        },
        t.user.clone(),
        t.queued.as_deref().map(clock).unwrap_or_default(),
        t.error.clone().unwrap_or_default(),
    ]
}

fn task_table(ctx: &Ctx, all: &[TaskSummary]) {
    ctx.out.table(
        &["ID", "TASK", "OBJECT", "STATE", "USER", "QUEUED", "ERROR"],
        all.iter().map(task_row).collect(),
    );
}

pub fn events(ctx: &Ctx, args: EventsArgs) -> OpResult<()> {
    let since = args
        .since
        .as_deref()
        .map(|t| duration("--since", t))
        .transpose()?
        .and_then(|d| chrono::Duration::from_std(d).ok())
        .map(|d| chrono::Utc::now() - d);
    let until = deadline(&args.for_)?;
    let query = EventQuery {
        object: args.object.clone(),
        since,
        types: args.types.clone(),
        limit: args.limit,
    };
    ctx.app.block_on(async {
        let target = ctx.app.fleet.target(&ctx.scope(&args.scope)).await?;
        let mut stream = events::open(&target, query).await?;
        let result = async {
            let history = stream.history().await?;
            if !args.follow {
                if ctx.out.json {
                    ctx.out.json(&history);
                } else {
                    event_table(ctx, &history);
                }
                return Ok(());
            }
            print_events(ctx, &history);
            while wait_poll(until).await {
                print_events(ctx, &stream.newer().await?);
            }
            Ok(())
        }
        .await;
        stream.close().await;
        result
    })
}

fn event_row(e: &EventSummary) -> Vec<String> {
    vec![
        clock(&e.created),
        e.kind.clone(),
        e.object.clone(),
        e.user.clone(),
        e.message.clone(),
    ]
}

fn print_events(ctx: &Ctx, list: &[EventSummary]) {
    use std::io::Write;
    for e in list {
        if ctx.out.json {
            println!("{}", serde_json::to_string(e).unwrap_or_default());
        } else {
            println!("{}", event_row(e).join("  "));
        }
    }
    let _ = std::io::stdout().flush();
}

fn event_table(ctx: &Ctx, list: &[EventSummary]) {
    ctx.out.table(
        &["TIME", "TYPE", "OBJECT", "USER", "MESSAGE"],
        list.iter().map(event_row).collect(),
    );
}
