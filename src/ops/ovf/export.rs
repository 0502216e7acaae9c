//! `vm export VM DIR [--ova]`: ExportVm hands out an NFC lease with one URL per disk;
//! each is downloaded (hashed on the way), then the OVF descriptor and a SHA-256
//! manifest are written next to the disks, or all of it packed into one OVA. The lease
//! hears progress while bytes move and is aborted on any failure (the partial files go).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use futures::StreamExt;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::ops::error::{OpError, OpResult};
use crate::ops::fleet::WithEndpoint;
use crate::ops::progress::Progress;
use crate::ops::vms::{self, VmInfo, VmRef};
use crate::vim::Request;
use crate::vim::nfc_lease::LeaseInfo;

use super::descriptor::{self, OvfDisk, OvfNic, OvfVm};
use super::{io_error, ova, package_name, with_keepalive};

/// What an export writes (shown by --dry-run).
#[derive(Debug, Clone, Serialize)]
pub struct ExportPlan {
    pub vm: String,
    pub endpoint: String,
    pub dir: String,
    pub ova: bool,
    /// The files that will appear in `dir`.
    pub files: Vec<String>,
    pub disks: usize,
    pub disk_capacity_bytes: i64,
    #[serde(skip)]
    info: Option<VmInfo>,
    #[serde(skip)]
    base: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExportedFile {
    pub name: String,
    pub size: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExportResult {
    pub vm: String,
    pub endpoint: String,
    pub dir: String,
    /// The package to import: the .ovf, or the .ova (not `package`: a Rhai keyword).
    pub path: String,
    /// Every file of the package with its SHA-256 (what the manifest says).
    pub files: Vec<ExportedFile>,
}

/// Check what can be checked before the server is asked: a powered-off VM (ExportVm
/// refuses others), and no file in the way.
pub async fn plan(vm: &VmRef, dir: &Path, as_ova: bool) -> OpResult<ExportPlan> {
    let info = vms::info(vm).await?;
    if info.power_state != "poweredOff" {
        return Err(OpError::refused(
            format!(
                "{} is {}; only a powered-off VM can be exported",
                vm.name, info.power_state
            ),
            format!("stop it first (`ceso vm stop {}`)", vm.name),
        ));
    }
    let base = package_name(&vm.name);
    let files: Vec<String> = if as_ova {
        vec![format!("{base}.ova")]
    } else {
        let mut f = vec![format!("{base}.ovf"), format!("{base}.mf")];
        f.extend((0..info.disks.len()).map(|i| format!("{base}-disk-{i}.vmdk")));
        f
    };
    if let Some(taken) = files.iter().find(|f| dir.join(f).exists()) {
        return Err(OpError::refused(
            format!(
                "{} already exists; nothing was exported",
                dir.join(taken).display()
            ),
            "export into another directory, or remove the old package first",
        ));
    }
    Ok(ExportPlan {
        vm: vm.name.clone(),
        endpoint: vm.endpoint.name().to_string(),
        dir: dir.display().to_string(),
        ova: as_ova,
        files,
        disks: info.disks.len(),
        disk_capacity_bytes: info.disks.iter().map(|d| d.capacity_bytes).sum(),
        info: Some(info),
        base,
    })
}

pub async fn export(
    vm: &VmRef,
    plan: &ExportPlan,
    progress: &dyn Progress,
) -> OpResult<ExportResult> {
    let info = plan
        .info
        .as_ref()
        .ok_or_else(|| OpError::invalid("the export plan has no VM information"))?;
    let dir = PathBuf::from(&plan.dir);
    // An OVA is packed from a staging directory that goes afterwards.
    let staging = if plan.ova {
        dir.join(format!(".ceso-export-{}", plan.base))
    } else {
        dir.clone()
    };
    tokio::fs::create_dir_all(&staging)
        .await
        .map_err(|e| io_error(&staging, e))?;
    let endpoint = vm.endpoint.name().to_string();
    let client = vm.endpoint.client().await?;
    progress.step(&format!("Exporting {}", vm.name));
    let lease = client
        .call_returnval(Request::new("ExportVm", &vm.moref))
        .await
        .at(&endpoint)?
        .and_then(|n| n.as_moref())
        .ok_or_else(|| OpError::invalid("ExportVm returned no lease"))?;
    let mut written: Vec<PathBuf> = Vec::new();
    let outcome = async {
        let lease_info = client
            .lease_ready(&lease, vm.endpoint.timeouts().task)
            .await
            .at(&endpoint)?;
        let done = AtomicU64::new(0);
        let disks = with_keepalive(
            &client,
            &lease,
            &done,
            total_bytes(&lease_info),
            download_disks(
                vm,
                &lease_info,
                &staging,
                &plan.base,
                &done,
                &mut written,
                progress,
            ),
        )
        .await?;
        client.lease_progress(&lease, 100).await.at(&endpoint)?;
        Ok::<_, OpError>(disks)
    }
    .await;
    let disks = match outcome {
        Ok(disks) => {
            client.lease_complete(&lease).await.at(&endpoint)?;
            disks
        }
        Err(e) => {
            let _ = client.lease_abort(&lease, &e.to_string()).await;
            for f in &written {
                let _ = tokio::fs::remove_file(f).await;
            }
            if plan.ova {
                let _ = tokio::fs::remove_dir(&staging).await;
            }
            return Err(e);
        }
    };

    let ovf = descriptor::write(&OvfVm {
        name: vm.name.clone(),
        guest_id: info.guest_id.clone(),
        cpus: info.cpus,
        memory_mb: info.memory_mb,
        hardware_version: hardware_version(vm).await?,
        disks: disks
            .iter()
            .zip(&info.disks)
            .map(|(f, d)| OvfDisk {
                href: f.name.clone(),
                size: f.size,
                capacity_bytes: d.capacity_bytes,
            })
            .collect(),
        nics: info
            .nics
            .iter()
            .map(|n| OvfNic {
                network: n.network.clone(),
                kind: n.kind.clone(),
            })
            .collect(),
    });
    let ovf_name = format!("{}.ovf", plan.base);
    let mf_name = format!("{}.mf", plan.base);
    let mut files = vec![ExportedFile {
        name: ovf_name.clone(),
        size: ovf.len() as u64,
        sha256: hex::encode(Sha256::digest(ovf.as_bytes())),
    }];
    files.extend(disks);
    let manifest = descriptor::manifest(
        &files
            .iter()
            .map(|f| (f.name.clone(), f.sha256.clone()))
            .collect::<Vec<_>>(),
    );
    write_file(&staging.join(&ovf_name), ovf.as_bytes()).await?;
    write_file(&staging.join(&mf_name), manifest.as_bytes()).await?;
    files.insert(
        1,
        ExportedFile {
            name: mf_name,
            size: manifest.len() as u64,
            sha256: hex::encode(Sha256::digest(manifest.as_bytes())),
        },
    );
    let package = if plan.ova {
        let ova_path = dir.join(format!("{}.ova", plan.base));
        progress.step(&format!("Packing {}", ova_path.display()));
        pack_ova(&staging, &files, &ova_path).await?;
        let _ = tokio::fs::remove_dir_all(&staging).await;
        ova_path
    } else {
        staging.join(&ovf_name)
    };
    Ok(ExportResult {
        vm: vm.name.clone(),
        endpoint,
        dir: plan.dir.clone(),
        path: package.display().to_string(),
        files,
    })
}

/// The bytes the lease will move: the disks' sizes as the lease gives them, else their
/// capacity.
fn total_bytes(info: &LeaseInfo) -> u64 {
    let sizes: i64 = info
        .devices
        .iter()
        .filter(|d| d.disk)
        .map(|d| d.file_size.unwrap_or(0))
        .sum();
    u64::try_from(if sizes > 0 {
        sizes
    } else {
        info.total_disk_kb * 1024
    })
    .unwrap_or(0)
}

async fn hardware_version(vm: &VmRef) -> OpResult<String> {
    let client = vm.endpoint.client().await?;
    let props = client
        .properties(&vm.moref, &["config.version"])
        .await
        .at(vm.endpoint.name())?;
    Ok(props.str("config.version").unwrap_or("vmx-13").to_string())
}

async fn download_disks(
    vm: &VmRef,
    lease: &LeaseInfo,
    dir: &Path,
    base: &str,
    done: &AtomicU64,
    written: &mut Vec<PathBuf>,
    progress: &dyn Progress,
) -> OpResult<Vec<ExportedFile>> {
    let endpoint = vm.endpoint.name();
    let client = vm.endpoint.client().await?;
    let total = total_bytes(lease);
    // A server that sends more than the disks hold is not believed (a streamOptimized
    // disk is never larger than its capacity plus its metadata).
    let limit = total.max(lease.total_disk_kb.max(0) as u64 * 1024) + (64 << 20);
    let mut out = Vec::new();
    for (i, device) in lease.devices.iter().filter(|d| d.disk).enumerate() {
        let name = format!("{base}-disk-{i}.vmdk");
        let path = dir.join(&name);
        let url = client.lease_url(&device.url).at(endpoint)?;
        let mut stream = client.lease_download(&url).await.at(endpoint)?;
        let mut file = tokio::fs::File::create(&path)
            .await
            .map_err(|e| io_error(&path, e))?;
        written.push(path.clone());
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.at(endpoint)?;
            size += chunk.len() as u64;
            if done.load(Ordering::Relaxed) + chunk.len() as u64 > limit {
                return Err(OpError::invalid(format!(
                    "{endpoint} sent more than the VM's disks hold ({limit} bytes); the export was aborted"
                )));
            }
            hasher.update(&chunk);
            file.write_all(&chunk)
                .await
                .map_err(|e| io_error(&path, e))?;
            let moved = done.fetch_add(chunk.len() as u64, Ordering::Relaxed) + chunk.len() as u64;
            progress.bytes(moved, total);
        }
        file.flush().await.map_err(|e| io_error(&path, e))?;
        out.push(ExportedFile {
            name,
            size,
            sha256: hex::encode(hasher.finalize()),
        });
    }
    Ok(out)
}

async fn write_file(path: &Path, data: &[u8]) -> OpResult<()> {
    tokio::fs::write(path, data)
        .await
        .map_err(|e| io_error(path, e))
}

/// The OVA: the descriptor, the manifest, then the disks (the order OVF requires).
async fn pack_ova(staging: &Path, files: &[ExportedFile], ova_path: &Path) -> OpResult<()> {
    let mut out = tokio::fs::File::create(ova_path)
        .await
        .map_err(|e| io_error(ova_path, e))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    for f in files {
        let header = ova::header(&f.name, f.size, now).map_err(OpError::invalid)?;
        out.write_all(&header)
            .await
            .map_err(|e| io_error(ova_path, e))?;
        let from = staging.join(&f.name);
        let mut input = tokio::fs::File::open(&from)
            .await
            .map_err(|e| io_error(&from, e))?;
        tokio::io::copy(&mut input, &mut out)
            .await
            .map_err(|e| io_error(ova_path, e))?;
        out.write_all(&vec![0u8; ova::padding(f.size)])
            .await
            .map_err(|e| io_error(ova_path, e))?;
    }
    out.write_all(&ova::END)
        .await
        .map_err(|e| io_error(ova_path, e))?;
    out.flush().await.map_err(|e| io_error(ova_path, e))
}
