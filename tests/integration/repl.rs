//! The shell on a real pseudo-terminal: completion (functions, namespaces, inventory
//! names), multi-line entries, Ctrl-C on the line and on a running command, Ctrl-D,
//! history.

use std::time::Duration;

use expectrl::session::OsSession;
use expectrl::{ControlCode, Expect, Session};

use crate::sim::Sim;

/// rustyline enables bracketed paste each time it starts reading a line: the shell is
/// ready for input (a redraw of the prompt while typing is not).
const READY: &str = "\u{1b}[?2004h";

fn shell(sim: &Sim) -> (OsSession, tempfile::TempDir) {
    let mut ceso = sim.ceso();
    // rustyline needs a terminal type it can drive; colour off keeps the output plain.
    ceso.env("TERM", "xterm").env("NO_COLOR", "1");
    let home = ceso.home.path().to_path_buf();
    let mut command = ceso.terminal_command();
    command.current_dir(&home);
    let mut session = Session::spawn(command).expect("spawn the shell on a pty");
    session.set_expect_timeout(Some(Duration::from_secs(30)));
    session.expect(READY).expect("the first prompt");
    (
        session,
        std::mem::replace(&mut ceso.home, tempfile::tempdir().expect("tempdir")),
    )
}

#[test]
fn shell_completes_continues_lines_and_survives_ctrl_c() {
    let sim = Sim::vcenter();
    let (mut p, home) = shell(&sim);

    // A namespace member completes in place (one candidate).
    p.send("vm::cre\t").unwrap();
    p.expect("vm::create").unwrap();
    // Ctrl-C clears the line: what follows is a fresh entry.
    p.send(ControlCode::EndOfText).unwrap();
    p.expect(READY).unwrap();
    p.send_line("40 + 2").unwrap();
    p.expect("42").unwrap();
    p.expect(READY).unwrap();

    // VM names complete inside a string: the common prefix, then both candidates.
    p.send("vm(\"DC0_H0_V\t").unwrap();
    p.expect("DC0_H0_VM").unwrap();
    p.send("\t").unwrap();
    p.expect("DC0_H0_VM1").unwrap();
    p.send(ControlCode::EndOfText).unwrap();
    p.expect(READY).unwrap();

    // Paths complete inside strings that name files.
    std::fs::write(home.path().join("notes-for-the-test.txt"), "x").unwrap();
    p.send("read_file(\"./notes-f\t").unwrap();
    p.expect("notes-for-the-test.txt").unwrap();
    p.send(ControlCode::EndOfText).unwrap();
    p.expect(READY).unwrap();

    // Methods of a typed variable.
    // (Entries end with a marker value, so the test waits for the result, not for a
    // redraw of the prompt.)
    p.send_line("let v = vm(\"DC0_H0_VM0\"); \"ready\"")
        .unwrap();
    p.expect("ready\r\n").unwrap();
    p.send("v.power_s\t").unwrap();
    p.expect("v.power_state").unwrap();
    p.send_line("").unwrap();
    p.expect("poweredOn").unwrap();
    p.expect(READY).unwrap();

    // The methods of a call's result: `vm(…)` returns a Vm.
    p.send("vm(\"DC0_H0_VM0\").power_s\t").unwrap();
    p.expect("power_state").unwrap();
    p.send(ControlCode::EndOfText).unwrap();
    p.expect(READY).unwrap();

    // An unfinished statement continues on the next line, under a `...` prompt.
    p.send_line("fn twice(x) {").unwrap();
    p.expect("...").unwrap();
    p.send_line("  x * 2").unwrap();
    p.expect("...").unwrap();
    p.send_line("}").unwrap();
    p.expect(READY).unwrap();
    p.send_line("twice(21)").unwrap();
    p.expect("42").unwrap();
    p.expect(READY).unwrap();

    // Ctrl-C stops a running command and the shell carries on.
    p.send_line("print(\"spinning\"); loop { }").unwrap();
    p.expect("spinning\r\n").unwrap();
    p.send(ControlCode::EndOfText).unwrap();
    p.expect("interrupted").unwrap();
    p.expect(READY).unwrap();
    p.send_line("twice(50)").unwrap();
    p.expect("100").unwrap();
    p.expect(READY).unwrap();

    // Results of arrays of objects are tables.
    p.send_line("vms(\"DC0_H0*\")").unwrap();
    p.expect("POWER_STATE").unwrap();
    p.expect("DC0_H0_VM1").unwrap();
    p.expect(READY).unwrap();

    p.send_line("help vm::create").unwrap();
    p.expect("vm::create(name: String, options: Map)").unwrap();
    p.expect(READY).unwrap();

    // Ctrl-D leaves with 0; the history stayed in the XDG data folder.
    p.send(ControlCode::EndOfTransmission).unwrap();
    p.expect(expectrl::Eof).unwrap();
    let status = p.get_process().wait().expect("wait for the shell");
    assert_eq!(
        format!("{status:?}"),
        format!("Exited(Pid({}), 0)", p.get_process().pid())
    );
    let history =
        std::fs::read_to_string(home.path().join("data/ceso/history")).expect("history file");
    assert!(history.contains("twice(21)"), "{history}");
}

/// Everything the shell prints until the next prompt.
fn until_ready(p: &mut OsSession) -> String {
    let found = p.expect(READY).expect("the next prompt");
    String::from_utf8_lossy(found.before()).to_string()
}

#[test]
fn shell_help_errors_and_results_read_like_the_cli() {
    let sim = Sim::vcenter();
    let (mut p, _home) = shell(&sim);

    // `help` lists every function by area, one line each; `help NAME` knows each.
    p.send_line("help").unwrap();
    let help = until_ready(&mut p);
    for heading in [
        "VMs (vm)",
        "Snapshots (snapshot)",
        "Backups (backup)",
        "Utilities",
    ] {
        assert!(help.contains(heading), "{heading} missing from:\n{help}");
    }
    for name in [
        "vms",
        "vm::create",
        "snapshot::create",
        "backup::create",
        "read_file",
    ] {
        assert!(
            help.lines().any(|l| l.trim_start().starts_with(name)),
            "{name} missing from:\n{help}"
        );
    }
    // …and every name it lists has its own help.
    let listed: Vec<String> = help
        .split("Types (help TYPE")
        .next()
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.strip_prefix("  "))
        .filter(|l| !l.starts_with("methods of"))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect();
    assert!(listed.len() > 40, "{listed:?}");
    for name in &listed {
        p.send_line(format!("help {name}")).unwrap();
        let topic = until_ready(&mut p);
        assert!(!topic.contains("no help for"), "help {name}:\n{topic}");
        assert!(topic.contains(&format!("{name}(")), "help {name}:\n{topic}");
    }

    // A runtime error inside a function shows the line in its body and the call.
    // (Each line of the definition is read under its own prompt.)
    for line in ["fn find_it(name) {", "  let x = 1;", "  vm(name)", "}"] {
        p.send_line(line).unwrap();
        until_ready(&mut p);
    }
    p.send_line("find_it(\"nosuch-vm\")").unwrap();
    let error = until_ready(&mut p);
    assert!(
        error.contains("vm(name)"),
        "the body line is shown:\n{error}"
    );
    assert!(
        error.contains("find_it(\"nosuch-vm\")"),
        "the call is shown:\n{error}"
    );
    // The advice is the script function, not the CLI command.
    assert!(error.contains("vm::list()"), "{error}");
    assert!(!error.contains("ceso vm list"), "{error}");

    // vm.info() reads like `ceso vm info`: fields, then tables, no raw JSON lines.
    p.send_line("vm(\"DC0_H0_VM0\").info()").unwrap();
    let info = until_ready(&mut p);
    assert!(info.contains("power_state"), "{info}");
    assert!(
        info.contains("CAPACITY_BYTES"),
        "the disks are a table:\n{info}"
    );
    assert!(!info.contains("{\""), "no raw JSON:\n{info}");

    p.send(ControlCode::EndOfTransmission).unwrap();
    p.expect(expectrl::Eof).unwrap();
}

#[test]
fn shell_completes_the_methods_of_an_array_of_vms() {
    let sim = Sim::vcenter();
    let (mut p, _home) = shell(&sim);
    // `vms()` returns an array of VMs: TAB TAB lists what an array of VMs offers (the
    // power verbs, the array's own methods), not every global function.
    // (Ctrl-C after the listing ends the line: the next prompt marks the end.)
    p.send("vms().\t\t").unwrap();
    let first = p.expect("splice").unwrap();
    let mut listed = format!("{}splice", String::from_utf8_lossy(first.before()));
    p.send(ControlCode::EndOfText).unwrap();
    listed += &until_ready(&mut p);
    for wanted in ["start", "power_off", "filter", "sort"] {
        assert!(listed.contains(wanted), "{wanted} missing: {listed:?}");
    }
    for unrelated in ["sleep", "shell", "datastores", "evacuate"] {
        assert!(
            !listed.contains(unrelated),
            "{unrelated} listed: {listed:?}"
        );
    }
    // A prefix narrows it: `.st` is start and stop.
    p.send("vms().st\t\t").unwrap();
    p.expect("stop").unwrap();
    p.send(ControlCode::EndOfText).unwrap();
    p.expect(READY).unwrap();
}
