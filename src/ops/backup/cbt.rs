//! Changed Block Tracking: turning it on, and asking which areas of a disk changed.
//!
//! CBT must be on before the snapshot a backup reads; the snapshot then carries a
//! changeId per disk, which the next backup passes to QueryChangedDiskAreas. The answer
//! covers part of the disk at a time: ask again from `startOffset + length` until the
//! capacity is reached. `changeId = "*"` lists the allocated areas instead.

use std::time::Duration;

use crate::backup_repo::Extent;
use crate::vim::{self, Client, MoRef, Request};

/// Turn change tracking on (ReconfigVM_Task). It takes effect at the next snapshot.
pub async fn enable(
    client: &Client,
    vm: &MoRef,
    timeout: Duration,
    progress: vim::ProgressFn<'_>,
) -> Result<(), vim::Error> {
    let mut req = Request::new("ReconfigVM_Task", vm);
    req.nest("spec", None, |r| {
        r.text("changeTrackingEnabled", true);
    });
    client.run_task(req, timeout, progress).await?;
    Ok(())
}

/// Areas of disk `key` that changed between `change_id` (or `*`: that are allocated) and
/// `snapshot`, as sorted, non-overlapping extents within `[0, capacity)`. No snapshot:
/// against the disk as it is, which ESXi answers only for a powered-off VM.
pub async fn changed_areas(
    client: &Client,
    vm: &MoRef,
    snapshot: Option<&MoRef>,
    key: i32,
    capacity: u64,
    change_id: &str,
) -> Result<Vec<Extent>, vim::Error> {
    let mut extents: Vec<Extent> = Vec::new();
    let mut start = 0u64;
    while start < capacity {
        let mut req = Request::new("QueryChangedDiskAreas", vm);
        if let Some(snapshot) = snapshot {
            req.moref("snapshot", snapshot);
        }
        req.text("deviceKey", key)
            .text("startOffset", start)
            .text("changeId", change_id);
        let info = client
            .call_returnval(req)
            .await?
            .ok_or_else(|| vim::Error::Decode("QueryChangedDiskAreas returned nothing".into()))?;
        let number = |node: &vim::Node, field: &str| {
            node.i64_at(field)
                .and_then(|v| u64::try_from(v).ok())
                .ok_or_else(|| {
                    vim::Error::Decode(format!("QueryChangedDiskAreas: bad or missing {field}"))
                })
        };
        let answered_from = number(&info, "startOffset")?;
        let length = number(&info, "length")?;
        for area in info.children_named("changedArea") {
            let extent = Extent::new(number(area, "start")?, number(area, "length")?);
            let in_order = extents
                .last()
                .is_none_or(|last| extent.offset >= last.end());
            if extent.len == 0 || !in_order || extent.end() > capacity {
                return Err(vim::Error::Decode(format!(
                    "QueryChangedDiskAreas returned the area {extent}, out of order or beyond the disk's {capacity} bytes"
                )));
            }
            extents.push(extent);
        }
        let next = answered_from.saturating_add(length);
        if next <= start {
            // An answer that covers nothing would make this loop forever.
            return Err(vim::Error::Decode(format!(
                "QueryChangedDiskAreas made no progress at offset {start} of disk {key}"
            )));
        }
        start = next;
    }
    Ok(extents)
}
