//! `vm create`: resolve every choice first (the plan, shown by --dry-run), then one
//! CreateVM_Task. Nothing is created when any part of the plan is wrong.

use serde::Serialize;

use crate::ops::devices::{self, DeviceChange, NicBacking};
use crate::ops::error::{OpError, OpResult, close_names};
use crate::ops::fleet::{Target, WithEndpoint};
use crate::ops::inventory;
use crate::ops::progress::Progress;
use crate::vim::{Client, MoRef, ObjectContent, Request};

use super::VmRef;

#[derive(Debug, Clone, Default)]
pub struct CreateSpec {
    pub name: String,
    pub cpus: i64,
    pub memory_mb: i64,
    pub disk_gb: i64,
    pub datastore: Option<String>,
    pub network: Option<String>,
    pub resource_pool: Option<String>,
    pub guest_id: Option<String>,
}

/// Everything `create` will do, resolved against the inventory.
#[derive(Debug, Clone, Serialize)]
pub struct CreatePlan {
    pub name: String,
    pub endpoint: String,
    pub datacenter: String,
    pub host: Option<String>,
    pub resource_pool: String,
    pub datastore: String,
    pub network: Option<String>,
    pub cpus: i64,
    pub memory_mb: i64,
    pub disk_gb: i64,
    pub guest_id: String,
    /// Reserve all memory (required by passthrough devices).
    pub memory_reservation_locked: bool,
    /// A restore keeps the original's; the server's default when None.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cores_per_socket: Option<i64>,
    pub devices: Vec<DeviceChange>,
    /// Advanced settings (`extraConfig`), e.g. the 64-bit MMIO window of large GPUs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extra_config: Vec<(String, String)>,
    /// `bios` or `efi`; the host's default when None.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub firmware: Option<String>,
    #[serde(skip)]
    refs: PlanRefs,
}

#[derive(Debug, Clone, Default)]
struct PlanRefs {
    folder: Option<MoRef>,
    pool: Option<MoRef>,
    host: Option<MoRef>,
}

impl CreatePlan {
    /// Add a device (e.g. a GPU) to the VM being created.
    pub fn add_device(&mut self, change: DeviceChange) {
        self.devices.push(change);
    }

    /// Where the plan puts a VM: (VM folder, resource pool, host), as an OVF import
    /// needs them.
    pub fn placement(&self) -> (Option<MoRef>, Option<MoRef>, Option<MoRef>) {
        (
            self.refs.folder.clone(),
            self.refs.pool.clone(),
            self.refs.host.clone(),
        )
    }
}

pub async fn plan(target: &Target, spec: &CreateSpec) -> OpResult<CreatePlan> {
    validate(spec)?;
    let endpoint = target.endpoint.name().to_string();
    let client = target.endpoint.client().await?;
    let at = |e| OpError::vim(&endpoint, e);

    let datacenters = inventory::objects(&client, "Datacenter", &["vmFolder"])
        .await
        .map_err(at)?;
    let dc = pick_named(
        &datacenters,
        target.endpoint.spec.datacenter.as_deref(),
        "datacenter",
    )?;
    let dc_name = dc.str("name").unwrap_or_default().to_string();

    refuse_taken_name(&client, &spec.name, &endpoint).await?;

    let hosts = inventory::objects(&client, "HostSystem", &["parent", "datastore"])
        .await
        .map_err(at)?;
    let host = match &target.host {
        Some(name) => Some(pick_named(&hosts, Some(name), "host")?.clone()),
        None => None,
    };
    let (pool, pool_name) = resource_pool(&client, spec, host.as_ref(), &target.endpoint).await?;

    let datastores = inventory::objects(
        &client,
        "Datastore",
        &["summary.freeSpace", "summary.accessible"],
    )
    .await
    .map_err(at)?;
    let datastore = match &spec.datastore {
        Some(name) => pick_named(&datastores, Some(name), "datastore")?,
        None => {
            let allowed = host.as_ref().map(|h| h.morefs("datastore"));
            datastores
                .iter()
                .filter(|d| d.bool("summary.accessible") != Some(false))
                .filter(|d| allowed.as_ref().is_none_or(|a| a.contains(&d.obj)))
                .max_by_key(|d| d.i64("summary.freeSpace").unwrap_or(0))
                .ok_or_else(|| {
                    OpError::refused("no accessible datastore found", "name one with --datastore")
                })?
        }
    };
    let datastore_name = datastore.str("name").unwrap_or_default().to_string();
    let free = datastore.i64("summary.freeSpace").unwrap_or(i64::MAX);
    if spec.disk_gb > 0 && free < spec.disk_gb.saturating_mul(1 << 30) {
        return Err(OpError::refused(
            format!(
                "datastore {datastore_name} has {} GiB free; the disk needs {} GiB",
                free >> 30,
                spec.disk_gb
            ),
            "choose another datastore with --datastore",
        ));
    }

    let mut devices = vec![DeviceChange::AddScsiController { key: -100 }];
    if spec.disk_gb > 0 {
        devices.push(DeviceChange::AddDisk {
            key: -101,
            controller_key: -100,
            unit: 0,
            capacity_kb: spec.disk_gb * 1024 * 1024,
            file_name: format!("[{datastore_name}] {}/{}.vmdk", spec.name, spec.name),
        });
    }
    let network = match &spec.network {
        Some(name) => Some(nic_backing(&client, name, &endpoint).await?),
        None => None,
    };
    if let Some(backing) = &network {
        devices.push(DeviceChange::AddNic {
            key: -102,
            backing: backing.clone(),
        });
    }
    Ok(CreatePlan {
        name: spec.name.clone(),
        endpoint,
        datacenter: dc_name,
        host: host
            .as_ref()
            .and_then(|h| h.str("name"))
            .map(str::to_string),
        resource_pool: pool_name,
        datastore: datastore_name,
        network: spec.network.clone(),
        cpus: spec.cpus,
        memory_mb: spec.memory_mb,
        disk_gb: spec.disk_gb,
        guest_id: spec
            .guest_id
            .clone()
            .unwrap_or_else(|| "otherGuest64".into()),
        memory_reservation_locked: false,
        cores_per_socket: None,
        devices,
        extra_config: Vec::new(),
        firmware: None,
        refs: PlanRefs {
            folder: dc.moref("vmFolder"),
            pool: Some(pool),
            host: host.map(|h| h.obj),
        },
    })
}

/// Refused (nothing created) when a VM or template of that name exists on the endpoint.
pub async fn refuse_taken_name(client: &Client, name: &str, endpoint: &str) -> OpResult<()> {
    let existing = inventory::objects(client, "VirtualMachine", &[])
        .await
        .map_err(|e| OpError::vim(endpoint, e))?;
    if existing.iter().any(|vm| vm.str("name") == Some(name)) {
        return Err(OpError::refused(
            format!("a VM named '{name}' already exists on {endpoint}"),
            "choose another name, or remove the old VM with `ceso vm delete`",
        ));
    }
    Ok(())
}

/// vSphere 8's configuration maximums per VM: checked before sending, because larger
/// values are not always refused by the server (a simulator stores memoryMB wrapped to
/// 32 bits).
pub const MAX_CPUS: i64 = 768;
pub const MAX_MEMORY_MB: i64 = 24 * 1024 * 1024;
pub const MAX_DISK_GB: i64 = 62 * 1024;

/// A name vSphere accepts for a new VM (clones and imports check it too).
pub fn validate_name(name: &str) -> OpResult<()> {
    if name.trim().is_empty() || name.len() > 80 {
        return Err(OpError::invalid("a VM name must have 1 to 80 characters"));
    }
    if name.contains(['/', '\\', '%']) {
        return Err(OpError::invalid(format!(
            "'{name}': a VM name cannot contain / \\ or %"
        )));
    }
    Ok(())
}

pub fn validate(spec: &CreateSpec) -> OpResult<()> {
    validate_name(&spec.name)?;
    if !(1..=MAX_CPUS).contains(&spec.cpus) {
        return Err(OpError::Invalid {
            message: format!("--cpu {} is out of range", spec.cpus),
            hint: Some(format!("a VM has 1 to {MAX_CPUS} vCPUs (vSphere 8 limit)")),
        });
    }
    if spec.memory_mb < 4 || spec.memory_mb % 4 != 0 || spec.memory_mb > MAX_MEMORY_MB {
        return Err(OpError::Invalid {
            message: format!("--memory {} MB is not valid", spec.memory_mb),
            hint: Some(format!(
                "memory is in MB, a multiple of 4 from 4 to {MAX_MEMORY_MB} (24 TB, the vSphere 8 limit), e.g. 4096"
            )),
        });
    }
    if !(0..=MAX_DISK_GB).contains(&spec.disk_gb) {
        return Err(OpError::Invalid {
            message: format!("--disk {} GB is not valid", spec.disk_gb),
            hint: Some(format!(
                "a disk is 1 to {MAX_DISK_GB} GB (62 TB, the vSphere limit for a virtual disk); 0 for no disk"
            )),
        });
    }
    Ok(())
}

/// The object called `name` (or the only/first one when no name is asked for).
pub fn pick_named<'a>(
    objects: &'a [ObjectContent],
    name: Option<&str>,
    kind: &'static str,
) -> OpResult<&'a ObjectContent> {
    match name {
        Some(wanted) => {
            let hits: Vec<_> = objects
                .iter()
                .filter(|o| o.str("name") == Some(wanted))
                .collect();
            match hits.as_slice() {
                [one] => Ok(one),
                [] => Err(OpError::NotFound {
                    kind,
                    name: wanted.to_string(),
                    suggestions: close_names(wanted, inventory::names(objects)),
                }),
                many => Err(OpError::Ambiguous {
                    kind,
                    name: wanted.to_string(),
                    candidates: many.iter().map(|o| o.obj.to_string()).collect(),
                }),
            }
        }
        None => {
            let mut sorted: Vec<_> = objects.iter().collect();
            sorted.sort_by_key(|o| o.str("name").unwrap_or_default().to_string());
            sorted.into_iter().next().ok_or_else(|| OpError::NotFound {
                kind,
                name: "(any)".into(),
                suggestions: vec![],
            })
        }
    }
}

async fn resource_pool(
    client: &Client,
    spec: &CreateSpec,
    host: Option<&ObjectContent>,
    target: &std::sync::Arc<crate::ops::fleet::Endpoint>,
) -> OpResult<(MoRef, String)> {
    let endpoint = target.name();
    let at = |e| OpError::vim(endpoint, e);
    if let Some(name) = &spec.resource_pool {
        // A path or a unique name, as `ceso rp` names pools.
        let pools = crate::ops::pools::PoolInventory::read(target).await?;
        let pool = pools.find(name)?;
        return Ok((pool.moref(), pool.path.clone()));
    }
    // The root pool of the host's cluster / compute resource, or of the first one.
    let compute = match host.and_then(|h| h.moref("parent")) {
        Some(parent) => parent,
        None => {
            let computes = inventory::objects(client, "ComputeResource", &["resourcePool"])
                .await
                .map_err(at)?;
            pick_named(&computes, None, "compute resource")?.obj.clone()
        }
    };
    root_pool(client, &compute, endpoint).await
}

/// The root resource pool of a compute resource, as (moref, path).
pub async fn root_pool(
    client: &Client,
    compute: &MoRef,
    endpoint: &str,
) -> OpResult<(MoRef, String)> {
    let props = client
        .properties(compute, &["resourcePool", "name"])
        .await
        .map_err(|e| OpError::vim(endpoint, e))?;
    let pool = props.moref("resourcePool").ok_or_else(|| {
        OpError::refused(
            format!("{compute} has no resource pool"),
            "name one with --resource-pool",
        )
    })?;
    Ok((
        pool,
        format!("{}/Resources", props.str("name").unwrap_or_default()),
    ))
}

/// Find a network by name: a standard port group or a distributed port group, or
/// `SWITCH/PORTGROUP` for the distributed port group of that switch (names repeat
/// across switches).
pub async fn nic_backing(client: &Client, name: &str, endpoint: &str) -> OpResult<NicBacking> {
    let at = |e| OpError::vim(endpoint, e);
    let network = match name.split_once('/') {
        Some((switch, portgroup)) => {
            let switches = inventory::objects(client, "DistributedVirtualSwitch", &[])
                .await
                .map_err(at)?;
            let switch = pick_named(&switches, Some(switch), "distributed switch")?;
            let portgroups = inventory::objects(
                client,
                "DistributedVirtualPortgroup",
                &["config.distributedVirtualSwitch"],
            )
            .await
            .map_err(at)?;
            let on_switch: Vec<ObjectContent> = portgroups
                .into_iter()
                .filter(|p| p.moref("config.distributedVirtualSwitch") == Some(switch.obj.clone()))
                .collect();
            pick_named(&on_switch, Some(portgroup), "DV port group")?.clone()
        }
        None => {
            let networks = inventory::objects(client, "Network", &[])
                .await
                .map_err(at)?;
            pick_named(&networks, Some(name), "network")?.clone()
        }
    };
    let name = network.str("name").unwrap_or(name);
    if network.obj.kind == "DistributedVirtualPortgroup" {
        let pg = client
            .properties(
                &network.obj,
                &["config.key", "config.distributedVirtualSwitch"],
            )
            .await
            .map_err(at)?;
        let dvs = pg
            .moref("config.distributedVirtualSwitch")
            .ok_or_else(|| OpError::invalid(format!("port group {name} has no switch")))?;
        let uuid = client.properties(&dvs, &["uuid"]).await.map_err(at)?;
        return Ok(NicBacking::DvPortgroup {
            name: name.to_string(),
            switch_uuid: uuid.str("uuid").unwrap_or_default().to_string(),
            portgroup_key: pg
                .str("config.key")
                .unwrap_or(&network.obj.value)
                .to_string(),
        });
    }
    Ok(NicBacking::Network {
        name: name.to_string(),
        network: network.obj.clone(),
    })
}

/// Carry out a plan.
pub async fn create(
    target: &Target,
    plan: &CreatePlan,
    progress: &dyn Progress,
) -> OpResult<VmRef> {
    let endpoint = target.endpoint.name().to_string();
    let client = target.endpoint.client().await?;
    let folder = plan
        .refs
        .folder
        .clone()
        .ok_or_else(|| OpError::invalid("the plan has no VM folder"))?;
    let mut req = Request::new("CreateVM_Task", &folder);
    req.nest("config", None, |r| {
        r.text("name", &plan.name).text("guestId", &plan.guest_id);
        r.nest("files", None, |r| {
            r.text("vmPathName", format!("[{}]", plan.datastore));
        });
        r.text("numCPUs", plan.cpus)
            .opt_text("numCoresPerSocket", plan.cores_per_socket)
            .text("memoryMB", plan.memory_mb);
        for change in &plan.devices {
            devices::write(r, change);
        }
        for (key, value) in &plan.extra_config {
            devices::write_option(r, key, value);
        }
        if let Some(firmware) = &plan.firmware {
            r.text("firmware", firmware);
        }
        if plan.memory_reservation_locked {
            r.text("memoryReservationLockedToMax", true);
        }
    });
    if let Some(pool) = &plan.refs.pool {
        req.moref("pool", pool);
    }
    if let Some(host) = &plan.refs.host {
        req.moref("host", host);
    }
    progress.step(&format!("Creating VM {}", plan.name));
    let result = client
        .run_task(req, target.endpoint.timeouts().task, &|t| progress.task(t))
        .await
        .at(&endpoint)?;
    let moref = result
        .and_then(|n| n.as_moref())
        .ok_or_else(|| OpError::invalid("CreateVM_Task returned no VM"))?;
    // CreateVM_Task makes a powered-off VM.
    VmRef::made(&target.endpoint, moref, &plan.name).await
}
