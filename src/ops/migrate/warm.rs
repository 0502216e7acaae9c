//! Warm migration between endpoints: the VM keeps running while its disks are copied,
//! and is off only for the cut-over. Planned as a cold migration (`cold::plan`: the same
//! prechecks, target, files), then:
//!
//! 1. change tracking on; a base round (snapshot, every disk's flat extent copied and
//!    verified, the snapshot removed, its changeId kept);
//! 2. delta rounds: snapshot, the areas changed since the last changeId
//!    (QueryChangedDiskAreas) sent as one vmfsSparse delta per disk (`delta_copy`,
//!    uploaded whole and read back) on top of the target's chain, snapshot removed,
//!    until `warm_rounds` says to cut over or gives up;
//! 3. before the cut-over, while the guest still runs: the small files copied, and one
//!    more quick round, so the last delta is small;
//! 4. cut-over: the guest shut down (or powered off with `--force`), a last delta
//!    round asked of the powered-off disks (no snapshot) while the small files are
//!    checked again, the .vmx naming the top of each chain; registered with the same
//!    UUID and MACs, powered on; the chain consolidated after power-on (so it adds no
//!    downtime), the whole disk compared with the source's by hash, and only then the
//!    source unregistered and deleted. `cutover_steps` says where the downtime went.
//!
//! Before the cut-over the source runs untouched (each round's snapshot is removed
//! whatever happens but a kill, and a rerun removes a killed run's, known by its name
//! and description); after it, cold migration's "exactly one registered copy" holds.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use serde::Serialize;

use crate::ops::backup::cbt;
use crate::ops::backup::reader;
use crate::ops::backup::throttle::Throttle;
use crate::ops::error::{OpError, OpResult};
use crate::ops::fleet::{Endpoint, WithEndpoint};
use crate::ops::progress::Progress;
use crate::ops::snapshots::{self, SnapshotSpec};
use crate::ops::vms::info::{device_kind, disk};
use crate::ops::vms::register::{self, Placement};
use crate::ops::vms::{self, PowerAction, VmRef};
use crate::vim::{Client, DatastorePath, MoRef, Node, Request};

use super::cold::{self, ColdPlan};
use super::copy::{self, Side};
use super::delta_copy;
use super::delta_disk;
use super::journal::{Chain, Journal, Verified};
use super::precheck::{Check, Kind};
use super::warm_rounds::{self, Next, Round, StopRule};
use super::{MigrateSpec, NOT_CONVERGING_HINT};

/// The name (then the round) and description of a round's snapshot: a rerun knows its
/// own leftovers by them.
pub const SNAPSHOT_PREFIX: &str = "ceso-warm-migration-";
pub const SNAPSHOT_DESCRIPTION: &str =
    "taken by ceso for a warm migration round; removed when it ends";

/// Most bytes of a .vmx or descriptor read into memory.
const SMALL: usize = 4 << 20;
/// Longest wait for the next bytes of a small file.
const SMALL_IDLE: Duration = Duration::from_secs(120);

/// `--warm`'s own settings.
#[derive(Debug, Clone, Default)]
pub struct WarmOptions {
    pub stop: StopRule,
    /// `--max-rate`: bytes per second the rounds average at most.
    pub max_rate: Option<u64>,
}

/// What a warm migration did.
#[derive(Debug, Clone, Serialize)]
pub struct WarmOutcome {
    /// The VM's id on the target.
    pub id: String,
    /// Round 0 is the base; the last one ran with the guest off.
    pub rounds: Vec<Round>,
    pub bytes_sent: u64,
    /// Milliseconds from the guest being stopped to the copy powered on at the target.
    pub downtime_ms: u64,
    /// Where the downtime went, step by step.
    pub cutover_steps: Vec<CutoverStep>,
    pub cutover_reason: String,
    /// The round an earlier, interrupted run had got to (its chain re-checked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resumed_after_round: Option<u32>,
    pub powered_on: bool,
    /// `deleted`, `kept` (unregistered, `--keep-source`), or `left`.
    pub source: &'static str,
    pub changes: Vec<String>,
    pub notes: Vec<String>,
}

/// One step of the cut-over and its milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct CutoverStep {
    pub step: &'static str,
    pub ms: u64,
}

/// The cut-over's clock: each `lap` closes a step at now, `add` counts a part timed
/// elsewhere (a step named twice adds up).
struct Laps {
    mark: Instant,
    steps: Vec<CutoverStep>,
}

impl Laps {
    fn start() -> Laps {
        Laps {
            mark: Instant::now(),
            steps: Vec::new(),
        }
    }

    fn lap(&mut self, step: &'static str) {
        let now = Instant::now();
        self.add(step, now - self.mark);
        self.mark = now;
    }

    fn add(&mut self, step: &'static str, took: Duration) {
        let took = ms(took);
        match self.steps.iter_mut().find(|s| s.step == step) {
            Some(s) => s.ms += took,
            None => self.steps.push(CutoverStep { step, ms: took }),
        }
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The name of the precheck line about a killed run's leftover snapshots.
const LEFTOVER: &str = "leftover snapshots";

/// Plan a warm migration: a cold migration's plan of a VM that may run. Snapshots that
/// are all ceso's own round snapshots (a killed run's: its name and description) are
/// removed first, and the plan says so (a dry run: that they would be); any other
/// snapshot is refused by the precheck as before.
pub async fn plan(
    vm: &VmRef,
    target: &Arc<Endpoint>,
    host: Option<&str>,
    spec: &MigrateSpec,
    dry_run: bool,
    progress: &dyn Progress,
) -> OpResult<ColdPlan> {
    let all = snapshots::list(vm).await?;
    let own: Vec<&snapshots::Snapshot> = all
        .iter()
        .filter(|s| s.name.starts_with(SNAPSHOT_PREFIX) && s.description == SNAPSHOT_DESCRIPTION)
        .collect();
    let leftover = (!own.is_empty() && own.len() == all.len()).then(|| {
        let names: Vec<&str> = own.iter().map(|s| s.name.as_str()).collect();
        names.join(", ")
    });
    if let Some(names) = &leftover
        && !dry_run
    {
        for s in &own {
            progress.step(&format!(
                "Removing {}, the snapshot an interrupted warm migration of {} left",
                s.name, vm.name
            ));
            snapshots::remove(vm, &s.moref(), &s.name, false, progress)
                .await
                .map_err(|e| {
                    cold::context(
                        format!("{} has ceso's leftover snapshot(s) {names}, which could not be removed ({e}); nothing was copied", vm.name),
                        e,
                    )
                })?;
        }
    }
    let cold_spec = MigrateSpec {
        cold: true,
        shutdown: true,
        own_snapshots: if dry_run && leftover.is_some() {
            own.len()
        } else {
            0
        },
        ..spec.clone()
    };
    let mut plan = cold::plan(vm, target, host, &cold_spec).await?;
    plan.kind = "warm (between endpoints)";
    if let Some(names) = leftover {
        let done = if dry_run {
            "would be removed"
        } else {
            "removed"
        };
        plan.checks.push(Check {
            name: LEFTOVER,
            kind: Kind::Required,
            ok: true,
            forced: false,
            reason: format!(
                "{names}: left by an interrupted warm migration (ceso's name and description), {done} first"
            ),
        });
    }
    Ok(plan)
}

/// One disk's chain on the target as the rounds build it.
struct Disk {
    key: i64,
    capacity: u64,
    source_desc: DatastorePath,
    source_flat: DatastorePath,
    target_desc: DatastorePath,
    target_flat: DatastorePath,
    /// File name of the top descriptor of the target's chain, and its CID.
    top: String,
    top_cid: String,
    /// The changeId the target's chain is current with.
    change_id: String,
    /// The chain's verified files on the target (base extent, each delta).
    files: Vec<String>,
    /// The tracking epoch of the source's disk now (changeIds of one epoch compare).
    epoch: String,
}

struct Ends<'a> {
    vm: &'a VmRef,
    plan: &'a ColdPlan,
    source: &'a Client,
    target: &'a Client,
    moved: Arc<AtomicU64>,
    /// `--max-rate`, paced inside every copy of the rounds the guest runs through.
    throttle: Throttle,
}

/// How a round learns what changed: from a snapshot it takes (the guest runs), or from
/// the disks as they are (the guest is off: the last round, no snapshot to take and
/// remove during the downtime).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Point {
    Snapshot,
    Off,
}

/// Carry out a warm migration planned by `plan`.
pub async fn run(
    vm: &VmRef,
    plan: &ColdPlan,
    options: &WarmOptions,
    force: bool,
    progress: &dyn Progress,
) -> OpResult<WarmOutcome> {
    let refs = &plan.refs;
    let target = refs.target.clone();
    let source_client = vm.endpoint.client().await?;
    let target_client = target.client().await?;
    let mut disks = disks_of(vm, plan).await?;
    if plan.power_on {
        progress.step(&format!("Turning on change tracking of {}", vm.name));
        cbt::enable(
            &source_client,
            &vm.moref,
            vm.endpoint.timeouts().task,
            &|t| progress.task(t),
        )
        .await
        .at(vm.endpoint.name())?;
    }
    let mut journal = {
        let info = vms::info(vm).await?;
        cold::journal_for(vm, &info, target.name(), &refs.vmx)
    };
    let ends = Ends {
        vm,
        plan,
        source: &source_client,
        target: &target_client,
        moved: Arc::new(AtomicU64::new(0)),
        throttle: Throttle::new(options.max_rate),
    };
    let resumed = if plan.power_on {
        resume(&ends, &mut disks, &journal, progress).await?
    } else {
        None
    };
    let leave = |e: OpError| {
        cold::context(
            format!(
                "the warm migration of {} stopped before the cut-over ({e}); it is still running on {}, its snapshots removed; the copied rounds stay in {} on {} (delete that folder, or run again)",
                vm.name, plan.from_endpoint, plan.folder, plan.to_endpoint
            ),
            e,
        )
    };

    // 1. and 2. Rounds while the guest runs. Once the rule says to cut over, what does
    // not need the guest off goes first: the small files (checked again once it is off),
    // and one more quick round, so the last delta holds only what the guest writes
    // during that round and its shutdown.
    let mut rounds = Vec::new();
    let mut index = resumed.map_or(0, |r| r + 1);
    let mut small = Vec::new();
    let mut cutting = None;
    let reason = loop {
        if let Some(why) = cutting.take() {
            break why;
        }
        if !rounds.is_empty() {
            match warm_rounds::next(&options.stop, &rounds, SystemTime::now()) {
                Next::Another => {}
                Next::CutOver(why) => {
                    small = pre_copy_small(&ends, &disks, progress)
                        .await
                        .map_err(leave)?;
                    cutting = Some(why);
                }
                Next::NotConverging(message) => {
                    return Err(OpError::refused(
                        format!(
                            "{message}; {} still runs on {}, its snapshots removed; the rounds copied so far stay in {} on {} (the same command continues from them)",
                            vm.name, plan.from_endpoint, plan.folder, plan.to_endpoint
                        ),
                        NOT_CONVERGING_HINT,
                    ));
                }
            }
        }
        let round = copy_round(
            &ends,
            &mut disks,
            &mut journal,
            index,
            Point::Snapshot,
            &mut Laps::start(),
            progress,
        )
        .await
        .map_err(leave)?;
        rounds.push(round);
        index += 1;
        if !plan.power_on {
            // Nothing writes to a VM that is off: the base round is the whole copy.
            break "the VM is off".to_string();
        }
    };

    // 3. Cut-over.
    let off = Instant::now();
    let mut laps = Laps::start();
    if plan.power_on {
        progress.step(&format!(
            "Cutting over ({reason}): stopping {} on {}",
            vm.name, plan.from_endpoint
        ));
        let running = VmRef {
            power_state: None,
            ..vm.clone()
        };
        vms::power(&running, PowerAction::Off { force }, progress)
            .await
            .map_err(leave)?;
        laps.lap("guest shut down");
        let mut round_laps = Laps::start();
        let (last, rechecked) = tokio::join!(
            copy_round(
                &ends,
                &mut disks,
                &mut journal,
                index,
                Point::Off,
                &mut round_laps,
                progress
            ),
            recheck_small(&ends, &small, progress)
        );
        laps.steps.extend(round_laps.steps);
        laps.lap("small files checked again");
        let failed = match (last, rechecked) {
            (Ok(round), Ok(())) => {
                rounds.push(round);
                None
            }
            (Err(e), _) => Some(("the last round", e)),
            (_, Err(e)) => Some(("checking the small files again", e)),
        };
        if let Some((what, e)) = failed {
            let again = cold::power_back(vm, plan).await;
            return Err(cold::context(
                format!(
                    "{what} of {} failed ({e}); the VM is still registered on {}{again}",
                    vm.name, plan.from_endpoint
                ),
                e,
            ));
        }
    }
    let small_files = if plan.power_on {
        put_vmx(&ends, &disks, progress).await
    } else {
        copy_small_files(&ends, &disks, progress).await
    };
    if let Err(e) = small_files {
        let again = cold::power_back(vm, plan).await;
        return Err(cold::context(
            format!(
                "copying the small files of {} failed ({e}); the VM is still registered on {}{again}",
                vm.name, plan.from_endpoint
            ),
            e,
        ));
    }
    laps.lap(".vmx naming the chains' tops");

    let placement = Placement {
        folder: &refs.folder,
        pool: &refs.pool,
        host: &refs.host,
        host_name: &plan.to_host,
    };
    let new = match register::register(&target, &refs.vmx, &vm.name, &placement, progress).await {
        Ok(new) => new,
        Err(e) => {
            let removed = cold::remove_folder(&target, refs, plan).await;
            journal.remove();
            let again = cold::power_back(vm, plan).await;
            return Err(cold::context(
                format!(
                    "registering {} on {} failed ({e}); the VM is still registered on {}{again}; {removed}",
                    vm.name, plan.to_endpoint, plan.from_endpoint
                ),
                e,
            ));
        }
    };
    laps.lap("registered");
    let finished = cold::finish_target(&new, plan, progress).await;
    laps.lap("UUID, MACs, networks");
    let finished = match finished {
        Ok(changes) if plan.power_on => vms::power(&new, PowerAction::On, progress)
            .await
            .map(|_| changes),
        other => other,
    };
    laps.lap("powered on");
    let changes = match finished {
        Ok(changes) => changes,
        Err(e) => {
            let back = cold::roll_back(&new, vm, plan, refs).await;
            journal.remove();
            return Err(cold::context(
                format!(
                    "{} on {} could not be completed ({e}); {back}",
                    vm.name, plan.to_endpoint
                ),
                e,
            ));
        }
    };
    let downtime = off.elapsed();
    journal.remove();

    // 4. After power-on: fold the chain, compare whole disks, then the source goes.
    let mut notes: Vec<String> = plan
        .checks
        .iter()
        .filter(|c| c.name == LEFTOVER)
        .map(|c| format!("snapshot(s) {}", c.reason))
        .collect();
    let compared = match consolidate(&new, &target_client, progress).await {
        Ok(()) => compare(&ends, &disks, progress).await,
        Err(e) => Err(e),
    };
    let source = match compared {
        Err(e) => {
            notes.push(format!(
                "{} runs on {}, but its disks could not be proven equal to the source's ({e}); the source stays registered on {}, powered off: check the copy, then delete one of them",
                vm.name, plan.to_endpoint, plan.from_endpoint
            ));
            "left"
        }
        Ok(()) => remove_source(vm, plan, &mut notes, progress).await,
    };
    Ok(WarmOutcome {
        id: new.moref.value.clone(),
        bytes_sent: rounds.iter().map(|r| r.bytes).sum(),
        rounds,
        downtime_ms: ms(downtime),
        cutover_steps: laps.steps,
        cutover_reason: reason,
        resumed_after_round: resumed,
        powered_on: plan.power_on,
        source,
        changes,
        notes,
    })
}

/// Each virtual disk of the VM with its files on both ends.
async fn disks_of(vm: &VmRef, plan: &ColdPlan) -> OpResult<Vec<Disk>> {
    let info = vms::info(vm).await?;
    let target_of = |source: &DatastorePath| {
        plan.files
            .iter()
            .find(|f| f.source == source.to_string())
            .and_then(|f| DatastorePath::parse(&f.target))
    };
    let mut out = Vec::new();
    for d in &info.disks {
        let bad = || {
            OpError::refused(
                format!(
                    "{} of {} ({}) is not a flat disk in the VM's folder; a warm migration copies flat disks only",
                    d.label, vm.name, d.file
                ),
                "migrate it cold (`--cold --shutdown`)",
            )
        };
        let source_desc = DatastorePath::parse(&d.file).ok_or_else(bad)?;
        let stem = source_desc
            .path
            .rsplit('/')
            .next()
            .and_then(|n| n.strip_suffix(".vmdk"))
            .ok_or_else(bad)?
            .to_string();
        let source_flat = source_desc.sibling(&format!("{stem}-flat.vmdk"));
        let (Some(target_desc), Some(target_flat)) =
            (target_of(&source_desc), target_of(&source_flat))
        else {
            return Err(bad());
        };
        out.push(Disk {
            key: d.key,
            capacity: u64::try_from(d.capacity_bytes).unwrap_or(0),
            source_desc,
            source_flat,
            target_desc,
            target_flat,
            top: format!("{stem}.vmdk"),
            top_cid: String::new(),
            change_id: String::new(),
            files: Vec::new(),
            epoch: epoch(&d.change_id).to_string(),
        });
    }
    Ok(out)
}

/// One round: snapshot (or, the guest off, the disks as they are), each disk's base
/// (round 0) or changed areas sent and verified, the snapshot removed whatever
/// happened. `laps` gets the parts of the round's time.
async fn copy_round(
    ends: &Ends<'_>,
    disks: &mut [Disk],
    journal: &mut Journal,
    index: u32,
    point: Point,
    laps: &mut Laps,
    progress: &dyn Progress,
) -> OpResult<Round> {
    let started = Instant::now();
    let before = ends.moved.load(Ordering::Relaxed);
    let sent = if point == Point::Off {
        send_round(ends, disks, None, index, laps, progress).await?
    } else {
        let spec = SnapshotSpec {
            name: format!("{SNAPSHOT_PREFIX}{index}"),
            description: SNAPSHOT_DESCRIPTION.into(),
            memory: false,
            quiesce: false,
        };
        let snapshot = snapshots::create(ends.vm, &spec, progress).await?;
        laps.lap("snapshot taken");
        let sent = send_round(ends, disks, Some(&snapshot.moref()), index, laps, progress).await;
        let removed =
            snapshots::remove(ends.vm, &snapshot.moref(), &spec.name, false, progress).await;
        laps.lap("snapshot removed");
        let sent = sent?;
        removed?;
        sent
    };
    for (file, verified) in sent {
        journal.record(&file, verified)?;
    }
    for d in disks.iter() {
        journal.record_chain(
            &d.target_desc.to_string(),
            Chain {
                round: index,
                top: d.top.clone(),
                top_cid: d.top_cid.clone(),
                change_id: d.change_id.clone(),
                files: d.files.clone(),
            },
        )?;
    }
    laps.lap("journal");
    let bytes = ends.moved.load(Ordering::Relaxed) - before;
    progress.step(&format!(
        "Round {index}: {bytes} bytes in {:.1}s",
        started.elapsed().as_secs_f64()
    ));
    Ok(Round {
        index,
        bytes,
        duration: started.elapsed(),
    })
}

/// Each disk's round against `snapshot`, or against the powered-off disks when None:
/// those hold what the chain now holds, so their changeId stays the last snapshot's
/// (a later round asks again for everything since it, a superset, which is safe).
async fn send_round(
    ends: &Ends<'_>,
    disks: &mut [Disk],
    snapshot: Option<&MoRef>,
    index: u32,
    laps: &mut Laps,
    progress: &dyn Progress,
) -> OpResult<Vec<(String, Verified)>> {
    let (vm, refs) = (ends.vm, &ends.plan.refs);
    let mut sent = Vec::new();
    let props = match snapshot {
        Some(snapshot) => Some(
            ends.source
                .properties(snapshot, &["config.hardware.device"])
                .await
                .at(vm.endpoint.name())?,
        ),
        None => None,
    };
    let devices: Vec<&Node> = props
        .as_ref()
        .and_then(|p| p.get("config.hardware.device"))
        .map(Node::items)
        .unwrap_or_default();
    // The guest runs through every round but the last: only those are paced.
    let pace = snapshot.is_some().then_some(&ends.throttle);
    for d in disks.iter_mut() {
        let change_id = match snapshot {
            None => d.change_id.clone(),
            Some(_) => devices
                .iter()
                .filter(|n| device_kind(n) == "VirtualDisk")
                .map(|n| disk(n))
                .find(|s| s.key == d.key)
                .map(|s| s.change_id)
                .unwrap_or_default(),
        };
        if change_id.is_empty() && ends.plan.power_on {
            return Err(OpError::refused(
                format!(
                    "the snapshot of {} has no changeId for disk {}: change tracking is not on",
                    vm.name, d.key
                ),
                "check that the VM's hardware version supports changed block tracking, or migrate it cold",
            ));
        }
        let source = |file| Side {
            client: ends.source,
            endpoint: vm.endpoint.name(),
            datacenter: &refs.source_dc_name,
            file,
        };
        let target = |file| Side {
            client: ends.target,
            endpoint: refs.target.name(),
            datacenter: &refs.target_dc_name,
            file,
        };
        if index == 0 {
            progress.step(&format!("Round 0: copying {}", d.source_flat));
            let mut timing = copy::Timing::default();
            let verified = copy::copy_paced(
                &source(&d.source_flat),
                &target(&d.target_flat),
                &ends.moved,
                &mut timing,
                pace,
            )
            .await?;
            d.files = vec![d.target_flat.to_string()];
            sent.push((d.target_flat.to_string(), verified));
            let text = read_small(&source(&d.source_desc)).await?;
            d.top_cid = delta_disk::descriptor_cid(&String::from_utf8_lossy(&text))
                .ok_or_else(|| OpError::Io(format!("{} has no CID line", d.source_desc)))?;
            put_small(&target(&d.target_desc), text).await?;
        } else {
            let extents = cbt::changed_areas(
                ends.source,
                &vm.moref,
                snapshot,
                i32::try_from(d.key).unwrap_or_default(),
                d.capacity,
                &d.change_id,
            )
            .await
            .at(vm.endpoint.name())?;
            laps.lap("changed areas asked");
            if !extents.is_empty() {
                let stem = d.top_stem();
                let name = format!("{stem}-{index:06}.vmdk");
                let extent = format!("{stem}-{index:06}-delta.vmdk");
                progress.step(&format!("Round {index}: sending {extent}"));
                let (delta_path, desc_path) =
                    (d.target_desc.sibling(&extent), d.target_desc.sibling(&name));
                let mut timing = copy::Timing::default();
                let verified = delta_copy::copy_delta(
                    &source(&d.source_flat),
                    &target(&delta_path),
                    d.capacity,
                    &extents,
                    &ends.moved,
                    pace,
                    &mut timing,
                )
                .await?;
                laps.add("delta sent", timing.transfer);
                laps.add("delta read back", timing.verify);
                laps.mark = Instant::now();
                d.files.push(delta_path.to_string());
                sent.push((delta_path.to_string(), verified));
                let cid = delta_disk::new_cid();
                let text = delta_disk::descriptor(&extent, &d.top, &d.top_cid, &cid, d.capacity);
                put_small(&target(&desc_path), text.into_bytes()).await?;
                laps.lap("delta descriptor");
                d.top = name;
                d.top_cid = cid;
            }
        }
        d.change_id = change_id;
    }
    Ok(sent)
}

/// The round an earlier run's chains are current with, when every disk's chain is on
/// the target as verified (each file's size and hashes, the top's CID) and the
/// source's change tracking is still in the epoch of its changeId; the disks then
/// continue from there. None: start from the base round.
async fn resume(
    ends: &Ends<'_>,
    disks: &mut [Disk],
    journal: &Journal,
    progress: &dyn Progress,
) -> OpResult<Option<u32>> {
    let refs = &ends.plan.refs;
    let chains: Vec<Chain> = disks
        .iter()
        .filter_map(|d| journal.chain(&d.target_desc.to_string()).cloned())
        .collect();
    let Some(round) = chains.first().map(|c| c.round) else {
        return Ok(None);
    };
    if disks.is_empty() || chains.len() != disks.len() || chains.iter().any(|c| c.round != round) {
        return Ok(None);
    }
    for (d, c) in disks.iter().zip(&chains) {
        if c.change_id.is_empty() || epoch(&c.change_id) != d.epoch {
            return Ok(None);
        }
        progress.step(&format!(
            "Checking the chain of {} an earlier run copied (round {round})",
            d.target_desc
        ));
        let mut paths = Vec::new();
        for f in &c.files {
            let (Some(done), Some(path)) = (journal.verified(f), DatastorePath::parse(f)) else {
                return Ok(None);
            };
            paths.push((done, path));
        }
        let top = d.target_desc.sibling(&c.top);
        paths.sort_by_key(|(_, p)| p.to_string());
        for (done, path) in &paths {
            let side = Side {
                client: ends.target,
                endpoint: refs.target.name(),
                datacenter: &refs.target_dc_name,
                file: path,
            };
            if cold::differs(&side, done).await?.is_some() {
                return Ok(None);
            }
        }
        let side = Side {
            client: ends.target,
            endpoint: refs.target.name(),
            datacenter: &refs.target_dc_name,
            file: &top,
        };
        let Ok(text) = read_small(&side).await else {
            return Ok(None);
        };
        if delta_disk::descriptor_cid(&String::from_utf8_lossy(&text)).as_deref()
            != Some(c.top_cid.as_str())
        {
            return Ok(None);
        }
    }
    for (d, c) in disks.iter_mut().zip(chains) {
        d.top = c.top;
        d.top_cid = c.top_cid;
        d.change_id = c.change_id;
        d.files = c.files;
    }
    Ok(Some(round))
}

/// A changeId's tracking epoch: the part before `/` (a new one each time CBT is enabled).
fn epoch(change_id: &str) -> &str {
    change_id.split('/').next().unwrap_or_default()
}

impl Disk {
    /// The base descriptor's name without `.vmdk`: every delta is named after it.
    fn top_stem(&self) -> String {
        self.target_desc
            .path
            .rsplit('/')
            .next()
            .and_then(|n| n.strip_suffix(".vmdk"))
            .unwrap_or("disk")
            .to_string()
    }
}

/// A small file (not a disk, not the .vmx) as copied and verified.
struct SmallFile {
    from: DatastorePath,
    to: DatastorePath,
    verified: Verified,
}

/// The planned files that are neither a disk's nor the .vmx, with their two ends.
fn small_files(ends: &Ends<'_>, disks: &[Disk]) -> OpResult<Vec<(DatastorePath, DatastorePath)>> {
    let disk_files: Vec<String> = disks
        .iter()
        .flat_map(|d| [d.source_desc.to_string(), d.source_flat.to_string()])
        .collect();
    ends.plan
        .files
        .iter()
        .filter(|f| f.kind != "config" && !disk_files.contains(&f.source))
        .map(|f| {
            match (
                DatastorePath::parse(&f.source),
                DatastorePath::parse(&f.target),
            ) {
                (Some(from), Some(to)) => Ok((from, to)),
                _ => Err(OpError::invalid(format!(
                    "bad datastore path {} or {}",
                    f.source, f.target
                ))),
            }
        })
        .collect()
}

impl Ends<'_> {
    fn source_side<'s>(&'s self, file: &'s DatastorePath) -> Side<'s> {
        Side {
            client: self.source,
            endpoint: self.vm.endpoint.name(),
            datacenter: &self.plan.refs.source_dc_name,
            file,
        }
    }

    fn target_side<'s>(&'s self, file: &'s DatastorePath) -> Side<'s> {
        Side {
            client: self.target,
            endpoint: self.plan.refs.target.name(),
            datacenter: &self.plan.refs.target_dc_name,
            file,
        }
    }
}

/// Copy the small files (NVRAM, snapshot list, …) while the guest still runs; each is
/// checked again once it is off (`recheck_small`).
async fn pre_copy_small(
    ends: &Ends<'_>,
    disks: &[Disk],
    progress: &dyn Progress,
) -> OpResult<Vec<SmallFile>> {
    let mut out = Vec::new();
    for (from, to) in small_files(ends, disks)? {
        progress.step(&format!("Copying {from}"));
        let mut timing = copy::Timing::default();
        let verified = copy::copy(
            &ends.source_side(&from),
            &ends.target_side(&to),
            &ends.moved,
            &mut timing,
        )
        .await?;
        out.push(SmallFile { from, to, verified });
    }
    Ok(out)
}

/// Each small file copied before the shutdown, as the source holds it now: unchanged
/// (same size and hash list: the copy is current), or copied again (ESXi writes the
/// NVRAM at power-off). All at once: this is downtime.
async fn recheck_small(
    ends: &Ends<'_>,
    small: &[SmallFile],
    progress: &dyn Progress,
) -> OpResult<()> {
    let checks = small.iter().map(|f| async move {
        let src = ends.source_side(&f.from);
        if cold::differs(&src, &f.verified).await?.is_none() {
            return Ok(());
        }
        progress.step(&format!("Copying {} again: it changed", f.from));
        let mut timing = copy::Timing::default();
        copy::copy(&src, &ends.target_side(&f.to), &ends.moved, &mut timing)
            .await
            .map(|_| ())
    });
    futures::future::try_join_all(checks).await.map(|_| ())
}

/// Every file but the disks, the guest off from the start.
async fn copy_small_files(
    ends: &Ends<'_>,
    disks: &[Disk],
    progress: &dyn Progress,
) -> OpResult<()> {
    pre_copy_small(ends, disks, progress).await?;
    put_vmx(ends, disks, progress).await
}

/// The source's .vmx on the target, naming the top of each disk's chain.
async fn put_vmx(ends: &Ends<'_>, disks: &[Disk], progress: &dyn Progress) -> OpResult<()> {
    for f in ends.plan.files.iter().filter(|f| f.kind == "config") {
        let (Some(from), Some(to)) = (
            DatastorePath::parse(&f.source),
            DatastorePath::parse(&f.target),
        ) else {
            return Err(OpError::invalid(format!(
                "bad datastore path {} or {}",
                f.source, f.target
            )));
        };
        progress.step(&format!("Copying {}", f.source));
        let mut vmx =
            String::from_utf8_lossy(&read_small(&ends.source_side(&from)).await?).into_owned();
        for d in disks {
            let base = d
                .source_desc
                .path
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_string();
            if d.top != base {
                let named = format!("\"{base}\"");
                if !vmx.contains(&named) {
                    return Err(OpError::Io(format!(
                        "{} does not name {base} by its file name; its chain's top {} cannot be put in its place",
                        f.source, d.top
                    )));
                }
                vmx = vmx.replace(&named, &format!("\"{}\"", d.top));
            }
        }
        put_small(&ends.target_side(&to), vmx.into_bytes()).await?;
    }
    Ok(())
}

/// Fold the target's chains into their bases (the VM runs meanwhile).
async fn consolidate(new: &VmRef, client: &Client, progress: &dyn Progress) -> OpResult<()> {
    progress.step(&format!(
        "Consolidating the disks of {} on {}",
        new.name,
        new.endpoint.name()
    ));
    client
        .run_task(
            Request::new("ConsolidateVMDisks_Task", &new.moref),
            new.endpoint.timeouts().task,
            &|t| progress.task(t),
        )
        .await
        .at(new.endpoint.name())?;
    Ok(())
}

/// Each consolidated disk of the target against the source's (off since the cut-over).
async fn compare(ends: &Ends<'_>, disks: &[Disk], progress: &dyn Progress) -> OpResult<()> {
    let (vm, refs) = (ends.vm, &ends.plan.refs);
    for d in disks {
        progress.step(&format!("Comparing {} with its source", d.target_flat));
        let src = Side {
            client: ends.source,
            endpoint: vm.endpoint.name(),
            datacenter: &refs.source_dc_name,
            file: &d.source_flat,
        };
        let dst = Side {
            client: ends.target,
            endpoint: refs.target.name(),
            datacenter: &refs.target_dc_name,
            file: &d.target_flat,
        };
        let (a, b) = tokio::join!(copy::hash(&src), copy::hash(&dst));
        if a? != b? {
            return Err(OpError::Io(format!(
                "{} on {} differs from {} on {}",
                d.target_flat,
                refs.target.name(),
                d.source_flat,
                vm.endpoint.name()
            )));
        }
    }
    Ok(())
}

/// Unregister the source, then delete its folder unless `--keep-source`.
async fn remove_source(
    vm: &VmRef,
    plan: &ColdPlan,
    notes: &mut Vec<String>,
    progress: &dyn Progress,
) -> &'static str {
    if let Err(e) = register::unregister(vm, progress).await {
        notes.push(format!(
            "{} runs on {}, but the source could not be unregistered from {} ({e}); unregister it by hand",
            vm.name, plan.to_endpoint, plan.from_endpoint
        ));
        return "left";
    }
    cold::drop_source_files(vm, plan, notes).await
}

/// A whole small file (descriptor, .vmx) of one side, read as a backup reads one:
/// bounded in size and in how long the next bytes may take.
async fn read_small(side: &Side<'_>) -> OpResult<Vec<u8>> {
    let source = reader::Source {
        client: side.client,
        endpoint: side.endpoint,
        datacenter: side.datacenter,
        file: side.file,
        idle: SMALL_IDLE,
    };
    reader::read_small(&source, SMALL).await
}

async fn put_small(side: &Side<'_>, data: Vec<u8>) -> OpResult<()> {
    let len = data.len() as u64;
    let body = futures::stream::iter(vec![Ok::<_, std::io::Error>(Bytes::from(data))]);
    side.client
        .upload(side.datacenter, side.file, len, body)
        .await
        .at(side.endpoint)
}

impl WarmOptions {
    /// The options as typed (`--cutover-at`, `--cutover-when-delta-below`, `--max-rounds`,
    /// `--max-rate`), shared by the CLI and scripts.
    pub fn parse(
        cutover_at: Option<&str>,
        delta_below: Option<&str>,
        max_rounds: Option<i64>,
        max_rate: Option<&str>,
    ) -> OpResult<WarmOptions> {
        let bad = |option: &str, message: String, hint: &str| OpError::Invalid {
            message: format!("{option}: {message}"),
            hint: Some(hint.into()),
        };
        let at = cutover_at
            .map(|t| {
                parse_time(t, chrono::Utc::now()).ok_or_else(|| {
                    bad(
                        "--cutover-at",
                        format!("'{t}' is not a time"),
                        "give HH:MM (UTC, the next such time) or an RFC 3339 time like 2026-12-07T22:00:00Z",
                    )
                })
            })
            .transpose()?;
        let below = delta_below
            .map(|b| {
                crate::ops::backup::parse_rate(b)
                    .map_err(|m| bad("--cutover-when-delta-below", m, "e.g. 64M (binary units)"))
            })
            .transpose()?;
        let max_rounds = match max_rounds {
            None => warm_rounds::DEFAULT_MAX_ROUNDS,
            Some(n) => u32::try_from(n)
                .ok()
                .filter(|n| (1..=1000).contains(n))
                .ok_or_else(|| {
                    bad(
                        "--max-rounds",
                        format!("{n} is not between 1 and 1000"),
                        "e.g. --max-rounds 8",
                    )
                })?,
        };
        let max_rate = max_rate
            .map(|r| {
                crate::ops::backup::parse_rate(r)
                    .map_err(|m| bad("--max-rate", m, "e.g. 50M (bytes per second)"))
            })
            .transpose()?;
        Ok(WarmOptions {
            stop: StopRule {
                // A cut-over time alone means "cut over then", not "also when small".
                delta_below: below.or(if at.is_some() {
                    None
                } else {
                    Some(warm_rounds::DEFAULT_DELTA_BELOW)
                }),
                at,
                max_rounds,
            },
            max_rate,
        })
    }
}

/// `HH:MM` (UTC, the next such time after `now`) or an RFC 3339 time.
fn parse_time(text: &str, now: chrono::DateTime<chrono::Utc>) -> Option<SystemTime> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text.trim()) {
        return Some(t.with_timezone(&chrono::Utc).into());
    }
    let hm = chrono::NaiveTime::parse_from_str(text.trim(), "%H:%M").ok()?;
    let today = now.date_naive().and_time(hm).and_utc();
    let at = if today > now {
        today
    } else {
        today + chrono::Duration::days(1)
    };
    Some(at.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_parse_and_refuse_nonsense() {
        let o = WarmOptions::parse(None, Some("1M"), Some(3), Some("10M")).unwrap();
        assert_eq!(o.stop.delta_below, Some(1 << 20));
        assert_eq!(o.stop.max_rounds, 3);
        assert_eq!(o.max_rate, Some(10 << 20));
        let o = WarmOptions::parse(Some("2026-12-07T22:00:00Z"), None, None, None).unwrap();
        assert_eq!(o.stop.delta_below, None);
        assert!(WarmOptions::parse(None, None, Some(0), None).is_err());
        assert!(WarmOptions::parse(Some("soon"), None, None, None).is_err());
        let now = chrono::DateTime::parse_from_rfc3339("2026-12-07T23:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let next = parse_time("22:30", now).unwrap();
        let want: SystemTime = chrono::DateTime::parse_from_rfc3339("2026-12-08T22:30:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc)
            .into();
        assert_eq!(next, want);
    }
}
