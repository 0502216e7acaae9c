//! `ceso network …`: list, create/update/delete standard port groups, check. Also the
//! rendering of multi-host reports shared by `vswitch` and `dvs`.

use crate::ops::OpResult;
use crate::ops::network::dvs::DvsChange;
use crate::ops::network::hosts_apply::{HostOutcome, Outcome, Report};
use crate::ops::network::{self, HostSelector, PortgroupChange, list, portgroup};

use super::Ctx;
use super::confirm::confirm;
use super::network_args::{HostsArgs, NetworkCommand};
use super::progress::TermProgress;
use super::report;

/// Runs a network command; `network check` exits 1 when it finds something.
pub fn run(ctx: &Ctx, cmd: NetworkCommand) -> u8 {
    match run_inner(ctx, cmd) {
        Ok(code) => code,
        Err(e) => {
            let code = report::exit_code(&e);
            eprintln!("{:?}", report::report(e));
            code
        }
    }
}

pub fn selector(ctx: &Ctx, hosts: &HostsArgs) -> HostSelector {
    HostSelector {
        scope: ctx.scope(&hosts.scope),
        cluster: hosts.cluster.clone(),
    }
}

fn run_inner(ctx: &Ctx, cmd: NetworkCommand) -> OpResult<u8> {
    let fleet = &ctx.app.fleet;
    let progress = TermProgress::new(ctx.out.json);
    match cmd {
        NetworkCommand::List { scope } => {
            let rows = ctx.app.block_on(list::list(fleet, &ctx.scope(&scope)))?;
            render_list(ctx, &rows);
        }
        NetworkCommand::Create(a) => {
            let change = PortgroupChange {
                name: a.name,
                vlan: a.vlan_id,
                vswitch: a.vswitch,
                rename: None,
                policy: a.policy.input().parse()?,
            };
            let sel = selector(ctx, &a.hosts);
            let r = ctx.app.block_on(portgroup::create(
                fleet, &sel, &change, a.dry_run, &progress,
            ));
            drop(progress);
            render_report(ctx, &r?);
        }
        NetworkCommand::Update(a) => {
            let change = PortgroupChange {
                name: a.name,
                vlan: a.vlan_id,
                vswitch: a.vswitch,
                rename: a.rename,
                policy: a.policy.input().parse()?,
            };
            let sel = selector(ctx, &a.hosts);
            let r = ctx.app.block_on(portgroup::update(
                fleet, &sel, &change, a.dry_run, &progress,
            ));
            drop(progress);
            render_report(ctx, &r?);
        }
        NetworkCommand::Delete {
            name,
            dry_run,
            hosts,
        } => {
            let sel = selector(ctx, &hosts);
            if !dry_run {
                // Plan first (a dry run) so the question names the hosts.
                let plan = ctx
                    .app
                    .block_on(portgroup::delete(fleet, &sel, &name, true, &progress))?;
                let on: Vec<&str> = plan
                    .hosts
                    .iter()
                    .filter(|h| h.outcome == Outcome::WouldChange)
                    .map(|h| h.host.as_str())
                    .collect();
                confirm(
                    ctx.yes,
                    &format!("Delete port group {name} on {}", on.join(", ")),
                )?;
            }
            let r = ctx
                .app
                .block_on(portgroup::delete(fleet, &sel, &name, dry_run, &progress));
            drop(progress);
            render_report(ctx, &r?);
        }
        NetworkCommand::Check { cluster, scope } => {
            let report = ctx.app.block_on(network::check_scope(
                fleet,
                &ctx.scope(&scope),
                cluster.as_deref(),
            ))?;
            if ctx.out.json {
                ctx.out.json(&report);
            } else if report.consistent {
                println!(
                    "consistent: {} hosts in {} cluster(s), no findings",
                    report.hosts,
                    report.clusters.len()
                );
            } else {
                println!("{} finding(s):", report.findings.len());
                for f in &report.findings {
                    println!("- {}", f.describe());
                }
            }
            return Ok(if report.consistent { 0 } else { 1 });
        }
    }
    Ok(0)
}

fn render_list(ctx: &Ctx, rows: &[list::NetworkRow]) {
    if ctx.out.json {
        ctx.out.json(rows);
        return;
    }
    let many = rows.iter().any(|r| r.endpoint != rows[0].endpoint);
    let mut headers = vec![
        "NAME", "TYPE", "HOST", "SWITCH", "VLAN", "SECURITY", "TEAMING", "VMS",
    ];
    if many {
        headers.insert(0, "ENDPOINT");
    }
    let table = rows
        .iter()
        .map(|r| {
            let security = r.policy.as_ref().map_or(String::new(), |p| {
                let s = p.settings();
                s.iter()
                    .take(3)
                    .map(|(k, v)| format!("{}={v}", short(k)))
                    .collect::<Vec<_>>()
                    .join(" ")
            });
            let teaming = r.policy.as_ref().map_or(String::new(), |p| {
                let lb = p
                    .load_balancing
                    .as_deref()
                    .map(network::policy::LoadBalancing::short)
                    .unwrap_or("inherit");
                match &p.active {
                    Some(a) => format!("{lb} active={}", a.join(",")),
                    None => lb.to_string(),
                }
            });
            let mut row = vec![
                r.name.clone(),
                r.kind.to_string(),
                r.host.clone().unwrap_or_else(|| "-".into()),
                r.switch.clone().unwrap_or_else(|| "-".into()),
                r.vlan.clone(),
                security,
                teaming,
                r.vms.join(", "),
            ];
            if many {
                row.insert(0, r.endpoint.clone());
            }
            row
        })
        .collect();
    ctx.out.table(&headers, table);
}

fn short(setting: &str) -> &str {
    match setting {
        "promiscuous" => "promisc",
        "mac-changes" => "mac",
        "forged-transmits" => "forged",
        other => other,
    }
}

fn outcome_text(o: Outcome) -> &'static str {
    match o {
        Outcome::WouldChange => "would change",
        Outcome::Unchanged => "unchanged",
        Outcome::Changed => "changed",
        Outcome::Restored => "restored",
        Outcome::NotRestored => "NOT RESTORED",
        Outcome::Failed => "failed",
        Outcome::NotAttempted => "not attempted",
    }
}

fn render_host(h: &HostOutcome, many_endpoints: bool) {
    let at = if many_endpoints {
        format!(" ({})", h.endpoint)
    } else {
        String::new()
    };
    println!("{}{at}: {}", h.host, outcome_text(h.outcome));
    for c in &h.changes {
        println!("  {}: {} -> {}", c.setting, c.before, c.after);
    }
}

/// A multi-host change: per host its outcome and each setting before -> after.
pub fn render_report(ctx: &Ctx, r: &Report) {
    if ctx.out.json {
        ctx.out.json(r);
        return;
    }
    let many = r.hosts.iter().any(|h| h.endpoint != r.hosts[0].endpoint);
    let verb = if r.dry_run { "Would change" } else { "Changed" };
    let n = if r.dry_run {
        r.count(Outcome::WouldChange)
    } else {
        r.count(Outcome::Changed)
    };
    println!("{}: {verb} {n} of {} host(s)", r.action, r.hosts.len());
    for h in &r.hosts {
        render_host(h, many);
    }
}

/// A switch-level change (dvs, dv port group).
pub fn render_change(ctx: &Ctx, c: &DvsChange, what: &str) {
    if ctx.out.json {
        ctx.out.json(c);
        return;
    }
    let verb = if c.dry_run { "Would change" } else { "Changed" };
    println!("{what}: {verb} ({} setting(s))", c.changes.len());
    for d in &c.changes {
        println!("  {}: {} -> {}", d.setting, d.before, d.after);
    }
}
