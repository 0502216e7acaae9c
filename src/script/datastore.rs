//! Datastores in scripts: `datastores()`, `datastore(name)` and the `Datastore` type.

use rhai::{Array, Dynamic, Engine, Map};

use crate::ops::datastores::{self, DatastoreSummary};
use crate::vim::MoRef;

use super::convert::Opts;
use super::ctx::{RhaiResultOf, ScriptCtx};
use super::doc::func;
use super::object::{ScriptObject, register_object};
use super::vm::scope_of;

#[derive(Debug, Clone)]
pub struct Datastore(pub DatastoreSummary);

impl ScriptObject for Datastore {
    const TYPE: &'static str = "Datastore";
    const COLUMNS: &'static [&'static str] = &[
        "name",
        "type",
        "capacity_mb",
        "free_mb",
        "accessible",
        "hosts",
        "vms",
    ];

    fn fields(&self) -> Vec<(&'static str, Dynamic)> {
        let d = &self.0;
        vec![
            ("name", d.name.clone().into()),
            ("type", d.kind.clone().into()),
            ("capacity_mb", d.capacity_mb.into()),
            ("free_mb", d.free_mb.into()),
            ("accessible", d.accessible.into()),
            ("hosts", (d.hosts as i64).into()),
            ("vms", (d.vms as i64).into()),
            ("endpoint", d.endpoint.clone().into()),
            ("id", d.id.clone().into()),
        ]
    }

    fn display(&self) -> String {
        format!(
            "Datastore {} ({} MB free of {})",
            self.0.name, self.0.free_mb, self.0.capacity_mb
        )
    }

    fn managed(&self) -> Option<(String, MoRef)> {
        Some((
            self.0.endpoint.clone(),
            MoRef::new("Datastore", self.0.id.clone()),
        ))
    }
}

pub fn register(engine: &mut Engine, ctx: &ScriptCtx) {
    register_object::<Datastore>(engine, ctx);
    engine
        .register_get("name", |d: &mut Datastore| d.0.name.clone())
        .register_get("id", |d: &mut Datastore| d.0.id.clone())
        .register_get("endpoint", |d: &mut Datastore| d.0.endpoint.clone())
        .register_get("type", |d: &mut Datastore| d.0.kind.clone())
        .register_get("capacity_mb", |d: &mut Datastore| d.0.capacity_mb)
        .register_get("free_mb", |d: &mut Datastore| d.0.free_mb)
        .register_get("used_mb", |d: &mut Datastore| d.0.capacity_mb - d.0.free_mb)
        .register_get("accessible", |d: &mut Datastore| d.0.accessible)
        .register_get("url", |d: &mut Datastore| d.0.url.clone())
        .register_get("host_count", |d: &mut Datastore| d.0.hosts as i64)
        .register_get("vm_count", |d: &mut Datastore| d.0.vms as i64);
    let c = ctx.clone();
    func(
        "datastores",
        &["Array"],
        "Every datastore in scope, sorted by name.",
    )
    .register_into_engine(engine, move || list(&c, Opts::none("datastores")));
    let c = ctx.clone();
    func(
        "datastores",
        &["options: Map", "Array"],
        "Datastores of another scope: #{host: \"esx2\"} or #{all_hosts: true}.",
    )
    .register_into_engine(engine, move |opts: Map| {
        list(&c, Opts::new("datastores", opts, &["host", "all_hosts"])?)
    });
    let c = ctx.clone();
    func(
        "datastore",
        &["name: String", "Datastore"],
        "The one datastore called `name`.",
    )
    .register_into_engine(engine, move |name: &str| {
        let scope = c.scope().clone();
        let fleet = c.fleet().clone();
        c.run(async move { datastores::find(&fleet, &scope, name).await })
            .map(Datastore)
    });
}

fn list(ctx: &ScriptCtx, opts: Opts) -> RhaiResultOf<Array> {
    let scope = scope_of(ctx, &opts)?;
    let fleet = ctx.fleet().clone();
    let all = ctx.run(async move { datastores::list(&fleet, &scope).await })?;
    Ok(all
        .into_iter()
        .map(|d| Dynamic::from(Datastore(d)))
        .collect())
}
