//! Datastores: capacity, free space, who uses them. One bulk read per endpoint.

use serde::Serialize;

use super::error::{OpError, OpResult, close_names};
use super::fleet::{Fleet, Gathered, Scope, Target, WithEndpoint};
use super::inventory;

const PATHS: &[&str] = &[
    "summary.type",
    "summary.capacity",
    "summary.freeSpace",
    "summary.accessible",
    "summary.url",
    "host",
    "vm",
];

#[derive(Debug, Clone, Serialize)]
pub struct DatastoreSummary {
    pub name: String,
    pub endpoint: String,
    pub id: String,
    /// VMFS, NFS, vsan, OTHER…
    pub kind: String,
    pub capacity_mb: i64,
    pub free_mb: i64,
    pub accessible: bool,
    pub url: String,
    pub hosts: usize,
    pub vms: usize,
}

/// Datastores of every endpoint in scope, sorted by name.
pub async fn list(fleet: &Fleet, scope: &Scope) -> OpResult<Vec<DatastoreSummary>> {
    list_each(fleet, scope).await?.strict()
}

/// `list`, keeping the datastores of the endpoints that answered when others fail.
pub async fn list_each(fleet: &Fleet, scope: &Scope) -> OpResult<Gathered<DatastoreSummary>> {
    let all = fleet.gather_each(scope, list_target).await?;
    Ok(all.map_items(|mut all| {
        all.sort_by(|a, b| a.name.cmp(&b.name).then(a.endpoint.cmp(&b.endpoint)));
        all
    }))
}

async fn list_target(target: Target) -> OpResult<Vec<DatastoreSummary>> {
    let endpoint = target.endpoint.name().to_string();
    let client = target.endpoint.client().await?;
    let objects = inventory::objects(&client, "Datastore", PATHS)
        .await
        .at(&endpoint)?;
    let host_ids = inventory::seen_by_host(&client, target.host.as_deref(), "datastore")
        .await
        .at(&endpoint)?;
    Ok(objects
        .iter()
        .filter(|o| host_ids.as_ref().is_none_or(|ids| ids.contains(&o.obj)))
        .map(|o| DatastoreSummary {
            name: o.str("name").unwrap_or_default().to_string(),
            endpoint: endpoint.clone(),
            id: o.obj.value.clone(),
            kind: o.str("summary.type").unwrap_or_default().to_string(),
            capacity_mb: o.i64("summary.capacity").unwrap_or(0) >> 20,
            free_mb: o.i64("summary.freeSpace").unwrap_or(0) >> 20,
            accessible: o.bool("summary.accessible").unwrap_or(false),
            url: o.str("summary.url").unwrap_or_default().to_string(),
            hosts: o.get("host").map_or(0, |h| h.items().len()),
            vms: o.morefs("vm").len(),
        })
        .collect())
}

/// The one datastore called `name`.
pub async fn find(fleet: &Fleet, scope: &Scope, name: &str) -> OpResult<DatastoreSummary> {
    let all = list(fleet, scope).await?;
    pick("datastore", name, all, |d| (&d.name, &d.endpoint))
}

/// Exactly one item named `name`, or NotFound (with close names) / Ambiguous.
pub fn pick<T>(
    kind: &'static str,
    name: &str,
    all: Vec<T>,
    key: impl Fn(&T) -> (&String, &String),
) -> OpResult<T> {
    let (mut hits, rest): (Vec<T>, Vec<T>) = all.into_iter().partition(|item| key(item).0 == name);
    match hits.len() {
        1 => Ok(hits.remove(0)),
        0 => Err(OpError::NotFound {
            kind,
            name: name.to_string(),
            suggestions: close_names(name, rest.iter().map(|i| key(i).0.as_str())),
        }),
        _ => Err(OpError::Ambiguous {
            kind,
            name: name.to_string(),
            candidates: hits
                .iter()
                .map(|i| format!("{} ({})", key(i).0, key(i).1))
                .collect(),
        }),
    }
}

/// Delete a datastore file or folder (FileManager.DeleteDatastoreFile_Task, which
/// removes a folder with everything in it).
pub async fn delete_file(
    endpoint: &crate::ops::fleet::Endpoint,
    datacenter: &crate::vim::MoRef,
    path: &crate::vim::DatastorePath,
) -> OpResult<()> {
    let client = endpoint.client().await?;
    let manager = client
        .content()
        .manager("fileManager")
        .ok_or_else(|| OpError::invalid(format!("{} has no file manager", endpoint.name())))?;
    let mut req = crate::vim::Request::new("DeleteDatastoreFile_Task", &manager);
    req.text("name", path.to_string())
        .moref("datacenter", datacenter);
    client
        .run_task(req, endpoint.timeouts().task, &crate::vim::no_progress)
        .await
        .at(endpoint.name())?;
    Ok(())
}
