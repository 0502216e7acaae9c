//! What DRS itself recommends: the cluster's pending `recommendation` list (manual and
//! partially automated clusters), applied with ApplyRecommendation, and the hosts it
//! would pick for one VM (RecommendHostsForVm). Servers that do not offer these say so.

use serde::Serialize;

use crate::ops::clusters::ClusterRef;
use crate::ops::error::{OpError, OpResult};
use crate::ops::fleet::WithEndpoint;
use crate::ops::vms::VmRef;
use crate::vim::{Node, Request};

#[derive(Debug, Clone, Serialize)]
pub struct Recommendation {
    pub key: String,
    pub rating: i64,
    pub reason: String,
    /// One line per action: `migrate web-1 from esx1 to esx2`.
    pub actions: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HostRecommendation {
    pub host: String,
    pub rating: i64,
}

fn action_line(a: &Node, names: &std::collections::HashMap<crate::vim::MoRef, String>) -> String {
    let name = |path: &str| {
        a.moref_at(path)
            .map(|m| names.get(&m).cloned().unwrap_or(m.value))
            .unwrap_or_default()
    };
    match a.xsi_type.as_deref() {
        Some("ClusterMigrationAction") => format!(
            "migrate {} from {} to {}",
            name("drsMigration.vm"),
            name("drsMigration.source"),
            name("drsMigration.destination")
        ),
        Some("PlacementAction") => format!("place {} on {}", name("vm"), name("targetHost")),
        Some(other) => format!("{other} on {}", name("target")),
        None => format!(
            "{} on {}",
            a.str_at("type").unwrap_or_default(),
            name("target")
        ),
    }
}

/// The cluster's pending recommendations (empty when DRS has none, as in a fully
/// automated cluster that applies its own).
pub async fn list(cluster: &ClusterRef) -> OpResult<Vec<Recommendation>> {
    let endpoint = cluster.endpoint.name().to_string();
    let client = cluster.endpoint.client().await?;
    let props = client
        .properties(&cluster.moref, &["recommendation"])
        .await
        .at(&endpoint)?;
    let Some(list) = props.get("recommendation") else {
        return Ok(Vec::new());
    };
    let items: Vec<&Node> = list.items();
    let mut refs = Vec::new();
    for item in &items {
        for a in item.children_named("action") {
            for path in [
                "drsMigration.vm",
                "drsMigration.source",
                "drsMigration.destination",
                "vm",
                "targetHost",
                "target",
            ] {
                refs.extend(a.moref_at(path));
            }
        }
    }
    let names = client.names_of(&refs).await.at(&endpoint)?;
    Ok(items
        .into_iter()
        .map(|r| Recommendation {
            key: r.str_at("key").unwrap_or_default().to_string(),
            rating: r.i64_at("rating").unwrap_or(0),
            reason: r
                .str_at("reasonText")
                .or_else(|| r.str_at("reason"))
                .unwrap_or_default()
                .to_string(),
            actions: r
                .children_named("action")
                .map(|a| action_line(a, &names))
                .collect(),
        })
        .collect())
}

/// ApplyRecommendation for one key.
pub async fn apply(cluster: &ClusterRef, key: &str) -> OpResult<()> {
    let endpoint = cluster.endpoint.name().to_string();
    let client = cluster.endpoint.client().await?;
    let mut req = Request::new("ApplyRecommendation", &cluster.moref);
    req.text("key", key);
    client
        .call(req)
        .await
        .map_err(|e| unsupported(e, "ApplyRecommendation", &endpoint))?;
    Ok(())
}

/// RecommendHostsForVm: the hosts DRS would choose for a VM, best first.
pub async fn hosts_for_vm(cluster: &ClusterRef, vm: &VmRef) -> OpResult<Vec<HostRecommendation>> {
    let endpoint = cluster.endpoint.name().to_string();
    let client = cluster.endpoint.client().await?;
    let mut req = Request::new("RecommendHostsForVm", &cluster.moref);
    req.moref("vm", &vm.moref);
    let result = client
        .call(req)
        .await
        .map_err(|e| unsupported(e, "RecommendHostsForVm", &endpoint))?;
    let mut hosts = Vec::new();
    let mut refs = Vec::new();
    for r in result.children_named("returnval") {
        if let Some(h) = r.moref_at("host") {
            refs.push(h.clone());
            hosts.push((h, r.i64_at("rating").unwrap_or(0)));
        }
    }
    let names = client.names_of(&refs).await.at(&endpoint)?;
    let mut out: Vec<HostRecommendation> = hosts
        .into_iter()
        .map(|(h, rating)| HostRecommendation {
            host: names.get(&h).cloned().unwrap_or(h.value),
            rating,
        })
        .collect();
    out.sort_by_key(|h| std::cmp::Reverse(h.rating));
    Ok(out)
}

/// A method the server does not implement is a refusal saying so, not a raw fault.
fn unsupported(e: crate::vim::Error, method: &str, endpoint: &str) -> OpError {
    if e.is_fault("MethodNotFound") || e.is_fault("NotSupported") {
        return OpError::refused(
            format!("{endpoint} does not offer {method}"),
            "real vCenter does; the simulator (vcsim) does not implement it",
        );
    }
    OpError::vim(endpoint, e)
}
