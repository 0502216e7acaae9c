//! `ceso vm migrate` inside a vCenter: RelocateVM_Task after the precheck, read back
//! over SOAP (`vm list` reads `runtime.host`, `vm.prop` any property).

use crate::sim::{Sim, exit};

const VM0: &str = "DC0_C0_RP0_VM0";
const VM1: &str = "DC0_C0_RP0_VM1";

/// The VM's host and datastore names, as the server reports them now
/// (`runtime.host`, `datastore`).
fn placement(sim: &Sim, vm: &str) -> (String, String) {
    let list = sim.ceso().run(&["vm", "list", vm, "--json"]).ok().json();
    let host = list[0]["host"].as_str().expect("a host").to_string();
    let ds = sim
        .ceso()
        .run(&[
            "-c",
            &format!("let ids = vm(\"{vm}\").prop(\"datastore\"); datastores().filter(|d| `${{ids}}`.contains(d.id)).map(|d| d.name)"),
            "--json",
        ])
        .ok()
        .json();
    (host, ds[0].as_str().unwrap_or_default().to_string())
}

/// A cluster host other than `not`.
fn other_host(not: &str) -> String {
    ["DC0_C0_H0", "DC0_C0_H1", "DC0_C0_H2"]
        .into_iter()
        .find(|h| *h != not)
        .unwrap()
        .to_string()
}

fn enter_maintenance(sim: &Sim, host_id: &str) {
    let answer = crate::sim::Soap::login(sim).call(&format!(
        r#"<EnterMaintenanceMode_Task xmlns="urn:vim25"><_this type="HostSystem">{host_id}</_this><timeout>0</timeout></EnterMaintenanceMode_Task>"#
    ));
    assert!(
        answer.contains("EnterMaintenanceMode_TaskResponse"),
        "{answer}"
    );
}

fn host_id(sim: &Sim, name: &str) -> String {
    let info = sim
        .ceso()
        .run(&["host", "info", name, "--json"])
        .ok()
        .json();
    info["id"].as_str().expect("host id").to_string()
}

#[test]
fn vmotion_within_a_cluster_after_the_precheck() {
    let sim = Sim::vcenter();
    let (from, ds) = placement(&sim, VM0);
    let to = other_host(&from);

    // Powered on without --live: refused, with the way out.
    sim.ceso()
        .run(&["vm", "migrate", VM0, "--to-host", &to])
        .fails_with(exit::REFUSED)
        .stderr_has("is powered on; it was not migrated")
        .stderr_has("pass --live");

    // A dry run lists every check and changes nothing.
    let dry = sim
        .ceso()
        .run(&[
            "vm",
            "migrate",
            VM0,
            "--to-host",
            &to,
            "--live",
            "--dry-run",
        ])
        .ok();
    dry.stdout_has(&format!("would migrate {VM0} (vmotion): {from} → {to}"))
        .stdout_has(&format!("ok   host: {to} is connected"))
        .stdout_has(&format!("ok   datastore: {ds} visible from {to}"))
        .stdout_has("ok   network: DC0_DVPG0 present")
        .stdout_has("ok   memory:")
        .stdout_has("ok   drs:");
    assert_eq!(placement(&sim, VM0).0, from, "a dry run moves nothing");

    // vMotion: the server reports the new host.
    let done = sim
        .ceso()
        .run(&["vm", "migrate", VM0, "--to-host", &to, "--live", "--json"])
        .ok()
        .json();
    assert_eq!(done[0]["to_host"], to.as_str());
    assert_eq!(done[0]["kind"], "vmotion");
    assert_eq!(placement(&sim, VM0).0, to);

    // Again: nothing to do, not an error.
    sim.ceso()
        .run(&["vm", "migrate", VM0, "--to-host", &to, "--live"])
        .ok()
        .stderr_has(&format!("{VM0}: already on {to}"));

    // A glob: several VMs at once, the standalone host's into the cluster's root pool.
    let all = sim
        .ceso()
        .run(&[
            "vm",
            "migrate",
            "DC0_*",
            "--to-host",
            "DC0_C0_H2",
            "--live",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(all.as_array().map(Vec::len), Some(4), "{all:#}");
    for vm in [
        "DC0_C0_RP0_VM0",
        "DC0_C0_RP0_VM1",
        "DC0_H0_VM0",
        "DC0_H0_VM1",
    ] {
        assert_eq!(placement(&sim, vm).0, "DC0_C0_H2", "{vm}");
    }
    let moved = all
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["vm"] == "DC0_H0_VM0")
        .unwrap();
    assert_eq!(moved["to_pool"], "DC0_C0/Resources");
    let pool = sim
        .ceso()
        .run(&["-c", "vm(\"DC0_H0_VM0\").prop(\"resourcePool\")", "--json"])
        .ok()
        .json();
    let root = sim
        .ceso()
        .run(&["rp", "info", "DC0/DC0_C0/Resources", "--json"])
        .ok()
        .json();
    let root_id = root["id"].as_str().expect("pool id");
    assert!(pool.to_string().contains(root_id), "{pool} vs {root_id}");

    // Unknown names are not-found errors with suggestions.
    sim.ceso()
        .run(&["vm", "migrate", VM1, "--to-host", "DC0_C0_H9", "--live"])
        .fails_with(exit::NOT_FOUND)
        .stderr_has("did you mean");
    sim.ceso()
        .run(&[
            "vm",
            "migrate",
            VM1,
            "--to-host",
            "DC0_C0_H0",
            "--live",
            "--datastore",
            "NoSuchDS",
        ])
        .fails_with(exit::NOT_FOUND)
        .stderr_has("datastore 'NoSuchDS' not found");
}

#[test]
fn precheck_refusals_name_each_failed_check() {
    let sim = Sim::vcenter();
    let (from, _) = placement(&sim, VM0);
    let to = other_host(&from);

    // A host in maintenance mode takes no VMs, and --force does not change that.
    let spare = ["DC0_C0_H0", "DC0_C0_H1", "DC0_C0_H2"]
        .into_iter()
        .find(|h| *h != from && *h != to)
        .unwrap();
    enter_maintenance(&sim, &host_id(&sim, spare));
    for force in [false, true] {
        let mut args = vec!["vm", "migrate", VM0, "--to-host", spare, "--live"];
        if force {
            args.push("--force");
        }
        sim.ceso()
            .run(&args)
            .fails_with(exit::REFUSED)
            .stderr_has(&format!("FAIL host: {spare} is in maintenance mode"))
            .stderr_has("nothing was changed");
    }
    assert_eq!(placement(&sim, VM0).0, from);

    // Capacity within phase4.optimization.overcommit: advisory, --force skips it.
    let config = format!(
        "hosts:\n  - name: vc\n    host: {}\n    user: user\n    password_env: VC_PASSWORD\nphase4:\n  optimization:\n    overcommit: {{ cpu: 2.0, memory: 0.01 }}\n",
        sim.url
    );
    let strict = |args: &[&str]| {
        let mut c = sim.ceso();
        c.env_remove("CESO_URL").env("VC_PASSWORD", "pass");
        c.config(&config);
        c.run(args)
    };
    strict(&["vm", "migrate", VM0, "--to-host", &to, "--live"])
        .fails_with(exit::REFUSED)
        .stderr_has("FAIL memory:")
        .stderr_has("(4095 MB x 0.01)")
        .stderr_has("--force migrates anyway");
    assert_eq!(placement(&sim, VM0).0, from);
    strict(&["vm", "migrate", VM0, "--to-host", &to, "--live", "--force"])
        .ok()
        .stderr_has("skip memory:");
    assert_eq!(placement(&sim, VM0).0, to);

    // DRS: a move that breaks a "separate" rule is refused; --force skips a should-rule.
    let (vm1_host, _) = placement(&sim, VM1);
    sim.ceso()
        .run(&[
            "drs",
            "rule",
            "create",
            "apart",
            "--separate",
            &format!("{VM0},{VM1}"),
        ])
        .ok();
    let run = sim
        .ceso()
        .run(&["vm", "migrate", VM0, "--to-host", &vm1_host, "--live"]);
    if vm1_host == to {
        // Already together: the rule is violated now; moving within the violation is no new break.
        run.ok();
    } else {
        run.fails_with(exit::REFUSED)
            .stderr_has("FAIL drs: rule 'apart' keeps them apart");
        sim.ceso()
            .run(&[
                "vm",
                "migrate",
                VM0,
                "--to-host",
                &vm1_host,
                "--live",
                "--force",
            ])
            .ok();
    }
    assert_eq!(placement(&sim, VM0).0, vm1_host);
}

#[test]
fn scripts_migrate_like_the_cli() {
    let sim = Sim::vcenter();
    let (from, _) = placement(&sim, VM1);
    let to = other_host(&from);
    let out = sim
        .ceso()
        .run(&[
            "-c",
            &format!(
                "let r = vm::migrate(\"{VM1}\", #{{to_host: \"{to}\", live: true}}); r[0].to_host"
            ),
        ])
        .ok();
    assert_eq!(out.stdout.trim(), to);
    assert_eq!(placement(&sim, VM1).0, to);
    // A refusal is a catchable fault with the CLI's reason.
    let caught = sim
        .ceso()
        .run(&[
            "-c",
            &format!(
                "let m = \"moved\"; try {{ vm::migrate(\"{VM1}\", #{{to_host: \"{from}\"}}); }} catch (e) {{ m = e.message; }} m"
            ),
        ])
        .ok();
    assert!(caught.stdout.contains("is powered on"), "{caught:?}");
}

/// The server's own checks (VirtualMachineProvisioningChecker.CheckRelocate_Task, modelled
/// by tests/vcsim/checker.go): a running VM cannot vMotion from an Intel host to an AMD
/// one, whatever `--force` says; powered off it moves (cold relocate).
#[test]
fn the_servers_cpu_check_refuses_a_live_move_to_another_cpu_vendor() {
    let sim = Sim::start(&["-host-cpu", "DC0_C0_H2=amd"]);
    // The standalone host's VMs always start on DC0_H0 (the cluster places its own at random).
    const VM: &str = "DC0_H0_VM0";
    assert_eq!(placement(&sim, VM).0, "DC0_H0");

    for force in [false, true] {
        let mut args = vec!["vm", "migrate", VM, "--to-host", "DC0_C0_H2", "--live"];
        if force {
            args.push("--force");
        }
        sim.ceso()
            .run(&args)
            .fails_with(exit::REFUSED)
            .stderr_has("FAIL server: The target host does not support the virtual machine's current hardware requirements")
            .stderr_has("DC0_C0_H2 has AMD EPYC 7763 64-Core Processor")
            .stderr_has("missing CPU features: cpuid.Intel")
            .stderr_has("nothing was changed")
            .stderr_has("--force skips only ceso's advisory checks");
        assert_eq!(
            placement(&sim, VM).0,
            "DC0_H0",
            "refused (--force: {force}) but moved"
        );
    }

    // An Intel host of the cluster: the server finds nothing to object to.
    sim.ceso()
        .run(&[
            "vm",
            "migrate",
            VM,
            "--to-host",
            "DC0_C0_H1",
            "--live",
            "--dry-run",
        ])
        .ok()
        .stdout_has("ok   server: CheckRelocate found nothing");

    // Powered off, the CPU no longer matters.
    sim.ceso().run(&["vm", "stop", "--force", VM]).ok();
    sim.ceso()
        .run(&["vm", "migrate", VM, "--to-host", "DC0_C0_H2", "--dry-run"])
        .ok()
        .stdout_has(&format!(
            "would migrate {VM} (cold relocate): DC0_H0 → DC0_C0_H2"
        ))
        .stdout_has("ok   server: CheckRelocate found nothing");
    sim.ceso()
        .run(&["vm", "migrate", VM, "--to-host", "DC0_C0_H2"])
        .ok();
    assert_eq!(placement(&sim, VM).0, "DC0_C0_H2");
}

/// A glob over a running VM and a powered-off one, without --live: the powered-off one
/// moves, the running one is refused; having changed something, the command says what
/// moved and what did not and exits 7 (partial), never 6 (nothing changed).
#[test]
fn a_glob_that_moves_some_vms_and_refuses_others_is_a_partial_failure() {
    let sim = Sim::vcenter();
    sim.ceso().run(&["vm", "stop", "--force", VM1]).ok();
    let (on0, _) = placement(&sim, VM0);
    let (on1, _) = placement(&sim, VM1);
    let to = ["DC0_C0_H0", "DC0_C0_H1", "DC0_C0_H2"]
        .into_iter()
        .find(|h| *h != on0 && *h != on1)
        .expect("a third host");
    sim.ceso()
        .run(&["vm", "migrate", "DC0_C0_RP0_VM*", "--to-host", to])
        .fails_with(exit::PARTIAL)
        .stderr_has(&format!("migrated {VM1}"))
        .stderr_has(&format!("{VM0} is powered on"));
    assert_eq!(placement(&sim, VM1).0, to);
    assert_eq!(placement(&sim, VM0).0, on0);
    // Nothing moved (a dry run): the refusal itself, exit 6.
    sim.ceso()
        .run(&[
            "vm",
            "migrate",
            "DC0_C0_RP0_VM*",
            "--to-host",
            &on0,
            "--dry-run",
        ])
        .fails_with(exit::REFUSED);
}

/// Power changes over a glob: one VM suspended, one refused (powered off) is partial.
#[test]
fn a_power_change_refused_for_one_vm_after_another_changed_is_partial() {
    let sim = Sim::vcenter();
    sim.ceso().run(&["vm", "stop", "--force", VM1]).ok();
    sim.ceso()
        .run(&["vm", "suspend", "DC0_C0_RP0_VM*"])
        .fails_with(exit::PARTIAL)
        .stderr_has(&format!("suspended {VM0}"))
        .stderr_has(&format!("cannot suspend {VM1}"));
    // Nothing changed: a refusal (6).
    sim.ceso()
        .run(&["vm", "suspend", VM1])
        .fails_with(exit::REFUSED);
}
