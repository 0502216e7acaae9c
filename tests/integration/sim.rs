//! The test bed: a vcsim process per test (tests/vcsim, built by scripts/vcsim), and the
#![allow(dead_code)] // shared by every test module; not each uses every helper
//! real `ceso` binary run against it. A test that needs the simulator builds it or fails
//! saying why; nothing is skipped.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Build the simulator once per test run (scripts/vcsim installs Go and govmomi when missing).
pub fn simulator_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let output = Command::new(repo().join("scripts/vcsim"))
            .arg("build")
            .output()
            .unwrap_or_else(|e| panic!("cannot run scripts/vcsim build: {e}"));
        assert!(
            output.status.success(),
            "scripts/vcsim build failed; the simulator is required for these tests:\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let stdout = String::from_utf8_lossy(&output.stdout);
        let path = PathBuf::from(stdout.lines().last().unwrap_or_default().trim());
        assert!(
            path.is_file(),
            "scripts/vcsim build did not print the binary path: {stdout}"
        );
        path
    })
}

/// A running simulator, stopped when dropped.
pub struct Sim {
    child: Child,
    pub url: String,
    pub thumbprint: Option<String>,
    pub cert: Option<PathBuf>,
    pub dir: PathBuf,
    /// Every endpoint's URL (`-endpoints N`; else just `url`).
    pub urls: Vec<String>,
}

impl Sim {
    /// A vCenter model (DC0 with a cluster of 3 hosts and a standalone host).
    pub fn vcenter() -> Sim {
        Sim::start(&[])
    }

    /// A standalone ESXi host.
    pub fn esx() -> Sim {
        Sim::start(&["-esx"])
    }

    pub fn start(args: &[&str]) -> Sim {
        let mut child = Command::new(simulator_binary())
            .args(["-l", "127.0.0.1:0", "-stdin-exit"])
            .args(args)
            // The simulator sweeps temp dirs of simulators it thinks are dead; in a shared
            // /tmp that can include live ones of other sandboxes (other PID namespaces).
            .env("TMPDIR", env!("CARGO_TARGET_TMPDIR"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the simulator: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let mut seen = Vec::new();
            for line in lines.by_ref() {
                let Ok(line) = line else { break };
                let ready = line == "CESO_VCSIM_READY=1";
                seen.push(line);
                if ready {
                    break;
                }
            }
            let _ = tx.send(seen);
            for _ in lines {} // keep draining so the simulator never blocks on stdout
        });
        let lines = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| {
                panic!("the simulator did not print READY within 60s (args {args:?})")
            });
        let get = |key: &str| {
            lines
                .iter()
                .find_map(|l| l.strip_prefix(&format!("{key}=")).map(str::to_string))
        };
        let url =
            get("CESO_VCSIM_URL").unwrap_or_else(|| panic!("simulator printed no URL: {lines:?}"));
        let urls = get("CESO_VCSIM_URLS")
            .map(|l| l.split(',').map(str::to_string).collect())
            .unwrap_or_else(|| vec![url.clone()]);
        Sim {
            url,
            urls,
            thumbprint: get("CESO_VCSIM_THUMBPRINT_SHA256"),
            cert: get("CESO_VCSIM_CERT").map(PathBuf::from),
            dir: get("CESO_VCSIM_DIR").map(PathBuf::from).unwrap_or_default(),
            child,
        }
    }

    /// `host:port` of the simulator.
    pub fn authority(&self) -> String {
        self.url
            .split("://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_default()
            .to_string()
    }

    /// POST a JSON body to one of the extensions' test-only controls (`/vcsim/demand`,
    /// `/vcsim/guest`); it must answer 204.
    pub fn control(&self, path: &str, body: &serde_json::Value) {
        use std::io::{Read, Write};
        let body = body.to_string();
        let mut s =
            std::net::TcpStream::connect(self.authority()).expect("connect to the simulator");
        write!(
            s,
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.authority(),
            body.len()
        )
        .expect("send");
        let mut answer = String::new();
        s.read_to_string(&mut answer).expect("read");
        assert!(
            answer.starts_with("HTTP/1.1 204"),
            "{path} refused: {answer}"
        );
    }

    /// PUT a file of DC0's LocalDS_0 over /folder (HTTP), as a guest writing its disk
    /// would change it.
    pub fn put_file(&self, path: &str, body: &[u8]) {
        self.put_file_in("DC0", path, body);
    }

    /// PUT a file of a datacenter's LocalDS_0 (`ha-datacenter` on ESXi).
    pub fn put_file_in(&self, datacenter: &str, path: &str, body: &[u8]) {
        use std::io::{Read, Write};
        let mut stream =
            std::net::TcpStream::connect(self.authority()).expect("connect to the simulator");
        let head = format!(
            "PUT /folder/{path}?dcPath={datacenter}&dsName=LocalDS_0 HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
            self.authority(),
            body.len()
        );
        stream.write_all(head.as_bytes()).expect("send");
        stream.write_all(body).expect("send");
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        assert!(answer.starts_with("HTTP/1.1 2"), "PUT {path}: {answer}");
    }

    /// The local file behind a datastore path of the simulator (`<vm dir>/<file>`).
    pub fn local_file(&self, path: &str) -> PathBuf {
        let found = std::fs::read_dir(&self.dir)
            .expect("simulator dir")
            .filter_map(Result::ok)
            .map(|e| e.path().join(path))
            .find(|p| p.exists());
        found.unwrap_or_else(|| panic!("{path} not found under {}", self.dir.display()))
    }

    /// A ceso command aimed at this simulator through CESO_URL.
    pub fn ceso(&self) -> Ceso {
        let mut c = Ceso::new();
        c.env("CESO_URL", &self.url)
            .env("CESO_USERNAME", "user")
            .env("CESO_PASSWORD", "pass");
        c
    }
}

impl Drop for Sim {
    /// Closing stdin makes the simulator (-stdin-exit) remove its temp dir and exit; it
    /// is killed only if it has not gone within a few seconds.
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The real binary with an isolated HOME/XDG and no connection variables inherited.
pub struct Ceso {
    cmd: Command,
    pub home: tempfile::TempDir,
}

impl Ceso {
    pub fn new() -> Ceso {
        let home = tempfile::tempdir().expect("temp home");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ceso"));
        for (key, _) in std::env::vars() {
            if key.starts_with("CESO_") || key.starts_with("GOVC_") {
                cmd.env_remove(key);
            }
        }
        cmd.env("HOME", home.path())
            .env("XDG_CONFIG_HOME", home.path().join("config"))
            .env("XDG_DATA_HOME", home.path().join("data"))
            .env("XDG_CACHE_HOME", home.path().join("cache"))
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        Ceso { cmd, home }
    }

    pub fn env(&mut self, key: &str, value: impl AsRef<std::ffi::OsStr>) -> &mut Self {
        self.cmd.env(key, value);
        self
    }

    pub fn env_remove(&mut self, key: &str) -> &mut Self {
        self.cmd.env_remove(key);
        self
    }

    /// Write a config file in the isolated home and point --config at it.
    pub fn config(&mut self, yaml: &str) -> PathBuf {
        let path = self.home.path().join("config.yaml");
        std::fs::write(&path, yaml).expect("write config");
        self.cmd.env("CESO_CONFIG", &path);
        path
    }

    pub fn run(&mut self, args: &[&str]) -> Run {
        self.run_with_timeout(args, Duration::from_secs(60))
    }

    /// Start without waiting (stdout and stderr piped), for tests that interact with
    /// the running process (signals, a terminal).
    pub fn spawn(&mut self, args: &[&str]) -> Child {
        self.cmd
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ceso")
    }

    /// The command as configured (environment, isolated home), to run another way.
    pub fn command(&mut self) -> &mut Command {
        &mut self.cmd
    }

    /// The same program and environment without the harness's stdin (/dev/null), for
    /// a pseudo-terminal that must be its terminal.
    pub fn terminal_command(&mut self) -> Command {
        let mut command = Command::new(self.cmd.get_program());
        for (key, value) in self.cmd.get_envs() {
            match value {
                Some(value) => command.env(key, value),
                None => command.env_remove(key),
            };
        }
        command
    }

    /// Run to completion; a hang past `limit` fails the test.
    pub fn run_with_timeout(&mut self, args: &[&str], limit: Duration) -> Run {
        let started = Instant::now();
        let child = self
            .cmd
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ceso");
        finish(child, args, started, limit)
    }
}

/// Collect a spawned command's output and wait for it; a hang past `limit` (counted
/// from `started`) fails the test.
pub fn finish(mut child: Child, args: &[&str], started: Instant, limit: Duration) -> Run {
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut s);
        s
    });
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("ceso {args:?} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Run {
        code: status.code().unwrap_or(-1),
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
        elapsed: started.elapsed(),
        args: args.iter().map(|a| a.to_string()).collect(),
    }
}

#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
    pub args: Vec<String>,
}

impl Run {
    #[track_caller]
    pub fn ok(self) -> Run {
        assert_eq!(
            self.code, 0,
            "ceso {:?} failed:\nstdout: {}\nstderr: {}",
            self.args, self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    pub fn fails_with(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "ceso {:?}: expected exit {code}:\nstdout: {}\nstderr: {}",
            self.args, self.stdout, self.stderr
        );
        assert!(
            !self.stderr.contains("panicked"),
            "ceso panicked: {}",
            self.stderr
        );
        self
    }

    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "ceso {:?}: stdout is not JSON ({e}):\n{}",
                self.args, self.stdout
            )
        })
    }

    /// stderr contains `needle`, ignoring how miette wrapped and framed the lines.
    /// Exact containment: stdout is data, so nothing is folded (unlike `stderr_has`).
    #[track_caller]
    pub fn stdout_has(&self, needle: &str) -> &Run {
        assert!(
            self.stdout.contains(needle),
            "ceso {:?}: stdout lacks {needle:?}:\n{}",
            self.args,
            self.stdout
        );
        self
    }

    #[track_caller]
    pub fn stderr_has(&self, needle: &str) -> &Run {
        let flat = |text: &str| {
            text.replace(['│', '×'], " ")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert!(
            flat(&self.stderr).contains(&flat(needle)),
            "ceso {:?}: stderr lacks {needle:?}:\n{}",
            self.args,
            self.stderr
        );
        self
    }
}

/// Exit codes (mirrors src/cli/report.rs).
pub mod exit {
    /// Any other failure (an I/O error, a check that did not hold).
    pub const FAILURE: i32 = 1;
    pub const USAGE: i32 = 2;
    pub const CONNECTION: i32 = 3;
    pub const NOT_FOUND: i32 = 4;
    pub const SERVER_FAULT: i32 = 5;
    pub const REFUSED: i32 = 6;
    /// Some endpoints answered, others did not.
    pub const PARTIAL: i32 = 7;
}

/// Output lines without trailing spaces (tables pad their last column).
pub fn lines(text: &str) -> Vec<&str> {
    text.lines().map(str::trim_end).collect()
}

/// Raw SOAP to a simulator, logged in with curl's cookie jar: for test set-up that ceso
/// has no command for.
pub struct Soap<'a> {
    sim: &'a Sim,
    dir: tempfile::TempDir,
}

impl<'a> Soap<'a> {
    pub fn login(sim: &'a Sim) -> Soap<'a> {
        let soap = Soap {
            sim,
            dir: tempfile::tempdir().expect("temp dir"),
        };
        // vCenter's session manager, else ESXi's.
        let login = |manager: &str| {
            soap.call(&format!(
                r#"<Login xmlns="urn:vim25"><_this type="SessionManager">{manager}</_this><userName>user</userName><password>pass</password></Login>"#
            ))
        };
        let mut answer = login("SessionManager");
        if answer.contains("ManagedObjectNotFound") {
            answer = login("ha-sessionmgr");
        }
        assert!(answer.contains("LoginResponse"), "login: {answer}");
        soap
    }

    /// Start a task method (`body`) and wait for its end: Ok(the task's info) on success,
    /// Err(its info or the call's fault) otherwise.
    pub fn run_task(&self, body: &str) -> Result<String, String> {
        let answer = self.call(body);
        let Some(task) = answer
            .split("<returnval type=\"Task\">")
            .nth(1)
            .and_then(|r| r.split('<').next())
        else {
            return Err(answer);
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let info = self.property("Task", task, "info");
            if info.contains("<state>success</state>") {
                return Ok(info);
            }
            if info.contains("<state>error</state>") || !info.contains("<state>") {
                return Err(info);
            }
            assert!(
                std::time::Instant::now() < deadline,
                "task {task} did not end: {info}"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// RetrievePropertiesEx of one property of one object (ESXi's collector, else
    /// vCenter's).
    pub fn property(&self, kind: &str, id: &str, path: &str) -> String {
        let ask = |collector: &str| {
            self.call(&format!(
                r#"<RetrievePropertiesEx xmlns="urn:vim25"><_this type="PropertyCollector">{collector}</_this><specSet><propSet><type>{kind}</type><pathSet>{path}</pathSet></propSet><objectSet><obj type="{kind}">{id}</obj></objectSet></specSet><options/></RetrievePropertiesEx>"#
            ))
        };
        let answer = ask("ha-property-collector");
        if answer.contains("ManagedObjectNotFound") && answer.contains("ha-property-collector") {
            return ask("propertyCollector");
        }
        answer
    }

    /// The response body of one call (faults included: callers assert on it).
    pub fn call(&self, body: &str) -> String {
        let jar = self.dir.path().join("jar");
        let envelope = format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>"#
        );
        let out = Command::new("curl")
            .args(["-s", "-b"])
            .arg(&jar)
            .arg("-c")
            .arg(&jar)
            .args([
                "-H",
                "Content-Type: text/xml",
                "-H",
                "SOAPAction: urn:vim25/6.5",
                "--data-binary",
            ])
            .arg(envelope)
            .arg(&self.sim.url)
            .output()
            .expect("curl is needed for raw SOAP test set-up");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}
