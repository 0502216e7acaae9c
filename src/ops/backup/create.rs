//! `backup create`: decide, run pre-hooks, snapshot, read the frozen disks into the
//! repository, commit the manifest, remove the snapshot, run post-hooks.
//!
//! The snapshot is removed on every path — success, error, or cancellation (Ctrl-C,
//! SIGTERM): the reading half runs inside a `select!` against the cancel signal and the
//! removal runs after it, whatever it returned. A process killed outright leaves the
//! snapshot behind; the next backup of the VM removes it (see `leftover`).

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

use crate::backup_repo::{BackupMeta, BackupMode, DiskInfo, DiskWriteStats, Manifest};
use crate::config::schema::HotBackup;
use crate::ops::error::{OpError, OpResult};
use crate::ops::fleet::WithEndpoint;
use crate::ops::progress::Progress;
use crate::ops::snapshots::{self, SnapshotSpec};
use crate::ops::vms::VmRef;
use crate::ops::vms::info::device_kind;
use crate::vim::client::AbortOnDrop;
use crate::vim::{Client, DatastorePath, MoRef, Node};

use super::hooks::{self, HookContext, HookPhase, HookResult, HookRunner, HookVm};
use super::layout::{LAYOUT_FILE, VMX_FILE, VmLayout};
use super::plan::{self, Decision, DiskPlan, FlatFile, ReadMethod, SnapshotDisk, VmFacts};
use super::reader::{self, Source, Transfer};
use super::repo::{self, BackupSummary, repo_error};
use super::throttle::Throttle;
use super::writer::RepoWriter;
use super::{BackupOptions, descriptor, leftover};

/// How one disk was read.
#[derive(Debug, Clone, Serialize)]
pub struct DiskRead {
    pub key: i32,
    pub label: String,
    pub capacity: u64,
    #[serde(flatten)]
    pub method: ReadMethod,
    /// Ranges requested from the datastore.
    pub ranges: usize,
    pub bytes_read: u64,
    /// Bytes of the parent backup re-read from the repository to complete chunks.
    pub bytes_from_parent: u64,
    /// Compressed bytes new to the repository.
    pub bytes_new: u64,
    pub chunks_new: u64,
    pub change_id: Option<String>,
}

/// What `backup create` prints: the new backup and how it was made.
#[derive(Debug, Clone, Serialize)]
pub struct BackupRecord {
    #[serde(flatten)]
    pub backup: BackupSummary,
    pub repository: PathBuf,
    /// The snapshot the disks were read from (removed since).
    pub snapshot: String,
    pub disks_read: Vec<DiskRead>,
    /// Time from the first disk read to the committed manifest (the data phase, without
    /// snapshot and hooks): `bytes_read` over this is the backup's throughput.
    pub read_ms: u64,
    /// Things the user should know (leftovers removed, CBT enabled, fallbacks, hook failures).
    pub notes: Vec<String>,
}

/// What the part of a backup that runs under the snapshot produced.
struct Done {
    manifest: Manifest,
    stats: Vec<DiskWriteStats>,
    plans: Vec<DiskPlan>,
    read_time: Duration,
}

/// Longest wait for the next bytes of a disk download.
const IDLE: Duration = Duration::from_secs(120);

pub async fn create(
    vm: &VmRef,
    settings: &HotBackup,
    options: &BackupOptions,
    runner: Arc<dyn HookRunner>,
    progress: &dyn Progress,
    cancel: impl Future<Output = ()>,
) -> OpResult<BackupRecord> {
    options.hooks.check()?;
    let endpoint = vm.endpoint.name();
    let client = vm.endpoint.client().await?;
    let facts = plan::facts(vm).await?;
    let existing = repo::open_existing(&options.repository)?;
    let decision = plan::decide(&facts, settings, options, existing.as_ref())?;
    let repo = Arc::new(match existing {
        Some(repo) => repo,
        None => repo::open(&options.repository, true)?,
    });
    let mut notes = decision.notes.clone();
    for name in leftover::remove_leftovers(vm, progress).await? {
        notes.push(format!(
            "removed snapshot {name}, left by an interrupted backup"
        ));
    }
    if decision.enable_cbt {
        progress.step(&format!("Enabling change tracking on {}", vm.name));
        super::cbt::enable(&client, &vm.moref, vm.endpoint.timeouts().task, &|t| {
            progress.task(t)
        })
        .await
        .at(endpoint)?;
        notes.push(format!(
            "enabled change tracking (CBT) on {}: this backup reads all allocated data, the next ones only what changed",
            vm.name
        ));
    }

    let mut writer = RepoWriter::start(
        Arc::clone(&repo),
        BackupMeta {
            vm: facts.identity.clone(),
            kind: decision.kind,
            mode: decision.mode,
            quiesced: decision.quiesce,
            parent: decision.parent.as_ref().map(|p| p.id.clone()),
            created: chrono::Utc::now(),
        },
    )
    .await?;
    let writer_stopped = writer.stopped();
    let id = writer.id().to_string();
    let snapshot_name = leftover::snapshot_name(&id);
    let mut context = HookContext {
        phase: HookPhase::Pre,
        vm: hook_vm(&facts),
        backup_id: id.clone(),
        mode: decision.mode.to_string(),
        quiesce: decision.quiesce,
        snapshot: None,
        result: None,
    };
    if let Err(e) = hooks::run_pre(&runner, &options.hooks.pre, &context).await {
        drop(writer);
        context.phase = HookPhase::Post;
        context.result = Some(HookResult {
            ok: false,
            error: Some(e.to_string()),
            ..HookResult::default()
        });
        for failure in hooks::run_post(&runner, &options.hooks.post, &context).await {
            progress.note(&failure);
        }
        return Err(e);
    }

    let creating = Mutex::new(None);
    let job = Job {
        vm,
        client: &client,
        facts: &facts,
        decision: &decision,
        options,
        progress,
        snapshot_name: &snapshot_name,
        creating: &creating,
    };
    let keepalive = AbortOnDrop(client.spawn_keepalive(Duration::from_secs(600)));
    let outcome = tokio::select! {
        result = job.run(writer, &mut notes) => result,
        () = cancel => Err(OpError::Cancelled),
    };
    drop(keepalive);

    // The snapshot goes, whatever happened above.
    let started = creating.lock().map(|t| t.clone()).unwrap_or(None);
    let cleanup = match &started {
        Some(task) => remove_snapshot(vm, &snapshot_name, task, progress).await,
        None => Ok(()),
    };

    context.phase = HookPhase::Post;
    context.snapshot = started.as_ref().map(|_| snapshot_name.clone());
    context.result = Some(match &outcome {
        Ok(Done { manifest, .. }) => HookResult {
            ok: true,
            error: None,
            kind: Some(manifest.kind.to_string()),
            bytes_read: manifest.stats.bytes_read,
            bytes_new: manifest.stats.bytes_new,
        },
        Err(e) => HookResult {
            ok: false,
            error: Some(e.to_string()),
            ..HookResult::default()
        },
    });
    for failure in hooks::run_post(&runner, &options.hooks.post, &context).await {
        progress.note(&failure);
        notes.push(failure);
    }

    let Done {
        manifest,
        stats,
        plans,
        read_time,
    } = match (outcome, cleanup) {
        (Ok(done), Ok(())) => done,
        (Ok(Done { manifest, .. }), Err(e)) => {
            // The backup exists and a snapshot is left: not "nothing changed" (6), but
            // the cleanup's own failure decides the exit code.
            let message = format!(
                "backup {} was stored, but snapshot {snapshot_name} of {} could not be removed: {e}",
                manifest.id, vm.name
            );
            return Err(e.context(
                message,
                Some(format!(
                    "remove it with `ceso snapshot delete {} {snapshot_name}`; the next backup of the VM also removes it",
                    vm.name
                )),
            ));
        }
        (Err(e), cleanup) => {
            // The unfinished backup is discarded (no manifest, temp pack removed)
            // before saying so.
            writer_stopped.await;
            match cleanup {
                Err(c) => progress.note(&format!(
                    "snapshot {snapshot_name} of {} could not be removed: {c}",
                    vm.name
                )),
                Ok(()) if matches!(e, OpError::Cancelled) => {
                    progress.note(&cancelled_note(
                        vm,
                        &id,
                        started.is_some().then_some(snapshot_name.as_str()),
                    ));
                }
                Ok(()) => {}
            }
            return Err(e);
        }
    };
    let summary = repo.summary(&manifest.id).map_err(repo_error)?;
    let disks_read = plans
        .iter()
        .zip(stats)
        .map(|(p, s)| DiskRead {
            key: p.key,
            label: p.label.clone(),
            capacity: p.capacity,
            method: p.method.clone(),
            ranges: p.ranges.len(),
            bytes_read: s.bytes_read,
            bytes_from_parent: s.bytes_from_parent,
            bytes_new: s.bytes_new,
            chunks_new: s.chunks_new,
            change_id: p.change_id.clone(),
        })
        .collect();
    Ok(BackupRecord {
        backup: BackupSummary::from(&summary),
        repository: repo.root().to_path_buf(),
        snapshot: snapshot_name,
        disks_read,
        read_ms: u64::try_from(read_time.as_millis()).unwrap_or(u64::MAX),
        notes,
    })
}

/// What an interrupted backup cleaned up, for the user.
fn cancelled_note(vm: &VmRef, id: &str, snapshot: Option<&str>) -> String {
    let snapshot = snapshot
        .map(|name| format!("removed snapshot {name} of {}; ", vm.name))
        .unwrap_or_default();
    format!(
        "backup interrupted: {snapshot}discarded the unfinished backup {id} (no manifest written, temporary pack removed)"
    )
}

/// What `backup create --dry-run` shows: the decisions, and nothing changed.
#[derive(Debug, Clone, Serialize)]
pub struct BackupPreview {
    pub vm: String,
    pub repository: PathBuf,
    pub repository_exists: bool,
    pub mode: String,
    pub kind: String,
    pub parent: Option<String>,
    pub quiesce: bool,
    pub enable_cbt: bool,
    pub use_cbt: bool,
    /// Snapshots left by interrupted backups that would be removed first.
    pub leftover_snapshots: Vec<String>,
    pub hooks: super::HookSet,
    pub max_rate: Option<u64>,
    pub notes: Vec<String>,
}

pub async fn preview(
    vm: &VmRef,
    settings: &HotBackup,
    options: &BackupOptions,
) -> OpResult<BackupPreview> {
    options.hooks.check()?;
    let facts = plan::facts(vm).await?;
    // A dry run creates nothing: without a repository there is no parent to build on.
    let repo = repo::open_existing(&options.repository)?;
    let decision = plan::decide(&facts, settings, options, repo.as_ref())?;
    let leftovers = snapshots::list(vm)
        .await?
        .into_iter()
        .filter(|s| leftover::is_backup_snapshot(&s.name))
        .map(|s| s.name)
        .collect();
    Ok(BackupPreview {
        vm: vm.name.clone(),
        repository: options.repository.clone(),
        repository_exists: repo.is_some(),
        mode: decision.mode.to_string(),
        kind: decision.kind.to_string(),
        parent: decision.parent.as_ref().map(|p| p.id.clone()),
        quiesce: decision.quiesce,
        enable_cbt: decision.enable_cbt,
        use_cbt: decision.use_cbt,
        leftover_snapshots: leftovers,
        hooks: options.hooks.clone(),
        max_rate: options.max_rate,
        notes: decision.notes,
    })
}

fn hook_vm(facts: &VmFacts) -> HookVm {
    HookVm {
        name: facts.info.name.clone(),
        id: facts.identity.moref.clone(),
        uuid: facts.identity.uuid.clone(),
        endpoint: facts.identity.endpoint.clone(),
        power_state: facts.info.power_state.clone(),
    }
}

/// Wait for the create task (an interrupted run may not have seen it end), then remove
/// the snapshot by name.
async fn remove_snapshot(
    vm: &VmRef,
    name: &str,
    task: &MoRef,
    progress: &dyn Progress,
) -> OpResult<()> {
    let client = vm.endpoint.client().await?;
    let _ = client
        .wait_task(task, vm.endpoint.timeouts().task, &crate::vim::no_progress)
        .await;
    leftover::remove_named(vm, name, progress).await.map(|_| ())
}

/// The part of a backup that runs while the snapshot exists.
struct Job<'a> {
    vm: &'a VmRef,
    client: &'a Client,
    facts: &'a VmFacts,
    decision: &'a Decision,
    options: &'a BackupOptions,
    progress: &'a dyn Progress,
    snapshot_name: &'a str,
    /// The CreateSnapshot_Task, once started.
    creating: &'a Mutex<Option<MoRef>>,
}

impl Job<'_> {
    fn source<'s>(&'s self, file: &'s DatastorePath) -> Source<'s> {
        Source {
            client: self.client,
            endpoint: self.vm.endpoint.name(),
            datacenter: &self.facts.datacenter,
            file,
            idle: IDLE,
        }
    }

    async fn run(&self, writer: RepoWriter, notes: &mut Vec<String>) -> OpResult<Done> {
        let endpoint = self.vm.endpoint.name();
        let spec = SnapshotSpec {
            name: self.snapshot_name.to_string(),
            description: leftover::description(),
            memory: false,
            quiesce: self.decision.quiesce,
        };
        let task = snapshots::start_create(self.vm, &spec, self.progress).await?;
        if let Ok(mut creating) = self.creating.lock() {
            *creating = Some(task.clone());
        }
        let snapshot = snapshots::finish_create(self.vm, &spec, &task, self.progress).await?;

        let props = self
            .client
            .properties(&snapshot, &["config.hardware.device"])
            .await
            .at(endpoint)?;
        let devices: Vec<&Node> = props
            .get("config.hardware.device")
            .map(Node::items)
            .unwrap_or_default();
        // Independent disks are left out of snapshots: read while the VM runs, they would
        // be copied mid-write.
        let independent = devices.iter().find(|d| {
            device_kind(d) == "VirtualDisk"
                && d.str_at("backing.diskMode")
                    .is_some_and(|m| m.starts_with("independent"))
        });
        if let (Some(disk), BackupMode::Hot) = (independent, self.decision.mode) {
            return Err(OpError::refused(
                format!(
                    "{} of {} is an independent disk: snapshots do not cover it, so it cannot be copied consistently while the VM runs",
                    disk.str_at("deviceInfo.label").unwrap_or("a disk"),
                    self.vm.name
                ),
                "stop the VM for a cold backup, or make the disk dependent (persistent)",
            ));
        }
        let layout = VmLayout::capture(&self.facts.info, &self.facts.firmware, &devices);
        if let Some(vmx) = DatastorePath::parse(&self.facts.info.vmx_path) {
            writer
                .file(
                    VMX_FILE,
                    reader::read_small(&self.source(&vmx), 4 << 20).await?,
                )
                .await?;
        }
        let layout = serde_json::to_vec_pretty(&layout)
            .map_err(|e| OpError::Io(format!("cannot encode {LAYOUT_FILE}: {e}")))?;
        writer.file(LAYOUT_FILE, layout).await?;

        let mut plans = Vec::new();
        for device in devices.iter().filter(|d| device_kind(d) == "VirtualDisk") {
            let disk = SnapshotDisk::from_device(device)?;
            let text = reader::read_small(&self.source(&disk.descriptor), 1 << 20).await?;
            let flat = descriptor::flat_extent(&String::from_utf8_lossy(&text)).map_err(|why| OpError::Refused {
                message: format!("cannot back up {} ({}): {why}", disk.label, disk.descriptor),
                hint: Some(
                    "ceso reads flat disks over datastore HTTP: remove or consolidate the VM's other snapshots (`ceso snapshot list`)"
                        .into(),
                ),
            })?;
            writer
                .file(&format!("disk-{}.vmdk", disk.key), text)
                .await?;
            let path = disk.descriptor.sibling(&flat.file);
            let size = self
                .client
                .file_size(&self.facts.datacenter, &path)
                .await
                .at(endpoint)?
                .ok_or_else(|| {
                    OpError::Io(format!(
                        "{path}, the data of {}, does not exist",
                        disk.label
                    ))
                })?;
            let flat = FlatFile { path, size };
            plans.push(
                plan::plan_disk(
                    self.client,
                    &self.vm.moref,
                    &snapshot,
                    disk,
                    flat,
                    self.decision,
                    notes,
                )
                .await?,
            );
        }

        let reading = std::time::Instant::now();
        let total = plans.iter().flat_map(|p| &p.ranges).map(|r| r.len).sum();
        let mut transfer = Transfer {
            throttle: Throttle::new(self.options.max_rate),
            progress: self.progress,
            done: 0,
            total,
        };
        self.progress.step(&format!(
            "Reading {} disk(s) of {}",
            plans.len(),
            self.vm.name
        ));
        for plan in &plans {
            let info = DiskInfo {
                key: plan.key,
                label: plan.label.clone(),
                datastore_path: plan.descriptor.to_string(),
                capacity: plan.capacity,
                change_id: plan.change_id.clone(),
            };
            writer.begin_disk(info, plan.parent.clone()).await?;
            let source = self.source(&plan.extent);
            for range in &plan.ranges {
                reader::copy_range(&source, *range, &writer, &mut transfer).await?;
            }
            writer.end_disk().await?;
        }
        self.progress.step("Writing the manifest");
        let (manifest, stats) = writer.commit().await?;
        Ok(Done {
            manifest,
            stats,
            plans,
            read_time: reading.elapsed(),
        })
    }
}
