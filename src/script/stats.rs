//! Statistics in scripts: `stats(obj, counter, since)` from the PerformanceManager and
//! `history(obj, counter, since)` from the collector's database, each a map with
//! `samples` (`time`, `value`), `min`, `max`, `avg`, `last`, `unit` and `interval`, so
//! runbooks decide on numbers: `if stats(host("esx1"), "mem.usage.average", "1h").max > 90.0 { … }`.

use rhai::{Dynamic, Engine, Map};

use crate::ops::history::{self, HistoryQuery, Store};
use crate::ops::stats::{self, Series, seconds};
use crate::ops::{OpError, OpResult, Scope};

use super::convert::from_serialize;
use super::ctx::{RhaiResultOf, ScriptCtx};
use super::doc::func;
use super::host::Host;
use super::vm::Vm;

fn one(found: Vec<Series>, object: &str, counter: &str) -> OpResult<Dynamic> {
    let mut found = found.into_iter();
    match (found.next(), found.next()) {
        (Some(s), None) => Ok(from_serialize(&s)),
        (Some(_), Some(_)) => Err(OpError::invalid(format!(
            "'{object}' matches several objects with {counter}; name one"
        ))),
        (None, _) => Err(OpError::NotFound {
            kind: "statistics",
            name: format!("{counter} of {object}"),
            suggestions: Vec::new(),
        }),
    }
}

fn live(
    c: &ScriptCtx,
    scope: Scope,
    object: String,
    counter: &str,
    since: &str,
) -> RhaiResultOf<Dynamic> {
    let fleet = c.fleet().clone();
    let counter = counter.to_string();
    let since = since.to_string();
    c.run(async move {
        let q = stats::Query {
            object: Some(object.clone()),
            counters: vec![counter.clone()],
            since: seconds("since", &since)?,
            interval: None,
        };
        one(stats::read(&fleet, &scope, &q).await?, &object, &counter)
    })
}

fn stored(
    c: &ScriptCtx,
    object: String,
    counter: &str,
    since: &str,
    opts: &Map,
) -> RhaiResultOf<Dynamic> {
    let db = opts
        .get("db")
        .map(|d| d.to_string().into())
        .unwrap_or_else(history::default_path);
    let tier = opts
        .get("tier")
        .map(|t| t.to_string())
        .unwrap_or_else(|| "5m".into());
    let (counter, since) = (counter.to_string(), since.to_string());
    c.run(async move {
        let store = Store::open_reader(&db)?;
        let since = seconds("since", &since)?;
        let found = store.read_known(&HistoryQuery {
            object: object.clone(),
            counter: counter.clone(),
            tier: seconds("tier", &tier)?,
            since: Some(chrono::Utc::now().timestamp() - since),
        })?;
        one(found, &object, &counter)
    })
}

pub fn register(engine: &mut Engine, ctx: &ScriptCtx) {
    let doc_stats = "Samples of one counter of a host, VM, cluster or datastore over the last `since` (\"1h\", \"1d\"), from the PerformanceManager: #{samples, min, max, avg, last, unit, interval} (like `ceso stats OBJECT --counter C --since S --json`).";
    let c = ctx.clone();
    func(
        "stats",
        &["obj: Host", "counter: String", "since: String", "Map"],
        doc_stats,
    )
    .register_into_engine(engine, move |h: &mut Host, counter: &str, since: &str| {
        let scope = Scope::Named(h.0.summary.endpoint.clone());
        live(&c, scope, h.0.summary.name.clone(), counter, since)
    });
    let c = ctx.clone();
    func(
        "stats",
        &["obj: Vm", "counter: String", "since: String", "Map"],
        doc_stats,
    )
    .register_into_engine(engine, move |v: &mut Vm, counter: &str, since: &str| {
        let scope = Scope::Named(v.0.vm.endpoint.name().to_string());
        live(&c, scope, v.0.vm.name.clone(), counter, since)
    });
    let c = ctx.clone();
    func(
        "stats",
        &["name: String", "counter: String", "since: String", "Map"],
        doc_stats,
    )
    .register_into_engine(engine, move |name: &str, counter: &str, since: &str| {
        live(&c, c.scope().clone(), name.to_string(), counter, since)
    });

    let doc_history = "What `ceso stats collect` stored for one object and counter over the last `since`: the same map as stats(); options #{db: PATH, tier: \"5m\"|\"1h\"|\"1d\"}.";
    let c = ctx.clone();
    func(
        "history",
        &["name: String", "counter: String", "since: String", "Map"],
        doc_history,
    )
    .register_into_engine(engine, move |name: &str, counter: &str, since: &str| {
        stored(&c, name.to_string(), counter, since, &Map::new())
    });
    let c = ctx.clone();
    func(
        "history",
        &[
            "name: String",
            "counter: String",
            "since: String",
            "options: Map",
            "Map",
        ],
        doc_history,
    )
    .register_into_engine(
        engine,
        move |name: &str, counter: &str, since: &str, opts: Map| {
            stored(&c, name.to_string(), counter, since, &opts)
        },
    );
    let c = ctx.clone();
    func(
        "history",
        &["obj: Host", "counter: String", "since: String", "Map"],
        doc_history,
    )
    .register_into_engine(engine, move |h: &mut Host, counter: &str, since: &str| {
        stored(&c, h.0.summary.name.clone(), counter, since, &Map::new())
    });
    let c = ctx.clone();
    func(
        "history",
        &["obj: Vm", "counter: String", "since: String", "Map"],
        doc_history,
    )
    .register_into_engine(engine, move |v: &mut Vm, counter: &str, since: &str| {
        stored(&c, v.0.vm.name.clone(), counter, since, &Map::new())
    });
}
