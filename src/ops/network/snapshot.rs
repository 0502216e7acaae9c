//! The network state of an endpoint, read in bulk (one view read per object type, run
//! concurrently) into typed values. Every command plans from a snapshot; `network
//! check` analyses one without further I/O.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;

use crate::ops::error::OpResult;
use crate::ops::fleet::{Endpoint, WithEndpoint};
use crate::ops::inventory;
use crate::vim::{MoRef, Node, ObjectContent};

use super::policy::{PolicyView, read_dv_setting, read_host_policy};

#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    pub endpoint: String,
    pub hosts: Vec<HostNet>,
    pub switches: Vec<Dvs>,
    pub dv_portgroups: Vec<DvPortgroup>,
    /// Every network entity (standard, distributed, opaque) with its hosts and VMs.
    pub networks: Vec<NetworkEntity>,
    pub vms: Vec<VmNet>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HostNet {
    pub name: String,
    #[serde(skip)]
    pub id: MoRef,
    pub cluster: Option<String>,
    #[serde(skip)]
    pub network_system: Option<MoRef>,
    pub pnics: Vec<String>,
    pub vswitches: Vec<Vswitch>,
    pub portgroups: Vec<StdPortgroup>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Vswitch {
    pub name: String,
    pub mtu: i64,
    pub ports: i64,
    pub uplinks: Vec<String>,
    pub portgroups: Vec<String>,
    pub policy: PolicyView,
    /// The spec as read (`HostVirtualSwitchSpec`), for read-merge-send and rollback.
    #[serde(skip)]
    pub spec: Node,
}

#[derive(Debug, Clone, Serialize)]
pub struct StdPortgroup {
    pub name: String,
    pub vswitch: String,
    pub vlan: i64,
    /// The port group's own settings (unset = inherited from the vSwitch).
    pub policy: PolicyView,
    /// What applies (the host's computedPolicy).
    pub effective: PolicyView,
    #[serde(skip)]
    pub spec: Node,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Vlan {
    Id { id: i64 },
    Trunk { ranges: Vec<(i64, i64)> },
    Pvlan { id: i64 },
}

impl Vlan {
    pub fn show(&self) -> String {
        match self {
            Vlan::Id { id } => id.to_string(),
            Vlan::Trunk { ranges } => format!(
                "trunk {}",
                ranges
                    .iter()
                    .map(|(a, b)| if a == b {
                        a.to_string()
                    } else {
                        format!("{a}-{b}")
                    })
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            Vlan::Pvlan { id } => format!("pvlan {id}"),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Dvs {
    pub name: String,
    pub id: String,
    #[serde(skip)]
    pub moref: MoRef,
    pub uuid: String,
    pub config_version: String,
    pub members: Vec<DvsMember>,
    /// Uplink port names (uplink1, uplink2…) from the uplink port policy.
    pub uplink_names: Vec<String>,
    pub max_mtu: Option<i64>,
    pub portgroups: Vec<String>,
    pub policy: PolicyView,
    #[serde(skip)]
    pub config: Node,
}

#[derive(Debug, Clone, Serialize)]
pub struct DvsMember {
    pub host: String,
    #[serde(skip)]
    pub host_id: MoRef,
    /// Physical NICs given to the switch on that host.
    pub uplinks: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DvPortgroup {
    pub name: String,
    pub id: String,
    #[serde(skip)]
    pub moref: MoRef,
    pub key: String,
    pub switch: String,
    pub config_version: String,
    pub vlan: Option<Vlan>,
    pub ports: i64,
    pub binding: String,
    /// The switch's own uplink port group (not for VMs).
    pub uplink: bool,
    pub policy: PolicyView,
    #[serde(skip)]
    pub config: Node,
}

#[derive(Debug, Clone, Serialize)]
pub struct NetworkEntity {
    pub name: String,
    pub id: String,
    pub kind: String,
    pub hosts: Vec<String>,
    pub vms: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VmNet {
    pub name: String,
    pub host: Option<String>,
    pub cluster: Option<String>,
    pub networks: Vec<String>,
}

impl Snapshot {
    pub fn host(&self, name: &str) -> Option<&HostNet> {
        self.hosts.iter().find(|h| h.name == name)
    }

    pub fn switch(&self, name: &str) -> Option<&Dvs> {
        self.switches.iter().find(|s| s.name == name)
    }
}

impl HostNet {
    pub fn portgroup(&self, name: &str) -> Option<&StdPortgroup> {
        self.portgroups.iter().find(|p| p.name == name)
    }

    pub fn vswitch(&self, name: &str) -> Option<&Vswitch> {
        self.vswitches.iter().find(|v| v.name == name)
    }
}

fn names_of(ids: &[MoRef], names: &HashMap<MoRef, String>) -> Vec<String> {
    let mut out: Vec<String> = ids.iter().filter_map(|id| names.get(id).cloned()).collect();
    out.sort();
    out
}

fn texts(node: Option<&Node>, name: &str) -> Vec<String> {
    node.map(|n| n.children_named(name).map(|c| c.text.clone()).collect())
        .unwrap_or_default()
}

/// Read the network state of one endpoint.
pub async fn read(endpoint: &Arc<Endpoint>) -> OpResult<Snapshot> {
    let name = endpoint.name().to_string();
    let client = endpoint.client().await?;
    let c = &client;
    let (hosts, clusters, networks, switches, dvpgs, vms) = futures::try_join!(
        inventory::objects(
            c,
            "HostSystem",
            &["parent", "config.network", "configManager.networkSystem"],
        ),
        inventory::objects(c, "ClusterComputeResource", &[]),
        inventory::objects(c, "Network", &["host", "vm"]),
        inventory::objects(
            c,
            "DistributedVirtualSwitch",
            &["uuid", "config", "portgroup"]
        ),
        inventory::objects(c, "DistributedVirtualPortgroup", &["config"]),
        inventory::objects(c, "VirtualMachine", &["runtime.host", "network"]),
    )
    .at(&name)?;
    let cluster_names = crate::vim::property_collector::name_map(clusters);
    let host_names: HashMap<MoRef, String> = hosts
        .iter()
        .map(|h| (h.obj.clone(), h.str("name").unwrap_or_default().to_string()))
        .collect();
    let host_cluster: HashMap<MoRef, String> = hosts
        .iter()
        .filter_map(|h| {
            Some((
                h.obj.clone(),
                cluster_names.get(&h.moref("parent")?)?.clone(),
            ))
        })
        .collect();
    let network_names: HashMap<MoRef, String> = networks
        .iter()
        .map(|n| (n.obj.clone(), n.str("name").unwrap_or_default().to_string()))
        .collect();
    let vm_names: HashMap<MoRef, String> = vms
        .iter()
        .map(|v| (v.obj.clone(), v.str("name").unwrap_or_default().to_string()))
        .collect();
    let dvs_names: HashMap<MoRef, String> = switches
        .iter()
        .map(|s| (s.obj.clone(), s.str("name").unwrap_or_default().to_string()))
        .collect();
    let mut snapshot = Snapshot {
        endpoint: name,
        hosts: hosts.iter().map(|h| host_net(h, &host_cluster)).collect(),
        switches: switches
            .iter()
            .map(|s| dvs(s, &host_names, &network_names))
            .collect(),
        dv_portgroups: dvpgs.iter().map(|p| dv_portgroup(p, &dvs_names)).collect(),
        networks: networks
            .iter()
            .map(|n| NetworkEntity {
                name: n.str("name").unwrap_or_default().to_string(),
                id: n.obj.value.clone(),
                kind: n.obj.kind.clone(),
                hosts: names_of(&n.morefs("host"), &host_names),
                // vcsim leaves Network.vm empty for DV port groups: read it from the VMs too.
                vms: {
                    let mut ids = n.morefs("vm");
                    ids.extend(
                        vms.iter()
                            .filter(|v| v.morefs("network").contains(&n.obj))
                            .map(|v| v.obj.clone()),
                    );
                    ids.sort();
                    ids.dedup();
                    names_of(&ids, &vm_names)
                },
            })
            .collect(),
        vms: vms
            .iter()
            .map(|v| {
                let host = v.moref("runtime.host");
                VmNet {
                    name: v.str("name").unwrap_or_default().to_string(),
                    host: host.as_ref().and_then(|h| host_names.get(h).cloned()),
                    cluster: host.as_ref().and_then(|h| host_cluster.get(h).cloned()),
                    networks: names_of(&v.morefs("network"), &network_names),
                }
            })
            .collect(),
    };
    snapshot.hosts.sort_by(|a, b| a.name.cmp(&b.name));
    snapshot.switches.sort_by(|a, b| a.name.cmp(&b.name));
    snapshot.dv_portgroups.sort_by(|a, b| a.name.cmp(&b.name));
    snapshot.networks.sort_by(|a, b| a.name.cmp(&b.name));
    snapshot.vms.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(snapshot)
}

fn host_net(h: &ObjectContent, clusters: &HashMap<MoRef, String>) -> HostNet {
    let network = h.get("config.network");
    fn list<'a>(network: Option<&'a Node>, name: &'a str) -> Vec<&'a Node> {
        network
            .map(|n| n.children_named(name).collect())
            .unwrap_or_default()
    }
    let list = |name: &'static str| list(network, name);
    let vswitches: Vec<Vswitch> = list("vswitch")
        .into_iter()
        .map(|v| {
            let spec = v.child("spec").cloned().unwrap_or_default();
            let uplinks = texts(spec.child("bridge"), "nicDevice");
            Vswitch {
                name: v.text_of("name").unwrap_or_default().to_string(),
                mtu: v.i64_at("mtu").unwrap_or(1500),
                ports: v.i64_at("numPorts").unwrap_or(0),
                uplinks,
                portgroups: texts(Some(v), "portgroup")
                    .into_iter()
                    .map(|k| k.trim_start_matches("key-vim.host.PortGroup-").to_string())
                    .collect(),
                policy: read_host_policy(spec.child("policy")),
                spec,
            }
        })
        .collect();
    let portgroups = list("portgroup")
        .into_iter()
        .map(|p| {
            let spec = p.child("spec").cloned().unwrap_or_default();
            StdPortgroup {
                name: spec.text_of("name").unwrap_or_default().to_string(),
                vswitch: spec.text_of("vswitchName").unwrap_or_default().to_string(),
                vlan: spec.i64_at("vlanId").unwrap_or(0),
                policy: read_host_policy(spec.child("policy")),
                effective: read_host_policy(p.child("computedPolicy")),
                spec,
            }
        })
        .collect();
    HostNet {
        name: h.str("name").unwrap_or_default().to_string(),
        id: h.obj.clone(),
        cluster: clusters.get(&h.obj).cloned(),
        network_system: h.moref("configManager.networkSystem"),
        pnics: list("pnic")
            .into_iter()
            .filter_map(|p| p.text_of("device").map(str::to_string))
            .collect(),
        vswitches,
        portgroups,
    }
}

fn dvs(
    s: &ObjectContent,
    hosts: &HashMap<MoRef, String>,
    networks: &HashMap<MoRef, String>,
) -> Dvs {
    let config = s.get("config").cloned().unwrap_or_default();
    let members = config
        .children_named("host")
        .filter_map(|m| {
            let host_id = m.moref_at("config.host")?;
            Some(DvsMember {
                host: hosts
                    .get(&host_id)
                    .cloned()
                    .unwrap_or_else(|| host_id.value.clone()),
                uplinks: m
                    .path("config.backing")
                    .map(|b| {
                        b.children_named("pnicSpec")
                            .filter_map(|p| p.text_of("pnicDevice").map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default(),
                host_id,
            })
        })
        .collect();
    Dvs {
        name: s.str("name").unwrap_or_default().to_string(),
        id: s.obj.value.clone(),
        moref: s.obj.clone(),
        uuid: s.str("uuid").unwrap_or_default().to_string(),
        config_version: config
            .text_of("configVersion")
            .unwrap_or_default()
            .to_string(),
        members,
        uplink_names: texts(config.child("uplinkPortPolicy"), "uplinkPortName"),
        max_mtu: config.i64_at("maxMtu").filter(|m| *m > 0),
        portgroups: names_of(&s.morefs("portgroup"), networks),
        policy: read_dv_setting(config.child("defaultPortConfig")),
        config,
    }
}

pub fn read_vlan(setting: Option<&Node>) -> Option<Vlan> {
    let vlan = setting?.child("vlan")?;
    let ty = vlan.xsi_type.as_deref().unwrap_or_default();
    if ty.contains("Trunk") {
        Some(Vlan::Trunk {
            ranges: vlan
                .children_named("vlanId")
                .map(|r| (r.i64_at("start").unwrap_or(0), r.i64_at("end").unwrap_or(0)))
                .collect(),
        })
    } else if ty.contains("Pvlan") {
        Some(Vlan::Pvlan {
            id: vlan.i64_at("pvlanId").unwrap_or(0),
        })
    } else {
        Some(Vlan::Id {
            id: vlan.i64_at("vlanId").unwrap_or(0),
        })
    }
}

fn dv_portgroup(p: &ObjectContent, switches: &HashMap<MoRef, String>) -> DvPortgroup {
    let config = p.get("config").cloned().unwrap_or_default();
    let setting = config.child("defaultPortConfig");
    let switch = config
        .moref_at("distributedVirtualSwitch")
        .and_then(|s| switches.get(&s).cloned())
        .unwrap_or_default();
    DvPortgroup {
        name: p.str("name").unwrap_or_default().to_string(),
        id: p.obj.value.clone(),
        moref: p.obj.clone(),
        key: config.text_of("key").unwrap_or(&p.obj.value).to_string(),
        uplink: config.bool_at("uplink") == Some(true)
            || config
                .text_of("name")
                .unwrap_or_default()
                .contains("-DVUplinks")
            || p.str("name").unwrap_or_default().contains("-DVUplinks"),
        switch,
        config_version: config
            .text_of("configVersion")
            .unwrap_or_default()
            .to_string(),
        vlan: read_vlan(setting),
        ports: config.i64_at("numPorts").unwrap_or(0),
        binding: match config.text_of("type").unwrap_or_default() {
            "earlyBinding" => "static",
            "ephemeral" => "ephemeral",
            "lateBinding" => "dynamic",
            "" => "static",
            other => other,
        }
        .to_string(),
        policy: read_dv_setting(setting),
        config,
    }
}
