//! The escape hatch: `collect(type, [paths])` reads any properties of every object of a
//! managed type, as maps, for whatever the typed functions do not cover.

use rhai::{Array, Dynamic, Engine, Map};

use crate::ops::raw;

use super::convert::{Opts, from_json, strings};
use super::ctx::{RhaiResultOf, ScriptCtx};
use super::doc::func;
use super::vm::scope_of;

pub fn register(engine: &mut Engine, ctx: &ScriptCtx) {
    let doc = "Every object of a managed type with the property paths asked for, in one read per endpoint:\n\
               collect(\"VirtualMachine\", [\"name\", \"config.hardware.numCPU\"]).\n\
               Each map has `id`, `type`, `endpoint` and one key per path the object has.";
    let c = ctx.clone();
    func("collect", &["type: String", "paths: Array", "Array"], doc)
        .register_into_engine(engine, move |kind: &str, paths: Array| {
            collect(&c, kind, paths, Opts::none("collect"))
        });
    let c = ctx.clone();
    func(
        "collect",
        &["type: String", "paths: Array", "options: Map", "Array"],
        "collect() on another scope: #{host: \"vc2\"} or #{all_hosts: true}.",
    )
    .register_into_engine(engine, move |kind: &str, paths: Array, opts: Map| {
        collect(
            &c,
            kind,
            paths,
            Opts::new("collect", opts, &["host", "all_hosts"])?,
        )
    });
}

fn collect(ctx: &ScriptCtx, kind: &str, paths: Array, opts: Opts) -> RhaiResultOf<Array> {
    let paths = strings(paths, "collect")?;
    let scope = scope_of(ctx, &opts)?;
    let fleet = ctx.fleet().clone();
    let objects = ctx.run(async move { raw::collect(&fleet, &scope, kind, &paths).await })?;
    Ok(objects
        .into_iter()
        .map(|o| {
            let mut m = Map::new();
            m.insert("id".into(), o.id.into());
            m.insert("type".into(), o.kind.into());
            m.insert("endpoint".into(), o.endpoint.into());
            for (path, value) in &o.props {
                m.insert(path.as_str().into(), from_json(value));
            }
            Dynamic::from(m)
        })
        .collect())
}
