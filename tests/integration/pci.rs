//! `ceso pci …`, `ceso gpu profiles`, `ceso vm attach-pci/detach-pci` and
//! `ceso vm create --gpu` against the simulator's PCI extension (tests/vcsim/pci.go):
//! every command, and each refusal.

use std::time::Duration;

use crate::sim::{Ceso, Sim, exit};
use serde_json::Value;

const VM0: &str = "ha-host_VM0";
const VM1: &str = "ha-host_VM1";
const HOST: &str = "localhost.localdomain";
const A30: &str = "0000:3b:00.0";
const A30_2: &str = "0000:d8:00.0";
const A6000: &str = "0000:86:00.0";
const A6000_AUDIO: &str = "0000:86:00.1";
const X710: &str = "0000:af:00.0";

fn json(sim: &Sim, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    sim.ceso().run(&all).ok().json()
}

fn device<'a>(list: &'a Value, address: &str) -> &'a Value {
    list.as_array()
        .and_then(|a| a.iter().find(|d| d["address"] == address))
        .unwrap_or_else(|| panic!("{address} not in {list}"))
}

fn devices_on_host<'a>(list: &'a Value, host: &str) -> Vec<&'a Value> {
    list.as_array()
        .unwrap()
        .iter()
        .filter(|d| d["host"] == host)
        .collect()
}

/// The VM's VirtualPCIPassthrough devices (from `vm info`).
fn pci_devices(sim: &Sim, vm: &str) -> Vec<Value> {
    let info = json(sim, &["vm", "info", vm]);
    info["devices"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["kind"] == "VirtualPCIPassthrough")
        .cloned()
        .collect()
}

fn memory_locked(sim: &Sim, vm: &str) -> bool {
    json(sim, &["vm", "info", vm])["memory_reservation_locked"] == true
}

fn stop(sim: &Sim, vm: &str) {
    sim.ceso().run(&["vm", "stop", "--force", vm]).ok();
}

fn enable(sim: &Sim, device: &str) {
    sim.ceso().run(&["pci", "enable", device, "--yes"]).ok();
}

/// The VM is as it was before a refused command.
#[track_caller]
fn untouched(sim: &Sim, vm: &str) {
    assert!(pci_devices(sim, vm).is_empty(), "{vm} gained a PCI device");
    assert!(
        !memory_locked(sim, vm),
        "{vm} got its memory reservation locked"
    );
}

#[test]
fn list_shows_every_device_with_unsigned_ids_gpu_models_groups_and_filters() {
    let sim = Sim::esx();
    let all = json(&sim, &["pci", "list"]);
    // The template's 43 chipset devices and the extension's cards, every one listed.
    assert!(all.as_array().unwrap().len() > 43, "{all}");
    let chipset = device(&all, "0000:00:00.0");
    assert_eq!(chipset["passthru_capable"], false);
    let a30 = device(&all, A30);
    assert_eq!(a30["id"], "10de:20b7");
    assert_eq!(a30["vendor"], "NVIDIA Corporation");
    assert_eq!(a30["class"], "3D controller");
    assert_eq!(a30["gpu"]["model"], "A30");
    assert_eq!(a30["gpu"]["memory_gb"], 24);
    assert_eq!(a30["passthru_capable"], true);
    assert_eq!(a30["passthru_enabled"], false);
    assert_eq!(a30["host"], HOST);
    // 0x8086 arrives as -32634: shown unsigned.
    let nic = device(&all, X710);
    assert_eq!(nic["id"], "8086:1572");
    assert_eq!(nic["class"], "Ethernet controller");
    assert!(nic.get("gpu").is_none());
    assert_eq!(
        nic["dependent_devices"],
        serde_json::json!(["0000:af:00.1"])
    );
    assert_eq!(
        device(&all, A6000)["dependent_devices"],
        serde_json::json!([A6000_AUDIO])
    );
    assert_eq!(
        device(&all, "0000:18:00.0")["gpu"]["model"],
        "Instinct MI210"
    );
    assert_eq!(
        device(&all, "0000:4d:00.0")["gpu"]["model"],
        "Data Center GPU Flex 170"
    );

    let gpus = json(&sim, &["pci", "list", "--gpus"]);
    let addresses: Vec<&str> = gpus
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["address"].as_str().unwrap())
        .collect();
    assert!(addresses.contains(&A30) && addresses.contains(&"0000:18:00.0"));
    assert!(
        !addresses.contains(&X710),
        "a NIC is not a GPU: {addresses:?}"
    );

    assert_eq!(
        json(&sim, &["pci", "list", "--assignable"]),
        serde_json::json!([])
    );
    enable(&sim, A30);
    let free = json(&sim, &["pci", "list", "--assignable"]);
    assert_eq!(free.as_array().unwrap().len(), 1);
    assert_eq!(free[0]["address"], A30);

    let table = sim.ceso().run(&["pci", "list", "--gpus"]).ok().stdout;
    let header = table.lines().next().unwrap();
    for column in [
        "ADDRESS",
        "ID",
        "VENDOR",
        "DEVICE",
        "PASSTHRU",
        "DEPENDENT",
        "VM",
    ] {
        assert!(header.contains(column), "{header}");
    }
    assert!(table.contains("A30 24 GB"), "{table}");
}

#[test]
fn info_by_address_selector_or_model_and_close_matches_for_unknown_devices() {
    let sim = Sim::esx();
    let info = json(&sim, &["pci", "info", "3b:00.0"]);
    assert_eq!(info["address"], A30);
    assert_eq!(info["not_assignable_because"], "passthrough not enabled");
    // An NVIDIA GPU not in passthrough mode is shared by the vGPU manager.
    let profiles: Vec<&str> = info["vgpu_profiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(profiles.contains(&"grid_a30-4c"), "{profiles:?}");
    assert_eq!(
        json(&sim, &["pci", "info", "10de:20b5"])["address"],
        "0000:5e:00.0"
    );
    assert_eq!(
        json(&sim, &["pci", "info", "mi210"])["address"],
        "0000:18:00.0"
    );
    let group = json(&sim, &["pci", "info", A6000]);
    assert_eq!(group["group"][0]["address"], A6000_AUDIO);

    let run = sim
        .ceso()
        .run(&["pci", "info", "0000:3c:00.0"])
        .fails_with(exit::NOT_FOUND);
    run.stderr_has("PCI device '0000:3c:00.0' not found")
        .stderr_has(A30);
    sim.ceso()
        .run(&["pci", "info", "nvidai"])
        .fails_with(exit::NOT_FOUND)
        .stderr_has("did you mean")
        .stderr_has("nvidia");
    sim.ceso()
        .run(&["pci", "info", "10de:ffff"])
        .fails_with(exit::NOT_FOUND)
        .stderr_has("10de:20b");
}

#[test]
fn enable_and_disable_change_the_whole_group_with_dry_run_and_confirmation() {
    let sim = Sim::esx();
    let plan = json(&sim, &["pci", "enable", A6000_AUDIO, "--dry-run"]);
    assert_eq!(plan["dry_run"], true);
    assert_eq!(plan["changed"], true);
    assert_eq!(
        device(&json(&sim, &["pci", "list"]), A6000)["passthru_enabled"],
        false
    );

    // Enabling the audio function enables the GPU it depends on too.
    let done = json(&sim, &["pci", "enable", A6000_AUDIO]);
    assert_eq!(done["changed"], true);
    assert_eq!(done["reboot_required"], false);
    let addresses: Vec<&str> = done["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["address"].as_str().unwrap())
        .collect();
    assert_eq!(addresses, [A6000_AUDIO, A6000]);
    let list = json(&sim, &["pci", "list"]);
    for address in [A6000, A6000_AUDIO] {
        assert_eq!(device(&list, address)["passthru_enabled"], true);
        assert_eq!(device(&list, address)["passthru_active"], true);
    }
    let again = json(&sim, &["pci", "enable", A6000]);
    assert_eq!(again["changed"], false);
    let text = sim.ceso().run(&["pci", "enable", A6000]).ok();
    assert!(text.stderr.contains("already enabled"), "{}", text.stderr);

    // Disabling is destructive: asked for, refused without a terminal unless --yes.
    sim.ceso()
        .run(&["pci", "disable", A6000])
        .fails_with(exit::REFUSED)
        .stderr_has("--yes");
    assert_eq!(
        device(&json(&sim, &["pci", "list"]), A6000)["passthru_enabled"],
        true
    );
    let off = json(&sim, &["pci", "disable", A6000, "--yes"]);
    assert_eq!(off["changed"], true);
    let list = json(&sim, &["pci", "list"]);
    assert_eq!(device(&list, A6000)["passthru_enabled"], false);
    assert_eq!(device(&list, A6000_AUDIO)["passthru_enabled"], false);

    // A NIC is taken from ESXi itself: enabling it asks too.
    sim.ceso()
        .run(&["pci", "enable", X710])
        .fails_with(exit::REFUSED);
    sim.ceso().run(&["pci", "enable", X710, "--yes"]).ok();

    // Devices the host needs cannot be passed through.
    sim.ceso()
        .run(&["pci", "enable", "0000:00:07.1"])
        .fails_with(exit::REFUSED)
        .stderr_has("not passthrough capable");
}

#[test]
fn enable_says_when_the_host_must_reboot_and_attach_waits_for_it() {
    let sim = Sim::start(&["-esx", "-pci-reboot-required"]);
    let done = json(&sim, &["pci", "enable", A30]);
    assert_eq!(done["reboot_required"], true);
    assert_eq!(done["devices"][0]["enabled"], true);
    assert_eq!(done["devices"][0]["active"], false);
    let run = sim.ceso().run(&["pci", "enable", A30_2]).ok();
    assert!(run.stderr.contains("reboot the host"), "{}", run.stderr);
    assert_eq!(
        device(&json(&sim, &["pci", "list"]), A30)["reboot_pending"],
        true
    );
    stop(&sim, VM0);
    sim.ceso()
        .run(&["vm", "attach-pci", VM0, A30])
        .fails_with(exit::REFUSED)
        .stderr_has("not active")
        .stderr_has("reboot");
    untouched(&sim, VM0);
}

#[test]
fn attach_and_detach_static_directpath_end_to_end() {
    let sim = Sim::esx();
    enable(&sim, A30);
    stop(&sim, VM0);

    let plan = json(&sim, &["vm", "attach-pci", VM0, A30, "--dry-run"]);
    assert_eq!(plan["dry_run"], true);
    assert_eq!(plan["plan"]["devices"][0]["backing"]["kind"], "direct_path");
    assert_eq!(plan["plan"]["lock_memory_reservation"], true);
    untouched(&sim, VM0);

    let done = json(&sim, &["vm", "attach-pci", VM0, A30]);
    assert_eq!(done["host"], HOST);
    let attached = &done["devices"][0];
    assert_eq!(attached["address"], A30);
    assert_eq!(attached["mode"], "direct_path");
    // The backing ESXi checks at power-on: id, deviceId as hex, systemId from QueryConfigTarget.
    assert_eq!(attached["backing"]["id"], A30);
    assert_eq!(attached["backing"]["device_id"], "20b7");
    assert_eq!(attached["backing"]["vendor_id"], 4318);
    assert!(
        !attached["backing"]["system_id"]
            .as_str()
            .unwrap()
            .is_empty()
    );
    assert_eq!(done["memory_reservation_locked"], true);
    // A 24 GB GPU needs a 64-bit MMIO window.
    assert_eq!(done["extra_config"]["pciPassthru.use64bitMMIO"], "TRUE");
    assert_eq!(done["extra_config"]["pciPassthru.64bitMMIOSizeGB"], "32");
    assert_eq!(pci_devices(&sim, VM0).len(), 1);
    assert!(memory_locked(&sim, VM0));
    assert_eq!(
        device(&json(&sim, &["pci", "list"]), A30)["assigned_to"],
        serde_json::json!([VM0])
    );

    // The simulator powers it on only when ESXi would (reserved memory, matching systemId).
    sim.ceso().run(&["vm", "start", VM0]).ok();
    sim.ceso()
        .run(&["vm", "detach-pci", VM0, A30, "--yes"])
        .fails_with(exit::REFUSED)
        .stderr_has("powered off");
    stop(&sim, VM0);

    let dry = json(&sim, &["vm", "detach-pci", VM0, A30, "--dry-run"]);
    assert_eq!(dry["plan"]["devices"].as_array().unwrap().len(), 1);
    sim.ceso()
        .run(&["vm", "detach-pci", VM0, A30])
        .fails_with(exit::REFUSED)
        .stderr_has("not confirmed");
    assert_eq!(pci_devices(&sim, VM0).len(), 1);
    let detached = json(&sim, &["vm", "detach-pci", VM0, A30, "--yes"]);
    assert_eq!(detached["removed"][0]["backing"]["id"], A30);
    assert_eq!(detached["remaining"], 0);
    assert!(pci_devices(&sim, VM0).is_empty());
    assert_eq!(
        device(&json(&sim, &["pci", "list"]), A30)["assigned_to"],
        serde_json::json!([])
    );
    sim.ceso()
        .run(&["vm", "detach-pci", VM0, A30, "--yes"])
        .fails_with(exit::NOT_FOUND);
}

#[test]
fn attach_refuses_a_device_that_is_not_enabled() {
    let sim = Sim::esx();
    stop(&sim, VM0);
    sim.ceso()
        .run(&["vm", "attach-pci", VM0, A30])
        .fails_with(exit::REFUSED)
        .stderr_has("passthrough is not enabled")
        .stderr_has("ceso pci enable 0000:3b:00.0");
    // A selector finds no free device and says why for each candidate.
    sim.ceso()
        .run(&["vm", "attach-pci", VM0, "nvidia"])
        .fails_with(exit::REFUSED)
        .stderr_has("no free passthrough device matches 'nvidia'")
        .stderr_has("passthrough not enabled");
    untouched(&sim, VM0);
}

#[test]
fn attach_refuses_a_device_in_use_by_another_vm() {
    let sim = Sim::esx();
    enable(&sim, A30);
    stop(&sim, VM0);
    stop(&sim, VM1);
    sim.ceso().run(&["vm", "attach-pci", VM0, A30]).ok();
    sim.ceso()
        .run(&["vm", "attach-pci", VM1, A30])
        .fails_with(exit::REFUSED)
        .stderr_has("in use by VM ha-host_VM0")
        .stderr_has("ceso vm detach-pci ha-host_VM0");
    sim.ceso()
        .run(&["vm", "attach-pci", VM0, A30])
        .fails_with(exit::REFUSED)
        .stderr_has("already attached");
    untouched(&sim, VM1);
    assert_eq!(pci_devices(&sim, VM0).len(), 1);
}

#[test]
fn attach_refuses_a_powered_on_vm() {
    let sim = Sim::esx();
    enable(&sim, A30);
    sim.ceso()
        .run(&["vm", "attach-pci", VM0, A30])
        .fails_with(exit::REFUSED)
        .stderr_has("is poweredOn")
        .stderr_has("ceso vm stop");
    untouched(&sim, VM0);
}

#[test]
fn attach_refuses_an_unknown_device_and_lists_close_matches() {
    let sim = Sim::esx();
    enable(&sim, A30);
    stop(&sim, VM0);
    sim.ceso()
        .run(&["vm", "attach-pci", VM0, "0000:3b:00.1"])
        .fails_with(exit::NOT_FOUND)
        .stderr_has("PCI device '0000:3b:00.1' not found")
        .stderr_has("did you mean")
        .stderr_has(A30);
    sim.ceso()
        .run(&["vm", "attach-pci", VM0, "a3O"])
        .fails_with(exit::NOT_FOUND)
        .stderr_has("a30");
    sim.ceso()
        .run(&["vm", "attach-pci", "no-such-vm", A30])
        .fails_with(exit::NOT_FOUND)
        .stderr_has("VM 'no-such-vm' not found");
    sim.ceso()
        .run(&["vm", "attach-pci", VM0])
        .fails_with(exit::USAGE);
    untouched(&sim, VM0);
}

#[test]
fn addresses_need_host_on_vcenter_and_a_device_of_another_host_is_refused() {
    let sim = Sim::vcenter();
    let all = json(&sim, &["pci", "list", "--gpus"]);
    assert!(devices_on_host(&all, "DC0_H0").len() >= 6);
    assert!(devices_on_host(&all, "DC0_C0_H0").len() >= 6);
    sim.ceso()
        .run(&["pci", "info", A30])
        .fails_with(exit::NOT_FOUND)
        .stderr_has("matches 4 hosts")
        .stderr_has("--host");
    assert_eq!(
        json(&sim, &["pci", "info", A30, "--host", "DC0_H0"])["host"],
        "DC0_H0"
    );
    sim.ceso()
        .run(&["pci", "enable", A30, "--host", "DC0_C0_H0"])
        .ok();
    sim.ceso()
        .run(&["pci", "enable", A30, "--host", "DC0_H0"])
        .ok();
    let list = json(&sim, &["pci", "list", "--host", "DC0_C0_H0"]);
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|d| d["host"] == "DC0_C0_H0")
    );

    stop(&sim, "DC0_H0_VM0");
    // DC0_H0_VM0 runs on DC0_H0: DC0_C0_H0's GPU cannot be its.
    sim.ceso()
        .run(&["vm", "attach-pci", "DC0_H0_VM0", A30, "--host", "DC0_C0_H0"])
        .fails_with(exit::REFUSED)
        .stderr_has("is on host DC0_C0_H0, but DC0_H0_VM0 runs on host DC0_H0");
    untouched(&sim, "DC0_H0_VM0");
    // Its own host's device is fine.
    let done = json(&sim, &["vm", "attach-pci", "DC0_H0_VM0", A30]);
    assert_eq!(done["host"], "DC0_H0");
}

#[test]
fn dependent_functions_go_together() {
    let sim = Sim::esx();
    enable(&sim, A6000);
    stop(&sim, VM0);
    stop(&sim, VM1);
    let done = json(&sim, &["vm", "attach-pci", VM0, A6000]);
    let attached: Vec<(&str, bool)> = done["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["address"].as_str().unwrap(),
                d["dependent"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(attached, [(A6000, false), (A6000_AUDIO, true)]);
    assert_eq!(pci_devices(&sim, VM0).len(), 2);
    sim.ceso()
        .run(&["vm", "attach-pci", VM1, A6000_AUDIO])
        .fails_with(exit::REFUSED)
        .stderr_has("in use by VM ha-host_VM0");
    untouched(&sim, VM1);
    sim.ceso().run(&["vm", "start", VM0]).ok();
    stop(&sim, VM0);
    // Detaching the GPU takes its audio function along.
    let detached = json(&sim, &["vm", "detach-pci", VM0, A6000, "--yes"]);
    assert_eq!(detached["removed"].as_array().unwrap().len(), 2);
    assert!(pci_devices(&sim, VM0).is_empty());

    // A running VM holds the first X710 port (Dynamic DirectPath): the second port,
    // in the same group, cannot go to another VM, and the command says why.
    sim.ceso().run(&["pci", "enable", X710, "--yes"]).ok();
    json(&sim, &["vm", "attach-pci", VM0, "8086:1572", "--dynamic"]);
    sim.ceso().run(&["vm", "start", VM0]).ok();
    let free = json(&sim, &["pci", "list", "--assignable"]);
    assert!(
        !free
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["address"] == "0000:af:00.1"),
        "{free}"
    );
    sim.ceso()
        .run(&["vm", "attach-pci", VM1, "0000:af:00.1"])
        .fails_with(exit::REFUSED)
        .stderr_has("share an IOMMU group")
        .stderr_has("in use by VM ha-host_VM0");
    untouched(&sim, VM1);
}

#[test]
fn selectors_pick_the_first_free_assignable_match() {
    let sim = Sim::esx();
    enable(&sim, A30);
    enable(&sim, A30_2);
    stop(&sim, VM0);
    stop(&sim, VM1);
    let first = json(&sim, &["vm", "attach-pci", VM0, "10de:20b7"]);
    assert_eq!(first["devices"][0]["address"], A30);
    let second = json(&sim, &["vm", "attach-pci", VM1, "a30"]);
    assert_eq!(second["devices"][0]["address"], A30_2);
    // Detach by selector too.
    json(&sim, &["vm", "detach-pci", VM1, "nvidia", "--yes"]);
    assert!(pci_devices(&sim, VM1).is_empty());
}

#[test]
fn dynamic_directpath_gets_a_device_at_power_on() {
    let sim = Sim::esx();
    sim.ceso().run(&["pci", "enable", X710, "--yes"]).ok();
    stop(&sim, VM0);
    let done = json(&sim, &["vm", "attach-pci", VM0, "8086:1572", "--dynamic"]);
    let d = &done["devices"][0];
    assert_eq!(d["mode"], "dynamic");
    assert_eq!(d["id"], "8086:1572");
    assert_eq!(d["backing"]["kind"], "dynamic");
    assert!(memory_locked(&sim, VM0));
    // Nothing is held until the VM runs; then ESXi picks a free port.
    assert_eq!(
        device(&json(&sim, &["pci", "list"]), X710)["assigned_to"],
        serde_json::json!([])
    );
    sim.ceso().run(&["vm", "start", VM0]).ok();
    assert_eq!(
        device(&json(&sim, &["pci", "list"]), X710)["assigned_to"],
        serde_json::json!([VM0])
    );
    stop(&sim, VM0);
    json(&sim, &["vm", "detach-pci", VM0, "8086:1572", "--yes"]);
    assert!(pci_devices(&sim, VM0).is_empty());
    // --dynamic needs a free matching device.
    sim.ceso()
        .run(&["vm", "attach-pci", VM0, "10de:20b7", "--dynamic"])
        .fails_with(exit::REFUSED)
        .stderr_has("passthrough not enabled");
}

#[test]
fn vgpu_profiles_come_from_the_host_and_attach_one_at_a_time() {
    let sim = Sim::esx();
    let profiles = json(&sim, &["gpu", "profiles"]);
    let a30 = profiles
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "grid_a30-4c")
        .unwrap_or_else(|| panic!("no grid_a30-4c in {profiles}"));
    assert_eq!(a30["gpu"], "NVIDIA A30");
    assert_eq!(a30["framebuffer_mb"], 4096);
    assert_eq!(a30["max_per_gpu"], 6);
    assert_eq!(a30["hosts"], serde_json::json!([HOST]));
    let mig = profiles
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "grid_a100d-3-40c")
        .unwrap();
    assert_eq!(mig["mig_slices"], 3);
    assert_eq!(mig["max_per_gpu"], 2);

    stop(&sim, VM0);
    sim.ceso()
        .run(&["vm", "attach-pci", VM0, "--vgpu", "grid_a30-5c"])
        .fails_with(exit::NOT_FOUND)
        .stderr_has("vGPU profile 'grid_a30-5c' not found")
        .stderr_has("grid_a30-4c");
    untouched(&sim, VM0);
    for _ in 0..2 {
        let done = json(&sim, &["vm", "attach-pci", VM0, "--vgpu", "grid_a30-24c"]);
        assert_eq!(done["devices"][0]["profile"], "grid_a30-24c");
        assert_eq!(done["devices"][0]["backing"]["kind"], "vgpu");
    }
    assert!(memory_locked(&sim, VM0));
    let used = json(&sim, &["gpu", "profiles"]);
    let row = used
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "grid_a30-24c")
        .unwrap();
    assert_eq!(row["used_by"], serde_json::json!([VM0, VM0]));
    sim.ceso().run(&["vm", "start", VM0]).ok();
    stop(&sim, VM0);
    // One vGPU goes, the other stays.
    let one = json(&sim, &["vm", "detach-pci", VM0, "grid_a30-24c", "--yes"]);
    assert_eq!(one["removed"].as_array().unwrap().len(), 1);
    assert_eq!(one["remaining"], 1);
    assert_eq!(pci_devices(&sim, VM0).len(), 1);

    // A GPU in passthrough mode is no longer offered for vGPU.
    enable(&sim, "0000:86:00.0");
    let after = json(&sim, &["gpu", "profiles"]);
    assert!(
        !after
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "grid_rtxa6000-4q"),
        "{after}"
    );
}

#[test]
fn create_with_gpu_checks_the_device_before_creating_anything() {
    let sim = Sim::vcenter();
    sim.ceso()
        .run(&["vm", "create", "ml-1", "--gpu", "a100", "--memory", "4096"])
        .fails_with(exit::REFUSED)
        .stderr_has("no free passthrough device matches 'a100'");
    sim.ceso()
        .run(&["vm", "info", "ml-1"])
        .fails_with(exit::NOT_FOUND);
    sim.ceso()
        .run(&["vm", "create", "ml-1", "--gpu", "nosuchgpu"])
        .fails_with(exit::NOT_FOUND);
    sim.ceso()
        .run(&["vm", "info", "ml-1"])
        .fails_with(exit::NOT_FOUND);

    // The device chooses the host.
    sim.ceso()
        .run(&["pci", "enable", "a100", "--host", "DC0_C0_H1"])
        .ok();
    // Only that host has an assignable device, but four hosts were looked at: the
    // table still says which host it is on.
    let assignable = json(&sim, &["pci", "list", "--assignable"]);
    assert!(
        assignable
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["host"] == "DC0_C0_H1"),
        "{assignable}"
    );
    let table = sim.ceso().run(&["pci", "list", "--assignable"]).ok().stdout;
    assert!(table.trim_start().starts_with("HOST"), "{table}");
    assert!(table.contains("DC0_C0_H1"), "{table}");
    let plan = json(
        &sim,
        &[
            "vm",
            "create",
            "ml-1",
            "--gpu",
            "a100",
            "--memory",
            "4096",
            "--dry-run",
        ],
    );
    assert_eq!(plan["gpus"]["host"], "DC0_C0_H1");
    assert_eq!(plan["plan"]["memory_reservation_locked"], true);
    sim.ceso()
        .run(&["vm", "info", "ml-1"])
        .fails_with(exit::NOT_FOUND);

    let vm = json(
        &sim,
        &["vm", "create", "ml-1", "--gpu", "a100", "--memory", "4096"],
    );
    assert_eq!(vm["host"], "DC0_C0_H1");
    assert_eq!(vm["memory_reservation_locked"], true);
    assert_eq!(pci_devices(&sim, "ml-1").len(), 1);
    // vm info names the passthrough device, the firmware and the reservation; its JSON
    // carries each device's backing.
    assert_eq!(
        vm["pci_devices"][0]["backing"],
        serde_json::json!({"kind": "direct_path", "id": "0000:5e:00.0"}),
        "{vm}"
    );
    assert!(!vm["firmware"].as_str().unwrap().is_empty(), "{vm}");
    let disk = vm["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["kind"] == "VirtualDisk");
    assert!(
        disk.is_none_or(|d| d["backing"]["fileName"]
            .as_str()
            .unwrap()
            .ends_with(".vmdk")),
        "{vm}"
    );
    let nic = vm["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["kind"] == "VirtualPCIPassthrough")
        .unwrap();
    assert_eq!(nic["backing"]["id"], "0000:5e:00.0", "{nic}");
    sim.ceso()
        .run(&["vm", "info", "ml-1"])
        .ok()
        .stdout_has("PCI DEVICE")
        .stdout_has("passthrough 0000:5e:00.0")
        .stdout_has("Firmware")
        .stdout_has("all memory");
    let list = json(&sim, &["pci", "list", "--host", "DC0_C0_H1"]);
    assert_eq!(
        device(&list, "0000:5e:00.0")["assigned_to"],
        serde_json::json!(["ml-1"])
    );
    sim.ceso().run(&["vm", "start", "ml-1"]).ok();

    // The only enabled A100 is taken now.
    sim.ceso()
        .run(&["vm", "create", "ml-2", "--gpu", "a100"])
        .fails_with(exit::REFUSED)
        .stderr_has("in use by ml-1");
    sim.ceso()
        .run(&["vm", "info", "ml-2"])
        .fails_with(exit::NOT_FOUND);

    // vGPU at creation: the first host offering the profile.
    let vgpu = json(
        &sim,
        &[
            "vm",
            "create",
            "vdi-1",
            "--vgpu",
            "grid_rtxa6000-2q",
            "--memory",
            "2048",
        ],
    );
    assert_eq!(vgpu["memory_reservation_locked"], true);
    assert_eq!(pci_devices(&sim, "vdi-1").len(), 1);
    sim.ceso()
        .run(&["vm", "create", "vdi-2", "--vgpu", "grid_rtxa6000-2x"])
        .fails_with(exit::NOT_FOUND)
        .stderr_has("grid_rtxa6000-2q");
}

#[test]
fn config_can_turn_passthrough_off() {
    let sim = Sim::esx();
    let yaml = format!(
        "hosts:\n  - name: lab\n    host: {}\n    user: root\n    password_env: LAB_PW\npci_passthrough:\n  enabled: false\n  default_reset: false\n",
        sim.url
    );
    let with_config = || {
        let mut c = Ceso::new();
        c.config(&yaml);
        c.env("LAB_PW", "secret");
        c
    };
    // Listing still works; giving devices to VMs does not.
    with_config().run(&["pci", "list", "--json"]).ok();
    with_config()
        .run(&["pci", "enable", A30])
        .fails_with(exit::REFUSED)
        .stderr_has("pci_passthrough.enabled: false");
    with_config().run(&["vm", "stop", "--force", VM0]).ok();
    with_config()
        .run(&["vm", "attach-pci", VM0, A30])
        .fails_with(exit::REFUSED)
        .stderr_has("turned off");
    with_config()
        .run(&["vm", "create", "x", "--gpu", A30])
        .fails_with(exit::REFUSED);
    let info = with_config()
        .run(&["pci", "info", A30, "--json"])
        .ok()
        .json();
    assert_eq!(info["auto_reset"], false);
    untouched(&sim, VM0);
}

#[test]
fn a_failure_midway_leaves_the_vm_as_it_was_and_says_so() {
    // ReconfigVM_Task waits 3 s on the server; the VM is started meanwhile, so ESXi
    // (the simulator) refuses the PCI change of a running VM when it gets to it.
    let sim = Sim::start(&["-esx", "-method-delay", "ReconfigVM_Task:3000"]);
    enable(&sim, A30);
    stop(&sim, VM0);
    let mut attach = sim.ceso();
    let handle = std::thread::spawn(move || attach.run(&["vm", "attach-pci", VM0, A30]));
    std::thread::sleep(Duration::from_millis(1200));
    sim.ceso().run(&["vm", "start", VM0]).ok();
    let run = handle.join().expect("attach thread");
    run.fails_with(exit::SERVER_FAULT)
        .stderr_has("InvalidPowerState")
        .stderr_has("ha-host_VM0 was left as it was");
    untouched(&sim, VM0);
}

#[test]
fn script_functions_mirror_the_pci_commands() {
    let sim = Sim::esx();
    let script = r#"
        let gpus = pci_list(#{gpus: true});
        let before = pci_list(#{assignable: true}).len();
        let e = pci_enable("a30");
        let v = vm("ha-host_VM0");
        v.power_off();
        let plan = v.attach_pci("a30", #{dry_run: true});
        let r = v.attach_pci("a30");
        let w = vm("ha-host_VM1");
        w.power_off();
        let refused = "";
        try { w.attach_pci("0000:3b:00.0"); } catch (err) { refused = err.fault; }
        let profiles = gpu_profiles();
        let d = v.detach_pci("0000:3b:00.0");
        let g = w.attach_pci(#{vgpu: "grid_a30-4c"});
        let created = vm::create("ml-script", #{memory: 4096, gpu: "a30"});
        let off = pci_disable("0000:86:00.0", #{dry_run: true});
        #{
            gpus: gpus.len(), assignable_before: before, enabled: e.changed, dry: plan.dry_run,
            attached: r.devices[0].address, refused: refused, profiles: profiles.len(),
            removed: d.removed.len(), vgpu: g.devices[0].profile,
            info: pci_info("0000:3b:00.0").assigned_to, created_host: created.host,
            disable_changed: off.changed, model: gpus[2].gpu_model
        }
    "#;
    let run = sim.ceso().run(&["-c", script, "--json"]).ok();
    // Under --json stdout holds only the script's value; dry-run lines go to stderr.
    run.stderr_has("would attach NVIDIA A30");
    let out = run.json();
    assert!(out["gpus"].as_i64().unwrap() >= 6, "{out}");
    assert_eq!(out["assignable_before"], 0);
    assert_eq!(out["enabled"], true);
    assert_eq!(out["dry"], true);
    assert_eq!(out["attached"], A30);
    assert_eq!(out["refused"], "Refused");
    assert!(out["profiles"].as_i64().unwrap() > 10, "{out}");
    assert_eq!(out["removed"], 1);
    assert_eq!(out["vgpu"], "grid_a30-4c");
    assert_eq!(out["info"], serde_json::json!(["ml-script"]));
    assert_eq!(out["created_host"], HOST);
    assert_eq!(out["disable_changed"], false);
    assert_eq!(out["model"], "A30");
    assert_eq!(pci_devices(&sim, "ml-script").len(), 1);
    assert_eq!(pci_devices(&sim, VM1).len(), 1);
    assert!(pci_devices(&sim, VM0).is_empty());
}

#[test]
fn gpu_check_answers_for_a_vm_a_device_and_a_vgpu() {
    let sim = Sim::esx();
    enable(&sim, A30);
    stop(&sim, VM0);
    sim.ceso().run(&["vm", "attach-pci", VM0, A30]).ok();

    // A30 is compute capability 8.0; CUDA 12.4 supports 5.0–9.0 and needs driver ≥ 550.54.14.
    let ok = json(
        &sim,
        &[
            "gpu",
            "check",
            VM0,
            "--cuda",
            "12.4",
            "--driver",
            "550.90.07",
        ],
    );
    assert_eq!(ok["compatible"], true, "{ok}");
    assert_eq!(ok["table"]["path"], "data/gpus.yaml");
    assert!(
        ok["table"]["version"]
            .as_str()
            .is_some_and(|v| !v.is_empty())
    );
    assert!(
        ok["checks"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("compute capability 8.0")
    );
    let text = sim
        .ceso()
        .run(&["gpu", "check", VM0, "--cuda", "12.4"])
        .ok();
    text.stdout_has("ok   NVIDIA A30")
        .stdout_has("warn driver: the guest's NVIDIA driver must be ≥ 550.54.14")
        .stdout_has("table: data/gpus.yaml (version ");

    // An old driver: refused, with the reason, and the JSON still says why.
    let old = sim
        .ceso()
        .run(&[
            "gpu",
            "check",
            VM0,
            "--cuda",
            "12.4",
            "--driver",
            "470.82.01",
            "--json",
        ])
        .fails_with(exit::REFUSED);
    let v = old.json();
    assert_eq!(v["compatible"], false);
    assert!(
        v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["status"] == "fail" && c["subject"] == "driver")
    );
    sim.ceso()
        .run(&[
            "gpu",
            "check",
            VM0,
            "--cuda",
            "12.4",
            "--driver",
            "470.82.01",
        ])
        .fails_with(exit::REFUSED)
        .stdout_has("FAIL driver: 470.82.01 is older than 550.54.14");

    // A device selector: "a VM given this device". The MI210 is AMD: no CUDA.
    sim.ceso()
        .run(&["gpu", "check", "0000:18:00.0", "--cuda", "12.4"])
        .fails_with(exit::REFUSED)
        .stdout_has("ROCm");
    // A MIG-backed vGPU profile: compatible, with the MIG limits as warnings.
    let mig = json(
        &sim,
        &["gpu", "check", "grid_a100d-3-40c", "--cuda", "12.4"],
    );
    assert_eq!(mig["compatible"], true, "{mig}");
    assert!(mig["checks"].as_array().unwrap().iter().any(
        |c| c["status"] == "warn" && c["reason"].as_str().unwrap().contains("no peer-to-peer")
    ));

    // A VM without a GPU, an unknown name, an unknown CUDA release.
    sim.ceso()
        .run(&["gpu", "check", VM1, "--cuda", "12.4"])
        .fails_with(exit::REFUSED)
        .stdout_has("FAIL gpu: no GPU");
    sim.ceso()
        .run(&["gpu", "check", "no-such-vm"])
        .fails_with(exit::NOT_FOUND);
    sim.ceso()
        .run(&["gpu", "check", VM0, "--cuda", "12.1"])
        .fails_with(exit::USAGE)
        .stderr_has("12.4");

    // `vm create --gpu … --cuda`: an incompatible device is refused before anything exists.
    enable(&sim, "0000:18:00.0");
    sim.ceso()
        .run(&[
            "vm",
            "create",
            "ml-amd",
            "--memory",
            "4096",
            "--gpu",
            "0000:18:00.0",
            "--cuda",
            "12.4",
        ])
        .fails_with(exit::REFUSED)
        .stderr_has("ROCm");
    sim.ceso()
        .run(&["vm", "info", "ml-amd"])
        .fails_with(exit::NOT_FOUND);
    enable(&sim, A30_2);
    let plan = json(
        &sim,
        &[
            "vm",
            "create",
            "ml-cuda",
            "--memory",
            "4096",
            "--gpu",
            A30_2,
            "--cuda",
            "12.4",
            "--driver",
            "550.90.07",
            "--dry-run",
        ],
    );
    assert_eq!(plan["dry_run"], true, "{plan}");
    sim.ceso()
        .run(&[
            "vm",
            "create",
            "ml-cuda",
            "--memory",
            "4096",
            "--gpu",
            A30_2,
            "--cuda",
            "12.4",
            "--driver",
            "470.82.01",
        ])
        .fails_with(exit::REFUSED)
        .stderr_has("older than 550.54.14");
    sim.ceso()
        .run(&["vm", "info", "ml-cuda"])
        .fails_with(exit::NOT_FOUND);
    sim.ceso()
        .run(&["vm", "create", "ml-cuda", "--cuda", "12.4"])
        .fails_with(exit::USAGE);

    let script = r#"
        let yes = gpu_check("ha-host_VM0", #{cuda: "12.4", driver: "550.90.07"});
        let no = gpu_check(vm("ha-host_VM0"), #{cuda: "12.4", driver: "470.82.01"});
        #{ yes: yes.compatible, no: no.compatible, table: yes.table.path }
    "#;
    let out = sim.ceso().run(&["-c", script, "--json"]).ok().json();
    assert_eq!(out["yes"], true, "{out}");
    assert_eq!(out["no"], false);
    assert_eq!(out["table"], "data/gpus.yaml");
}
