//! Which ESXi hosts a network command acts on: `--host H` (an ESXi host, or a
//! standalone endpoint), `--cluster C`, `--all-hosts`, or the only host there is.
//! A vCenter with several hosts needs one of them said explicitly: a port group
//! created on "whatever the default is" is how half a cluster loses a VLAN.

use std::sync::Arc;

use crate::ops::error::{OpError, OpResult, close_names};
use crate::ops::fleet::{Endpoint, Fleet, Scope};

use super::snapshot::{self, Snapshot};

#[derive(Debug, Clone, Default)]
pub struct HostSelector {
    pub scope: Scope,
    pub cluster: Option<String>,
}

/// One endpoint's snapshot and the hosts chosen in it (sorted by name).
pub struct Selected {
    pub endpoint: Arc<Endpoint>,
    pub snapshot: Snapshot,
    pub hosts: Vec<String>,
}

/// Snapshots of every endpoint in scope (no host narrowing), for lists and checks.
pub async fn snapshots(
    fleet: &Fleet,
    scope: &Scope,
) -> OpResult<Vec<(Arc<Endpoint>, Snapshot, Option<String>)>> {
    let targets = fleet.targets(scope).await?;
    let results = fleet
        .each_endpoint(targets, |t| async move {
            let snap = snapshot::read(&t.endpoint).await?;
            Ok((t.endpoint.clone(), snap, t.host.clone()))
        })
        .await;
    results.into_iter().collect()
}

/// Resolve the selector. `listing`: with no choice made, every host (lists may show
/// all; changes may not).
pub async fn select(fleet: &Fleet, sel: &HostSelector, listing: bool) -> OpResult<Vec<Selected>> {
    let mut out = Vec::new();
    let mut clusters_seen = Vec::new();
    for (endpoint, snapshot, host) in snapshots(fleet, &sel.scope).await? {
        let hosts: Vec<String> = if let Some(h) = host {
            vec![h]
        } else if let Some(c) = &sel.cluster {
            clusters_seen.extend(snapshot.hosts.iter().filter_map(|h| h.cluster.clone()));
            snapshot
                .hosts
                .iter()
                .filter(|h| h.cluster.as_deref() == Some(c))
                .map(|h| h.name.clone())
                .collect()
        } else if listing || sel.scope == Scope::All || snapshot.hosts.len() <= 1 {
            snapshot.hosts.iter().map(|h| h.name.clone()).collect()
        } else {
            return Err(OpError::Invalid {
                message: format!(
                    "{} manages {} hosts; say which ones to change",
                    endpoint.name(),
                    snapshot.hosts.len()
                ),
                hint: Some(format!(
                    "use --host HOST (one of {}), --cluster CLUSTER or --all-hosts",
                    snapshot
                        .hosts
                        .iter()
                        .map(|h| h.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            });
        };
        if !hosts.is_empty() {
            out.push(Selected {
                endpoint,
                snapshot,
                hosts,
            });
        }
    }
    if out.is_empty() {
        if let Some(c) = &sel.cluster {
            clusters_seen.sort();
            clusters_seen.dedup();
            return Err(OpError::NotFound {
                kind: "cluster",
                name: c.clone(),
                suggestions: close_names(c, clusters_seen.iter().map(String::as_str)),
            });
        }
        return Err(OpError::invalid("no ESXi host in scope"));
    }
    Ok(out)
}
