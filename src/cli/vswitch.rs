//! `ceso vswitch list|create|delete`.

use crate::ops::OpResult;
use crate::ops::network::vswitch::{self, VswitchCreate};

use super::Ctx;
use super::confirm::confirm;
use super::network::{render_report, selector};
use super::network_args::VswitchCommand;
use super::progress::TermProgress;

pub fn run(ctx: &Ctx, cmd: VswitchCommand) -> OpResult<()> {
    let fleet = &ctx.app.fleet;
    let progress = TermProgress::new(ctx.out.json);
    match cmd {
        VswitchCommand::List { hosts } => {
            let rows = ctx
                .app
                .block_on(vswitch::list(fleet, &selector(ctx, &hosts)))?;
            drop(progress);
            if ctx.out.json {
                ctx.out.json(&rows);
                return Ok(());
            }
            let table = rows
                .iter()
                .map(|r| {
                    vec![
                        r.host.clone(),
                        r.name.clone(),
                        r.mtu.to_string(),
                        r.ports.to_string(),
                        r.uplinks.join(","),
                        r.portgroups.join(", "),
                    ]
                })
                .collect();
            ctx.out.table(
                &["HOST", "NAME", "MTU", "PORTS", "UPLINKS", "PORT GROUPS"],
                table,
            );
        }
        VswitchCommand::Create {
            name,
            uplinks,
            mtu,
            ports,
            policy,
            dry_run,
            hosts,
        } => {
            let req = VswitchCreate {
                name,
                uplinks,
                mtu,
                ports,
                policy: policy.input().parse()?,
            };
            let r = ctx.app.block_on(vswitch::create(
                fleet,
                &selector(ctx, &hosts),
                &req,
                dry_run,
                &progress,
            ));
            drop(progress);
            render_report(ctx, &r?);
        }
        VswitchCommand::Delete {
            name,
            dry_run,
            hosts,
        } => {
            let sel = selector(ctx, &hosts);
            if !dry_run {
                ctx.app
                    .block_on(vswitch::delete(fleet, &sel, &name, true, &progress))?;
                confirm(
                    ctx.yes,
                    &format!("Delete vSwitch {name} and its port groups"),
                )?;
            }
            let r = ctx
                .app
                .block_on(vswitch::delete(fleet, &sel, &name, dry_run, &progress));
            drop(progress);
            render_report(ctx, &r?);
        }
    }
    Ok(())
}
