//! `ceso vm migrate --cold` between two standalone ESXi simulators: every file copied
//! over datastore HTTP, the VM registered on the target with the same UUID and MAC,
//! the source removed, and, when a step fails, exactly one registered copy left.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::sim::{Ceso, Run, Sim, Soap, exit};

pub(crate) const VM: &str = "ha-host_VM0";
pub(crate) const VM1: &str = "ha-host_VM1";
/// Each simulated ESXi endpoint's one host.
const HOST: &str = "localhost.localdomain";

/// Two ESXi hosts: `esx1` (the source, 2 VMs with 20 MiB disks: three 8 MiB chunks) and `esx2` (no VMs,
/// two datastores), each with extra simulator flags.
pub(crate) struct Pair {
    pub(crate) a: Sim,
    pub(crate) b: Sim,
    yaml: String,
    /// Kept across commands: the migration journal lives under its XDG state dir.
    home: tempfile::TempDir,
}

impl Pair {
    pub(crate) fn start(a_flags: &[&str], b_flags: &[&str]) -> Pair {
        let a = Sim::start(&[&["-esx", "-disk-mb", "20"], a_flags].concat());
        let b = Sim::start(&[&["-esx", "-vm", "0", "-ds", "2"], b_flags].concat());
        let mut yaml = String::from("hosts:\n");
        for (name, sim) in [("esx1", &a), ("esx2", &b)] {
            yaml.push_str(&format!(
                "  - name: {name}\n    host: {}\n    user: root\n    password_env: ESXI_PW\n",
                sim.url
            ));
        }
        Pair {
            a,
            b,
            yaml,
            home: tempfile::tempdir().unwrap(),
        }
    }

    pub(crate) fn ceso(&self) -> Ceso {
        let mut c = Ceso::new();
        c.config(&self.yaml);
        c.env("ESXI_PW", "secret")
            .env("HOME", self.home.path())
            .env("XDG_STATE_HOME", self.home.path().join("state"));
        c
    }

    pub(crate) fn run(&self, args: &[&str]) -> Run {
        self.ceso().run(args)
    }

    /// `vm migrate VM --to-host esx2 --cold --datastore LocalDS_1 …` from esx1.
    fn migrate_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
        Pair::between_args("--cold", extra)
    }

    /// `vm migrate VM --to-host esx2 MODE --datastore LocalDS_1 …` from esx1.
    pub(crate) fn between_args<'a>(mode: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec![
            "--host",
            "esx1",
            "vm",
            "migrate",
            VM,
            "--to-host",
            "esx2",
            mode,
            "--datastore",
            "LocalDS_1",
        ];
        args.extend_from_slice(extra);
        args
    }

    fn migrate(&self, extra: &[&str]) -> Run {
        self.run(&Pair::migrate_args(extra))
    }

    fn stop_source(&self) {
        self.run(&["--host", "esx1", "vm", "stop", "--force", VM])
            .ok();
    }

    /// The VM's `vm info` on one endpoint, or None when it has no such VM.
    pub(crate) fn info(&self, endpoint: &str) -> Option<Value> {
        self.info_of(endpoint, VM)
    }

    pub(crate) fn info_of(&self, endpoint: &str, vm: &str) -> Option<Value> {
        self.names(endpoint).iter().any(|n| n == vm).then(|| {
            self.run(&["--host", endpoint, "vm", "info", vm, "--json"])
                .ok()
                .json()
        })
    }

    /// The VMs registered on one endpoint (`vm list`), sorted.
    pub(crate) fn names(&self, endpoint: &str) -> Vec<String> {
        let list = self
            .run(&["--host", endpoint, "vm", "list", "--json"])
            .ok()
            .json();
        let mut names: Vec<String> = list
            .as_array()
            .expect("a list")
            .iter()
            .filter_map(|v| v["name"].as_str().map(String::from))
            .collect();
        names.sort();
        names
    }

    /// `host evacuate` of esx1's host (as esx1's scope names it) with `args`.
    pub(crate) fn evacuate(&self, args: &[&str]) -> Run {
        let mut all = vec!["--host", "esx1", "host", "evacuate", HOST];
        all.extend_from_slice(args);
        self.run(&all)
    }

    fn in_maintenance(&self) -> bool {
        self.run(&["--host", "esx1", "host", "info", HOST, "--json"])
            .ok()
            .json()["maintenance"]
            == true
    }

    pub(crate) fn journal_entries(&self) -> usize {
        self.journals()
            .iter()
            .map(|j| j["files"].as_object().map_or(0, |f| f.len()))
            .sum()
    }

    /// The journal's warm-migration chains (disk → its record), over every journal.
    pub(crate) fn journal_chains(&self) -> Vec<Value> {
        self.journals()
            .iter()
            .flat_map(|j| {
                j["chains"]
                    .as_object()
                    .map(|c| c.values().cloned().collect::<Vec<_>>())
                    .unwrap_or_default()
            })
            .collect()
    }

    /// Every migration journal under the XDG state dir.
    fn journals(&self) -> Vec<Value> {
        let dir = self.home.path().join("state/ceso/migrations");
        std::fs::read_dir(&dir)
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
                    .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                    .filter_map(|t| serde_json::from_str::<Value>(&t).ok())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The VM's folder under a datastore of a simulator (None when absent).
pub(crate) fn vm_dir(sim: &Sim, datastore: &str) -> Option<PathBuf> {
    std::fs::read_dir(&sim.dir)
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .contains(&format!("-{datastore}-"))
        })
        .map(|e| e.path().join(VM))
        .find(|p| p.exists())
}

fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Fill the source disk with content that is not zeros (vcsim's disks are empty).
fn scribble_source_disk(pair: &Pair) -> Vec<u8> {
    let data = pattern(20 << 20, 2_654_435_761);
    put_source_file(pair, "disk1-flat.vmdk", &data);
    data
}

/// `len` bytes of a pseudo-random pattern chosen by `seed`.
pub(crate) fn pattern(len: u32, seed: u32) -> Vec<u8> {
    (0..len)
        .map(|i| (i.wrapping_mul(seed) >> 13) as u8)
        .collect()
}

/// Write a file of the source VM's folder on esx1 over datastore HTTP.
pub(crate) fn put_source_file(pair: &Pair, name: &str, data: &[u8]) {
    pair.a
        .put_file_in("ha-datacenter", &format!("{VM}/{name}"), data);
}

/// ReconfigVM_Task on a simulator's VM, run to its end.
fn reconfigure(sim: &Sim, id: &str, spec: &str) {
    let soap = Soap::login(sim);
    if let Err(e) = soap.run_task(&format!(
        r#"<ReconfigVM_Task xmlns="urn:vim25" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><_this type="VirtualMachine">{id}</_this><spec>{spec}</spec></ReconfigVM_Task>"#
    )) {
        panic!("ReconfigVM_Task failed: {e}");
    }
}

fn mac(info: &Value) -> String {
    info["nics"][0]["mac"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn a_cold_migration_copies_every_byte_and_keeps_uuid_and_mac() {
    let pair = Pair::start(&[], &[]);
    pair.stop_source();
    let disk = scribble_source_disk(&pair);
    let before = pair.info("esx1").expect("the VM on esx1");

    // The plan first: every file, every check, nothing changed.
    let dry = pair.migrate(&["--dry-run"]).ok();
    dry.stdout_has("copy [LocalDS_0] ha-host_VM0/disk1-flat.vmdk → [LocalDS_1] ha-host_VM0/disk1-flat.vmdk (20971520 bytes)")
        .stdout_has("ok   name: no VM named ha-host_VM0 on esx2")
        .stdout_has("ok   network: VM Network present on");
    assert!(pair.info("esx2").is_none(), "a dry run registered the VM");
    assert!(
        vm_dir(&pair.b, "LocalDS_1").is_none(),
        "a dry run copied files"
    );

    let run = pair.migrate(&[]).ok();
    run.stderr_has("source unregistered and deleted");

    assert!(
        pair.info("esx1").is_none(),
        "the source is still registered"
    );
    assert!(
        vm_dir(&pair.a, "LocalDS_0").is_none(),
        "the source files are still there"
    );
    let after = pair.info("esx2").expect("the VM registered on esx2");
    assert_eq!(after["uuid"], before["uuid"], "BIOS UUID changed");
    assert_eq!(mac(&after), mac(&before), "MAC address changed");
    assert_eq!(after["memory_mb"], before["memory_mb"]);
    assert_eq!(after["cpus"], before["cpus"]);
    assert_eq!(after["nics"][0]["network"], "VM Network");
    assert_eq!(
        after["vmx_path"], "[LocalDS_1] ha-host_VM0/ha-host_VM0.vmx",
        "registered from the copied configuration"
    );
    assert_eq!(
        after["disks"][0]["file"], "[LocalDS_1] ha-host_VM0/disk1.vmdk",
        "the disk is the copied one"
    );
    let dir = vm_dir(&pair.b, "LocalDS_1").expect("the VM folder on esx2");
    let copied = std::fs::read(dir.join("disk1-flat.vmdk")).unwrap();
    assert!(
        copied == disk,
        "the target disk differs from the source disk"
    );
    assert!(
        !file_names(&dir)
            .iter()
            .any(|f| f.ends_with(".log") && f != "vmware.log"),
        "{:?}",
        file_names(&dir)
    );
    assert_eq!(
        pair.journal_entries(),
        0,
        "the journal outlived the migration"
    );
}

#[test]
fn a_running_vm_needs_shutdown_and_runs_again_on_the_target() {
    let pair = Pair::start(&[], &[]);
    let refused = pair.migrate(&[]).fails_with(exit::REFUSED);
    refused.stderr_has("--shutdown");
    assert!(pair.info("esx2").is_none());

    // Without --cold, moving between endpoints is refused with the reason.
    pair.run(&["--host", "esx1", "vm", "migrate", VM, "--to-host", "esx2"])
        .fails_with(exit::REFUSED)
        .stderr_has("--cold");

    pair.migrate(&["--shutdown"]).ok();
    let after = pair.info("esx2").expect("the VM on esx2");
    assert_eq!(after["power_state"], "poweredOn");
    assert!(pair.info("esx1").is_none());
}

#[test]
fn networks_are_remapped_and_a_missing_network_is_refused_before_copying() {
    let pair = Pair::start(&[], &[]);
    pair.stop_source();
    pair.run(&[
        "--host",
        "esx2",
        "network",
        "create",
        "prod",
        "--vswitch",
        "vSwitch0",
        "--vlan-id",
        "10",
    ])
    .ok();

    let refused = pair
        .migrate(&["--network-map", "VM Network=nope"])
        .fails_with(exit::REFUSED);
    refused
        .stderr_has("FAIL network")
        .stderr_has("--network-map");
    assert!(
        vm_dir(&pair.b, "LocalDS_1").is_none(),
        "files were copied before the refusal"
    );

    pair.run(&[
        "--host",
        "esx1",
        "vm",
        "migrate",
        VM,
        "--to-host",
        "esx2",
        "--cold",
        "--network-map",
        "bad",
    ])
    .fails_with(exit::USAGE)
    .stderr_has("OLD=NEW");

    let before = pair.info("esx1").unwrap();
    pair.migrate(&["--network-map", "VM Network=prod"]).ok();
    let after = pair.info("esx2").unwrap();
    assert_eq!(after["nics"][0]["network"], "prod");
    assert_eq!(mac(&after), mac(&before), "the remap changed the MAC");
}

#[test]
fn a_name_taken_on_the_target_is_refused_before_any_byte_is_copied() {
    // The target has its own ha-host_VM0.
    let a = Pair::start(&[], &["-vm", "1"]);
    a.stop_source();
    let refused = a
        .run(&[
            "--host",
            "esx1",
            "vm",
            "migrate",
            VM,
            "--to-host",
            "esx2",
            "--cold",
        ])
        .fails_with(exit::REFUSED);
    refused.stderr_has("esx2 already has a VM named ha-host_VM0");
    assert!(a.info("esx1").is_some());
    assert_eq!(a.journal_entries(), 0);
}

#[test]
fn a_dropped_copy_keeps_the_source_and_the_next_run_resumes() {
    let pair = Pair::start(&["-drop-download", "disk1-flat.vmdk:65536"], &[]);
    pair.stop_source();
    let disk = scribble_source_disk(&pair);
    let failed = pair.migrate(&[]).fails_with(exit::CONNECTION);
    failed
        .stderr_has("the VM is still registered on esx1")
        .stderr_has("partial copy");
    assert!(pair.info("esx1").is_some(), "the source is gone");
    assert!(
        pair.info("esx2").is_none(),
        "a half-copied VM was registered"
    );
    let verified = pair.journal_entries();
    assert!(
        verified > 0,
        "no file was recorded as verified before the drop"
    );

    pair.migrate(&[]).ok();
    let dir = vm_dir(&pair.b, "LocalDS_1").unwrap();
    assert!(std::fs::read(dir.join("disk1-flat.vmdk")).unwrap() == disk);
    assert!(pair.info("esx1").is_none());
}

#[test]
fn a_killed_run_continues_from_the_verified_files() {
    let pair = Pair::start(&["-stall-download", "disk1-flat.vmdk:4096"], &[]);
    pair.stop_source();
    let disk = scribble_source_disk(&pair);
    // The copy stalls inside the flat extent, the last file: killed once the three
    // small files before it (descriptor, nvram, .vmx) are recorded.
    kill_after_verified(&pair, 3);

    // Only small files were verified: a resumed run copies them again (they may have
    // changed since), so nothing counts as resumed.
    let resumed = pair.migrate(&[]).ok();
    assert!(
        !resumed.stderr.contains("already copied by an earlier run"),
        "{}",
        resumed.stderr
    );
    let dir = vm_dir(&pair.b, "LocalDS_1").unwrap();
    assert!(std::fs::read(dir.join("disk1-flat.vmdk")).unwrap() == disk);
    assert!(pair.info("esx1").is_none());
    assert!(pair.info("esx2").is_some());
}

/// A second, 4 MiB disk (`extra.vmdk`) for the source VM, filled with `data`.
fn add_extra_disk(pair: &Pair, data: &[u8]) {
    let id = pair.info("esx1").expect("the VM on esx1")["id"]
        .as_str()
        .expect("an id")
        .to_string();
    reconfigure(
        &pair.a,
        &id,
        &format!(
            r#"<deviceChange><operation>add</operation><fileOperation>create</fileOperation><device xsi:type="VirtualDisk"><key>-1</key><backing xsi:type="VirtualDiskFlatVer2BackingInfo"><fileName>[LocalDS_0] {VM}/extra.vmdk</fileName><diskMode>persistent</diskMode><thinProvisioned>true</thinProvisioned></backing><controllerKey>1000</controllerKey><unitNumber>1</unitNumber><capacityInKB>4096</capacityInKB></device></deviceChange>"#
        ),
    );
    put_source_file(pair, "extra-flat.vmdk", data);
}

/// Kill a migration once `files` files are recorded as verified and the copy stalls in
/// the last, large extent (`-stall-download disk1-flat.vmdk:4096` on esx1).
fn kill_after_verified(pair: &Pair, files: usize) {
    // Kept alive while ceso runs: it owns the config file.
    let mut spawner = pair.ceso();
    let mut child = spawner.spawn(&Pair::migrate_args(&[]));
    let deadline = Instant::now() + Duration::from_secs(180);
    // Killed only once the stalled download has begun (its first bytes reached the
    // target): before that the stall is not spent, and the resumed run would stall.
    let stalled = || {
        vm_dir(&pair.b, "LocalDS_1")
            .and_then(|d| std::fs::metadata(d.join("disk1-flat.vmdk")).ok())
            .is_some_and(|m| m.len() >= 4096)
    };
    while pair.journal_entries() < files || !stalled() {
        assert!(
            Instant::now() < deadline,
            "{files} files were not verified within 180 s"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "ceso ended instead of stalling"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

/// The issue's case: a killed run, then the source changes (more memory, new bytes in
/// a disk the killed run had already copied and verified), then the same command. The
/// target must get the source as it is now, not the killed run's copy.
#[test]
fn a_resumed_run_copies_again_what_changed_on_the_source() {
    let pair = Pair::start(&["-stall-download", "disk1-flat.vmdk:4096"], &[]);
    pair.stop_source();
    let disk = scribble_source_disk(&pair);
    add_extra_disk(&pair, &pattern(4 << 20, 40_503));
    // Two descriptors, nvram, .vmx and the small extent, then the stall in disk1-flat.
    kill_after_verified(&pair, 5);

    let id = pair.info("esx1").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    reconfigure(&pair.a, &id, "<memoryMB>64</memoryMB>");
    let changed = pattern(4 << 20, 69_069);
    put_source_file(&pair, "extra-flat.vmdk", &changed);

    let resumed = pair.migrate(&[]).ok();
    resumed.stderr_has("source unregistered and deleted");
    let after = pair.info("esx2").expect("the VM registered on esx2");
    assert_eq!(after["memory_mb"], 64, "the stale .vmx was kept");
    let dir = vm_dir(&pair.b, "LocalDS_1").unwrap();
    assert!(
        std::fs::read(dir.join("extra-flat.vmdk")).unwrap() == changed,
        "the killed run's copy of extra-flat.vmdk was kept although the source changed"
    );
    assert!(std::fs::read(dir.join("disk1-flat.vmdk")).unwrap() == disk);
    assert!(pair.info("esx1").is_none());
}

/// An unchanged extent verified by the killed run is checked on both ends, not copied.
#[test]
fn a_resumed_run_skips_an_extent_both_ends_still_hold() {
    let pair = Pair::start(&["-stall-download", "disk1-flat.vmdk:4096"], &[]);
    pair.stop_source();
    let disk = scribble_source_disk(&pair);
    let extra = pattern(4 << 20, 40_503);
    add_extra_disk(&pair, &extra);
    kill_after_verified(&pair, 5);

    let resumed = pair.migrate(&[]).ok();
    resumed.stderr_has("(1 already copied by an earlier run)");
    let dir = vm_dir(&pair.b, "LocalDS_1").unwrap();
    assert!(std::fs::read(dir.join("extra-flat.vmdk")).unwrap() == extra);
    assert!(std::fs::read(dir.join("disk1-flat.vmdk")).unwrap() == disk);
}

/// Bytes written into the source after they were copied (here while the target's
/// registration is slow) stop the migration before the source is touched: the copy is
/// destroyed and the source, with the new bytes, stays registered.
#[test]
fn a_source_changed_after_its_copy_is_not_deleted() {
    let pair = Pair::start(&[], &["-method-delay", "RegisterVM_Task:4000"]);
    pair.stop_source();
    scribble_source_disk(&pair);
    let mut spawner = pair.ceso();
    let child = spawner.spawn(&Pair::migrate_args(&[]));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(180);
    while pair.journal_entries() < 4 {
        assert!(
            Instant::now() < deadline,
            "the copy did not finish in 180 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let newer = pattern(20 << 20, 69_069);
    put_source_file(&pair, "disk1-flat.vmdk", &newer);
    let failed = crate::sim::finish(
        child,
        &Pair::migrate_args(&[]),
        started,
        Duration::from_secs(120),
    )
    .fails_with(exit::FAILURE);
    failed
        .stderr_has("the source changed after it was copied")
        .stderr_has("disk1-flat.vmdk has other bytes than were copied")
        .stderr_has("the copy on esx2 was removed");
    assert!(pair.info("esx1").is_some(), "the source was unregistered");
    assert!(
        pair.info("esx2").is_none(),
        "the stale copy stayed registered"
    );
    let dir = vm_dir(&pair.a, "LocalDS_0").expect("the source folder");
    assert!(std::fs::read(dir.join("disk1-flat.vmdk")).unwrap() == newer);
    assert_eq!(pair.journal_entries(), 0);
}

/// With preserve_mac (the default), a MAC the source uses that a VM on the target
/// endpoint already has is refused before anything is copied.
#[test]
fn a_mac_in_use_on_the_target_is_refused_before_copying() {
    let pair = Pair::start(&[], &["-vm", "1"]);
    pair.run(&["--host", "esx1", "vm", "stop", "--force", VM1])
        .ok();
    let source = pair.info_of("esx1", VM1).expect("VM1 on esx1");
    let taken = mac(&source);
    let other = pair.info_of("esx2", VM).expect("VM0 on esx2")["id"]
        .as_str()
        .unwrap()
        .to_string();
    reconfigure(
        &pair.b,
        &other,
        &format!(
            r#"<deviceChange><operation>add</operation><device xsi:type="VirtualE1000"><key>-1</key><backing xsi:type="VirtualEthernetCardNetworkBackingInfo"><deviceName>VM Network</deviceName></backing><addressType>manual</addressType><macAddress>{taken}</macAddress></device></deviceChange>"#
        ),
    );
    let refused = pair
        .run(&[
            "--host",
            "esx1",
            "vm",
            "migrate",
            VM1,
            "--to-host",
            "esx2",
            "--cold",
        ])
        .fails_with(exit::REFUSED);
    refused
        .stderr_has(&format!("{taken} (ethernet-0) is in use by {VM} on esx2"))
        .stderr_has("preserve_mac: false");
    assert!(pair.info_of("esx1", VM1).is_some());
    assert!(pair.info_of("esx2", VM1).is_none());
}

#[test]
fn a_failed_registration_leaves_only_the_source() {
    let pair = Pair::start(&[], &["-fail-method", "RegisterVM_Task"]);
    pair.stop_source();
    let failed = pair.migrate(&[]).fails_with(exit::SERVER_FAULT);
    failed
        .stderr_has("registering ha-host_VM0 on esx2 failed")
        .stderr_has("the copied files in [LocalDS_1] ha-host_VM0 on esx2 were removed");
    assert!(pair.info("esx1").is_some());
    assert!(pair.info("esx2").is_none());
    assert!(
        vm_dir(&pair.b, "LocalDS_1").is_none(),
        "the copy was left behind"
    );
    assert_eq!(pair.journal_entries(), 0);
}

#[test]
fn a_failed_unregister_of_the_source_removes_the_copy_again() {
    let pair = Pair::start(&["-fail-method", "UnregisterVM"], &[]);
    let failed = pair.migrate(&["--shutdown"]).fails_with(exit::SERVER_FAULT);
    failed
        .stderr_has("could not be unregistered from esx1")
        .stderr_has("the VM is still registered on esx1 (powered on again)")
        .stderr_has("the copy on esx2 was removed");
    let source = pair.info("esx1").expect("the source is registered");
    assert_eq!(source["power_state"], "poweredOn");
    assert!(pair.info("esx2").is_none());
    assert!(vm_dir(&pair.b, "LocalDS_1").is_none());
}

#[test]
fn an_esxi_vm_moves_cold_into_a_vcenter_cluster() {
    let a = Sim::start(&["-esx", "-disk-mb", "2"]);
    let vc = Sim::vcenter();
    let mut yaml = String::from("hosts:\n");
    for (name, sim) in [("esx1", &a), ("vc", &vc)] {
        yaml.push_str(&format!(
            "  - name: {name}\n    host: {}\n    user: root\n    password_env: ESXI_PW\n",
            sim.url
        ));
    }
    let home = tempfile::tempdir().unwrap();
    let ceso = || {
        let mut c = Ceso::new();
        c.config(&yaml);
        c.env("ESXI_PW", "secret")
            .env("XDG_STATE_HOME", home.path().join("state"));
        c
    };
    let before = ceso()
        .run(&["--host", "esx1", "vm", "info", VM, "--json"])
        .ok()
        .json();
    ceso()
        .run(&[
            "--host",
            "esx1",
            "vm",
            "migrate",
            VM,
            "--to-host",
            "vc/DC0_C0_H1",
            "--cold",
            "--shutdown",
        ])
        .ok();
    let listed = ceso()
        .run(&["--host", "vc", "vm", "list", VM, "--json"])
        .ok()
        .json();
    assert_eq!(listed[0]["host"], "DC0_C0_H1", "{listed}");
    assert_eq!(listed[0]["power_state"], "poweredOn", "{listed}");
    let after = ceso()
        .run(&["--host", "vc", "vm", "info", VM, "--json"])
        .ok()
        .json();
    assert_eq!(after["uuid"], before["uuid"]);
    assert_eq!(mac(&after), mac(&before));
    let left = ceso()
        .run(&["--host", "esx1", "vm", "list", "--json"])
        .ok()
        .json();
    assert!(
        !left.as_array().unwrap().iter().any(|v| v["name"] == VM),
        "{left}"
    );
}

#[test]
fn evacuating_a_host_onto_another_endpoint_copies_every_vm_and_enters_maintenance() {
    let pair = Pair::start(&[], &[]);
    let before: Vec<Value> = [VM, VM1]
        .iter()
        .map(|vm| pair.info_of("esx1", vm).expect("the VM on esx1"))
        .collect();
    assert!(before.iter().all(|v| v["power_state"] == "poweredOn"));

    // No vMotion between endpoints: without --cold, refused before anything moves.
    pair.evacuate(&["--to-host", "esx2", "--maintenance", "--yes"])
        .fails_with(exit::REFUSED)
        .stderr_has("no vMotion")
        .stderr_has("--cold");
    // --auto stays inside the endpoint, and esx1 has no other host.
    pair.evacuate(&["--auto", "--yes"])
        .fails_with(exit::REFUSED)
        .stderr_has("only host of esx1")
        .stderr_has("--to-host ENDPOINT");
    // The host's own endpoint is no destination.
    pair.evacuate(&["--to-host", "esx1", "--cold", "--yes"])
        .fails_with(exit::USAGE)
        .stderr_has("own endpoint");

    // The dry run: each VM's copy (files, bytes, networks) and checks; nothing changed.
    let dry = pair
        .evacuate(&["--to-host", "esx2", "--cold", "--maintenance", "--dry-run"])
        .ok();
    for vm in [VM, VM1] {
        dry.stdout_has(&format!(
            "would move {vm}: {HOST} → esx2/{HOST}, cold: shut down, move, power on"
        ))
        .stdout_has(&format!("copy [LocalDS_0] {vm}/disk1-flat.vmdk → ["))
        .stdout_has(&format!("ok   name: no VM named {vm} on esx2"));
    }
    dry.stdout_has("(20971520 bytes)")
        .stdout_has("VM Network → VM Network")
        .stdout_has(&format!("then {HOST} enters maintenance mode"))
        .stderr_has("dry run: nothing was changed");
    assert_eq!(pair.names("esx1"), [VM, VM1]);
    assert!(pair.names("esx2").is_empty(), "a dry run registered a VM");
    assert!(!pair.in_maintenance());

    pair.evacuate(&["--to-host", "esx2", "--cold", "--maintenance", "--yes"])
        .ok()
        .stderr_has("source unregistered and deleted");
    assert!(pair.names("esx1").is_empty(), "a VM is left on esx1");
    assert_eq!(pair.names("esx2"), [VM, VM1]);
    for (vm, was) in [VM, VM1].iter().zip(&before) {
        let now = pair.info_of("esx2", vm).expect("the VM on esx2");
        assert_eq!(
            now["power_state"], "poweredOn",
            "{vm} was not powered on again"
        );
        assert_eq!(now["uuid"], was["uuid"], "{vm}: BIOS UUID changed");
        assert_eq!(mac(&now), mac(was), "{vm}: MAC address changed");
    }
    assert!(
        pair.in_maintenance(),
        "{HOST} on esx1 is not in maintenance mode"
    );
}

#[test]
fn a_vm_refused_by_its_copy_plan_stays_and_the_others_move_to_the_other_endpoint() {
    // esx2 has its own ha-host_VM0: that copy is refused when planned, before any byte.
    let pair = Pair::start(&[], &["-vm", "1"]);
    let target = format!("esx2/{HOST}");
    let dry = pair
        .evacuate(&["--to-host", &target, "--cold", "--maintenance", "--dry-run"])
        .fails_with(exit::PARTIAL);
    dry.stdout_has(&format!("cannot move {VM}: {HOST} → {target}"))
        .stdout_has(&format!("FAIL name: esx2 already has a VM named {VM}"))
        .stdout_has(&format!("would move {VM1}: {HOST} → {target}"))
        .stdout_has("would not enter maintenance mode");

    let run = pair
        .evacuate(&["--to-host", &target, "--cold", "--maintenance", "--yes"])
        .fails_with(exit::PARTIAL);
    run.stderr_has("1 of 2 VMs moved; left: ha-host_VM0")
        .stderr_has(&format!("esx2 already has a VM named {VM}"));
    assert_eq!(pair.names("esx1"), [VM]);
    let stayed = pair.info_of("esx1", VM).expect("the refused VM on esx1");
    assert_eq!(
        stayed["power_state"], "poweredOn",
        "the refused VM was shut down"
    );
    let moved = pair.info_of("esx2", VM1).expect("the other VM on esx2");
    assert_eq!(moved["power_state"], "poweredOn");
    assert!(!pair.in_maintenance(), "maintenance mode with a VM left");
}

/// The test bed's VMs have MACs of their own, as on ESXi (stock vcsim gives every
/// model VM the same one, which would make every cold migration a MAC clash).
#[test]
fn the_simulated_vms_have_distinct_macs() {
    let sim = Sim::start(&["-esx", "-vm", "3"]);
    let mut macs: Vec<String> = (0..3)
        .map(|i| {
            let info = sim
                .ceso()
                .run(&["vm", "info", &format!("ha-host_VM{i}"), "--json"])
                .ok()
                .json();
            mac(&info)
        })
        .collect();
    assert!(macs.iter().all(|m| m.starts_with("00:0c:29:")), "{macs:?}");
    macs.sort();
    macs.dedup();
    assert_eq!(macs.len(), 3, "{macs:?}");
}
