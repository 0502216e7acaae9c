//! Listing datastore folders with the datastore's HostDatastoreBrowser
//! (SearchDatastore_Task, SearchDatastoreSubFolders_Task with --recursive). Glob
//! patterns in the last path component go to the server as the search's matchPattern.

use serde::Serialize;

use crate::ops::error::{OpError, OpResult};
use crate::ops::fleet::WithEndpoint;
use crate::ops::progress::Progress;
use crate::vim::{DatastorePath, Node, Request};

use super::path::{is_glob, split};
use super::{DsLocation, not_found};

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DsFile {
    pub datastore: String,
    /// From the datastore's root: `dir/file.iso`.
    pub path: String,
    pub name: String,
    /// `folder` or `file`.
    pub kind: String,
    /// The server's FileInfo type: VmDiskFileInfo, IsoImageFileInfo, FolderFileInfo…
    pub file_type: String,
    pub size: u64,
    /// ISO 8601, as the server reported it.
    pub modified: Option<String>,
}

impl DsFile {
    pub fn is_folder(&self) -> bool {
        self.kind == "folder"
    }

    /// `[datastore] path`
    pub fn datastore_path(&self) -> DatastorePath {
        DatastorePath {
            datastore: self.datastore.clone(),
            path: self.path.clone(),
        }
    }
}

/// What is at `loc`: a folder's content, the files matching a glob, or the one file.
/// With `recursive`, everything below the folder(s) too.
pub async fn ls(
    loc: &DsLocation,
    recursive: bool,
    progress: &dyn Progress,
) -> OpResult<Vec<DsFile>> {
    let (parent, last) = split(&loc.path.path);
    if !loc.path.path.is_empty() && is_glob(last) {
        return search(loc, parent, last, recursive, progress).await;
    }
    match search(loc, &loc.path.path, "*", recursive, progress).await {
        Ok(found) => Ok(found),
        // Not a folder: the file itself, found in its folder.
        Err(e) if !loc.path.path.is_empty() && not_a_folder(&e) => {
            let found = search(loc, parent, last, false, progress).await?;
            if found.is_empty() {
                Err(OpError::NotFound {
                    kind: "datastore file",
                    name: loc.path.to_string(),
                    suggestions: Vec::new(),
                })
            } else {
                Ok(found)
            }
        }
        Err(e) => Err(e),
    }
}

/// The entries a path names (not a folder's content): the one file or folder, or those
/// matching a glob in the last component. Empty when nothing matches.
pub async fn matches(loc: &DsLocation, progress: &dyn Progress) -> OpResult<Vec<DsFile>> {
    let (parent, last) = split(&loc.path.path);
    if loc.path.path.is_empty() {
        return Err(OpError::invalid(format!(
            "{} names a whole datastore, not a file",
            loc.path
        )));
    }
    match search(loc, parent, last, false, progress).await {
        Err(e) if e.fault_name() == Some("FileNotFound") => Ok(Vec::new()),
        other => other,
    }
}

/// What `rm` would delete at `loc`: a refusal when it names a folder and `recursive`
/// was not given, "not found" when nothing matches.
pub async fn removal_targets(
    loc: &DsLocation,
    recursive: bool,
    progress: &dyn Progress,
) -> OpResult<Vec<DatastorePath>> {
    let found = matches(loc, progress).await?;
    if found.is_empty() {
        return Err(OpError::NotFound {
            kind: "datastore file",
            name: loc.path.to_string(),
            suggestions: Vec::new(),
        });
    }
    if let Some(folder) = found.iter().find(|f| f.is_folder() && !recursive) {
        return Err(OpError::refused(
            format!(
                "{} is a folder; nothing was deleted",
                folder.datastore_path()
            ),
            "pass --recursive to delete folders with everything in them",
        ));
    }
    Ok(found.iter().map(DsFile::datastore_path).collect())
}

/// Refused when a file is already at `loc` (an upload replaces only with `force`).
pub async fn check_absent(loc: &DsLocation, progress: &dyn Progress) -> OpResult<()> {
    if matches(loc, progress).await?.is_empty() {
        return Ok(());
    }
    Err(OpError::refused(
        format!("{} already exists; nothing was uploaded", loc.path),
        "pass --force to replace it",
    ))
}

fn not_a_folder(e: &OpError) -> bool {
    matches!(e.fault_name(), Some("FileNotFound" | "InvalidArgument"))
}

async fn search(
    loc: &DsLocation,
    folder: &str,
    pattern: &str,
    recursive: bool,
    progress: &dyn Progress,
) -> OpResult<Vec<DsFile>> {
    let client = loc.endpoint.client().await?;
    let folder_path = DatastorePath {
        datastore: loc.path.datastore.clone(),
        path: folder.to_string(),
    };
    let method = if recursive {
        "SearchDatastoreSubFolders_Task"
    } else {
        "SearchDatastore_Task"
    };
    let mut req = Request::new(method, &loc.browser);
    req.text("datastorePath", folder_path.to_string())
        .nest("searchSpec", None, |s| {
            s.nest("details", None, |d| {
                d.text("fileType", true)
                    .text("fileSize", true)
                    .text("modification", true)
                    .text("fileOwner", false);
            })
            .text("matchPattern", pattern);
        });
    let result = client
        .run_task(req, loc.endpoint.timeouts().task, &|t| progress.task(t))
        .await
        .at(loc.endpoint.name())
        .map_err(|e| not_found(e, &folder_path))?;
    let mut files = Vec::new();
    if let Some(result) = result {
        for folder in result.items() {
            decode_folder(&loc.path.datastore, folder, &mut files);
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

fn decode_folder(datastore: &str, results: &Node, out: &mut Vec<DsFile>) {
    let folder = results
        .text_of("folderPath")
        .and_then(DatastorePath::parse)
        .map(|p| p.path.trim_matches('/').to_string())
        .unwrap_or_default();
    for file in results.children_named("file") {
        let name = file.text_of("path").unwrap_or_default().to_string();
        let file_type = file.xsi_type.clone().unwrap_or_else(|| "FileInfo".into());
        out.push(DsFile {
            datastore: datastore.to_string(),
            path: if folder.is_empty() {
                name.clone()
            } else {
                format!("{folder}/{name}")
            },
            kind: if file_type == "FolderFileInfo" {
                "folder"
            } else {
                "file"
            }
            .into(),
            file_type,
            size: file.i64_at("fileSize").unwrap_or(0).max(0) as u64,
            modified: file.text_of("modification").map(str::to_string),
            name,
        });
    }
}
