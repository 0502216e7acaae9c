//! Cold migration between endpoints (two ESXi hosts, ESXi → vCenter, vCenter A → B),
//! which no vSphere API does: copy every file of the powered-off VM over datastore HTTP
//! (hashed on both ends), register the copy on the target (RegisterVM_Task) with the
//! same UUID and MACs, remap its networks, power it on if it ran, and only then
//! unregister and delete the source.
//!
//! Whatever fails, exactly one registered copy of the VM is left, and the error says
//! where it is and what was left on the other side. Copied files are recorded in a
//! journal (`journal`) as they are verified, so a killed run continues where it stopped.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;

use crate::ops::drs;
use crate::ops::error::{OpError, OpResult};
use crate::ops::fleet::{Endpoint, Target, WithEndpoint};
use crate::ops::inventory;
use crate::ops::network::nic::{self, NicWant};
use crate::ops::progress::Progress;
use crate::ops::vms::register::{self, Placement};
use crate::ops::vms::{self, PowerAction, VmRef};
use crate::ops::{datastores, vms::VmInfo};
use crate::vim::{DatastorePath, MoRef, Node};

use super::MigrateSpec;
use super::copy::{self, Side};
use super::facts::Inventory;
use super::journal::{Journal, Verified};
use super::precheck::{self, Check, HostFacts, Input, Kind, VmFacts};

/// Files that belong to the running VM, not to the VM: ESXi makes them anew.
const NOT_COPIED: &[&str] = &["log", "swap", "uwswap", "core", "stat", "screenshot"];

/// What a cold migration would do (shown by --dry-run) and, after it, did.
#[derive(Debug, Clone, Serialize)]
pub struct ColdPlan {
    pub vm: String,
    pub kind: &'static str,
    pub from_endpoint: String,
    pub from_host: String,
    pub to_endpoint: String,
    pub to_host: String,
    pub to_datastore: String,
    /// The VM's folder on the target datastore.
    pub folder: String,
    pub files: Vec<PlannedFile>,
    pub bytes: u64,
    pub networks: Vec<NetworkMove>,
    /// The guest is shut down first (`--shutdown`).
    pub shutdown: bool,
    /// Powered on at the target (it ran before).
    pub power_on: bool,
    /// The source is unregistered but its files stay (`--keep-source`).
    pub keep_source: bool,
    pub preserve_mac: bool,
    pub uuid: String,
    /// Files an earlier, interrupted run already copied and verified.
    pub resumed: usize,
    pub checks: Vec<Check>,
    #[serde(skip)]
    pub(super) refs: Refs,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlannedFile {
    pub source: String,
    pub target: String,
    pub size: u64,
    pub kind: String,
}

/// One NIC's network, before and after.
#[derive(Debug, Clone, Serialize)]
pub struct NetworkMove {
    pub nic: String,
    pub mac: String,
    pub from: String,
    pub to: String,
}

/// What the run needs that the user does not see.
#[derive(Clone)]
pub(super) struct Refs {
    pub(super) source_dc: MoRef,
    pub(super) source_dc_name: String,
    pub(super) target: Arc<Endpoint>,
    pub(super) target_dc: MoRef,
    pub(super) target_dc_name: String,
    pub(super) host: MoRef,
    pub(super) pool: MoRef,
    pub(super) folder: MoRef,
    pub(super) vmx: DatastorePath,
    pub(super) source_dir: DatastorePath,
}

impl std::fmt::Debug for Refs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} → {} on {}",
            self.source_dir,
            self.vmx,
            self.target.name()
        )
    }
}

/// What a cold migration did.
#[derive(Debug, Clone, Serialize)]
pub struct ColdOutcome {
    /// The VM's id on the target.
    pub id: String,
    pub files_copied: usize,
    pub files_resumed: usize,
    pub bytes_copied: u64,
    /// Milliseconds streaming the files across, and reading the copies back to hash them.
    pub transfer_ms: u64,
    pub verify_ms: u64,
    /// Milliseconds from the first byte copied to the copy registered, fixed up and (if
    /// it ran) powered on: how long the move took, before the source is cleaned up.
    pub ready_ms: u64,
    pub powered_on: bool,
    /// `deleted`, or `kept` (unregistered, `--keep-source`), or `left` (could not be deleted).
    pub source: &'static str,
    pub changes: Vec<String>,
    pub notes: Vec<String>,
}

/// Read, decide and check; nothing is changed. `target` is the other endpoint and the
/// host there (None: its only host).
pub async fn plan(
    vm: &VmRef,
    target: &Arc<Endpoint>,
    host: Option<&str>,
    spec: &MigrateSpec,
) -> OpResult<ColdPlan> {
    let from = vm.endpoint.name().to_string();
    let to = target.name().to_string();
    let source = vms::info(vm).await?;
    let running = source.power_state == "poweredOn";
    if !spec.cold {
        return Err(OpError::refused(
            format!(
                "{} is on {from}, {} is on {to}: between endpoints only a cold migration is possible (every file is copied); nothing was changed",
                vm.name,
                host.unwrap_or(&to)
            ),
            "pass --cold (and --shutdown for a running VM)",
        ));
    }
    if source.power_state == "suspended" {
        return Err(OpError::refused(
            format!("{} is suspended; it was not migrated", vm.name),
            format!(
                "resume and shut it down first, or power it off (`ceso vm stop --force {}`)",
                vm.name
            ),
        ));
    }
    if running && !spec.shutdown {
        return Err(OpError::refused(
            format!(
                "{} is powered on; a cold migration needs it off, and it was not migrated",
                vm.name
            ),
            "pass --shutdown to shut the guest down first (it is powered on again on the target), or stop it yourself",
        ));
    }
    if source.snapshots > spec.own_snapshots {
        return Err(OpError::refused(
            format!(
                "{} has {} snapshot(s); it was not migrated",
                vm.name, source.snapshots
            ),
            format!(
                "consolidate first (`ceso snapshot remove-all {}`): a cold migration copies one disk chain",
                vm.name
            ),
        ));
    }
    let source_client = vm.endpoint.client().await?;
    let (source_dc, source_dc_name) = inventory::datacenter_of(&source_client, &vm.moref)
        .await
        .at(&from)?;
    let vmx = DatastorePath::parse(&source.vmx_path).ok_or_else(|| {
        OpError::invalid(format!(
            "{} has no .vmx path ({})",
            vm.name, source.vmx_path
        ))
    })?;
    let dir = vmx
        .path
        .rsplit_once('/')
        .map(|(d, _)| d.to_string())
        .unwrap_or_default();
    if dir.is_empty() {
        return Err(OpError::invalid(format!(
            "{}'s configuration {vmx} is not inside a folder",
            vm.name
        )));
    }
    let layout = source_client
        .properties(&vm.moref, &["layoutEx.file"])
        .await
        .at(&from)?;

    // The target side.
    let inv = Inventory::read_endpoint(target, None).await?;
    let place = match host {
        Some(h) => inv.host(h)?,
        None => match inv.hosts.as_slice() {
            [only] => only,
            many => {
                return Err(OpError::Invalid {
                    message: format!("{to} has {} hosts: say which one", many.len()),
                    hint: Some(format!(
                        "--to-host {to}/HOST, one of: {}",
                        many.iter()
                            .map(|h| h.facts.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                });
            }
        },
    };
    let target_client = target.client().await?;
    let (target_dc, target_dc_name) = inventory::datacenter_of(&target_client, &place.moref)
        .await
        .at(&to)?;
    let folder = target_client
        .properties(&target_dc, &["vmFolder"])
        .await
        .at(&to)?
        .moref("vmFolder")
        .ok_or_else(|| {
            OpError::invalid(format!(
                "datacenter {target_dc_name} on {to} has no VM folder"
            ))
        })?;
    let pool = place.root_pool.clone().ok_or_else(|| {
        OpError::invalid(format!(
            "{} on {to} has no resource pool",
            place.compute_name
        ))
    })?;
    let datastore = match &spec.datastore {
        Some(ds) => ds.clone(),
        None => roomiest(&target_client, &to, &inv, &place.facts).await?,
    };

    let mut checks = Vec::new();
    let mut files = Vec::new();
    let mut outside = Vec::new();
    for f in layout
        .get("layoutEx.file")
        .map(Node::items)
        .unwrap_or_default()
    {
        let kind = f.str_at("type").unwrap_or_default().to_string();
        if NOT_COPIED.contains(&kind.as_str()) {
            continue;
        }
        let Some(path) = f.str_at("name").and_then(DatastorePath::parse) else {
            continue;
        };
        let Some(base) = path
            .path
            .strip_prefix(&format!("{dir}/"))
            .filter(|b| path.datastore == vmx.datastore && !b.contains('/'))
        else {
            outside.push(path.to_string());
            continue;
        };
        files.push(PlannedFile {
            source: path.to_string(),
            target: DatastorePath {
                datastore: datastore.clone(),
                path: format!("{dir}/{base}"),
            }
            .to_string(),
            size: f
                .i64_at("size")
                .and_then(|s| u64::try_from(s).ok())
                .unwrap_or(0),
            kind,
        });
    }
    // The small files first, the extents last: a resumed run then has the most files
    // already done, and the big transfer starts only when the rest is in place.
    files.sort_by_key(|f| (f.kind == "diskExtent", f.size));
    if !files.iter().any(|f| f.kind == "config") {
        return Err(OpError::Invalid {
            message: format!(
                "{from} lists no configuration file for {} (layoutEx.file)",
                vm.name
            ),
            hint: Some("the server must report the VM's files to copy them".into()),
        });
    }
    checks.push(Check {
        name: "files",
        kind: Kind::Required,
        ok: outside.is_empty(),
        forced: false,
        reason: if outside.is_empty() {
            format!("{} files in [{}] {dir}", files.len(), vmx.datastore)
        } else {
            format!(
                "{} outside the VM's folder; move them into it first (storage relocation)",
                outside.join(", ")
            )
        },
    });

    // Networks: the same names on the target unless --network-map says otherwise.
    let mut networks = Vec::new();
    let mut unreachable = Vec::new();
    for n in &source.nics {
        let wanted = spec
            .network_map
            .iter()
            .find(|(old, _)| *old == n.network)
            .map_or_else(|| n.network.clone(), |(_, new)| new.clone());
        match nic::reachable(target, &place.facts.name, &wanted).await {
            Ok(name) => networks.push(NetworkMove {
                nic: n.label.clone(),
                mac: n.mac.clone(),
                from: n.network.clone(),
                to: name,
            }),
            Err(e) => unreachable.push(format!("{} ({wanted}): {e}", n.label)),
        }
    }

    // ceso's checks over the two inventories (the VM is off while it moves).
    let facts = VmFacts {
        id: vm.moref.value.clone(),
        name: vm.name.clone(),
        powered_on: running,
        // Another endpoint: never "the same host" even when both are ha-host.
        host_id: format!("{from}/{}", vm.host),
        cpus: source.cpus,
        memory_mb: source.memory_mb,
        datastores: vec![datastore.clone()],
        networks: networks.iter().map(|n| n.to.clone()).collect(),
        passthrough: source.pci_devices.iter().map(|d| d.label.clone()).collect(),
    };
    let rules = if place.in_cluster {
        let t = Target {
            endpoint: target.clone(),
            host: None,
        };
        Some(drs::load(&t, Some(&place.compute_name)).await?.1)
    } else {
        None
    };
    checks.extend(precheck::run(&Input {
        vm: &facts,
        target: &place.facts,
        datastore: Some(&datastore),
        ratios: spec.ratios,
        drs: rules.as_ref(),
        force: spec.force || !spec.check_compatibility,
        cold: true,
    }));
    if !unreachable.is_empty() {
        checks.retain(|c| c.name != "network");
        checks.push(Check {
            name: "network",
            kind: Kind::Required,
            ok: false,
            forced: false,
            reason: format!(
                "{}; map them with --network-map OLD=NEW",
                unreachable.join("; ")
            ),
        });
    }

    // Nothing of that name there, and the folder is free (or ours, from a killed run).
    // Each VM's name and MACs only, kept as the objects stream in: a target vCenter
    // may hold tens of thousands of VMs with long device lists.
    let there = target_client
        .collect_view_with(
            &target_client.content().root_folder,
            &[crate::vim::PropertySpec {
                kind: "VirtualMachine",
                paths: &["name", "config.hardware.device"],
            }],
            Vec::new,
            |all: &mut Vec<(String, Vec<String>)>, o| {
                let macs = o
                    .get("config.hardware.device")
                    .map(Node::items)
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|d| d.str_at("macAddress").map(str::to_string))
                    .collect();
                all.push((o.str("name").unwrap_or_default().to_string(), macs));
            },
        )
        .await
        .at(&to)?;
    let taken = there.iter().any(|(name, _)| *name == vm.name);
    if spec.preserve_mac {
        checks.push(mac_check(&source, &there, &to));
    }
    checks.push(Check {
        name: "name",
        kind: Kind::Required,
        ok: !taken,
        forced: false,
        reason: if taken {
            format!("{to} already has a VM named {}", vm.name)
        } else {
            format!("no VM named {} on {to}", vm.name)
        },
    });
    let target_vmx = DatastorePath {
        datastore: datastore.clone(),
        path: vmx.path.clone(),
    };
    let journal = journal_for(vm, &source, &to, &target_vmx);
    let exists = target_client
        .file_size(&target_dc_name, &target_vmx)
        .await
        .at(&to)?
        .is_some();
    // Only disk extents can be skipped (after both ends are hashed again): the small
    // files are always copied again.
    let resumed = files
        .iter()
        .filter(|f| f.kind == "diskExtent" && journal.verified(&f.target).is_some())
        .count();
    checks.push(Check {
        name: "folder",
        kind: Kind::Required,
        ok: !exists || !journal.is_empty(),
        forced: false,
        reason: match (exists, journal.is_empty()) {
            (true, true) => format!("{target_vmx} already exists on {to} (not copied by ceso); remove it or pick another --datastore"),
            (_, false) => format!("resuming: {resumed} disk extent(s) of an earlier run are kept if both ends still hash as verified; the other files are copied again"),
            (false, true) => format!("[{datastore}] {dir} is free on {to}"),
        },
    });
    let bytes: u64 = files.iter().map(|f| f.size).sum();
    let needed: u64 = files
        .iter()
        .filter(|f| journal.verified(&f.target).is_none())
        .map(|f| f.size)
        .sum();
    let free = free_space(&target_client, &to, &inv, &datastore).await?;
    checks.push(Check {
        name: "space",
        kind: Kind::Required,
        ok: free >= needed,
        forced: false,
        reason: format!(
            "{} MB to copy, {} MB free on {datastore}",
            needed.div_ceil(1 << 20),
            free >> 20
        ),
    });

    let plan = ColdPlan {
        vm: vm.name.clone(),
        kind: "cold (between endpoints)",
        from_endpoint: from,
        from_host: vm.host.clone(),
        to_endpoint: to,
        to_host: place.facts.name.clone(),
        to_datastore: datastore.clone(),
        folder: format!("[{datastore}] {dir}"),
        files,
        bytes,
        networks,
        shutdown: running,
        power_on: running,
        keep_source: spec.keep_source,
        preserve_mac: spec.preserve_mac,
        uuid: source.uuid.clone(),
        resumed,
        checks,
        refs: Refs {
            source_dc,
            source_dc_name,
            target: target.clone(),
            target_dc,
            target_dc_name,
            host: place.moref.clone(),
            pool,
            folder,
            vmx: target_vmx,
            source_dir: DatastorePath {
                datastore: vmx.datastore.clone(),
                path: dir,
            },
        },
    };
    let failed: Vec<String> = plan
        .checks
        .iter()
        .filter(|c| c.blocks())
        .map(Check::line)
        .collect();
    if !failed.is_empty() {
        return Err(OpError::refused(
            format!(
                "{} cannot move to {} on {}; nothing was changed:\n{}",
                vm.name,
                plan.to_host,
                plan.to_endpoint,
                failed.join("\n")
            ),
            "fix what the FAIL lines name; --force skips only ceso's advisory checks",
        ));
    }
    Ok(plan)
}

/// The copy keeps the source's MACs: none may be in use on the target endpoint, where
/// two NICs with one address would break both VMs' traffic on a shared network.
fn mac_check(source: &VmInfo, there: &[(String, Vec<String>)], to: &str) -> Check {
    let mut clashes = Vec::new();
    for (name, macs) in there {
        for mac in macs {
            if let Some(n) = source.nics.iter().find(|n| n.mac.eq_ignore_ascii_case(mac)) {
                clashes.push(format!(
                    "{} ({}) is in use by {name} on {to}",
                    n.mac, n.label
                ));
            }
        }
    }
    Check {
        name: "mac",
        kind: Kind::Required,
        ok: clashes.is_empty(),
        forced: false,
        reason: if clashes.is_empty() {
            format!("the VM's MAC addresses are free on {to}")
        } else {
            format!(
                "{}; free it there, or set phase4.multi_host.migration.preserve_mac: false to give the copy new MACs",
                clashes.join("; ")
            )
        },
    }
}

/// The journal of this VM's migration to that folder.
pub(super) fn journal_for(vm: &VmRef, source: &VmInfo, to: &str, vmx: &DatastorePath) -> Journal {
    let id = if source.instance_uuid.is_empty() {
        &source.uuid
    } else {
        &source.instance_uuid
    };
    Journal::open(
        &[
            vm.endpoint.name(),
            &vm.moref.value,
            id,
            to,
            &vmx.to_string(),
        ],
        &vm.name,
    )
}

/// The target host's datastore with the most free space.
async fn roomiest(
    client: &crate::vim::Client,
    endpoint: &str,
    inv: &Inventory,
    host: &HostFacts,
) -> OpResult<String> {
    let mut best: Option<(u64, String)> = None;
    for name in &host.datastores {
        let free = free_space(client, endpoint, inv, name).await?;
        if best.as_ref().is_none_or(|(f, _)| free > *f) {
            best = Some((free, name.clone()));
        }
    }
    best.map(|(_, n)| n).ok_or_else(|| OpError::Refused {
        message: format!("{} on {endpoint} has no datastore", host.name),
        hint: Some("mount one, or pick another host".into()),
    })
}

async fn free_space(
    client: &crate::vim::Client,
    endpoint: &str,
    inv: &Inventory,
    datastore: &str,
) -> OpResult<u64> {
    let ds = inv.datastore(datastore)?;
    Ok(client
        .properties(&ds, &["summary.freeSpace"])
        .await
        .at(endpoint)?
        .i64("summary.freeSpace")
        .and_then(|f| u64::try_from(f).ok())
        .unwrap_or(0))
}

/// Carry out a plan. On failure exactly one registered copy is left; the error says
/// which and what remains on the other side.
pub async fn run(vm: &VmRef, plan: &ColdPlan, progress: &dyn Progress) -> OpResult<ColdOutcome> {
    let refs = &plan.refs;
    let target = refs.target.clone();
    let target_vmx = refs.vmx.clone();
    let mut journal = {
        let info = vms::info(vm).await?;
        journal_for(vm, &info, target.name(), &target_vmx)
    };
    let mut notes = Vec::new();
    if plan.shutdown {
        vms::power(vm, PowerAction::Off { force: false }, progress).await?;
    }

    // 1. Copy.
    let started = std::time::Instant::now();
    let copied = match copy_files(vm, plan, &target, &mut journal, progress).await {
        Ok(c) => c,
        Err((e, partial)) => {
            let again = power_back(vm, plan).await;
            let mut left = Vec::new();
            if let Some(p) = partial {
                match datastores::delete_file(&target, &refs.target_dc, &p).await {
                    Ok(()) => left.push(format!("the partial copy {p} was removed")),
                    Err(d) => left.push(format!("the partial copy {p} could not be removed: {d}")),
                }
            }
            if !journal.is_empty() {
                left.push(format!(
                    "{} verified file(s) stay in {} on {} for a resumed run (run the same command again; or delete the folder)",
                    journal.len(),
                    plan.folder,
                    plan.to_endpoint
                ));
            }
            return Err(context(
                format!(
                    "copying {} to {} failed ({e}); the VM is still registered on {}{again}{}",
                    vm.name,
                    plan.to_endpoint,
                    plan.from_endpoint,
                    sentence(&left)
                ),
                e,
            ));
        }
    };

    // 2. Register the copy.
    let placement = Placement {
        folder: &refs.folder,
        pool: &refs.pool,
        host: &refs.host,
        host_name: &plan.to_host,
    };
    let new = match register::register(&target, &target_vmx, &vm.name, &placement, progress).await {
        Ok(new) => new,
        Err(e) => {
            let removed = remove_folder(&target, refs, plan).await;
            journal.remove();
            let again = power_back(vm, plan).await;
            return Err(context(
                format!(
                    "registering {} on {} failed ({e}); the VM is still registered on {}{again}; {removed}",
                    vm.name, plan.to_endpoint, plan.from_endpoint
                ),
                e,
            ));
        }
    };

    // 3. Same UUID and MACs, networks remapped, powered on: or roll the copy back.
    let changes = match finish_target(&new, plan, progress).await {
        Ok(changes) => changes,
        Err(e) => {
            let back = roll_back(&new, vm, plan, refs).await;
            journal.remove();
            return Err(context(
                format!(
                    "{} on {} could not be completed ({e}); {back}",
                    vm.name, plan.to_endpoint
                ),
                e,
            ));
        }
    };

    // 4. The source as it is now must be what was copied: a change since (a resumed
    // run's source reconfigured or written to, a VM powered on meanwhile) would be
    // lost with the source. Then the copy may start.
    let verified = match source_changes(vm, plan, &journal).await {
        Ok(changed) if changed.is_empty() => Ok(()),
        Ok(changed) => Err(OpError::Io(format!(
            "the source changed after it was copied: {}",
            changed.join("; ")
        ))),
        Err(e) => Err(e),
    };
    let started_target = match verified {
        Ok(()) if plan.power_on => vms::power(&new, PowerAction::On, progress)
            .await
            .map(|_| ()),
        other => other,
    };
    if let Err(e) = started_target {
        let back = roll_back(&new, vm, plan, refs).await;
        journal.remove();
        return Err(context(
            format!(
                "{} on {} could not be completed ({e}); {back}; run the same command again to copy it as it is now",
                vm.name, plan.to_endpoint
            ),
            e,
        ));
    }

    let ready = started.elapsed();

    // 5. Only now: the source leaves its inventory, then its files go.
    if let Err(e) = register::unregister(vm, progress).await {
        let back = roll_back(&new, vm, plan, refs).await;
        journal.remove();
        return Err(context(
            format!(
                "{} could not be unregistered from {} ({e}); {back}",
                vm.name, plan.from_endpoint
            ),
            e,
        ));
    }
    journal.remove();
    let source = drop_source_files(vm, plan, &mut notes).await;
    Ok(ColdOutcome {
        id: new.moref.value.clone(),
        files_copied: copied.files,
        files_resumed: copied.resumed,
        bytes_copied: copied.bytes,
        transfer_ms: u64::try_from(copied.timing.transfer.as_millis()).unwrap_or(u64::MAX),
        verify_ms: u64::try_from(copied.timing.verify.as_millis()).unwrap_or(u64::MAX),
        ready_ms: u64::try_from(ready.as_millis()).unwrap_or(u64::MAX),
        powered_on: plan.power_on,
        source,
        changes,
        notes,
    })
}

/// The unregistered source's files: deleted, or kept with `--keep-source`; says which
/// (`deleted`, `kept`, `left`) and notes what the user must know.
pub(super) async fn drop_source_files(
    vm: &VmRef,
    plan: &ColdPlan,
    notes: &mut Vec<String>,
) -> &'static str {
    let refs = &plan.refs;
    if plan.keep_source {
        notes.push(format!(
            "the source files stay in {} on {} (unregistered)",
            refs.source_dir, plan.from_endpoint
        ));
        return "kept";
    }
    match datastores::delete_file(&vm.endpoint, &refs.source_dc, &refs.source_dir).await {
        Ok(()) => "deleted",
        Err(e) => {
            notes.push(format!(
                "the migration is complete, but the source files {} on {} could not be deleted ({e}); remove them by hand",
                refs.source_dir, plan.from_endpoint
            ));
            "left"
        }
    }
}

struct Copied {
    files: usize,
    resumed: usize,
    bytes: u64,
    timing: copy::Timing,
}

/// Copy every planned file not verified by an earlier run. On failure: the error and
/// the target file that may be partly written.
async fn copy_files(
    vm: &VmRef,
    plan: &ColdPlan,
    target: &Arc<Endpoint>,
    journal: &mut Journal,
    progress: &dyn Progress,
) -> Result<Copied, (OpError, Option<DatastorePath>)> {
    let refs = &plan.refs;
    let source_client = vm.endpoint.client().await.map_err(|e| (e, None))?;
    let target_client = target.client().await.map_err(|e| (e, None))?;
    let moved = Arc::new(AtomicU64::new(0));
    let mut out = Copied {
        files: 0,
        resumed: 0,
        bytes: 0,
        timing: copy::Timing::default(),
    };
    let total: u64 = plan.bytes;
    for f in &plan.files {
        let (Some(from), Some(to)) = (
            DatastorePath::parse(&f.source),
            DatastorePath::parse(&f.target),
        ) else {
            return Err((
                OpError::invalid(format!("bad datastore path {} or {}", f.source, f.target)),
                None,
            ));
        };
        let dst = Side {
            client: &target_client,
            endpoint: target.name(),
            datacenter: &refs.target_dc_name,
            file: &to,
        };
        let src = Side {
            client: &source_client,
            endpoint: vm.endpoint.name(),
            datacenter: &refs.source_dc_name,
            file: &from,
        };
        if let Some(done) = journal.verified(&f.target).cloned() {
            // An earlier run's copy counts only when both ends still hold those bytes:
            // the source may have changed since (powered on, reconfigured, written to).
            // Small files (.vmx, .nvram, descriptors) are cheaper to copy than to check.
            if f.kind == "diskExtent" {
                progress.step(&format!(
                    "Checking {} against the copy of an earlier run",
                    f.source
                ));
                if still_same(&src, &dst, &done).await.map_err(|e| (e, None))? {
                    out.resumed += 1;
                    moved.fetch_add(done.size, Ordering::Relaxed);
                    progress.bytes(moved.load(Ordering::Relaxed), total);
                    continue;
                }
            }
            journal.forget(&f.target).map_err(|e| (e, None))?;
        }
        progress.step(&format!("Copying {} to {}", f.source, target.name()));
        let before = moved.load(Ordering::Relaxed);
        let copy = copy::copy(&src, &dst, &moved, &mut out.timing);
        tokio::pin!(copy);
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        let verified = loop {
            tokio::select! {
                result = &mut copy => break result,
                _ = tick.tick() => progress.bytes(moved.load(Ordering::Relaxed), total),
            }
        };
        let verified = verified.map_err(|e| (e, Some(to.clone())))?;
        out.bytes += moved.load(Ordering::Relaxed) - before;
        out.files += 1;
        journal.record(&f.target, verified).map_err(|e| (e, None))?;
    }
    progress.bytes(moved.load(Ordering::Relaxed), total);
    Ok(out)
}

/// UUID, MACs and networks of the registered copy as on the source (powered on only
/// once the source is proven unchanged).
pub(super) async fn finish_target(
    new: &VmRef,
    plan: &ColdPlan,
    progress: &dyn Progress,
) -> OpResult<Vec<String>> {
    let wanted: Vec<NicWant> = plan
        .networks
        .iter()
        .map(|n| NicWant {
            mac: n.mac.clone(),
            network: n.to.clone(),
            keep_mac: plan.preserve_mac,
        })
        .collect();
    let mut changes = nic::rewire(new, &wanted, progress).await?;
    let info = vms::info(new).await?;
    if !plan.uuid.is_empty() && !info.uuid.eq_ignore_ascii_case(&plan.uuid) {
        set_uuid(new, &plan.uuid, progress).await?;
        changes.push(format!("BIOS UUID {} → {}", info.uuid, plan.uuid));
    }
    if plan.preserve_mac {
        // Read back: the guarantee is what the server reports, not what was sent.
        let after = vms::info(new).await?;
        for n in &plan.networks {
            if !after
                .nics
                .iter()
                .any(|a| a.mac.eq_ignore_ascii_case(&n.mac))
            {
                return Err(OpError::Io(format!(
                    "{} has no NIC with the MAC address {} after registration",
                    plan.to_endpoint, n.mac
                )));
            }
        }
    }
    Ok(changes)
}

/// Whether both ends still hold the bytes an earlier run verified (both read at once).
async fn still_same(src: &Side<'_>, dst: &Side<'_>, done: &Verified) -> OpResult<bool> {
    let (a, b) = tokio::join!(differs(src, done), differs(dst, done));
    Ok(a?.is_none() && b?.is_none())
}

/// How a datastore file differs from what was verified: its size first, then its hash
/// list. None when it holds those bytes.
pub(super) async fn differs(side: &Side<'_>, done: &Verified) -> OpResult<Option<String>> {
    let size = side
        .client
        .file_size(side.datacenter, side.file)
        .await
        .at(side.endpoint)?;
    Ok(match size {
        None => Some(format!("{} is gone", side.file)),
        Some(size) if size != done.size => Some(format!(
            "{} is {size} bytes, {} were copied",
            side.file, done.size
        )),
        Some(_) => (copy::hash(side).await?.sha256 != done.sha256)
            .then(|| format!("{} has other bytes than were copied", side.file)),
    })
}

/// What differs between the source as it is now and what was copied and verified on
/// the target: its power state (a cold copy is of a VM that stays off) and each file's
/// size and hash list. Empty when the copy is current.
async fn source_changes(vm: &VmRef, plan: &ColdPlan, journal: &Journal) -> OpResult<Vec<String>> {
    let now = VmRef {
        power_state: None,
        ..vm.clone()
    };
    let info = vms::info(&now).await?;
    let mut changed = Vec::new();
    if info.power_state != "poweredOff" {
        changed.push(format!("{} is {} now", vm.name, info.power_state));
    }
    let client = vm.endpoint.client().await?;
    for f in &plan.files {
        let Some(file) = DatastorePath::parse(&f.source) else {
            return Err(OpError::invalid(format!("bad datastore path {}", f.source)));
        };
        let Some(done) = journal.verified(&f.target) else {
            changed.push(format!("{} was not copied", f.source));
            continue;
        };
        let side = Side {
            client: &client,
            endpoint: vm.endpoint.name(),
            datacenter: &plan.refs.source_dc_name,
            file: &file,
        };
        changed.extend(differs(&side, done).await?);
    }
    Ok(changed)
}

async fn set_uuid(vm: &VmRef, uuid: &str, progress: &dyn Progress) -> OpResult<()> {
    let client = vm.endpoint.client().await?;
    let mut req = crate::vim::Request::new("ReconfigVM_Task", &vm.moref);
    req.nest("spec", None, |r| {
        r.text("uuid", uuid);
    });
    client
        .run_task(req, vm.endpoint.timeouts().task, &|t| progress.task(t))
        .await
        .at(vm.endpoint.name())?;
    Ok(())
}

/// Undo a registered copy: power it off, destroy it (files too); the source, still
/// registered, is powered on again if it ran. Returns what the user must know.
pub(super) async fn roll_back(new: &VmRef, vm: &VmRef, plan: &ColdPlan, refs: &Refs) -> String {
    let quiet = crate::ops::progress::Silent;
    let new = &VmRef {
        power_state: None,
        ..new.clone()
    };
    let _ = vms::power(new, PowerAction::Off { force: true }, &quiet).await;
    let removed = match vms::delete(new, true, &quiet).await {
        Ok(()) => format!("the copy on {} was removed", plan.to_endpoint),
        Err(e) => match register::unregister(new, &quiet).await {
            Ok(()) => {
                let files = remove_folder(&refs.target, refs, plan).await;
                format!(
                    "the copy on {} was unregistered ({e}); {files}",
                    plan.to_endpoint
                )
            }
            Err(u) => format!(
                "the copy on {} could NOT be removed ({e}; {u}): two registered copies exist, delete the one on {} (`ceso --host {} vm delete {}`)",
                plan.to_endpoint, plan.to_endpoint, plan.to_endpoint, vm.name
            ),
        },
    };
    let again = power_back(vm, plan).await;
    format!(
        "the VM is still registered on {}{again}; {removed}",
        plan.from_endpoint
    )
}

/// Delete the target folder; says what happened.
pub(super) async fn remove_folder(target: &Arc<Endpoint>, refs: &Refs, plan: &ColdPlan) -> String {
    let vmx = &refs.vmx;
    let dir = DatastorePath {
        datastore: vmx.datastore.clone(),
        path: vmx
            .path
            .rsplit_once('/')
            .map(|(d, _)| d.to_string())
            .unwrap_or_default(),
    };
    match datastores::delete_file(target, &refs.target_dc, &dir).await {
        Ok(()) => format!(
            "the copied files in {dir} on {} were removed",
            plan.to_endpoint
        ),
        Err(e) => format!(
            "the copied files in {dir} on {} could not be removed ({e}); delete that folder",
            plan.to_endpoint
        ),
    }
}

/// Power the source on again when the migration shut it down.
pub(super) async fn power_back(vm: &VmRef, plan: &ColdPlan) -> String {
    if !plan.shutdown {
        return String::new();
    }
    // The lookup's power state is stale now: read it again.
    let vm = VmRef {
        power_state: None,
        ..vm.clone()
    };
    match vms::power(&vm, PowerAction::On, &crate::ops::progress::Silent).await {
        Ok(_) => " (powered on again)".into(),
        Err(e) => format!(" (it could not be powered on again: {e})"),
    }
}

pub(super) fn context(message: String, source: OpError) -> OpError {
    OpError::Context {
        message,
        hint: None,
        source: Box::new(source),
    }
}

pub(super) fn sentence(parts: &[String]) -> String {
    if parts.is_empty() {
        String::new()
    } else {
        format!("; {}", parts.join("; "))
    }
}
