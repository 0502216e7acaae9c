//! `ceso vm update` and `vm::update` against the simulator: every kind of change read
//! back over SOAP, the dry run's before/after, and each refusal (power state, shrink,
//! confirmation) leaving the VM as it was.

use crate::sim::{Sim, Soap, exit};
use serde_json::Value;

const OFF_VM: &str = "ha-host_VM0";
const ON_VM: &str = "ha-host_VM1";

fn info(sim: &Sim, vm: &str) -> Value {
    sim.ceso().run(&["vm", "info", vm, "--json"]).ok().json()
}

/// One property of a VM as the simulator holds it (the `<val>` element's XML).
fn property(sim: &Sim, vm: &str, path: &str) -> String {
    let id = info(sim, vm)["id"].as_str().unwrap().to_string();
    let answer = Soap::login(sim).call(&format!(
        r#"<RetrievePropertiesEx xmlns="urn:vim25"><_this type="PropertyCollector">ha-property-collector</_this><specSet><propSet><type>VirtualMachine</type><pathSet>{path}</pathSet></propSet><objectSet><obj type="VirtualMachine">{id}</obj></objectSet></specSet><options/></RetrievePropertiesEx>"#
    ));
    answer
        .split("<val")
        .nth(1)
        .and_then(|v| v.split("</val>").next())
        .unwrap_or_default()
        .to_string()
}

fn disk<'a>(info: &'a Value, label: &str) -> Option<&'a Value> {
    info["disks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["label"] == label)
}

fn cdrom_backing(sim: &Sim, vm: &str) -> Value {
    info(sim, vm)["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["kind"] == "VirtualCdrom")
        .map(|d| d["backing"].clone())
        .expect("a CD-ROM drive")
}

/// How many ReconfigVM_Task calls the simulator has seen (its -request-log).
fn reconfigures(log: &std::path::Path) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with("ReconfigVM_Task "))
        .count()
}

#[test]
fn update_changes_a_powered_off_vm_and_reads_back() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("requests.log");
    let sim = Sim::start(&["-esx", "-request-log", log.to_str().unwrap()]);
    sim.ceso().run(&["vm", "stop", "--force", OFF_VM]).ok();
    let all = [
        "vm",
        "update",
        OFF_VM,
        "--cpu",
        "4",
        "--cores-per-socket",
        "2",
        "--memory",
        "8192",
        "--cpu-hot-add",
        "on",
        "--memory-hot-add",
        "on",
        "--cpu-reservation",
        "1000",
        "--memory-limit",
        "4096",
        "--cpu-shares",
        "high",
        "--notes",
        "web tier",
        "--firmware",
        "efi",
        "--secure-boot",
        "on",
        "--guest-id",
        "ubuntu64Guest",
        "--boot-order",
        "disk,cdrom,net",
        "--boot-delay",
        "5000",
    ];
    // The dry run shows before → after and changes nothing.
    let mut dry = all.to_vec();
    dry.push("--dry-run");
    let run = sim.ceso().run(&dry).ok();
    run.stdout_has("~ numCPUs: 1 → 4")
        .stdout_has("~ memoryMB: 32 MB → 8192 MB")
        .stdout_has("~ firmware: bios → efi")
        .stdout_has("~ bootOptions.bootOrder: (default) → disk,cdrom,net");
    assert_eq!(info(&sim, OFF_VM)["cpus"], 1);
    let mut json = dry.clone();
    json.push("--json");
    let plan = sim.ceso().run(&json).ok().json();
    assert_eq!(plan["dry_run"], true);
    assert!(
        plan["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["field"] == "guestId" && c["after"] == "ubuntu64Guest"),
        "{plan}"
    );

    let mut apply = all.to_vec();
    apply.push("--json");
    let done = sim.ceso().run(&apply).ok().json();
    assert_eq!(done["changed"], true);
    // The dry runs sent nothing; all of it went in one reconfiguration.
    assert_eq!(reconfigures(&log), 1);
    let after = info(&sim, OFF_VM);
    assert_eq!(after["cpus"], 4);
    assert_eq!(after["cores_per_socket"], 2);
    assert_eq!(after["memory_mb"], 8192);
    assert_eq!(after["firmware"], "efi");
    assert_eq!(after["guest_id"], "ubuntu64Guest");
    assert!(property(&sim, OFF_VM, "config.annotation").contains("web tier"));
    assert!(property(&sim, OFF_VM, "config.cpuHotAddEnabled").contains(">true"));
    assert!(property(&sim, OFF_VM, "config.memoryHotAddEnabled").contains(">true"));
    let cpu = property(&sim, OFF_VM, "config.cpuAllocation");
    assert!(
        cpu.contains("<reservation>1000</reservation>") && cpu.contains("<level>high</level>"),
        "{cpu}"
    );
    assert!(property(&sim, OFF_VM, "config.memoryAllocation").contains("<limit>4096</limit>"));
    let boot = property(&sim, OFF_VM, "config.bootOptions");
    assert!(boot.contains("<bootDelay>5000</bootDelay>"), "{boot}");
    assert!(
        boot.contains("<efiSecureBootEnabled>true</efiSecureBootEnabled>"),
        "{boot}"
    );
    let order: Vec<&str> = boot
        .match_indices("VirtualMachineBootOptionsBootable")
        .map(|(i, _)| &boot[i + 33..i + 38])
        .collect();
    assert_eq!(order, ["DiskD", "Cdrom", "Ether"], "{boot}");
    // Asking again changes nothing and says so.
    sim.ceso()
        .run(&["vm", "update", OFF_VM, "--cpu", "4"])
        .ok()
        .stderr_has("nothing to change");

    // Disks: add a thick one on the VM's datastore, grow the first, never shrink. (The
    // simulator labels disks `disk-KEY-UNIT` where ESXi says "Hard disk N".)
    let first = info(&sim, OFF_VM)["disks"][0]["label"]
        .as_str()
        .unwrap()
        .to_string();
    let grow = format!("{first}=2G");
    sim.ceso()
        .run(&[
            "vm",
            "update",
            OFF_VM,
            "--add-disk",
            "1G:thick",
            "--grow-disk",
            &grow,
        ])
        .ok();
    let after = info(&sim, OFF_VM);
    let new = after["disks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["label"] != first.as_str())
        .expect("the new disk")
        .clone();
    let second = new["label"].as_str().unwrap().to_string();
    assert_eq!(new["capacity_bytes"], 1i64 << 30);
    assert_eq!(new["thin"], false);
    assert!(
        new["file"].as_str().unwrap().starts_with("[LocalDS_0]"),
        "{new}"
    );
    assert_eq!(disk(&after, &first).unwrap()["capacity_bytes"], 2i64 << 30);
    sim.ceso()
        .run(&[
            "vm",
            "update",
            OFF_VM,
            "--grow-disk",
            &format!("{first}=1G"),
        ])
        .fails_with(exit::REFUSED)
        .stderr_has("never shrinks a disk");
    sim.ceso()
        .run(&["vm", "update", OFF_VM, "--grow-disk", "Hard disk 9=4G"])
        .fails_with(exit::NOT_FOUND);
    // Removing a disk asks first: without a terminal and without --yes, nothing changes.
    let remove = [
        "vm",
        "update",
        OFF_VM,
        "--remove-disk",
        &second,
        "--delete-files",
    ];
    sim.ceso().run(&remove).fails_with(exit::REFUSED);
    let mut dry = remove.to_vec();
    dry.push("--dry-run");
    sim.ceso()
        .run(&dry)
        .ok()
        .stdout_has(&format!("- device[{second}]: 1 GB [LocalDS_0]"))
        .stdout_has("asks first, unless --yes");
    assert!(disk(&info(&sim, OFF_VM), &second).is_some());
    let mut yes = remove.to_vec();
    yes.push("--yes");
    sim.ceso().run(&yes).ok();
    assert!(disk(&info(&sim, OFF_VM), &second).is_none());
    assert_eq!(info(&sim, OFF_VM)["disks"].as_array().unwrap().len(), 1);

    // Bad input is a usage error with nothing sent.
    sim.ceso()
        .run(&["vm", "update", OFF_VM, "--add-disk", "lots"])
        .fails_with(exit::USAGE);
    sim.ceso()
        .run(&["vm", "update", OFF_VM, "--memory", "1001"])
        .fails_with(exit::USAGE);
    sim.ceso()
        .run(&[
            "vm",
            "update",
            OFF_VM,
            "--firmware",
            "bios",
            "--secure-boot",
            "on",
        ])
        .fails_with(exit::USAGE)
        .stderr_has("secure boot needs EFI firmware");
    sim.ceso()
        .run(&["vm", "update", OFF_VM])
        .fails_with(exit::USAGE);
}

#[test]
fn update_on_a_running_vm_refuses_what_needs_it_off_and_does_hot_changes() {
    let sim = Sim::esx();
    for (args, needle) in [
        (
            vec!["--firmware", "efi"],
            "--firmware can only be changed while the VM is powered off",
        ),
        (vec!["--cpu", "2"], "CPU hot-add is disabled"),
        (vec!["--memory", "16"], "memory cannot be removed"),
        (
            vec!["--cpu-hot-add", "on", "--notes", "x"],
            "--cpu-hot-add can only be changed",
        ),
    ] {
        let mut cmd = vec!["vm", "update", ON_VM];
        cmd.extend(args);
        sim.ceso()
            .run(&cmd)
            .fails_with(exit::REFUSED)
            .stderr_has(needle);
    }
    // Nothing was sent: the notes are still empty.
    assert!(!property(&sim, ON_VM, "config.annotation").contains(">x"));

    // `--dry-run` before the subcommand is a dry run too.
    sim.ceso()
        .run(&["--dry-run", "vm", "update", ON_VM, "--notes", "zzz"])
        .ok()
        .stdout_has("would reconfigure");
    assert!(!property(&sim, ON_VM, "config.annotation").contains("zzz"));

    // An ISO that is not on the datastore is not found (exit 4), naming datastore and
    // path, in a dry run too; nothing is sent.
    for dry in [false, true] {
        let mut cmd = vec![
            "vm",
            "update",
            ON_VM,
            "--cdrom",
            "[LocalDS_0] iso/tools.iso",
        ];
        if dry {
            cmd.push("--dry-run");
        }
        sim.ceso()
            .run(&cmd)
            .fails_with(exit::NOT_FOUND)
            .stderr_has("ISO image '[LocalDS_0] iso/tools.iso' not found")
            .stderr_has("ceso datastore ls");
    }
    sim.ceso()
        .run(&["vm", "update", ON_VM, "--cdrom", "[NoSuchDS] iso/tools.iso"])
        .fails_with(exit::NOT_FOUND)
        .stderr_has("datastore 'NoSuchDS' not found");
    assert!(cdrom_backing(&sim, ON_VM).get("fileName").is_none());

    // Hot changes are fine: notes, allocation, and the CD-ROM (an ISO uploaded first).
    let iso = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(iso.path(), b"CD001 iso bytes").unwrap();
    let local = iso.path().to_str().unwrap();
    sim.ceso()
        .run(&["datastore", "mkdir", "[LocalDS_0] iso", "-p"])
        .ok();
    sim.ceso()
        .run(&["datastore", "upload", local, "[LocalDS_0] iso/tools.iso"])
        .ok();
    sim.ceso()
        .run(&[
            "vm",
            "update",
            ON_VM,
            "--notes",
            "hot",
            "--memory-reservation",
            "16",
            "--cdrom",
            "ds://[LocalDS_0] iso/tools.iso",
        ])
        .ok()
        .stdout_has("].backing: (no media) → [LocalDS_0] iso/tools.iso");
    let cd = cdrom_backing(&sim, ON_VM);
    assert_eq!(cd["fileName"], "[LocalDS_0] iso/tools.iso", "{cd}");
    assert!(
        property(&sim, ON_VM, "config.memoryAllocation").contains("<reservation>16</reservation>")
    );
    sim.ceso().run(&["vm", "update", ON_VM, "--eject"]).ok();
    assert!(cdrom_backing(&sim, ON_VM).get("fileName").is_none());

    // With hot-add enabled (while off), vCPUs and memory go up on the running VM.
    sim.ceso().run(&["vm", "stop", "--force", ON_VM]).ok();
    sim.ceso()
        .run(&[
            "vm",
            "update",
            ON_VM,
            "--cpu-hot-add",
            "on",
            "--memory-hot-add",
            "on",
        ])
        .ok();
    sim.ceso().run(&["vm", "start", ON_VM]).ok();
    sim.ceso()
        .run(&["vm", "update", ON_VM, "--cpu", "2", "--memory", "64"])
        .ok();
    let after = info(&sim, ON_VM);
    assert_eq!(
        (after["cpus"].clone(), after["memory_mb"].clone()),
        (2.into(), 64.into())
    );

    // The script function, with a dry run that changes nothing, then for real.
    let dry = sim
        .ceso()
        .run(&[
            "--json",
            "-c",
            &format!(r#"vm::update("{ON_VM}", #{{cpus: 4, dry_run: true}})"#),
        ])
        .ok()
        .json();
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["changes"][0]["after"], "4");
    assert_eq!(info(&sim, ON_VM)["cpus"], 2);
    sim.ceso()
        .run(&[
            "-c",
            &format!(r#"vm("{ON_VM}").update(#{{notes: "from a script"}})"#),
        ])
        .ok();
    assert!(property(&sim, ON_VM, "config.annotation").contains("from a script"));
    sim.ceso()
        .run(&[
            "-c",
            &format!(r#"vm::update("{ON_VM}", #{{memory_mb: 32}})"#),
        ])
        .fails_with(exit::REFUSED);
}
