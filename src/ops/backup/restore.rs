//! `backup restore --as-new`: build a new VM from the configuration stored with the
//! backup (new UUID and MACs: it may run beside the original), then upload each disk's
//! content over the new VM's flat extents. Chunks are verified as they are read, so the
//! restored disks are byte-identical to the backed-up ones or the restore fails.
//!
//! A restore that fails or is interrupted after the VM was created deletes that VM:
//! it never leaves a half-written machine that looks usable.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;
use tokio::sync::mpsc;

use crate::backup_repo::{Manifest, Repository};
use crate::ops::devices::DeviceChange;
use crate::ops::error::{OpError, OpResult};
use crate::ops::fleet::{Target, WithEndpoint};
use crate::ops::progress::Progress;
use crate::ops::vms::create::{self as vm_create, CreatePlan, CreateSpec};
use crate::ops::vms::info::{device_kind, disk as decode_disk};
use crate::ops::vms::{self, PowerAction, VmRef};
use crate::vim::{DatastorePath, Node};

use super::descriptor;
use super::layout::{LAYOUT_FILE, VmLayout};
use super::reader::{self, Source};
use super::repo::{self, repo_error};

#[derive(Debug, Clone)]
pub struct RestoreRequest {
    /// Backup id or unique prefix.
    pub backup: String,
    /// Name of the new VM.
    pub name: String,
    pub datastore: Option<String>,
    pub power_on: bool,
    pub repository: PathBuf,
}

/// One disk to restore.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreDisk {
    pub key: i32,
    pub label: String,
    pub capacity: u64,
    /// Descriptor of the new disk.
    pub file: String,
}

/// Everything a restore will do, resolved and checked (shown by --dry-run).
#[derive(Debug, Clone, Serialize)]
pub struct RestorePlan {
    pub backup: String,
    pub source_vm: String,
    pub name: String,
    pub endpoint: String,
    pub datacenter: String,
    pub host: Option<String>,
    pub datastore: String,
    pub resource_pool: String,
    pub cpus: i64,
    pub memory_mb: i64,
    pub firmware: String,
    pub disks: Vec<RestoreDisk>,
    /// `kind on network` of each NIC recreated (with a new MAC).
    pub nics: Vec<String>,
    pub power_on: bool,
    pub notes: Vec<String>,
    #[serde(skip)]
    create: CreatePlan,
    #[serde(skip)]
    manifest: Arc<Manifest>,
    #[serde(skip)]
    repo: Arc<Repository>,
}

/// The restored VM.
#[derive(Debug, Clone, Serialize)]
pub struct RestoredVm {
    pub name: String,
    pub id: String,
    pub host: String,
    pub endpoint: String,
    pub backup: String,
    pub bytes_written: u64,
    pub powered_on: bool,
    pub notes: Vec<String>,
}

/// Temp keys of devices in the CreateVM spec (negative: the server assigns real ones).
const CONTROLLER_KEY_BASE: i32 = -200;
const DISK_KEY_BASE: i32 = -300;
const NIC_KEY_BASE: i32 = -400;

pub async fn plan(target: &Target, req: &RestoreRequest) -> OpResult<RestorePlan> {
    let repo = repo::open(&req.repository, false)?;
    let manifest = repo::load(&repo, &req.backup)?;
    let layout = repo.read_file(&manifest, LAYOUT_FILE).map_err(repo_error)?;
    let layout = VmLayout::parse(&layout)
        .map_err(|e| OpError::Io(format!("backup {}: {e}", manifest.id)))?;
    let total: u64 = manifest.disks.iter().map(|d| d.capacity()).sum();
    let spec = CreateSpec {
        name: req.name.clone(),
        cpus: layout.cpus,
        memory_mb: layout.memory_mb,
        // Only for the free-space check of the datastore choice; disks are added below.
        disk_gb: i64::try_from(total.div_ceil(1 << 30)).unwrap_or(i64::MAX),
        datastore: req.datastore.clone(),
        network: None,
        resource_pool: None,
        guest_id: Some(layout.guest_id.clone()).filter(|g| !g.is_empty()),
    };
    let mut create = vm_create::plan(target, &spec).await?;
    create.firmware = Some(layout.firmware.clone()).filter(|f| !f.is_empty());
    create.cores_per_socket = Some(layout.cores_per_socket).filter(|c| *c > 0);
    create.devices.clear();

    let mut notes = Vec::new();
    let mut controller_keys = Vec::new();
    for (i, c) in layout.controllers.iter().enumerate() {
        // IDE controllers come with every new VM (keys 200 and 201).
        let key = if c.kind == "VirtualIDEController" {
            200 + c.bus_number as i32
        } else {
            let key = CONTROLLER_KEY_BASE - i as i32;
            create.devices.push(DeviceChange::AddController {
                key,
                kind: c.kind.clone(),
                bus_number: c.bus_number as i32,
            });
            key
        };
        controller_keys.push((c.key, key));
    }
    let mut disks = Vec::new();
    for (i, d) in manifest.disks.iter().enumerate() {
        let placed = layout.disks.iter().find(|l| l.key == i64::from(d.key));
        let (controller, unit) = match placed.and_then(|l| {
            let key = controller_keys
                .iter()
                .find(|(old, _)| *old == l.controller_key)?
                .1;
            Some((key, l.unit_number as i32))
        }) {
            Some(found) => found,
            None => {
                return Err(OpError::Io(format!(
                    "backup {}: {LAYOUT_FILE} does not say where disk {} ({}) was attached",
                    manifest.id, d.key, d.label
                )));
            }
        };
        let file = if i == 0 {
            format!("[{}] {}/{}.vmdk", create.datastore, req.name, req.name)
        } else {
            format!("[{}] {}/{}_{i}.vmdk", create.datastore, req.name, req.name)
        };
        create.devices.push(DeviceChange::AddDisk {
            key: DISK_KEY_BASE - i as i32,
            controller_key: controller,
            unit,
            capacity_kb: i64::try_from(d.capacity().div_ceil(1024)).unwrap_or(i64::MAX),
            file_name: file.clone(),
        });
        disks.push(RestoreDisk {
            key: d.key,
            label: d.label.clone(),
            capacity: d.capacity(),
            file,
        });
    }
    let client = target.endpoint.client().await?;
    let mut nics = Vec::new();
    for (i, n) in layout.nics.iter().enumerate() {
        match vm_create::nic_backing(&client, &n.network, target.endpoint.name()).await {
            Ok(backing) => {
                create.devices.push(DeviceChange::AddNicOfKind {
                    key: NIC_KEY_BASE - i as i32,
                    kind: n.kind.clone(),
                    backing,
                });
                nics.push(format!("{} on {}", n.kind, n.network));
            }
            Err(OpError::NotFound { .. }) => notes.push(format!(
                "NIC {} is not recreated: there is no network '{}' here; add one with the right network after the restore",
                n.key, n.network
            )),
            Err(e) => return Err(e),
        }
    }
    Ok(RestorePlan {
        backup: manifest.id.clone(),
        source_vm: manifest.vm.name.clone(),
        name: req.name.clone(),
        endpoint: create.endpoint.clone(),
        datacenter: create.datacenter.clone(),
        host: create.host.clone(),
        datastore: create.datastore.clone(),
        resource_pool: create.resource_pool.clone(),
        cpus: layout.cpus,
        memory_mb: layout.memory_mb,
        firmware: layout.firmware.clone(),
        disks,
        nics,
        power_on: req.power_on,
        notes,
        create,
        manifest: Arc::new(manifest),
        repo: Arc::new(repo),
    })
}

/// Carry out a plan. On failure or cancellation the new VM is deleted again.
pub async fn restore(
    target: &Target,
    plan: RestorePlan,
    progress: &dyn Progress,
    cancel: impl Future<Output = ()>,
) -> OpResult<RestoredVm> {
    let vm = vms::create(target, &plan.create, progress).await?;
    let outcome = tokio::select! {
        result = fill(&vm, &plan, progress) => result,
        () = cancel => Err(OpError::Cancelled),
    };
    let bytes_written = match outcome {
        Ok(bytes) => bytes,
        Err(e) => {
            progress.note(&format!(
                "deleting {}: the restore did not complete",
                vm.name
            ));
            if let Err(d) = vms::delete(&vm, true, progress).await {
                progress.note(&format!(
                    "could not delete the incomplete VM {}: {d}",
                    vm.name
                ));
            }
            return Err(e);
        }
    };
    if plan.power_on {
        vms::power(&vm, PowerAction::On, progress).await?;
    }
    Ok(RestoredVm {
        name: vm.name.clone(),
        id: vm.moref.value.clone(),
        host: vm.host.clone(),
        endpoint: vm.endpoint.name().to_string(),
        backup: plan.backup.clone(),
        bytes_written,
        powered_on: plan.power_on,
        notes: plan.notes.clone(),
    })
}

/// Upload every disk of the backup over the new VM's (empty) disks.
async fn fill(vm: &VmRef, plan: &RestorePlan, progress: &dyn Progress) -> OpResult<u64> {
    let endpoint = vm.endpoint.name();
    let client = vm.endpoint.client().await?;
    let props = client
        .properties(&vm.moref, &["config.hardware.device"])
        .await
        .at(endpoint)?;
    let created: Vec<_> = props
        .get("config.hardware.device")
        .map(Node::items)
        .unwrap_or_default()
        .into_iter()
        .filter(|d| device_kind(d) == "VirtualDisk")
        .map(decode_disk)
        .collect();
    let total: u64 = plan.disks.iter().map(|d| d.capacity).sum();
    let written = Arc::new(AtomicU64::new(0));
    for disk in &plan.disks {
        let new = created
            .iter()
            .find(|c| c.file == disk.file)
            .ok_or_else(|| {
                OpError::Io(format!(
                    "the new VM has no disk {} (asked for {})",
                    disk.label, disk.file
                ))
            })?;
        let descriptor_path = DatastorePath::parse(&new.file).ok_or_else(|| {
            OpError::Io(format!("the new disk has no datastore path: {}", new.file))
        })?;
        let source = Source {
            client: &client,
            endpoint,
            datacenter: &plan.datacenter,
            file: &descriptor_path,
            idle: Duration::from_secs(120),
        };
        let text = reader::read_small(&source, 1 << 20).await?;
        let flat = descriptor::flat_extent(&String::from_utf8_lossy(&text))
            .map_err(|why| OpError::Io(format!("the new disk {}: {why}", new.file)))?;
        let target_file = descriptor_path.sibling(&flat.file);
        progress.step(&format!("Writing {} of {}", disk.label, vm.name));
        let failure = Arc::new(Mutex::new(None));
        let body = ChunkStream::start(&plan.repo, &plan.manifest, disk.key, &written, &failure);
        let upload = client.upload(&plan.datacenter, &target_file, disk.capacity, body);
        tokio::pin!(upload);
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        loop {
            tokio::select! {
                                result = &mut upload => {
                    // A chunk that could not be read breaks the upload: report the chunk.
                    if let Some(why) = failure.lock().ok().and_then(|mut f| f.take()) {
                        return Err(OpError::Io(format!("backup {}: {why}", plan.backup)));
                    }
                    result.at(endpoint)?;
                    break;
                }
                _ = tick.tick() => progress.bytes(written.load(Ordering::Relaxed), total),
            }
        }
    }
    let bytes = written.load(Ordering::Relaxed);
    progress.bytes(bytes, total);
    if bytes != total {
        return Err(OpError::Io(format!("wrote {bytes} of {total} bytes")));
    }
    Ok(bytes)
}

/// A disk's content as an upload body: chunks read (and verified) on a blocking thread.
/// A chunk that cannot be read ends the body with an error, whose text is kept in
/// `failure` for the report.
struct ChunkStream {
    rx: mpsc::Receiver<Result<Bytes, std::io::Error>>,
    written: Arc<AtomicU64>,
}

type Failure = Arc<Mutex<Option<String>>>;

impl ChunkStream {
    fn start(
        repo: &Arc<Repository>,
        manifest: &Arc<Manifest>,
        key: i32,
        written: &Arc<AtomicU64>,
        failure: &Failure,
    ) -> ChunkStream {
        let (tx, rx) = mpsc::channel(16);
        let (repo, manifest, failure) =
            (Arc::clone(repo), Arc::clone(manifest), Arc::clone(failure));
        tokio::task::spawn_blocking(move || {
            let fail = |e: crate::backup_repo::RepoError| {
                let text = e.to_string();
                if let Ok(mut slot) = failure.lock() {
                    *slot = Some(text.clone());
                }
                let _ = tx.blocking_send(Err(std::io::Error::other(text)));
            };
            let reader = match repo.restore_ranges(&manifest, key) {
                Ok(reader) => reader,
                Err(e) => return fail(e),
            };
            for block in reader {
                match block {
                    Ok((_, data)) => {
                        if tx.blocking_send(Ok(Bytes::from(data))).is_err() {
                            return;
                        }
                    }
                    Err(e) => return fail(e),
                }
            }
        });
        ChunkStream {
            rx,
            written: Arc::clone(written),
        }
    }
}

impl futures::Stream for ChunkStream {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = self.rx.poll_recv(cx);
        if let Poll::Ready(Some(Ok(bytes))) = &polled {
            self.written
                .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        }
        polled
    }
}
