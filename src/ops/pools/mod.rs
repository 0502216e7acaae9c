//! Resource pools: the tree of each cluster and standalone host, named by path
//! (`DC0/Cluster1/Resources/prod/web`) or by a unique name; create, update, delete,
//! and moving VMs into a pool.

pub mod allocation;
pub mod manage;
pub mod moves;

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;

use crate::vim::{self, Client, MoRef, ObjectContent, PropertySpec};

use super::error::{OpError, OpResult, close_names};
use super::fleet::{Endpoint, Fleet, Scope, Target, WithEndpoint};

pub use allocation::{Allocation, AllocationChange, Resource, Shares};
pub use manage::{PoolChange, create, delete, update};
pub use moves::{MoveResult, move_vms};

/// One pool as `rp list/info` show it.
#[derive(Debug, Clone, Serialize)]
pub struct Pool {
    pub name: String,
    pub path: String,
    pub id: String,
    pub endpoint: String,
    /// `root` (a cluster's or host's `Resources`), `pool` or `vApp`.
    pub kind: String,
    /// The cluster or standalone host it belongs to.
    pub owner: String,
    /// `cluster` or `host`.
    pub owner_kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// 0 for a root pool (`Resources`).
    pub depth: usize,
    /// MHz.
    pub cpu: Allocation,
    /// MB.
    pub memory: Allocation,
    pub vms: Vec<String>,
    pub pools: Vec<String>,
}

impl Pool {
    pub fn moref(&self) -> MoRef {
        MoRef::new(
            if self.kind == "vApp" {
                "VirtualApp"
            } else {
                "ResourcePool"
            },
            self.id.clone(),
        )
    }

    pub fn is_root(&self) -> bool {
        self.parent.is_none()
    }
}

/// Every pool of an endpoint, in tree order, from one bulk read.
pub struct PoolInventory {
    pub endpoint: Arc<Endpoint>,
    pub pools: Vec<Pool>,
    /// VM moref → name, for messages.
    pub vm_names: HashMap<MoRef, String>,
}

const POOL_PATHS: &[&str] = &["name", "parent", "owner", "config", "vm", "resourcePool"];

impl PoolInventory {
    pub async fn read(endpoint: &Arc<Endpoint>) -> OpResult<Self> {
        let name = endpoint.name().to_string();
        let client = endpoint.client().await?;
        let objects = read_objects(&client).await.at(&name)?;
        Ok(build(endpoint, objects))
    }

    pub fn by_id(&self, id: &MoRef) -> Option<&Pool> {
        self.pools
            .iter()
            .find(|p| &p.moref() == id || p.id == id.value)
    }

    /// The pool called `wanted`: a path (`DC0/C0/Resources/prod`, govc's
    /// `/DC0/host/C0/Resources/prod`, or a unique tail of one such as
    /// `C0/Resources/prod`), a unique name, or a moref id. Among several, the ones
    /// of the endpoint's configured cluster win.
    pub fn find(&self, wanted: &str) -> OpResult<&Pool> {
        let norm = normalize(wanted);
        let mut hits: Vec<&Pool> = self
            .pools
            .iter()
            .filter(|p| {
                p.id == wanted
                    || p.path == norm
                    || (norm.contains('/') && p.path.ends_with(&format!("/{norm}")))
                    || (!norm.contains('/') && p.name == norm)
            })
            .collect();
        if hits.len() > 1
            && let Some(cluster) = self.endpoint.spec.cluster.as_deref()
        {
            let preferred: Vec<&Pool> = hits
                .iter()
                .copied()
                .filter(|p| p.owner == cluster)
                .collect();
            if preferred.len() == 1 {
                hits = preferred;
            }
        }
        match hits.as_slice() {
            [one] => Ok(one),
            [] => Err(OpError::NotFound {
                kind: "resource pool",
                name: wanted.to_string(),
                suggestions: close_names(
                    &norm,
                    self.pools.iter().map(|p| {
                        if norm.contains('/') {
                            p.path.as_str()
                        } else {
                            p.name.as_str()
                        }
                    }),
                ),
            }),
            many => Err(OpError::Ambiguous {
                kind: "resource pool",
                name: wanted.to_string(),
                candidates: many.iter().map(|p| p.path.clone()).collect(),
            }),
        }
    }

    /// The root pool (`Resources`) of the default compute resource: the configured
    /// cluster, else the only cluster, else the only compute resource.
    pub fn default_root(&self) -> OpResult<&Pool> {
        let roots: Vec<&Pool> = self.pools.iter().filter(|p| p.is_root()).collect();
        if let Some(cluster) = self.endpoint.spec.cluster.as_deref() {
            return roots
                .iter()
                .copied()
                .find(|p| p.owner == cluster)
                .ok_or_else(|| OpError::NotFound {
                    kind: "cluster",
                    name: cluster.to_string(),
                    suggestions: close_names(cluster, roots.iter().map(|p| p.owner.as_str())),
                });
        }
        let clusters: Vec<&Pool> = roots
            .iter()
            .copied()
            .filter(|p| p.owner_kind == "cluster")
            .collect();
        match (clusters.as_slice(), roots.as_slice()) {
            ([one], _) | ([], [one]) => Ok(one),
            _ => Err(OpError::Invalid {
                message: format!(
                    "{} has several places for a pool: {}",
                    self.endpoint.name(),
                    roots
                        .iter()
                        .map(|p| p.path.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                hint: Some("give the parent in the path, e.g. DC0/Cluster1/Resources/NAME".into()),
            }),
        }
    }
}

/// Paths as users type them: no leading `/`, govc's `host` folder left out.
fn normalize(wanted: &str) -> String {
    let trimmed = wanted.trim().trim_matches('/');
    let parts: Vec<&str> = trimmed.split('/').filter(|s| !s.is_empty()).collect();
    if parts.len() > 2 && parts[1] == "host" {
        let mut kept = vec![parts[0]];
        kept.extend(&parts[2..]);
        return kept.join("/");
    }
    parts.join("/")
}

async fn read_objects(client: &Client) -> Result<Vec<ObjectContent>, vim::Error> {
    client
        .collect_view(
            &client.content().root_folder,
            &[
                PropertySpec {
                    kind: "ResourcePool",
                    paths: POOL_PATHS,
                },
                PropertySpec {
                    kind: "ComputeResource",
                    paths: &["name", "parent", "resourcePool"],
                },
                crate::ops::clusters::ANCESTRY[0],
                crate::ops::clusters::ANCESTRY[1],
                PropertySpec {
                    kind: "VirtualMachine",
                    paths: &["name"],
                },
            ],
        )
        .await
}

fn build(endpoint: &Arc<Endpoint>, objects: Vec<ObjectContent>) -> PoolInventory {
    let mut pools: HashMap<MoRef, &ObjectContent> = HashMap::new();
    let mut computes: Vec<&ObjectContent> = Vec::new();
    let mut places: HashMap<MoRef, (&str, Option<MoRef>)> = HashMap::new();
    let mut vm_names: HashMap<MoRef, String> = HashMap::new();
    for o in &objects {
        match o.obj.kind.as_str() {
            "ResourcePool" | "VirtualApp" => {
                pools.insert(o.obj.clone(), o);
            }
            "VirtualMachine" => {
                vm_names.insert(o.obj.clone(), o.str("name").unwrap_or_default().to_string());
            }
            "Folder" | "Datacenter" => {
                places.insert(
                    o.obj.clone(),
                    (o.str("name").unwrap_or_default(), o.moref("parent")),
                );
            }
            _ => computes.push(o),
        }
    }
    // DC/folders/compute: folders below the datacenter's host folder are kept.
    let compute_path = |c: &ObjectContent| {
        let mut parts = vec![c.str("name").unwrap_or_default().to_string()];
        let mut folders = Vec::new();
        let mut current = c.moref("parent");
        for _ in 0..32 {
            let Some(m) = current else { break };
            let Some((name, parent)) = places.get(&m) else {
                break;
            };
            if m.kind == "Datacenter" {
                folders.pop(); // the host folder itself
                parts.append(&mut folders);
                parts.push(name.to_string());
                break;
            }
            folders.push(name.to_string());
            current = parent.clone();
        }
        parts.reverse();
        parts.join("/")
    };
    let mut out = Vec::new();
    computes.sort_by_key(|c| compute_path(c));
    for c in computes {
        let Some(root) = c.moref("resourcePool") else {
            continue;
        };
        let owner = c.str("name").unwrap_or_default().to_string();
        let base = compute_path(c);
        let owner_kind = if c.obj.kind == "ClusterComputeResource" {
            "cluster"
        } else {
            "host"
        };
        walk(
            &pools,
            &vm_names,
            endpoint.name(),
            &root,
            &base,
            None,
            0,
            &owner,
            owner_kind,
            &mut out,
        );
    }
    PoolInventory {
        endpoint: endpoint.clone(),
        pools: out,
        vm_names,
    }
}

#[allow(clippy::too_many_arguments)]
fn walk(
    pools: &HashMap<MoRef, &ObjectContent>,
    vm_names: &HashMap<MoRef, String>,
    endpoint: &str,
    pool: &MoRef,
    base: &str,
    parent: Option<&str>,
    depth: usize,
    owner: &str,
    owner_kind: &str,
    out: &mut Vec<Pool>,
) {
    let Some(o) = pools.get(pool) else { return };
    if depth > 64 {
        return;
    }
    let name = o.str("name").unwrap_or_default().to_string();
    let path = format!("{base}/{name}");
    let config = o.get("config");
    let children = o.morefs("resourcePool");
    let mut vms: Vec<String> = o
        .morefs("vm")
        .iter()
        .map(|v| vm_names.get(v).cloned().unwrap_or_else(|| v.value.clone()))
        .collect();
    vms.sort();
    let mut child_names: Vec<String> = children
        .iter()
        .filter_map(|c| pools.get(c).and_then(|p| p.str("name")))
        .map(str::to_string)
        .collect();
    child_names.sort();
    out.push(Pool {
        name,
        path: path.clone(),
        id: o.obj.value.clone(),
        endpoint: endpoint.to_string(),
        kind: if o.obj.kind == "VirtualApp" {
            "vApp".into()
        } else if depth == 0 {
            "root".into()
        } else {
            "pool".into()
        },
        owner: owner.to_string(),
        owner_kind: owner_kind.to_string(),
        parent: parent.map(str::to_string),
        depth,
        cpu: Allocation::read(config.and_then(|c| c.child("cpuAllocation"))),
        memory: Allocation::read(config.and_then(|c| c.child("memoryAllocation"))),
        vms,
        pools: child_names,
    });
    let mut sorted: Vec<&MoRef> = children.iter().collect();
    sorted.sort_by_key(|c| {
        pools
            .get(*c)
            .and_then(|p| p.str("name"))
            .unwrap_or_default()
    });
    for child in sorted {
        walk(
            pools,
            vm_names,
            endpoint,
            child,
            &path,
            Some(&path),
            depth + 1,
            owner,
            owner_kind,
            out,
        );
    }
}

/// `rp list`: every pool of the endpoints in scope, optionally of one cluster or host.
pub async fn list(fleet: &Fleet, scope: &Scope, cluster: Option<&str>) -> OpResult<Vec<Pool>> {
    let all = fleet
        .gather(scope, |t| async move {
            Ok(PoolInventory::read(&t.endpoint).await?.pools)
        })
        .await?;
    let Some(cluster) = cluster else {
        return Ok(all);
    };
    let picked: Vec<Pool> = all.iter().filter(|p| p.owner == cluster).cloned().collect();
    if picked.is_empty() {
        let mut owners: Vec<&str> = all.iter().map(|p| p.owner.as_str()).collect();
        owners.dedup();
        return Err(OpError::NotFound {
            kind: "cluster",
            name: cluster.to_string(),
            suggestions: close_names(cluster, owners),
        });
    }
    Ok(picked)
}

/// `rp info`: one pool.
pub async fn info(target: &Target, wanted: &str) -> OpResult<Pool> {
    let inv = PoolInventory::read(&target.endpoint).await?;
    inv.find(wanted).cloned()
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn govc_paths_and_plain_paths_normalize_alike() {
        assert_eq!(
            normalize("/DC0/host/C0/Resources/prod"),
            "DC0/C0/Resources/prod"
        );
        assert_eq!(normalize("DC0/C0/Resources/prod/"), "DC0/C0/Resources/prod");
        assert_eq!(normalize("prod"), "prod");
    }
}
