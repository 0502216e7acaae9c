//! Folders and files on a datastore through the FileManager: MakeDirectory,
//! DeleteDatastoreFile_Task (a folder goes with everything in it), MoveDatastoreFile_Task
//! and CopyDatastoreFile_Task.

use crate::ops::error::{OpError, OpResult};
use crate::ops::fleet::WithEndpoint;
use crate::ops::progress::Progress;
use crate::vim::{Client, DatastorePath, MoRef, Request};
use std::sync::Arc;

use super::{DsLocation, not_found};

async fn file_manager(loc: &DsLocation) -> OpResult<(Arc<Client>, MoRef)> {
    let client = loc.endpoint.client().await?;
    let manager = client
        .content()
        .manager("fileManager")
        .ok_or_else(|| OpError::invalid(format!("{} has no file manager", loc.endpoint.name())))?;
    Ok((client, manager))
}

/// MakeDirectory; with `parents`, the missing folders above it too.
pub async fn make_dir(loc: &DsLocation, parents: bool) -> OpResult<()> {
    let (client, manager) = file_manager(loc).await?;
    let mut req = Request::new("MakeDirectory", &manager);
    req.text("name", loc.path.to_string())
        .moref("datacenter", &loc.datacenter)
        .text("createParentDirectories", parents);
    client
        .call(req)
        .await
        .at(loc.endpoint.name())
        .map_err(|e| not_found(e, &loc.path))?;
    Ok(())
}

/// Delete each path (files, or folders with their content).
pub async fn remove(
    loc: &DsLocation,
    paths: &[DatastorePath],
    progress: &dyn Progress,
) -> OpResult<()> {
    for path in paths {
        progress.step(&format!("Deleting {path}"));
        crate::ops::datastores::delete_file(&loc.endpoint, &loc.datacenter, path)
            .await
            .map_err(|e| not_found(e, path))?;
    }
    Ok(())
}

/// MoveDatastoreFile_Task; `force` replaces an existing destination.
pub async fn move_file(
    from: &DsLocation,
    to: &DsLocation,
    force: bool,
    progress: &dyn Progress,
) -> OpResult<()> {
    transfer_task("MoveDatastoreFile_Task", from, to, force, progress).await
}

/// CopyDatastoreFile_Task; `force` replaces an existing destination.
pub async fn copy(
    from: &DsLocation,
    to: &DsLocation,
    force: bool,
    progress: &dyn Progress,
) -> OpResult<()> {
    transfer_task("CopyDatastoreFile_Task", from, to, force, progress).await
}

async fn transfer_task(
    method: &str,
    from: &DsLocation,
    to: &DsLocation,
    force: bool,
    progress: &dyn Progress,
) -> OpResult<()> {
    if from.endpoint.name() != to.endpoint.name() {
        return Err(OpError::invalid(
            "source and destination must be on the same endpoint",
        ));
    }
    let (client, manager) = file_manager(from).await?;
    let mut req = Request::new(method, &manager);
    req.text("sourceName", from.path.to_string())
        .moref("sourceDatacenter", &from.datacenter)
        .text("destinationName", to.path.to_string())
        .moref("destinationDatacenter", &to.datacenter)
        .text("force", force);
    client
        .run_task(req, from.endpoint.timeouts().task, &|t| progress.task(t))
        .await
        .at(from.endpoint.name())
        .map_err(|e| not_found(e, &from.path))?;
    Ok(())
}
