//! `ceso host …`

use crate::config::schema::HostEntry;
use crate::ops::hosts::{self, NewHost};
use crate::ops::{OpError, OpResult};
use crate::vim::Secret;

use super::Ctx;
use super::args::HostCommand;
use super::render::mb;

pub fn run(ctx: &Ctx, cmd: HostCommand) -> OpResult<()> {
    match cmd {
        HostCommand::List { scope } => {
            let scope = ctx.scope(&scope);
            let found = ctx.app.block_on(hosts::list(&ctx.app.fleet, &scope))?;
            let rows = &found.items;
            if ctx.out.json {
                ctx.out.json(rows);
            } else {
                table(ctx, rows);
            }
            // The rows already say what failed: no more lines, but an exit code that
            // tells a partial answer (7), or no answer at all, from a whole one.
            let mut errors = found.errors;
            if found.answered == 0 && !errors.is_empty() {
                return Err(errors.remove(0).error);
            }
            super::report::partial_failure(&errors)
        }
        HostCommand::Info { name, scope } => {
            // One object, like `vm info` (an endpoint with several hosts is ambiguous);
            // `--host` narrows where NAME is looked for.
            let scope = ctx.scope(&scope);
            let h = ctx
                .app
                .block_on(hosts::find(&ctx.app.fleet, &scope, &name))?;
            if ctx.out.json {
                ctx.out.json(&h);
                return Ok(());
            }
            let s = &h.summary;
            ctx.out.fields(&[
                ("Name", s.name.clone()),
                ("Endpoint", s.endpoint.clone()),
                ("Cluster", s.cluster.clone()),
                ("Product", h.product.clone()),
                ("Version", format!("{} build {}", s.version, h.build)),
                ("Hardware", format!("{} {}", h.vendor, h.model)),
                (
                    "CPU",
                    format!(
                        "{} ({} packages, {} cores, {} threads)",
                        h.cpu_model, h.cpu_packages, s.cpu_cores, h.cpu_threads
                    ),
                ),
                (
                    "CPU usage",
                    format!("{} of {} MHz", s.cpu_usage_mhz, s.cpu_mhz),
                ),
                (
                    "Memory usage",
                    format!("{} of {}", mb(s.memory_usage_mb), mb(s.memory_mb)),
                ),
                ("Connection", s.connection_state.clone()),
                ("Power", s.power_state.clone()),
                (
                    "Maintenance",
                    if s.maintenance { "yes" } else { "no" }.into(),
                ),
                ("VMs", s.vms.to_string()),
                ("Datastores", h.datastores.join(", ")),
                ("Networks", h.networks.join(", ")),
                ("UUID", h.uuid.clone()),
            ]);
            Ok(())
        }
        HostCommand::Evacuate(args) => super::evacuate::run(ctx, args),
        HostCommand::Add {
            name,
            address,
            user,
            password_env,
            password_command,
            thumbprint,
            default,
            dry_run,
        } => {
            let path = ctx
                .app
                .config_path
                .clone()
                .ok_or_else(|| OpError::invalid("no config path: pass --config PATH"))?;
            let given = ctx.app.block_on(crate::ops::password::for_new_host(
                &name,
                password_env.as_deref(),
                password_command.as_deref(),
            ))?;
            let password = match given {
                Some(secret) => secret,
                None => ask_password(&user, &name)?,
            };
            let entry = HostEntry {
                name: name.clone(),
                host: address,
                user: Some(user),
                default,
                insecure: ctx.insecure,
                thumbprint,
                ca_file: None,
                password_env,
                password_command,
                datacenter: None,
            };
            let added = ctx.app.block_on(hosts::add(
                &path,
                NewHost { entry, password },
                ctx.app.fleet.timeouts.connect,
                dry_run,
            ))?;
            if ctx.out.json {
                ctx.out.json(&added);
            } else if dry_run {
                println!(
                    "{name} ({}) answers; would change {}:",
                    added.product,
                    path.display()
                );
                print!("{}", added.diff);
            } else {
                ctx.out.done(&format!(
                    "added {name} ({}) to {}",
                    added.product,
                    path.display()
                ));
            }
            Ok(())
        }
    }
}

fn table(ctx: &Ctx, rows: &[hosts::HostSummary]) {
    ctx.out.table(
        &[
            "NAME", "ENDPOINT", "CLUSTER", "STATE", "MAINT", "VERSION", "CPU", "MEMORY", "VMS",
        ],
        rows.iter()
            .map(|h| match &h.error {
                Some(e) => vec![
                    h.name.clone(),
                    h.endpoint.clone(),
                    String::new(),
                    format!("{}: {e}", h.connection_state),
                ],
                None => vec![
                    h.name.clone(),
                    h.endpoint.clone(),
                    h.cluster.clone(),
                    h.connection_state.clone(),
                    if h.maintenance { "yes" } else { "no" }.into(),
                    h.version.clone(),
                    format!("{}/{} MHz", h.cpu_usage_mhz, h.cpu_mhz),
                    format!("{}/{}", h.memory_usage_mb, mb(h.memory_mb)),
                    h.vms.to_string(),
                ],
            })
            .collect(),
    );
}

fn ask_password(user: &str, name: &str) -> OpResult<Secret> {
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() {
        return Err(OpError::Invalid {
            message: format!("no password to check the connection to {name}"),
            hint: Some(
                "pass --password-env VAR (the variable's name is stored, not its value)".into(),
            ),
        });
    }
    rpassword::prompt_password(format!("Password for {user}@{name}: "))
        .map(Secret::new)
        .map_err(|e| OpError::invalid(format!("cannot read the password: {e}")))
}
