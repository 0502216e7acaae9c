//! Files on datastores: list (HostDatastoreBrowser), make folders, remove, move and copy
//! (FileManager), upload and download (the `/folder` HTTP interface with the session
//! cookie). Paths are `[datastore] dir/file` or `datastore:dir/file`.

mod browse;
mod manage;
mod path;
mod transfer;

use std::sync::Arc;

use crate::vim::{DatastorePath, MoRef};

use super::error::{OpError, OpResult, close_names};
use super::fleet::{Endpoint, Fleet, Scope, WithEndpoint};
use super::inventory;

pub use browse::{DsFile, check_absent, ls, matches, removal_targets};
pub use manage::{copy, make_dir, move_file, remove};
pub use path::parse_path;
pub use transfer::{Download, download, upload};

/// A datastore path resolved on one endpoint: what FileManager and the browser need.
#[derive(Clone)]
pub struct DsLocation {
    pub endpoint: Arc<Endpoint>,
    pub datastore: MoRef,
    pub browser: MoRef,
    pub datacenter: MoRef,
    /// `dcPath` of `/folder` URLs.
    pub datacenter_name: String,
    pub path: DatastorePath,
}

impl DsLocation {
    /// The same datastore, another path on it.
    pub fn at(&self, path: &str) -> DsLocation {
        DsLocation {
            path: DatastorePath {
                datastore: self.path.datastore.clone(),
                path: path.to_string(),
            },
            ..self.clone()
        }
    }
}

/// Find the datastore named in `text` on the endpoint in scope.
pub async fn locate(fleet: &Fleet, scope: &Scope, text: &str) -> OpResult<DsLocation> {
    let path = parse_path(text)?;
    let target = fleet.target(scope).await?;
    locate_on(target.endpoint, path).await
}

/// Find `path`'s datastore on `endpoint`.
pub async fn locate_on(endpoint: Arc<Endpoint>, path: DatastorePath) -> OpResult<DsLocation> {
    let name = endpoint.name().to_string();
    let client = endpoint.client().await?;
    let all = inventory::objects(&client, "Datastore", &["browser"])
        .await
        .at(&name)?;
    let Some(found) = all.iter().find(|d| d.str("name") == Some(&path.datastore)) else {
        return Err(OpError::NotFound {
            kind: "datastore",
            name: path.datastore.clone(),
            suggestions: close_names(&path.datastore, inventory::names(&all)),
        });
    };
    let datastore = found.obj.clone();
    let browser = found
        .moref("browser")
        .ok_or_else(|| OpError::invalid(format!("datastore {} has no browser", path.datastore)))?;
    let (datacenter, datacenter_name) = inventory::datacenter_of(&client, &datastore)
        .await
        .at(&name)?;
    Ok(DsLocation {
        endpoint,
        datastore,
        browser,
        datacenter,
        datacenter_name,
        path,
    })
}

/// A FileNotFound fault as a "not found" (exit 4) naming the path.
fn not_found(e: OpError, what: &DatastorePath) -> OpError {
    if e.fault_name() == Some("FileNotFound") {
        OpError::NotFound {
            kind: "datastore file",
            name: what.to_string(),
            suggestions: Vec::new(),
        }
    } else {
        e
    }
}
