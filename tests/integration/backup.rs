//! `ceso backup …` against the simulator, with real disk content put into its files
//! through the datastore `/folder` interface.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::sim::{Ceso, Sim, exit};

const VM: &str = "DC0_H0_VM0";
const FLAT: &str = "DC0_H0_VM0/disk1-flat.vmdk";
const MIB: usize = 1 << 20;

/// A simulator whose VMs have `mb` MiB disks.
fn sim_with_disks(mb: usize) -> Sim {
    Sim::start(&["-disk-mb", &mb.to_string()])
}

/// Deterministic pseudo-random bytes (xorshift), with zero runs so CBT's allocated-area
/// reads have something to skip.
fn content(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    // The last quarter is unallocated (zeros).
    for b in &mut out[len * 3 / 4..] {
        *b = 0;
    }
    out
}

/// Change `count` regions of `len` bytes spread over the disk's first half.
fn scribble(data: &mut [u8], count: usize, len: usize, seed: u64) {
    let step = data.len() / 2 / count;
    for i in 0..count {
        let at = i * step + 4096 + (seed as usize % 1000);
        for (j, b) in data[at..at + len].iter_mut().enumerate() {
            *b = b.wrapping_add(1 + ((j as u64 + seed) % 251) as u8);
        }
    }
}

/// PUT a datastore file of DC0's LocalDS_0 over HTTP, as a guest writing its disk would
/// change it.
fn put(sim: &Sim, path: &str, body: &[u8]) {
    sim.put_file(path, body);
}

/// The local file behind a datastore path of the simulator (`<vm dir>/<file>`).
fn local(sim: &Sim, path: &str) -> PathBuf {
    sim.local_file(path)
}

fn snapshots(sim: &Sim) -> Vec<String> {
    let list = sim
        .ceso()
        .run(&["snapshot", "list", VM, "--json"])
        .ok()
        .json();
    list.as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect()
}

/// A ceso aimed at `sim` with the repository `repo`.
struct Bed<'a> {
    sim: &'a Sim,
    repo: PathBuf,
    /// A config file (with `phase4:` settings) every command of this bed uses.
    config: Option<String>,
    dir: tempfile::TempDir,
}

impl<'a> Bed<'a> {
    fn new(sim: &'a Sim) -> Bed<'a> {
        let dir = tempfile::tempdir().unwrap();
        Bed {
            sim,
            repo: dir.path().join("repo"),
            config: None,
            dir,
        }
    }

    fn run(&self, args: &[&str]) -> crate::sim::Run {
        self.ceso().run(&self.args(args))
    }

    /// With a `phase4:` config section (an explicit config replaces CESO_URL, so it
    /// names the simulator too).
    fn with_config(mut self, phase4: &str) -> Self {
        self.config = Some(format!(
            "hosts:\n  - name: sim\n    host: {}\n    user: user\n    password_env: CESO_PASSWORD\nphase4:\n{phase4}",
            self.sim.url
        ));
        self
    }

    /// A fresh command (a `Ceso` runs once).
    fn ceso(&self) -> Ceso {
        let mut ceso = self.sim.ceso();
        if let Some(config) = &self.config {
            let path = self.dir.path().join("config.yaml");
            std::fs::write(&path, config).unwrap();
            ceso.env("CESO_CONFIG", path);
        }
        ceso
    }

    fn args<'s>(&'s self, args: &[&'s str]) -> Vec<&'s str> {
        let mut all = args.to_vec();
        all.extend(["--repo", self.repo.to_str().unwrap()]);
        all
    }

    fn backup(&self, extra: &[&str]) -> serde_json::Value {
        let mut args = vec!["backup", "create", VM, "--hot", "--json"];
        args.extend(extra);
        self.run(&args).ok().json()
    }

    fn list(&self) -> Vec<String> {
        let listing = self.run(&["backup", "list", "--json"]).ok().json();
        listing
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["id"].as_str().unwrap().to_string())
            .collect()
    }

    /// Restore `id` as `name`; returns the restored flat file's bytes.
    fn restore(&self, id: &str, name: &str) -> Vec<u8> {
        let out = self
            .run(&["backup", "restore", id, "--as-new", name, "--json"])
            .ok()
            .json();
        assert_eq!(out["name"], name);
        std::fs::read(local(self.sim, &format!("{name}/{name}-flat.vmdk"))).unwrap()
    }
}

#[test]
fn full_then_cbt_incremental_restore_byte_identical() {
    let sim = sim_with_disks(16);
    let bed = Bed::new(&sim);
    let original = content(16 * MIB, 7);
    put(&sim, FLAT, &original);

    let full = bed.backup(&[]);
    assert_eq!(full["kind"], "full");
    assert_eq!(full["mode"], "hot");
    let read = &full["disks_read"][0];
    assert_eq!(read["method"], "allocated", "{read}");
    let bytes_read = read["bytes_read"].as_u64().unwrap();
    // CBT lists the allocated areas: the zero quarter is not read.
    assert!(bytes_read <= (12 * MIB) as u64 + 65536, "read {bytes_read}");
    assert!(bytes_read >= (12 * MIB) as u64, "read {bytes_read}");
    assert!(
        full["disks"][0]["change_id"]
            .as_str()
            .is_some_and(|c| c.contains('/'))
    );
    assert!(
        full["files"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "devices.json")
    );
    assert!(
        full["notes"]
            .to_string()
            .contains("enabled change tracking"),
        "{}",
        full["notes"]
    );
    assert_eq!(
        snapshots(&sim),
        Vec::<String>::new(),
        "the backup snapshot is removed"
    );

    let mut changed = original.clone();
    scribble(&mut changed, 8, 20_000, 3);
    put(&sim, FLAT, &changed);
    let incremental = bed.backup(&[]);
    assert_eq!(incremental["kind"], "incremental");
    assert_eq!(incremental["parent"], full["id"]);
    let read = &incremental["disks_read"][0];
    assert_eq!(read["method"], "changed", "{read}");
    let bytes_read = read["bytes_read"].as_u64().unwrap();
    // 8 changes of 20 KB, each inside one or two 64 KiB CBT blocks.
    assert!(
        bytes_read <= 16 * 65536,
        "incremental read {bytes_read} bytes"
    );
    assert!(
        bytes_read >= 8 * 20_000,
        "incremental read {bytes_read} bytes"
    );
    assert!(incremental["bytes_new"].as_u64().unwrap() < (2 * MIB) as u64);
    assert_eq!(snapshots(&sim), Vec::<String>::new());

    // Every backup restores on its own, byte for byte.
    let restored = bed.restore(incremental["id"].as_str().unwrap(), "restored-incr");
    assert!(
        restored == changed,
        "the incremental restores the changed disk"
    );
    let restored = bed.restore(full["id"].as_str().unwrap(), "restored-full");
    assert!(restored == original, "the full restores the original disk");

    // A dry run names the backup as it is (its id and VM keep their case).
    let full_id = full["id"].as_str().unwrap();
    bed.run(&["backup", "delete", full_id, "--dry-run"])
        .ok()
        .stdout_has(&format!("would delete backup {full_id} of {VM} (created"));
    // Without its parent, the incremental still restores (a synthetic full).
    bed.run(&["backup", "delete", full_id, "--yes"]).ok();
    // The prune table's decision column has a header.
    let pruned = bed
        .run(&["backup", "prune", "--keep-last", "1", "--yes"])
        .ok();
    let header = pruned.stdout.lines().next().unwrap_or_default().to_string();
    assert!(header.contains("DECISION"), "{}", pruned.stdout);
    let restored = bed.restore(incremental["id"].as_str().unwrap(), "restored-again");
    assert!(restored == changed);

    // --full reads everything again and is not based on a parent.
    let again = bed.backup(&["--full"]);
    assert_eq!(again["kind"], "full");
    assert!(again["parent"].is_null());
    assert!(
        again["bytes_new"].as_u64().unwrap() < (MIB / 2) as u64,
        "nothing changed: nothing new"
    );

    // The restored VM is a new VM: new UUID and MAC.
    let info = bed
        .ceso()
        .run(&["vm", "info", "restored-incr", "--json"])
        .ok()
        .json();
    let source = bed.ceso().run(&["vm", "info", VM, "--json"]).ok().json();
    assert_ne!(info["uuid"], source["uuid"]);
    assert_ne!(info["nics"][0]["mac"], source["nics"][0]["mac"]);
    assert_eq!(info["nics"][0]["kind"], source["nics"][0]["kind"]);
    assert_eq!(info["cpus"], source["cpus"]);
}

#[test]
fn without_cbt_every_byte_is_read_and_only_new_chunks_stored() {
    let sim = sim_with_disks(8);
    let bed = Bed::new(&sim).with_config("  hot_backup:\n    cbt_enabled: false\n");
    let original = content(8 * MIB, 11);
    put(&sim, FLAT, &original);
    let first = bed.backup(&[]);
    assert_eq!(first["disks_read"][0]["method"], "whole");
    assert!(first["bytes_read"].as_u64().unwrap() >= (8 * MIB) as u64);

    let mut changed = original.clone();
    scribble(&mut changed, 2, 4096, 5);
    put(&sim, FLAT, &changed);
    let second = bed.backup(&[]);
    assert_eq!(second["kind"], "full");
    assert_eq!(second["disks_read"][0]["method"], "whole");
    assert!(second["disks_read"][0]["bytes_read"].as_u64().unwrap() == (8 * MIB) as u64);
    let new = second["bytes_new"].as_u64().unwrap();
    assert!(
        new < (MIB as u64) / 2,
        "two small changes stored {new} new bytes"
    );
    let info = bed.ceso().run(&["vm", "info", VM, "--json"]).ok().json();
    assert_eq!(
        info["change_tracking"], false,
        "CBT is left alone when disabled in the config"
    );
    assert!(bed.restore(second["id"].as_str().unwrap(), "nocbt") == changed);
}

#[test]
fn a_disk_without_change_id_reads_whole_and_says_why() {
    let sim = Sim::start(&["-disk-mb", "4", "-cbt-untracked"]);
    let bed = Bed::new(&sim);
    put(&sim, FLAT, &content(4 * MIB, 17));
    let first = bed.backup(&[]);
    assert_eq!(first["disks_read"][0]["method"], "whole");
    let second = bed.run(&["backup", "create", VM, "--hot"]).ok();
    second.stderr_has("CBT: no changeId reported by the host");
    assert_eq!(
        second.stderr.matches("no changeId").count(),
        1,
        "{}",
        second.stderr
    );
}

#[test]
fn verify_reports_a_flipped_byte_with_the_backups_it_affects() {
    let sim = sim_with_disks(4);
    let bed = Bed::new(&sim);
    put(&sim, FLAT, &content(4 * MIB, 21));
    let a = bed.backup(&[]);
    let b = bed.backup(&[]);
    let ok = bed.run(&["backup", "verify", "--json"]).ok().json();
    assert_eq!(ok["ok"], true);
    assert_eq!(ok["backups_checked"].as_array().unwrap().len(), 2);

    // Flip one byte in the middle of the largest pack file (chunk data).
    let chunk = walk(&bed.repo.join("packs"))
        .into_iter()
        .max_by_key(|p| p.metadata().map(|m| m.len()).unwrap_or(0))
        .unwrap();
    let mut raw = std::fs::read(&chunk).unwrap();
    let middle = raw.len() / 2;
    raw[middle] ^= 0x01;
    std::fs::write(&chunk, raw).unwrap();

    let bad = bed.run(&["backup", "verify", "--json"]).fails_with(1);
    let report = bad.json();
    assert_eq!(report["ok"], false);
    let affected: Vec<_> = report["affected_backups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    // Both backups share the chunk (the disk did not change between them).
    assert!(
        affected.contains(&a["id"].as_str().unwrap())
            && affected.contains(&b["id"].as_str().unwrap()),
        "{report}"
    );
    bad.stderr_has("corrupt chunk")
        .stderr_has(a["id"].as_str().unwrap());

    // A restore of an affected backup fails and leaves no VM behind.
    bed.run(&[
        "backup",
        "restore",
        b["id"].as_str().unwrap(),
        "--as-new",
        "broken",
    ])
    .fails_with(1)
    .stderr_has("corrupt");
    bed.ceso()
        .run(&["vm", "info", "broken"])
        .fails_with(exit::NOT_FOUND);
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().filter_map(Result::ok) {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// Bytes of the files under `dir`.
fn du(dir: &Path) -> u64 {
    walk(dir)
        .iter()
        .map(|p| p.metadata().map(|m| m.len()).unwrap_or(0))
        .sum()
}

#[test]
fn prune_keeps_by_policy_and_removes_unused_chunks() {
    let sim = sim_with_disks(4);
    let bed = Bed::new(&sim);
    let mut data = content(4 * MIB, 31);
    let mut ids = Vec::new();
    for round in 0..3 {
        // Ids and retention go by the second: keep the backups a second apart.
        std::thread::sleep(Duration::from_millis(1100));
        scribble(&mut data, 4, 30_000, round);
        put(&sim, FLAT, &data);
        ids.push(bed.backup(&[])["id"].as_str().unwrap().to_string());
    }
    assert_eq!(bed.list(), ids);
    let bytes_before = du(&bed.repo.join("packs"));

    bed.run(&["backup", "prune"])
        .fails_with(exit::USAGE)
        .stderr_has("keeps nothing");
    let dry = bed
        .run(&["backup", "prune", "--keep-last", "1", "--dry-run", "--json"])
        .ok()
        .json();
    assert_eq!(dry["removed"].as_array().unwrap().len(), 2);
    assert_eq!(bed.list().len(), 3, "a dry run removes nothing");
    bed.run(&["backup", "prune", "--keep-last", "1"])
        .fails_with(exit::REFUSED);

    let done = bed
        .run(&["backup", "prune", "--keep-last", "1", "--yes", "--json"])
        .ok()
        .json();
    let mut removed: Vec<_> = done["removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    removed.sort_unstable();
    assert_eq!(removed, vec![ids[0].as_str(), ids[1].as_str()]);
    assert!(done["chunks_removed"].as_u64().unwrap() > 0);
    assert_eq!(bed.list(), vec![ids[2].clone()]);
    assert!(du(&bed.repo.join("packs")) < bytes_before);
    bed.run(&["backup", "verify"]).ok();
    assert!(bed.restore(&ids[2], "pruned") == data);
}

fn write_script(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn hooks_run_in_order_and_a_failing_pre_hook_aborts_before_any_snapshot() {
    let sim = sim_with_disks(2);
    let bed = Bed::new(&sim);
    let dir = tempfile::tempdir().unwrap();
    let pre = write_script(
        dir.path(),
        "pre.rhai",
        r#"print(`PRE ${phase} ${vm.name} ${backup_id} snapshot=${snapshot}`);"#,
    );
    let post = write_script(
        dir.path(),
        "post.rhai",
        r#"print(`POST ${phase} ok=${result.ok} kind=${result.kind} snapshot=${snapshot} error=${result.error}`);"#,
    );
    // A global hook and one for this VM only, from the config (relative to its folder).
    std::fs::copy(&pre, bed.dir.path().join("global.rhai")).unwrap();
    let bed = bed.with_config(&format!(
        "  hot_backup:\n    hooks:\n      pre: [global.rhai]\n    vms:\n      {VM}:\n        hooks:\n          post: [{}]\n",
        post.display()
    ));
    let run = bed
        .run(&[
            "backup",
            "create",
            VM,
            "--hot",
            "--json",
            "--pre-hook",
            pre.to_str().unwrap(),
        ])
        .ok();
    let record = run.json();
    let id = record["id"].as_str().unwrap();
    let lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains("PRE") || l.contains("POST"))
        .collect();
    assert_eq!(lines.len(), 3, "{}", run.stderr);
    assert!(
        lines[0].starts_with("[hook global.rhai] PRE pre DC0_H0_VM0") && lines[0].contains(id),
        "{lines:?}"
    );
    assert!(
        lines[0].ends_with("snapshot="),
        "pre-hooks run before the snapshot: {lines:?}"
    );
    assert!(lines[1].starts_with("[hook pre.rhai] PRE pre"), "{lines:?}");
    assert!(
        lines[2].starts_with("[hook post.rhai] POST post ok=true kind=full")
            && lines[2].contains(&format!("snapshot=ceso-backup-{id}")),
        "{lines:?}"
    );

    // A pre-hook that throws: no snapshot, no backup, post-hooks still told.
    let failing = write_script(
        dir.path(),
        "fail.rhai",
        r#"if phase == "pre" { throw "database not ready"; }"#,
    );
    let aborted = bed
        .run(&[
            "backup",
            "create",
            VM,
            "--hot",
            "--pre-hook",
            failing.to_str().unwrap(),
        ])
        .fails_with(exit::REFUSED);
    aborted
        .stderr_has("database not ready")
        .stderr_has("nothing was snapshotted");
    assert!(
        aborted.stderr.contains("POST post ok=false"),
        "{}",
        aborted.stderr
    );
    assert_eq!(snapshots(&sim), Vec::<String>::new());
    assert_eq!(bed.list().len(), 1, "the aborted backup stored nothing");

    // A missing script is found before anything happens.
    bed.run(&[
        "backup",
        "create",
        VM,
        "--hot",
        "--pre-hook",
        "/nonexistent.rhai",
    ])
    .fails_with(exit::USAGE)
    .stderr_has("does not exist");
}

#[test]
fn snapshot_is_removed_after_a_failure_and_the_repository_stays_valid() {
    let sim = sim_with_disks(2);
    let bed = Bed::new(&sim);
    put(&sim, FLAT, &content(2 * MIB, 41));
    bed.backup(&[]);
    // The disk's data file disappears: the backup fails after taking its snapshot.
    std::fs::remove_file(local(&sim, FLAT)).unwrap();
    let failed = bed.run(&["backup", "create", VM, "--hot"]);
    assert_ne!(failed.code, 0, "{failed:?}");
    failed.stderr_has("does not exist");
    assert!(!failed.stderr.contains("panicked"));
    assert_eq!(
        snapshots(&sim),
        Vec::<String>::new(),
        "the snapshot was removed"
    );
    assert_eq!(bed.list().len(), 1);
    bed.run(&["backup", "verify"]).ok();
}

/// Start `ceso backup create` slowly (throttled) and wait until its snapshot exists.
fn start_slow_backup(bed: &Bed<'_>) -> std::process::Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ceso"));
    cmd.args(bed.args(&["backup", "create", VM, "--hot", "--max-rate", "1M"]))
        .env("CESO_URL", &bed.sim.url)
        .env("CESO_USERNAME", "user")
        .env("CESO_PASSWORD", "pass")
        .env("XDG_CONFIG_HOME", bed.repo.with_file_name("config"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let child = cmd.spawn().unwrap();
    let started = Instant::now();
    while !snapshots(bed.sim)
        .iter()
        .any(|s| s.starts_with("ceso-backup-"))
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the backup never took its snapshot"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Let it read (and store) some data.
    std::thread::sleep(Duration::from_millis(1500));
    child
}

#[test]
fn a_killed_backup_leaves_a_snapshot_the_next_run_removes() {
    let sim = sim_with_disks(16);
    let bed = Bed::new(&sim);
    let data = content(16 * MIB, 51);
    put(&sim, FLAT, &data);
    let mut child = start_slow_backup(&bed);
    child.kill().unwrap(); // SIGKILL: no cleanup possible
    child.wait().unwrap();
    let left = snapshots(&sim);
    assert_eq!(left.len(), 1, "{left:?}");

    // The repository is valid: nothing committed, verify passes.
    assert_eq!(bed.list().len(), 0);
    bed.run(&["backup", "verify"]).ok();

    let run = bed.run(&["backup", "create", VM, "--hot", "--json"]).ok();
    let next = run.json();
    assert!(
        next["notes"]
            .to_string()
            .contains(&format!("removed snapshot {}", left[0])),
        "{}",
        next["notes"]
    );
    // Said once (in the notes), not also as a progress line.
    assert!(!run.stderr.contains(&left[0]), "{}", run.stderr);
    assert_eq!(snapshots(&sim), Vec::<String>::new());
    bed.run(&["backup", "verify"]).ok();
    assert!(bed.restore(next["id"].as_str().unwrap(), "after-kill") == data);
}

#[test]
fn an_interrupted_backup_removes_its_snapshot_and_exits_130() {
    let sim = sim_with_disks(16);
    let bed = Bed::new(&sim);
    put(&sim, FLAT, &content(16 * MIB, 61));
    let mut child = start_slow_backup(&bed);
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let code = child.wait().unwrap().code();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(code, Some(130), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    // It says what it cleaned up, and left no temporary pack behind.
    assert!(stderr.contains("removed snapshot ceso-backup-"), "{stderr}");
    assert!(stderr.contains("temporary pack removed"), "{stderr}");
    let temps: Vec<_> = walk(&bed.repo)
        .into_iter()
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(".tmp-")
        })
        .collect();
    assert!(temps.is_empty(), "{temps:?}");
    assert_eq!(snapshots(&sim), Vec::<String>::new(), "{stderr}");
    assert_eq!(bed.list().len(), 0);
    bed.run(&["backup", "verify"]).ok();
}

#[test]
fn datastore_transfers_carry_the_session_cookie() {
    // As on real hosts, /folder needs a logged-in session here.
    let sim = Sim::start(&["-disk-mb", "2", "-folder-auth"]);
    let bed = Bed::new(&sim);
    let data = content(2 * MIB, 71);
    std::fs::write(local(&sim, FLAT), &data).unwrap();
    let backup = bed.backup(&[]);
    assert!(backup["bytes_read"].as_u64().unwrap() >= (MIB + MIB / 2) as u64);
    assert!(bed.restore(backup["id"].as_str().unwrap(), "with-auth") == data);
}

#[test]
fn bad_input_is_a_clear_error() {
    let sim = sim_with_disks(1);
    let bed = Bed::new(&sim);
    bed.run(&["backup", "create", VM])
        .fails_with(exit::REFUSED)
        .stderr_has("--hot");
    bed.run(&["backup", "create", VM, "--hot", "--max-rate", "fast"])
        .fails_with(exit::USAGE)
        .stderr_has("50M");
    bed.run(&["backup", "list"])
        .fails_with(exit::USAGE)
        .stderr_has("not a backup repository");
    let first = bed.backup(&[]);
    bed.run(&["backup", "info", "nosuch"])
        .fails_with(exit::NOT_FOUND);
    let info = bed
        .run(&[
            "backup",
            "info",
            &first["id"].as_str().unwrap()[..10],
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(info["id"], first["id"], "a unique id prefix is enough");
    bed.run(&[
        "backup",
        "restore",
        first["id"].as_str().unwrap(),
        "--as-new",
        VM,
    ])
    .fails_with(exit::REFUSED)
    .stderr_has("already exists");
    let dry = bed
        .run(&[
            "backup",
            "restore",
            first["id"].as_str().unwrap(),
            "--as-new",
            "new-one",
            "--dry-run",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(dry["plan"]["name"], "new-one");
    bed.ceso()
        .run(&["vm", "info", "new-one"])
        .fails_with(exit::NOT_FOUND);

    // Cold: a stopped VM needs no --hot; a dry run says what would happen.
    bed.ceso().run(&["vm", "stop", VM, "--force"]).ok();
    let dry = bed
        .run(&["backup", "create", VM, "--dry-run", "--json"])
        .ok()
        .json();
    assert_eq!(dry["plan"]["mode"], "cold");
    assert_eq!(dry["plan"]["kind"], "incremental");
    let cold = bed.run(&["backup", "create", VM, "--json"]).ok().json();
    assert_eq!(cold["mode"], "cold");
    assert_eq!(bed.list().len(), 2);
}

#[test]
fn scripts_take_snapshots_and_backups_with_the_cli_names() {
    let sim = sim_with_disks(2);
    let bed = Bed::new(&sim);
    put(&sim, FLAT, &content(2 * MIB, 81));
    let repo = bed.repo.display().to_string();
    let script = format!(
        r#"
        let s = snapshot::create("{VM}", #{{name: "from-script", quiesce: true}});
        let listed = snapshot::list(vm("{VM}"));
        snapshot::delete("{VM}", #{{all: true}});
        let b = backup::create("{VM}", #{{hot: true, repo: "{repo}"}});
        let again = backup::create(vm("{VM}"), #{{hot: true, repo: "{repo}"}});
        let v = backup::verify(#{{repo: "{repo}"}});
        let gone = "";
        try {{ backup::info("nosuch", #{{repo: "{repo}"}}); }} catch (e) {{ gone = e.fault; }}
        #{{snap: s.name, listed: listed.len(), first: b.kind, second: again.kind,
           ok: v.ok, backups: backup::list(#{{repo: "{repo}"}}).len(),
           left: snapshot::list("{VM}").len(), gone: gone}}
        "#
    );
    let out = bed.ceso().run(&["--json", "-c", &script]).ok().json();
    assert_eq!(out["snap"], "from-script");
    assert_eq!(out["listed"], 1);
    assert_eq!(out["first"], "full");
    assert_eq!(out["second"], "incremental");
    assert_eq!(out["ok"], true);
    assert_eq!(out["backups"], 2);
    assert_eq!(out["left"], 0);
    assert_eq!(out["gone"], "NotFound");
}

#[test]
fn the_example_hooks_run() {
    let sim = sim_with_disks(1);
    let examples = crate::sim::repo().join("examples/hooks");
    let bed = Bed::new(&sim).with_config(&format!(
        "  hot_backup:\n    hooks:\n      pre: [{0}/pre-maintenance-window.rhai, {0}/pre-flush-database.rhai]\n      post: [{0}/post-report.rhai]\nsettings:\n  scripting:\n    allow_write: true\n",
        examples.display()
    ));
    bed.ceso().run(&["vm", "stop", VM, "--force"]).ok();
    let mut ceso = bed.ceso();
    let run = ceso
        .run(&bed.args(&["backup", "create", VM, "--json"]))
        .ok();
    let id = run.json()["id"].as_str().unwrap().to_string();
    run.stderr_has("is off: nothing to flush");
    let log = std::fs::read_to_string(ceso.home.path().join("ceso-backups.log")).unwrap();
    let entry: serde_json::Value = serde_json::from_str(log.trim()).unwrap();
    assert_eq!(entry["backup"], id.as_str());
    assert_eq!(entry["ok"], true);
}
