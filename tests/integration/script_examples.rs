//! Every runbook in examples/ and every stdlib module, run against the simulator with
//! their output asserted.

use crate::sim::{Sim, lines, repo};

fn example(name: &str) -> String {
    repo().join("examples").join(name).display().to_string()
}

/// The examples this file tests: a new example without a test fails here.
const TESTED: &[&str] = &[
    "capacity-check.rhai",
    "inventory-report.rhai",
    "lab-vms.rhai",
    "power-off-by-glob.rhai",
    "raw-properties.rhai",
    "rolling-restart.rhai",
];

#[test]
fn every_example_has_a_test() {
    let mut found: Vec<String> = std::fs::read_dir(repo().join("examples"))
        .expect("examples/")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".rhai"))
        .collect();
    found.sort();
    assert_eq!(found, TESTED);
}

#[test]
fn inventory_report() {
    let sim = Sim::vcenter();
    let run = sim
        .ceso()
        .run(&["run", &example("inventory-report.rhai")])
        .ok();
    let out = lines(&run.stdout);
    assert_eq!(out[0], "== Hosts (4)");
    assert_eq!(
        out[1].split_whitespace().collect::<Vec<_>>(),
        [
            "HOST",
            "VMS",
            "ON",
            "VCPUS",
            "VM_MEMORY_MB",
            "HOST_MEMORY_MB"
        ]
    );
    let host = |name: &str| -> Vec<&str> {
        out.iter()
            .find(|l| l.split_whitespace().next() == Some(name))
            .map(|l| l.split_whitespace().collect())
            .unwrap_or_default()
    };
    assert_eq!(host("DC0_H0"), ["DC0_H0", "2", "2", "2", "64", "4095"]);
    let cluster_vms: i64 = ["DC0_C0_H0", "DC0_C0_H1", "DC0_C0_H2"]
        .iter()
        .map(|h| host(h)[1].parse::<i64>().unwrap())
        .sum();
    assert_eq!(cluster_vms, 2);
    assert!(out.contains(&"== VMs (4)"), "{out:?}");
    assert!(out.contains(&"poweredOn       4"), "{out:?}");
    assert!(
        out.contains(&"vCPUs allocated: 4, memory allocated: 128 MB"),
        "{out:?}"
    );
    let ds = out
        .iter()
        .find(|l| l.starts_with("LocalDS_0"))
        .expect("a datastore line");
    assert!(
        ds.contains("% used") && ds.contains(" free") && ds.contains('['),
        "{ds}"
    );
}

#[test]
fn power_off_by_glob_is_a_dry_run_unless_applied() {
    let sim = Sim::vcenter();
    let dry = sim
        .ceso()
        .run(&["run", &example("power-off-by-glob.rhai"), "DC0_C0_*"])
        .ok();
    assert_eq!(
        lines(&dry.stdout),
        [
            "==> Would power off 2 VM(s) matching 'DC0_C0_*'",
            dry.stdout.lines().nth(1).unwrap_or_default().trim_end(),
            dry.stdout.lines().nth(2).unwrap_or_default().trim_end(),
            "(dry run: add --apply to power them off)",
        ]
    );
    dry.stdout_has("would power off DC0_C0_RP0_VM0 (");
    dry.stdout_has("would power off DC0_C0_RP0_VM1 (");

    let applied = sim
        .ceso()
        .run(&[
            "run",
            &example("power-off-by-glob.rhai"),
            "DC0_C0_*",
            "--apply",
        ])
        .ok();
    assert_eq!(
        lines(&applied.stdout),
        [
            "==> Powering off 2 VM(s) matching 'DC0_C0_*'",
            "DC0_C0_RP0_VM0: poweredOn -> poweredOff",
            "DC0_C0_RP0_VM1: poweredOn -> poweredOff",
        ]
    );
    let again = sim
        .ceso()
        .run(&[
            "run",
            &example("power-off-by-glob.rhai"),
            "DC0_C0_*",
            "--apply",
        ])
        .ok();
    assert_eq!(again.stdout.trim(), "no powered-on VM matches 'DC0_C0_*'");

    // `ceso run --dry-run` wins over --apply.
    let forced = sim
        .ceso()
        .run(&[
            "run",
            "--dry-run",
            &example("power-off-by-glob.rhai"),
            "DC0_H0_*",
            "--apply",
        ])
        .ok();
    forced.stdout_has("would power off DC0_H0_VM0");

    sim.ceso()
        .run(&["run", &example("power-off-by-glob.rhai")])
        .fails_with(2)
        .stderr_has("usage:");
}

#[test]
fn lab_vms_and_rolling_restart() {
    let sim = Sim::vcenter();
    let dry = sim
        .ceso()
        .run(&[
            "run",
            &example("lab-vms.rhai"),
            "create",
            "lab",
            "2",
            "--dry-run",
        ])
        .ok();
    assert_eq!(
        dry.stdout
            .lines()
            .filter(|l| l.starts_with("would create VM lab-0"))
            .count(),
        2,
        "{}",
        dry.stdout
    );
    assert_eq!(
        sim.ceso()
            .run(&["vm", "list", "lab-*", "--json"])
            .ok()
            .json()
            .as_array()
            .unwrap()
            .len(),
        0
    );

    let created = sim
        .ceso()
        .run(&["run", &example("lab-vms.rhai"), "create", "lab", "3"])
        .ok();
    let out = lines(&created.stdout);
    assert_eq!(out.len(), 3);
    for (i, line) in out.iter().enumerate() {
        assert!(
            line.starts_with(&format!("created lab-0{} on ", i + 1))
                && line.ends_with("(poweredOn)"),
            "{line}"
        );
    }
    // Creating again: each VM fails with a caught fault; the script goes on and exits 1.
    let again = sim
        .ceso()
        .run(&["run", &example("lab-vms.rhai"), "create", "lab", "2"])
        .fails_with(1);
    assert_eq!(
        again.stderr.matches("Refused: a VM named 'lab-0").count(),
        2,
        "{}",
        again.stderr
    );

    let restarted = sim
        .ceso()
        .run(&[
            "run",
            &example("rolling-restart.rhai"),
            "lab-*",
            "--batch",
            "2",
            "--hard",
        ])
        .ok();
    // A reset boots the VM again: each line names its new boot time.
    let shown: Vec<String> = lines(&restarted.stdout)
        .iter()
        .map(|l| l.split(" (booted ").next().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        shown,
        [
            "3 running VM(s) in 2 batch(es) of up to 2",
            r#"==> batch 1: ["lab-01", "lab-02"]"#,
            "lab-01 is running again",
            "lab-02 is running again",
            r#"==> batch 2: ["lab-03"]"#,
            "lab-03 is running again",
            "done",
        ]
    );
    // Without --hard the guest must reboot itself: the simulated VMs have no Tools.
    sim.ceso()
        .run(&["run", &example("rolling-restart.rhai"), "lab-*"])
        .fails_with(1)
        .stderr_has("ceso::PartialFailure")
        .stderr_has("VMware Tools must be running");

    let removed = sim
        .ceso()
        .run(&["run", &example("lab-vms.rhai"), "remove", "lab"])
        .ok();
    assert_eq!(
        lines(&removed.stdout),
        ["removed lab-01", "removed lab-02", "removed lab-03"]
    );
    assert_eq!(
        sim.ceso()
            .run(&["vm", "list", "lab-*", "--json"])
            .ok()
            .json()
            .as_array()
            .unwrap()
            .len(),
        0
    );
}

#[test]
fn capacity_check_exits_1_over_thresholds() {
    let sim = Sim::vcenter();
    let ok = sim
        .ceso()
        .run(&["run", &example("capacity-check.rhai")])
        .ok();
    assert_eq!(
        ok.stdout.trim(),
        "OK: every datastore has at least 20% free, every host uses at most 90% of its memory"
    );
    let over = sim
        .ceso()
        .run(&[
            "run",
            &example("capacity-check.rhai"),
            "--min-free-pct",
            "99",
            "--max-mem-pct",
            "10",
        ])
        .fails_with(1);
    let out = lines(&over.stdout);
    assert_eq!(
        out[0].split_whitespace().collect::<Vec<_>>(),
        ["KIND", "NAME", "VALUE", "LIMIT"]
    );
    assert!(
        out.iter()
            .any(|l| l.starts_with(" datastore") && l.contains("LocalDS_0") && l.contains("99%")),
        "{out:?}"
    );
    assert_eq!(
        out.iter().filter(|l| l.contains("host memory")).count(),
        4,
        "{out:?}"
    );
}

#[test]
fn raw_properties() {
    let sim = Sim::vcenter();
    let run = sim
        .ceso()
        .run(&["run", &example("raw-properties.rhai")])
        .ok();
    let out = lines(&run.stdout);
    assert_eq!(
        out[0].split_whitespace().collect::<Vec<_>>(),
        ["NAME", "CPUS", "FILES", "MEMORY_MB"]
    );
    assert_eq!(
        out[3].split_whitespace().collect::<Vec<_>>(),
        [
            "DC0_H0_VM0",
            "1",
            "[LocalDS_0]",
            "DC0_H0_VM0/DC0_H0_VM0.vmx",
            "32"
        ]
    );
    assert!(
        out[5].ends_with("cores, BIOS 6.00") && out[5].contains(": 2 cores"),
        "{out:?}"
    );
}

#[test]
fn stdlib_fmt() {
    let sim = Sim::vcenter();
    let run = sim
        .ceso()
        .run(&[
            "-c",
            r#"import "fmt" as f;
[f::mb(512), f::mb(8192), f::mb(1572864), f::pct(25, 200), f::pct(1, 0), f::pad("ab", 4) + "|",
 f::lpad(7, 3), f::duration(45), f::duration(3725), f::duration(200000), f::bar(1, 4, 8), f::round1(2.25)]"#,
        ])
        .ok();
    assert_eq!(
        run.stdout.trim(),
        r#"[512 MB, 8 GB, 1.5 TB, 12.5%, -, ab  |,   7, 45s, 1h 2m, 2d 7h, [##......], 2.3]"#
    );
}

#[test]
fn stdlib_inventory() {
    let sim = Sim::vcenter();
    let run = sim
        .ceso()
        .run(&[
            "--json",
            "-c",
            r#"import "inventory" as inv;
vm("DC0_H0_VM1").power_off();
let all = vms();
#{ by_host: inv::by_host(all)["DC0_H0"].map(|v| v.name),
   power: inv::count_by_power(all),
   totals: inv::totals(all),
   on: inv::powered_on(all).len(),
   off: inv::powered_off(all).map(|v| v.name),
   rows: inv::host_rows([host("DC0_H0")], all) }"#,
        ])
        .ok()
        .json();
    assert_eq!(
        run["by_host"],
        serde_json::json!(["DC0_H0_VM0", "DC0_H0_VM1"])
    );
    assert_eq!(
        run["power"],
        serde_json::json!({"poweredOn": 3, "poweredOff": 1})
    );
    assert_eq!(
        run["totals"],
        serde_json::json!({"vms": 4, "powered_on": 3, "cpus": 4, "memory_mb": 128})
    );
    assert_eq!(run["on"], 3);
    assert_eq!(run["off"], serde_json::json!(["DC0_H0_VM1"]));
    assert_eq!(
        run["rows"],
        serde_json::json!([{"host": "DC0_H0", "vms": 2, "on": 1, "vcpus": 2, "vm_memory_mb": 64, "host_memory_mb": 4095}])
    );
}

#[test]
fn stdlib_runbook() {
    let sim = Sim::vcenter();
    let mut ceso = sim.ceso();
    let run = ceso
        .run(&[
            "-c",
            r#"import "runbook" as rb;
rb::step("checking");
let tries = 0;
let value = rb::retry(3, 0, || { tries += 1; if tries < 3 { throw "not yet"; } "third time" });
print(`${value} after ${tries}`);
try { rb::retry(2, 0, || throw #{ fault: "Busy", message: "still busy" }); } catch (e) { print(`gave up: ${e.fault}`); }
print(rb::wait_until(|| vm("DC0_H0_VM0").power_state == "poweredOn", 5));
try { rb::wait_until(|| false, 0); } catch (e) { print(`${e.fault}: ${e.message}`); }
print(rb::batches([1, 2, 3, 4, 5], 2));
print(rb::positional(["a", "--x", "b"]));
print(rb::is_dry_run(["--dry-run"]));
rb::is_dry_run([])"#,
        ])
        .ok();
    assert_eq!(
        lines(&run.stdout),
        [
            "==> checking",
            "third time after 3",
            "gave up: Busy",
            "true",
            "Timeout: condition not met after 0s",
            "[[1, 2], [3, 4], [5]]",
            r#"["a", "b"]"#,
            "true",
            "false",
        ]
    );
    let dry = sim
        .ceso()
        .run(&[
            "--dry-run",
            "-c",
            r#"import "runbook" as rb; rb::is_dry_run([])"#,
        ])
        .ok();
    assert_eq!(dry.stdout.trim(), "true");
}

#[test]
fn definitions_for_editors() {
    let sim = Sim::vcenter();
    let mut ceso = sim.ceso();
    let dir = ceso.home.path().join("defs");
    let run = ceso.run(&["defs", dir.to_str().unwrap()]).ok();
    assert!(run.stdout.contains("vm.d.rhai"), "{}", run.stdout);
    let all = std::fs::read_to_string(dir.join("__static__.d.rhai")).unwrap();
    assert!(
        all.contains("fn vms(pattern: String) -> array;"),
        "vms missing"
    );
    assert!(all.contains("/// The one VM called `name`"), "docs missing");
    let vm = std::fs::read_to_string(dir.join("vm.d.rhai")).unwrap();
    assert!(
        vm.starts_with("module vm;") && vm.contains("fn create(name: String, options: map)"),
        "{vm}"
    );
    let fmt = std::fs::read_to_string(dir.join("fmt.d.rhai")).unwrap();
    assert!(
        fmt.starts_with("module fmt;") && fmt.contains("fn mb(value);"),
        "{fmt}"
    );
}

/// Boot time and heartbeat of the VMs matching `pattern`, by name.
fn boot_state(sim: &Sim, pattern: &str) -> Vec<(String, String, String)> {
    let list = sim
        .ceso()
        .run(&["vm", "list", pattern, "--json"])
        .ok()
        .json();
    list.as_array()
        .expect("array")
        .iter()
        .map(|v| {
            let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
            (s("name"), s("boot_time"), s("heartbeat"))
        })
        .collect()
}

#[test]
fn rolling_restart_waits_for_each_guest_to_boot_again() {
    // A guest reboot keeps the VM poweredOn; the guest is back a second later.
    let sim = Sim::start(&["-guest-reboot-time", "1s"]);
    let pattern = "DC0_C0_RP0_VM*";
    let before = boot_state(&sim, pattern);
    assert_eq!(before.len(), 2, "{before:?}");
    let tools: serde_json::Map<String, serde_json::Value> = before
        .iter()
        .map(|(name, ..)| (name.clone(), serde_json::json!({"tools": true})))
        .collect();
    sim.control("/vcsim/guest", &serde_json::json!({ "vms": tools }));
    let before = boot_state(&sim, pattern);
    assert!(
        before
            .iter()
            .all(|(_, boot, hb)| !boot.is_empty() && hb == "green"),
        "{before:?}"
    );

    // One VM a batch; `extra` arguments after.
    let restart = |extra: &[&str]| {
        let script = example("rolling-restart.rhai");
        let mut args = vec!["run", script.as_str(), pattern, "--batch", "1"];
        args.extend(extra);
        sim.ceso().run(&args)
    };
    let run = restart(&[]).ok();
    // Each batch was waited for: when the run ends every guest has booted again
    // (a new boot time, heartbeat green), and each line shows the new boot time.
    let after = boot_state(&sim, pattern);
    for ((name, old, _), (_, new, hb)) in before.iter().zip(&after) {
        assert_ne!(old, new, "{name} did not reboot: {}", run.stdout);
        assert_eq!(hb, "green", "{name}");
        assert!(
            run.stdout
                .contains(&format!("{name} is running again (booted {new})")),
            "{}",
            run.stdout
        );
    }

    // A hung guest takes the reboot request but never boots: a clear timeout, and the
    // next batch is not started.
    let (hung, booted, _) = after[0].clone();
    sim.control(
        "/vcsim/guest",
        &serde_json::json!({ "vms": { hung.as_str(): {"tools": true, "hang": true} } }),
    );
    let stuck = restart(&["--timeout", "2"]).fails_with(1);
    stuck.stderr_has(&format!(
        "{hung} is not back after 2s: boot time {booted} (before the restart: {booted})"
    ));
    assert!(!stuck.stdout.contains("batch 2"), "{}", stuck.stdout);
}
