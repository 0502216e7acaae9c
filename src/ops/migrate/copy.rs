//! Copying one datastore file between endpoints over datastore HTTP: the download from
//! the source streams straight into the upload to the target (no local copy), hashed
//! as it passes; then the target's copy is read back and hashed again. A file counts as
//! copied only when both hashes and sizes agree.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use futures::StreamExt;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::ops::error::{OpError, OpResult};
use crate::ops::fleet::WithEndpoint;
use crate::vim::{Client, DatastorePath};

use super::journal::Verified;

/// One end of a copy: an endpoint's datacenter and a file in it.
pub struct Side<'a> {
    pub client: &'a Client,
    pub endpoint: &'a str,
    pub datacenter: &'a str,
    pub file: &'a DatastorePath,
}

/// Stream `from` into `to`; `moved` counts bytes as they pass (for progress).
pub async fn copy(from: &Side<'_>, to: &Side<'_>, moved: &Arc<AtomicU64>) -> OpResult<Verified> {
    let size = from
        .client
        .file_size(from.datacenter, from.file)
        .await
        .at(from.endpoint)?
        .ok_or_else(|| {
            OpError::Io(format!(
                "{} vanished from {} during the migration",
                from.file, from.endpoint
            ))
        })?;
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(8);
    let body = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let read = async {
        let mut hasher = Sha256::new();
        let mut seen = 0u64;
        let mut stream = match from.client.download(from.datacenter, from.file, None).await {
            Ok(s) => Box::pin(s),
            Err(e) => {
                let _ = tx
                    .send(Err(std::io::Error::other("source unreadable")))
                    .await;
                return Err(OpError::vim(from.endpoint, e));
            }
        };
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(bytes) => {
                    hasher.update(&bytes);
                    seen += bytes.len() as u64;
                    moved.fetch_add(bytes.len() as u64, Ordering::Relaxed);
                    if tx.send(Ok(bytes)).await.is_err() {
                        // The upload ended early: its error is the one to report.
                        return Ok((seen, String::new()));
                    }
                }
                Err(e) => {
                    let _ = tx
                        .send(Err(std::io::Error::other("source read failed")))
                        .await;
                    return Err(OpError::vim(from.endpoint, e));
                }
            }
        }
        Ok((seen, hex::encode(hasher.finalize())))
    };
    let write = to.client.upload(to.datacenter, to.file, size, body);
    let (read, write) = tokio::join!(read, write);
    // A broken source is the cause when both fail.
    let (seen, sha256) = read?;
    write.at(to.endpoint)?;
    if seen != size {
        return Err(OpError::Io(format!(
            "{}: read {seen} of {size} bytes from {}",
            from.file, from.endpoint
        )));
    }
    let back = hash(to).await?;
    if back.size != size || back.sha256 != sha256 {
        return Err(OpError::Io(format!(
            "{} on {} does not match the source after the copy ({} bytes, sha256 {}; source {size} bytes, sha256 {sha256})",
            to.file, to.endpoint, back.size, back.sha256
        )));
    }
    Ok(back)
}

/// Size and SHA-256 of a datastore file, read through.
pub async fn hash(side: &Side<'_>) -> OpResult<Verified> {
    let mut stream = Box::pin(
        side.client
            .download(side.datacenter, side.file, None)
            .await
            .at(side.endpoint)?,
    );
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    while let Some(chunk) = stream.next().await {
        let bytes = chunk.at(side.endpoint)?;
        hasher.update(&bytes);
        size += bytes.len() as u64;
    }
    Ok(Verified {
        size,
        sha256: hex::encode(hasher.finalize()),
    })
}
