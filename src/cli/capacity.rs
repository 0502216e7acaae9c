//! `ceso capacity report`: terminal summary with sparklines, `--json`, a self-contained
//! HTML page (capacity_page), and PNG charts (charts).

use std::path::PathBuf;

use clap::Subcommand;

use crate::metrics::capacity::DayRange;
use crate::metrics::sparkline::sparkline;
use crate::ops::capacity::{self, CapacityQuery, Group, Report, Resource};
use crate::ops::history::{self, Store};
use crate::ops::{OpError, OpResult};

use super::Ctx;
use super::args::ScopeArgs;
use super::charts;
use super::stats::secs;

#[derive(Debug, Subcommand)]
pub enum CapacityCommand {
    /// Per cluster (or standalone host): use trend with its fit, headroom within the overcommit ratios, days until CPU/memory run out, fastest-growing VMs
    Report {
        #[arg(long)]
        cluster: Option<String>,
        /// How far ahead to forecast
        #[arg(long, default_value = "90d")]
        horizon: String,
        /// Write a self-contained HTML report with charts
        #[arg(long, value_name = "FILE")]
        html: Option<PathBuf>,
        /// Write one PNG chart per cluster and resource into DIR
        #[arg(long, value_name = "DIR")]
        png: Option<PathBuf>,
        /// How many of the fastest-growing VMs to list
        #[arg(long, default_value_t = 5, value_parser = crate::cli::numbers::int::<usize>(1, None))]
        top: usize,
        /// History database (default: $XDG_DATA_HOME/ceso/history.sqlite)
        #[arg(long)]
        db: Option<PathBuf>,
        #[command(flatten)]
        scope: ScopeArgs,
    },
}

pub fn run(ctx: &Ctx, cmd: CapacityCommand) -> OpResult<()> {
    let CapacityCommand::Report {
        cluster,
        horizon,
        html,
        png,
        top,
        db,
        scope,
    } = cmd;
    let q = CapacityQuery {
        cluster,
        horizon_days: secs("--horizon", &horizon)? as f64 / 86400.0,
        top,
    };
    let store = Store::open_reader(&db.unwrap_or_else(history::default_path))?;
    let report = ctx.app.block_on(capacity::report(
        &ctx.app.fleet,
        &ctx.scope(&scope),
        &store,
        &q,
    ))?;
    if let Some(path) = &html {
        std::fs::write(path, super::capacity_page::html(&report))
            .map_err(|e| OpError::Io(format!("{}: {e}", path.display())))?;
    }
    if let Some(dir) = &png {
        std::fs::create_dir_all(dir).map_err(|e| OpError::Io(format!("{}: {e}", dir.display())))?;
        for g in &report.groups {
            for r in g.resources.iter().filter(|r| !r.usage.is_empty()) {
                let file = dir.join(format!(
                    "{}.png",
                    file_name(&format!("{}-{}", g.name, r.name))
                ));
                charts::png(&file, &title(g, r), r, report.horizon_days)
                    .map_err(|e| OpError::Io(format!("{}: {e}", file.display())))?;
            }
        }
    }
    if ctx.out.json {
        ctx.out.json(&report);
    } else {
        summary(&report);
    }
    Ok(())
}

fn file_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn title(g: &Group, r: &Resource) -> String {
    format!("{} {}", g.name, r.name)
}

/// One sentence on when a resource runs out, and how sure that is: no date without a
/// reliable trend (R² below 0.3), else the date with the range the slope's uncertainty
/// allows.
pub fn outlook(r: &Resource, horizon: f64) -> String {
    let Some(f) = &r.forecast else {
        return "no forecast".into();
    };
    let trend = format!(
        "{:+.2} %/day, fit {} (R² {:.2}, {} days)",
        f.trend.slope, f.quality, f.trend.r2, f.trend.points
    );
    if !f.reliable {
        return format!(
            "no reliable trend (R² {:.2}, {} days): no date forecast; {:+.2} %/day",
            f.trend.r2, f.trend.points, f.trend.slope
        );
    }
    let Some(d) = f.days_left else {
        return format!("not rising; {trend}");
    };
    let range = likely(f.days_left_range);
    let beyond = if f.within_horizon {
        String::new()
    } else {
        format!(", beyond the {horizon:.0}-day horizon")
    };
    format!("full in {d:.0} days{range}{beyond}; {trend}")
}

/// " (likely 52 to 70 days)": where the slope's uncertainty puts the day.
pub(super) fn likely(range: Option<DayRange>) -> String {
    match range {
        Some(DayRange {
            earliest,
            latest: Some(latest),
        }) => format!(" (likely {earliest:.0} to {latest:.0} days)"),
        Some(DayRange {
            earliest,
            latest: None,
        }) => format!(" (likely {earliest:.0} days or later, perhaps never)"),
        None => String::new(),
    }
}

/// `allocated 24 vCPUs of 12 vCPUs (-12 vCPUs headroom)`: every number with its unit.
pub(super) fn allocation(r: &Resource) -> String {
    let u = &r.allocated_unit;
    format!(
        "{} {:.0} {u} of {:.0} {u} ({:.0} {u} {})",
        r.allocation, r.allocated, r.allocatable, r.headroom, r.headroom_label
    )
}

fn summary(report: &Report) {
    println!(
        "capacity report, horizon {:.0} days, overcommit cpu {}x memory {}x",
        report.horizon_days, report.overcommit.cpu, report.overcommit.memory
    );
    for g in &report.groups {
        println!("\n{} ({}): {} host(s)", g.name, g.endpoint, g.hosts.len());
        if let Some(why) = &g.insufficient {
            println!("  too little history: {why}");
        }
        for r in &g.resources {
            let values: Vec<f64> = r.usage.iter().map(|p| p.1).collect();
            let now = r
                .forecast
                .as_ref()
                .map(|f| f.now)
                .or(values.last().copied());
            println!(
                "  {:<6} {:>6} used  {}  {}",
                r.name,
                now.map(|v| format!("{v:.1}%"))
                    .unwrap_or_else(|| "-".into()),
                sparkline(&values, 30),
                allocation(r)
            );
            println!("         {}", outlook(r, report.horizon_days));
        }
        if !g.top_vms.is_empty() {
            println!("  fastest-growing VMs (memory MB/day, CPU MHz/day):");
            for v in &g.top_vms {
                println!(
                    "    {:<24} {:+8.1} {:+8.1}",
                    v.name, v.memory_mb_per_day, v.cpu_mhz_per_day
                );
            }
        }
    }
}
