//! One warm-migration round of a disk on the wire: the changed areas of the source's
//! flat extent, read with byte ranges, go to the target as one vmfsSparse delta
//! (`delta_disk`) uploaded whole, hashed as it is sent; the delta is then read back and
//! hashed again. The round counts only when both agree: what the target holds is then
//! the source's blocks at those areas.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use futures::StreamExt;

use crate::backup_repo::Extent;
use crate::ops::backup::throttle::Throttle;
use crate::ops::error::{OpError, OpResult};

use super::copy::{self, ChunkHasher, Chunks, Side, Timing};
use super::delta_disk::DeltaLayout;
use super::journal::Verified;

/// Most bytes one ranged read asks for, so that a huge extent streams in pieces.
const RANGE: u64 = 8 << 20;

/// Upload to `to` the delta of a `capacity`-byte disk holding the bytes of `extents`
/// of `from` (the source's flat extent); `moved` counts data bytes as they pass, `pace`
/// (`--max-rate`) paces them chunk by chunk, `timing` gets the upload's and the
/// read-back's time.
pub async fn copy_delta(
    from: &Side<'_>,
    to: &Side<'_>,
    capacity: u64,
    extents: &[Extent],
    moved: &Arc<AtomicU64>,
    pace: Option<&Throttle>,
    timing: &mut Timing,
) -> OpResult<Verified> {
    let started = std::time::Instant::now();
    let layout = DeltaLayout::new(capacity, extents);
    let size = layout.file_len();
    let read = |tx: Chunks| async move {
        let mut hasher = ChunkHasher::new();
        let mut seen = 0u64;
        let metadata = Bytes::from(layout.metadata());
        hasher.update(&metadata);
        seen += metadata.len() as u64;
        if tx.send(Ok(metadata)).await.is_err() {
            return Ok((seen, String::new()));
        }
        for e in layout.extents() {
            let mut at = e.offset;
            while at < e.end() {
                let end = (at + RANGE).min(e.end());
                let mut stream = match from
                    .client
                    .download(from.datacenter, from.file, Some((at, end)))
                    .await
                {
                    Ok(s) => Box::pin(s),
                    Err(err) => {
                        let _ = tx
                            .send(Err(std::io::Error::other("source unreadable")))
                            .await;
                        return Err(OpError::vim(from.endpoint, err));
                    }
                };
                let mut got = 0u64;
                while let Some(chunk) = stream.next().await {
                    let bytes = match chunk {
                        Ok(b) => b,
                        Err(err) => {
                            let _ = tx
                                .send(Err(std::io::Error::other("source read failed")))
                                .await;
                            return Err(OpError::vim(from.endpoint, err));
                        }
                    };
                    // A server sending more than the range asked for must not shift
                    // every later grain.
                    let take = bytes
                        .len()
                        .min(usize::try_from(end - at - got).unwrap_or(usize::MAX));
                    let bytes = bytes.slice(..take);
                    got += take as u64;
                    hasher.update(&bytes);
                    seen += take as u64;
                    moved.fetch_add(take as u64, Ordering::Relaxed);
                    if let Some(pace) = pace {
                        pace.consume(take as u64).await;
                    }
                    if tx.send(Ok(bytes)).await.is_err() {
                        return Ok((seen, String::new()));
                    }
                }
                if got != end - at {
                    let _ = tx
                        .send(Err(std::io::Error::other("short source read")))
                        .await;
                    return Err(OpError::Io(format!(
                        "{}: {got} of the {} bytes at offset {at} came from {}",
                        from.file,
                        end - at,
                        from.endpoint
                    )));
                }
                at = end;
            }
        }
        Ok((seen, copy::combine(&hasher.finish())))
    };
    let (seen, sha256) = copy::upload(to, size, read).await?;
    if seen != size {
        return Err(OpError::Io(format!(
            "{}: sent {seen} of the delta's {size} bytes to {}",
            to.file, to.endpoint
        )));
    }
    let verifying = std::time::Instant::now();
    timing.transfer += verifying - started;
    let back = copy::check_sent(to, size, &sha256, "the delta that was sent").await;
    timing.verify += verifying.elapsed();
    back
}
