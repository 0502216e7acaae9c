//! `ceso vm …` against the simulator: the whole lifecycle and its refusals.

use crate::sim::{Sim, exit};
use serde_json::Value;

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .expect("a JSON array")
        .iter()
        .map(|v| v["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn find<'a>(list: &'a Value, name: &str) -> &'a Value {
    list.as_array()
        .and_then(|a| a.iter().find(|v| v["name"] == name))
        .unwrap_or_else(|| panic!("{name} not in {list}"))
}

#[test]
fn list_shows_every_vm_with_its_host_and_sizes() {
    let sim = Sim::vcenter();
    let list = sim.ceso().run(&["vm", "list", "--json"]).ok().json();
    let mut got = names(&list);
    got.sort();
    assert_eq!(
        got,
        [
            "DC0_C0_RP0_VM0",
            "DC0_C0_RP0_VM1",
            "DC0_H0_VM0",
            "DC0_H0_VM1"
        ]
    );
    let vm = find(&list, "DC0_H0_VM0");
    assert_eq!(vm["host"], "DC0_H0");
    assert_eq!(vm["power_state"], "poweredOn");
    assert_eq!(vm["cpus"], 1);
    assert_eq!(vm["memory_mb"], 32);
    assert!(vm["id"].as_str().unwrap().starts_with("vm-"));
    // The table on a pipe has the same rows.
    let table = sim.ceso().run(&["vm", "list"]).ok().stdout;
    assert!(table.lines().next().unwrap().contains("NAME"));
    assert_eq!(table.lines().count(), 5);
}

#[test]
fn list_filters_by_glob_and_rejects_a_bad_pattern() {
    let sim = Sim::vcenter();
    let list = sim
        .ceso()
        .run(&["vm", "list", "DC0_H0_*", "--json"])
        .ok()
        .json();
    assert_eq!(names(&list), ["DC0_H0_VM0", "DC0_H0_VM1"]);
    let none = sim.ceso().run(&["vm", "list", "nothing-*", "--json"]).ok();
    assert_eq!(none.json(), Value::Array(vec![]));
    // Nothing matched: exit 0, and a note on stderr (the table alone is empty).
    none.stderr_has("no VM matches 'nothing-*'");
    sim.ceso()
        .run(&["vm", "list", "nothing-*"])
        .ok()
        .stderr_has("no VM matches 'nothing-*'");
    assert!(
        !sim.ceso()
            .run(&["vm", "list", "DC0_*"])
            .ok()
            .stderr
            .contains("no VM matches")
    );
    sim.ceso()
        .run(&["vm", "list", "[oops"])
        .fails_with(exit::USAGE)
        .stderr_has("invalid pattern");
}

#[test]
fn list_and_info_on_a_standalone_esxi_host() {
    let sim = Sim::esx();
    let list = sim.ceso().run(&["vm", "list", "--json"]).ok().json();
    assert_eq!(list.as_array().unwrap().len(), 2);
    let first = names(&list)[0].clone();
    let info = sim
        .ceso()
        .run(&["vm", "info", &first, "--json"])
        .ok()
        .json();
    assert_eq!(info["name"], first.as_str());
    assert!(!info["host"].as_str().unwrap().is_empty());
    assert!(info["vmx_path"].as_str().unwrap().ends_with(".vmx"));
    assert!(!info["disks"].as_array().unwrap().is_empty());
}

#[test]
fn create_start_stop_suspend_restart_delete() {
    let sim = Sim::vcenter();
    let created = sim
        .ceso()
        .run(&[
            "vm",
            "create",
            "web-01",
            "--cpu",
            "2",
            "--memory",
            "2048",
            "--disk",
            "10",
            "--network",
            "VM Network",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(created["name"], "web-01");
    assert_eq!(created["cpus"], 2);
    assert_eq!(created["memory_mb"], 2048);
    assert_eq!(created["power_state"], "poweredOff");
    assert_eq!(created["disks"][0]["capacity_bytes"], 10_i64 << 30);
    assert_eq!(created["nics"][0]["network"], "VM Network");
    // Device backings are in the JSON (the disk's file, the NIC's network).
    let disk = created["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["kind"] == "VirtualDisk")
        .unwrap();
    assert!(
        disk["backing"]["fileName"]
            .as_str()
            .unwrap()
            .ends_with("web-01.vmdk"),
        "{disk}"
    );
    assert_eq!(created["memory_reservation_mb"], 0);
    assert!(created["firmware"].is_string());

    let state = |sim: &Sim| {
        let info = sim
            .ceso()
            .run(&["vm", "info", "web-01", "--json"])
            .ok()
            .json();
        info["power_state"].as_str().unwrap().to_string()
    };
    let start = sim
        .ceso()
        .run(&["vm", "start", "web-01", "--json"])
        .ok()
        .json();
    assert_eq!(start[0]["changed"], true);
    assert_eq!(state(&sim), "poweredOn");
    // Starting a running VM is not an error: nothing changes.
    let again = sim
        .ceso()
        .run(&["vm", "start", "web-01", "--json"])
        .ok()
        .json();
    assert_eq!(again[0]["changed"], false);

    sim.ceso().run(&["vm", "suspend", "web-01"]).ok();
    assert_eq!(state(&sim), "suspended");
    sim.ceso().run(&["vm", "start", "web-01"]).ok();
    // Without guest tools a clean restart is the server's fault (MethodNotFound, exit 5),
    // said once (with the hint).
    let refused = sim
        .ceso()
        .run(&["vm", "restart", "web-01"])
        .fails_with(exit::SERVER_FAULT);
    assert_eq!(
        refused.stderr.matches("cannot restart web-01").count(),
        1,
        "{}",
        refused.stderr
    );
    refused.stderr_has("--force");
    sim.ceso().run(&["vm", "restart", "--force", "web-01"]).ok();
    assert_eq!(state(&sim), "poweredOn");
    sim.ceso().run(&["vm", "stop", "web-01"]).ok();
    assert_eq!(state(&sim), "poweredOff");

    sim.ceso().run(&["vm", "delete", "web-01", "--yes"]).ok();
    sim.ceso()
        .run(&["vm", "info", "web-01"])
        .fails_with(exit::NOT_FOUND);
}

#[test]
fn dry_runs_change_nothing() {
    let sim = Sim::vcenter();
    let plan = sim
        .ceso()
        .run(&[
            "vm",
            "create",
            "db-01",
            "--cpu",
            "4",
            "--memory",
            "4096",
            "--disk",
            "20",
            "--dry-run",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(plan["dry_run"], true);
    assert_eq!(plan["plan"]["datastore"], "LocalDS_0");
    assert_eq!(plan["plan"]["cpus"], 4);
    sim.ceso()
        .run(&["vm", "info", "db-01"])
        .fails_with(exit::NOT_FOUND);

    let stop = sim
        .ceso()
        .run(&["vm", "stop", "--force", "DC0_H0_*", "--dry-run", "--json"])
        .ok()
        .json();
    assert_eq!(stop["vms"].as_array().unwrap().len(), 2);
    // A dry run of deleting a running VM says it would be refused (as the real run).
    sim.ceso()
        .run(&["vm", "delete", "DC0_H0_VM0", "--dry-run"])
        .fails_with(exit::REFUSED)
        .stderr_has("poweredOn");
    sim.ceso()
        .run(&["vm", "delete", "DC0_H0_VM0", "--force", "--dry-run"])
        .ok()
        .stdout_has("would delete VM DC0_H0_VM0");
    // No disk asked for: the plan says so rather than "0 GB".
    sim.ceso()
        .run(&["vm", "create", "nodisk", "--dry-run"])
        .ok()
        .stdout_has("no disk");
    let plan = sim
        .ceso()
        .run(&["vm", "create", "nodisk", "--dry-run", "--json"])
        .ok()
        .json();
    assert_eq!(plan["plan"]["disk_gb"], 0);
    assert!(
        !plan["plan"]["devices"].to_string().contains("AddDisk")
            && !plan["plan"]["devices"].to_string().contains("vmdk"),
        "{}",
        plan["plan"]["devices"]
    );
    let list = sim
        .ceso()
        .run(&["vm", "list", "DC0_H0_*", "--json"])
        .ok()
        .json();
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|v| v["power_state"] == "poweredOn")
    );
}

#[test]
fn power_over_a_glob_acts_on_every_match() {
    let sim = Sim::vcenter();
    let done = sim
        .ceso()
        .run(&["vm", "stop", "--force", "DC0_*", "--json"])
        .ok()
        .json();
    assert_eq!(done.as_array().unwrap().len(), 4);
    let list = sim.ceso().run(&["vm", "list", "--json"]).ok().json();
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|v| v["power_state"] == "poweredOff")
    );
}

/// Stock vcsim finishes PowerOnMultiVM_Task without a result although it started the
/// VMs: ceso reads their power state and reports what is true (exit 0), not a failure.
#[test]
fn a_batch_start_without_a_result_reports_what_is_true() {
    let sim = Sim::start(&["-stock-method", "PowerOnMultiVM_Task"]);
    sim.ceso()
        .run(&["vm", "stop", "--force", "DC0_C0_*", "--json"])
        .ok();
    let started = sim
        .ceso()
        .run(&["vm", "start", "DC0_C0_*", "--json"])
        .ok()
        .json();
    let started = started.as_array().expect("a JSON array");
    assert_eq!(started.len(), 2, "{started:?}");
    assert!(started.iter().all(|v| v["changed"] == true), "{started:?}");
    let list = sim
        .ceso()
        .run(&["vm", "list", "DC0_C0_*", "--json"])
        .ok()
        .json();
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|v| v["power_state"] == "poweredOn")
    );
}

#[test]
fn destructive_commands_refuse_without_confirmation_or_when_running() {
    let sim = Sim::vcenter();
    // A running VM is refused before any question (not "not confirmed" first).
    sim.ceso()
        .run(&["vm", "delete", "DC0_H0_VM1"])
        .fails_with(exit::REFUSED)
        .stderr_has("DC0_H0_VM1 is poweredOn; it was not deleted");
    // No terminal to ask on and no --yes: refused, the VM stays.
    sim.ceso()
        .run(&["vm", "delete", "DC0_H0_VM1", "--force"])
        .fails_with(exit::REFUSED)
        .stderr_has("--yes");
    // A running VM is not deleted without --force.
    sim.ceso()
        .run(&["vm", "delete", "DC0_H0_VM1", "--yes"])
        .fails_with(exit::REFUSED)
        .stderr_has("poweredOn");
    sim.ceso().run(&["vm", "info", "DC0_H0_VM1"]).ok();
    sim.ceso()
        .run(&["vm", "delete", "DC0_H0_VM1", "--yes", "--force"])
        .ok();
    sim.ceso()
        .run(&["vm", "info", "DC0_H0_VM1"])
        .fails_with(exit::NOT_FOUND);
}

#[test]
fn unknown_names_list_close_matches() {
    let sim = Sim::vcenter();
    sim.ceso()
        .run(&["vm", "info", "DC0_H0_VM"])
        .fails_with(exit::NOT_FOUND)
        .stderr_has("did you mean")
        .stderr_has("DC0_H0_VM0");
    sim.ceso()
        .run(&["vm", "create", "x", "--datastore", "LocalDS_9"])
        .fails_with(exit::NOT_FOUND)
        .stderr_has("LocalDS_0");
    sim.ceso()
        .run(&["vm", "create", "x", "--network", "VM Netwrk"])
        .fails_with(exit::NOT_FOUND)
        .stderr_has("VM Network");
    sim.ceso()
        .run(&["vm", "info", "x"])
        .fails_with(exit::NOT_FOUND);
}

#[test]
fn create_refuses_bad_input_before_creating_anything() {
    let sim = Sim::vcenter();
    sim.ceso()
        .run(&["vm", "create", "DC0_H0_VM0"])
        .fails_with(exit::REFUSED)
        .stderr_has("already exists");
    sim.ceso()
        .run(&["vm", "create", "m", "--memory", "5"])
        .fails_with(exit::USAGE)
        .stderr_has("multiple of 4");
    sim.ceso()
        .run(&["vm", "create", "c", "--cpu", "0"])
        .fails_with(exit::USAGE);
    sim.ceso()
        .run(&["vm", "create", "a/b"])
        .fails_with(exit::USAGE);
    // Sizes past vSphere's limits are refused before sending, naming the limit (a
    // simulator would store memoryMB wrapped to 32 bits).
    sim.ceso()
        .run(&["vm", "create", "big", "--memory", "99999999996"])
        .fails_with(exit::USAGE)
        .stderr_has("--memory 99999999996 MB is not valid")
        .stderr_has("25165824");
    sim.ceso()
        .run(&["vm", "create", "big", "--cpu", "769"])
        .fails_with(exit::USAGE)
        .stderr_has("1 to 768");
    sim.ceso()
        .run(&["vm", "create", "big", "--disk", "63489"])
        .fails_with(exit::USAGE)
        .stderr_has("63488");
    // Negative numbers get the same plain error, not clap's `-- -1` tip.
    for (flag, said) in [
        ("--cpu", "--cpu -1 is out of range"),
        ("--memory", "--memory -1 MB is not valid"),
        ("--disk", "--disk -1 GB is not valid"),
    ] {
        let run = sim.ceso().run(&["vm", "create", "neg", flag, "-1"]);
        let run = run.fails_with(exit::USAGE);
        run.stderr_has(said);
        assert!(!run.stderr.contains("-- -1"), "{}", run.stderr);
    }
    let list = sim.ceso().run(&["vm", "list", "--json"]).ok().json();
    assert_eq!(list.as_array().unwrap().len(), 4);
}

#[test]
fn list_follows_continuation_tokens_like_on_a_real_vcenter() {
    // Two objects per answer: VMs and their hosts arrive over several pages.
    let sim = Sim::start(&["-page-size", "2"]);
    let list = sim.ceso().run(&["vm", "list", "--json"]).ok().json();
    let mut got = names(&list);
    got.sort();
    assert_eq!(
        got,
        [
            "DC0_C0_RP0_VM0",
            "DC0_C0_RP0_VM1",
            "DC0_H0_VM0",
            "DC0_H0_VM1"
        ]
    );
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|v| !v["host"].as_str().unwrap().is_empty())
    );
}

#[test]
fn list_asks_for_bounded_pages() {
    // 1,200 VMs: more than the 1,000 objects per page ceso asks for (maxObjects), which
    // the test bed honours as vCenter does, so the listing takes a second page.
    let sim = Sim::start(&["-vm", "600"]);
    let mut ceso = sim.ceso();
    ceso.env("CESO_TRACE", "1");
    let run = ceso.run(&["vm", "list", "--json"]).ok();
    assert_eq!(run.json().as_array().unwrap().len(), 1200);
    let calls = |method: &str| {
        run.stderr
            .lines()
            .filter(|l| l.split_whitespace().nth(2) == Some(method))
            .count()
    };
    assert_eq!(calls("RetrievePropertiesEx"), 1, "{}", run.stderr);
    assert_eq!(calls("ContinueRetrievePropertiesEx"), 1, "{}", run.stderr);
}

#[test]
fn a_closed_pipe_ends_quietly() {
    use std::process::{Command, Stdio};
    let sim = Sim::vcenter();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ceso"))
        .args(["vm", "list"])
        .env("CESO_URL", &sim.url)
        .env("CESO_USERNAME", "u")
        .env("CESO_PASSWORD", "p")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The reader goes away before ceso writes (like `ceso vm list | head -0`).
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
}
