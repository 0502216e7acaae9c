//! `ceso task list|cancel`, `ceso events` and the script functions `tasks()`,
//! `events()`: tasks and events made over raw SOAP, shown by ceso.

use std::io::{BufRead, BufReader};
use std::sync::mpsc;
use std::time::Duration;

use crate::sim::{Sim, Soap, exit};

const VM: &str = "DC0_H0_VM0";

fn vm_id(sim: &Sim) -> String {
    let info = sim.ceso().run(&["vm", "info", VM, "--json"]).ok().json();
    info["id"].as_str().expect("vm id").to_string()
}

/// Power the VM off or on over raw SOAP; the task's id.
fn power(soap: &Soap, vm: &str, on: bool) -> String {
    let method = if on {
        "PowerOnVM_Task"
    } else {
        "PowerOffVM_Task"
    };
    let answer = soap.call(&format!(
        r#"<{method} xmlns="urn:vim25"><_this type="VirtualMachine">{vm}</_this></{method}>"#
    ));
    let start = answer.find("task-").expect("a task in the answer");
    answer[start..]
        .split('<')
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Lines of a running ceso on a channel, read as they come.
fn lines_of(child: &mut std::process::Child) -> mpsc::Receiver<String> {
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Power-cycle the VM until a line containing `needle` comes from `--follow`: the
/// follower may not be reading yet when the first change is made.
fn follow_until(
    soap: &Soap,
    vm: &str,
    rx: &mpsc::Receiver<String>,
    wanted: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    for round in 0..40 {
        power(soap, vm, round % 2 == 1);
        while let Ok(line) = rx.recv_timeout(Duration::from_millis(400)) {
            let value: serde_json::Value = serde_json::from_str(&line).expect("a JSON line");
            if wanted(&value) {
                return value;
            }
        }
    }
    panic!("--follow never printed what was wanted");
}

#[test]
fn tasks_are_listed_and_finished_ones_not_cancelled() {
    let sim = Sim::vcenter();
    let soap = Soap::login(&sim);
    let vm = vm_id(&sim);
    let task = power(&soap, &vm, false);

    let found = recent_task(&sim, &task);
    assert_eq!(found["description_id"], "VirtualMachine.powerOff");
    assert_eq!(found["entity"], VM);
    assert_eq!(found["entity_type"], "VirtualMachine");
    assert_eq!(found["state"], "success");
    assert!(found["completed"].is_string());
    // Without --recent only queued and running ones: none here.
    let running = sim.ceso().run(&["task", "list", "--json"]).ok().json();
    assert_eq!(running, serde_json::json!([]));

    sim.ceso()
        .run(&["task", "cancel", &task, "--yes"])
        .fails_with(exit::REFUSED)
        .stderr_has("already finished");
    sim.ceso()
        .run(&["task", "cancel", "task-999999", "--yes"])
        .fails_with(exit::NOT_FOUND)
        .stderr_has("ceso task list --recent");

    let out = sim
        .ceso()
        .run(&["--json", "-c", "tasks(#{recent: true}).map(|t| t.id)"])
        .ok()
        .json();
    assert!(out.as_array().unwrap().contains(&task.as_str().into()));

    // --follow prints tasks as they come, one JSON object a line.
    let mut child = sim
        .ceso()
        .spawn(&["task", "list", "--follow", "--for", "60s", "--json"]);
    let rx = lines_of(&mut child);
    let task = follow_until(&soap, &vm, &rx, |t| {
        t["description_id"]
            .as_str()
            .is_some_and(|d| d.starts_with("VirtualMachine.power"))
    });
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(task["entity"], VM);
}

#[test]
fn events_by_object_type_and_time_and_followed() {
    let sim = Sim::vcenter();
    let soap = Soap::login(&sim);
    let vm = vm_id(&sim);
    power(&soap, &vm, false);

    let off = sim
        .ceso()
        .run(&[
            "events",
            VM,
            "--type",
            "VmPoweredOffEvent",
            "--since",
            "1h",
            "--json",
        ])
        .ok()
        .json();
    let off = off.as_array().unwrap();
    assert_eq!(off.len(), 1, "{off:?}");
    assert_eq!(off[0]["type"], "VmPoweredOffEvent");
    assert_eq!(off[0]["object"], VM);
    assert_eq!(off[0]["user"], "user");
    // The VM's whole history, oldest first, and nothing of the other VMs.
    let all = sim.ceso().run(&["events", VM, "--json"]).ok().json();
    let all = all.as_array().unwrap();
    assert!(all.len() > 1);
    assert!(all.iter().all(|e| e["object"] == VM));
    assert!(
        all.windows(2)
            .all(|w| w[0]["key"].as_i64() < w[1]["key"].as_i64())
    );
    assert_eq!(all.last().unwrap()["type"], "VmPoweredOffEvent");
    let limited = sim
        .ceso()
        .run(&["events", "--limit", "2", "--json"])
        .ok()
        .json();
    assert_eq!(limited.as_array().unwrap().len(), 2);

    sim.ceso()
        .run(&["events", "NoSuchVm"])
        .fails_with(exit::NOT_FOUND);
    // A misspelt type would match nothing (an empty history reads as "nothing
    // happened"): refused, with the type meant. A base type covers its subtypes.
    sim.ceso()
        .run(&["events", VM, "--type", "VmPowerdOffEvent"])
        .fails_with(exit::NOT_FOUND)
        .stderr_has("VmPoweredOffEvent");
    let of_vm = sim
        .ceso()
        .run(&["events", VM, "--type", "VmEvent", "--json"])
        .ok()
        .json();
    let of_vm = of_vm.as_array().unwrap();
    assert!(
        of_vm.iter().any(|e| e["type"] == "VmPoweredOffEvent"),
        "{of_vm:?}"
    );
    sim.ceso()
        .run(&["events", VM, "--since", "yesterday"])
        .fails_with(exit::USAGE)
        .stderr_has("1h");

    let out = sim
        .ceso()
        .run(&[
            "--json",
            "-c",
            &format!(
                r#"events("{VM}", #{{since: "1h", types: ["VmPoweredOffEvent"]}}).map(|e| e.type)"#
            ),
        ])
        .ok()
        .json();
    assert_eq!(out, serde_json::json!(["VmPoweredOffEvent"]));

    // --follow streams events made after it started (after the history it prints first).
    let before = sim
        .ceso()
        .run(&["events", VM, "--type", "VmPoweredOnEvent", "--json"])
        .ok()
        .json();
    let last_key = before
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["key"].as_i64())
        .max()
        .unwrap_or(0);
    let mut child = sim.ceso().spawn(&[
        "events",
        VM,
        "--type",
        "VmPoweredOnEvent",
        "--follow",
        "--for",
        "60s",
        "--json",
    ]);
    let rx = lines_of(&mut child);
    let event = follow_until(&soap, &vm, &rx, |e| {
        e["key"].as_i64().is_some_and(|k| k > last_key)
    });
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(event["object"], VM);
    assert_eq!(event["type"], "VmPoweredOnEvent");
}

/// One task of `task list --recent --json`, by id.
fn recent_task(sim: &Sim, id: &str) -> serde_json::Value {
    let all = sim
        .ceso()
        .run(&["task", "list", "--recent", "--json"])
        .ok()
        .json();
    let found = all.as_array().unwrap().iter().find(|t| t["id"] == id);
    found
        .cloned()
        .unwrap_or_else(|| panic!("{id} not in {all}"))
}

/// Ask `task list` until a task `wanted` appears (the simulator's long tasks move in
/// 20 steps; a bounded wait, not a sleep for timing).
fn task_until(sim: &Sim, wanted: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let list = sim.ceso().run(&["task", "list", "--json"]).ok().json();
        if let Some(t) = list.as_array().unwrap().iter().find(|t| wanted(t)) {
            return t.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no such task in {list}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_running_clone_is_cancelled_and_leaves_no_vm() {
    // Clones take 20 s here (progress every second), power-offs too but cannot be cancelled.
    let sim = Sim::start(&["-task-time", "CloneVM_Task:20000,PowerOffVM_Task:20000"]);
    let started = std::time::Instant::now();
    let clone = sim.ceso().spawn(&["vm", "clone", VM, "half-made", "--yes"]);

    // Listed while it runs, with the server's progress.
    let task = task_until(&sim, |t| {
        t["description_id"] == "VirtualMachine.clone" && t["progress"].as_i64() > Some(0)
    });
    assert_eq!(task["state"], "running");
    assert_eq!(task["entity"], VM);
    assert_eq!(task["cancelable"], true);
    let id = task["id"].as_str().unwrap().to_string();
    sim.ceso()
        .run(&["task", "list"])
        .ok()
        .stdout_has(&id)
        .stdout_has("running ");

    sim.ceso().run(&["task", "cancel", &id, "--yes"]).ok();

    // The waiting clone reports the cancel as the server's fault, long before the 20 s.
    let run = crate::sim::finish(clone, &["vm", "clone"], started, Duration::from_secs(60));
    assert_eq!(run.code, exit::SERVER_FAULT, "{run:?}");
    run.stderr_has("RequestCanceled")
        .stderr_has("cancelled on the server");
    assert!(run.elapsed < Duration::from_secs(19), "{run:?}");
    // Nothing half-made.
    let vms = sim
        .ceso()
        .run(&["vm", "list", "half-made", "--json"])
        .ok()
        .json();
    assert_eq!(vms, serde_json::json!([]));
    let done = recent_task(&sim, &id);
    let all = sim
        .ceso()
        .run(&["task", "list", "--recent", "--json"])
        .ok()
        .json();
    assert_eq!(done["state"], "error");
    assert_eq!(done["cancelled"], true);
    // Only the one clone task: the simulator's work at completion is not a second task.
    assert_eq!(
        all.as_array()
            .unwrap()
            .iter()
            .filter(|t| t["description_id"] == "VirtualMachine.clone")
            .count(),
        1
    );

    // Cancelled already: refused (exit 6), by ceso and by the server (InvalidState).
    sim.ceso()
        .run(&["task", "cancel", &id, "--yes"])
        .fails_with(exit::REFUSED)
        .stderr_has("already finished");
    let soap = Soap::login(&sim);
    let cancel = |task: &str| {
        soap.call(&format!(
            r#"<CancelTask xmlns="urn:vim25"><_this type="Task">{task}</_this></CancelTask>"#
        ))
    };
    assert!(cancel(&id).contains("InvalidState"));

    // A running task the server does not let anyone cancel: refused, exit 6, and the
    // server itself answers NotSupported.
    let off = power(&soap, &vm_id(&sim), false);
    let running = task_until(&sim, |t| t["id"] == off.as_str());
    assert_eq!(running["cancelable"], false);
    sim.ceso()
        .run(&["task", "cancel", &off, "--yes"])
        .fails_with(exit::REFUSED)
        .stderr_has("cannot be cancelled");
    assert!(cancel(&off).contains("NotSupported"));

    // On a terminal, a waiting command shows the server's own progress.
    let mut ceso = sim.ceso();
    ceso.env("TERM", "xterm");
    let mut command = ceso.terminal_command();
    command.args(["vm", "clone", VM, "shown", "--yes"]);
    let mut term = expectrl::Session::spawn(command).expect("a pty");
    term.set_expect_timeout(Some(Duration::from_secs(30)));
    expectrl::Expect::expect(
        &mut term,
        expectrl::Regex(r"CloneVM_Task DC0_H0_VM0 \([1-9][0-9]?%\)"),
    )
    .expect("the task's percent on the progress line");
    let task = task_until(&sim, |t| t["description_id"] == "VirtualMachine.clone");
    sim.ceso()
        .run(&["task", "cancel", task["id"].as_str().unwrap(), "--yes"])
        .ok();
    expectrl::Expect::expect(&mut term, "canceled").expect("the cancel reported");
}
