//! `ceso cluster …`

use clap::{Subcommand, ValueEnum};

use crate::ops::OpResult;
use crate::ops::clusters::{self, ClusterInfo, ClusterUpdate};

use super::Ctx;
use super::args::ScopeArgs;
use super::plan;
use super::progress::TermProgress;
use super::render::mb;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum OnOff {
    On,
    Off,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Automation {
    Manual,
    #[value(name = "partiallyAutomated", alias = "partially-automated")]
    PartiallyAutomated,
    #[value(name = "fullyAutomated", alias = "fully-automated")]
    FullyAutomated,
}

impl Automation {
    fn vim(self) -> &'static str {
        match self {
            Automation::Manual => "manual",
            Automation::PartiallyAutomated => "partiallyAutomated",
            Automation::FullyAutomated => "fullyAutomated",
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Clusters: hosts, DRS and HA settings, capacity and use
    List {
        #[command(flatten)]
        scope: ScopeArgs,
    },
    /// One cluster (default: vcenter.cluster in the config, or the only one)
    Info {
        cluster: Option<String>,
        #[command(flatten)]
        scope: ScopeArgs,
    },
    /// Change DRS settings; only what is given changes
    Update {
        cluster: Option<String>,
        /// Turn DRS on or off
        #[arg(long, value_enum)]
        drs: Option<OnOff>,
        /// DRS automation level
        #[arg(long, value_enum)]
        drs_automation: Option<Automation>,
        /// Migration threshold as in the vSphere Client: 1 (conservative) to 5 (aggressive)
        #[arg(long, value_name = "1-5", value_parser = crate::cli::numbers::int::<i64>(1, Some(5)))]
        drs_threshold: Option<i64>,
        /// Show the spec that would be sent and change nothing
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        scope: ScopeArgs,
    },
}

pub fn run(ctx: &Ctx, cmd: ClusterCommand) -> OpResult<()> {
    let fleet = &ctx.app.fleet;
    match cmd {
        ClusterCommand::List { scope } => {
            let all = ctx
                .app
                .block_on(clusters::list(fleet, &ctx.scope(&scope)))?;
            if ctx.out.json {
                ctx.out.json(&all);
                return Ok(());
            }
            ctx.out.table(
                &[
                    "CLUSTER",
                    "DATACENTER",
                    "HOSTS",
                    "VMS",
                    "DRS",
                    "AUTOMATION",
                    "THRESHOLD",
                    "HA",
                    "CPU USED",
                    "MEMORY USED",
                ],
                all.iter()
                    .map(|c| {
                        vec![
                            c.name.clone(),
                            c.datacenter.clone(),
                            c.hosts.len().to_string(),
                            c.vms.to_string(),
                            on_off(c.drs_enabled),
                            c.drs_automation.clone(),
                            c.drs_threshold.to_string(),
                            on_off(c.ha_enabled),
                            format!("{} / {} MHz", c.cpu_used_mhz, c.cpu_total_mhz),
                            format!("{} / {}", mb(c.memory_used_mb), mb(c.memory_total_mb)),
                        ]
                    })
                    .collect(),
            );
            Ok(())
        }
        ClusterCommand::Info { cluster, scope } => {
            let info = ctx.app.block_on(async {
                let target = fleet.target(&ctx.scope(&scope)).await?;
                clusters::info(&target, cluster.as_deref()).await
            })?;
            show(ctx, &info);
            Ok(())
        }
        ClusterCommand::Update {
            cluster,
            drs,
            drs_automation,
            drs_threshold,
            dry_run,
            scope,
        } => {
            let change = ClusterUpdate {
                drs: drs.map(|d| matches!(d, OnOff::On)),
                automation: drs_automation.map(|a| a.vim().to_string()),
                threshold: drs_threshold,
            };
            change.validate()?;
            let target = ctx.app.block_on(fleet.target(&ctx.scope(&scope)))?;
            if dry_run {
                let current = ctx
                    .app
                    .block_on(clusters::info(&target, cluster.as_deref()))?;
                let diff = change.diff(&current);
                plan::dry_run(ctx, &diff, &diff);
                return Ok(());
            }
            let progress = TermProgress::new(ctx.out.json);
            let (after, diff) = ctx.app.block_on(clusters::update(
                &target,
                cluster.as_deref(),
                &change,
                &progress,
            ))?;
            progress.finish();
            if ctx.out.json {
                ctx.out
                    .json(&serde_json::json!({"cluster": after, "changed": diff}));
            } else if diff.is_empty() {
                ctx.out
                    .done(&format!("{}: already as asked, nothing sent", after.name));
            } else {
                ctx.out.done(&format!("reconfigured {}", after.name));
                plan::sent(ctx, &diff);
            }
            Ok(())
        }
    }
}

fn on_off(v: bool) -> String {
    if v { "on" } else { "off" }.into()
}

fn show(ctx: &Ctx, c: &ClusterInfo) {
    if ctx.out.json {
        ctx.out.json(c);
        return;
    }
    ctx.out.fields(&[
        ("Name", c.name.clone()),
        ("ID", c.id.clone()),
        ("Datacenter", c.datacenter.clone()),
        ("Endpoint", c.endpoint.clone()),
        ("Hosts", c.hosts.join(", ")),
        (
            "VMs",
            format!("{} ({} powered on)", c.vms, c.vms_powered_on),
        ),
        ("DRS", on_off(c.drs_enabled)),
        ("Automation", c.drs_automation.clone()),
        (
            "Threshold",
            format!("{} of 5 (vmotionRate {})", c.drs_threshold, c.vmotion_rate),
        ),
        ("HA", on_off(c.ha_enabled)),
        ("Admission control", on_off(c.admission_control)),
        (
            "CPU",
            format!("{} of {} MHz used", c.cpu_used_mhz, c.cpu_total_mhz),
        ),
        (
            "Memory",
            format!("{} of {} used", mb(c.memory_used_mb), mb(c.memory_total_mb)),
        ),
        ("DRS rules", c.rules.to_string()),
        ("DRS groups", c.groups.to_string()),
    ]);
}
