//! Rules and groups as the server returns them (`configurationEx.rule`/`.group`),
//! decoded into the typed model, with the cluster's VMs and hosts.

use crate::ops::clusters::ClusterInventory;
use crate::vim::{Node, ObjectContent};

use super::model::{Group, GroupKind, HostFact, Rule, RuleKind, Snapshot, VmFact};

fn members(node: &Node, field: &str) -> Vec<String> {
    node.children_named(field)
        .map(|n| n.text.trim().to_string())
        .collect()
}

/// One `ClusterRuleInfo` subtype. Rule types ceso does not model (dependency rules,
/// …) are left out: they neither constrain placement the way these do nor can be
/// edited here.
pub fn rule(node: &Node) -> Option<Rule> {
    let kind = match node.xsi_type.as_deref()? {
        "ClusterAffinityRuleSpec" => RuleKind::KeepTogether {
            vms: members(node, "vm"),
        },
        "ClusterAntiAffinityRuleSpec" => RuleKind::Separate {
            vms: members(node, "vm"),
        },
        "ClusterVmHostRuleInfo" => {
            let affine = node.str_at("affineHostGroupName").filter(|s| !s.is_empty());
            let anti = node
                .str_at("antiAffineHostGroupName")
                .filter(|s| !s.is_empty());
            RuleKind::VmHost {
                vm_group: node.str_at("vmGroupName").unwrap_or_default().to_string(),
                host_group: affine.or(anti).unwrap_or_default().to_string(),
                affine: affine.is_some(),
            }
        }
        _ => return None,
    };
    Some(Rule {
        key: node.i64_at("key")?,
        name: node.str_at("name").unwrap_or_default().to_string(),
        enabled: node.bool_at("enabled").unwrap_or(false),
        mandatory: node.bool_at("mandatory").unwrap_or(false),
        kind,
        uuid: node.str_at("ruleUuid").map(str::to_string),
    })
}

pub fn group(node: &Node) -> Option<Group> {
    let (kind, field) = match node.xsi_type.as_deref()? {
        "ClusterVmGroup" => (GroupKind::Vm, "vm"),
        "ClusterHostGroup" => (GroupKind::Host, "host"),
        _ => return None,
    };
    Some(Group {
        name: node.str_at("name")?.to_string(),
        kind,
        members: members(node, field),
    })
}

/// The cluster's rules, groups, VMs and hosts at the moment `inv` was read.
pub fn snapshot(inv: &ClusterInventory, cluster: &ObjectContent) -> Snapshot {
    let config = cluster.get("configurationEx");
    let rules = config
        .map(|c| c.children_named("rule").filter_map(rule).collect())
        .unwrap_or_default();
    let groups = config
        .map(|c| c.children_named("group").filter_map(group).collect())
        .unwrap_or_default();
    let hosts = inv
        .hosts_of(cluster)
        .into_iter()
        .map(|h| HostFact {
            id: h.obj.value.clone(),
            name: h.str("name").unwrap_or_default().to_string(),
            memory_mb: h.i64("summary.hardware.memorySize").unwrap_or(0) / (1024 * 1024),
            usable: h.str("runtime.connectionState") == Some("connected")
                && h.bool("runtime.inMaintenanceMode") != Some(true),
        })
        .collect();
    let vms = inv
        .vms_of(cluster)
        .into_iter()
        .map(|v| VmFact {
            id: v.obj.value.clone(),
            name: v.str("name").unwrap_or_default().to_string(),
            host: v.moref("runtime.host").map(|h| h.value),
            powered_on: v.str("runtime.powerState") == Some("poweredOn"),
            memory_mb: v.i64("config.hardware.memoryMB").unwrap_or(0),
        })
        .collect();
    Snapshot {
        cluster: cluster.str("name").unwrap_or_default().to_string(),
        rules,
        groups,
        vms,
        hosts,
    }
}
