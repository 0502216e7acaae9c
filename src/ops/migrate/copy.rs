//! Copying one datastore file between endpoints over datastore HTTP: the download from
//! the source streams straight into the upload to the target (no local copy), hashed
//! as it passes; then the target's copy is read back and hashed again. A file counts as
//! copied only when both hashes and sizes agree.
//!
//! The hash is a hash list: SHA-256 over the SHA-256s of the file's 8 MiB chunks. The
//! read-back then fetches several chunks at once with Range requests and hashes them on
//! as many threads, which a single SHA-256 over the whole file cannot do.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::ops::backup::throttle::Throttle;
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
/// Where a copy's time went.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timing {
    /// Download streamed into the upload.
    pub transfer: std::time::Duration,
    /// The target's copy read back and hashed.
    pub verify: std::time::Duration,
}

pub async fn copy(
    from: &Side<'_>,
    to: &Side<'_>,
    moved: &Arc<AtomicU64>,
    timing: &mut Timing,
) -> OpResult<Verified> {
    copy_paced(from, to, moved, timing, None).await
}

/// `copy`, its reads paced by `pace` (`--max-rate`) chunk by chunk.
pub async fn copy_paced(
    from: &Side<'_>,
    to: &Side<'_>,
    moved: &Arc<AtomicU64>,
    timing: &mut Timing,
    pace: Option<&Throttle>,
) -> OpResult<Verified> {
    let started = std::time::Instant::now();
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
    let read = |tx: Chunks| async move {
        let mut hasher = ChunkHasher::new();
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
                    if let Some(pace) = pace {
                        pace.consume(bytes.len() as u64).await;
                    }
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
        Ok((seen, combine(&hasher.finish())))
    };
    let (seen, sha256) = upload(to, size, read).await?;
    if seen != size {
        return Err(OpError::Io(format!(
            "{}: read {seen} of {size} bytes from {}",
            from.file, from.endpoint
        )));
    }
    let verifying = std::time::Instant::now();
    timing.transfer += verifying - started;
    let back = check_sent(to, size, &sha256, "the source after the copy").await;
    timing.verify += verifying.elapsed();
    back
}

/// Where a file's bytes go on their way to an upload.
pub(super) type Chunks = mpsc::Sender<Result<Bytes, std::io::Error>>;

/// Upload `size` bytes to `to` as `read` sends them into the channel it is given;
/// `read` answers how many bytes it sent and their hash list. A broken source is the
/// cause when both ends fail.
pub(super) async fn upload<F, Fut>(to: &Side<'_>, size: u64, read: F) -> OpResult<(u64, String)>
where
    F: FnOnce(Chunks) -> Fut,
    Fut: std::future::Future<Output = OpResult<(u64, String)>>,
{
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(8);
    let body = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let write = to.client.upload(to.datacenter, to.file, size, body);
    let (read, write) = tokio::join!(read(tx), write);
    let sent = read?;
    write.at(to.endpoint)?;
    Ok(sent)
}

/// Read `to` back: it must hold the `size` bytes hashed as `sha256` as they were sent.
/// `sent` names what they came from, for the error.
pub(super) async fn check_sent(
    to: &Side<'_>,
    size: u64,
    sha256: &str,
    sent: &str,
) -> OpResult<Verified> {
    let back = hash(to).await?;
    if back.size != size || back.sha256 != sha256 {
        return Err(OpError::Io(format!(
            "{} on {} does not match {sent} ({} bytes, sha256 {}; sent {size} bytes, sha256 {sha256})",
            to.file, to.endpoint, back.size, back.sha256
        )));
    }
    Ok(back)
}

/// Chunks of the hash list.
pub const CHUNK: u64 = 8 << 20;
/// Chunks read back at once.
const PARALLEL_READS: usize = 4;

/// Size and hash list of a datastore file, read back in chunks, several at a time; in
/// one sequential read when the server does not honour byte ranges.
pub async fn hash(side: &Side<'_>) -> OpResult<Verified> {
    match hash_ranges(side).await {
        Err(e) if e.to_string().contains("ignored the byte range") => hash_through(side).await,
        other => other,
    }
}

async fn hash_through(side: &Side<'_>) -> OpResult<Verified> {
    let mut stream = Box::pin(
        side.client
            .download(side.datacenter, side.file, None)
            .await
            .at(side.endpoint)?,
    );
    let mut hasher = ChunkHasher::new();
    let mut size = 0u64;
    while let Some(bytes) = stream.next().await {
        let bytes = bytes.at(side.endpoint)?;
        size += bytes.len() as u64;
        hasher.update(&bytes);
    }
    Ok(Verified {
        size,
        sha256: combine(&hasher.finish()),
    })
}

async fn hash_ranges(side: &Side<'_>) -> OpResult<Verified> {
    let size = side
        .client
        .file_size(side.datacenter, side.file)
        .await
        .at(side.endpoint)?
        .ok_or_else(|| OpError::Io(format!("{} is missing on {}", side.file, side.endpoint)))?;
    let chunks = size.div_ceil(CHUNK).max(1);
    let digests: Vec<[u8; 32]> = futures::stream::iter(0..chunks)
        .map(|i| {
            let start = i * CHUNK;
            let end = (start + CHUNK).min(size);
            async move {
                if end == start {
                    return Ok((0, Sha256::digest(b"").into()));
                }
                let range = (i > 0 || end < size).then_some((start, end));
                let mut stream = Box::pin(
                    side.client
                        .download(side.datacenter, side.file, range)
                        .await
                        .at(side.endpoint)?,
                );
                let mut hasher = Sha256::new();
                let mut got = 0u64;
                while let Some(bytes) = stream.next().await {
                    let bytes = bytes.at(side.endpoint)?;
                    got += bytes.len() as u64;
                    hasher.update(&bytes);
                }
                if got != end - start {
                    return Err(OpError::Io(format!(
                        "{} on {}: read {got} bytes of the range {start}-{end}",
                        side.file, side.endpoint
                    )));
                }
                Ok((got, hasher.finalize().into()))
            }
        })
        .buffered(PARALLEL_READS)
        .map(|r: OpResult<(u64, [u8; 32])>| r.map(|(_, d)| d))
        .try_collect()
        .await?;
    Ok(Verified {
        size,
        sha256: combine(&digests),
    })
}

/// SHA-256 of the chunks' SHA-256s, in hex.
pub(super) fn combine(digests: &[[u8; 32]]) -> String {
    let mut list = Sha256::new();
    for d in digests {
        list.update(d);
    }
    hex::encode(list.finalize())
}

/// SHA-256 per `CHUNK` bytes of a stream.
pub(super) struct ChunkHasher {
    chunk: u64,
    current: Sha256,
    filled: u64,
    done: Vec<[u8; 32]>,
}

impl ChunkHasher {
    pub(super) fn new() -> Self {
        Self::of(CHUNK)
    }

    fn of(chunk: u64) -> Self {
        Self {
            chunk,
            current: Sha256::new(),
            filled: 0,
            done: Vec::new(),
        }
    }

    pub(super) fn update(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let room = usize::try_from(self.chunk - self.filled).unwrap_or(usize::MAX);
            let n = room.min(data.len());
            self.current.update(&data[..n]);
            self.filled += n as u64;
            data = &data[n..];
            if self.filled == self.chunk {
                let full = std::mem::replace(&mut self.current, Sha256::new());
                self.done.push(full.finalize().into());
                self.filled = 0;
            }
        }
    }

    pub(super) fn finish(mut self) -> Vec<[u8; 32]> {
        if self.filled > 0 || self.done.is_empty() {
            self.done.push(self.current.finalize().into());
        }
        self.done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same bytes fed in any split give the chunk digests of the whole.
    #[test]
    fn chunk_hashes_do_not_depend_on_how_the_stream_is_split() {
        const C: u64 = 4096;
        let data: Vec<u8> = (0..(C as usize * 2 + 123))
            .map(|i| (i % 251) as u8)
            .collect();
        let mut whole = ChunkHasher::of(C);
        whole.update(&data);
        let whole = whole.finish();
        assert_eq!(whole.len(), 3);
        let mut pieces = ChunkHasher::of(C);
        for piece in data.chunks(1_000) {
            pieces.update(piece);
        }
        assert_eq!(pieces.finish(), whole);
        let first: [u8; 32] = Sha256::digest(&data[..C as usize]).into();
        assert_eq!(whole[0], first);
        assert_ne!(combine(&whole), combine(&whole[..2]));
    }

    #[test]
    fn an_empty_file_has_one_empty_chunk() {
        let empty: [u8; 32] = Sha256::digest(b"").into();
        assert_eq!(ChunkHasher::new().finish(), vec![empty]);
    }
}
