//! `ceso vm migrate --warm` between two standalone ESXi simulators: the disks are copied
//! while the VM runs (a base round, then the areas the guest wrote, as delta disks on
//! the target), and after a short cut-over the copy runs on the target holding the
//! source's bytes, with the same UUID and MAC.

use std::time::{Duration, Instant};

use crate::cold_migrate::{Pair, pattern, put_source_file, vm_dir};
use crate::sim::{Run, exit};

fn warm_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    Pair::between_args("--warm", extra)
}

#[test]
fn writes_between_rounds_end_byte_identical_to_the_source_at_cut_over() {
    let pair = Pair::start(&[], &[]);
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

/// Run `args` (a warm migration with `--max-rate` of about 10M, which holds the first
/// delta round back for about 2 s after the 20 MiB base round); once the base round is
/// on the target, the guest writes 300000 bytes at 5 MiB into `disk`.
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
    let pair = Pair::start(&[], &[]);
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
fn a_run_killed_before_the_cut_over_leaves_the_source_running_and_a_rerun_resumes() {
    let pair = Pair::start(&[], &[]);
    let mut disk = pattern(20 << 20, 2_654_435_761);
    put_source_file(&pair, "disk1-flat.vmdk", &disk);
    // --max-rate 1M holds the first delta round back for about 20 s after the base
    // round: the run is killed there, its base round journaled.
    let args = warm_args(&["--max-rate", "1M"]);
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
    let source = pair.info("esx1").expect("the source stays registered");
    assert_eq!(source["power_state"], "poweredOn");
    assert_eq!(source["snapshots"], 0);
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
