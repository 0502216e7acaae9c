//! `scripts/demo`: it says what it is building and lets cargo show its progress (a
//! stand-in `cargo` records how it was called and provides the binary it would build),
//! and Ctrl-C in the shell it opens leaves its simulator running.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::sim::repo;

/// `scripts/demo` with a stand-in `cargo` whose "release build" is `ceso` (a shell
/// script), logging cargo's arguments to `dir/cargo-calls`.
fn demo(dir: &Path, ceso: &str) -> Command {
    let bin = dir.join("bin");
    std::fs::create_dir(&bin).unwrap();
    let target = dir.join("target");
    let release = target.join("release");
    std::fs::create_dir_all(&release).unwrap();
    // The simulator the suite already built (its build stamp matches): the demo's
    // `scripts/vcsim build` finds it instead of building another.
    let built = crate::sim::simulator_binary()
        .parent()
        .expect("target/vcsim");
    std::os::unix::fs::symlink(built, target.join("vcsim")).unwrap();
    let fake = dir.join("fake-ceso");
    std::fs::write(&fake, ceso).unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let cargo = format!(
        "#!/bin/sh\necho \"$@\" >> {calls}\necho '   Compiling ceso' >&2\ncp {fake} {release}/ceso\n",
        calls = dir.join("cargo-calls").display(),
        fake = fake.display(),
        release = release.display()
    );
    let stub = bin.join("cargo");
    std::fs::write(&stub, cargo).unwrap();
    std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut c = Command::new(repo().join("scripts/demo"));
    c.env("PATH", path)
        .env("CARGO_TARGET_DIR", &target)
        .env("TMPDIR", env!("CARGO_TARGET_TMPDIR"));
    // As a terminal's foreground job has them: a suite started in the background of a
    // non-interactive shell inherits SIGINT ignored, and bash cannot trap an ignored signal.
    // SAFETY: signal(2) in the child between fork and exec, async-signal-safe.
    unsafe {
        c.pre_exec(|| {
            libc::signal(libc::SIGINT, libc::SIG_DFL);
            libc::signal(libc::SIGQUIT, libc::SIG_DFL);
            Ok(())
        });
    }
    c
}

#[test]
fn demo_shows_the_build_and_runs_ceso_on_a_simulator() {
    let dir = tempfile::tempdir().unwrap();
    let out = demo(
        dir.path(),
        "#!/bin/sh\necho \"fake ceso $*\" \"$CESO_URL\"\n",
    )
    .arg("--version")
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("demo: building ceso"), "{stderr}");
    assert!(
        stderr.contains("Compiling ceso"),
        "cargo's progress shows: {stderr}"
    );
    let called = std::fs::read_to_string(dir.path().join("cargo-calls")).unwrap();
    assert!(called.contains("build --release"), "{called}");
    assert!(!called.contains("--quiet"), "{called}");
    assert!(
        stdout.contains("fake ceso --version http://127.0.0.1:"),
        "{stdout}"
    );
}

/// Process group and session of a process (/proc/PID/stat fields 5 and 6).
fn group_and_session(pid: i32) -> (i32, i32) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .unwrap_or_else(|e| panic!("process {pid} is gone: {e}"));
    // The command name (field 2) may hold spaces: count from its closing parenthesis.
    let rest = &stat[stat.rfind(')').expect("stat format") + 2..];
    let f: Vec<i32> = rest
        .split(' ')
        .skip(2)
        .take(2)
        .map(|x| x.parse().expect("number"))
        .collect();
    (f[0], f[1])
}

/// Stops the demo's process group if the test ends early.
struct Group(i32);

impl Drop for Group {
    fn drop(&mut self) {
        // SAFETY: kill(2) on a process group this test created.
        unsafe { libc::kill(-self.0, libc::SIGTERM) };
    }
}

#[test]
fn ctrl_c_in_the_demo_shell_leaves_the_simulator_running() {
    let dir = tempfile::tempdir().unwrap();
    // The shell stand-in survives Ctrl-C as ceso's does, says so, and ends on a line. Its
    // read times out every 100 ms: a SIGINT that lands between bash's check for pending
    // traps and its read(2) would otherwise wait in the read until a line comes (bash
    // runs the trap at the next command), and the test would hang.
    let ceso = "#!/bin/bash\ntrap 'echo interrupted' INT\necho \"ready $CESO_URL\"\nwhile :; do\n  read -r -t 0.1 line && exit 0\n  [ $? -gt 128 ] || exit 0\ndone\n";
    let mut child = demo(dir.path(), ceso)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, as a terminal gives the foreground job.
        .process_group(0)
        .spawn()
        .unwrap();
    let group = Group(child.id() as i32);
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut said = String::new();
    let sim_pid: i32 = loop {
        let mut line = String::new();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "{said}");
        said += &line;
        if let Some(rest) = line.split("(pid ").nth(1) {
            break rest
                .split(')')
                .next()
                .and_then(|p| p.parse().ok())
                .expect("the simulator's pid");
        }
    };
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let url = line
        .strip_prefix("ready http://")
        .unwrap_or_else(|| panic!("{line}{said}"))
        .trim()
        .trim_end_matches("/sdk")
        .to_string();

    // Ctrl-C: SIGINT to the foreground process group.
    // SAFETY: kill(2) on the process group this test created.
    assert_eq!(unsafe { libc::kill(-group.0, libc::SIGINT) }, 0);
    line.clear();
    stdout.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "interrupted");

    // The simulator was never in that group, and it still answers.
    let (pgid, _) = group_and_session(sim_pid);
    assert_ne!(
        pgid, group.0,
        "the simulator shares the shell's process group"
    );
    let mut s = std::net::TcpStream::connect(&url).expect("the simulator still listens");
    write!(s, "GET /about HTTP/1.0\r\nHost: {url}\r\n\r\n").unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(
        answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200"),
        "{answer}"
    );

    // The shell ends; the demo stops its simulator and exits cleanly.
    writeln!(child.stdin.take().unwrap(), "quit").unwrap();
    let status = child.wait().unwrap();
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    assert!(status.success(), "{said}{rest}");
}
