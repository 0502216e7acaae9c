//! Networks and port groups (standard and distributed). One bulk read per endpoint.

use serde::Serialize;

use super::datastores::pick;
use super::error::OpResult;
use super::fleet::{Fleet, Scope, Target, WithEndpoint};
use super::inventory;

#[derive(Debug, Clone, Serialize)]
pub struct NetworkSummary {
    pub name: String,
    pub endpoint: String,
    pub id: String,
    /// Network (standard port group), DistributedVirtualPortgroup or OpaqueNetwork.
    pub kind: String,
    pub accessible: bool,
    pub hosts: usize,
    pub vms: usize,
}

/// Networks of every endpoint in scope, sorted by name.
pub async fn list(fleet: &Fleet, scope: &Scope) -> OpResult<Vec<NetworkSummary>> {
    let mut all = fleet.gather(scope, list_target).await?;
    all.sort_by(|a, b| a.name.cmp(&b.name).then(a.endpoint.cmp(&b.endpoint)));
    Ok(all)
}

async fn list_target(target: Target) -> OpResult<Vec<NetworkSummary>> {
    let endpoint = target.endpoint.name().to_string();
    let client = target.endpoint.client().await?;
    // "Network" in a ContainerView includes its subtypes (distributed port groups).
    let objects = inventory::objects(&client, "Network", &["summary.accessible", "host", "vm"])
        .await
        .at(&endpoint)?;
    let host_ids = inventory::seen_by_host(&client, target.host.as_deref(), "network")
        .await
        .at(&endpoint)?;
    Ok(objects
        .iter()
        .filter(|o| host_ids.as_ref().is_none_or(|ids| ids.contains(&o.obj)))
        .map(|o| NetworkSummary {
            name: o.str("name").unwrap_or_default().to_string(),
            endpoint: endpoint.clone(),
            id: o.obj.value.clone(),
            kind: o.obj.kind.clone(),
            accessible: o.bool("summary.accessible").unwrap_or(true),
            hosts: o.morefs("host").len(),
            vms: o.morefs("vm").len(),
        })
        .collect())
}

/// The one network called `name`.
pub async fn find(fleet: &Fleet, scope: &Scope, name: &str) -> OpResult<NetworkSummary> {
    let all = list(fleet, scope).await?;
    pick("network", name, all, |n| (&n.name, &n.endpoint))
}
