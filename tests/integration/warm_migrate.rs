//! `ceso vm migrate --warm` between two standalone ESXi simulators: the disks are copied
//! while the VM runs (a base round, then the areas the guest wrote, as delta disks on
//! the target), and after a short cut-over the copy runs on the target holding the
//! source's bytes, with the same UUID and MAC.

use std::time::{Duration, Instant};

use crate::cold_migrate::{Pair, pattern, put_source_file, vm_dir};

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

    // --max-rate holds the first delta round back for about 2 s after the base round:
    // the guest writes then, while the VM runs and the base is on the target.
    let args = warm_args(&[
        "--cutover-when-delta-below",
        "1",
        "--max-rounds",
        "20",
        "--max-rate",
        "10M",
        "--json",
    ]);
    let mut spawner = pair.ceso();
    let started = Instant::now();
    let child = spawner.spawn(&args);
    let deadline = started + Duration::from_secs(120);
    while !vm_dir(&pair.b, "LocalDS_1").is_some_and(|d| d.join("disk1.vmdk").exists()) {
        assert!(Instant::now() < deadline, "no base round within 120 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    let written = pattern(300_000, 40_503);
    let at = 5 << 20;
    disk[at..at + written.len()].copy_from_slice(&written);
    put_source_file(&pair, "disk1-flat.vmdk", &disk);

    let run = crate::sim::finish(child, &args, started, Duration::from_secs(240)).ok();
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
