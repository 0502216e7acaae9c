//! `ceso dvs …`: distributed switches, their member hosts and port groups.

use crate::ops::OpResult;
use crate::ops::network::dvs::{self, DvPortgroupChange, DvsCreate, Membership, MembershipChange};
use crate::ops::network::snapshot::DvPortgroup;

use super::Ctx;
use super::confirm::confirm;
use super::network::render_change;
use super::network_args::{DvVlanArgs, DvsCommand, DvsHostCommand, DvsPortgroupCommand};
use super::progress::TermProgress;

fn vlan(a: &DvVlanArgs) -> OpResult<Option<crate::ops::network::snapshot::Vlan>> {
    dvs::dv_vlan(a.vlan_id, a.trunk.as_deref(), a.pvlan)
}

pub fn run(ctx: &Ctx, cmd: DvsCommand) -> OpResult<()> {
    let fleet = &ctx.app.fleet;
    let progress = TermProgress::new(ctx.out.json);
    match cmd {
        DvsCommand::List { scope } => {
            let all = ctx.app.block_on(dvs::list(fleet, &ctx.scope(&scope)))?;
            drop(progress);
            if ctx.out.json {
                ctx.out.json(&all);
                return Ok(());
            }
            let rows = all
                .iter()
                .map(|d| {
                    let s = &d.switch;
                    vec![
                        s.name.clone(),
                        s.members.len().to_string(),
                        s.uplink_names.join(","),
                        s.max_mtu.unwrap_or(1500).to_string(),
                        s.portgroups.join(", "),
                    ]
                })
                .collect();
            ctx.out
                .table(&["NAME", "HOSTS", "UPLINKS", "MTU", "PORT GROUPS"], rows);
        }
        DvsCommand::Info { name, scope } => {
            let info = ctx
                .app
                .block_on(dvs::info(fleet, &ctx.scope(&scope), &name))?;
            drop(progress);
            if ctx.out.json {
                ctx.out.json(&info);
                return Ok(());
            }
            let s = &info.switch;
            let members = s
                .members
                .iter()
                .map(|m| {
                    format!(
                        "{} ({})",
                        m.host,
                        if m.uplinks.is_empty() {
                            "no uplinks".into()
                        } else {
                            m.uplinks.join(",")
                        }
                    )
                })
                .collect::<Vec<_>>()
                .join("; ");
            let mut fields = vec![
                ("Name", s.name.clone()),
                ("UUID", s.uuid.clone()),
                ("Version", s.config_version.clone()),
                ("MTU", s.max_mtu.unwrap_or(1500).to_string()),
                ("Uplink ports", s.uplink_names.join(", ")),
                ("Members", members),
            ];
            for (k, v) in s.policy.settings() {
                fields.push((k, v));
            }
            ctx.out.fields(&fields);
            println!();
            render_portgroups(ctx, &info.dv_portgroups);
        }
        DvsCommand::Create {
            name,
            uplinks,
            mtu,
            dry_run,
            scope,
        } => {
            // The datacenter is the global `--dc`, which the endpoint's spec carries.
            let req = DvsCreate {
                name,
                uplinks,
                mtu,
                datacenter: None,
            };
            let c = ctx.app.block_on(dvs::create(
                fleet,
                &ctx.scope(&scope),
                &req,
                dry_run,
                &progress,
            ));
            drop(progress);
            let c = c?;
            render_change(ctx, &c, &format!("Distributed switch {}", c.switch));
        }
        DvsCommand::Update {
            name,
            mtu,
            policy,
            dry_run,
            scope,
        } => {
            let policy = policy.input().parse()?;
            let c = ctx.app.block_on(dvs::update(
                fleet,
                &ctx.scope(&scope),
                &name,
                mtu,
                &policy,
                dry_run,
                &progress,
            ));
            drop(progress);
            render_change(ctx, &c?, &format!("Distributed switch {name}"));
        }
        DvsCommand::Delete {
            name,
            dry_run,
            scope,
        } => {
            let scope = ctx.scope(&scope);
            if !dry_run {
                ctx.app
                    .block_on(dvs::delete(fleet, &scope, &name, true, &progress))?;
                confirm(ctx.yes, &format!("Delete distributed switch {name}"))?;
            }
            let c = ctx
                .app
                .block_on(dvs::delete(fleet, &scope, &name, dry_run, &progress));
            drop(progress);
            render_change(ctx, &c?, &format!("Distributed switch {name}"));
        }
        DvsCommand::Host(cmd) => {
            let (name, hosts, uplinks, op, dry_run, scope) = match cmd {
                DvsHostCommand::Add {
                    dvs,
                    hosts,
                    uplinks,
                    dry_run,
                    scope,
                } => (dvs, hosts, uplinks, Membership::Add, dry_run, scope),
                DvsHostCommand::Remove {
                    dvs,
                    hosts,
                    dry_run,
                    scope,
                } => (dvs, hosts, vec![], Membership::Remove, dry_run, scope),
            };
            let change = MembershipChange {
                switch: name.clone(),
                hosts,
                uplinks,
                op,
            };
            let c = ctx.app.block_on(dvs::hosts(
                fleet,
                &ctx.scope(&scope),
                &change,
                dry_run,
                &progress,
            ));
            drop(progress);
            render_change(ctx, &c?, &format!("Distributed switch {name}"));
        }
        DvsCommand::Portgroup(cmd) => portgroup(ctx, cmd, progress)?,
    }
    Ok(())
}

fn portgroup(ctx: &Ctx, cmd: DvsPortgroupCommand, progress: TermProgress) -> OpResult<()> {
    let fleet = &ctx.app.fleet;
    match cmd {
        DvsPortgroupCommand::List { dvs: name, scope } => {
            let pgs = ctx
                .app
                .block_on(dvs::portgroups(fleet, &ctx.scope(&scope), &name))?;
            drop(progress);
            if ctx.out.json {
                ctx.out.json(&pgs);
            } else {
                render_portgroups(ctx, &pgs);
            }
        }
        DvsPortgroupCommand::Create {
            dvs: switch,
            name,
            vlan: v,
            ports,
            binding,
            policy,
            dry_run,
            scope,
        } => {
            let change = DvPortgroupChange {
                switch,
                name,
                rename: None,
                vlan: vlan(&v)?,
                ports,
                binding,
                policy: policy.input().parse()?,
            };
            let c = ctx.app.block_on(dvs::portgroup_create(
                fleet,
                &ctx.scope(&scope),
                &change,
                dry_run,
                &progress,
            ));
            drop(progress);
            render_change(ctx, &c?, &format!("Port group {}", change.name));
        }
        DvsPortgroupCommand::Update {
            dvs: switch,
            name,
            vlan: v,
            ports,
            binding,
            rename,
            policy,
            dry_run,
            scope,
        } => {
            let change = DvPortgroupChange {
                switch,
                name,
                rename,
                vlan: vlan(&v)?,
                ports,
                binding,
                policy: policy.input().parse()?,
            };
            let c = ctx.app.block_on(dvs::portgroup_update(
                fleet,
                &ctx.scope(&scope),
                &change,
                dry_run,
                &progress,
            ));
            drop(progress);
            render_change(ctx, &c?, &format!("Port group {}", change.name));
        }
        DvsPortgroupCommand::Delete {
            dvs: switch,
            name,
            dry_run,
            scope,
        } => {
            let scope = ctx.scope(&scope);
            if !dry_run {
                ctx.app.block_on(dvs::portgroup_delete(
                    fleet, &scope, &switch, &name, true, &progress,
                ))?;
                confirm(ctx.yes, &format!("Delete port group {name} of {switch}"))?;
            }
            let c = ctx.app.block_on(dvs::portgroup_delete(
                fleet, &scope, &switch, &name, dry_run, &progress,
            ));
            drop(progress);
            render_change(ctx, &c?, &format!("Port group {name}"));
        }
    }
    Ok(())
}

fn render_portgroups(ctx: &Ctx, pgs: &[DvPortgroup]) {
    let rows = pgs
        .iter()
        .map(|p| {
            let s = p.policy.settings();
            let security = s
                .iter()
                .take(3)
                .map(|(_, v)| v.clone())
                .collect::<Vec<_>>()
                .join("/");
            vec![
                p.name.clone(),
                p.vlan.as_ref().map_or("0".into(), |v| v.show()),
                p.binding.clone(),
                p.ports.to_string(),
                security,
                if p.uplink {
                    "uplinks".into()
                } else {
                    String::new()
                },
            ]
        })
        .collect();
    ctx.out.table(
        &[
            "NAME",
            "VLAN",
            "BINDING",
            "PORTS",
            "PROMISC/MAC/FORGED",
            "ROLE",
        ],
        rows,
    );
}
