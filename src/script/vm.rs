//! VMs in scripts: `vms()`, `vm(name)`, the `Vm` type with its getters and power methods,
//! bulk operations over arrays of VMs (concurrent, bounded by the fleet), and the `vm::`
//! namespace with the CLI's verbs (`vm::create`, `vm::start`, …).

use rhai::{Array, Dynamic, Engine, Map, Module};

use crate::ops::vms::{self, CreateSpec, FoundVm, PowerAction, VmRef};
use crate::ops::{OpError, Scope};
use crate::vim::MoRef;

use super::convert::{Opts, from_serialize};
use super::ctx::{RhaiResultOf, ScriptCtx};
use super::doc::func;
use super::fault::{self, kinds, script_error};
use super::object::{ScriptObject, register_object};

#[derive(Debug, Clone)]
pub struct Vm(pub FoundVm);

impl Vm {
    fn r(&self) -> &VmRef {
        &self.0.vm
    }
}

impl ScriptObject for Vm {
    const TYPE: &'static str = "Vm";
    const COLUMNS: &'static [&'static str] = &[
        "name",
        "power_state",
        "host",
        "cpus",
        "memory_mb",
        "guest_os",
        "ip",
    ];

    fn fields(&self) -> Vec<(&'static str, Dynamic)> {
        let s = &self.0.summary;
        vec![
            ("name", s.name.clone().into()),
            ("power_state", s.power_state.clone().into()),
            ("host", s.host.clone().into()),
            ("cpus", s.cpus.into()),
            ("memory_mb", s.memory_mb.into()),
            ("guest_os", s.guest_os.clone().into()),
            ("ip", s.ip.clone().into()),
            ("boot_time", s.boot_time.clone().into()),
            ("heartbeat", s.heartbeat.clone().into()),
            ("endpoint", s.endpoint.clone().into()),
            ("id", s.id.clone().into()),
        ]
    }

    fn display(&self) -> String {
        let s = &self.0.summary;
        format!("Vm {} ({}, {})", s.name, s.power_state, s.host)
    }

    fn managed(&self) -> Option<(String, MoRef)> {
        Some((self.0.summary.endpoint.clone(), self.0.vm.moref.clone()))
    }
}

/// Scope from `#{host: "esx2"}` / `#{all_hosts: true}`, else the command line's.
pub fn scope_of(ctx: &ScriptCtx, opts: &Opts) -> RhaiResultOf<Scope> {
    if opts.flag("all_hosts")? {
        return Ok(Scope::All);
    }
    Ok(match opts.string("host")? {
        Some(name) => Scope::Named(name),
        None => ctx.scope().clone(),
    })
}

const SCOPE_OPTS: &[&str] = &["host", "all_hosts"];

pub fn register(engine: &mut Engine, ctx: &ScriptCtx) {
    register_object::<Vm>(engine, ctx);
    register_getters(engine);
    register_finders(engine, ctx);
    register_methods(engine, ctx);
    super::vm_update::register_method(engine, ctx);
    register_bulk(engine, ctx);
    engine.register_static_module("vm", namespace(ctx).into());
}

fn register_getters(engine: &mut Engine) {
    engine
        .register_get("name", |v: &mut Vm| v.0.summary.name.clone())
        .register_get("id", |v: &mut Vm| v.0.summary.id.clone())
        .register_get("power_state", |v: &mut Vm| v.0.summary.power_state.clone())
        .register_get("host", |v: &mut Vm| v.0.summary.host.clone())
        .register_get("cpus", |v: &mut Vm| v.0.summary.cpus)
        .register_get("memory_mb", |v: &mut Vm| v.0.summary.memory_mb)
        .register_get("guest_os", |v: &mut Vm| v.0.summary.guest_os.clone())
        .register_get("ip", |v: &mut Vm| v.0.summary.ip.clone())
        .register_get("boot_time", |v: &mut Vm| v.0.summary.boot_time.clone())
        .register_get("heartbeat", |v: &mut Vm| v.0.summary.heartbeat.clone())
        .register_get("endpoint", |v: &mut Vm| v.0.summary.endpoint.clone());
}

fn list(ctx: &ScriptCtx, pattern: Option<&str>, opts: Opts) -> RhaiResultOf<Array> {
    let scope = scope_of(ctx, &opts)?;
    let fleet = ctx.fleet().clone();
    let found = ctx.run(async move { vms::select(&fleet, &scope, pattern).await })?;
    Ok(found.into_iter().map(|f| Dynamic::from(Vm(f))).collect())
}

fn find(ctx: &ScriptCtx, name: &str, opts: Opts) -> RhaiResultOf<Vm> {
    let scope = scope_of(ctx, &opts)?;
    let fleet = ctx.fleet().clone();
    ctx.run(async move { vms::select_one(&fleet, &scope, name).await })
        .map(Vm)
}

fn register_finders(engine: &mut Engine, ctx: &ScriptCtx) {
    let c = ctx.clone();
    func(
        "vms",
        &["Array"],
        "Every VM in scope (all endpoints with --all-hosts), sorted by name.",
    )
    .register_into_engine(engine, move || list(&c, None, Opts::none("vms")));
    let c = ctx.clone();
    func(
        "vms",
        &["pattern: String", "Array"],
        "VMs whose name matches a glob, e.g. vms(\"web-*\"). Empty when none match.",
    )
    .register_into_engine(engine, move |pattern: &str| {
        list(&c, Some(pattern), Opts::none("vms"))
    });
    let c = ctx.clone();
    func(
        "vms",
        &["pattern: String", "options: Map", "Array"],
        "VMs matching a glob, on another scope: #{host: \"esx2\"} or #{all_hosts: true}.",
    )
    .register_into_engine(engine, move |pattern: &str, opts: Map| {
        list(&c, Some(pattern), Opts::new("vms", opts, SCOPE_OPTS)?)
    });
    let c = ctx.clone();
    func(
        "vms",
        &["options: Map", "Array"],
        "Every VM of another scope: vms(#{all_hosts: true}) or vms(#{host: \"esx2\"}).",
    )
    .register_into_engine(engine, move |opts: Map| {
        list(&c, None, Opts::new("vms", opts, SCOPE_OPTS)?)
    });
    let c = ctx.clone();
    func(
        "vm",
        &["name: String", "Vm"],
        "The one VM called `name` (or with id `vm-42`). Throws NotFound or Ambiguous.",
    )
    .register_into_engine(engine, move |name: &str| find(&c, name, Opts::none("vm")));
    let c = ctx.clone();
    func(
        "vm",
        &["name: String", "options: Map", "Vm"],
        "The one VM called `name`, on another scope: #{host: \"esx2\"}.",
    )
    .register_into_engine(engine, move |name: &str, opts: Map| {
        find(&c, name, Opts::new("vm", opts, SCOPE_OPTS)?)
    });
}

/// The power verbs, named as in the CLI, plus the spec's `power_on`/`power_off`/`reset`.
#[derive(Clone, Copy)]
struct Verb {
    name: &'static str,
    doc: &'static str,
    /// The action without and with `force`.
    action: fn(bool) -> PowerAction,
    takes_force: bool,
}

const VERBS: &[Verb] = &[
    Verb {
        name: "power_on",
        doc: "Power on. Already on is not an error (changed: false).",
        action: |_| PowerAction::On,
        takes_force: false,
    },
    Verb {
        name: "start",
        doc: "Power on (same as power_on).",
        action: |_| PowerAction::On,
        takes_force: false,
    },
    Verb {
        name: "power_off",
        doc: "Power off at once, without asking the guest.",
        action: |_| PowerAction::Off { force: true },
        takes_force: false,
    },
    Verb {
        name: "stop",
        doc: "Shut down through the guest (VMware Tools); #{force: true} powers off at once.",
        action: |force| PowerAction::Off { force },
        takes_force: true,
    },
    Verb {
        name: "restart",
        doc: "Reboot through the guest; #{force: true} resets at once.",
        action: |force| PowerAction::Restart { force },
        takes_force: true,
    },
    Verb {
        name: "reset",
        doc: "Reset at once (hard restart).",
        action: |_| PowerAction::Restart { force: true },
        takes_force: false,
    },
    Verb {
        name: "suspend",
        doc: "Suspend.",
        action: |_| PowerAction::Suspend,
        takes_force: false,
    },
];

impl Verb {
    fn known(&self) -> &'static [&'static str] {
        if self.takes_force {
            &["dry_run", "force"]
        } else {
            &["dry_run"]
        }
    }

    fn parse(&self, opts: Map) -> RhaiResultOf<(PowerAction, bool)> {
        let opts = Opts::new(self.name, opts, self.known())?;
        Ok(((self.action)(opts.flag("force")?), opts.flag("dry_run")?))
    }
}

/// Power `targets`, concurrently up to the fleet's bound. One result map per VM; when
/// any fails, a `PartialFailure` fault carrying the results and each error.
fn power_all(
    ctx: &ScriptCtx,
    targets: Vec<VmRef>,
    action: PowerAction,
    dry_run: bool,
) -> RhaiResultOf<Vec<Map>> {
    if dry_run || ctx.policy().dry_run {
        return Ok(targets
            .iter()
            .map(|vm| {
                ctx.say(&format!(
                    "would {} {} ({}/{})",
                    action.verb(),
                    vm.name,
                    vm.endpoint.name(),
                    vm.host
                ));
                let mut m = Map::new();
                m.insert("vm".into(), vm.name.clone().into());
                m.insert("endpoint".into(), vm.endpoint.name().into());
                m.insert("action".into(), action.verb().into());
                m.insert("changed".into(), false.into());
                m.insert("dry_run".into(), true.into());
                m
            })
            .collect());
    }
    let fleet = ctx.fleet().clone();
    // The CLI's batching too: one PowerOnMultiVM_Task per vCenter datacenter.
    let label = match targets.as_slice() {
        [one] => one.name.clone(),
        many => format!("{} VMs", many.len()),
    };
    let tracker = ctx.track(&label);
    let results =
        ctx.run(async { Ok(vms::power_many(&fleet, &targets, action, &tracker).await) })?;
    let mut done = Vec::new();
    let mut errors = Vec::new();
    for (vm, result) in targets.iter().zip(results) {
        match result {
            Ok(r) => done.push(from_serialize(&r).try_cast::<Map>().unwrap_or_default()),
            Err(OpError::Cancelled) => return Err(ctx.interrupted(Vec::new())),
            Err(e) => {
                let mut f = fault::fault_map(&e);
                if f.get("object").is_none_or(Dynamic::is_unit) {
                    f.insert("object".into(), vm.name.clone().into());
                }
                errors.push(f);
            }
        }
    }
    if errors.is_empty() {
        return Ok(done);
    }
    let mut f = Map::new();
    f.insert("fault".into(), kinds::PARTIAL.into());
    let messages: Vec<String> = errors
        .iter()
        .map(|e| {
            e.get("message")
                .map(ToString::to_string)
                .unwrap_or_default()
        })
        .collect();
    f.insert(
        "message".into(),
        format!(
            "{} of {} VMs failed to {}: {}",
            errors.len(),
            targets.len(),
            action.verb(),
            messages.join("; ")
        )
        .into(),
    );
    f.insert("object".into(), Dynamic::UNIT);
    let first_hint = errors.iter().find_map(|e| {
        e.get("hint")
            .filter(|h| !h.is_unit())
            .map(ToString::to_string)
    });
    let hint = match first_hint {
        Some(h) => {
            format!("{h} (the fault's `errors` list each failure; `results` what succeeded)")
        }
        None => "the fault's `errors` list each failure; `results` what succeeded".to_string(),
    };
    f.insert("hint".into(), hint.into());
    f.insert(
        "errors".into(),
        errors
            .into_iter()
            .map(Dynamic::from)
            .collect::<Array>()
            .into(),
    );
    f.insert(
        "results".into(),
        done.into_iter()
            .map(Dynamic::from)
            .collect::<Array>()
            .into(),
    );
    Err(fault::thrown(f))
}

/// One VM: its own fault when it fails (not a PartialFailure), and the VM updated.
fn power_one(
    ctx: &ScriptCtx,
    vm: &mut Vm,
    action: PowerAction,
    dry_run: bool,
) -> RhaiResultOf<Map> {
    if dry_run || ctx.policy().dry_run {
        return power_all(ctx, vec![vm.r().clone()], action, true).map(|mut r| r.remove(0));
    }
    let target = vm.r().clone();
    let tracker = ctx.track(&target.name);
    let result = ctx.run(async { vms::power(&target, action, &tracker).await })?;
    vm.0.summary.power_state = result.after.clone();
    Ok(from_serialize(&result)
        .try_cast::<Map>()
        .unwrap_or_default())
}

fn register_methods(engine: &mut Engine, ctx: &ScriptCtx) {
    for verb in VERBS {
        let verb = *verb;
        let c = ctx.clone();
        func(verb.name, &["vm: Vm", "Map"], verb.doc).register_into_engine(
            engine,
            move |vm: &mut Vm| {
                let (action, dry_run) = verb.parse(Map::new())?;
                power_one(&c, vm, action, dry_run)
            },
        );
        let c = ctx.clone();
        let doc = format!("{} Options: {}.", verb.doc, verb.known().join(", "));
        func(verb.name, &["vm: Vm", "options: Map", "Map"], &doc).register_into_engine(
            engine,
            move |vm: &mut Vm, opts: Map| {
                let (action, dry_run) = verb.parse(opts)?;
                power_one(&c, vm, action, dry_run)
            },
        );
    }
    let c = ctx.clone();
    func(
        "info",
        &["vm: Vm", "Map"],
        "Everything `ceso vm info` shows, as a map (disks, nics, devices…).",
    )
    .register_into_engine(engine, move |vm: &mut Vm| {
        let target = vm.r().clone();
        c.run(async move { vms::info(&target).await })
            .map(|i| from_serialize(&i))
    });
    let c = ctx.clone();
    func(
        "refresh",
        &["vm: Vm", "Vm"],
        "Read the VM's state again (the fields are as of when it was found).",
    )
    .register_into_engine(engine, move |vm: &mut Vm| -> RhaiResultOf<Vm> {
        let target = vm.r().clone();
        let summary = c.run(async move { vms::select::refresh(&target).await })?;
        vm.0.vm.host = summary.host.clone();
        vm.0.summary = summary;
        Ok(vm.clone())
    });
    let c = ctx.clone();
    func(
        "delete",
        &["vm: Vm", "Map"],
        "Delete the VM and its files (refused while it is on).",
    )
    .register_into_engine(engine, move |vm: &mut Vm| {
        delete(&c, vm.r().clone(), Opts::none("delete"))
    });
    let c = ctx.clone();
    func(
        "delete",
        &["vm: Vm", "options: Map", "Map"],
        "Delete the VM. Options: force (power it off first), dry_run.",
    )
    .register_into_engine(engine, move |vm: &mut Vm, opts: Map| {
        delete(
            &c,
            vm.r().clone(),
            Opts::new("delete", opts, &["force", "dry_run"])?,
        )
    });
}

fn delete(ctx: &ScriptCtx, vm: VmRef, opts: Opts) -> RhaiResultOf<Map> {
    let mut m = Map::new();
    m.insert("vm".into(), vm.name.clone().into());
    m.insert("id".into(), vm.moref.value.clone().into());
    m.insert("endpoint".into(), vm.endpoint.name().into());
    if opts.flag("dry_run")? || ctx.policy().dry_run {
        ctx.say(&format!(
            "would delete VM {} ({}) on {} with all its files",
            vm.name,
            vm.moref.value,
            vm.endpoint.name()
        ));
        m.insert("dry_run".into(), true.into());
        m.insert("deleted".into(), false.into());
        return Ok(m);
    }
    let force = opts.flag("force")?;
    let tracker = ctx.track(&vm.name);
    ctx.run(async { vms::delete(&vm, force, &tracker).await })?;
    m.insert("deleted".into(), true.into());
    Ok(m)
}

/// VMs from an array of `Vm` values (what `vms(...)` returns).
fn vms_of(items: &Array, function: &str) -> RhaiResultOf<Vec<VmRef>> {
    items
        .iter()
        .map(|item| {
            item.read_lock::<Vm>()
                .map(|vm| vm.r().clone())
                .ok_or_else(|| {
                    script_error(format!(
                        "{function}: expected an array of Vm, found a {} in it",
                        item.type_name()
                    ))
                })
        })
        .collect()
}

fn register_bulk(engine: &mut Engine, ctx: &ScriptCtx) {
    for verb in VERBS {
        let verb = *verb;
        let doc = format!(
            "{} For every VM of the array, concurrently (bounded by settings.concurrency). Returns one result map per VM; throws PartialFailure if any fails.",
            verb.doc
        );
        let c = ctx.clone();
        func(verb.name, &["vms: Array", "Array"], &doc).register_into_engine(
            engine,
            move |items: &mut Array| {
                let (action, dry_run) = verb.parse(Map::new())?;
                let targets = vms_of(items, verb.name)?;
                power_all(&c, targets, action, dry_run).map(into_array)
            },
        );
        let c = ctx.clone();
        func(verb.name, &["vms: Array", "options: Map", "Array"], &doc).register_into_engine(
            engine,
            move |items: &mut Array, opts: Map| {
                let (action, dry_run) = verb.parse(opts)?;
                let targets = vms_of(items, verb.name)?;
                power_all(&c, targets, action, dry_run).map(into_array)
            },
        );
    }
}

fn into_array(maps: Vec<Map>) -> Array {
    maps.into_iter().map(Dynamic::from).collect()
}

/// Names, globs, a Vm or an array of any of these, resolved to VMs each once.
pub(super) fn resolve(
    ctx: &ScriptCtx,
    what: Dynamic,
    scope: &Scope,
    function: &str,
) -> RhaiResultOf<Vec<VmRef>> {
    let items: Array = match what.clone().try_cast::<Array>() {
        Some(items) => items,
        None => vec![what],
    };
    let mut out: Vec<VmRef> = Vec::new();
    for item in items {
        let found: Vec<VmRef> = if let Some(vm) = item.read_lock::<Vm>() {
            vec![vm.r().clone()]
        } else if let Ok(name) = item.clone().into_string() {
            let fleet = ctx.fleet().clone();
            let scope = scope.clone();
            ctx.run(async move { vms::find_named(&fleet, &scope, &name).await })?
        } else {
            return Err(script_error(format!(
                "{function}: expected VM names, globs or Vm values, not a {}",
                item.type_name()
            )));
        };
        for vm in found {
            vms::push_unique(&mut out, vm);
        }
    }
    Ok(out)
}

/// `vm::…`: the CLI's `ceso vm` verbs, taking names/globs like the command line.
fn namespace(ctx: &ScriptCtx) -> Module {
    let mut m = Module::new();
    super::network_change::nic_functions(&mut m, ctx);
    super::vm_update::namespace_functions(&mut m, ctx);
    for with_opts in [false, true] {
        let c = ctx.clone();
        let doc = "Move VMs (names or globs, a String or an Array) into a resource pool, like\n`ceso vm move NAMES… --resource-pool POOL`. Options: dry_run. One map per VM.";
        let move_fn = move |names: Dynamic, pool: &str, opts: Map| -> RhaiResultOf<Array> {
            let names = match names.clone().try_cast::<Array>() {
                Some(items) => super::convert::strings(items, "vm::move")?,
                None => vec![names.into_string().map_err(|ty| {
                    script_error(format!(
                        "vm::move: names must be a string or an array, not a {ty}"
                    ))
                })?],
            };
            super::pools::move_vms(&c, names, pool, opts)
        };
        if with_opts {
            func(
                "move",
                &["names: Array", "pool: String", "options: Map", "Array"],
                doc,
            )
            .set_into_module(&mut m, move_fn);
        } else {
            func("move", &["names: Array", "pool: String", "Array"], doc)
                .set_into_module(&mut m, move |names: Dynamic, pool: &str| {
                    move_fn(names, pool, Map::new())
                });
        }
    }
    let c = ctx.clone();
    func(
        "list",
        &["Array"],
        "Every VM in scope, like `ceso vm list` (same as vms()).",
    )
    .set_into_module(&mut m, move || list(&c, None, Opts::none("vm::list")));
    let c = ctx.clone();
    func(
        "list",
        &["pattern: String", "Array"],
        "VMs matching a glob, like `ceso vm list 'web-*'`.",
    )
    .set_into_module(&mut m, move |pattern: &str| {
        list(&c, Some(pattern), Opts::none("vm::list"))
    });
    let c = ctx.clone();
    func(
        "info",
        &["name: String", "Map"],
        "Details of one VM, like `ceso vm info NAME`.",
    )
    .set_into_module(&mut m, move |name: &str| -> RhaiResultOf<Dynamic> {
        let vm = find(&c, name, Opts::none("vm::info"))?;
        let target = vm.r().clone();
        c.run(async move { vms::info(&target).await })
            .map(|i| from_serialize(&i))
    });
    for verb in VERBS
        .iter()
        .filter(|v| matches!(v.name, "start" | "stop" | "restart" | "suspend"))
    {
        let verb = *verb;
        let doc = format!(
            "{} Like `ceso vm {}`: takes a name, a glob, a Vm or an array of these.",
            verb.doc, verb.name
        );
        let c = ctx.clone();
        func(verb.name, &["vms: Dynamic", "Array"], &doc).set_into_module(
            &mut m,
            move |what: Dynamic| {
                let (action, dry_run) = verb.parse(Map::new())?;
                let targets = resolve(&c, what, &c.scope().clone(), verb.name)?;
                power_all(&c, targets, action, dry_run).map(into_array)
            },
        );
        let c = ctx.clone();
        func(verb.name, &["vms: Dynamic", "options: Map", "Array"], &doc).set_into_module(
            &mut m,
            move |what: Dynamic, opts: Map| {
                let (action, dry_run) = verb.parse(opts)?;
                let targets = resolve(&c, what, &c.scope().clone(), verb.name)?;
                power_all(&c, targets, action, dry_run).map(into_array)
            },
        );
    }
    let c = ctx.clone();
    func(
        "delete",
        &["name: String", "options: Map", "Map"],
        "Delete a VM, like `ceso vm delete`. Options: force, dry_run.",
    )
    .set_into_module(&mut m, move |name: &str, opts: Map| {
        let opts = Opts::new("vm::delete", opts, &["force", "dry_run"])?;
        let vm = find(&c, name, Opts::none("vm::delete"))?;
        delete(&c, vm.r().clone(), opts)
    });
    let c = ctx.clone();
    func(
        "create",
        &["name: String", "options: Map", "Dynamic"],
        "Create a VM, like `ceso vm create`. Options: cpu, memory (MB), disk (GB), datastore, network,\nresource_pool, guest_id, power_on, host, dry_run, gpu (device or array), dynamic, vgpu\n(profile or array). Returns the new Vm, or the plan under dry_run.",
    )
    .set_into_module(&mut m, move |name: &str, opts: Map| create(&c, name, opts));
    let c = ctx.clone();
    func(
        "create",
        &["name: String", "Dynamic"],
        "Create a VM with the defaults (1 CPU, 1024 MB, no disk).",
    )
    .set_into_module(&mut m, move |name: &str| create(&c, name, Map::new()));
    super::migrate::add_to(&mut m, ctx);
    super::vm_copies::add_to(&mut m, ctx);
    m
}

fn create(ctx: &ScriptCtx, name: &str, opts: Map) -> RhaiResultOf<Dynamic> {
    let opts = Opts::new(
        "vm::create",
        opts,
        &[
            "cpu",
            "memory",
            "disk",
            "datastore",
            "network",
            "resource_pool",
            "guest_id",
            "power_on",
            "host",
            "dry_run",
            "gpu",
            "dynamic",
            "vgpu",
            "cuda",
            "driver",
        ],
    )?;
    let gpus = crate::ops::pci::GpuRequest {
        devices: opts.list("gpu")?,
        dynamic: opts.flag("dynamic")?,
        vgpus: opts.list("vgpu")?,
        cuda: opts.string("cuda")?,
        driver: opts.string("driver")?,
    };
    let spec = CreateSpec {
        name: name.to_string(),
        cpus: opts.int("cpu")?.unwrap_or(1),
        memory_mb: opts.int("memory")?.unwrap_or(1024),
        disk_gb: opts.int("disk")?.unwrap_or(0),
        datastore: opts.string("datastore")?,
        network: opts.string("network")?,
        resource_pool: opts.string("resource_pool")?,
        guest_id: opts.string("guest_id")?,
    };
    let scope = scope_of(ctx, &opts)?;
    let dry_run = opts.flag("dry_run")? || ctx.policy().dry_run;
    let power_on = opts.flag("power_on")?;
    let fleet = ctx.fleet().clone();
    let tracker = ctx.track(name);
    let outcome = ctx.run(async {
        // With GPUs, the devices choose the host and are checked before anything exists.
        let (target, plan) = if gpus.is_empty() {
            let target = fleet
                .targets(&scope)
                .await?
                .into_iter()
                .next()
                .ok_or_else(|| OpError::invalid("no target"))?;
            let plan = vms::create::plan(&target, &spec).await?;
            (target, plan)
        } else {
            let (target, plan, _) =
                crate::ops::pci::create::plan(&fleet, &scope, &spec, &gpus).await?;
            (target, plan)
        };
        if dry_run {
            return Ok((plan, None));
        }
        let vm = vms::create(&target, &plan, &tracker).await?;
        if power_on {
            vms::power(&vm, PowerAction::On, &tracker).await?;
        }
        let summary = vms::select::refresh(&vm).await?;
        Ok((plan, Some(FoundVm { vm, summary })))
    })?;
    match outcome {
        (plan, None) => {
            ctx.say(&format!(
                "would create VM {} on {} ({} CPU, {} MB, datastore {})",
                plan.name, plan.endpoint, plan.cpus, plan.memory_mb, plan.datastore
            ));
            let mut m = from_serialize(&plan).try_cast::<Map>().unwrap_or_default();
            m.insert("dry_run".into(), true.into());
            Ok(m.into())
        }
        (_, Some(found)) => Ok(Dynamic::from(Vm(found))),
    }
}
