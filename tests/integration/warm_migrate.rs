//! `ceso vm migrate --warm` between two standalone ESXi simulators: the disks are copied
//! while the VM runs (a base round, then the areas the guest wrote, as delta disks on
//! the target), and after a short cut-over the copy runs on the target holding the
//! source's bytes, with the same UUID and MAC.

use std::time::{Duration, Instant};

use crate::cold_migrate::{Pair, VM, VM1, pattern, put_source_file, vm_dir};
use crate::sim::{Run, exit};

fn warm_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    Pair::between_args("--warm", extra)
}

/// The source's snapshots are taken 3 s after they are asked for: the window in which a
/// test writes as the guest (or kills ceso) between one round and the next.
const SLOW_SNAPSHOTS: &[&str] = &["-method-delay", "CreateSnapshot_Task:3000"];

#[test]
fn writes_between_rounds_end_byte_identical_to_the_source_at_cut_over() {
    let pair = Pair::start(SLOW_SNAPSHOTS, &[]);
    let mut disk = pattern(20 << 20, 2_654_435_761);
    put_source_file(&pair, "disk1-flat.vmdk", &disk);
    let before = pair.info("esx1").expect("the source VM");
    assert_eq!(before["power_state"], "poweredOn");

    let args = warm_args(&[
        "--cutover-when-delta-below",
        "1",
        "--max-rounds",
        "20",
        "--max-rate",
        "10M",
        "--json",
    ]);
    let run = write_after_base(&pair, &args, &mut disk).ok();
    let report = &run.json()[0];
    let rounds = report["warm"]["rounds"].as_array().expect("the rounds");
    assert!(
        rounds.len() >= 3,
        "base, delta(s) and the last round: {rounds:?}"
    );
    assert_eq!(rounds[0]["bytes"], 20 << 20);
    // --max-rate holds inside one copy: 20 MiB at 10 MiB/s take 2 s (the snapshot's
    // delay comes before the copy starts, and the pacing counts from the run's start).
    let base_ms = rounds[0]["duration_ms"].as_u64().unwrap();
    assert!(
        base_ms >= 1_900,
        "the base round of 20 MiB at --max-rate 10M took {base_ms} ms"
    );
    let deltas: u64 = rounds[1..].iter().filter_map(|r| r["bytes"].as_u64()).sum();
    assert!(
        (300_000..(2 << 20)).contains(&deltas),
        "the deltas should hold what the guest wrote (300000 bytes in 64 KiB blocks), not {deltas}"
    );
    assert!(report["warm"]["downtime_ms"].as_u64().is_some());
    assert_eq!(report["warm"]["source"], "deleted");

    // The copy runs on esx2 on its consolidated disk, holding the source's bytes.
    assert!(
        pair.info("esx1").is_none(),
        "the source is still registered"
    );
    let after = pair.info("esx2").expect("the copy on esx2");
    assert_eq!(after["power_state"], "poweredOn");
    assert_eq!(after["uuid"], before["uuid"]);
    assert_eq!(after["nics"][0]["mac"], before["nics"][0]["mac"]);
    assert_eq!(
        after["disks"][0]["file"],
        "[LocalDS_1] ha-host_VM0/disk1.vmdk"
    );
    let dir = vm_dir(&pair.b, "LocalDS_1").expect("the VM folder on esx2");
    let copied = std::fs::read(dir.join("disk1-flat.vmdk")).unwrap();
    assert!(copied == disk, "the target's disk is not the source's");
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("-0000"))
        .collect();
    assert!(left.is_empty(), "deltas left after consolidation: {left:?}");
}

/// Run `args` (a warm migration on a pair started with SLOW_SNAPSHOTS, so the first
/// delta round's snapshot comes 3 s after the base round); once the base round is on
/// the target, the guest writes 300000 bytes at 5 MiB into `disk`.
fn write_after_base(pair: &Pair, args: &[&str], disk: &mut [u8]) -> Run {
    let mut spawner = pair.ceso();
    let started = Instant::now();
    let child = spawner.spawn(args);
    let deadline = started + Duration::from_secs(120);
    while !vm_dir(&pair.b, "LocalDS_1").is_some_and(|d| d.join("disk1.vmdk").exists()) {
        assert!(Instant::now() < deadline, "no base round within 120 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    let written = pattern(300_000, 40_503);
    let at = 5 << 20;
    disk[at..at + written.len()].copy_from_slice(&written);
    put_source_file(pair, "disk1-flat.vmdk", disk);
    crate::sim::finish(child, args, started, Duration::from_secs(240))
}

#[test]
fn a_writer_faster_than_the_rounds_stops_after_max_rounds_and_the_source_runs_on() {
    let pair = Pair::start(SLOW_SNAPSHOTS, &[]);
    let mut disk = pattern(20 << 20, 2_654_435_761);
    put_source_file(&pair, "disk1-flat.vmdk", &disk);
    let args = warm_args(&[
        "--cutover-when-delta-below",
        "1",
        "--max-rounds",
        "1",
        "--max-rate",
        "10M",
    ]);
    let run = write_after_base(&pair, &args, &mut disk);
    run.fails_with(exit::REFUSED)
        .stderr_has("the delta is not converging: after 1 delta rounds")
        .stderr_has("the guest writes about")
        .stderr_has("ha-host_VM0 still runs on esx1, its snapshots removed")
        .stderr_has("--cutover-at");
    let source = pair.info("esx1").expect("the source stays registered");
    assert_eq!(source["power_state"], "poweredOn");
    assert_eq!(source["snapshots"], 0);
    assert!(pair.info("esx2").is_none(), "a copy was registered on esx2");
}

#[test]
fn a_failed_registration_at_cut_over_leaves_the_source_registered_and_running() {
    let pair = Pair::start(&[], &["-fail-method", "RegisterVM_Task"]);
    let run = pair.run(&warm_args(&[]));
    run.fails_with(exit::SERVER_FAULT)
        .stderr_has("registering ha-host_VM0 on esx2 failed")
        .stderr_has("the VM is still registered on esx1 (powered on again)")
        .stderr_has("the copied files in [LocalDS_1] ha-host_VM0 on esx2 were removed");
    let source = pair.info("esx1").expect("the source stays registered");
    assert_eq!(source["power_state"], "poweredOn");
    assert_eq!(source["snapshots"], 0);
    assert!(pair.info("esx2").is_none(), "a copy was registered on esx2");
    assert!(
        vm_dir(&pair.b, "LocalDS_1").is_none(),
        "the copy was left behind"
    );
}

#[test]
fn a_run_killed_in_a_round_leaves_the_source_running_and_a_rerun_removes_its_snapshot_and_resumes()
{
    let pair = Pair::start(SLOW_SNAPSHOTS, &[]);
    let mut disk = pattern(20 << 20, 2_654_435_761);
    put_source_file(&pair, "disk1-flat.vmdk", &disk);
    // The run is killed once its base round is journaled, while it waits for the next
    // round's snapshot: the source gets that snapshot after ceso is gone.
    let args = warm_args(&["--max-rate", "100M"]);
    let mut spawner = pair.ceso();
    let mut child = spawner.spawn(&args);
    let deadline = Instant::now() + Duration::from_secs(120);
    while pair.journal_chains().is_empty() {
        assert!(Instant::now() < deadline, "no round journaled within 120 s");
        assert!(child.try_wait().unwrap().is_none(), "ceso ended early");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let source = loop {
        let source = pair.info("esx1").expect("the source stays registered");
        if source["snapshots"] == 1 {
            break source;
        }
        assert!(Instant::now() < deadline, "no leftover snapshot: {source}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(source["power_state"], "poweredOn");
    assert!(pair.info("esx2").is_none());

    // The guest writes on; the rerun checks the base the killed run left and sends
    // only a delta.
    let written = pattern(200_000, 7_919);
    disk[(9 << 20)..(9 << 20) + written.len()].copy_from_slice(&written);
    put_source_file(&pair, "disk1-flat.vmdk", &disk);
    let run = pair
        .run(&warm_args(&["--cutover-when-delta-below", "1", "--json"]))
        .ok();
    let report = &run.json()[0]["warm"];
    // ceso's own leftover (its name and description) is removed, and the run says so.
    let notes = report["notes"].to_string();
    assert!(
        notes.contains("ceso-warm-migration-1") && notes.contains("removed first"),
        "no word of the leftover snapshot: {notes}"
    );
    assert_eq!(report["resumed_after_round"], 0);
    assert!(
        report["bytes_sent"].as_u64().unwrap() < (2 << 20),
        "the rerun sent the base again: {report}"
    );
    let after = pair.info("esx2").expect("the copy on esx2");
    assert_eq!(after["power_state"], "poweredOn");
    assert!(pair.info("esx1").is_none());
    let dir = vm_dir(&pair.b, "LocalDS_1").expect("the VM folder on esx2");
    let copied = std::fs::read(dir.join("disk1-flat.vmdk")).unwrap();
    assert!(copied == disk, "the target's disk is not the source's");
    assert_eq!(
        pair.journal_entries(),
        0,
        "the journal outlived the migration"
    );
}

#[test]
fn evacuating_a_host_warm_moves_each_running_vm_and_reports_one_refused() {
    let pair = Pair::start(&["-disk-mb", "4"], &[]);
    let before: Vec<_> = [VM, VM1]
        .iter()
        .map(|vm| pair.info_of("esx1", vm).expect("the VM on esx1"))
        .collect();
    assert!(before.iter().all(|v| v["power_state"] == "poweredOn"));

    // A dry run shows each VM's warm move and changes nothing.
    let plan = pair
        .evacuate(&["--to-host", "esx2", "--warm", "--dry-run", "--json"])
        .ok()
        .json();
    let vms = plan["vms"].as_array().expect("the VMs");
    assert_eq!(vms.len(), 2);
    assert!(
        vms.iter()
            .all(|v| v["method"] == "warm" && v["outcome"] == "would_move"),
        "{plan}"
    );
    // Without --yes and no terminal to ask on: refused, nothing moved.
    pair.evacuate(&["--to-host", "esx2", "--warm"])
        .fails_with(exit::REFUSED)
        .stderr_has("not confirmed");
    assert!(pair.names("esx2").is_empty());

    // A snapshot of the user's keeps VM1 where it is; VM moves warm: a partial result.
    pair.run(&[
        "--host", "esx1", "snapshot", "create", VM1, "--name", "mine",
    ])
    .ok();
    let run = pair.evacuate(&["--to-host", "esx2", "--warm", "--yes", "--json"]);
    let done = run.fails_with(exit::PARTIAL).json();
    let vms = done["vms"].as_array().expect("the VMs");
    let moved = vms.iter().find(|v| v["vm"] == VM).expect("VM's result");
    assert_eq!(moved["outcome"], "moved", "{done}");
    assert_eq!(moved["method"], "warm");
    assert!(moved["warm"]["downtime_ms"].as_u64().is_some(), "{moved}");
    assert_eq!(moved["warm"]["source"], "deleted");
    let left = vms.iter().find(|v| v["vm"] == VM1).expect("VM1's result");
    assert_eq!(left["outcome"], "refused", "{done}");
    assert!(left["error"].to_string().contains("snapshot"), "{left}");

    let after = pair.info_of("esx2", VM).expect("VM on esx2");
    assert_eq!(after["power_state"], "poweredOn");
    assert_eq!(after["uuid"], before[0]["uuid"]);
    assert_eq!(after["nics"][0]["mac"], before[0]["nics"][0]["mac"]);
    assert!(pair.info_of("esx1", VM).is_none(), "VM is still on esx1");
    let stayed = pair.info_of("esx1", VM1).expect("VM1 stays on esx1");
    assert_eq!(stayed["power_state"], "poweredOn");
}
