//! `ceso stats …`: samples from the PerformanceManager, and `stats collect` into the
//! history database.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::metrics::{duration, sparkline::sparkline};
use crate::ops::history::{self, CollectOptions, Created, HistoryQuery, Retention, Store};
use crate::ops::stats::{self, Series};
use crate::ops::{OpError, OpResult};

use super::Ctx;
use super::args::ScopeArgs;

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct StatsArgs {
    #[command(subcommand)]
    pub command: Option<StatsCommand>,
    /// Host, VM, cluster or datastore name or glob (default: the hosts)
    pub object: Option<String>,
    /// Counter as group.name.rollup, e.g. mem.usage.average (repeatable; default: CPU, memory, network, disk latency)
    #[arg(long = "counter", value_name = "COUNTER")]
    pub counters: Vec<String>,
    /// How far back: 20s, 5m, 1h, 1d, 30d
    #[arg(long, default_value = "1h")]
    pub since: String,
    /// Sampling period (20s real-time, 5m, 30m, 2h, 1d); default: the finest that covers --since
    #[arg(long)]
    pub interval: Option<String>,
    #[command(flatten)]
    pub scope: ScopeArgs,
}

#[derive(Debug, Subcommand)]
pub enum StatsCommand {
    /// Store samples in the history database, every --every, with roll-ups and retention
    Collect {
        /// Time between rounds
        #[arg(long, default_value = "5m")]
        every: String,
        /// Stop after this long (default: until Ctrl-C)
        #[arg(long = "for", value_name = "DURATION")]
        for_: Option<String>,
        /// Stop after N rounds
        #[arg(long, value_name = "N")]
        samples: Option<u64>,
        /// On the first round, fetch this much of the server's history (5-minute samples for up to a day, daily ones beyond)
        #[arg(long, default_value = "1h")]
        backfill: String,
        /// Counters to store (repeatable; default: CPU, memory, network, disk latency)
        #[arg(long = "counter", value_name = "COUNTER")]
        counters: Vec<String>,
        /// Database file (default: $XDG_DATA_HOME/ceso/history.sqlite)
        #[arg(long)]
        db: Option<PathBuf>,
        /// Keep 5-minute samples this long
        #[arg(long, default_value = "7d")]
        keep_5m: String,
        /// Keep hourly roll-ups this long
        #[arg(long, default_value = "90d")]
        keep_1h: String,
        /// Keep daily roll-ups this long
        #[arg(long, default_value = "1825d")]
        keep_1d: String,
        #[command(flatten)]
        scope: ScopeArgs,
    },
    /// The counters the server publishes: name, unit, key
    Counters {
        #[command(flatten)]
        scope: ScopeArgs,
    },
    /// What the history database holds for OBJECT (glob) and one counter
    History {
        object: String,
        #[arg(long = "counter", default_value = "cpu.usage.average")]
        counter: String,
        /// Tier: 5m, 1h or 1d
        #[arg(long, default_value = "5m")]
        tier: String,
        #[arg(long)]
        since: Option<String>,
        #[arg(long)]
        db: Option<PathBuf>,
    },
}

pub use crate::ops::stats::seconds as secs;

pub fn run(ctx: &Ctx, args: StatsArgs) -> OpResult<()> {
    match args.command {
        None => show(ctx, args),
        Some(StatsCommand::Collect {
            every,
            for_,
            samples,
            backfill,
            counters,
            db,
            keep_5m,
            keep_1h,
            keep_1d,
            scope,
        }) => {
            let every = secs("--every", &every)?;
            let until = for_.map(|f| secs("--for", &f)).transpose()?;
            let opts = CollectOptions {
                counters,
                backfill: secs("--backfill", &backfill)?,
                retention: Retention {
                    five_minutes: secs("--keep-5m", &keep_5m)?,
                    hours: secs("--keep-1h", &keep_1h)?,
                    days: secs("--keep-1d", &keep_1d)?,
                },
            };
            let path = db.unwrap_or_else(history::default_path);
            let store = Store::open_writer(&path)?;
            // A note on stderr (also under --json): readers refuse a missing database,
            // so a typo in --db should not go unnoticed here either.
            match store.created() {
                Some(Created::File) => {
                    eprintln!("note: created a new history database at {}", path.display())
                }
                Some(Created::FileAndDirectory) => eprintln!(
                    "note: created a new history database at {} (and its directory)",
                    path.display()
                ),
                None => {}
            }
            collect(ctx, &ctx.scope(&scope), store, &opts, every, until, samples)
        }
        Some(StatsCommand::Counters { scope }) => {
            let all = ctx.app.block_on(async {
                let target = ctx.app.fleet.target(&ctx.scope(&scope)).await?;
                let client = target.endpoint.client().await?;
                stats::Catalog::read(&client)
                    .await
                    .map_err(|e| OpError::vim(target.endpoint.name(), e))
            })?;
            let all = all.all();
            if ctx.out.json {
                ctx.out.json(&all);
            } else {
                ctx.out.table(
                    &["COUNTER", "UNIT", "STATS", "KEY"],
                    all.iter()
                        .map(|c| {
                            vec![
                                c.name.clone(),
                                c.unit_label().to_string(),
                                c.stats_type.clone(),
                                c.key.to_string(),
                            ]
                        })
                        .collect(),
                );
            }
            Ok(())
        }
        Some(StatsCommand::History {
            object,
            counter,
            tier,
            since,
            db,
        }) => {
            let tier = secs("--tier", &tier)?;
            if !history::store::TIERS.contains(&tier) {
                return Err(OpError::invalid(format!(
                    "--tier {}: the database keeps 5m, 1h and 1d",
                    duration::show(tier)
                )));
            }
            let since = since
                .map(|s| secs("--since", &s).map(|s| chrono::Utc::now().timestamp() - s))
                .transpose()?;
            let store = Store::open_reader(&db.unwrap_or_else(history::default_path))?;
            let found = store.read_known(&HistoryQuery {
                object,
                counter,
                tier,
                since,
            })?;
            render(ctx, &found);
            Ok(())
        }
    }
}

fn show(ctx: &Ctx, args: StatsArgs) -> OpResult<()> {
    let q = stats::Query {
        object: args.object,
        counters: args.counters,
        since: secs("--since", &args.since)?,
        interval: args.interval.map(|i| secs("--interval", &i)).transpose()?,
    };
    let series = ctx
        .app
        .block_on(stats::read(&ctx.app.fleet, &ctx.scope(&args.scope), &q))?;
    render(ctx, &series);
    Ok(())
}

/// A value for the table, scaled to its unit (`--json` keeps the raw numbers).
fn num(v: Option<f64>, unit: &str) -> String {
    v.map(|v| super::render::counter_value(v, unit))
        .unwrap_or_else(|| "-".into())
}

fn render(ctx: &Ctx, series: &[Series]) {
    if ctx.out.json {
        ctx.out.json(series);
        return;
    }
    ctx.out.table(
        &[
            "OBJECT", "COUNTER", "INTERVAL", "SAMPLES", "MIN", "AVG", "MAX", "LAST", "UNIT",
            "TREND",
        ],
        series
            .iter()
            .map(|s| {
                let values: Vec<f64> = s.samples.iter().map(|p| p.value).collect();
                vec![
                    s.object.clone(),
                    s.counter.clone(),
                    duration::show(s.interval),
                    s.samples.len().to_string(),
                    num(s.min, &s.unit),
                    num(s.avg, &s.unit),
                    num(s.max, &s.unit),
                    num(s.last, &s.unit),
                    s.unit.clone(),
                    sparkline(&values, 24),
                ]
            })
            .collect(),
    );
}

fn collect(
    ctx: &Ctx,
    scope: &crate::ops::Scope,
    mut store: Store,
    opts: &CollectOptions,
    every: i64,
    until: Option<i64>,
    samples: Option<u64>,
) -> OpResult<()> {
    let started = std::time::Instant::now();
    let fleet = &ctx.app.fleet;
    ctx.app.block_on(async {
        let mut n = 0u64;
        loop {
            n += 1;
            // The write is one synchronous transaction: stopping between awaits never
            // leaves half a round in the file.
            let round = tokio::select! {
                r = history::round(fleet, scope, &mut store, opts, n) => r?,
                _ = super::interrupted() => return Err(OpError::Cancelled),
            };
            let (tiers, bytes) = store.size()?;
            if ctx.out.json {
                let mut line = serde_json::to_value(&round).unwrap_or_default();
                line["rows"] = serde_json::json!(tiers
                    .iter()
                    .map(|(t, c)| (duration::show(*t), *c))
                    .collect::<std::collections::BTreeMap<_, _>>());
                line["bytes"] = bytes.into();
                println!("{line}");
            } else {
                println!(
                    "round {}: {} objects, {} series, {} new samples ({} QueryPerf, {} ms); {} holds {} rows, {} KB",
                    round.round,
                    round.objects,
                    round.series,
                    round.stored,
                    round.round_trips,
                    round.millis,
                    store.path().display(),
                    tiers.iter().map(|(_, c)| c).sum::<i64>(),
                    bytes / 1024
                );
            }
            if samples.is_some_and(|max| n >= max)
                || until.is_some_and(|u| started.elapsed().as_secs() as i64 + every > u)
            {
                return Ok(());
            }
            tokio::select! {
                _ = tokio::time::sleep(std::time::Duration::from_secs(every as u64)) => {}
                _ = super::interrupted() => return Err(OpError::Cancelled),
            }
        }
    })
}
