//! `vm import FILE.ovf|FILE.ova`: the server reads the descriptor (CreateImportSpec) and
//! makes the VM (ImportVApp), whose NFC lease takes each file of the package. Every
//! choice (name, pool, datastore, network mapping, the package's files and manifest) is
//! checked before the server is asked; a failed upload or a manifest mismatch aborts
//! the lease, which removes the half-imported VM.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::io::AsyncSeekExt;

use crate::ops::error::{OpError, OpResult};
use crate::ops::fleet::{Fleet, Scope, WithEndpoint};
use crate::ops::inventory;
use crate::ops::progress::Progress;
use crate::ops::vms::VmRef;
use crate::ops::vms::create::{self, CreateSpec, pick_named};
use crate::vim::{Client, MoRef, Node, Request};

use super::descriptor::{self, Descriptor};
use super::{io_error, ova, with_keepalive};

/// Largest descriptor or manifest read (real ones are kilobytes).
const MAX_TEXT: u64 = 16 << 20;
/// Most members read from an OVA.
const MAX_MEMBERS: usize = 10_000;

#[derive(Debug, Clone, Default)]
pub struct ImportSpec {
    pub file: PathBuf,
    pub name: Option<String>,
    /// OVF network name → network of the endpoint.
    pub network_map: Vec<(String, String)>,
    pub datastore: Option<String>,
    pub resource_pool: Option<String>,
    pub power_on: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct NetworkChoice {
    pub ovf: String,
    pub network: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct PackageFile {
    pub name: String,
    pub size: u64,
    /// The manifest lists it (and the upload is checked against it).
    pub in_manifest: bool,
}

/// What an import will do (shown by --dry-run).
#[derive(Debug, Clone, Serialize)]
pub struct ImportPlan {
    /// The .ovf or .ova (not `package`: a Rhai keyword).
    pub file: String,
    pub name: String,
    pub endpoint: String,
    pub datacenter: String,
    pub host: Option<String>,
    pub resource_pool: String,
    pub datastore: String,
    pub networks: Vec<NetworkChoice>,
    pub files: Vec<PackageFile>,
    pub power_on: bool,
    #[serde(skip)]
    inner: Inner,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "import of {} files", self.members.len())
    }
}

#[derive(Clone, Default)]
struct Inner {
    descriptor: String,
    members: HashMap<String, Member>,
    manifest: HashMap<String, String>,
    folder: Option<MoRef>,
    pool: Option<MoRef>,
    host: Option<MoRef>,
    datastore: Option<MoRef>,
    networks: Vec<(String, MoRef)>,
    target: Option<crate::ops::fleet::Target>,
}

/// Where a file of the package is: a file, or a byte range of the OVA.
#[derive(Debug, Clone)]
struct Member {
    path: PathBuf,
    offset: u64,
    size: u64,
}

fn invalid(file: &Path, why: impl std::fmt::Display) -> OpError {
    OpError::Invalid {
        message: format!("{}: {why}", file.display()),
        hint: Some(
            "give an OVF descriptor (.ovf, its files beside it) or an OVA package (.ova)".into(),
        ),
    }
}

/// A package as read: the descriptor's text, where each file is, the manifest's
/// SHA-256 digests by file name.
type Package = (String, HashMap<String, Member>, HashMap<String, String>);

/// Read the package: the descriptor, where each file is, the manifest's digests.
fn read_package(file: &Path) -> OpResult<Package> {
    let meta = std::fs::metadata(file).map_err(|e| io_error(file, e))?;
    let is_ova = file
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("ova"));
    let mut members = HashMap::new();
    let (descriptor, manifest_text) = if is_ova {
        let mut f = std::fs::File::open(file).map_err(|e| io_error(file, e))?;
        let mut offset = 0u64;
        let mut ovf_name = None;
        let mut mf_name = None;
        while members.len() < MAX_MEMBERS {
            let mut block = [0u8; ova::BLOCK];
            if offset + ova::BLOCK as u64 > meta.len() {
                break;
            }
            f.read_exact(&mut block).map_err(|e| io_error(file, e))?;
            let Some((name, size, kind)) =
                ova::read_header(&block).map_err(|e| invalid(file, e))?
            else {
                break;
            };
            let data = offset + ova::BLOCK as u64;
            if data + size > meta.len() {
                return Err(invalid(
                    file,
                    format!("member {name} runs past the end of the file"),
                ));
            }
            if kind == b'0' || kind == 0 {
                if name.ends_with(".ovf") && ovf_name.is_none() {
                    ovf_name = Some(name.clone());
                }
                if name.ends_with(".mf") && mf_name.is_none() {
                    mf_name = Some(name.clone());
                }
                members.insert(
                    name,
                    Member {
                        path: file.to_path_buf(),
                        offset: data,
                        size,
                    },
                );
            }
            offset = data + size + ova::padding(size) as u64;
            f.seek(SeekFrom::Start(offset))
                .map_err(|e| io_error(file, e))?;
        }
        let ovf = ovf_name.ok_or_else(|| invalid(file, "the OVA holds no .ovf descriptor"))?;
        let text = read_member(&members[&ovf], file)?;
        let mf = match mf_name {
            Some(name) => Some(read_member(&members[&name], file)?),
            None => None,
        };
        (text, mf)
    } else {
        if meta.len() > MAX_TEXT {
            return Err(invalid(file, "too large for an OVF descriptor"));
        }
        let text = std::fs::read_to_string(file).map_err(|e| io_error(file, e))?;
        let dir = file.parent().unwrap_or(Path::new("."));
        let mf = file.with_extension("mf");
        let mf = if mf.exists() {
            Some(std::fs::read_to_string(&mf).map_err(|e| io_error(&mf, e))?)
        } else {
            None
        };
        // Members are the descriptor's references, looked up beside it.
        if let Ok(d) = descriptor::read(&text) {
            for f in d.files {
                let path = dir.join(&f.href);
                if let Ok(m) = std::fs::metadata(&path) {
                    members.insert(
                        f.href.clone(),
                        Member {
                            path,
                            offset: 0,
                            size: m.len(),
                        },
                    );
                }
            }
        }
        let own = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        members.insert(
            own,
            Member {
                path: file.to_path_buf(),
                offset: 0,
                size: meta.len(),
            },
        );
        (text, mf)
    };
    let manifest = manifest_text
        .map(|t| {
            descriptor::read_manifest(&t)
                .into_iter()
                .filter(|(algo, _, _)| algo == "SHA256")
                .map(|(_, file, digest)| (file, digest))
                .collect()
        })
        .unwrap_or_default();
    Ok((descriptor, members, manifest))
}

fn read_member(m: &Member, file: &Path) -> OpResult<String> {
    if m.size > MAX_TEXT {
        return Err(invalid(file, "the descriptor or manifest is too large"));
    }
    let mut f = std::fs::File::open(&m.path).map_err(|e| io_error(&m.path, e))?;
    f.seek(SeekFrom::Start(m.offset))
        .map_err(|e| io_error(&m.path, e))?;
    let mut buf = Vec::new();
    f.take(m.size)
        .read_to_end(&mut buf)
        .map_err(|e| io_error(&m.path, e))?;
    String::from_utf8(buf).map_err(|_| invalid(file, "the descriptor is not UTF-8 text"))
}

pub async fn plan(fleet: &Fleet, scope: &Scope, spec: &ImportSpec) -> OpResult<ImportPlan> {
    let file = &spec.file;
    let (text, members, manifest) = read_package(file)?;
    let d: Descriptor = descriptor::read(&text).map_err(|e| invalid(file, e))?;
    // The descriptor itself, when the manifest lists it.
    if let Some((name, want)) = manifest.iter().find(|(n, _)| n.ends_with(".ovf")) {
        let got = hex::encode(Sha256::digest(text.as_bytes()));
        if &got != want {
            return Err(invalid(
                file,
                format!("{name} does not match its manifest (SHA-256 {got}, listed {want})"),
            ));
        }
    }
    let mut files = Vec::new();
    for f in &d.files {
        let m = members.get(&f.href).ok_or_else(|| {
            invalid(
                file,
                format!(
                    "the package lacks {}, which the descriptor references",
                    f.href
                ),
            )
        })?;
        files.push(PackageFile {
            name: f.href.clone(),
            size: m.size,
            in_manifest: manifest.contains_key(&f.href),
        });
    }
    let name = spec
        .name
        .clone()
        .or(d.name.clone())
        .or_else(|| file.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_default();
    create::validate_name(&name)?;
    for (from, _) in &spec.network_map {
        if !d.networks.iter().any(|n| n == from) {
            return Err(OpError::Invalid {
                message: format!("--network-map {from}=…: the OVF has no network '{from}'"),
                hint: Some(format!("its networks: {}", d.networks.join(", "))),
            });
        }
    }

    let target = fleet.target(scope).await?;
    let endpoint = target.endpoint.name().to_string();
    let client = target.endpoint.client().await?;
    create::refuse_taken_name(&client, &name, &endpoint).await?;
    // Pool, folder, host and datastore chosen as `vm create` chooses them.
    let placed = create::plan(
        &target,
        &CreateSpec {
            name: name.clone(),
            cpus: 1,
            memory_mb: 4,
            datastore: spec.datastore.clone(),
            resource_pool: spec.resource_pool.clone(),
            ..Default::default()
        },
    )
    .await?;
    let (folder, pool, host) = placed.placement();
    let at = |e| OpError::vim(&endpoint, e);
    let datastores = inventory::objects(&client, "Datastore", &[])
        .await
        .map_err(at)?;
    let datastore = pick_named(&datastores, Some(&placed.datastore), "datastore")?
        .obj
        .clone();
    let all_networks = inventory::objects(&client, "Network", &[])
        .await
        .map_err(at)?;
    let mut networks = Vec::new();
    let mut choices = Vec::new();
    for ovf_net in &d.networks {
        let wanted = spec
            .network_map
            .iter()
            .find(|(from, _)| from == ovf_net)
            .map(|(_, to)| to.as_str())
            .unwrap_or(ovf_net);
        let found = pick_named(&all_networks, Some(wanted), "network").map_err(|e| {
            e.context(
                format!("the OVF's network '{ovf_net}' has no match on {endpoint}"),
                Some(format!(
                    "map it to one of yours: --network-map '{ovf_net}=NETWORK'"
                )),
            )
        })?;
        networks.push((ovf_net.clone(), found.obj.clone()));
        choices.push(NetworkChoice {
            ovf: ovf_net.clone(),
            network: wanted.to_string(),
        });
    }
    Ok(ImportPlan {
        file: file.display().to_string(),
        name,
        endpoint,
        datacenter: placed.datacenter.clone(),
        host: placed.host.clone(),
        resource_pool: placed.resource_pool.clone(),
        datastore: placed.datastore.clone(),
        networks: choices,
        files,
        power_on: spec.power_on,
        inner: Inner {
            descriptor: text,
            members,
            manifest,
            folder,
            pool,
            host,
            datastore: Some(datastore),
            networks,
            target: Some(target),
        },
    })
}

/// CreateImportSpec's answer: the spec to hand to ImportVApp and the files it wants.
struct ImportSpecResult {
    spec: Node,
    /// (deviceId, path in the package)
    items: Vec<(String, String)>,
}

async fn create_import_spec(client: &Client, plan: &ImportPlan) -> OpResult<ImportSpecResult> {
    let endpoint = &plan.endpoint;
    let manager = client
        .content()
        .manager("ovfManager")
        .ok_or_else(|| OpError::invalid(format!("{endpoint} has no OvfManager")))?;
    let inner = &plan.inner;
    let (Some(pool), Some(ds)) = (&inner.pool, &inner.datastore) else {
        return Err(OpError::invalid("the import plan has no pool or datastore"));
    };
    let mut req = Request::new("CreateImportSpec", &manager);
    req.text("ovfDescriptor", &inner.descriptor)
        .moref("resourcePool", pool)
        .moref("datastore", ds);
    // WSDL order: locale, deploymentOption, entityName, hostSystem, networkMapping.
    req.nest("cisp", None, |r| {
        r.text("locale", "").text("deploymentOption", "");
        r.text("entityName", &plan.name);
        if let Some(host) = &inner.host {
            r.moref("hostSystem", host);
        }
        for (name, network) in &inner.networks {
            r.nest("networkMapping", None, |r| {
                r.text("name", name).moref("network", network);
            });
        }
    });
    let mut result = client
        .call_returnval(req)
        .await
        .at(endpoint)?
        .ok_or_else(|| OpError::invalid("CreateImportSpec returned nothing"))?;
    // The server's objections to the descriptor are its faults.
    if let Some(error) = result.child("error") {
        let message = error
            .text_of("localizedMessage")
            .unwrap_or_default()
            .to_string();
        let source = match error.child("fault") {
            Some(fault) => crate::vim::Error::from_fault_node(fault, &message),
            None => crate::vim::Error::Other(message),
        };
        return Err(OpError::vim(endpoint, source)
            .context(format!("{endpoint} cannot import {}", plan.file), None));
    }
    let items = result
        .children_named("fileItem")
        .map(|f| {
            (
                f.text_of("deviceId").unwrap_or_default().to_string(),
                f.text_of("path").unwrap_or_default().to_string(),
            )
        })
        .collect();
    let at = result
        .children
        .iter()
        .position(|c| c.name == "importSpec")
        .ok_or_else(|| OpError::invalid("CreateImportSpec returned no importSpec"))?;
    Ok(ImportSpecResult {
        spec: result.children.swap_remove(at),
        items,
    })
}

pub async fn import(plan: &ImportPlan, progress: &dyn Progress) -> OpResult<VmRef> {
    let target = plan
        .inner
        .target
        .clone()
        .ok_or_else(|| OpError::invalid("the import plan has no target"))?;
    let endpoint = plan.endpoint.clone();
    let client = target.endpoint.client().await?;
    progress.step(&format!("Importing {} as {}", plan.file, plan.name));
    let spec = create_import_spec(&client, plan).await?;
    let mut req = Request::new(
        "ImportVApp",
        plan.inner
            .pool
            .as_ref()
            .ok_or_else(|| OpError::invalid("the import plan has no pool"))?,
    );
    req.node("spec", &spec.spec);
    if let Some(folder) = &plan.inner.folder {
        req.moref("folder", folder);
    }
    if let Some(host) = &plan.inner.host {
        req.moref("host", host);
    }
    let lease = client
        .call_returnval(req)
        .await
        .at(&endpoint)?
        .and_then(|n| n.as_moref())
        .ok_or_else(|| OpError::invalid("ImportVApp returned no lease"))?;
    let outcome = async {
        let info = client
            .lease_ready(&lease, target.endpoint.timeouts().task)
            .await
            .at(&endpoint)?;
        let vm = info
            .entity
            .clone()
            .ok_or_else(|| OpError::invalid("the import lease names no VM"))?;
        let total: u64 = spec
            .items
            .iter()
            .filter_map(|(_, path)| plan.inner.members.get(path).map(|m| m.size))
            .sum();
        let done = AtomicU64::new(0);
        with_keepalive(&client, &lease, &done, total, async {
            for (device, path) in &spec.items {
                let url = info
                    .devices
                    .iter()
                    .find(|d| &d.import_key == device)
                    .ok_or_else(|| {
                        OpError::invalid(format!("the lease has no URL for {device} ({path})"))
                    })?;
                let member = plan.inner.members.get(path).ok_or_else(|| {
                    OpError::invalid(format!("the package lacks {path}"))
                })?;
                let digest = upload(&client, &endpoint, url, member, &done, total, progress).await?;
                if let Some(want) = plan.inner.manifest.get(path)
                    && *want != digest
                {
                    return Err(OpError::invalid(format!(
                        "{path} does not match the manifest (SHA-256 {digest}, listed {want}); the import was aborted"
                    )));
                }
            }
            Ok(())
        })
        .await?;
        client.lease_progress(&lease, 100).await.at(&endpoint)?;
        Ok::<_, OpError>(vm)
    }
    .await;
    let moref = match outcome {
        Ok(vm) => {
            client.lease_complete(&lease).await.at(&endpoint)?;
            vm
        }
        Err(e) => {
            // The server removes the VM being imported.
            let _ = client.lease_abort(&lease, &e.to_string()).await;
            return Err(e);
        }
    };
    let vm = VmRef::made(&target.endpoint, moref, &plan.name).await?;
    if plan.power_on {
        crate::ops::vms::power(&vm, crate::ops::vms::PowerAction::On, progress).await?;
    }
    Ok(vm)
}

/// Send one file of the package to its lease URL; its SHA-256.
async fn upload(
    client: &Client,
    endpoint: &str,
    device: &crate::vim::nfc_lease::DeviceUrl,
    member: &Member,
    done: &AtomicU64,
    total: u64,
    progress: &dyn Progress,
) -> OpResult<String> {
    let url = client.lease_url(&device.url).at(endpoint)?;
    let mut file = tokio::fs::File::open(&member.path)
        .await
        .map_err(|e| io_error(&member.path, e))?;
    file.seek(SeekFrom::Start(member.offset))
        .await
        .map_err(|e| io_error(&member.path, e))?;
    let hasher = Arc::new(Mutex::new(Sha256::new()));
    let sent = Arc::new(AtomicU64::new(0));
    let body = {
        let hasher = hasher.clone();
        let sent = sent.clone();
        tokio_util::io::ReaderStream::new(tokio::io::AsyncReadExt::take(file, member.size)).map(
            move |chunk| {
                if let Ok(bytes) = &chunk {
                    if let Ok(mut h) = hasher.lock() {
                        h.update(bytes);
                    }
                    sent.fetch_add(bytes.len() as u64, Ordering::Relaxed);
                }
                chunk
            },
        )
    };
    let before = done.load(Ordering::Relaxed);
    let sending = client.lease_upload(&url, device.disk, member.size, body);
    tokio::pin!(sending);
    // Progress while the body streams.
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(200));
    loop {
        tokio::select! {
            result = &mut sending => {
                result.at(endpoint)?;
                break;
            }
            _ = tick.tick() => progress.bytes(before + sent.load(Ordering::Relaxed), total),
        }
    }
    let moved = sent.load(Ordering::Relaxed);
    done.store(before + moved, Ordering::Relaxed);
    progress.bytes(before + moved, total);
    if moved != member.size {
        return Err(OpError::Io(format!(
            "{}: read {moved} of {} bytes",
            member.path.display(),
            member.size
        )));
    }
    let digest = hasher
        .lock()
        .map(|h| hex::encode(h.clone().finalize()))
        .map_err(|_| OpError::invalid("hash state lost"))?;
    Ok(digest)
}
