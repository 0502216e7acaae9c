//! Distributed switches and their port groups (vCenter): list, info, create, delete,
//! host membership with uplinks, switch defaults, and DV port groups with VLAN, trunk
//! or private VLAN, ports, binding and policies.
//!
//! Reconfiguration is read-merge-send with the `configVersion` just read: the spec
//! sent is the current configuration with only the named settings replaced (some
//! vCenter versions, and the simulator, blank what a spec leaves out).

use std::sync::Arc;

use serde::Serialize;

use crate::ops::error::{OpError, OpResult, close_names};
use crate::ops::fleet::{Endpoint, Fleet, Scope, WithEndpoint};
use crate::ops::inventory;
use crate::ops::progress::Progress;
use crate::vim::{MoRef, Node, Request, no_progress};

use super::hosts_apply::{SettingDiff, diff};
use super::policy::{PolicyChange, apply_dv_setting, check_uplinks, read_dv_setting};
use super::select;
use super::snapshot::{self, DvPortgroup, Dvs, Snapshot, Vlan, read_vlan};
use super::spec_tree::{child_mut, leaf, object, put, write};

/// `networking.dvs_support: false` turns distributed switch changes off.
pub fn ensure_enabled(fleet: &Fleet) -> OpResult<()> {
    let on = fleet
        .config
        .config
        .phase4
        .as_ref()
        .and_then(|p| p.networking.as_ref())
        .is_none_or(|n| n.dvs_support);
    if on {
        Ok(())
    } else {
        Err(OpError::refused(
            "distributed switch support is turned off in the config (networking.dvs_support: false)",
            "set phase4.networking.dvs_support: true to manage distributed switches",
        ))
    }
}

/// The endpoint and snapshot holding the switch called `name`.
async fn find_switch(
    fleet: &Fleet,
    scope: &Scope,
    name: &str,
) -> OpResult<(Arc<Endpoint>, Snapshot, Dvs)> {
    let mut known = Vec::new();
    let mut found = Vec::new();
    for (endpoint, snap, _) in select::snapshots(fleet, scope).await? {
        known.extend(snap.switches.iter().map(|s| s.name.clone()));
        if let Some(s) = snap.switch(name).cloned() {
            found.push((endpoint, snap, s));
        }
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(OpError::NotFound {
            kind: "distributed switch",
            name: name.to_string(),
            suggestions: close_names(name, known.iter().map(String::as_str)),
        }),
        _ => Err(OpError::Ambiguous {
            kind: "distributed switch",
            name: name.to_string(),
            candidates: found.iter().map(|(e, _, _)| e.name().to_string()).collect(),
        }),
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct DvsSummary {
    pub endpoint: String,
    #[serde(flatten)]
    pub switch: Dvs,
}

pub async fn list(fleet: &Fleet, scope: &Scope) -> OpResult<Vec<DvsSummary>> {
    let mut out = Vec::new();
    for (endpoint, snap, _) in select::snapshots(fleet, scope).await? {
        out.extend(snap.switches.into_iter().map(|s| DvsSummary {
            endpoint: endpoint.name().to_string(),
            switch: s,
        }));
    }
    Ok(out)
}

#[derive(Debug, Clone, Serialize)]
pub struct DvsInfo {
    pub endpoint: String,
    #[serde(flatten)]
    pub switch: Dvs,
    pub dv_portgroups: Vec<DvPortgroup>,
}

pub async fn info(fleet: &Fleet, scope: &Scope, name: &str) -> OpResult<DvsInfo> {
    let (endpoint, snap, switch) = find_switch(fleet, scope, name).await?;
    Ok(DvsInfo {
        endpoint: endpoint.name().to_string(),
        dv_portgroups: snap
            .dv_portgroups
            .iter()
            .filter(|p| p.switch == switch.name)
            .cloned()
            .collect(),
        switch,
    })
}

/// What a switch change did (or, with --dry-run, would do).
#[derive(Debug, Clone, Serialize)]
pub struct DvsChange {
    pub endpoint: String,
    pub switch: String,
    pub object: String,
    pub dry_run: bool,
    pub changes: Vec<SettingDiff>,
}

async fn run_task(endpoint: &Endpoint, req: Request) -> OpResult<Option<Node>> {
    let client = endpoint.client().await?;
    client
        .run_task(req, endpoint.timeouts().task, &no_progress)
        .await
        .at(endpoint.name())
}

#[derive(Debug, Clone, Default)]
pub struct DvsCreate {
    pub name: String,
    pub uplinks: u32,
    pub mtu: Option<i64>,
    pub datacenter: Option<String>,
}

pub async fn create(
    fleet: &Fleet,
    scope: &Scope,
    req: &DvsCreate,
    dry_run: bool,
    progress: &dyn Progress,
) -> OpResult<DvsChange> {
    ensure_enabled(fleet)?;
    if req.name.trim().is_empty() {
        return Err(OpError::invalid("a distributed switch needs a name"));
    }
    if !(1..=32).contains(&req.uplinks) {
        return Err(OpError::invalid(format!(
            "{} uplinks: a switch has 1-32",
            req.uplinks
        )));
    }
    if let Some(mtu) = req.mtu
        && !(1280..=9000).contains(&mtu)
    {
        return Err(OpError::invalid(format!("MTU {mtu} is outside 1280-9000")));
    }
    let target = fleet.target(scope).await?;
    let endpoint = target.endpoint.clone();
    let snap = snapshot::read(&endpoint).await?;
    if snap.switch(&req.name).is_some() || snap.networks.iter().any(|n| n.name == req.name) {
        return Err(OpError::invalid(format!(
            "the name {} is already taken on {}",
            req.name,
            endpoint.name()
        )));
    }
    let client = endpoint.client().await?;
    let dcs = inventory::objects(&client, "Datacenter", &["networkFolder"])
        .await
        .at(endpoint.name())?;
    let wanted = req
        .datacenter
        .as_ref()
        .or(endpoint.spec.datacenter.as_ref());
    let dc = match wanted {
        Some(name) => dcs
            .iter()
            .find(|d| d.str("name") == Some(name))
            .ok_or_else(|| OpError::NotFound {
                kind: "datacenter",
                name: name.clone(),
                suggestions: close_names(name, inventory::names(&dcs)),
            })?,
        None => match dcs.as_slice() {
            [one] => one,
            [] => {
                return Err(OpError::invalid(format!(
                    "{} has no datacenter",
                    endpoint.name()
                )));
            }
            _ => {
                return Err(OpError::Invalid {
                    message: format!("{} has {} datacenters", endpoint.name(), dcs.len()),
                    hint: Some(format!(
                        "choose one with --datacenter ({})",
                        inventory::names(&dcs).join(", ")
                    )),
                });
            }
        },
    };
    let folder = dc
        .moref("networkFolder")
        .ok_or_else(|| OpError::invalid("the datacenter has no network folder"))?;
    let uplinks: Vec<String> = (1..=req.uplinks).map(|i| format!("uplink{i}")).collect();
    let changes = diff(
        &[],
        &[
            ("uplinks", uplinks.join(",")),
            ("mtu", req.mtu.unwrap_or(1500).to_string()),
        ],
    );
    let out = DvsChange {
        endpoint: endpoint.name().to_string(),
        switch: req.name.clone(),
        object: "switch".into(),
        dry_run,
        changes,
    };
    if dry_run {
        return Ok(out);
    }
    progress.step(&format!("Creating distributed switch {}", req.name));
    let mut r = Request::new("CreateDVS_Task", &folder);
    r.nest("spec", None, |r| {
        r.nest("configSpec", Some("VMwareDVSConfigSpec"), |r| {
            r.text("name", &req.name);
            r.nest(
                "uplinkPortPolicy",
                Some("DVSNameArrayUplinkPortPolicy"),
                |r| {
                    for u in &uplinks {
                        r.text("uplinkPortName", u);
                    }
                },
            );
            r.opt_text("maxMtu", req.mtu);
        });
    });
    run_task(&endpoint, r).await?;
    Ok(out)
}

pub async fn delete(
    fleet: &Fleet,
    scope: &Scope,
    name: &str,
    dry_run: bool,
    progress: &dyn Progress,
) -> OpResult<DvsChange> {
    ensure_enabled(fleet)?;
    let (endpoint, snap, switch) = find_switch(fleet, scope, name).await?;
    let users: Vec<String> = snap
        .networks
        .iter()
        .filter(|n| {
            snap.dv_portgroups
                .iter()
                .any(|p| p.id == n.id && p.switch == switch.name)
        })
        .flat_map(|n| n.vms.iter().map(|v| format!("{v} ({})", n.name)))
        .collect();
    if !users.is_empty() {
        return Err(OpError::Refused {
            message: format!(
                "cannot delete {name}: VMs are connected to its port groups: {}",
                users.join(", ")
            ),
            hint: Some("move their NICs first: `ceso vm nic set VM NIC --network OTHER`".into()),
        });
    }
    let out = DvsChange {
        endpoint: endpoint.name().to_string(),
        switch: name.to_string(),
        object: "switch".into(),
        dry_run,
        changes: diff(
            &[
                (
                    "members",
                    switch
                        .members
                        .iter()
                        .map(|m| m.host.clone())
                        .collect::<Vec<_>>()
                        .join(","),
                ),
                ("portgroups", switch.portgroups.join(",")),
            ],
            &[],
        ),
    };
    if dry_run {
        return Ok(out);
    }
    progress.step(&format!("Deleting distributed switch {name}"));
    run_task(&endpoint, Request::new("Destroy_Task", &switch.moref)).await?;
    Ok(out)
}

// ---------------------------------------------------------------------------
// Membership and switch defaults: ReconfigureDvs_Task.

const DVS_SPEC: &[&str] = &[
    "configVersion",
    "name",
    "numStandalonePorts",
    "maxPorts",
    "uplinkPortPolicy",
    "uplinkPortgroup",
    "defaultPortConfig",
    "host",
    "extensionKey",
    "description",
    "policy",
    "vendorSpecificConfig",
    "contact",
    "switchIpAddress",
    "defaultProxySwitchMaxNumPorts",
    "infrastructureTrafficResourceConfig",
    "netResourcePoolTrafficResourceConfig",
    "networkResourceControlVersion",
    "pvlanConfigSpec",
    "vspanConfigSpec",
    "maxMtu",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Membership {
    Add,
    Remove,
}

/// Hosts joining (with their uplinks) or leaving a switch.
#[derive(Debug, Clone)]
pub struct MembershipChange {
    pub switch: String,
    pub hosts: Vec<String>,
    /// Physical NICs each host gives the switch (add).
    pub uplinks: Vec<String>,
    pub op: Membership,
}

pub async fn hosts(
    fleet: &Fleet,
    scope: &Scope,
    change: &MembershipChange,
    dry_run: bool,
    progress: &dyn Progress,
) -> OpResult<DvsChange> {
    ensure_enabled(fleet)?;
    let (name, hosts, uplinks, op) = (
        change.switch.as_str(),
        change.hosts.as_slice(),
        change.uplinks.as_slice(),
        change.op,
    );
    if hosts.is_empty() {
        return Err(OpError::invalid("name at least one host"));
    }
    let (endpoint, snap, switch) = find_switch(fleet, scope, name).await?;
    let mut specs: Vec<(MoRef, String)> = Vec::new();
    let mut changes = Vec::new();
    for h in hosts {
        let host = snap.host(h).ok_or_else(|| OpError::NotFound {
            kind: "host",
            name: h.clone(),
            suggestions: close_names(h, snap.hosts.iter().map(|x| x.name.as_str())),
        })?;
        let member = switch.members.iter().find(|m| m.host == *h);
        match op {
            Membership::Add => {
                // A member gets new uplinks with `add` again (an edit).
                let operation = if member.is_some() { "edit" } else { "add" };
                if member.is_some() && uplinks.is_empty() {
                    return Err(OpError::invalid(format!(
                        "{h} is already a member of {name}"
                    )));
                }
                let mut used = super::vswitch::used_uplinks(&snap, host);
                used.retain(|(_, by)| *by != switch.name);
                for nic in uplinks {
                    if !host.pnics.contains(nic) {
                        return Err(super::vswitch::missing_pnic(nic, host));
                    }
                    if let Some((_, by)) = used.iter().find(|(u, _)| u == nic) {
                        return Err(OpError::invalid(format!(
                            "{nic} on {h} is already an uplink of {by}"
                        )));
                    }
                }
                if uplinks.len() > switch.uplink_names.len().max(1)
                    && !switch.uplink_names.is_empty()
                {
                    return Err(OpError::invalid(format!(
                        "{name} has {} uplink ports; {} NICs given",
                        switch.uplink_names.len(),
                        uplinks.len()
                    )));
                }
                changes.push(SettingDiff {
                    setting: format!("member {h}"),
                    before: member.map_or("(absent)".into(), |m| show_list(&m.uplinks)),
                    after: show_list(uplinks),
                });
                specs.push((host.id.clone(), operation.into()));
            }
            Membership::Remove => {
                let Some(m) = member else {
                    return Err(OpError::invalid(format!("{h} is not a member of {name}")));
                };
                let users: Vec<&str> = snap
                    .vms
                    .iter()
                    .filter(|v| v.host.as_deref() == Some(h.as_str()))
                    .filter(|v| v.networks.iter().any(|n| switch.portgroups.contains(n)))
                    .map(|v| v.name.as_str())
                    .collect();
                if !users.is_empty() {
                    return Err(OpError::Refused {
                        message: format!(
                            "cannot remove {h} from {name}: its VMs use the switch ({})",
                            users.join(", ")
                        ),
                        hint: Some("move those VMs or their NICs first".into()),
                    });
                }
                changes.push(SettingDiff {
                    setting: format!("member {h}"),
                    before: show_list(&m.uplinks),
                    after: "(absent)".into(),
                });
                specs.push((host.id.clone(), "remove".into()));
            }
        }
    }
    let out = DvsChange {
        endpoint: endpoint.name().to_string(),
        switch: name.to_string(),
        object: "hosts".into(),
        dry_run,
        changes,
    };
    if dry_run {
        return Ok(out);
    }
    progress.step(&format!("Reconfiguring {name}"));
    let mut r = Request::new("ReconfigureDvs_Task", &switch.moref);
    r.nest("spec", Some("VMwareDVSConfigSpec"), |r| {
        r.text("configVersion", &switch.config_version);
        for (host, operation) in &specs {
            r.nest("host", None, |r| {
                r.text("operation", operation).moref("host", host);
                if operation != "remove" {
                    r.nest(
                        "backing",
                        Some("DistributedVirtualSwitchHostMemberPnicBacking"),
                        |r| {
                            for nic in uplinks {
                                r.nest("pnicSpec", None, |r| {
                                    r.text("pnicDevice", nic);
                                });
                            }
                        },
                    );
                }
            });
        }
    });
    run_task(&endpoint, r).await?;
    Ok(out)
}

fn show_list(list: &[String]) -> String {
    if list.is_empty() {
        "(no uplinks)".into()
    } else {
        list.join(",")
    }
}

/// Change the switch's defaults (inherited by its port groups) and MTU.
pub async fn update(
    fleet: &Fleet,
    scope: &Scope,
    name: &str,
    mtu: Option<i64>,
    policy: &PolicyChange,
    dry_run: bool,
    progress: &dyn Progress,
) -> OpResult<DvsChange> {
    ensure_enabled(fleet)?;
    if let Some(m) = mtu
        && !(1280..=9000).contains(&m)
    {
        return Err(OpError::invalid(format!("MTU {m} is outside 1280-9000")));
    }
    let (endpoint, _, switch) = find_switch(fleet, scope, name).await?;
    check_uplinks(policy, &switch.uplink_names, &format!("switch {name}"))?;
    let mut setting = switch
        .config
        .child("defaultPortConfig")
        .cloned()
        .unwrap_or_else(|| object("defaultPortConfig", Some("VMwareDVSPortSetting"), vec![]));
    if setting.xsi_type.is_none() {
        setting.xsi_type = Some("VMwareDVSPortSetting".into());
    }
    let base = (
        switch.policy.active.clone().unwrap_or_default(),
        switch.policy.standby.clone().unwrap_or_default(),
    );
    apply_dv_setting(&mut setting, policy, (&base.0, &base.1))?;
    let mut before = read_dv_setting(switch.config.child("defaultPortConfig")).settings();
    before.push(("mtu", switch.max_mtu.unwrap_or(1500).to_string()));
    let mut after = read_dv_setting(Some(&setting)).settings();
    after.push(("mtu", mtu.or(switch.max_mtu).unwrap_or(1500).to_string()));
    let out = DvsChange {
        endpoint: endpoint.name().to_string(),
        switch: name.to_string(),
        object: "switch".into(),
        dry_run,
        changes: diff(&before, &after),
    };
    if dry_run || out.changes.is_empty() {
        return Ok(out);
    }
    progress.step(&format!("Reconfiguring {name}"));
    let mut spec = object(
        "spec",
        Some("VMwareDVSConfigSpec"),
        vec![leaf("configVersion", &switch.config_version)],
    );
    put(&mut spec, DVS_SPEC, setting);
    if let Some(m) = mtu {
        put(&mut spec, DVS_SPEC, leaf("maxMtu", m));
    }
    let mut r = Request::new("ReconfigureDvs_Task", &switch.moref);
    write(&mut r, "spec", None, &spec);
    run_task(&endpoint, r).await?;
    Ok(out)
}

// ---------------------------------------------------------------------------
// DV port groups.

const PG_SPEC: &[&str] = &[
    "configVersion",
    "name",
    "numPorts",
    "portNameFormat",
    "defaultPortConfig",
    "description",
    "type",
    "backingType",
    "scope",
    "policy",
    "vendorSpecificConfig",
    "autoExpand",
    "vmVnicNetworkResourcePoolKey",
    "transportZoneUuid",
    "transportZoneName",
    "logicalSwitchUuid",
    "segmentId",
];

#[derive(Debug, Clone, Default)]
pub struct DvPortgroupChange {
    pub switch: String,
    pub name: String,
    pub rename: Option<String>,
    pub vlan: Option<Vlan>,
    pub ports: Option<i64>,
    /// static or ephemeral
    pub binding: Option<String>,
    pub policy: PolicyChange,
}

/// `100-200,300`: ranges in 0–4094, ordered, not overlapping.
pub fn parse_trunk(text: &str) -> OpResult<Vec<(i64, i64)>> {
    let bad = |why: String| OpError::Invalid {
        message: format!("--trunk {text}: {why}"),
        hint: Some("give ascending VLAN ranges in 0-4094, e.g. --trunk 100-200,300".into()),
    };
    let mut ranges = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let a: i64 = a
            .trim()
            .parse()
            .map_err(|_| bad(format!("'{part}' is not a VLAN or range")))?;
        let b: i64 = b
            .trim()
            .parse()
            .map_err(|_| bad(format!("'{part}' is not a VLAN or range")))?;
        if !(0..=4094).contains(&a) || !(0..=4094).contains(&b) {
            return Err(bad(format!("{part} is outside 0-4094")));
        }
        if a > b {
            return Err(bad(format!("{part} runs backwards")));
        }
        if let Some(&(_, prev)) = ranges.last()
            && a <= prev
        {
            return Err(bad(format!(
                "{part} overlaps or precedes the range before it"
            )));
        }
        ranges.push((a, b));
    }
    if ranges.is_empty() {
        return Err(bad("no ranges".into()));
    }
    Ok(ranges)
}

/// A VLAN for a DV port group: an ID 0–4094, a trunk, or a private VLAN.
pub fn dv_vlan(id: Option<i64>, trunk: Option<&str>, pvlan: Option<i64>) -> OpResult<Option<Vlan>> {
    match (id, trunk, pvlan) {
        (None, None, None) => Ok(None),
        (Some(id), None, None) => {
            if !(0..=4094).contains(&id) {
                return Err(OpError::Invalid {
                    message: format!("VLAN ID {id} is outside 0-4094"),
                    hint: Some("on a distributed port group, all VLANs is --trunk 0-4094".into()),
                });
            }
            Ok(Some(Vlan::Id { id }))
        }
        (None, Some(t), None) => Ok(Some(Vlan::Trunk {
            ranges: parse_trunk(t)?,
        })),
        (None, None, Some(p)) => {
            if !(1..=4094).contains(&p) {
                return Err(OpError::invalid(format!(
                    "private VLAN {p} is outside 1-4094"
                )));
            }
            Ok(Some(Vlan::Pvlan { id: p }))
        }
        _ => Err(OpError::invalid("give one of --vlan-id, --trunk, --pvlan")),
    }
}

fn vlan_node(vlan: &Vlan) -> Node {
    match vlan {
        Vlan::Id { id } => object(
            "vlan",
            Some("VmwareDistributedVirtualSwitchVlanIdSpec"),
            vec![leaf("inherited", false), leaf("vlanId", id)],
        ),
        Vlan::Trunk { ranges } => {
            let mut c = vec![leaf("inherited", false)];
            c.extend(
                ranges
                    .iter()
                    .map(|(a, b)| object("vlanId", None, vec![leaf("start", a), leaf("end", b)])),
            );
            object(
                "vlan",
                Some("VmwareDistributedVirtualSwitchTrunkVlanSpec"),
                c,
            )
        }
        Vlan::Pvlan { id } => object(
            "vlan",
            Some("VmwareDistributedVirtualSwitchPvlanSpec"),
            vec![leaf("inherited", false), leaf("pvlanId", id)],
        ),
    }
}

fn binding_api(b: &str) -> OpResult<&'static str> {
    match b {
        "static" | "earlyBinding" => Ok("earlyBinding"),
        "ephemeral" => Ok("ephemeral"),
        other => Err(OpError::invalid(format!(
            "--binding: '{other}' is not static or ephemeral"
        ))),
    }
}

/// The settings of a DV port group config or spec, for diffs.
pub fn pg_settings(config: &Node) -> Vec<(&'static str, String)> {
    let setting = config.child("defaultPortConfig");
    let mut out = vec![
        ("vlan", read_vlan(setting).map_or("0".into(), |v| v.show())),
        (
            "ports",
            config.text_of("numPorts").unwrap_or("0").to_string(),
        ),
        (
            "binding",
            match config.text_of("type").unwrap_or("earlyBinding") {
                "earlyBinding" | "" => "static".to_string(),
                other => other.to_string(),
            },
        ),
    ];
    let mut policy = read_dv_setting(setting).settings();
    if !policy.iter().any(|(k, _)| *k == "shaping-in") {
        policy.insert(4, ("shaping-in", "inherit".into()));
    }
    out.extend(policy);
    out
}

fn check_pvlan(switch: &Dvs, vlan: &Option<Vlan>) -> OpResult<()> {
    let Some(Vlan::Pvlan { id }) = vlan else {
        return Ok(());
    };
    let known: Vec<i64> = switch
        .config
        .children_named("pvlanConfig")
        .filter_map(|p| p.i64_at("secondaryVlanId"))
        .collect();
    if !known.is_empty() && !known.contains(id) {
        return Err(OpError::invalid(format!(
            "private VLAN {id} is not configured on {} (it has {})",
            switch.name,
            known
                .iter()
                .map(|k| k.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(())
}

fn patch_pg(
    spec: &mut Node,
    change: &DvPortgroupChange,
    switch: &Dvs,
    current: Option<&DvPortgroup>,
) -> OpResult<()> {
    check_uplinks(
        &change.policy,
        &switch.uplink_names,
        &format!("switch {}", switch.name),
    )?;
    check_pvlan(switch, &change.vlan)?;
    if let Some(n) = &change.rename {
        put(spec, PG_SPEC, leaf("name", n));
    }
    if let Some(p) = change.ports {
        if !(0..=8192).contains(&p) {
            return Err(OpError::invalid(format!("--ports {p} is outside 0-8192")));
        }
        put(spec, PG_SPEC, leaf("numPorts", p));
    }
    if let Some(b) = &change.binding {
        put(spec, PG_SPEC, leaf("type", binding_api(b)?));
    }
    let setting = child_mut(
        spec,
        PG_SPEC,
        "defaultPortConfig",
        Some("VMwareDVSPortSetting"),
    );
    if setting.xsi_type.is_none() {
        setting.xsi_type = Some("VMwareDVSPortSetting".into());
    }
    if let Some(v) = &change.vlan {
        put(setting, super::policy::DV_SETTING, vlan_node(v));
    }
    let base_policy = current.map(|p| &p.policy).unwrap_or(&switch.policy);
    let base = (
        base_policy
            .active
            .clone()
            .or(switch.policy.active.clone())
            .unwrap_or_else(|| switch.uplink_names.clone()),
        base_policy.standby.clone().unwrap_or_default(),
    );
    apply_dv_setting(setting, &change.policy, (&base.0, &base.1))
}

pub async fn portgroups(fleet: &Fleet, scope: &Scope, switch: &str) -> OpResult<Vec<DvPortgroup>> {
    Ok(info(fleet, scope, switch).await?.dv_portgroups)
}

pub async fn portgroup_create(
    fleet: &Fleet,
    scope: &Scope,
    change: &DvPortgroupChange,
    dry_run: bool,
    progress: &dyn Progress,
) -> OpResult<DvsChange> {
    ensure_enabled(fleet)?;
    super::portgroup::check_name(&change.name)?;
    let (endpoint, snap, switch) = find_switch(fleet, scope, &change.switch).await?;
    if snap.networks.iter().any(|n| n.name == change.name) {
        return Err(OpError::invalid(format!(
            "a network called {} already exists on {}",
            change.name,
            endpoint.name()
        )));
    }
    let mut spec = object(
        "spec",
        None,
        vec![
            leaf("name", &change.name),
            leaf("numPorts", change.ports.unwrap_or(8)),
            object("defaultPortConfig", Some("VMwareDVSPortSetting"), vec![]),
            leaf(
                "type",
                binding_api(change.binding.as_deref().unwrap_or("static"))?,
            ),
        ],
    );
    let create = DvPortgroupChange {
        ports: None,
        binding: None,
        rename: None,
        ..change.clone()
    };
    patch_pg(&mut spec, &create, &switch, None)?;
    let out = DvsChange {
        endpoint: endpoint.name().to_string(),
        switch: switch.name.clone(),
        object: change.name.clone(),
        dry_run,
        changes: diff(&[], &pg_settings(&spec)),
    };
    if dry_run {
        return Ok(out);
    }
    progress.step(&format!(
        "Creating port group {} on {}",
        change.name, switch.name
    ));
    let mut r = Request::new("AddDVPortgroup_Task", &switch.moref);
    write(&mut r, "spec", None, &spec);
    run_task(&endpoint, r).await?;
    Ok(out)
}

fn find_pg<'a>(snap: &'a Snapshot, switch: &Dvs, name: &str) -> OpResult<&'a DvPortgroup> {
    let on_switch: Vec<&DvPortgroup> = snap
        .dv_portgroups
        .iter()
        .filter(|p| p.switch == switch.name)
        .collect();
    on_switch
        .iter()
        .find(|p| p.name == name)
        .copied()
        .ok_or_else(|| OpError::NotFound {
            kind: "DV port group",
            name: name.to_string(),
            suggestions: close_names(name, on_switch.iter().map(|p| p.name.as_str())),
        })
}

/// The spec that reconfigures a port group to exactly its current configuration.
pub fn spec_from_config(config: &Node) -> Node {
    let children = PG_SPEC
        .iter()
        .flat_map(|f| config.children_named(f).cloned())
        .collect();
    object("spec", None, children)
}

pub async fn portgroup_update(
    fleet: &Fleet,
    scope: &Scope,
    change: &DvPortgroupChange,
    dry_run: bool,
    progress: &dyn Progress,
) -> OpResult<DvsChange> {
    ensure_enabled(fleet)?;
    if let Some(n) = &change.rename {
        super::portgroup::check_name(n)?;
    }
    let (endpoint, snap, switch) = find_switch(fleet, scope, &change.switch).await?;
    let pg = find_pg(&snap, &switch, &change.name)?;
    if let Some(n) = &change.rename
        && n != &pg.name
        && snap.networks.iter().any(|x| x.name == *n)
    {
        return Err(OpError::invalid(format!(
            "a network called {n} already exists"
        )));
    }
    let mut spec = spec_from_config(&pg.config);
    put(
        &mut spec,
        PG_SPEC,
        leaf("configVersion", &pg.config_version),
    );
    if spec.child("name").is_none() {
        put(&mut spec, PG_SPEC, leaf("name", &pg.name));
    }
    patch_pg(&mut spec, change, &switch, Some(pg))?;
    let mut before = pg_settings(&pg.config);
    let mut after = pg_settings(&spec);
    before.insert(0, ("name", pg.name.clone()));
    after.insert(
        0,
        ("name", spec.text_of("name").unwrap_or_default().to_string()),
    );
    let out = DvsChange {
        endpoint: endpoint.name().to_string(),
        switch: switch.name.clone(),
        object: pg.name.clone(),
        dry_run,
        changes: diff(&before, &after),
    };
    if dry_run || out.changes.is_empty() {
        return Ok(out);
    }
    progress.step(&format!(
        "Reconfiguring port group {} on {}",
        pg.name, switch.name
    ));
    let mut r = Request::new("ReconfigureDVPortgroup_Task", &pg.moref);
    write(&mut r, "spec", None, &spec);
    run_task(&endpoint, r).await?;
    Ok(out)
}

pub async fn portgroup_delete(
    fleet: &Fleet,
    scope: &Scope,
    switch_name: &str,
    name: &str,
    dry_run: bool,
    progress: &dyn Progress,
) -> OpResult<DvsChange> {
    ensure_enabled(fleet)?;
    let (endpoint, snap, switch) = find_switch(fleet, scope, switch_name).await?;
    let pg = find_pg(&snap, &switch, name)?;
    if pg.uplink {
        return Err(OpError::refused(
            format!("{name} is the uplink port group of {switch_name}"),
            "it goes away with the switch (`ceso dvs delete`)",
        ));
    }
    let vms: Vec<String> = snap
        .networks
        .iter()
        .filter(|n| n.id == pg.id)
        .flat_map(|n| n.vms.clone())
        .collect();
    if !vms.is_empty() {
        return Err(OpError::Refused {
            message: format!(
                "cannot delete {name}: VMs are connected to it ({})",
                vms.join(", ")
            ),
            hint: Some("move their NICs first: `ceso vm nic set VM NIC --network OTHER`".into()),
        });
    }
    let out = DvsChange {
        endpoint: endpoint.name().to_string(),
        switch: switch.name.clone(),
        object: name.to_string(),
        dry_run,
        changes: diff(&pg_settings(&pg.config), &[]),
    };
    if dry_run {
        return Ok(out);
    }
    progress.step(&format!("Deleting port group {name} of {switch_name}"));
    run_task(&endpoint, Request::new("Destroy_Task", &pg.moref)).await?;
    Ok(out)
}
