//! `ceso host evacuate`: parse, plan (ops::migrate::evacuate), show the plan, ask, run,
//! render each VM's move and the maintenance outcome.

use std::path::PathBuf;

use clap::{ArgGroup, Args};

use crate::ops::OpResult;
use crate::ops::migrate::evacuate::{
    self, Destination, EvacuateSpec, Evacuation, Maintenance, Outcome, VmEvacuation,
};

use super::Ctx;
use super::args::ScopeArgs;
use super::confirm::confirm;
use super::progress::TermProgress;

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("destination").required(true).args(["to_host", "auto"])))]
pub struct EvacuateArgs {
    /// The ESXi host to empty (a host of a vCenter, or the endpoint of one)
    pub name: String,
    /// Move every VM to this host of the same endpoint, or to another endpoint
    /// (ENDPOINT, ENDPOINT/HOST, or a host of it; needs --cold: no vMotion between endpoints)
    #[arg(long, value_name = "HOST")]
    pub to_host: Option<String>,
    /// Let the placement engine choose each VM's host (never NAME, nor a host in maintenance mode)
    #[arg(long)]
    pub auto: bool,
    /// Move running VMs that cannot be vMotioned (passthrough, vGPU; every VM onto another endpoint): shut down, move, power on
    #[arg(long)]
    pub cold: bool,
    /// Onto another endpoint: move each running VM by warm migration (copied while it runs, off only for the cut-over)
    #[arg(long)]
    pub warm: bool,
    /// Enter maintenance mode once every VM has left
    #[arg(long)]
    pub maintenance: bool,
    /// A Rhai placement policy plugin for --auto (adds to the config's)
    #[arg(long, value_name = "FILE", requires = "auto")]
    pub policy: Vec<PathBuf>,
    /// Show each VM's move and checks, change nothing
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub scope: ScopeArgs,
}

pub fn run(ctx: &Ctx, args: EvacuateArgs) -> OpResult<()> {
    let scope = ctx.scope(&args.scope);
    let fleet = &ctx.app.fleet;
    let spec = EvacuateSpec {
        host: args.name.clone(),
        destination: match &args.to_host {
            Some(h) => Destination::Host(h.clone()),
            None => Destination::Auto,
        },
        cold: args.cold,
        warm: args.warm,
        maintenance: args.maintenance,
    };
    let policy = super::placement::policies(ctx, &args.policy)?;
    let plan = ctx
        .app
        .block_on(evacuate::plan(fleet, &scope, &spec, &policy))?;
    if args.dry_run {
        return report(ctx, plan);
    }
    let moving = plan.moving().count();
    if moving > 0 || matches!(plan.maintenance, Maintenance::WouldEnter) {
        if !ctx.yes && !ctx.out.json {
            print_plan(&plan, true);
        }
        confirm(ctx.yes, &question(&plan, moving))?;
    }
    let progress = TermProgress::new(ctx.out.json);
    let done = ctx.app.block_on(evacuate::run(fleet, plan, &progress));
    progress.finish();
    report(ctx, done)
}

fn question(plan: &Evacuation, moving: usize) -> String {
    let mut q = format!("Evacuate {}: move {moving} VM(s)", plan.host);
    let left = plan.vms.len() - moving;
    if left > 0 {
        q.push_str(&format!(" ({left} cannot move)"));
    }
    let restarted = |v: &&VmEvacuation| v.method == Some(evacuate::Method::ColdRestart);
    if plan
        .moving()
        .any(|v| v.method == Some(evacuate::Method::Warm))
    {
        q.push_str(", copying the running ones while they run and cutting each over (warm migration: a short shutdown each)");
    } else if plan.moving().any(|v| restarted(&v) && v.copy.is_some()) {
        q.push_str(", shutting down the running ones (no vMotion between endpoints)");
    } else if plan.moving().any(|v| restarted(&v)) {
        q.push_str(", shutting down the ones that cannot be vMotioned");
    }
    if matches!(plan.maintenance, Maintenance::WouldEnter) {
        q.push_str(", then enter maintenance mode");
    }
    q
}

/// `VM: FROM → TO, live (vMotion)`
fn describe(v: &VmEvacuation) -> String {
    let to = v.to_host.as_deref().unwrap_or("no host");
    let mut text = format!("{}: {} → {to}", v.vm, v.from_host);
    if let Some(m) = v.method {
        text.push_str(&format!(", {}", m.describe()));
    }
    if let Some(score) = v.score {
        text.push_str(&format!(" (placement score {score:.1})"));
    }
    if let Some(p) = &v.copy {
        text.push_str(&format!(
            ", {} files ({} bytes) to {} on {}",
            p.files.len(),
            p.bytes,
            p.folder,
            p.to_endpoint
        ));
    }
    text
}

/// The plan, VM by VM with its checks (stdout for a dry run, stderr before asking).
fn print_plan(plan: &Evacuation, to_stderr: bool) {
    let line = |text: String| {
        if to_stderr {
            eprintln!("{text}");
        } else {
            println!("{text}");
        }
    };
    if plan.vms.is_empty() {
        line(format!("{} has no VMs", plan.host));
    }
    for v in &plan.vms {
        let verb = match v.outcome {
            Outcome::WouldMove => "would move",
            _ => "cannot move",
        };
        line(format!("{verb} {}", describe(v)));
        for l in v.copy.iter().flat_map(|p| super::migrate::copy_lines(p)) {
            line(format!("  {l}"));
        }
        for c in &v.checks {
            line(format!("  {}", c.line()));
        }
        if v.checks.is_empty()
            && let Some(e) = &v.error
        {
            for l in e.lines() {
                line(format!("  {l}"));
            }
        }
    }
    match &plan.maintenance {
        Maintenance::WouldEnter => line(format!("then {} enters maintenance mode", plan.host)),
        Maintenance::Already => line(format!("{} is in maintenance mode already", plan.host)),
        Maintenance::Skipped { reason } => line(format!(
            "{} would not enter maintenance mode: {reason}",
            plan.host
        )),
        Maintenance::NotAsked | Maintenance::Entered => {}
    }
}

/// Every VM's outcome; the command's error is the evacuation's (one failure, or a
/// partial failure when some VMs moved and others did not).
fn report(ctx: &Ctx, mut ev: Evacuation) -> OpResult<()> {
    if ctx.out.json {
        ctx.out.json(&ev);
        return ev.result();
    }
    if ev.dry_run {
        print_plan(&ev, false);
        eprintln!("dry run: nothing was changed");
        return ev.result();
    }
    let several = ev.vms.len() > 1;
    for v in &ev.vms {
        match v.outcome {
            Outcome::Moved => {
                ctx.out.done(&format!("moved {}", describe(v)));
                if let Some(o) = &v.copied {
                    super::migrate::report_cold(o);
                }
                if let Some(o) = &v.warm {
                    super::migrate::report_warm(o);
                }
            }
            Outcome::WouldMove => {}
            Outcome::Refused | Outcome::Failed => {
                // One failure is the command's error, printed once on exit.
                if several && let Some(e) = v.problem() {
                    let text = e.to_string();
                    if text.starts_with(&v.vm) {
                        eprintln!("{text}");
                    } else {
                        eprintln!("{}: {text}", v.vm);
                    }
                    if let Some(hint) = e.hint() {
                        eprintln!("  hint: {hint}");
                    }
                }
            }
        }
    }
    if ev.vms.is_empty() {
        eprintln!("{} has no VMs", ev.host);
    }
    match &ev.maintenance {
        Maintenance::Entered => ctx.out.done(&format!("{} is in maintenance mode", ev.host)),
        Maintenance::Skipped { reason } => {
            eprintln!("{} did not enter maintenance mode: {reason}", ev.host)
        }
        Maintenance::Already => eprintln!("{} was in maintenance mode already", ev.host),
        Maintenance::NotAsked | Maintenance::WouldEnter => {}
    }
    ev.result()
}
