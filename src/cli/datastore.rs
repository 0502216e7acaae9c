//! `ceso datastore …`

use crate::ops::datastores::{self, DatastoreSummary};
use crate::ops::{OpResult, Scope};

use super::Ctx;
use super::args::DatastoreCommand;
use super::datastore_files as files;
use super::render::{percent, size_mb};

pub fn run(ctx: &Ctx, cmd: DatastoreCommand) -> OpResult<()> {
    match cmd {
        DatastoreCommand::List { scope } => list(ctx, &ctx.scope(&scope)),
        DatastoreCommand::Ls(args) => files::ls(ctx, args),
        DatastoreCommand::Upload(args) => files::upload(ctx, args),
        DatastoreCommand::Download(args) => files::download(ctx, args),
        DatastoreCommand::Rm(args) => files::rm(ctx, args),
        DatastoreCommand::Mkdir(args) => files::mkdir(ctx, args),
        DatastoreCommand::Mv(args) => files::mv_or_cp(ctx, args, false),
        DatastoreCommand::Cp(args) => files::mv_or_cp(ctx, args, true),
    }
}

fn list(ctx: &Ctx, scope: &Scope) -> OpResult<()> {
    let found = ctx
        .app
        .block_on(datastores::list_each(&ctx.app.fleet, scope))?
        .unless_all_failed()?;
    if ctx.out.json {
        ctx.out.json_gathered(&found);
    } else {
        table(ctx, scope, &found.items);
    }
    super::report::endpoint_errors(&found.errors)
}

fn table(ctx: &Ctx, scope: &Scope, all: &[DatastoreSummary]) {
    let many_endpoints =
        ctx.many_endpoints(scope) || all.iter().any(|d| d.endpoint != all[0].endpoint);
    let mut headers = vec![
        "NAME",
        "TYPE",
        "CAPACITY",
        "FREE",
        "USED",
        "ACCESSIBLE",
        "HOSTS",
        "VMS",
    ];
    if many_endpoints {
        headers.push("ENDPOINT");
    }
    ctx.out.table(
        &headers,
        all.iter()
            .map(|d| {
                let mut row = vec![
                    d.name.clone(),
                    d.kind.clone(),
                    size_mb(d.capacity_mb),
                    size_mb(d.free_mb),
                    percent(d.capacity_mb - d.free_mb, d.capacity_mb),
                    if d.accessible { "yes" } else { "no" }.into(),
                    d.hosts.to_string(),
                    d.vms.to_string(),
                ];
                if many_endpoints {
                    row.push(d.endpoint.clone());
                }
                row
            })
            .collect(),
    );
}
