//! Standard port groups on one host or many: create, update, delete. Everything is
//! checked on every host before the first change; the change itself is all-or-nothing
//! (hosts_apply).

use crate::ops::error::{OpError, OpResult};
use crate::ops::fleet::Fleet;
use crate::ops::progress::Progress;
use crate::vim::Node;

use super::hosts_apply::{self, HostPlan, NetCall, Report, diff};
use super::policy::{PolicyChange, apply_host_policy, check_uplinks, read_host_policy};
use super::select::{self, HostSelector};
use super::snapshot::HostNet;
use super::spec_tree::{child_mut, leaf, object, put};

const SPEC: &[&str] = &["name", "vlanId", "vswitchName", "policy"];
/// ESXi limits port group names to 59 characters.
const MAX_NAME: usize = 59;

#[derive(Debug, Clone, Default)]
pub struct PortgroupChange {
    pub name: String,
    pub vlan: Option<i64>,
    pub vswitch: Option<String>,
    /// update only: the new name.
    pub rename: Option<String>,
    pub policy: PolicyChange,
}

/// VLAN 0–4095 (4095: all VLANs, a trunk to the guest, on a standard switch).
pub fn check_vlan(fleet: &Fleet, vlan: i64) -> OpResult<()> {
    if !(0..=4095).contains(&vlan) {
        return Err(OpError::Invalid {
            message: format!("VLAN ID {vlan} is outside 0-4095"),
            hint: Some("0 is untagged, 1-4094 a VLAN, 4095 all VLANs (guest tagging)".into()),
        });
    }
    if vlan != 0 && !vlan_aware(fleet) {
        return Err(OpError::refused(
            format!("VLAN {vlan} asked for, but VLAN tagging is turned off in the config"),
            "set phase4.networking.vlan_aware: true to tag port groups",
        ));
    }
    Ok(())
}

pub fn vlan_aware(fleet: &Fleet) -> bool {
    fleet
        .config
        .config
        .phase4
        .as_ref()
        .and_then(|p| p.networking.as_ref())
        .is_none_or(|n| n.vlan_aware)
}

pub fn check_name(name: &str) -> OpResult<()> {
    if name.trim().is_empty() {
        return Err(OpError::invalid("a port group needs a name"));
    }
    if name.chars().count() > MAX_NAME {
        return Err(OpError::invalid(format!(
            "port group name '{name}' is longer than {MAX_NAME} characters (the ESXi limit)"
        )));
    }
    Ok(())
}

/// The settings of a port group spec, as shown in diffs and checks.
pub fn settings(spec: &Node) -> Vec<(&'static str, String)> {
    let mut out = vec![
        (
            "vswitch",
            spec.text_of("vswitchName").unwrap_or_default().to_string(),
        ),
        ("vlan", spec.text_of("vlanId").unwrap_or("0").to_string()),
    ];
    out.extend(read_host_policy(spec.child("policy")).settings());
    out
}

/// A vSwitch of `host`, or "not found" naming the host and its vSwitches.
fn find_vswitch<'a>(host: &'a HostNet, name: &str) -> OpResult<&'a super::snapshot::Vswitch> {
    host.vswitch(name).ok_or_else(|| {
        let names: Vec<&str> = host.vswitches.iter().map(|v| v.name.as_str()).collect();
        OpError::NotFound {
            kind: "vswitch",
            name: name.to_string(),
            suggestions: crate::ops::error::close_names(name, names),
        }
    })
}

fn new_spec(change: &PortgroupChange, host: &HostNet, vswitch: &str) -> OpResult<Node> {
    let vs = find_vswitch(host, vswitch)?;
    check_uplinks(
        &change.policy,
        &vs.uplinks,
        &format!("{vswitch} on {}", host.name),
    )?;
    let mut spec = object(
        "portgrp",
        None,
        vec![
            leaf("name", &change.name),
            leaf("vlanId", change.vlan.unwrap_or(0)),
            leaf("vswitchName", vswitch),
            object("policy", None, vec![]),
        ],
    );
    let policy = child_mut(&mut spec, SPEC, "policy", None);
    let active = vs
        .policy
        .active
        .clone()
        .unwrap_or_else(|| vs.uplinks.clone());
    let standby = vs.policy.standby.clone().unwrap_or_default();
    apply_host_policy(policy, &change.policy, (&active, &standby))?;
    Ok(spec)
}

fn updated_spec(change: &PortgroupChange, host: &HostNet, current: &Node) -> OpResult<Node> {
    let mut spec = current.clone();
    if let Some(v) = change.vlan {
        put(&mut spec, SPEC, leaf("vlanId", v));
    }
    if let Some(name) = &change.rename {
        if host.portgroup(name).is_some() {
            return Err(OpError::invalid(format!(
                "port group {name} already exists on {}",
                host.name
            )));
        }
        put(&mut spec, SPEC, leaf("name", name));
    }
    if let Some(vs) = &change.vswitch {
        put(&mut spec, SPEC, leaf("vswitchName", vs));
    }
    let vswitch = spec.text_of("vswitchName").unwrap_or_default().to_string();
    let vs = find_vswitch(host, &vswitch)?;
    check_uplinks(
        &change.policy,
        &vs.uplinks,
        &format!("{vswitch} on {}", host.name),
    )?;
    let pg = host.portgroup(&change.name);
    let (active, standby) = match pg {
        Some(p) => (
            p.effective.active.clone().unwrap_or_default(),
            p.effective.standby.clone().unwrap_or_default(),
        ),
        None => (vs.uplinks.clone(), vec![]),
    };
    let policy = child_mut(&mut spec, SPEC, "policy", None);
    apply_host_policy(policy, &change.policy, (&active, &standby))?;
    Ok(spec)
}

fn system(host: &HostNet) -> OpResult<crate::vim::MoRef> {
    host.network_system
        .clone()
        .ok_or_else(|| OpError::invalid(format!("host {} has no network system", host.name)))
}

/// Plans for every selected host; fails before any change when one host cannot take it.
async fn plans(
    fleet: &Fleet,
    sel: &HostSelector,
    plan_host: impl Fn(
        &HostNet,
        &super::snapshot::Snapshot,
    )
        -> OpResult<Option<(Vec<NetCall>, Vec<NetCall>, Vec<hosts_apply::SettingDiff>)>>,
) -> OpResult<Vec<HostPlan>> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for s in select::select(fleet, sel, false).await? {
        for name in &s.hosts {
            let Some(host) = s.snapshot.host(name) else {
                errors.push((
                    name.clone(),
                    OpError::NotFound {
                        kind: "host",
                        name: format!("{name} on {}", s.endpoint.name()),
                        suggestions: vec![],
                    },
                ));
                continue;
            };
            match plan_host(host, &s.snapshot) {
                Ok(Some((calls, undo, diff))) => out.push(HostPlan {
                    endpoint: s.endpoint.clone(),
                    host: host.name.clone(),
                    system: system(host)?,
                    calls,
                    undo,
                    diff,
                }),
                Ok(None) => out.push(HostPlan {
                    endpoint: s.endpoint.clone(),
                    host: host.name.clone(),
                    system: system(host)?,
                    calls: vec![],
                    undo: vec![],
                    diff: vec![],
                }),
                Err(e) => errors.push((host.name.clone(), e)),
            }
        }
    }
    // Each host's error keeps its kind (refused, not found…): the gravest decides.
    match crate::ops::batch::combine(errors, "nothing was changed") {
        None => Ok(out),
        Some(e) => Err(e),
    }
}

pub async fn create(
    fleet: &Fleet,
    sel: &HostSelector,
    change: &PortgroupChange,
    dry_run: bool,
    progress: &dyn Progress,
) -> OpResult<Report> {
    check_name(&change.name)?;
    check_vlan(fleet, change.vlan.unwrap_or(0))?;
    let vswitch = change.vswitch.clone().unwrap_or_else(|| "vSwitch0".into());
    let plans = plans(fleet, sel, |host, _| {
        if host.portgroup(&change.name).is_some() {
            return Err(OpError::invalid(format!(
                "port group {} already exists on {}",
                change.name, host.name
            )));
        }
        let spec = new_spec(change, host, &vswitch)?;
        let d = diff(&[], &settings(&spec));
        Ok(Some((
            vec![NetCall::AddPortgroup(spec)],
            vec![NetCall::RemovePortgroup(change.name.clone())],
            d,
        )))
    })
    .await?;
    let action = format!("Creating port group {}", change.name);
    hosts_apply::run(&action, plans, dry_run, progress)
        .await
        .into_result()
}

pub async fn update(
    fleet: &Fleet,
    sel: &HostSelector,
    change: &PortgroupChange,
    dry_run: bool,
    progress: &dyn Progress,
) -> OpResult<Report> {
    if let Some(v) = change.vlan {
        check_vlan(fleet, v)?;
    }
    if let Some(n) = &change.rename {
        check_name(n)?;
    }
    let plans = plans(fleet, sel, |host, snapshot| {
        let pg = host
            .portgroup(&change.name)
            .ok_or_else(|| OpError::NotFound {
                kind: "port group",
                name: change.name.clone(),
                suggestions: crate::ops::error::close_names(
                    &change.name,
                    host.portgroups.iter().map(|p| p.name.as_str()),
                ),
            })?;
        if change.rename.is_some() {
            refuse_in_use(snapshot, host, &change.name, "rename")?;
        }
        let spec = updated_spec(change, host, &pg.spec)?;
        let d = diff(&settings(&pg.spec), &settings(&spec));
        let renamed = change.rename.as_ref().is_some_and(|n| *n != change.name);
        if d.is_empty() && !renamed {
            return Ok(None);
        }
        let now = spec.text_of("name").unwrap_or_default().to_string();
        Ok(Some((
            vec![NetCall::UpdatePortgroup(change.name.clone(), spec)],
            vec![NetCall::UpdatePortgroup(now, pg.spec.clone())],
            d,
        )))
    })
    .await?;
    let action = format!("Updating port group {}", change.name);
    hosts_apply::run(&action, plans, dry_run, progress)
        .await
        .into_result()
}

fn refuse_in_use(
    snapshot: &super::snapshot::Snapshot,
    host: &HostNet,
    name: &str,
    verb: &str,
) -> OpResult<()> {
    let users: Vec<&str> = snapshot
        .vms
        .iter()
        .filter(|v| {
            v.host.as_deref() == Some(host.name.as_str()) && v.networks.iter().any(|n| n == name)
        })
        .map(|v| v.name.as_str())
        .collect();
    if users.is_empty() {
        return Ok(());
    }
    Err(OpError::Refused {
        message: format!(
            "cannot {verb} port group {name} on {}: VMs are connected to it ({})",
            host.name,
            users.join(", ")
        ),
        hint: Some("move their NICs first: `ceso vm nic set VM NIC --network OTHER`".into()),
    })
}

pub async fn delete(
    fleet: &Fleet,
    sel: &HostSelector,
    name: &str,
    dry_run: bool,
    progress: &dyn Progress,
) -> OpResult<Report> {
    let plans = plans(fleet, sel, |host, snapshot| {
        let Some(pg) = host.portgroup(name) else {
            return Ok(None);
        };
        refuse_in_use(snapshot, host, name, "delete")?;
        Ok(Some((
            vec![NetCall::RemovePortgroup(name.to_string())],
            vec![NetCall::AddPortgroup(pg.spec.clone())],
            diff(&settings(&pg.spec), &[]),
        )))
    })
    .await?;
    if plans.iter().all(|p| p.calls.is_empty()) {
        return Err(OpError::NotFound {
            kind: "port group",
            name: name.to_string(),
            suggestions: vec![],
        });
    }
    let action = format!("Deleting port group {name}");
    hosts_apply::run(&action, plans, dry_run, progress)
        .await
        .into_result()
}
