//! Standard vSwitches per host: list, create (uplinks, MTU, default policy), delete.
//! Changes over several hosts are all-or-nothing, like port groups.

use serde::Serialize;

use crate::ops::error::{OpError, OpResult};
use crate::ops::fleet::Fleet;
use crate::ops::progress::Progress;
use crate::vim::Node;

use super::hosts_apply::{self, HostPlan, NetCall, Report, diff};
use super::policy::{PolicyChange, PolicyView, apply_host_policy, check_uplinks, read_host_policy};
use super::select::{self, HostSelector};
use super::snapshot::{HostNet, Snapshot};
use super::spec_tree::{child_mut, leaf, object};

#[derive(Debug, Clone, Serialize)]
pub struct VswitchRow {
    pub endpoint: String,
    pub host: String,
    pub name: String,
    pub mtu: i64,
    pub ports: i64,
    pub uplinks: Vec<String>,
    pub portgroups: Vec<String>,
    pub policy: PolicyView,
}

pub async fn list(fleet: &Fleet, sel: &HostSelector) -> OpResult<Vec<VswitchRow>> {
    let mut rows = Vec::new();
    for s in select::select(fleet, sel, true).await? {
        for h in s
            .snapshot
            .hosts
            .iter()
            .filter(|h| s.hosts.contains(&h.name))
        {
            for v in &h.vswitches {
                rows.push(VswitchRow {
                    endpoint: s.endpoint.name().to_string(),
                    host: h.name.clone(),
                    name: v.name.clone(),
                    mtu: v.mtu,
                    ports: v.ports,
                    uplinks: v.uplinks.clone(),
                    portgroups: v.portgroups.clone(),
                    policy: v.policy.clone(),
                });
            }
        }
    }
    Ok(rows)
}

#[derive(Debug, Clone, Default)]
pub struct VswitchCreate {
    pub name: String,
    pub uplinks: Vec<String>,
    pub mtu: Option<i64>,
    pub ports: Option<i64>,
    pub policy: PolicyChange,
}

/// Physical NICs of a host that a vSwitch or a distributed switch already uses.
pub fn used_uplinks(snapshot: &Snapshot, host: &HostNet) -> Vec<(String, String)> {
    let mut used: Vec<(String, String)> = host
        .vswitches
        .iter()
        .flat_map(|v| v.uplinks.iter().map(|u| (u.clone(), v.name.clone())))
        .collect();
    for s in &snapshot.switches {
        for m in s.members.iter().filter(|m| m.host == host.name) {
            used.extend(m.uplinks.iter().map(|u| (u.clone(), s.name.clone())));
        }
    }
    used
}

/// A physical NIC the host does not have: "not found" (exit 4), the host's NICs in the hint.
pub fn missing_pnic(nic: &str, host: &HostNet) -> OpError {
    OpError::NotFound {
        kind: "physical NIC",
        name: nic.to_string(),
        suggestions: Vec::new(),
    }
    .context(
        format!("physical NIC {nic} does not exist on {}", host.name),
        Some(if host.pnics.is_empty() {
            format!("{} has no physical NICs", host.name)
        } else {
            format!(
                "the physical NICs of {} are {}",
                host.name,
                host.pnics.join(", ")
            )
        }),
    )
}

/// The uplinks exist on the host and are free.
pub fn check_free_pnics(snapshot: &Snapshot, host: &HostNet, nics: &[String]) -> OpResult<()> {
    let used = used_uplinks(snapshot, host);
    for nic in nics {
        if !host.pnics.contains(nic) {
            return Err(missing_pnic(nic, host));
        }
        if let Some((_, by)) = used.iter().find(|(u, _)| u == nic) {
            return Err(OpError::Invalid {
                message: format!("{nic} on {} is already an uplink of {by}", host.name),
                hint: Some("a physical NIC serves one switch; free it first".into()),
            });
        }
    }
    Ok(())
}

const SPEC: &[&str] = &["numPorts", "bridge", "policy", "mtu"];

fn spec_settings(spec: &Node) -> Vec<(&'static str, String)> {
    let uplinks: Vec<String> = spec
        .child("bridge")
        .map(|b| {
            b.children_named("nicDevice")
                .map(|n| n.text.clone())
                .collect()
        })
        .unwrap_or_default();
    let mut out = vec![
        (
            "uplinks",
            if uplinks.is_empty() {
                "(none)".into()
            } else {
                uplinks.join(",")
            },
        ),
        ("mtu", spec.text_of("mtu").unwrap_or("1500").to_string()),
        (
            "ports",
            spec.text_of("numPorts").unwrap_or("128").to_string(),
        ),
    ];
    out.extend(read_host_policy(spec.child("policy")).settings());
    out
}

fn create_spec(req: &VswitchCreate) -> OpResult<Node> {
    let mut children = vec![leaf("numPorts", req.ports.unwrap_or(128))];
    if !req.uplinks.is_empty() {
        let mut bridge: Vec<Node> = req.uplinks.iter().map(|u| leaf("nicDevice", u)).collect();
        bridge.push(object("beacon", None, vec![leaf("interval", 1)]));
        children.push(object(
            "bridge",
            Some("HostVirtualSwitchBondBridge"),
            bridge,
        ));
    }
    // ESXi's defaults for a new vSwitch, so port groups have something to inherit.
    let order = req
        .uplinks
        .iter()
        .map(|u| leaf("activeNic", u))
        .collect::<Vec<_>>();
    children.push(object(
        "policy",
        None,
        vec![
            object(
                "security",
                None,
                vec![
                    leaf("allowPromiscuous", false),
                    leaf("macChanges", false),
                    leaf("forgedTransmits", false),
                ],
            ),
            object(
                "nicTeaming",
                None,
                vec![
                    leaf("policy", "loadbalance_srcid"),
                    leaf("reversePolicy", true),
                    leaf("notifySwitches", true),
                    leaf("rollingOrder", false),
                    object("failureCriteria", None, vec![leaf("checkBeacon", false)]),
                    object("nicOrder", None, order),
                ],
            ),
            object("shapingPolicy", None, vec![leaf("enabled", false)]),
        ],
    ));
    children.push(leaf("mtu", req.mtu.unwrap_or(1500)));
    let mut spec = object("spec", None, children);
    let policy = child_mut(&mut spec, SPEC, "policy", None);
    apply_host_policy(policy, &req.policy, (&req.uplinks, &[]))?;
    Ok(spec)
}

pub async fn create(
    fleet: &Fleet,
    sel: &HostSelector,
    req: &VswitchCreate,
    dry_run: bool,
    progress: &dyn Progress,
) -> OpResult<Report> {
    if req.name.is_empty() || req.name.len() > 32 {
        return Err(OpError::invalid("a vSwitch name must have 1-32 characters"));
    }
    if let Some(mtu) = req.mtu
        && !(1280..=9000).contains(&mtu)
    {
        return Err(OpError::invalid(format!("MTU {mtu} is outside 1280-9000")));
    }
    check_uplinks(
        &req.policy,
        &req.uplinks,
        &format!("new vSwitch {}", req.name),
    )?;
    let spec = create_spec(req)?;
    let mut plans = Vec::new();
    let mut errors = Vec::new();
    for s in select::select(fleet, sel, false).await? {
        for name in &s.hosts {
            let Some(host) = s.snapshot.host(name) else {
                continue;
            };
            let check = (|| {
                if host.vswitch(&req.name).is_some() {
                    return Err(OpError::invalid(format!(
                        "vSwitch {} already exists on {}",
                        req.name, host.name
                    )));
                }
                check_free_pnics(&s.snapshot, host, &req.uplinks)?;
                host.network_system.clone().ok_or_else(|| {
                    OpError::invalid(format!("host {} has no network system", host.name))
                })
            })();
            match check {
                Ok(system) => plans.push(HostPlan {
                    endpoint: s.endpoint.clone(),
                    host: host.name.clone(),
                    system,
                    calls: vec![NetCall::AddVswitch(req.name.clone(), spec.clone())],
                    undo: vec![NetCall::RemoveVswitch(req.name.clone())],
                    diff: diff(&[], &spec_settings(&spec)),
                }),
                Err(e) => errors.push((host.name.clone(), e)),
            }
        }
    }
    if let Some(e) = crate::ops::batch::combine(errors, "nothing was changed") {
        return Err(e);
    }
    let action = format!("Creating vSwitch {}", req.name);
    hosts_apply::run(&action, plans, dry_run, progress)
        .await
        .into_result()
}

pub async fn delete(
    fleet: &Fleet,
    sel: &HostSelector,
    name: &str,
    dry_run: bool,
    progress: &dyn Progress,
) -> OpResult<Report> {
    let mut plans = Vec::new();
    let mut errors = Vec::new();
    for s in select::select(fleet, sel, false).await? {
        for hname in &s.hosts {
            let Some(host) = s.snapshot.host(hname) else {
                continue;
            };
            let Some(vs) = host.vswitch(name) else {
                continue;
            };
            let pgs: Vec<_> = host
                .portgroups
                .iter()
                .filter(|p| p.vswitch == name)
                .collect();
            let busy: Vec<String> = s
                .snapshot
                .vms
                .iter()
                .filter(|v| v.host.as_deref() == Some(hname.as_str()))
                .filter(|v| v.networks.iter().any(|n| pgs.iter().any(|p| p.name == *n)))
                .map(|v| v.name.clone())
                .collect();
            if !busy.is_empty() {
                errors.push((
                    hname.clone(),
                    OpError::refused(
                        format!(
                            "{name} on {hname} carries port groups VMs use ({})",
                            busy.join(", ")
                        ),
                        "move the VMs' NICs to another network first",
                    ),
                ));
                continue;
            }
            let Some(system) = host.network_system.clone() else {
                continue;
            };
            // Port groups go first and come back after the switch.
            let mut calls: Vec<NetCall> = pgs
                .iter()
                .map(|p| NetCall::RemovePortgroup(p.name.clone()))
                .collect();
            let mut undo: Vec<NetCall> = pgs
                .iter()
                .map(|p| NetCall::AddPortgroup(p.spec.clone()))
                .collect();
            calls.push(NetCall::RemoveVswitch(name.to_string()));
            undo.push(NetCall::AddVswitch(name.to_string(), vs.spec.clone()));
            let mut before = spec_settings(&vs.spec);
            let pg_list = pgs
                .iter()
                .map(|p| p.name.clone())
                .collect::<Vec<_>>()
                .join(",");
            before.push(("portgroups", pg_list));
            plans.push(HostPlan {
                endpoint: s.endpoint.clone(),
                host: hname.clone(),
                system,
                calls,
                undo,
                diff: diff(&before, &[]),
            });
        }
    }
    if let Some(e) = crate::ops::batch::combine(errors, "nothing was changed") {
        return Err(e);
    }
    if plans.is_empty() {
        return Err(OpError::NotFound {
            kind: "vswitch",
            name: name.to_string(),
            suggestions: vec![],
        });
    }
    let action = format!("Deleting vSwitch {name}");
    hosts_apply::run(&action, plans, dry_run, progress)
        .await
        .into_result()
}
