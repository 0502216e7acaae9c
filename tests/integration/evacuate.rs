//! `ceso host evacuate` (and `host::evacuate`) against the vCenter simulator: where
//! the VMs are and whether the host is in maintenance mode are read back over SOAP
//! (`vm list`, `host info`) after each command.

use serde_json::Value;

use crate::sim::{Ceso, Sim, exit};

const VM0: &str = "DC0_C0_RP0_VM0";
const VM1: &str = "DC0_C0_RP0_VM1";
const HOSTS: [&str; 3] = ["DC0_C0_H0", "DC0_C0_H1", "DC0_C0_H2"];
const A30: &str = "0000:3b:00.0";

fn json(sim: &Sim, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    sim.ceso().run(&all).ok().json()
}

/// Every VM's (host, power state), as the server reports them now.
fn vms(sim: &Sim) -> Vec<(String, String, String)> {
    let list = json(sim, &["vm", "list"]);
    list.as_array()
        .expect("a list")
        .iter()
        .map(|v| {
            let text = |k: &str| v[k].as_str().unwrap_or_default().to_string();
            (text("name"), text("host"), text("power_state"))
        })
        .collect()
}

fn host_of(sim: &Sim, vm: &str) -> String {
    vms(sim)
        .into_iter()
        .find(|(name, _, _)| name == vm)
        .map(|(_, host, _)| host)
        .unwrap_or_else(|| panic!("{vm} not listed"))
}

fn on_host(sim: &Sim, host: &str) -> Vec<String> {
    vms(sim)
        .into_iter()
        .filter(|(_, h, _)| h == host)
        .map(|(name, _, _)| name)
        .collect()
}

fn in_maintenance(sim: &Sim, host: &str) -> bool {
    json(sim, &["host", "info", host])["maintenance"] == true
}

/// Put `vm` on `host` (vMotion) unless it is there.
fn put(sim: &Sim, vm: &str, host: &str) {
    if host_of(sim, vm) != host {
        sim.ceso()
            .run(&["vm", "migrate", vm, "--to-host", host, "--live"])
            .ok();
    }
    assert_eq!(host_of(sim, vm), host);
}

#[test]
fn evacuate_to_one_host_then_enter_maintenance() {
    let sim = Sim::vcenter();
    let from = "DC0_C0_H0";
    let to = "DC0_C0_H2";
    put(&sim, VM0, from);
    put(&sim, VM1, from);
    let before = vms(&sim);

    // Disruptive: without --yes and no terminal to ask on, an error, not a hang.
    sim.ceso()
        .run(&["host", "evacuate", from, "--to-host", to])
        .fails_with(exit::REFUSED)
        .stderr_has("Evacuate DC0_C0_H0: move 2 VM(s)")
        .stderr_has("not confirmed")
        .stderr_has("--yes");
    assert_eq!(vms(&sim), before);

    // A dry run prints every move with its checks, before or after the subcommand, and
    // changes nothing (not even with --yes).
    let dry = sim
        .ceso()
        .run(&[
            "host",
            "evacuate",
            from,
            "--to-host",
            to,
            "--maintenance",
            "--dry-run",
        ])
        .ok();
    dry.stdout_has(&format!("would move {VM0}: {from} → {to}, live (vMotion)"))
        .stdout_has(&format!("would move {VM1}: {from} → {to}, live (vMotion)"))
        .stdout_has(&format!("ok   host: {to} is connected"))
        .stdout_has("ok   memory:")
        .stdout_has(&format!("then {from} enters maintenance mode"))
        .stderr_has("dry run: nothing was changed");
    sim.ceso()
        .run(&[
            "--dry-run",
            "host",
            "evacuate",
            from,
            "--to-host",
            to,
            "--maintenance",
            "--yes",
        ])
        .ok()
        .stdout_has("would move");
    assert_eq!(vms(&sim), before);
    assert!(!in_maintenance(&sim, from));

    // Onto itself, or an unknown host: clear errors before anything.
    sim.ceso()
        .run(&["host", "evacuate", from, "--to-host", from, "--yes"])
        .fails_with(exit::USAGE)
        .stderr_has("onto itself");
    sim.ceso()
        .run(&["host", "evacuate", "DC0_C0_H9", "--auto", "--yes"])
        .fails_with(exit::NOT_FOUND);
    sim.ceso()
        .run(&["host", "evacuate", from, "--to-host", "DC0_C0_H9", "--yes"])
        .fails_with(exit::NOT_FOUND)
        .stderr_has("did you mean");
    sim.ceso()
        .run(&["host", "evacuate", from])
        .fails_with(exit::USAGE)
        .stderr_has("--to-host");

    // The evacuation: every VM on the target, the host in maintenance mode.
    let done = json(
        &sim,
        &[
            "host",
            "evacuate",
            from,
            "--to-host",
            to,
            "--maintenance",
            "--yes",
        ],
    );
    assert_eq!(done["maintenance"]["state"], "entered", "{done:#}");
    let moved = done["vms"].as_array().expect("vms");
    assert_eq!(moved.len(), 2, "{done:#}");
    for v in moved {
        assert_eq!(v["outcome"], "moved", "{v:#}");
        assert_eq!(v["method"], "live", "{v:#}");
    }
    assert_eq!(on_host(&sim, from), Vec::<String>::new());
    assert_eq!(host_of(&sim, VM0), to);
    assert_eq!(host_of(&sim, VM1), to);
    assert!(in_maintenance(&sim, from));

    // A host in maintenance mode takes no VMs: evacuating onto it is refused, naming why.
    sim.ceso()
        .run(&["host", "evacuate", to, "--to-host", from, "--yes"])
        .fails_with(exit::REFUSED)
        .stderr_has(&format!("FAIL host: {from} is in maintenance mode"));
    assert_eq!(on_host(&sim, to).len(), 2);
}

#[test]
fn auto_spreads_the_vms_by_the_placement_engine_and_scripts_evacuate_too() {
    let sim = Sim::vcenter();
    let from = "DC0_C0_H0";
    put(&sim, VM0, from);
    put(&sim, VM1, from);
    let before = vms(&sim);

    // The script function plans like the CLI: one map per VM.
    let planned = json(
        &sim,
        &[
            "-c",
            &format!("host::evacuate(\"{from}\", #{{auto: true, dry_run: true}})"),
        ],
    );
    let planned = planned.as_array().expect("one map per VM");
    assert_eq!(planned.len(), 2, "{planned:?}");
    for v in planned {
        assert_eq!(v["outcome"], "would_move");
        assert_ne!(v["to_host"], from);
    }
    assert_eq!(vms(&sim), before);

    // Live, each VM where the engine puts it: the cluster's two other hosts, one each
    // (the first placement counts for the second), never the evacuated host.
    sim.ceso()
        .run(&["host", "evacuate", from, "--auto", "--yes"])
        .ok()
        .stderr_has("placement score");
    let (h0, h1) = (host_of(&sim, VM0), host_of(&sim, VM1));
    assert_ne!(h0, from);
    assert_ne!(h1, from);
    assert_ne!(h0, h1, "the engine spreads the VMs");
    for h in [&h0, &h1] {
        assert!(HOSTS.contains(&h.as_str()), "{h}: left the cluster");
    }

    // The engine's rules hold: a config host group that the VMs must run in.
    put(&sim, VM0, from);
    put(&sim, VM1, from);
    let with_policy = |policy: &str| {
        let mut c = Ceso::new();
        c.env("VC_PW", "pass").config(&format!(
            "hosts:\n  - name: vc\n    host: {}\n    user: user\n    password_env: VC_PW\nplacement:\n  host_groups:\n    pinned: [{policy}]\n  policies:\n    - {{ vms: 'DC0_C0_RP0_*', host_group: pinned, rule: must }}\n",
            sim.url
        ));
        c
    };
    with_policy("DC0_C0_H0, DC0_C0_H2")
        .run(&["host", "evacuate", from, "--auto", "--yes"])
        .ok();
    assert_eq!(host_of(&sim, VM0), "DC0_C0_H2");
    assert_eq!(host_of(&sim, VM1), "DC0_C0_H2");

    // No host allowed but the evacuated one: refused with the engine's reasons.
    let back = "DC0_C0_H2";
    with_policy(back)
        .run(&["host", "evacuate", back, "--auto", "--maintenance", "--yes"])
        .fails_with(exit::REFUSED)
        .stderr_has("no host can take")
        .stderr_has("DC0_C0_H1:")
        .stderr_has("did not enter maintenance mode");
    assert_eq!(on_host(&sim, back).len(), 2);
    assert!(!in_maintenance(&sim, back));

    // The script runs it too, and enters maintenance mode.
    let outcomes = json(
        &sim,
        &[
            "-c",
            &format!(
                "host::evacuate(\"{back}\", #{{to_host: \"{from}\", maintenance: true}}).map(|v| v.outcome)"
            ),
        ],
    );
    assert_eq!(outcomes, serde_json::json!(["moved", "moved"]));
    assert_eq!(on_host(&sim, back), Vec::<String>::new());
    assert!(in_maintenance(&sim, back));
}

#[test]
fn a_passthrough_vm_is_refused_unless_cold_and_comes_back_powered_on() {
    let sim = Sim::vcenter();
    let from = "DC0_C0_H0";
    let to = "DC0_C0_H1";
    put(&sim, VM0, from);
    put(&sim, VM1, from);
    // VM0 runs with a dynamic DirectPath A30, which both hosts have.
    for host in [from, to] {
        sim.ceso()
            .run(&["pci", "enable", A30, "--host", host, "--yes"])
            .ok();
    }
    sim.ceso().run(&["vm", "stop", "--force", VM0]).ok();
    sim.ceso()
        .run(&["vm", "attach-pci", VM0, "10de:20b7", "--dynamic"])
        .ok();
    sim.ceso().run(&["vm", "start", VM0]).ok();

    // Without --cold: VM1 moves, VM0 is refused with its reason, the host stays out of
    // maintenance mode, and the exit code says "partial".
    sim.ceso()
        .run(&[
            "host",
            "evacuate",
            from,
            "--to-host",
            to,
            "--maintenance",
            "--yes",
        ])
        .fails_with(exit::PARTIAL)
        .stderr_has(&format!("{VM0} cannot be vMotioned to {to}"))
        .stderr_has("FAIL passthrough:")
        .stderr_has("blocks vMotion")
        .stderr_has("--cold")
        .stderr_has("did not enter maintenance mode")
        .stderr_has(&format!("1 of 2 VMs moved; left: {VM0}"));
    assert_eq!(host_of(&sim, VM1), to);
    assert_eq!(on_host(&sim, from), vec![VM0.to_string()]);
    assert!(!in_maintenance(&sim, from));

    // A script's refusal is a fault that carries the per-VM maps.
    let caught = sim
        .ceso()
        .run(&[
            "-c",
            &format!(
                "let m = \"moved\"; try {{ host::evacuate(\"{from}\", #{{to_host: \"{to}\"}}); }} catch (e) {{ m = `${{e.fault}} ${{e.results[0].outcome}}`; }} m"
            ),
        ])
        .ok();
    assert_eq!(caught.stdout.trim(), "Refused refused");

    // The cold plan, then the cold move: shut down, relocated, powered on on the target
    // with a device of the target's.
    sim.ceso()
        .run(&[
            "host",
            "evacuate",
            from,
            "--to-host",
            to,
            "--cold",
            "--dry-run",
        ])
        .ok()
        .stdout_has(&format!(
            "would move {VM0}: {from} → {to}, cold: shut down, move, power on"
        ));
    assert_eq!(host_of(&sim, VM0), from);
    sim.ceso()
        .run(&[
            "host",
            "evacuate",
            from,
            "--to-host",
            to,
            "--cold",
            "--maintenance",
            "--yes",
        ])
        .ok()
        .stderr_has(&format!("moved {VM0}: {from} → {to}, cold"));
    let now = vms(&sim);
    let vm0 = now.iter().find(|v| v.0 == VM0).expect("VM0");
    assert_eq!((vm0.1.as_str(), vm0.2.as_str()), (to, "poweredOn"));
    assert!(in_maintenance(&sim, from));
    let a30 = json(&sim, &["pci", "list", "--host", to]);
    let device = a30
        .as_array()
        .and_then(|a| a.iter().find(|d| d["address"] == A30))
        .expect("the A30 of the target");
    assert_eq!(device["assigned_to"], serde_json::json!([VM0]));
}

#[test]
fn every_vm_moved_but_maintenance_failed_is_a_partial_failure() {
    // The host's EnterMaintenanceMode_Task is answered with a SystemError fault.
    let sim = Sim::start(&["-fail-method", "EnterMaintenanceMode_Task:1"]);
    let from = "DC0_C0_H0";
    let to = "DC0_C0_H2";
    put(&sim, VM0, from);
    put(&sim, VM1, from);

    // The VMs moved (a change), maintenance mode was not entered: 7, not 5.
    sim.ceso()
        .run(&[
            "host",
            "evacuate",
            from,
            "--to-host",
            to,
            "--maintenance",
            "--yes",
        ])
        .fails_with(exit::PARTIAL)
        .stderr_has(&format!(
            "evacuation of {from} incomplete: every VM moved (2), but {from} did not enter maintenance mode"
        ))
        .stderr_has("injected by -fail-method");
    assert_eq!(on_host(&sim, from), Vec::<String>::new());
    assert_eq!(host_of(&sim, VM0), to);
    assert_eq!(host_of(&sim, VM1), to);
    assert!(!in_maintenance(&sim, from));

    // Run again (nothing left to move): the host enters maintenance mode.
    sim.ceso()
        .run(&[
            "host",
            "evacuate",
            from,
            "--to-host",
            to,
            "--maintenance",
            "--yes",
        ])
        .ok();
    assert!(in_maintenance(&sim, from));
}
