//! Reading what the precheck needs from one endpoint: the VM, every host with its
//! datastores, networks and running load, and the compute resources (one bulk read plus
//! the VM's own devices).

use std::collections::HashMap;

use crate::ops::error::{OpError, OpResult, close_names};
use crate::ops::fleet::{Endpoint, WithEndpoint};
use crate::ops::vms::VmRef;
use crate::vim::{MoRef, PropertySpec};

use super::precheck::{HostFacts, VmFacts};

/// A host with where it sits: its compute resource and that resource's root pool.
#[derive(Debug, Clone)]
pub struct HostPlace {
    pub facts: HostFacts,
    pub moref: MoRef,
    pub compute: MoRef,
    pub compute_name: String,
    pub root_pool: Option<MoRef>,
    pub in_cluster: bool,
}

/// One endpoint's hosts, datastores and networks, read at one moment.
pub struct Inventory {
    pub hosts: Vec<HostPlace>,
    pub datastores: HashMap<String, MoRef>,
    names: HashMap<MoRef, String>,
}

const HOST_PATHS: &[&str] = &[
    "name",
    "parent",
    "runtime.connectionState",
    "runtime.inMaintenanceMode",
    "summary.hardware.memorySize",
    "summary.hardware.numCpuThreads",
    "datastore",
    "network",
];
const VM_PATHS: &[&str] = &[
    "name",
    "runtime.host",
    "runtime.powerState",
    "config.hardware.numCPU",
    "config.hardware.memoryMB",
];

impl Inventory {
    pub async fn read(vm: &VmRef) -> OpResult<Self> {
        Self::read_endpoint(&vm.endpoint, Some(&vm.moref)).await
    }

    /// One endpoint's inventory; `moving` (the VM being migrated) is left out of the
    /// hosts' running load.
    pub async fn read_endpoint(endpoint: &Endpoint, moving: Option<&MoRef>) -> OpResult<Self> {
        let client = endpoint.client().await?;
        let endpoint = endpoint.name().to_string();
        let specs = [
            PropertySpec {
                kind: "HostSystem",
                paths: HOST_PATHS,
            },
            PropertySpec {
                kind: "VirtualMachine",
                paths: VM_PATHS,
            },
            PropertySpec {
                kind: "Datastore",
                paths: &["name"],
            },
            PropertySpec {
                kind: "Network",
                paths: &["name"],
            },
            PropertySpec {
                kind: "ComputeResource",
                paths: &["name", "resourcePool"],
            },
        ];
        let all = client
            .collect_view(&client.content().root_folder, &specs)
            .await
            .at(&endpoint)?;
        let mut names = HashMap::new();
        let mut computes = HashMap::new();
        let mut datastores = HashMap::new();
        let (mut hosts, mut vms) = (Vec::new(), Vec::new());
        for o in all {
            let name = o.str("name").unwrap_or_default().to_string();
            names.insert(o.obj.clone(), name.clone());
            match o.obj.kind.as_str() {
                "HostSystem" => hosts.push(o),
                "VirtualMachine" => vms.push(o),
                "Datastore" => {
                    datastores.insert(name, o.obj.clone());
                }
                "ComputeResource" | "ClusterComputeResource" => {
                    computes.insert(o.obj.clone(), (name, o.moref("resourcePool")));
                }
                _ => {}
            }
        }
        let name_of = |m: &MoRef| names.get(m).cloned().unwrap_or_else(|| m.value.clone());
        let hosts = hosts
            .iter()
            .map(|h| {
                let (running_cpus, running_memory_mb) = vms
                    .iter()
                    .filter(|v| {
                        v.moref("runtime.host").as_ref() == Some(&h.obj)
                            && v.str("runtime.powerState") == Some("poweredOn")
                            && Some(&v.obj) != moving
                    })
                    .fold((0, 0), |(c, m), v| {
                        (
                            c + v.i64("config.hardware.numCPU").unwrap_or(0),
                            m + v.i64("config.hardware.memoryMB").unwrap_or(0),
                        )
                    });
                let compute = h.moref("parent").unwrap_or_else(|| h.obj.clone());
                let (compute_name, root_pool) = computes
                    .get(&compute)
                    .cloned()
                    .unwrap_or_else(|| (compute.value.clone(), None));
                HostPlace {
                    facts: HostFacts {
                        id: h.obj.value.clone(),
                        name: h.str("name").unwrap_or_default().to_string(),
                        connection_state: h
                            .str("runtime.connectionState")
                            .unwrap_or("unknown")
                            .to_string(),
                        maintenance: h.bool("runtime.inMaintenanceMode").unwrap_or(false),
                        datastores: h.morefs("datastore").iter().map(name_of).collect(),
                        networks: h.morefs("network").iter().map(name_of).collect(),
                        memory_mb: h.i64("summary.hardware.memorySize").unwrap_or(0)
                            / (1024 * 1024),
                        cpu_threads: h.i64("summary.hardware.numCpuThreads").unwrap_or(0),
                        running_cpus,
                        running_memory_mb,
                    },
                    moref: h.obj.clone(),
                    in_cluster: compute.kind == "ClusterComputeResource",
                    compute,
                    compute_name,
                    root_pool,
                }
            })
            .collect();
        Ok(Self {
            hosts,
            datastores,
            names,
        })
    }

    pub fn name(&self, m: &MoRef) -> String {
        self.names
            .get(m)
            .cloned()
            .unwrap_or_else(|| m.value.clone())
    }

    /// The host called `wanted` (name or moref id).
    pub fn host(&self, wanted: &str) -> OpResult<&HostPlace> {
        self.hosts
            .iter()
            .find(|h| h.facts.name == wanted || h.facts.id == wanted)
            .ok_or_else(|| OpError::NotFound {
                kind: "host",
                name: wanted.to_string(),
                suggestions: close_names(wanted, self.hosts.iter().map(|h| h.facts.name.as_str())),
            })
    }

    pub fn host_by_id(&self, id: &MoRef) -> Option<&HostPlace> {
        self.hosts.iter().find(|h| &h.moref == id)
    }

    pub fn datastore(&self, wanted: &str) -> OpResult<MoRef> {
        self.datastores
            .get(wanted)
            .cloned()
            .ok_or_else(|| OpError::NotFound {
                kind: "datastore",
                name: wanted.to_string(),
                suggestions: close_names(wanted, self.datastores.keys().map(String::as_str)),
            })
    }

    /// The VM as the checks see it (its devices read now).
    pub async fn vm_facts(&self, vm: &VmRef) -> OpResult<VmFacts> {
        let client = vm.endpoint.client().await?;
        let o = client
            .properties(
                &vm.moref,
                &[
                    "runtime.powerState",
                    "runtime.host",
                    "config.hardware.numCPU",
                    "config.hardware.memoryMB",
                    "config.hardware.device",
                    "datastore",
                    "network",
                ],
            )
            .await
            .at(vm.endpoint.name())?;
        let passthrough = o
            .get("config.hardware.device")
            .map(|d| {
                d.items()
                    .into_iter()
                    .filter(|d| d.xsi_type.as_deref() == Some("VirtualPCIPassthrough"))
                    .map(|d| {
                        d.str_at("deviceInfo.label")
                            .map_or_else(|| "a PCI passthrough device".into(), str::to_string)
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(VmFacts {
            id: vm.moref.value.clone(),
            name: vm.name.clone(),
            powered_on: o.str("runtime.powerState") == Some("poweredOn"),
            host_id: o.moref("runtime.host").map(|h| h.value).unwrap_or_default(),
            cpus: o.i64("config.hardware.numCPU").unwrap_or(0),
            memory_mb: o.i64("config.hardware.memoryMB").unwrap_or(0),
            datastores: o.morefs("datastore").iter().map(|m| self.name(m)).collect(),
            networks: o.morefs("network").iter().map(|m| self.name(m)).collect(),
            passthrough,
        })
    }
}
