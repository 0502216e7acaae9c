//! `ceso vm nic list|add|set|remove`.

use crate::ops::OpResult;
use crate::ops::network::nic::{self, NicChange};

use super::Ctx;
use super::confirm::confirm;
use super::network_args::NicCommand;
use super::progress::TermProgress;

fn render(ctx: &Ctx, c: &NicChange) {
    if ctx.out.json {
        ctx.out.json(c);
        return;
    }
    let verb = if c.dry_run { "would" } else { "done:" };
    let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "(none)".into());
    println!(
        "{} {} {verb} {} {} -> {}{}",
        c.vm,
        c.nic,
        c.action,
        show(&c.before),
        show(&c.after),
        if c.mac.is_empty() {
            String::new()
        } else {
            format!(" (MAC {})", c.mac)
        }
    );
}

pub fn run(ctx: &Ctx, cmd: NicCommand) -> OpResult<()> {
    let fleet = &ctx.app.fleet;
    let progress = TermProgress::new(ctx.out.json);
    match cmd {
        NicCommand::List { vm, scope } => {
            let nics = ctx
                .app
                .block_on(nic::list(fleet, &ctx.scope(&scope), &vm))?;
            drop(progress);
            if ctx.out.json {
                ctx.out.json(&nics);
                return Ok(());
            }
            let rows = nics
                .iter()
                .map(|n| {
                    vec![
                        n.label.clone(),
                        match &n.sriov_physical_function {
                            Some(pf) => format!("{} (PF {pf})", n.kind),
                            None => n.kind.clone(),
                        },
                        n.mac.clone(),
                        n.network.clone(),
                        n.key.to_string(),
                    ]
                })
                .collect();
            ctx.out
                .table(&["NIC", "TYPE", "MAC", "NETWORK", "KEY"], rows);
        }
        NicCommand::Add {
            vm,
            network,
            kind,
            sriov,
            dry_run,
            scope,
        } => {
            let c = ctx.app.block_on(nic::add(
                fleet,
                &ctx.scope(&scope),
                &vm,
                nic::NewNic {
                    network: &network,
                    kind: kind.as_deref(),
                    sriov: sriov.as_deref(),
                },
                dry_run,
                &progress,
            ));
            drop(progress);
            render(ctx, &c?);
        }
        NicCommand::Set {
            vm,
            nic: which,
            network,
            dry_run,
            scope,
        } => {
            let c = ctx.app.block_on(nic::set(
                fleet,
                &ctx.scope(&scope),
                &vm,
                &which,
                &network,
                dry_run,
                &progress,
            ));
            drop(progress);
            render(ctx, &c?);
        }
        NicCommand::Remove {
            vm,
            nic: which,
            dry_run,
            scope,
        } => {
            let scope = ctx.scope(&scope);
            if !dry_run {
                confirm(ctx.yes, &format!("Remove {which} from {vm}"))?;
            }
            let c = ctx
                .app
                .block_on(nic::remove(fleet, &scope, &vm, &which, dry_run, &progress));
            drop(progress);
            render(ctx, &c?);
        }
    }
    Ok(())
}
