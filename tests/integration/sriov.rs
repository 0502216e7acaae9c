//! SR-IOV against the simulator (tests/vcsim/sriov.go): `pci sriov enable|disable` read
//! back from the host, the virtual functions after the host reboots, `vm attach-pci
//! --vf` (and its refusals), `vm nic add --sriov`, MxGPU partitions in `gpu profiles`,
//! the GVT-g answer, and the script functions.

use crate::sim::{Sim, Soap, exit};
use serde_json::Value;

const VM0: &str = "ha-host_VM0";
const VM1: &str = "ha-host_VM1";
const MI210: &str = "0000:18:00.0";
const MI210_VF0: &str = "0000:18:02.0";
const FLEX: &str = "0000:4d:00.0";
const X710: &str = "0000:af:00.0";

fn json(sim: &Sim, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    sim.ceso().run(&all).ok().json()
}

fn device(sim: &Sim, address: &str) -> Value {
    json(sim, &["pci", "list"])
        .as_array()
        .and_then(|a| a.iter().find(|d| d["address"] == address).cloned())
        .unwrap_or_else(|| panic!("{address} not listed"))
}

/// What the host itself reports for the device (HostSriovInfo), over raw SOAP.
fn host_info(sim: &Sim, address: &str) -> String {
    let answer = Soap::login(sim).call(
        r#"<RetrievePropertiesEx xmlns="urn:vim25"><_this type="PropertyCollector">ha-property-collector</_this><specSet><propSet><type>HostSystem</type><pathSet>config.pciPassthruInfo</pathSet></propSet><objectSet><obj type="HostSystem">ha-host</obj></objectSet></specSet><options></options></RetrievePropertiesEx>"#,
    );
    let at = answer
        .find(&format!("<id>{address}</id>"))
        .unwrap_or_else(|| panic!("{address} not in {answer}"));
    let start = answer[..at].rfind("<PciPassthruInfo").unwrap_or(at);
    let end = answer[at..]
        .find("</PciPassthruInfo>")
        .map_or(answer.len(), |e| at + e);
    answer[start..end].to_string()
}

/// The test's "reboot": RebootHost_Task, forced (the host is not in maintenance mode).
fn reboot(sim: &Sim) {
    let answer = Soap::login(sim).call(
        r#"<RebootHost_Task xmlns="urn:vim25"><_this type="HostSystem">ha-host</_this><force>true</force></RebootHost_Task>"#,
    );
    assert!(answer.contains("RebootHost_TaskResponse"), "{answer}");
}

fn update_sriov(sim: &Sim, address: &str, enabled: bool, vfs: u32) -> String {
    Soap::login(sim).call(&format!(
        r#"<UpdatePassthruConfig xmlns="urn:vim25"><_this type="HostPciPassthruSystem">ha-pcipassthrusystem</_this><config xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="HostSriovConfig"><id>{address}</id><passthruEnabled>false</passthruEnabled><sriovEnabled>{enabled}</sriovEnabled><numVirtualFunction>{vfs}</numVirtualFunction></config></UpdatePassthruConfig>"#
    ))
}

#[test]
fn sriov_gpu_enable_reboot_attach_a_vf_and_refusals() {
    let sim = Sim::esx();
    sim.ceso().run(&["vm", "stop", "--force", VM0, VM1]).ok();
    let pf = device(&sim, MI210);
    assert_eq!(pf["sriov"]["max_vfs"], 8, "{pf}");
    assert_eq!(pf["sriov"]["enabled"], false);
    assert_eq!(device(&sim, X710)["sriov"]["max_vfs"], 64);

    // Validated against the maximum before anything is sent.
    sim.ceso()
        .run(&["pci", "sriov", "enable", MI210, "--vfs", "9"])
        .fails_with(exit::REFUSED)
        .stderr_has("at most 8");
    // The simulator refuses it too, as ESXi does.
    assert!(update_sriov(&sim, MI210, true, 9).contains("HostConfigFault"));
    let dry = json(
        &sim,
        &["pci", "sriov", "enable", "mi210", "--vfs", "1", "--dry-run"],
    );
    assert_eq!(
        (dry["dry_run"].clone(), dry["changed"].clone()),
        (true.into(), true.into())
    );
    assert!(host_info(&sim, MI210).contains("<sriovEnabled>false</sriovEnabled>"));

    // Before any VF exists, --vf is refused and says why.
    sim.ceso()
        .run(&["vm", "attach-pci", VM0, "mi210", "--vf"])
        .fails_with(exit::REFUSED)
        .stderr_has("SR-IOV is not enabled");

    let done = json(&sim, &["pci", "sriov", "enable", "mi210", "--vfs", "1"]);
    assert_eq!(done["reboot_required"], true, "{done}");
    assert_eq!(done["vfs_requested"], 1);
    assert_eq!(done["vfs"], 0);
    let info = host_info(&sim, MI210);
    assert!(info.contains(r#"type="HostSriovInfo""#), "{info}");
    assert!(info.contains("<sriovEnabled>true</sriovEnabled>"), "{info}");
    assert!(info.contains("<numVirtualFunctionRequested>1</numVirtualFunctionRequested>"));
    assert!(info.contains("<sriovActive>false</sriovActive>"));
    sim.ceso()
        .run(&["vm", "attach-pci", VM0, "mi210", "--vf"])
        .fails_with(exit::REFUSED)
        .stderr_has("has not rebooted");
    // Whole-device passthrough and SR-IOV exclude each other on ESXi.
    sim.ceso()
        .run(&["pci", "enable", MI210, "--yes"])
        .fails_with(exit::SERVER_FAULT)
        .stderr_has("SR-IOV");

    reboot(&sim);
    let info = host_info(&sim, MI210);
    assert!(
        info.contains("<numVirtualFunction>1</numVirtualFunction>"),
        "{info}"
    );
    assert!(info.contains("<sriovActive>true</sriovActive>"), "{info}");
    let pf = device(&sim, MI210);
    assert_eq!(
        pf["sriov"]["virtual_functions"],
        serde_json::json!([MI210_VF0])
    );
    let vf = device(&sim, MI210_VF0);
    assert_eq!(vf["physical_function"], MI210);
    assert_eq!(vf["id"], "1002:7410");
    // The table lists each VF under its physical function.
    let table = sim.ceso().run(&["pci", "list", "--gpus"]).ok().stdout;
    let lines: Vec<&str> = table.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.trim_start().starts_with(MI210))
        .expect("PF row");
    assert!(lines[at].contains("1/8 VFs"), "{table}");
    assert!(lines[at + 1].contains(&format!("└ {MI210_VF0}")), "{table}");

    sim.ceso()
        .run(&["pci", "info", MI210])
        .ok()
        .stdout_has(&format!("1/8 VFs: {MI210_VF0}"));
    // A VF attached by its physical function, with the memory reservation locked.
    let attached = json(&sim, &["vm", "attach-pci", VM0, "mi210", "--vf"]);
    assert_eq!(attached["devices"][0]["address"], MI210_VF0, "{attached}");
    let vm = json(&sim, &["vm", "info", VM0]);
    assert_eq!(vm["memory_reservation_locked"], true);
    assert!(vm["devices"].to_string().contains(MI210_VF0), "{vm}");
    // The only VF is taken: the next VM is refused and left as it was.
    sim.ceso()
        .run(&["vm", "attach-pci", VM1, "mi210", "--vf"])
        .fails_with(exit::REFUSED)
        .stderr_has("no free virtual function");
    assert!(
        !json(&sim, &["vm", "info", VM1])["devices"]
            .to_string()
            .contains(MI210_VF0)
    );
    // Nor can SR-IOV be turned off under it.
    sim.ceso()
        .run(&["pci", "sriov", "disable", MI210, "--yes"])
        .fails_with(exit::REFUSED)
        .stderr_has("in use");
    // ESXi's own check, for a VF a running VM holds: ResourceInUse.
    sim.ceso().run(&["vm", "start", VM0]).ok();
    let fault = update_sriov(&sim, MI210, false, 0);
    assert!(fault.contains("ResourceInUse"), "{fault}");

    // MxGPU partitions next to NVIDIA's profiles, the VM on the row of 1 VF.
    let profiles = json(&sim, &["gpu", "profiles"]);
    let one = profiles
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "mi210/1vf")
        .unwrap_or_else(|| panic!("{profiles}"));
    assert_eq!(one["series"], "MxGPU (SR-IOV)");
    assert_eq!(one["framebuffer_mb"], 64 * 1024);
    assert_eq!(one["used_by"], serde_json::json!([VM0]));
    assert!(profiles.to_string().contains("flex170/31vf"), "{profiles}");

    // GVT-g: said plainly, with the nearest alternative.
    sim.ceso()
        .run(&["vm", "attach-pci", VM1, "--vgpu", "i915-GVTg_V5_4"])
        .fails_with(exit::REFUSED)
        .stderr_has("GVT-g does not exist on ESXi")
        .stderr_has("Flex");
}

#[test]
fn sriov_nic_added_to_a_vm_and_listed_and_script_functions() {
    let sim = Sim::esx();
    sim.ceso()
        .run(&[
            "vm",
            "nic",
            "add",
            VM1,
            "--sriov",
            X710,
            "--network",
            "VM Network",
        ])
        .fails_with(exit::REFUSED)
        .stderr_has("SR-IOV is not enabled");

    // The script functions, named like the commands.
    let script = format!(
        r#"
        let dry = pci_sriov_enable("{X710}", #{{vfs: 4, dry_run: true}});
        let nic = pci_sriov_enable("{X710}", #{{vfs: 4}});
        let flex = pci_sriov_enable("{FLEX}", #{{vfs: 2}});
        let off = pci_sriov_disable("{FLEX}");
        #{{ dry: dry.dry_run, requested: nic.vfs_requested, reboot: nic.reboot_required,
           flex: flex.changed, off: off.enable }}
    "#
    );
    let out = sim.ceso().run(&["-c", &script, "--json"]).ok().json();
    assert_eq!(out["dry"], true, "{out}");
    assert_eq!(out["requested"], 4);
    assert_eq!(out["reboot"], true);
    assert_eq!(out["flex"], true);
    assert_eq!(out["off"], false);
    assert!(host_info(&sim, FLEX).contains("<sriovEnabled>false</sriovEnabled>"));
    reboot(&sim);
    assert_eq!(device(&sim, X710)["sriov"]["vfs"], 4);
    assert_eq!(device(&sim, FLEX)["sriov"]["vfs"], 0);

    let added = json(
        &sim,
        &[
            "vm",
            "nic",
            "add",
            VM1,
            "--sriov",
            X710,
            "--network",
            "VM Network",
        ],
    );
    assert!(added["after"].as_str().unwrap().contains(X710), "{added}");
    let nics = json(&sim, &["vm", "nic", "list", VM1]);
    let sriov = nics
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["kind"] == "VirtualSriovEthernetCard")
        .unwrap_or_else(|| panic!("{nics}"));
    assert_eq!(sriov["sriov_physical_function"], X710);
    assert_eq!(sriov["network"], "VM Network");
    assert!(!sriov["mac"].as_str().unwrap_or_default().is_empty());
    let table = sim.ceso().run(&["vm", "nic", "list", VM1]).ok().stdout;
    assert!(table.contains(&format!("(PF {X710})")), "{table}");
    // All memory reserved with it, so ESXi powers the VM on with a VF of the port.
    assert_eq!(
        json(&sim, &["vm", "info", VM1])["memory_reservation_locked"],
        true
    );
    sim.ceso().run(&["vm", "start", VM1]).ok();
    // The script option too.
    let out = sim
        .ceso()
        .run(&[
            "-c",
            &format!(r#"vm::nic_add("{VM0}", #{{network: "VM Network", sriov: "{X710}", dry_run: true}}).after"#),
            "--json",
        ])
        .ok()
        .json();
    assert!(out.as_str().unwrap_or_default().contains("SR-IOV"), "{out}");
}
