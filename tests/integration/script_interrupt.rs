//! Ctrl-C (SIGINT) stops a script quickly, busy or waiting on the network, exits 130 and
//! says what it left under way.

use std::io::{BufRead, BufReader, Read};
use std::process::Child;
use std::time::{Duration, Instant};

use crate::sim::Sim;

/// Read stdout until a line equal to `wanted` (the script is then where we want it).
fn wait_for_line(child: &mut Child, wanted: &str) -> BufReader<std::process::ChildStdout> {
    let stdout = child.stdout.take().expect("stdout");
    let mut reader = BufReader::new(stdout);
    let mut line = String::new();
    loop {
        line.clear();
        let n = reader.read_line(&mut line).expect("read stdout");
        assert!(n > 0, "ceso ended before printing {wanted:?}");
        if line.trim_end() == wanted {
            return reader;
        }
    }
}

fn interrupt(child: &Child) {
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
}

/// Wait for the exit, failing past `limit`; (exit code, how long it took, stderr).
fn finish(mut child: Child, limit: Duration) -> (i32, Duration, String) {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            let mut stderr = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut stderr);
            }
            return (status.code().unwrap_or(-1), started.elapsed(), stderr);
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("ceso did not stop within {limit:?} of SIGINT");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn ctrl_c_stops_a_busy_loop() {
    let sim = Sim::vcenter();
    let mut child = sim
        .ceso()
        // "started" comes from inside the loop, so the interrupt lands in it (line 2).
        .spawn(&[
            "-c",
            "let i = 0;\nloop { i += 1; if i == 1000 { print(\"started\"); } }",
        ]);
    let _stdout = wait_for_line(&mut child, "started");
    interrupt(&child);
    let (code, took, stderr) = finish(child, Duration::from_secs(5));
    assert_eq!(code, 130, "{stderr}");
    assert!(
        stderr.contains("interrupted") && stderr.contains("<command>:2:"),
        "{stderr}"
    );
    assert!(stderr.contains("no change was under way"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    eprintln!("busy loop stopped {took:?} after SIGINT");
}

/// A TCP relay to the simulator that reports when a request containing `marker` has
/// been sent: the test then knows the script is waiting on the network.
fn relay(upstream: String, marker: &'static str) -> (String, std::sync::mpsc::Receiver<()>) {
    use std::io::Write;
    use std::net::{TcpListener, TcpStream};
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind relay");
    let port = listener.local_addr().expect("addr").port();
    let (seen, seen_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = TcpStream::connect(&upstream) else {
                return;
            };
            let (mut c_read, mut s_write) = (
                client.try_clone().expect("clone"),
                server.try_clone().expect("clone"),
            );
            let (mut s_read, mut c_write) = (server, client);
            let seen = seen.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 65536];
                while let Ok(n) = c_read.read(&mut buf) {
                    if n == 0 || s_write.write_all(&buf[..n]).is_err() {
                        break;
                    }
                    if String::from_utf8_lossy(&buf[..n]).contains(marker) {
                        let _ = seen.send(());
                    }
                }
            });
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut s_read, &mut c_write);
            });
        }
    });
    (format!("http://127.0.0.1:{port}/sdk"), seen_rx)
}

#[test]
fn ctrl_c_stops_a_call_waiting_on_the_network_and_says_what_was_under_way() {
    // The power-off call takes a minute to answer: the script is blocked on the network.
    let sim = Sim::start(&["-method-delay", "PowerOffVM_Task:60000"]);
    let (url, sent) = relay(sim.authority(), "PowerOffVM_Task");
    let mut ceso = sim.ceso();
    ceso.env("CESO_URL", &url);
    let mut child = ceso.spawn(&[
        "-c",
        "let v = vm(\"DC0_H0_VM0\");\nprint(\"calling\");\nv.power_off();\nprint(\"not reached\");",
    ]);
    let mut stdout = wait_for_line(&mut child, "calling");
    sent.recv_timeout(Duration::from_secs(30))
        .expect("the power-off request reached the server");
    interrupt(&child);
    let (code, took, stderr) = finish(child, Duration::from_secs(10));
    assert_eq!(code, 130, "{stderr}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    let mut rest = String::new();
    let _ = stdout.read_to_string(&mut rest);
    assert!(!rest.contains("not reached"));
    assert!(
        stderr.contains("interrupted") && stderr.contains("<command>:3:3"),
        "{stderr}"
    );
    assert!(
        stderr.contains("DC0_H0_VM0: Power off DC0_H0_VM0"),
        "{stderr}"
    );
    assert!(stderr.contains("the request was sent"), "{stderr}");
}

#[test]
fn ctrl_c_interrupts_sleep() {
    let sim = Sim::vcenter();
    let mut child = sim
        .ceso()
        .spawn(&["-c", "print(\"sleeping\");\nsleep(600);"]);
    let _stdout = wait_for_line(&mut child, "sleeping");
    interrupt(&child);
    let (code, _, stderr) = finish(child, Duration::from_secs(5));
    assert_eq!(code, 130, "{stderr}");
}
