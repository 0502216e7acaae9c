//! Scripts against the simulator: inventory as typed objects, operations as functions
//! and methods, faults caught as maps, imports, limits and permissions.

use std::path::PathBuf;

use crate::sim::{Ceso, Sim, exit, lines};

/// Write `text` as `name` in the isolated home and return its path.
fn script(ceso: &Ceso, name: &str, text: &str) -> PathBuf {
    let path = ceso.home.path().join(name);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("script dir");
    }
    std::fs::write(&path, text).expect("write script");
    path
}

#[test]
fn inventory_is_typed_objects_with_getters() {
    let sim = Sim::vcenter();
    let vms = sim.ceso().run(&["--json", "-c", "vms()"]).ok().json();
    let names: Vec<&str> = vms
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "DC0_C0_RP0_VM0",
            "DC0_C0_RP0_VM1",
            "DC0_H0_VM0",
            "DC0_H0_VM1"
        ]
    );
    assert_eq!(vms[2]["power_state"], "poweredOn");
    assert_eq!(vms[2]["host"], "DC0_H0");

    let mut ceso = sim.ceso();
    let path = script(
        &ceso,
        "getters.rhai",
        r#"
let v = vm("DC0_H0_VM0");
print(`${v.name}|${v.power_state}|${v.host}|${v.cpus}|${v.memory_mb}|${v.guest_os}|${v.endpoint != ""}`);
let h = host("DC0_H0");
print(`${h.name}|${h.cpu_mhz > 0}|${h.memory_mb > 0}|${h.vms().len()}`);
print(hosts().len());
print(vms("DC0_C0*").map(|v| v.name));
print(vms("nothing-*").len());
print(v);
print(datastores()[0].name);
print(networks().map(|n| n.name).contains("VM Network"));
"#,
    );
    let run = ceso.run(&["run", path.to_str().unwrap()]).ok();
    assert_eq!(
        lines(&run.stdout),
        [
            "DC0_H0_VM0|poweredOn|DC0_H0|1|32|otherGuest|true",
            "DC0_H0|true|true|2",
            "4",
            r#"["DC0_C0_RP0_VM0", "DC0_C0_RP0_VM1"]"#,
            "0",
            "Vm DC0_H0_VM0 (poweredOn, DC0_H0)",
            "LocalDS_0",
            "true",
        ]
    );
}

#[test]
fn escape_hatches_read_any_property() {
    let sim = Sim::vcenter();
    let run = sim
        .ceso()
        .run(&[
            "--json",
            "-c",
            r#"#{ cpus: vm("DC0_H0_VM0").prop("config.hardware.numCPU"),
                 both: vm("DC0_H0_VM0").props(["name", "runtime.powerState"]),
                 hosts: collect("HostSystem", ["name", "summary.hardware.numCpuCores"]) }"#,
        ])
        .ok()
        .json();
    assert_eq!(run["cpus"], 1);
    assert_eq!(run["both"]["runtime.powerState"], "poweredOn");
    let hosts = run["hosts"].as_array().unwrap();
    assert_eq!(hosts.len(), 4);
    assert!(
        hosts
            .iter()
            .all(|h| h["type"] == "HostSystem" && h["summary.hardware.numCpuCores"].is_i64())
    );
}

#[test]
fn power_methods_act_and_update_the_object() {
    let sim = Sim::vcenter();
    let mut ceso = sim.ceso();
    let path = script(
        &ceso,
        "power.rhai",
        r#"
let v = vm("DC0_H0_VM0");
let r = v.power_off();
print(`${r.before}->${r.after} changed=${r.changed} now=${v.power_state}`);
r = v.power_off();
print(`again changed=${r.changed}`);
v.power_on();
print(v.refresh().power_state);
v.restart(#{force: true});
print(v.power_state);
"#,
    );
    let run = ceso.run(&["run", path.to_str().unwrap()]).ok();
    assert_eq!(
        lines(&run.stdout),
        [
            "poweredOn->poweredOff changed=true now=poweredOff",
            "again changed=false",
            "poweredOn",
            "poweredOn"
        ]
    );
}

#[test]
fn operations_over_arrays_run_for_every_vm_and_honour_dry_run() {
    let sim = Sim::vcenter();
    let dry = sim
        .ceso()
        .run(&["-c", r#"vms("DC0_C0*").power_off(#{dry_run: true}).len()"#])
        .ok();
    dry.stdout_has("would power off DC0_C0_RP0_VM0");
    dry.stdout_has("would power off DC0_C0_RP0_VM1");
    // Under --json stdout is the value alone; the plan lines go to stderr.
    let dry = sim
        .ceso()
        .run(&[
            "--json",
            "-c",
            r#"power_off(vms("DC0_C0*"), #{dry_run: true})"#,
        ])
        .ok();
    assert_eq!(dry.json().as_array().map(Vec::len), Some(2));
    dry.stderr_has("would power off DC0_C0_RP0_VM1");
    let on = sim.ceso().run(&["vm", "list", "--json"]).ok().json();
    assert!(
        on.as_array()
            .unwrap()
            .iter()
            .all(|v| v["power_state"] == "poweredOn")
    );

    // --dry-run on the command line makes every changing function a dry run.
    let dry = sim
        .ceso()
        .run(&[
            "--dry-run",
            "-c",
            r#"power_off(vms("DC0_*")); vm::delete("DC0_H0_VM0", #{})"#,
        ])
        .ok();
    dry.stdout_has("would delete VM DC0_H0_VM0");

    let done = sim
        .ceso()
        .run(&["--json", "-c", r#"power_off(vms("DC0_C0*"))"#])
        .ok()
        .json();
    let results = done.as_array().unwrap();
    assert_eq!(results.len(), 2);
    assert!(
        results
            .iter()
            .all(|r| r["after"] == "poweredOff" && r["changed"] == true)
    );
    let after = sim.ceso().run(&["vm", "list", "--json"]).ok().json();
    let off: Vec<&str> = after
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["power_state"] == "poweredOff")
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(off, ["DC0_C0_RP0_VM0", "DC0_C0_RP0_VM1"]);
}

#[test]
fn cli_verbs_exist_under_the_same_names() {
    let sim = Sim::vcenter();
    let mut ceso = sim.ceso();
    let path = script(
        &ceso,
        "verbs.rhai",
        r#"
let plan = vm::create("made-by-script", #{cpu: 2, memory: 256, dry_run: true});
print(`plan ${plan.name} ${plan.cpus} ${plan.dry_run}`);
let v = vm::create("made-by-script", #{cpu: 2, memory: 256});
print(`${v.name} ${v.cpus} ${v.power_state}`);
vm::start("made-by-script");
print(vm::info("made-by-script").power_state);
vm::stop(["made-by-script"], #{force: true});
print(vm::delete("made-by-script", #{}).deleted);
print(vm::list("made-by-*").len());
print(host::list().len());
print(host::info("DC0_H0")[0].name);
"#,
    );
    let run = ceso.run(&["run", path.to_str().unwrap()]).ok();
    assert_eq!(
        lines(&run.stdout)
            .iter()
            .filter(|l| !l.starts_with("would"))
            .copied()
            .collect::<Vec<_>>(),
        [
            "plan made-by-script 2 true",
            "made-by-script 2 poweredOff",
            "poweredOn",
            "true",
            "0",
            "4",
            "DC0_H0"
        ]
    );
}

#[test]
fn vsphere_faults_are_caught_as_maps_and_script_bugs_are_not_faults() {
    let sim = Sim::vcenter();
    let mut ceso = sim.ceso();
    let path = script(
        &ceso,
        "faults.rhai",
        r#"
try { collect("NoSuchType", ["name"]); } catch (e) { print(`${e.fault}|${type_of(e.message)}|${e.endpoint != ()}`); }
let v = vm("DC0_H0_VM1");
v.power_off();
v.delete();
try { v.prop("name"); } catch (e) { print(`${e.fault}|${e.object}`); }
try { vm("no-such-vm"); } catch (e) { print(`${e.fault}|${e.object}`); }
try { vm("DC0_H0_VM0").suspend(); vm("DC0_H0_VM0").suspend(); } catch (e) { print(e.fault); }
try { no_such_function(); } catch (e) { print(`bug: fault in e = ${"fault" in e}`); }
"#,
    );
    let run = ceso.run(&["run", path.to_str().unwrap()]).ok();
    let out = lines(&run.stdout);
    assert_eq!(out[0], "InvalidArgument|string|true");
    assert!(
        out[1].starts_with("ManagedObjectNotFound|VirtualMachine:vm-"),
        "{out:?}"
    );
    assert_eq!(out[2], "NotFound|no-such-vm");
    // Suspending a suspended VM is not an error (changed: false); nothing thrown.
    assert_eq!(out[3], "bug: fault in e = false");

    // Uncaught, a fault is a diagnostic with the fault's code and the CLI's exit code.
    let mut ceso = sim.ceso();
    let path = script(&ceso, "uncaught.rhai", "let a = 1;\nvm(\"no-such-vm\");\n");
    ceso.run(&["run", path.to_str().unwrap()])
        .fails_with(exit::NOT_FOUND)
        .stderr_has("ceso::NotFound")
        .stderr_has("uncaught.rhai:2:1")
        .stderr_has("VM 'no-such-vm' not found");
    let run = sim
        .ceso()
        .run(&["-c", r#"collect("NoSuchType", [])"#])
        .fails_with(exit::SERVER_FAULT);
    run.stderr_has("vim::InvalidArgument");
}

#[test]
fn syntax_and_runtime_errors_point_at_line_and_column() {
    let sim = Sim::vcenter();
    let mut ceso = sim.ceso();
    let path = script(&ceso, "syntax.rhai", "let a = 1;\nlet b = (a + ;\n");
    let run = ceso
        .run(&["run", path.to_str().unwrap()])
        .fails_with(exit::USAGE);
    run.stderr_has("script::syntax")
        .stderr_has("syntax.rhai:2:14")
        .stderr_has("let b = (a + ;");

    let mut ceso = sim.ceso();
    let path = script(
        &ceso,
        "runtime.rhai",
        "let vms = vms();\nlet n = vms.len();\nlet x = vms[0].no_such_field;\n",
    );
    let run = ceso.run(&["run", path.to_str().unwrap()]).fails_with(1);
    run.stderr_has("script::runtime")
        .stderr_has("runtime.rhai:3:16")
        .stderr_has("no_such_field");

    // An unknown function suggests close names.
    let run = sim.ceso().run(&["-c", "vmz()"]).fails_with(1);
    run.stderr_has("<command>:1:1")
        .stderr_has("did you mean")
        .stderr_has("vms");
}

#[test]
fn errors_in_imported_modules_show_the_call_chain() {
    let sim = Sim::vcenter();
    let mut ceso = sim.ceso();
    script(
        &ceso,
        "lib/helpers.rhai",
        "// helpers\nfn describe(name) {\n    let v = vm(name);\n    v.no_such_method()\n}\n",
    );
    let path = script(
        &ceso,
        "lib/main.rhai",
        "import \"helpers\" as h;\nfn report(n) {\n    h::describe(n)\n}\nreport(\"DC0_H0_VM0\");\n",
    );
    let run = ceso.run(&["run", path.to_str().unwrap()]).fails_with(1);
    run.stderr_has("helpers.rhai:4:7")
        .stderr_has("v.no_such_method()")
        .stderr_has("describe() was called here")
        .stderr_has("main.rhai:3:8")
        .stderr_has("report() was called here")
        .stderr_has("main.rhai:5:1");
    let inner = run.stderr.find("helpers.rhai:4:7").unwrap();
    let outer = run.stderr.find("main.rhai:5:1").unwrap();
    assert!(inner < outer, "innermost first:\n{}", run.stderr);
}

#[test]
fn imports_resolve_stdlib_then_script_folder_then_user_folder() {
    let sim = Sim::vcenter();
    let mut ceso = sim.ceso();
    // A local file called fmt.rhai does not shadow the stdlib's fmt.
    script(&ceso, "proj/fmt.rhai", "fn mb(x) { \"local\" }\n");
    script(
        &ceso,
        "proj/local.rhai",
        "fn hello() { \"from the script folder\" }\n",
    );
    script(
        &ceso,
        "config/ceso/scripts/mine.rhai",
        "fn hello() { \"from the user folder\" }\n",
    );
    let path = script(
        &ceso,
        "proj/main.rhai",
        "#!/usr/bin/env -S ceso run\nimport \"fmt\" as fmt;\nimport \"local\" as local;\nimport \"mine\" as mine;\nprint(fmt::mb(2048));\nprint(local::hello());\nprint(mine::hello());\nprint(ARGS);\n",
    );
    let run = ceso
        .run(&["run", path.to_str().unwrap(), "one", "--two"])
        .ok();
    assert_eq!(
        lines(&run.stdout),
        [
            "2 GB",
            "from the script folder",
            "from the user folder",
            r#"["one", "--two"]"#
        ]
    );

    let run = sim
        .ceso()
        .run(&["-c", "import \"nope\" as n; 1"])
        .fails_with(1);
    run.stderr_has("nope")
        .stderr_has("imports look in the stdlib");
}

#[test]
fn limits_stop_runaway_scripts() {
    let sim = Sim::vcenter();
    let run = sim
        .ceso()
        .run(&[
            "--max-operations",
            "10000",
            "-c",
            "let i = 0;\nloop { i += 1; }",
        ])
        .fails_with(1);
    run.stderr_has("script::limit")
        .stderr_has("limit of operations")
        .stderr_has("<command>:2:");

    let mut ceso = sim.ceso();
    ceso.config("settings:\n  scripting:\n    max_operations: 5000\n    max_call_depth: 10\n    max_string_size: 1000\n");
    ceso.env("CESO_URL", &sim.url);
    ceso.run(&["-c", "loop {}"])
        .fails_with(1)
        .stderr_has("limit of operations");
    let mut ceso = sim.ceso();
    ceso.config("settings:\n  scripting:\n    max_call_depth: 10\n");
    ceso.run(&["-c", "fn f(n) { f(n + 1) } f(0)"])
        .fails_with(1)
        .stderr_has("nested too deeply");
    let mut ceso = sim.ceso();
    ceso.config("settings:\n  scripting:\n    max_string_size: 1000\n");
    ceso.run(&["-c", "let s = \"x\"; loop { s += s; }"])
        .fails_with(1)
        .stderr_has("larger than the script limit");
    sim.ceso()
        .run(&[
            "--max-array-size",
            "100",
            "-c",
            "let a = []; for i in 0..1000 { a.push(i); }",
        ])
        .fails_with(1)
        .stderr_has("larger than the script limit");
}

#[test]
fn shell_and_file_writes_need_permission() {
    let sim = Sim::vcenter();
    let run = sim
        .ceso()
        .run(&["-c", "shell(\"echo hi\")"])
        .fails_with(exit::REFUSED);
    run.stderr_has("may not run shell commands")
        .stderr_has("--allow-shell");
    let run = sim
        .ceso()
        .run(&["--allow-shell", "-c", "shell(\"echo hi\").stdout"])
        .ok();
    assert_eq!(run.stdout.trim(), "hi");

    let mut ceso = sim.ceso();
    let target = ceso.home.path().join("out.txt");
    let expr = format!("write_file({:?}, \"data\")", target.to_str().unwrap());
    ceso.run(&["-c", &expr])
        .fails_with(exit::REFUSED)
        .stderr_has("--allow-write");
    assert!(!target.exists());
    let mut ceso = sim.ceso();
    let target = ceso.home.path().join("out.txt");
    let expr = format!("write_file({:?}, \"data\")", target.to_str().unwrap());
    ceso.config("settings:\n  scripting:\n    allow_write: true\n");
    ceso.env("CESO_URL", &sim.url);
    ceso.run(&["-c", &expr]).ok();
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "data");
}

#[test]
fn scripts_run_from_stdin_and_exit_with_their_code() {
    let sim = Sim::vcenter();
    let mut ceso = sim.ceso();
    let path = script(
        &ceso,
        "exit.rhai",
        "print(\"before\");\nexit(3);\nprint(\"after\");\n",
    );
    let run = ceso.run(&["run", path.to_str().unwrap()]).fails_with(3);
    assert_eq!(run.stdout.trim(), "before");

    let mut ceso = sim.ceso();
    let input = ceso.home.path().join("stdin.rhai");
    std::fs::write(&input, "print(vms().len());").unwrap();
    ceso.command().stdin(std::fs::File::open(&input).unwrap());
    let run = ceso.run(&[]).ok();
    assert_eq!(run.stdout.trim(), "4");

    let run = Ceso::new()
        .run(&["run", "/nonexistent/script.rhai"])
        .fails_with(exit::USAGE);
    run.stderr_has("cannot read /nonexistent/script.rhai");
}
