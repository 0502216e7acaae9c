//! Networks in scripts: `networks()`, `network(name)` and the `Network` type.

use rhai::{Array, Dynamic, Engine, Map};

use crate::ops::networks::{self, NetworkSummary};
use crate::vim::MoRef;

use super::convert::{Opts, from_serialize};
use super::ctx::{RhaiResultOf, ScriptCtx};
use super::doc::func;
use super::object::{ScriptObject, register_object};
use super::vm::scope_of;

#[derive(Debug, Clone)]
pub struct Network(pub NetworkSummary);

impl ScriptObject for Network {
    const TYPE: &'static str = "Network";
    const COLUMNS: &'static [&'static str] = &["name", "type", "accessible", "hosts", "vms"];

    fn fields(&self) -> Vec<(&'static str, Dynamic)> {
        let n = &self.0;
        vec![
            ("name", n.name.clone().into()),
            ("type", n.kind.clone().into()),
            ("accessible", n.accessible.into()),
            ("hosts", (n.hosts as i64).into()),
            ("vms", (n.vms as i64).into()),
            ("endpoint", n.endpoint.clone().into()),
            ("id", n.id.clone().into()),
        ]
    }

    fn display(&self) -> String {
        format!("Network {} ({})", self.0.name, self.0.kind)
    }

    fn managed(&self) -> Option<(String, MoRef)> {
        Some((
            self.0.endpoint.clone(),
            MoRef::new(self.0.kind.clone(), self.0.id.clone()),
        ))
    }
}

pub fn register(engine: &mut Engine, ctx: &ScriptCtx) {
    register_object::<Network>(engine, ctx);
    engine
        .register_get("name", |n: &mut Network| n.0.name.clone())
        .register_get("id", |n: &mut Network| n.0.id.clone())
        .register_get("endpoint", |n: &mut Network| n.0.endpoint.clone())
        .register_get("type", |n: &mut Network| n.0.kind.clone())
        .register_get("accessible", |n: &mut Network| n.0.accessible)
        .register_get("host_count", |n: &mut Network| n.0.hosts as i64)
        .register_get("vm_count", |n: &mut Network| n.0.vms as i64);
    let c = ctx.clone();
    func(
        "networks",
        &["Array"],
        "Every network and port group in scope, sorted by name.",
    )
    .register_into_engine(engine, move || list(&c, Opts::none("networks")));
    let c = ctx.clone();
    func(
        "networks",
        &["options: Map", "Array"],
        "Networks of another scope: #{host: \"esx2\"} or #{all_hosts: true}.",
    )
    .register_into_engine(engine, move |opts: Map| {
        list(&c, Opts::new("networks", opts, &["host", "all_hosts"])?)
    });
    let c = ctx.clone();
    func(
        "network",
        &["name: String", "Network"],
        "The one network or port group called `name`.",
    )
    .register_into_engine(engine, move |name: &str| {
        let scope = c.scope().clone();
        let fleet = c.fleet().clone();
        c.run(async move { networks::find(&fleet, &scope, name).await })
            .map(Network)
    });
    register_networking(engine, ctx);
}

/// `network_list()` and `network_check()`: the networking area's reads (ops::network).
fn register_networking(engine: &mut Engine, ctx: &ScriptCtx) {
    let c = ctx.clone();
    func(
        "network_list",
        &["Array"],
        "Every network with its kind, host, switch, VLAN, policies and VMs (as `ceso network list --json`).",
    )
    .register_into_engine(engine, move || {
        let scope = c.scope().clone();
        let fleet = c.fleet().clone();
        let rows = c.run(async move { crate::ops::network::list::list(&fleet, &scope).await })?;
        Ok::<_, Box<rhai::EvalAltResult>>(rows.iter().map(from_serialize).collect::<Array>())
    });
    let c = ctx.clone();
    func(
        "network_check",
        &["options: Map", "Map"],
        "Network consistency report #{consistent, findings, …}; options: #{cluster: \"C\"}.",
    )
    .register_into_engine(engine, move |opts: Map| {
        let opts = Opts::new("network_check", opts, &["cluster"])?;
        let cluster = opts.string("cluster")?;
        let scope = c.scope().clone();
        let fleet = c.fleet().clone();
        let report = c.run(async move {
            crate::ops::network::check_scope(&fleet, &scope, cluster.as_deref()).await
        })?;
        Ok::<_, Box<rhai::EvalAltResult>>(from_serialize(&report))
    });
}

fn list(ctx: &ScriptCtx, opts: Opts) -> RhaiResultOf<Array> {
    let scope = scope_of(ctx, &opts)?;
    let fleet = ctx.fleet().clone();
    let all = ctx.run(async move { networks::list(&fleet, &scope).await })?;
    Ok(all.into_iter().map(|n| Dynamic::from(Network(n))).collect())
}
