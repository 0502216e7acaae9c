//! What a backup will do, decided before anything changes: hot or cold, quiesced or
//! not, whether CBT must be turned on, which earlier backup an incremental builds on —
//! and, once the snapshot exists, how each disk is read.

use serde::Serialize;

use crate::backup_repo::{
    self as engine, BackupKind, BackupMode, DiskMap, Extent, Manifest, Repository,
};
use crate::config::schema::HotBackup;
use crate::ops::error::{OpError, OpResult};
use crate::ops::fleet::WithEndpoint;
use crate::ops::inventory;
use crate::ops::vms::{self, VmInfo, VmRef};
use crate::vim::{Client, DatastorePath, MoRef, Node};

use super::BackupOptions;
use super::cbt;
use super::repo::repo_error;

/// The VM as a backup needs it.
pub struct VmFacts {
    pub info: VmInfo,
    pub firmware: String,
    pub datacenter: String,
    /// How the repository knows the VM (backups are grouped by its instance UUID).
    pub identity: engine::VmInfo,
}

pub async fn facts(vm: &VmRef) -> OpResult<VmFacts> {
    let endpoint = vm.endpoint.name();
    let client = vm.endpoint.client().await?;
    let info = vms::info(vm).await?;
    let firmware = client
        .properties(&vm.moref, &["config.firmware"])
        .await
        .at(endpoint)?
        .str("config.firmware")
        .unwrap_or_default()
        .to_string();
    let (_, datacenter) = inventory::datacenter_of(&client, &vm.moref)
        .await
        .at(endpoint)?;
    let uuid = if info.instance_uuid.is_empty() {
        &info.uuid
    } else {
        &info.instance_uuid
    };
    let identity = engine::VmInfo {
        name: info.name.clone(),
        uuid: uuid.clone(),
        moref: vm.moref.value.clone(),
        endpoint: endpoint.to_string(),
    };
    Ok(VmFacts {
        info,
        firmware,
        datacenter,
        identity,
    })
}

/// The choices made before the snapshot.
pub struct Decision {
    pub mode: BackupMode,
    pub quiesce: bool,
    /// CBT is used to read less (config `cbt_enabled`).
    pub use_cbt: bool,
    /// CBT is off on the VM and must be turned on first.
    pub enable_cbt: bool,
    pub kind: BackupKind,
    /// The backup an incremental builds on.
    pub parent: Option<Manifest>,
    pub notes: Vec<String>,
}

pub fn decide(
    facts: &VmFacts,
    settings: &HotBackup,
    options: &BackupOptions,
    repo: Option<&Repository>,
) -> OpResult<Decision> {
    let name = &facts.info.name;
    let running = facts.info.power_state == "poweredOn";
    let mut notes = Vec::new();
    if running && !options.hot {
        return Err(OpError::refused(
            format!("{name} is running; a backup of a running VM reads it from a snapshot"),
            format!(
                "pass --hot to back it up while it runs, or stop it first (`ceso vm stop {name}`)"
            ),
        ));
    }
    if running && !settings.enabled {
        return Err(OpError::refused(
            format!("hot backups are disabled in the config; {name} is running"),
            "set hot_backup.enabled: true, or stop the VM for a cold backup",
        ));
    }
    let mode = if running {
        BackupMode::Hot
    } else {
        BackupMode::Cold
    };
    let wanted_quiesce = options
        .quiesce
        .or_else(|| settings.vms.get(name).and_then(|v| v.quiesce))
        .unwrap_or(settings.default_quiesce);
    let quiesce = wanted_quiesce && running;
    if wanted_quiesce && !running && options.quiesce == Some(true) {
        notes.push(format!("{name} is not running: nothing to quiesce"));
    }
    let use_cbt = settings.cbt_enabled;
    let enable_cbt = use_cbt && !facts.info.change_tracking;
    let parent = match repo {
        Some(repo) if use_cbt && !options.full && facts.info.change_tracking => {
            latest_backup(repo, &facts.identity)?
        }
        _ => None,
    };
    // Incremental when some disk's change tracking still runs in the epoch the parent
    // recorded (a CBT reset starts a new epoch: that disk is read whole again).
    let parent = parent.filter(|p| {
        facts.info.disks.iter().any(|d| {
            let parent_disk = i32::try_from(d.key).ok().and_then(|key| p.disk(key));
            parent_disk.is_some_and(|pd| {
                pd.change_id
                    .as_deref()
                    .is_some_and(|since| same_epoch(since, &d.change_id))
                    && u64::try_from(d.capacity_bytes).unwrap_or(0) >= pd.capacity()
            })
        })
    });
    Ok(Decision {
        mode,
        quiesce,
        use_cbt,
        enable_cbt,
        kind: if parent.is_some() {
            BackupKind::Incremental
        } else {
            BackupKind::Full
        },
        parent,
        notes,
    })
}

/// The newest backup of this VM: same endpoint and UUID (a copy of the VM elsewhere,
/// with the same UUID, has other disks).
fn latest_backup(repo: &Repository, vm: &engine::VmInfo) -> OpResult<Option<Manifest>> {
    let listing = repo.list(Some(&vm.uuid)).map_err(repo_error)?;
    match listing.backups.iter().rev().find(|b| b.vm.same_vm(vm)) {
        Some(last) => repo.load(&last.id).map(Some).map_err(repo_error),
        None => Ok(None),
    }
}

/// Whether two changeIds (`<tracking uuid>/<sequence>`) belong to one tracking epoch:
/// only then can the older be compared with the newer.
fn same_epoch(older: &str, newer: &str) -> bool {
    match (older.rsplit_once('/'), newer.rsplit_once('/')) {
        (Some((a, _)), Some((b, _))) => !a.is_empty() && a == b,
        _ => false,
    }
}

/// How one disk is read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "method")]
pub enum ReadMethod {
    /// Only the areas CBT reports changed since the parent's changeId.
    Changed { since: String },
    /// The areas CBT reports allocated (a full backup of a tracked disk).
    Allocated,
    /// The whole flat file.
    Whole,
}

/// One disk of the snapshot, with what to read.
pub struct DiskPlan {
    pub key: i32,
    pub label: String,
    pub descriptor: DatastorePath,
    pub extent: DatastorePath,
    pub capacity: u64,
    /// The snapshot's changeId (kept for the next incremental).
    pub change_id: Option<String>,
    pub method: ReadMethod,
    pub ranges: Vec<Extent>,
    pub parent: Option<DiskMap>,
}

/// A disk device of the snapshot, before its extent file is known.
pub struct SnapshotDisk {
    pub key: i32,
    pub label: String,
    pub descriptor: DatastorePath,
    pub capacity: u64,
    pub change_id: Option<String>,
}

impl SnapshotDisk {
    pub fn from_device(device: &Node) -> OpResult<SnapshotDisk> {
        let d = vms::info::disk(device);
        let descriptor = DatastorePath::parse(&d.file).ok_or_else(|| {
            OpError::refused(
                format!("disk {} is not backed by a datastore file ({})", d.label, d.file),
                "raw device mappings and other non-file disks cannot be backed up over datastore HTTP",
            )
        })?;
        let key = i32::try_from(d.key)
            .map_err(|_| OpError::invalid(format!("disk key {} is out of range", d.key)))?;
        Ok(SnapshotDisk {
            key,
            label: d.label,
            descriptor,
            capacity: u64::try_from(d.capacity_bytes).unwrap_or(0),
            change_id: Some(d.change_id).filter(|c| !c.is_empty()),
        })
    }
}

/// A disk's flat extent on the datastore and its size.
pub struct FlatFile {
    pub path: DatastorePath,
    pub size: u64,
}

/// What to read of one disk. CBT answers that fail (tracking reset, file gone) fall back
/// to reading more, with a note: never to reading less.
pub async fn plan_disk(
    client: &Client,
    vm: &MoRef,
    snapshot: &MoRef,
    disk: SnapshotDisk,
    extent: FlatFile,
    decision: &Decision,
    notes: &mut Vec<String>,
) -> OpResult<DiskPlan> {
    let parent_disk = decision.parent.as_ref().and_then(|p| p.disk(disk.key));
    let mut method = match (&disk.change_id, parent_disk) {
        (Some(now), Some(pd))
            if decision.kind == BackupKind::Incremental && pd.capacity() <= disk.capacity =>
        {
            match pd.change_id.as_deref() {
                Some(since) if same_epoch(since, now) => ReadMethod::Changed {
                    since: since.to_string(),
                },
                _ => ReadMethod::Allocated,
            }
        }
        (Some(_), _) if decision.use_cbt => ReadMethod::Allocated,
        (None, _) if decision.use_cbt => {
            // Tracking is on but this disk reports nothing to compare with: say why a
            // whole read happens instead of an incremental one.
            notes.push(format!(
                "{}: CBT: no changeId reported by the host; reading all of the disk's data",
                disk.label
            ));
            ReadMethod::Whole
        }
        _ => ReadMethod::Whole,
    };
    // The flat file may be shorter than the disk: the rest reads as zeros.
    let readable = extent.size.min(disk.capacity);
    let whole = || {
        if readable > 0 {
            vec![Extent::new(0, readable)]
        } else {
            Vec::new()
        }
    };
    let ranges = match &method {
        ReadMethod::Whole => whole(),
        ReadMethod::Changed { since } => {
            match cbt::changed_areas(client, vm, Some(snapshot), disk.key, disk.capacity, since)
                .await
            {
                Ok(areas) => areas,
                Err(e) => {
                    notes.push(format!(
                        "{}: CBT could not list changes ({e}); reading the whole disk",
                        disk.label
                    ));
                    method = ReadMethod::Whole;
                    whole()
                }
            }
        }
        ReadMethod::Allocated => {
            match cbt::changed_areas(client, vm, Some(snapshot), disk.key, disk.capacity, "*").await
            {
                Ok(areas) => areas,
                Err(e) => {
                    notes.push(format!(
                        "{}: CBT could not list allocated areas ({e}); reading the whole disk",
                        disk.label
                    ));
                    method = ReadMethod::Whole;
                    whole()
                }
            }
        }
    };
    let parent = match method {
        ReadMethod::Changed { .. } => parent_disk.map(|pd| pd.map.clone()),
        _ => None,
    };
    Ok(DiskPlan {
        key: disk.key,
        label: disk.label,
        descriptor: disk.descriptor,
        extent: extent.path,
        capacity: disk.capacity,
        change_id: disk.change_id,
        method,
        ranges,
        parent,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_ids_compare_within_one_epoch_only() {
        let a = "52 3c 1f 0a 9b 2d 4e 5f-6a 7b 8c 9d ae bf c0 d1/3";
        let b = "52 3c 1f 0a 9b 2d 4e 5f-6a 7b 8c 9d ae bf c0 d1/7";
        let reset = "52 00 1f 0a 9b 2d 4e 5f-6a 7b 8c 9d ae bf c0 d1/1";
        assert!(same_epoch(a, b));
        assert!(!same_epoch(a, reset));
        assert!(!same_epoch("", b));
        assert!(!same_epoch("*", b));
    }
}
