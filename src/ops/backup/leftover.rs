//! The snapshot a backup reads from, and the ones killed runs left behind.
//!
//! A backup snapshot is named `ceso-backup-<backup id>` and its description names the
//! process that took it. A snapshot left behind makes the VM's disks grow until it is
//! removed, so every backup first removes such leftovers (and says so) unless the
//! process that owns one is still running on this machine.

use crate::ops::error::{OpError, OpResult};
use crate::ops::progress::Progress;
use crate::ops::snapshots::{self, Snapshot};
use crate::ops::vms::VmRef;

const PREFIX: &str = "ceso-backup-";

pub fn is_backup_snapshot(name: &str) -> bool {
    name.starts_with(PREFIX)
}

pub fn snapshot_name(backup_id: &str) -> String {
    format!("{PREFIX}{backup_id}")
}

/// Description of a backup snapshot: who took it, so another run can tell a live
/// backup from a leftover.
pub fn description() -> String {
    format!(
        "Taken by ceso backup (pid {} on {}); removed when the backup ends. Safe to delete if no backup is running.",
        std::process::id(),
        hostname()
    )
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

/// The pid in a backup snapshot's description, when it was taken on this machine.
fn local_owner(snapshot: &Snapshot) -> Option<u32> {
    let rest = snapshot.description.split("(pid ").nth(1)?;
    let (pid, rest) = rest.split_once(" on ")?;
    let host = rest.split(')').next()?;
    (host == hostname()).then(|| pid.parse().ok()).flatten()
}

fn process_alive(pid: u32) -> bool {
    pid == std::process::id() || std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Remove backup snapshots left by runs that are gone; returns their names. A backup
/// snapshot of a live process on this machine means a backup is running: refused.
pub async fn remove_leftovers(vm: &VmRef, progress: &dyn Progress) -> OpResult<Vec<String>> {
    let all = snapshots::list(vm).await?;
    let ours: Vec<&Snapshot> = all.iter().filter(|s| is_backup_snapshot(&s.name)).collect();
    if let Some(live) = ours
        .iter()
        .find(|s| local_owner(s).is_some_and(process_alive))
    {
        return Err(OpError::refused(
            format!(
                "a backup of {} is already running (snapshot {})",
                vm.name, live.name
            ),
            "wait for it to finish; two backups of one VM at once are refused",
        ));
    }
    let mut removed = Vec::new();
    // Children first, so removing one never re-parents another leftover under us.
    for snapshot in ours.iter().rev() {
        // A step, not a note: the caller reports each removal once, in its notes.
        progress.step(&format!(
            "Removing snapshot {} of {}, left by an interrupted backup",
            snapshot.name, vm.name
        ));
        snapshots::remove(vm, &snapshot.moref(), &snapshot.name, false, progress).await?;
        removed.push(snapshot.name.clone());
    }
    Ok(removed)
}

/// Remove the snapshots called `name` (the one this run took; found by name because an
/// interrupted create may have finished on the server without us learning its id).
pub async fn remove_named(vm: &VmRef, name: &str, progress: &dyn Progress) -> OpResult<bool> {
    let all = snapshots::list(vm).await?;
    let mut found = false;
    for snapshot in all.iter().rev().filter(|s| s.name == name) {
        snapshots::remove(vm, &snapshot.moref(), &snapshot.name, false, progress).await?;
        found = true;
    }
    Ok(found)
}
