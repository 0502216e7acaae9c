//! `vm clone`, `vm create --from-template` and `vm template mark|unmark`: CloneVM_Task,
//! MarkAsTemplate and MarkAsVirtualMachine. Every choice is resolved first (the plan,
//! shown by --dry-run); nothing is sent when any part of it is wrong.

use serde::Serialize;

use crate::ops::error::{OpError, OpResult};
use crate::ops::fleet::WithEndpoint;
use crate::ops::inventory;
use crate::ops::pools::PoolInventory;
use crate::ops::progress::Progress;
use crate::ops::snapshots;
use crate::vim::{Client, MoRef, Request};

use super::VmRef;
use super::create::{pick_named, refuse_taken_name, root_pool, validate_name};
use super::power::{PowerAction, power};

#[derive(Debug, Clone, Default)]
pub struct CloneSpec {
    pub name: String,
    pub host: Option<String>,
    pub datastore: Option<String>,
    pub resource_pool: Option<String>,
    /// Share the source's disks below a snapshot (a delta disk per disk).
    pub linked: bool,
    /// The snapshot to clone from (a linked clone's base); the current state when None.
    pub snapshot: Option<String>,
    pub power_on: bool,
}

/// What `clone` will do, resolved against the inventory.
#[derive(Debug, Clone, Serialize)]
pub struct ClonePlan {
    pub source: String,
    pub source_id: String,
    pub source_is_template: bool,
    pub name: String,
    pub endpoint: String,
    /// None: vCenter keeps the source's host (or picks one in the pool).
    pub host: Option<String>,
    /// None: the source's datastores.
    pub datastore: Option<String>,
    /// None: the source's pool.
    pub resource_pool: Option<String>,
    pub linked: bool,
    pub snapshot: Option<String>,
    pub power_on: bool,
    #[serde(skip)]
    refs: CloneRefs,
}

#[derive(Debug, Clone, Default)]
struct CloneRefs {
    folder: Option<MoRef>,
    host: Option<MoRef>,
    datastore: Option<MoRef>,
    pool: Option<MoRef>,
    snapshot: Option<MoRef>,
}

/// Real ESXi answers CloneVM_Task with NotSupported: cloning is a vCenter service.
async fn require_vcenter(client: &Client, endpoint: &str, what: &str) -> OpResult<()> {
    if client.content().is_vcenter() {
        return Ok(());
    }
    Err(OpError::refused(
        format!(
            "{endpoint} is a standalone ESXi host: {what} needs a vCenter (ESXi answers CloneVM_Task with NotSupported)"
        ),
        "connect to the vCenter that manages the host, or copy the VM with `ceso vm export` and `ceso vm import`",
    ))
}

pub async fn plan(source: &VmRef, spec: &CloneSpec) -> OpResult<ClonePlan> {
    validate_name(&spec.name)?;
    let endpoint = source.endpoint.name().to_string();
    let client = source.endpoint.client().await?;
    let what = if spec.linked {
        "a linked clone"
    } else {
        "a clone"
    };
    require_vcenter(&client, &endpoint, what).await?;
    refuse_taken_name(&client, &spec.name, &endpoint).await?;
    let at = |e| OpError::vim(&endpoint, e);
    let props = client
        .properties(
            &source.moref,
            &["config.template", "parent", "runtime.host", "snapshot"],
        )
        .await
        .map_err(at)?;
    let template = props.bool("config.template").unwrap_or(false);

    let hosts = inventory::objects(&client, "HostSystem", &["parent"])
        .await
        .map_err(at)?;
    let host = match &spec.host {
        Some(name) => Some(pick_named(&hosts, Some(name), "host")?.clone()),
        None => None,
    };
    // A template has no pool: the clone needs one (the API's InvalidArgument otherwise),
    // so take the root pool of the chosen host's, else the template's host's, cluster.
    let pool = match &spec.resource_pool {
        Some(name) => {
            let pools = PoolInventory::read(&source.endpoint).await?;
            let pool = pools.find(name)?;
            Some((pool.moref(), pool.path.clone()))
        }
        None => {
            let compute = match &host {
                Some(h) => h.moref("parent"),
                None if template => match props.moref("runtime.host") {
                    Some(h) => client
                        .properties(&h, &["parent"])
                        .await
                        .map_err(at)?
                        .moref("parent"),
                    None => None,
                },
                None => None,
            };
            match compute {
                Some(c) => Some(root_pool(&client, &c, &endpoint).await?),
                None => None,
            }
        }
    };
    if template && pool.is_none() {
        return Err(OpError::Invalid {
            message: format!(
                "{} is a template and has no host to take a pool from",
                source.name
            ),
            hint: Some("name the clone's pool with --resource-pool or a host with --host".into()),
        });
    }
    let datastore = match &spec.datastore {
        Some(name) => {
            let all = inventory::objects(&client, "Datastore", &[])
                .await
                .map_err(at)?;
            Some(pick_named(&all, Some(name), "datastore")?.clone())
        }
        None => None,
    };
    let snapshot = match (&spec.snapshot, spec.linked) {
        (Some(wanted), _) => {
            let all = snapshots::tree::decode(props.get("snapshot"));
            Some(snapshots::find(&all, &source.name, wanted)?.clone())
        }
        (None, true) => {
            let all = snapshots::tree::decode(props.get("snapshot"));
            Some(all.into_iter().find(|s| s.current).ok_or_else(|| {
                OpError::refused(
                    format!("{} has no snapshot; a linked clone shares the disks below one", source.name),
                    format!("take one first (`ceso snapshot create {} --name base`) and pass --snapshot base", source.name),
                )
            })?)
        }
        (None, false) => None,
    };
    Ok(ClonePlan {
        source: source.name.clone(),
        source_id: source.moref.value.clone(),
        source_is_template: template,
        name: spec.name.clone(),
        endpoint,
        host: host
            .as_ref()
            .and_then(|h| h.str("name"))
            .map(str::to_string),
        datastore: datastore
            .as_ref()
            .and_then(|d| d.str("name"))
            .map(str::to_string),
        resource_pool: pool.as_ref().map(|p| p.1.clone()),
        linked: spec.linked,
        snapshot: snapshot.as_ref().map(|s| s.name.clone()),
        power_on: spec.power_on,
        refs: CloneRefs {
            folder: props.moref("parent"),
            host: host.map(|h| h.obj),
            datastore: datastore.map(|d| d.obj),
            pool: pool.map(|p| p.0),
            snapshot: snapshot.map(|s| s.moref()),
        },
    })
}

/// Carry out a plan: CloneVM_Task, then a power-on when asked. The new VM.
pub async fn clone(source: &VmRef, plan: &ClonePlan, progress: &dyn Progress) -> OpResult<VmRef> {
    let endpoint = source.endpoint.name().to_string();
    let client = source.endpoint.client().await?;
    let folder = plan
        .refs
        .folder
        .clone()
        .ok_or_else(|| OpError::invalid(format!("{} is in no folder", source.name)))?;
    let mut req = Request::new("CloneVM_Task", &source.moref);
    req.moref("folder", &folder).text("name", &plan.name);
    // WSDL order: location (datastore, diskMoveType, pool, host), template, powerOn,
    // snapshot.
    req.nest("spec", None, |r| {
        r.nest("location", None, |r| {
            if let Some(ds) = &plan.refs.datastore {
                r.moref("datastore", ds);
            }
            if plan.linked {
                r.text("diskMoveType", "createNewChildDiskBacking");
            }
            if let Some(pool) = &plan.refs.pool {
                r.moref("pool", pool);
            }
            if let Some(host) = &plan.refs.host {
                r.moref("host", host);
            }
        });
        r.text("template", false).text("powerOn", false);
        if let Some(snapshot) = &plan.refs.snapshot {
            r.moref("snapshot", snapshot);
        }
    });
    progress.step(&format!("Cloning {} to {}", source.name, plan.name));
    let result = client
        .run_task(req, source.endpoint.timeouts().task, &|t| progress.task(t))
        .await
        .at(&endpoint)?;
    let moref = result
        .and_then(|n| n.as_moref())
        .ok_or_else(|| OpError::invalid("CloneVM_Task returned no VM"))?;
    let vm = VmRef::made(&source.endpoint, moref, &plan.name).await?;
    if plan.power_on {
        power(&vm, PowerAction::On, progress).await?;
    }
    Ok(vm)
}

/// What `template mark|unmark` did (or would do).
#[derive(Debug, Clone, Serialize)]
pub struct TemplateChange {
    pub vm: String,
    pub id: String,
    pub endpoint: String,
    pub template: bool,
    /// False when it already was what was asked.
    pub changed: bool,
    /// Unmark: the pool the VM goes into.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_pool: Option<String>,
    #[serde(skip)]
    pool: Option<MoRef>,
    #[serde(skip)]
    host: Option<MoRef>,
}

/// Check a template change: a template must be powered off (the API's InvalidPowerState
/// otherwise), and making a VM of it needs a pool.
pub async fn plan_template(
    vm: &VmRef,
    template: bool,
    resource_pool: Option<&str>,
) -> OpResult<TemplateChange> {
    let endpoint = vm.endpoint.name().to_string();
    let client = vm.endpoint.client().await?;
    let props = client
        .properties(
            &vm.moref,
            &["config.template", "runtime.powerState", "runtime.host"],
        )
        .await
        .at(&endpoint)?;
    let is_template = props.bool("config.template").unwrap_or(false);
    let mut change = TemplateChange {
        vm: vm.name.clone(),
        id: vm.moref.value.clone(),
        endpoint: endpoint.clone(),
        template,
        changed: is_template != template,
        resource_pool: None,
        pool: None,
        host: props.moref("runtime.host"),
    };
    if !change.changed {
        return Ok(change);
    }
    let state = props.str("runtime.powerState").unwrap_or_default();
    if template && state != "poweredOff" {
        return Err(OpError::refused(
            format!(
                "{} is {state}; only a powered-off VM becomes a template",
                vm.name
            ),
            format!("stop it first (`ceso vm stop {}`)", vm.name),
        ));
    }
    if !template {
        let pool = match resource_pool {
            Some(name) => {
                let pools = PoolInventory::read(&vm.endpoint).await?;
                let pool = pools.find(name)?;
                (pool.moref(), pool.path.clone())
            }
            None => {
                let host = change.host.clone().ok_or_else(|| OpError::Invalid {
                    message: format!("template {} has no host to take a pool from", vm.name),
                    hint: Some("name the pool with --resource-pool".into()),
                })?;
                let compute = client
                    .properties(&host, &["parent"])
                    .await
                    .at(&endpoint)?
                    .moref("parent")
                    .ok_or_else(|| OpError::invalid(format!("{host} has no compute resource")))?;
                root_pool(&client, &compute, &endpoint).await?
            }
        };
        change.resource_pool = Some(pool.1);
        change.pool = Some(pool.0);
    }
    Ok(change)
}

/// MarkAsTemplate or MarkAsVirtualMachine, per a checked change (nothing when unchanged).
pub async fn set_template(vm: &VmRef, change: &TemplateChange) -> OpResult<()> {
    if !change.changed {
        return Ok(());
    }
    let client = vm.endpoint.client().await?;
    let req = if change.template {
        Request::new("MarkAsTemplate", &vm.moref)
    } else {
        let mut req = Request::new("MarkAsVirtualMachine", &vm.moref);
        if let Some(pool) = &change.pool {
            req.moref("pool", pool);
        }
        if let Some(host) = &change.host {
            req.moref("host", host);
        }
        req
    };
    client.call(req).await.at(vm.endpoint.name())?;
    Ok(())
}
