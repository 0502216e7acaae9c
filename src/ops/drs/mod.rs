//! DRS rules and groups of a cluster: the typed model (`model`), reading it from the
//! server (`read`), checking it (`check`), changing it one rule or group at a time
//! (`groups`, `rules`), and the server's own recommendations (`recommendations`).

pub mod check;
pub mod groups;
pub mod model;
pub mod read;
pub mod recommendations;
pub mod rules;

use crate::ops::clusters::{self, ClusterRef};
use crate::ops::error::{OpError, OpResult, close_names};
use crate::ops::fleet::Target;

pub use check::{Finding, FindingKind, check};
pub use model::{Group, GroupKind, Rule, RuleKind, Snapshot};

/// The cluster and its rules, groups, VMs and hosts, read now.
pub async fn load(target: &Target, cluster: Option<&str>) -> OpResult<(ClusterRef, Snapshot)> {
    let (cluster, inv) = clusters::locate(target, cluster).await?;
    let obj = inv
        .clusters
        .iter()
        .find(|c| c.obj == cluster.moref)
        .ok_or_else(|| OpError::invalid("the cluster vanished while being read"))?;
    let snapshot = read::snapshot(&inv, obj);
    Ok((cluster, snapshot))
}

/// The report of `drs check`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CheckReport {
    pub cluster: String,
    pub endpoint: String,
    pub rules: usize,
    pub groups: usize,
    pub ok: bool,
    pub findings: Vec<Finding>,
}

pub async fn check_cluster(target: &Target, cluster: Option<&str>) -> OpResult<CheckReport> {
    let (cluster, snapshot) = load(target, cluster).await?;
    let findings = check(&snapshot);
    Ok(CheckReport {
        cluster: cluster.name,
        endpoint: target.endpoint.name().to_string(),
        rules: snapshot.rules.len(),
        groups: snapshot.groups.len(),
        ok: findings.is_empty(),
        findings,
    })
}

/// Names or globs (`web-*`) resolved to the ids of the cluster's VMs or hosts. A name
/// that matches nothing is an error listing close names.
pub fn resolve_members(s: &Snapshot, kind: GroupKind, wanted: &[String]) -> OpResult<Vec<String>> {
    let all: Vec<(&str, &str)> = match kind {
        GroupKind::Vm => s
            .vms
            .iter()
            .map(|v| (v.id.as_str(), v.name.as_str()))
            .collect(),
        GroupKind::Host => s
            .hosts
            .iter()
            .map(|h| (h.id.as_str(), h.name.as_str()))
            .collect(),
    };
    let kind = match kind {
        GroupKind::Vm => "VM",
        GroupKind::Host => "host",
    };
    let mut out: Vec<String> = Vec::new();
    for name in wanted.iter().flat_map(|w| w.split(',')).map(str::trim) {
        if name.is_empty() {
            continue;
        }
        let hits: Vec<&str> = if name.contains(['*', '?', '[']) {
            let pattern = glob::Pattern::new(name)
                .map_err(|e| OpError::invalid(format!("invalid pattern '{name}': {e}")))?;
            all.iter()
                .filter(|(_, n)| pattern.matches(n))
                .map(|(id, _)| *id)
                .collect()
        } else {
            all.iter()
                .filter(|(id, n)| *n == name || *id == name)
                .map(|(id, _)| *id)
                .collect()
        };
        if hits.is_empty() {
            return Err(OpError::NotFound {
                kind,
                name: name.to_string(),
                suggestions: close_names(name, all.iter().map(|(_, n)| *n)),
            });
        }
        for id in hits {
            if !out.iter().any(|o| o == id) {
                out.push(id.to_string());
            }
        }
    }
    Ok(out)
}
