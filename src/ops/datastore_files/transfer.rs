//! Uploads and downloads over `/folder` (session cookie). A download goes to
//! `FILE.ceso-part` and is renamed when whole; a later download of the same file resumes
//! it with a Range request, but only when the remote file's size and modification time
//! are still those recorded beside the part (`FILE.ceso-part.json`). Otherwise it starts
//! over: bytes of two versions of a file are never spliced together.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::ops::error::{OpError, OpResult};
use crate::ops::fleet::WithEndpoint;
use crate::ops::progress::Progress;

use super::{DsFile, DsLocation, not_found};

/// One finished download.
#[derive(Debug, Clone, Serialize)]
pub struct Download {
    pub source: String,
    pub local: String,
    pub size: u64,
    /// Bytes already there from an earlier, interrupted download (0: from the start).
    pub resumed_from: u64,
}

/// What a partial download was of, to resume only the same version of the same file.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct PartOf {
    source: String,
    size: u64,
    modified: Option<String>,
}

fn io(what: &Path, e: std::io::Error) -> OpError {
    OpError::Io(format!("{}: {e}", what.display()))
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Download `remote` (a file found by `ls`) to `local`. An existing `local` is replaced
/// only with `force`.
pub async fn download(
    loc: &DsLocation,
    remote: &DsFile,
    local: &Path,
    force: bool,
    progress: &dyn Progress,
) -> OpResult<Download> {
    if local.exists() && !force {
        return Err(OpError::refused(
            format!("{} already exists; nothing was downloaded", local.display()),
            "pass --force to replace it",
        ));
    }
    let source = remote.datastore_path();
    let part = with_suffix(local, ".ceso-part");
    let meta = with_suffix(local, ".ceso-part.json");
    let wanted = PartOf {
        source: source.to_string(),
        size: remote.size,
        modified: remote.modified.clone(),
    };
    let recorded: Option<PartOf> = tokio::fs::read(&meta)
        .await
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let have = tokio::fs::metadata(&part).await.map(|m| m.len()).ok();
    let start = match (recorded, have) {
        (Some(r), Some(len)) if r == wanted && len <= remote.size => len,
        _ => 0,
    };
    if start == 0 {
        let json = serde_json::to_vec(&wanted).map_err(|e| OpError::Io(e.to_string()))?;
        tokio::fs::write(&meta, json)
            .await
            .map_err(|e| io(&meta, e))?;
    }
    let mut file = tokio::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(start == 0)
        .append(start > 0)
        .open(&part)
        .await
        .map_err(|e| io(&part, e))?;
    let mut done = start;
    progress.bytes(done, remote.size);
    if start < remote.size {
        let client = loc.endpoint.client().await?;
        let range = (start > 0).then_some((start, remote.size));
        let mut stream = Box::pin(
            client
                .download(&loc.datacenter_name, &source, range)
                .await
                .at(loc.endpoint.name())
                .map_err(|e| not_found(e, &source))?,
        );
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.at(loc.endpoint.name())?;
            // A server that sends more than the size it listed is not believed.
            if done + chunk.len() as u64 > remote.size {
                return Err(OpError::Io(format!(
                    "{source}: the server sent more than the {} bytes it listed",
                    remote.size
                )));
            }
            file.write_all(&chunk).await.map_err(|e| io(&part, e))?;
            done += chunk.len() as u64;
            progress.bytes(done, remote.size);
        }
    }
    file.sync_all().await.map_err(|e| io(&part, e))?;
    drop(file);
    if done != remote.size {
        return Err(OpError::Io(format!(
            "{source}: got {done} of {} bytes; run the download again to resume",
            remote.size
        )));
    }
    tokio::fs::rename(&part, local)
        .await
        .map_err(|e| io(local, e))?;
    let _ = tokio::fs::remove_file(&meta).await;
    Ok(Download {
        source: source.to_string(),
        local: local.display().to_string(),
        size: remote.size,
        resumed_from: start,
    })
}

/// Upload the local file `local` to `loc` (created or replaced).
pub async fn upload(loc: &DsLocation, local: &Path, progress: &dyn Progress) -> OpResult<u64> {
    let mut file = tokio::fs::File::open(local)
        .await
        .map_err(|e| io(local, e))?;
    let size = file.metadata().await.map_err(|e| io(local, e))?.len();
    let client = loc.endpoint.client().await?;
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(8);
    let body = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let read = async {
        let mut sent = 0u64;
        progress.bytes(0, size);
        loop {
            let mut buf = vec![0u8; 1 << 20];
            let n = match file.read(&mut buf).await {
                Ok(n) => n,
                Err(e) => {
                    let _ = tx.send(Err(std::io::Error::other("read failed"))).await;
                    return Err(io(local, e));
                }
            };
            if n == 0 || sent + n as u64 > size {
                break;
            }
            buf.truncate(n);
            sent += n as u64;
            if tx.send(Ok(Bytes::from(buf))).await.is_err() {
                break;
            }
            progress.bytes(sent, size);
        }
        drop(tx);
        Ok(sent)
    };
    let write = client.upload(&loc.datacenter_name, &loc.path, size, body);
    let (read, write) = tokio::join!(read, write);
    let sent = read?;
    write.at(loc.endpoint.name())?;
    if sent != size {
        return Err(OpError::Io(format!(
            "{}: changed while it was uploaded ({sent} of {size} bytes sent)",
            local.display()
        )));
    }
    Ok(size)
}
