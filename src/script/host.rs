//! ESXi hosts in scripts: `hosts()`, `host(name)`, the `Host` type (`host.vms()`…) and
//! the `host::` namespace mirroring `ceso host list/info/add`.

use std::sync::Arc;

use rhai::{Array, Dynamic, Engine, Map, Module};

use crate::config::schema::HostEntry;
use crate::ops::Target;
use crate::ops::hosts::{self, HostInfo, NewHost};
use crate::ops::vms;
use crate::vim::MoRef;

use super::convert::{Opts, from_serialize};
use super::ctx::{RhaiResultOf, ScriptCtx};
use super::doc::func;
use super::object::{ScriptObject, register_object};
use super::vm::{Vm, scope_of};

#[derive(Debug, Clone)]
pub struct Host(pub Arc<HostInfo>);

impl ScriptObject for Host {
    const TYPE: &'static str = "Host";
    const COLUMNS: &'static [&'static str] = &[
        "name",
        "cluster",
        "state",
        "maintenance",
        "version",
        "cpu_mhz",
        "cpu_usage_mhz",
        "memory_mb",
        "memory_usage_mb",
        "vm_count",
    ];

    fn fields(&self) -> Vec<(&'static str, Dynamic)> {
        let h = &self.0;
        let s = &h.summary;
        vec![
            ("name", s.name.clone().into()),
            ("endpoint", s.endpoint.clone().into()),
            ("cluster", s.cluster.clone().into()),
            ("state", s.connection_state.clone().into()),
            ("maintenance", s.maintenance.into()),
            ("version", s.version.clone().into()),
            ("cpu_mhz", s.cpu_mhz.into()),
            ("cpu_usage_mhz", s.cpu_usage_mhz.into()),
            ("memory_mb", s.memory_mb.into()),
            ("memory_usage_mb", s.memory_usage_mb.into()),
            ("vm_count", (s.vms as i64).into()),
            ("id", h.id.clone().into()),
        ]
    }

    fn display(&self) -> String {
        let s = &self.0.summary;
        format!("Host {} ({}, {} VMs)", s.name, s.connection_state, s.vms)
    }

    fn managed(&self) -> Option<(String, MoRef)> {
        Some((
            self.0.summary.endpoint.clone(),
            MoRef::new("HostSystem", self.0.id.clone()),
        ))
    }
}

pub fn register(engine: &mut Engine, ctx: &ScriptCtx) {
    register_object::<Host>(engine, ctx);
    engine
        .register_get("name", |h: &mut Host| h.0.summary.name.clone())
        .register_get("id", |h: &mut Host| h.0.id.clone())
        .register_get("endpoint", |h: &mut Host| h.0.summary.endpoint.clone())
        .register_get("cluster", |h: &mut Host| h.0.summary.cluster.clone())
        .register_get("state", |h: &mut Host| h.0.summary.connection_state.clone())
        .register_get("power_state", |h: &mut Host| {
            h.0.summary.power_state.clone()
        })
        .register_get("maintenance", |h: &mut Host| h.0.summary.maintenance)
        .register_get("version", |h: &mut Host| h.0.summary.version.clone())
        .register_get("build", |h: &mut Host| h.0.build.clone())
        .register_get("product", |h: &mut Host| h.0.product.clone())
        .register_get("vendor", |h: &mut Host| h.0.vendor.clone())
        .register_get("model", |h: &mut Host| h.0.model.clone())
        .register_get("cpu_model", |h: &mut Host| h.0.cpu_model.clone())
        .register_get("cpu_cores", |h: &mut Host| h.0.summary.cpu_cores)
        .register_get("cpu_mhz", |h: &mut Host| h.0.summary.cpu_mhz)
        .register_get("cpu_usage_mhz", |h: &mut Host| h.0.summary.cpu_usage_mhz)
        .register_get("memory_mb", |h: &mut Host| h.0.summary.memory_mb)
        .register_get("memory_usage_mb", |h: &mut Host| {
            h.0.summary.memory_usage_mb
        })
        .register_get("vm_count", |h: &mut Host| h.0.summary.vms as i64)
        .register_get("uptime_seconds", |h: &mut Host| h.0.uptime_seconds)
        .register_get("datastore_names", |h: &mut Host| {
            h.0.datastores
                .iter()
                .cloned()
                .map(Dynamic::from)
                .collect::<Array>()
        })
        .register_get("network_names", |h: &mut Host| {
            h.0.networks
                .iter()
                .cloned()
                .map(Dynamic::from)
                .collect::<Array>()
        });

    let c = ctx.clone();
    func(
        "hosts",
        &["Array"],
        "Every ESXi host of every configured endpoint (or of --host), sorted by name.",
    )
    .register_into_engine(engine, move || list(&c, Opts::none("hosts")));
    let c = ctx.clone();
    func(
        "hosts",
        &["options: Map", "Array"],
        "Hosts of one endpoint: #{host: \"vc1\"}.",
    )
    .register_into_engine(engine, move |opts: Map| {
        list(&c, Opts::new("hosts", opts, &["host", "all_hosts"])?)
    });
    let c = ctx.clone();
    func(
        "host",
        &["name: String", "Host"],
        "The one ESXi host called `name` (or the single host of the endpoint `name`).",
    )
    .register_into_engine(engine, move |name: &str| find(&c, name));

    let c = ctx.clone();
    func(
        "vms",
        &["host: Host", "Array"],
        "The VMs running on this host.",
    )
    .register_into_engine(engine, move |h: &mut Host| host_vms(&c, h, None));
    let c = ctx.clone();
    func(
        "vms",
        &["host: Host", "pattern: String", "Array"],
        "The VMs on this host whose name matches a glob.",
    )
    .register_into_engine(engine, move |h: &mut Host, pattern: &str| {
        host_vms(&c, h, Some(pattern))
    });
    func(
        "info",
        &["host: Host", "Map"],
        "Everything `ceso host info` shows, as a map.",
    )
    .register_into_engine(engine, |h: &mut Host| from_serialize(&*h.0));

    engine.register_static_module("host", namespace(ctx).into());
}

fn list(ctx: &ScriptCtx, opts: Opts) -> RhaiResultOf<Array> {
    let scope = scope_of(ctx, &opts)?;
    let fleet = ctx.fleet().clone();
    let all = ctx.run(async move { hosts::details(&fleet, &scope).await })?;
    Ok(all
        .into_iter()
        .map(|h| Dynamic::from(Host(Arc::new(h))))
        .collect())
}

fn find(ctx: &ScriptCtx, name: &str) -> RhaiResultOf<Host> {
    let fleet = ctx.fleet().clone();
    ctx.run(async move { hosts::find(&fleet, &crate::ops::Scope::Default, name).await })
        .map(|h| Host(Arc::new(h)))
}

fn host_vms(ctx: &ScriptCtx, h: &Host, pattern: Option<&str>) -> RhaiResultOf<Array> {
    let target = Target {
        endpoint: ctx.endpoint(&h.0.summary.endpoint)?,
        host: Some(h.0.summary.name.clone()),
    };
    let found = ctx.run(async move { vms::select::select_target(target, pattern).await })?;
    Ok(found.into_iter().map(|f| Dynamic::from(Vm(f))).collect())
}

/// `host::…`: `ceso host list/info/add/evacuate`.
fn namespace(ctx: &ScriptCtx) -> Module {
    let mut m = Module::new();
    let c = ctx.clone();
    func(
        "list",
        &["Array"],
        "Hosts of every configured endpoint, like `ceso host list` (same as hosts()).",
    )
    .set_into_module(&mut m, move || list(&c, Opts::none("host::list")));
    let c = ctx.clone();
    func(
        "info",
        &["name: String", "Array"],
        "Details of the host(s) called `name`, like `ceso host info`: one map per host.",
    )
    .set_into_module(&mut m, move |name: &str| -> RhaiResultOf<Array> {
        let fleet = c.fleet().clone();
        let scope = c.scope().clone();
        let infos = c.run(async move { hosts::info(&fleet, &scope, name).await })?;
        Ok(infos.iter().map(from_serialize).collect())
    });
    let c = ctx.clone();
    func(
        "add",
        &["name: String", "options: Map", "Map"],
        "Add an endpoint to the config after checking that it answers, like `ceso host add`.\nOptions: host (address, required), user (required), password_env, password_command,\ninsecure, thumbprint, default, dry_run (check and return the diff, write nothing).\nNeeds --allow-write (it writes the config file).",
    )
    .set_into_module(&mut m, move |name: &str, opts: Map| add(&c, name, opts));
    super::evacuate::add_to(&mut m, ctx);
    m
}

fn add(ctx: &ScriptCtx, name: &str, opts: Map) -> RhaiResultOf<Map> {
    let opts = Opts::new(
        "host::add",
        opts,
        &[
            "host",
            "user",
            "password_env",
            "password_command",
            "insecure",
            "thumbprint",
            "default",
            "dry_run",
        ],
    )?;
    let dry_run = opts.flag("dry_run")? || ctx.policy().dry_run;
    if !dry_run {
        ctx.require_write("host::add")?;
    }
    let required = |key: &str| -> RhaiResultOf<String> {
        opts.string(key)?.ok_or_else(|| {
            super::fault::script_error(format!("host::add: option '{key}' is required"))
        })
    };
    let address = required("host")?;
    let user = required("user")?;
    let password_env = opts.string("password_env")?;
    let password_command = opts.string("password_command")?;
    if password_command.is_some() {
        ctx.require_shell("host::add password_command")?;
    }
    let (env, command) = (password_env.clone(), password_command.clone());
    let label = name.to_string();
    let password = ctx
        .run(async move {
            crate::ops::password::for_new_host(&label, env.as_deref(), command.as_deref()).await
        })?
        .ok_or_else(|| {
            super::fault::script_error(
                "host::add: give password_env (a variable's name) or password_command",
            )
        })?;
    let path = ctx.config_path().ok_or_else(|| {
        super::fault::script_error("host::add: no config path (pass --config PATH)")
    })?;
    let entry = HostEntry {
        name: name.to_string(),
        host: address,
        user: Some(user),
        default: opts.flag("default")?,
        insecure: opts.flag("insecure")?,
        thumbprint: opts.string("thumbprint")?,
        ca_file: None,
        password_env,
        password_command,
        datacenter: None,
    };
    let timeout = ctx.fleet().timeouts.connect;
    let target = path.clone();
    let added = ctx.run(async move {
        hosts::add(&target, NewHost { entry, password }, timeout, dry_run).await
    })?;
    let mut m = Map::new();
    m.insert("name".into(), name.into());
    m.insert("product".into(), added.product.into());
    m.insert("config".into(), path.display().to_string().into());
    m.insert("dry_run".into(), dry_run.into());
    m.insert("diff".into(), added.diff.into());
    Ok(m)
}
