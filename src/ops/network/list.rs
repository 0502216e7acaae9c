//! `network list`: every network in scope — standard port groups per host, distributed
//! port groups, opaque networks — with the VMs attached.

use serde::Serialize;

use crate::ops::error::OpResult;
use crate::ops::fleet::{Fleet, Scope};

use super::policy::PolicyView;
use super::select;
use super::snapshot::Snapshot;

#[derive(Debug, Clone, Serialize)]
pub struct NetworkRow {
    pub endpoint: String,
    pub name: String,
    /// standard, distributed or opaque
    pub kind: &'static str,
    /// The host of a standard port group.
    pub host: Option<String>,
    /// vSwitch or distributed switch.
    pub switch: Option<String>,
    pub vlan: String,
    pub policy: Option<PolicyView>,
    pub binding: Option<String>,
    pub ports: Option<i64>,
    pub vms: Vec<String>,
}

/// The rows of one snapshot; `host` narrows standard port groups to one host.
pub fn rows(snapshot: &Snapshot, host: Option<&str>) -> Vec<NetworkRow> {
    let mut out = Vec::new();
    for h in snapshot
        .hosts
        .iter()
        .filter(|h| host.is_none_or(|n| n == h.name))
    {
        for pg in &h.portgroups {
            out.push(NetworkRow {
                endpoint: snapshot.endpoint.clone(),
                name: pg.name.clone(),
                kind: "standard",
                host: Some(h.name.clone()),
                switch: Some(pg.vswitch.clone()),
                vlan: match pg.vlan {
                    4095 => "4095 (all)".into(),
                    v => v.to_string(),
                },
                policy: Some(pg.effective.clone()),
                binding: None,
                ports: None,
                vms: snapshot
                    .vms
                    .iter()
                    .filter(|v| v.host.as_deref() == Some(&h.name) && v.networks.contains(&pg.name))
                    .map(|v| v.name.clone())
                    .collect(),
            });
        }
    }
    let hosts_in_scope =
        |n: &super::snapshot::NetworkEntity| host.is_none_or(|h| n.hosts.iter().any(|x| x == h));
    for pg in snapshot.dv_portgroups.iter().filter(|p| !p.uplink) {
        let entity = snapshot.networks.iter().find(|n| n.id == pg.id);
        if entity.is_some_and(|e| !hosts_in_scope(e)) {
            continue;
        }
        out.push(NetworkRow {
            endpoint: snapshot.endpoint.clone(),
            name: pg.name.clone(),
            kind: "distributed",
            host: None,
            switch: Some(pg.switch.clone()),
            vlan: pg.vlan.as_ref().map_or("0".into(), |v| v.show()),
            policy: Some(pg.policy.clone()),
            binding: Some(pg.binding.clone()),
            ports: Some(pg.ports),
            vms: entity.map(|e| e.vms.clone()).unwrap_or_default(),
        });
    }
    for n in snapshot
        .networks
        .iter()
        .filter(|n| n.kind == "OpaqueNetwork" && hosts_in_scope(n))
    {
        out.push(NetworkRow {
            endpoint: snapshot.endpoint.clone(),
            name: n.name.clone(),
            kind: "opaque",
            host: None,
            switch: None,
            vlan: "-".into(),
            policy: None,
            binding: None,
            ports: None,
            vms: n.vms.clone(),
        });
    }
    out
}

pub async fn list(fleet: &Fleet, scope: &Scope) -> OpResult<Vec<NetworkRow>> {
    let mut out = Vec::new();
    for (_, snapshot, host) in select::snapshots(fleet, scope).await? {
        out.extend(rows(&snapshot, host.as_deref()));
    }
    out.sort_by(|a, b| {
        (
            a.name.as_str(),
            a.kind,
            a.host.as_deref(),
            a.endpoint.as_str(),
        )
            .cmp(&(
                b.name.as_str(),
                b.kind,
                b.host.as_deref(),
                b.endpoint.as_str(),
            ))
    });
    Ok(out)
}
