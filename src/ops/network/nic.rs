//! A VM's network adapters: list, add, reconnect (`set`, keeping the MAC address and
//! device key), remove. The network must exist on the VM's host (a standard port
//! group there, or a distributed switch the host is a member of), checked before the
//! VM is touched.

use serde::Serialize;

use crate::ops::devices::NicBacking;
use crate::ops::error::{OpError, OpResult, close_names};
use crate::ops::fleet::{Fleet, Scope, WithEndpoint};
use crate::ops::progress::Progress;
use crate::ops::vms::{self, VmRef, info::NicInfo};
use crate::vim::{Node, Request, no_progress};

use super::snapshot::{self, Snapshot};
use super::spec_tree::{leaf, object, put, write};

/// VirtualEthernetCard fields in WSDL order (VirtualDevice's, then the card's).
const CARD: &[&str] = &[
    "key",
    "deviceInfo",
    "backing",
    "connectable",
    "slotInfo",
    "controllerKey",
    "unitNumber",
    "numaNode",
    "deviceGroupInfo",
    "addressType",
    "macAddress",
    "wakeOnLanEnabled",
    "resourceAllocation",
    "externalId",
    "uptCompatibilityEnabled",
];

#[derive(Debug, Clone, Serialize)]
pub struct NicChange {
    pub vm: String,
    pub nic: String,
    pub action: &'static str,
    pub before: Option<String>,
    pub after: Option<String>,
    pub mac: String,
    pub dry_run: bool,
}

pub async fn list(fleet: &Fleet, scope: &Scope, vm: &str) -> OpResult<Vec<NicInfo>> {
    let vm = vms::find_vm(fleet, scope, vm).await?;
    Ok(vms::info(&vm).await?.nics)
}

/// `NAME` (a port group or DV port group) or `SWITCH/NAME` (a DV port group of that
/// switch), checked against the VM's host.
fn backing(snap: &Snapshot, host: &str, network: &str) -> OpResult<NicBacking> {
    let (switch, name) = match network.split_once('/') {
        Some((s, n)) => (Some(s), n),
        None => (None, network),
    };
    let dv = snap
        .dv_portgroups
        .iter()
        .filter(|p| !p.uplink && p.name == name && switch.is_none_or(|s| s == p.switch))
        .collect::<Vec<_>>();
    if let [pg] = dv.as_slice() {
        let sw = snap
            .switch(&pg.switch)
            .ok_or_else(|| OpError::invalid(format!("port group {name} has no switch")))?;
        if !sw.members.iter().any(|m| m.host == host) {
            return Err(OpError::Refused {
                message: format!(
                    "host {host} is not a member of {}, so {name} is not reachable there",
                    sw.name
                ),
                hint: Some(format!(
                    "add it: `ceso dvs host add {} {host} --uplinks vmnicN`",
                    sw.name
                )),
            });
        }
        return Ok(NicBacking::DvPortgroup {
            name: pg.name.clone(),
            switch_uuid: sw.uuid.clone(),
            portgroup_key: pg.key.clone(),
        });
    }
    if dv.len() > 1 {
        return Err(OpError::Ambiguous {
            kind: "DV port group",
            name: name.to_string(),
            candidates: dv
                .iter()
                .map(|p| format!("{}/{}", p.switch, p.name))
                .collect(),
        });
    }
    if switch.is_some() {
        return Err(OpError::NotFound {
            kind: "DV port group",
            name: network.to_string(),
            suggestions: close_names(network, snap.dv_portgroups.iter().map(|p| p.name.as_str())),
        });
    }
    let entity = snap
        .networks
        .iter()
        .find(|n| n.name == name && n.kind != "DistributedVirtualPortgroup");
    let Some(entity) = entity else {
        return Err(OpError::NotFound {
            kind: "network",
            name: name.to_string(),
            suggestions: close_names(name, snap.networks.iter().map(|n| n.name.as_str())),
        });
    };
    if entity.kind == "Network" && snap.host(host).is_some_and(|h| h.portgroup(name).is_none()) {
        return Err(OpError::Refused {
            message: format!("port group {name} does not exist on {host}, the VM's host"),
            hint: Some(format!(
                "create it there: `ceso network create {name} --host {host} --vlan-id N`"
            )),
        });
    }
    Ok(NicBacking::Network {
        name: name.to_string(),
        network: crate::vim::MoRef::new(entity.kind.clone(), entity.id.clone()),
    })
}

fn backing_node(b: &NicBacking) -> Node {
    match b {
        NicBacking::Network { name, network } => object(
            "backing",
            Some("VirtualEthernetCardNetworkBackingInfo"),
            vec![
                leaf("deviceName", name),
                Node {
                    name: "network".into(),
                    type_attr: Some(network.kind.clone()),
                    text: network.value.clone(),
                    ..Node::default()
                },
            ],
        ),
        NicBacking::DvPortgroup {
            switch_uuid,
            portgroup_key,
            ..
        } => object(
            "backing",
            Some("VirtualEthernetCardDistributedVirtualPortBackingInfo"),
            vec![object(
                "port",
                None,
                vec![
                    leaf("switchUuid", switch_uuid),
                    leaf("portgroupKey", portgroup_key),
                ],
            )],
        ),
    }
}

fn backing_name(b: &NicBacking) -> String {
    match b {
        NicBacking::Network { name, .. } | NicBacking::DvPortgroup { name, .. } => name.clone(),
    }
}

struct Vm {
    vm: VmRef,
    snap: Snapshot,
    devices: Vec<Node>,
    nics: Vec<NicInfo>,
}

async fn load(fleet: &Fleet, scope: &Scope, name: &str) -> OpResult<Vm> {
    load_ref(vms::find_vm(fleet, scope, name).await?).await
}

async fn load_ref(vm: VmRef) -> OpResult<Vm> {
    let snap = snapshot::read(&vm.endpoint).await?;
    let client = vm.endpoint.client().await?;
    let props = client
        .properties(&vm.moref, &["config.hardware.device"])
        .await
        .at(vm.endpoint.name())?;
    let devices = props
        .get("config.hardware.device")
        .map(|d| d.items().into_iter().cloned().collect())
        .unwrap_or_default();
    let nics = vms::info(&vm).await?.nics;
    Ok(Vm {
        vm,
        snap,
        devices,
        nics,
    })
}

impl Vm {
    /// The NIC named by label ("Network adapter 1"), device key or MAC address.
    fn nic(&self, which: &str) -> OpResult<(&NicInfo, &Node)> {
        let nic = self
            .nics
            .iter()
            .find(|n| {
                n.label == which || n.key.to_string() == which || n.mac.eq_ignore_ascii_case(which)
            })
            .or(match self.nics.as_slice() {
                [only] if which.is_empty() => Some(only),
                _ => None,
            })
            .ok_or_else(|| OpError::NotFound {
                kind: "network adapter",
                name: which.to_string(),
                suggestions: self
                    .nics
                    .iter()
                    .map(|n| format!("{} ({})", n.label, n.mac))
                    .collect(),
            })?;
        let node = self
            .devices
            .iter()
            .find(|d| d.i64_at("key") == Some(nic.key))
            .ok_or_else(|| OpError::invalid(format!("{} vanished from the VM", nic.label)))?;
        Ok((nic, node))
    }

    async fn reconfigure(
        &self,
        operation: &str,
        device: &Node,
        progress: &dyn Progress,
    ) -> OpResult<()> {
        self.reconfigure_with(operation, device, false, progress)
            .await
    }

    /// `lock_memory`: reserve all the VM's memory too, which SR-IOV adapters need (like
    /// every passthrough device) to power on.
    async fn reconfigure_with(
        &self,
        operation: &str,
        device: &Node,
        lock_memory: bool,
        progress: &dyn Progress,
    ) -> OpResult<()> {
        progress.step(&format!("Reconfiguring {}", self.vm.name));
        let mut r = Request::new("ReconfigVM_Task", &self.vm.moref);
        r.nest("spec", None, |r| {
            r.nest("deviceChange", None, |r| {
                r.text("operation", operation);
                write(r, "device", None, device);
            });
            if lock_memory {
                r.text("memoryReservationLockedToMax", true);
            }
        });
        let client = self.vm.endpoint.client().await?;
        client
            .run_task(r, self.vm.endpoint.timeouts().task, &no_progress)
            .await
            .at(self.vm.endpoint.name())?;
        Ok(())
    }
}

/// Connect a NIC to another network; MAC address, key and type stay.
pub async fn set(
    fleet: &Fleet,
    scope: &Scope,
    vm: &str,
    nic: &str,
    network: &str,
    dry_run: bool,
    progress: &dyn Progress,
) -> OpResult<NicChange> {
    let vm = load(fleet, scope, vm).await?;
    let (info, node) = vm.nic(nic)?;
    let b = backing(&vm.snap, &vm.vm.host, network)?;
    let mut device = node.clone();
    put(&mut device, CARD, backing_node(&b));
    let out = NicChange {
        vm: vm.vm.name.clone(),
        nic: info.label.clone(),
        action: "set",
        before: Some(info.network.clone()),
        after: Some(backing_name(&b)),
        mac: info.mac.clone(),
        dry_run,
    };
    if !dry_run {
        vm.reconfigure("edit", &device, progress).await?;
    }
    Ok(out)
}

/// A new adapter: its network, and its type (`vmxnet3`…) or SR-IOV physical function.
#[derive(Debug, Clone, Copy)]
pub struct NewNic<'a> {
    pub network: &'a str,
    pub kind: Option<&'a str>,
    pub sriov: Option<&'a str>,
}

pub async fn add(
    fleet: &Fleet,
    scope: &Scope,
    vm: &str,
    new: NewNic<'_>,
    dry_run: bool,
    progress: &dyn Progress,
) -> OpResult<NicChange> {
    let NewNic {
        network,
        kind,
        sriov,
    } = new;
    let vm = load(fleet, scope, vm).await?;
    let b = backing(&vm.snap, &vm.vm.host, network)?;
    let kind = match (kind, sriov) {
        (None | Some("sriov"), Some(_)) => super::sriov_nic::CARD_TYPE,
        (Some(other), Some(_)) => {
            return Err(OpError::invalid(format!(
                "--type {other} with --sriov: an SR-IOV adapter is its own type (leave --type out)"
            )));
        }
        (None | Some("vmxnet3"), None) => "VirtualVmxnet3",
        (Some("e1000e"), None) => "VirtualE1000e",
        (Some("e1000"), None) => "VirtualE1000",
        (Some(other), None) => {
            return Err(OpError::invalid(format!(
                "--type {other}: use vmxnet3, e1000e or e1000"
            )));
        }
    };
    let pf = match sriov {
        Some(pf) => Some(super::sriov_nic::pf_backing(&vm.vm, pf).await?),
        None => None,
    };
    let mut device = object(
        "device",
        Some(kind),
        vec![
            leaf("key", -1),
            backing_node(&b),
            object(
                "connectable",
                None,
                vec![
                    leaf("startConnected", true),
                    leaf("allowGuestControl", true),
                    leaf("connected", false),
                ],
            ),
            leaf("addressType", "generated"),
        ],
    );
    if let Some((_, node)) = &pf {
        // VirtualSriovEthernetCard's own fields follow VirtualEthernetCard's.
        device.children.push(leaf("allowGuestOSMtuChange", false));
        device.children.push(node.clone());
    }
    let mut out = NicChange {
        vm: vm.vm.name.clone(),
        nic: format!("Network adapter {}", vm.nics.len() + 1),
        action: "add",
        before: None,
        after: Some(match &pf {
            Some((address, _)) => format!("{} (SR-IOV on {address})", backing_name(&b)),
            None => backing_name(&b),
        }),
        mac: String::new(),
        dry_run,
    };
    if !dry_run {
        vm.reconfigure_with("add", &device, pf.is_some(), progress)
            .await?;
        // The server names the adapter and gives it its MAC address: report those.
        let after = vms::info(&vm.vm).await?.nics;
        if let Some(new) = after
            .iter()
            .find(|n| !vm.nics.iter().any(|old| old.key == n.key))
        {
            out.nic = new.label.clone();
            out.mac = new.mac.clone();
        }
    }
    Ok(out)
}

pub async fn remove(
    fleet: &Fleet,
    scope: &Scope,
    vm: &str,
    nic: &str,
    dry_run: bool,
    progress: &dyn Progress,
) -> OpResult<NicChange> {
    let vm = load(fleet, scope, vm).await?;
    let (info, node) = vm.nic(nic)?;
    let out = NicChange {
        vm: vm.vm.name.clone(),
        nic: info.label.clone(),
        action: "remove",
        before: Some(info.network.clone()),
        after: None,
        mac: info.mac.clone(),
        dry_run,
    };
    if !dry_run {
        vm.reconfigure("remove", node, progress).await?;
    }
    Ok(out)
}

/// Whether `network` (a name or `SWITCH/NAME`) can back a NIC on `host` of this
/// endpoint: the name it resolves to, or why not.
pub async fn reachable(
    endpoint: &std::sync::Arc<crate::ops::fleet::Endpoint>,
    host: &str,
    network: &str,
) -> OpResult<String> {
    let snap = snapshot::read(endpoint).await?;
    Ok(backing_name(&backing(&snap, host, network)?))
}

/// What one NIC of a VM should become (matched by MAC address, else by position).
#[derive(Debug, Clone)]
pub struct NicWant {
    pub mac: String,
    pub network: String,
    /// Pin `mac` (addressType manual) when the server gave the NIC another one.
    pub keep_mac: bool,
}

/// Bring a VM's NICs to what `wanted` says in one ReconfigVM_Task (nothing is sent when
/// they already are). Returns one line per NIC changed.
pub async fn rewire(
    vm: &VmRef,
    wanted: &[NicWant],
    progress: &dyn Progress,
) -> OpResult<Vec<String>> {
    let loaded = load_ref(vm.clone()).await?;
    let mut nics: Vec<&NicInfo> = loaded.nics.iter().collect();
    nics.sort_by_key(|n| n.key);
    let mut edits = Vec::new();
    let mut lines = Vec::new();
    for (i, want) in wanted.iter().enumerate() {
        let nic = nics
            .iter()
            .find(|n| n.mac.eq_ignore_ascii_case(&want.mac))
            .or_else(|| nics.get(i))
            .ok_or_else(|| {
                OpError::Io(format!(
                    "{} has {} network adapters, {} expected",
                    vm.name,
                    nics.len(),
                    wanted.len()
                ))
            })?;
        let (_, node) = loaded.nic(&nic.key.to_string())?;
        let mut device = node.clone();
        let mut changed = Vec::new();
        if nic.network != want.network {
            let b = backing(&loaded.snap, &vm.host, &want.network)?;
            put(&mut device, CARD, backing_node(&b));
            changed.push(format!("{} → {}", nic.network, backing_name(&b)));
        }
        if want.keep_mac && !nic.mac.eq_ignore_ascii_case(&want.mac) {
            put(&mut device, CARD, leaf("addressType", "manual"));
            put(&mut device, CARD, leaf("macAddress", &want.mac));
            changed.push(format!("MAC {} → {}", nic.mac, want.mac));
        }
        if !changed.is_empty() {
            lines.push(format!("{}: {}", nic.label, changed.join(", ")));
            edits.push(device);
        }
    }
    if edits.is_empty() {
        return Ok(lines);
    }
    progress.step(&format!("Reconnecting the network adapters of {}", vm.name));
    let mut r = Request::new("ReconfigVM_Task", &vm.moref);
    r.nest("spec", None, |r| {
        for device in &edits {
            r.nest("deviceChange", None, |r| {
                r.text("operation", "edit");
                write(r, "device", None, device);
            });
        }
    });
    let client = vm.endpoint.client().await?;
    client
        .run_task(r, vm.endpoint.timeouts().task, &no_progress)
        .await
        .at(vm.endpoint.name())?;
    Ok(lines)
}
