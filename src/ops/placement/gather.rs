//! Reading what the placement engine needs from one endpoint, in two bulk reads
//! (hosts, VMs and clusters in one ContainerView; names of datastores and networks)
//! plus the PCI scan for free passthrough devices.

use std::collections::{BTreeMap, HashMap};

use crate::ops::drs::model::{GroupKind, RuleKind};
use crate::ops::drs::read;
use crate::ops::error::OpResult;
use crate::ops::fleet::{Target, WithEndpoint};
use crate::ops::pci::inventory::{VmBacking, scan_target};
use crate::placement::model::{Host, HostUsage, Rule, Vm, VmHostKind, VmUsage};
use crate::vim::{MoRef, ObjectContent, PropertySpec};

const HOST_PATHS: &[&str] = &[
    "name",
    "parent",
    "summary.hardware.cpuMhz",
    "summary.hardware.numCpuCores",
    "summary.hardware.memorySize",
    "summary.quickStats.overallCpuUsage",
    "summary.quickStats.overallMemoryUsage",
    "runtime.connectionState",
    "runtime.inMaintenanceMode",
    "datastore",
    "network",
    "customValue",
];
const VM_PATHS: &[&str] = &[
    "name",
    "runtime.host",
    "runtime.powerState",
    "config.template",
    "config.hardware.numCPU",
    "config.hardware.memoryMB",
    "config.cpuAllocation.reservation",
    "config.memoryAllocation.reservation",
    "datastore",
    "network",
    "summary.quickStats.overallCpuUsage",
    "summary.quickStats.guestMemoryUsage",
    "summary.quickStats.hostMemoryUsage",
    "customValue",
];
const CLUSTER_PATHS: &[&str] = &["name", "host", "configurationEx"];

/// One endpoint's part of the inventory, with the morefs to act on it.
pub struct Part {
    pub hosts: Vec<Host>,
    pub vms: Vec<Vm>,
    pub rules: Vec<Rule>,
    pub host_groups: BTreeMap<String, Vec<String>>,
    pub vm_groups: BTreeMap<String, Vec<String>>,
    pub host_refs: HashMap<String, MoRef>,
    pub vm_refs: HashMap<String, MoRef>,
}

pub async fn part(target: &Target) -> OpResult<Part> {
    let endpoint = target.endpoint.name().to_string();
    let client = target.endpoint.client().await?;
    let objects = client
        .collect_view(
            &client.content().root_folder,
            &[
                PropertySpec {
                    kind: "HostSystem",
                    paths: HOST_PATHS,
                },
                PropertySpec {
                    kind: "VirtualMachine",
                    paths: VM_PATHS,
                },
                PropertySpec {
                    kind: "ClusterComputeResource",
                    paths: CLUSTER_PATHS,
                },
            ],
        )
        .await
        .at(&endpoint)?;
    let of = |kind: &str| -> Vec<&ObjectContent> {
        objects.iter().filter(|o| o.obj.kind == kind).collect()
    };
    let (hosts_raw, vms_raw, clusters) = (
        of("HostSystem"),
        of("VirtualMachine"),
        of("ClusterComputeResource"),
    );
    let mut lookups: Vec<MoRef> = Vec::new();
    for o in hosts_raw.iter().chain(&vms_raw) {
        lookups.extend(o.morefs("datastore"));
        lookups.extend(o.morefs("network"));
    }
    let names = client.names_of(&lookups).await.at(&endpoint)?;
    let names_of = |o: &ObjectContent, path: &str| -> Vec<String> {
        let mut v: Vec<String> = o
            .morefs(path)
            .iter()
            .filter_map(|m| names.get(m).cloned())
            .collect();
        v.sort();
        v
    };
    let host_name: HashMap<&MoRef, String> = hosts_raw
        .iter()
        .map(|h| (&h.obj, h.str("name").unwrap_or_default().to_string()))
        .collect();
    let cluster_of: HashMap<MoRef, String> = clusters
        .iter()
        .flat_map(|c| {
            let name = c.str("name").unwrap_or_default().to_string();
            c.morefs("host").into_iter().map(move |h| (h, name.clone()))
        })
        .collect();
    let fields = custom_fields(&client).await.at(&endpoint)?;
    let tags = |o: &ObjectContent| custom_values(o, &fields);
    let pci = scan_target(target.clone()).await?;
    let mut free: HashMap<String, Vec<String>> = HashMap::new();
    let mut vm_devices: HashMap<MoRef, Vec<String>> = HashMap::new();
    for h in &pci {
        free.insert(
            h.name.clone(),
            h.devices
                .iter()
                .filter(|d| d.is_assignable() && !d.is_companion())
                .map(|d| d.vendor_device.to_string())
                .collect(),
        );
        for vm in &h.vms {
            let devices = vm
                .devices
                .iter()
                .map(|d| match &d.backing {
                    VmBacking::DirectPath { id } => h
                        .device(id)
                        .map_or_else(|| id.clone(), |x| x.vendor_device.to_string()),
                    VmBacking::Dynamic { allowed, .. } => {
                        allowed.first().cloned().unwrap_or_default()
                    }
                    VmBacking::Vgpu { profile } => format!("vgpu:{profile}"),
                    VmBacking::Other { backing } => backing.clone(),
                })
                .collect();
            vm_devices.insert(vm.moref.clone(), devices);
        }
    }
    let mut out = Part {
        hosts: Vec::new(),
        vms: Vec::new(),
        rules: Vec::new(),
        host_groups: BTreeMap::new(),
        vm_groups: BTreeMap::new(),
        host_refs: HashMap::new(),
        vm_refs: HashMap::new(),
    };
    for h in &hosts_raw {
        let name = h.str("name").unwrap_or_default().to_string();
        if target.host.as_ref().is_some_and(|w| *w != name) {
            continue;
        }
        let cores = h.i64("summary.hardware.numCpuCores").unwrap_or(1).max(1);
        let mhz = h.i64("summary.hardware.cpuMhz").unwrap_or(0).max(0);
        let usage = match (
            h.i64("summary.quickStats.overallCpuUsage"),
            h.i64("summary.quickStats.overallMemoryUsage"),
        ) {
            (Some(c), Some(m)) => Some(HostUsage {
                cpu_mhz: c.max(0) as u64,
                memory_mb: m.max(0) as u64,
            }),
            _ => None,
        };
        out.host_refs.insert(name.clone(), h.obj.clone());
        out.hosts.push(Host {
            cluster: cluster_of
                .get(&h.obj)
                .cloned()
                .unwrap_or_else(|| name.clone()),
            cpu_mhz: (mhz * cores) as u64,
            cpu_cores: cores as u32,
            memory_mb: (h.i64("summary.hardware.memorySize").unwrap_or(0).max(0) / (1024 * 1024))
                as u64,
            connection_state: h
                .str("runtime.connectionState")
                .unwrap_or("disconnected")
                .to_string(),
            maintenance: h.bool("runtime.inMaintenanceMode") == Some(true),
            datastores: names_of(h, "datastore"),
            networks: names_of(h, "network"),
            free_devices: free.remove(&name).unwrap_or_default(),
            tags: tags(h),
            usage,
            name,
        });
    }
    let mut vm_name: HashMap<&MoRef, String> = HashMap::new();
    for v in &vms_raw {
        let name = v.str("name").unwrap_or_default().to_string();
        vm_name.insert(&v.obj, name.clone());
        if v.bool("config.template") == Some(true) || v.get("config.hardware.numCPU").is_none() {
            continue;
        }
        let host = v
            .moref("runtime.host")
            .and_then(|h| host_name.get(&h).cloned());
        if target.host.is_some() && !host.as_ref().is_some_and(|h| out.host_refs.contains_key(h)) {
            continue;
        }
        let powered_on = v.str("runtime.powerState") == Some("poweredOn");
        // As the server reports them: whether they measure anything is the engine's
        // one rule (`VmUsage::measured`), for live and offline inventories alike.
        let stat = |p: &str| v.i64(p).map(|x| x.max(0) as u64);
        let usage = match (
            stat("summary.quickStats.overallCpuUsage"),
            stat("summary.quickStats.guestMemoryUsage"),
            stat("summary.quickStats.hostMemoryUsage"),
        ) {
            (None, None, None) => None,
            (cpu, guest, host) => Some(VmUsage {
                cpu_mhz: cpu.unwrap_or(0),
                guest_memory_mb: guest.unwrap_or(0),
                host_memory_mb: host.unwrap_or(0),
            }),
        };
        out.vm_refs.insert(name.clone(), v.obj.clone());
        out.vms.push(Vm {
            host,
            vcpus: v.i64("config.hardware.numCPU").unwrap_or(1).max(1) as u32,
            memory_mb: v.i64("config.hardware.memoryMB").unwrap_or(0).max(0) as u64,
            powered_on,
            cpu_reservation_mhz: v
                .i64("config.cpuAllocation.reservation")
                .unwrap_or(0)
                .max(0) as u64,
            memory_reservation_mb: v
                .i64("config.memoryAllocation.reservation")
                .unwrap_or(0)
                .max(0) as u64,
            datastores: names_of(v, "datastore"),
            networks: names_of(v, "network"),
            devices: vm_devices.remove(&v.obj).unwrap_or_default(),
            tags: tags(v),
            usage,
            name,
        });
    }
    for c in &clusters {
        let cluster = c.str("name").unwrap_or_default().to_string();
        let Some(config) = c.get("configurationEx") else {
            continue;
        };
        // Group names are qualified by the cluster: groups of two clusters and
        // ceso's own host groups never collide.
        let qualified = |g: &str| format!("{cluster}/{g}");
        for g in config.children_named("group").filter_map(read::group) {
            let members: Vec<String> = g
                .members
                .iter()
                .filter_map(|id| {
                    let m = MoRef::new(
                        match g.kind {
                            GroupKind::Vm => "VirtualMachine",
                            GroupKind::Host => "HostSystem",
                        },
                        id,
                    );
                    match g.kind {
                        GroupKind::Vm => vm_name.get(&m).cloned(),
                        GroupKind::Host => host_name.get(&m).cloned(),
                    }
                })
                .collect();
            match g.kind {
                GroupKind::Vm => out.vm_groups.insert(qualified(&g.name), members),
                GroupKind::Host => out.host_groups.insert(qualified(&g.name), members),
            };
        }
        for r in config.children_named("rule").filter_map(read::rule) {
            if !r.enabled {
                continue;
            }
            let vm_names = |ids: &[String]| -> Vec<String> {
                ids.iter()
                    .filter_map(|id| vm_name.get(&MoRef::new("VirtualMachine", id)).cloned())
                    .collect()
            };
            let name = format!("{cluster}/{}", r.name);
            // DRS never breaks a VM-VM rule in its recommendations: they are hard here.
            out.rules.push(match &r.kind {
                RuleKind::KeepTogether { vms } => Rule::VmAffinity {
                    name,
                    vms: vm_names(vms),
                    mandatory: true,
                },
                RuleKind::Separate { vms } => Rule::VmAntiAffinity {
                    name,
                    vms: vm_names(vms),
                    mandatory: true,
                },
                RuleKind::VmHost {
                    vm_group,
                    host_group,
                    affine,
                } => {
                    // A rule naming a group that no longer exists constrains nothing.
                    if !out.host_groups.contains_key(&qualified(host_group))
                        || !out.vm_groups.contains_key(&qualified(vm_group))
                    {
                        continue;
                    }
                    Rule::VmHost {
                        name,
                        vms: vec![format!("group:{}", qualified(vm_group))],
                        host_group: qualified(host_group),
                        kind: match (r.mandatory, affine) {
                            (true, true) => VmHostKind::Must,
                            (true, false) => VmHostKind::MustNot,
                            (false, true) => VmHostKind::Should,
                            (false, false) => VmHostKind::ShouldNot,
                        },
                    }
                }
            });
        }
    }
    Ok(out)
}

/// The names of vCenter's custom attributes by key (CustomFieldsManager.field); none on
/// a server without custom attributes (standalone ESXi).
async fn custom_fields(
    client: &crate::vim::Client,
) -> Result<HashMap<i64, String>, crate::vim::Error> {
    let Some(manager) = client.content().manager("customFieldsManager") else {
        return Ok(HashMap::new());
    };
    let props = client.properties(&manager, &["field"]).await?;
    Ok(props
        .get("field")
        .map(crate::vim::Node::items)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|f| Some((f.i64_at("key")?, f.str_at("name")?.to_string())))
        .collect())
}

/// An object's custom attributes as placement tags (`rack: r1`); the last value set
/// for a key wins.
fn custom_values(o: &ObjectContent, fields: &HashMap<i64, String>) -> BTreeMap<String, String> {
    o.get("customValue")
        .map(crate::vim::Node::items)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|v| {
            let name = fields.get(&v.i64_at("key")?)?;
            Some((
                name.clone(),
                v.str_at("value").unwrap_or_default().to_string(),
            ))
        })
        .collect()
}
