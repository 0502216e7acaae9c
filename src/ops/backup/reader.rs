//! Reading disk extents over datastore HTTP (Range requests) into the repository writer,
//! paced by `--max-rate` and reported as bytes moved. A stalled or truncated download is
//! an error, never a hang and never a short disk.

use std::time::Duration;

use futures::StreamExt;

use crate::backup_repo::Extent;
use crate::ops::error::{OpError, OpResult};
use crate::ops::fleet::WithEndpoint;
use crate::ops::progress::Progress;
use crate::vim::{Client, DatastorePath};

use super::throttle::Throttle;
use super::writer::RepoWriter;

/// One file on a datastore, read by ranges.
pub struct Source<'a> {
    pub client: &'a Client,
    pub endpoint: &'a str,
    pub datacenter: &'a str,
    pub file: &'a DatastorePath,
    /// Longest wait for the next bytes of a download.
    pub idle: Duration,
}

/// Bytes moved so far out of the total planned, and the pacing shared by all disks.
pub struct Transfer<'a> {
    pub throttle: Throttle,
    pub progress: &'a dyn Progress,
    pub done: u64,
    pub total: u64,
}

/// Copy `extent` of `source` into the disk being written.
pub async fn copy_range(
    source: &Source<'_>,
    extent: Extent,
    writer: &RepoWriter,
    transfer: &mut Transfer<'_>,
) -> OpResult<()> {
    writer.begin_range(extent).await?;
    let stream = source
        .client
        .download(
            source.datacenter,
            source.file,
            Some((extent.offset, extent.end())),
        )
        .await
        .at(source.endpoint)?;
    futures::pin_mut!(stream);
    let mut received = 0u64;
    loop {
        let next = tokio::time::timeout(source.idle, stream.next())
            .await
            .map_err(|_| {
                OpError::Io(format!(
                    "reading {} stalled: no data for {}s at offset {}",
                    source.file,
                    source.idle.as_secs(),
                    extent.offset + received
                ))
            })?;
        let Some(bytes) = next else { break };
        let bytes = bytes.at(source.endpoint)?;
        received += bytes.len() as u64;
        if received > extent.len {
            return Err(OpError::Io(format!(
                "reading {} {extent}: the server sent more bytes than asked for",
                source.file
            )));
        }
        transfer.done += bytes.len() as u64;
        transfer.progress.bytes(transfer.done, transfer.total);
        transfer.throttle.consume(bytes.len() as u64).await;
        writer.data(bytes).await?;
    }
    if received != extent.len {
        return Err(OpError::Io(format!(
            "reading {} {extent}: the download ended after {received} of {} bytes",
            source.file, extent.len
        )));
    }
    writer.end_range().await
}

/// A whole small file (descriptor, .vmx) in memory.
pub async fn read_small(source: &Source<'_>, limit: usize) -> OpResult<Vec<u8>> {
    let stream = source
        .client
        .download(source.datacenter, source.file, None)
        .await
        .at(source.endpoint)?;
    futures::pin_mut!(stream);
    let mut out = Vec::new();
    loop {
        let next = tokio::time::timeout(source.idle, stream.next())
            .await
            .map_err(|_| OpError::Io(format!("reading {} stalled", source.file)))?;
        let Some(bytes) = next else { return Ok(out) };
        out.extend_from_slice(&bytes.at(source.endpoint)?);
        if out.len() > limit {
            return Err(OpError::Io(format!(
                "{} is larger than {limit} bytes; is it the right file?",
                source.file
            )));
        }
    }
}
