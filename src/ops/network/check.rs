//! `network check`: a pure analysis of network snapshots. Hosts of one cluster must
//! agree on their port groups (present, same VLAN, same effective policy), a VM's
//! networks must exist on every host it could move to (its cluster), and members of a
//! distributed switch need uplinks.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::snapshot::{HostNet, Snapshot};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Finding {
    /// A port group some hosts of a cluster have and others lack.
    PortgroupMissing {
        endpoint: String,
        cluster: String,
        portgroup: String,
        missing_on: Vec<String>,
        present_on: Vec<String>,
    },
    /// Hosts of a cluster disagree about a port group setting (VLAN, a policy).
    SettingDiffers {
        endpoint: String,
        cluster: String,
        portgroup: String,
        setting: String,
        /// value -> hosts
        values: BTreeMap<String, Vec<String>>,
    },
    /// A VM's network is missing on hosts of its cluster (vMotion/HA there would cut it off).
    VmNetworkMissing {
        endpoint: String,
        vm: String,
        network: String,
        missing_on: Vec<String>,
    },
    /// A distributed switch member host with no physical uplink.
    DvsMemberWithoutUplinks {
        endpoint: String,
        switch: String,
        host: String,
    },
}

impl Finding {
    pub fn describe(&self) -> String {
        match self {
            Finding::PortgroupMissing {
                cluster,
                portgroup,
                missing_on,
                present_on,
                ..
            } => format!(
                "cluster {cluster}: port group {portgroup} is missing on {} (present on {})",
                missing_on.join(", "),
                present_on.join(", ")
            ),
            Finding::SettingDiffers {
                cluster,
                portgroup,
                setting,
                values,
                ..
            } => format!(
                "cluster {cluster}: port group {portgroup} has different {setting}: {}",
                values
                    .iter()
                    .map(|(v, hosts)| format!("{v} on {}", hosts.join(", ")))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            Finding::VmNetworkMissing {
                vm,
                network,
                missing_on,
                ..
            } => format!(
                "VM {vm} uses network {network}, which is missing on {} of its cluster",
                missing_on.join(", ")
            ),
            Finding::DvsMemberWithoutUplinks { switch, host, .. } => {
                format!("host {host} is a member of distributed switch {switch} without uplinks")
            }
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub consistent: bool,
    pub clusters: Vec<String>,
    pub hosts: usize,
    pub findings: Vec<Finding>,
}

/// Analyse snapshots; `cluster` narrows it to one cluster.
pub fn check(snapshots: &[Snapshot], cluster: Option<&str>) -> CheckReport {
    let mut findings = Vec::new();
    let mut clusters_seen = BTreeSet::new();
    let mut hosts_seen = 0;
    for snap in snapshots {
        let in_scope = |c: Option<&str>| cluster.is_none_or(|want| c == Some(want));
        let mut by_cluster: BTreeMap<&str, Vec<&HostNet>> = BTreeMap::new();
        for h in &snap.hosts {
            if let Some(c) = h.cluster.as_deref()
                && in_scope(Some(c))
            {
                by_cluster.entry(c).or_default().push(h);
            }
        }
        for (c, hosts) in &by_cluster {
            clusters_seen.insert(c.to_string());
            hosts_seen += hosts.len();
            let names: BTreeSet<&str> = hosts
                .iter()
                .flat_map(|h| h.portgroups.iter().map(|p| p.name.as_str()))
                .collect();
            for pg in names {
                let (present, missing): (Vec<&&HostNet>, Vec<&&HostNet>) =
                    hosts.iter().partition(|h| h.portgroup(pg).is_some());
                if !missing.is_empty() {
                    findings.push(Finding::PortgroupMissing {
                        endpoint: snap.endpoint.clone(),
                        cluster: c.to_string(),
                        portgroup: pg.to_string(),
                        missing_on: missing.iter().map(|h| h.name.clone()).collect(),
                        present_on: present.iter().map(|h| h.name.clone()).collect(),
                    });
                }
                // Compare what applies: the VLAN and the effective (computed) policy.
                let mut per_setting: BTreeMap<&str, BTreeMap<String, Vec<String>>> =
                    BTreeMap::new();
                for h in &present {
                    let Some(p) = h.portgroup(pg) else { continue };
                    let mut settings = vec![("vlan", p.vlan.to_string())];
                    settings.extend(p.effective.settings());
                    for (k, v) in settings {
                        per_setting
                            .entry(k)
                            .or_default()
                            .entry(v)
                            .or_default()
                            .push(h.name.clone());
                    }
                }
                for (setting, values) in per_setting {
                    if values.len() > 1 {
                        findings.push(Finding::SettingDiffers {
                            endpoint: snap.endpoint.clone(),
                            cluster: c.to_string(),
                            portgroup: pg.to_string(),
                            setting: setting.to_string(),
                            values,
                        });
                    }
                }
            }
        }
        for vm in &snap.vms {
            let Some(c) = vm.cluster.as_deref() else {
                continue;
            };
            if !in_scope(Some(c)) {
                continue;
            }
            let Some(hosts) = by_cluster.get(c) else {
                continue;
            };
            for net in &vm.networks {
                let missing: Vec<String> =
                    if let Some(dv) = snap.dv_portgroups.iter().find(|p| p.name == *net) {
                        let Some(switch) = snap.switch(&dv.switch) else {
                            continue;
                        };
                        hosts
                            .iter()
                            .filter(|h| !switch.members.iter().any(|m| m.host == h.name))
                            .map(|h| h.name.clone())
                            .collect()
                    } else if snap
                        .networks
                        .iter()
                        .any(|n| n.name == *net && n.kind == "Network")
                    {
                        hosts
                            .iter()
                            .filter(|h| h.portgroup(net).is_none())
                            .map(|h| h.name.clone())
                            .collect()
                    } else {
                        continue;
                    };
                if !missing.is_empty() {
                    findings.push(Finding::VmNetworkMissing {
                        endpoint: snap.endpoint.clone(),
                        vm: vm.name.clone(),
                        network: net.clone(),
                        missing_on: missing,
                    });
                }
            }
        }
        for s in &snap.switches {
            for m in &s.members {
                let member_cluster = snap.host(&m.host).and_then(|h| h.cluster.as_deref());
                if cluster.is_some() && !in_scope(member_cluster) {
                    continue;
                }
                if m.uplinks.is_empty() {
                    findings.push(Finding::DvsMemberWithoutUplinks {
                        endpoint: snap.endpoint.clone(),
                        switch: s.name.clone(),
                        host: m.host.clone(),
                    });
                }
            }
        }
    }
    CheckReport {
        consistent: findings.is_empty(),
        clusters: clusters_seen.into_iter().collect(),
        hosts: hosts_seen,
        findings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::network::policy::PolicyView;
    use crate::ops::network::snapshot::{
        Dvs, DvsMember, HostNet, NetworkEntity, StdPortgroup, VmNet,
    };
    use crate::vim::{MoRef, Node};

    fn pg(name: &str, vlan: i64, promiscuous: Option<bool>) -> StdPortgroup {
        let policy = PolicyView {
            promiscuous,
            ..PolicyView::default()
        };
        StdPortgroup {
            name: name.into(),
            vswitch: "vSwitch0".into(),
            vlan,
            policy: policy.clone(),
            effective: policy,
            spec: Node::default(),
        }
    }

    fn host(name: &str, pgs: Vec<StdPortgroup>) -> HostNet {
        HostNet {
            name: name.into(),
            id: MoRef::new("HostSystem", name),
            cluster: Some("C".into()),
            network_system: None,
            pnics: vec!["vmnic0".into()],
            vswitches: vec![],
            portgroups: pgs,
        }
    }

    fn snap(hosts: Vec<HostNet>, vms: Vec<VmNet>, members: Vec<DvsMember>) -> Snapshot {
        Snapshot {
            endpoint: "vc".into(),
            hosts,
            switches: vec![Dvs {
                name: "DVS".into(),
                id: "dvs-1".into(),
                moref: MoRef::new("DistributedVirtualSwitch", "dvs-1"),
                uuid: "u".into(),
                config_version: "1".into(),
                members,
                uplink_names: vec![],
                max_mtu: None,
                portgroups: vec![],
                policy: PolicyView::default(),
                config: Node::default(),
            }],
            dv_portgroups: vec![],
            networks: vec![NetworkEntity {
                name: "web".into(),
                id: "network-1".into(),
                kind: "Network".into(),
                hosts: vec![],
                vms: vec![],
            }],
            vms,
        }
    }

    fn member(host: &str, uplinks: &[&str]) -> DvsMember {
        DvsMember {
            host: host.into(),
            host_id: MoRef::new("HostSystem", host),
            uplinks: uplinks.iter().map(|u| u.to_string()).collect(),
        }
    }

    #[test]
    fn agreeing_hosts_are_consistent() {
        let s = snap(
            vec![
                host("a", vec![pg("web", 10, Some(false))]),
                host("b", vec![pg("web", 10, Some(false))]),
            ],
            vec![],
            vec![member("a", &["vmnic1"])],
        );
        let r = check(&[s], None);
        assert!(r.consistent, "{:?}", r.findings);
        assert_eq!(r.hosts, 2);
    }

    #[test]
    fn each_inconsistency_is_found() {
        let s = snap(
            vec![
                host("a", vec![pg("web", 10, Some(false)), pg("db", 20, None)]),
                host("b", vec![pg("web", 11, Some(true))]),
            ],
            vec![VmNet {
                name: "vm1".into(),
                host: Some("a".into()),
                cluster: Some("C".into()),
                networks: vec!["db".into()],
            }],
            vec![member("a", &[])],
        );
        let mut s = s;
        s.networks.push(NetworkEntity {
            name: "db".into(),
            id: "network-2".into(),
            kind: "Network".into(),
            hosts: vec![],
            vms: vec![],
        });
        let r = check(&[s], Some("C"));
        assert!(!r.consistent);
        let kinds: Vec<String> = r
            .findings
            .iter()
            .map(|f| {
                serde_json::to_value(f).unwrap()["kind"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert!(
            kinds.contains(&"portgroup_missing".to_string()),
            "{kinds:?}"
        );
        assert!(
            kinds.contains(&"vm_network_missing".to_string()),
            "{kinds:?}"
        );
        assert!(
            kinds.contains(&"dvs_member_without_uplinks".to_string()),
            "{kinds:?}"
        );
        let differs: Vec<&str> = r
            .findings
            .iter()
            .filter_map(|f| match f {
                Finding::SettingDiffers { setting, .. } => Some(setting.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(differs, ["promiscuous", "vlan"]);
        assert!(check(&[], Some("other")).consistent);
    }
}
