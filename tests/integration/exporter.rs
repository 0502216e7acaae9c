//! `ceso exporter` in front of the simulator, scraped by a real Prometheus (Debian's
//! package, installed by scripts/test): the series exist with the simulator's values,
//! the page passes `promtool check metrics`, and a stopped endpoint shows as down and
//! comes back.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::sim::{Ceso, Sim};

/// Every simulated VM uses a constant 1,500 MHz, so the answer is known.
const PINNED: &str = "VirtualMachine/cpu.usagemhz.average=1500,0,0,0";

fn tool(name: &str) -> &'static str {
    let path = match name {
        "prometheus" => "/usr/bin/prometheus",
        _ => "/usr/bin/promtool",
    };
    assert!(
        Path::new(path).is_file(),
        "{path} is missing: scripts/test installs Debian's prometheus package (apt-get install prometheus)"
    );
    path
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// A plain HTTP/1.1 GET: (status, body).
fn get(authority: &str, path: &str, accept: Option<&str>) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(authority).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    let accept = accept
        .map(|a| format!("Accept: {a}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\n{accept}Connection: close\r\n\r\n"
    )
    .ok()?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).ok()?;
    let status = raw.split(' ').nth(1)?.parse().ok()?;
    let body = raw.split_once("\r\n\r\n")?.1.to_string();
    // Prometheus answers its API chunked; the exporter with a length.
    let body = if raw
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(&body)
    } else {
        body
    };
    Some((status, body))
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// A running exporter, stopped when the test ends however it ends (a test that panics
/// or simply returns must not leave it collecting forever).
struct Running(Child);

impl std::ops::Deref for Running {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Running {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `ceso exporter` on a free port; returns the process and its address.
fn start_exporter(sim: &Sim, more: &[&str]) -> (Running, String) {
    let mut args = vec!["exporter", "--listen", "127.0.0.1:0", "--interval", "1s"];
    args.extend_from_slice(more);
    let mut child = sim.ceso().spawn(&args);
    let stderr = child.stderr.take().expect("piped stderr");
    let mut stderr = BufReader::new(stderr);
    let mut line = String::new();
    stderr.read_line(&mut line).expect("exporter's first line");
    // Keep reading, so its last words at shutdown do not meet a closed pipe.
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    let addr = line
        .split("://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap_or_else(|| panic!("the exporter did not say where it listens: {line:?}"))
        .to_string();
    (Running(child), addr)
}

struct Prometheus {
    child: Child,
    addr: String,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    fn start(target: &str) -> Prometheus {
        Prometheus::start_with(target, "")
    }

    /// `job` adds keys to the scrape job (indented by four spaces).
    fn start_with(target: &str, job: &str) -> Prometheus {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: ceso\n{job}    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .expect("write prometheus.yml");
        let addr = format!("127.0.0.1:{}", free_port());
        let child = Command::new(tool("prometheus"))
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus");
        Prometheus {
            child,
            addr,
            _dir: dir,
        }
    }

    /// The instant vector of `query` (empty until Prometheus has scraped it).
    fn query(&self, query: &str) -> Vec<Value> {
        let encoded: String = query
            .bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect();
        get(&self.addr, &format!("/api/v1/query?query={encoded}"), None)
            .and_then(|(status, body)| (status == 200).then_some(body))
            .and_then(|body| serde_json::from_str::<Value>(&body).ok())
            .and_then(|v| v["data"]["result"].as_array().cloned())
            .unwrap_or_default()
    }

    /// Poll `query` until `done` holds on its result (Prometheus scrapes every second).
    fn wait_for(&self, query: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let result = self.query(query);
            if done(&result) {
                return result;
            }
            assert!(
                Instant::now() < deadline,
                "Prometheus never answered {query} as expected; last answer {result:?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn value(sample: &Value) -> f64 {
    sample["value"][1]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

#[test]
fn prometheus_scrapes_the_simulators_values_and_sees_an_endpoint_go_and_return() {
    let sim = Sim::start(&["-perf-series", PINNED]);
    let port = sim.authority();
    let (mut exporter, addr) = start_exporter(&sim, &[]);

    // The page as Prometheus reads it, and promtool's verdict on it.
    let (status, page) = get(&addr, "/metrics", None).expect("scrape the exporter");
    assert_eq!(status, 200);
    assert!(
        page.contains("# TYPE ceso_vm_cpu_usage_hertz gauge"),
        "{page}"
    );
    let mut check = Command::new(tool("promtool"))
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    check
        .stdin
        .take()
        .expect("stdin")
        .write_all(page.as_bytes())
        .expect("feed promtool");
    let verdict = check.wait_with_output().expect("promtool");
    assert!(
        verdict.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&verdict.stdout),
        String::from_utf8_lossy(&verdict.stderr)
    );
    // The alert rules and the dashboard only name metrics the page has.
    for file in ["contrib/prometheus/alerts.yml", "contrib/grafana/ceso.json"] {
        let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(file))
            .expect("read contrib file");
        for name in metric_names(&text) {
            assert!(
                page.contains(&format!("# TYPE {name} ")),
                "{file} names {name}, which the exporter does not serve"
            );
        }
    }
    let (_, open) = get(&addr, "/metrics", Some("application/openmetrics-text")).expect("scrape");
    assert!(open.ends_with("# EOF\n"), "OpenMetrics ends with # EOF");

    // What QueryPerf gave, as `ceso stats` reads it: MHz.
    let stats = {
        sim.ceso()
            .run(&[
                "stats",
                "DC0_H0_VM0",
                "--counter",
                "cpu.usagemhz.average",
                "--since",
                "5m",
                "--json",
            ])
            .ok()
            .json()
    };
    let mhz = stats[0]["last"].as_f64().expect("a last value");
    assert_eq!(mhz, 1500.0);

    let prom = Prometheus::start(&addr);
    let vm = prom.wait_for("ceso_vm_cpu_usage_hertz{vm=\"DC0_H0_VM0\"}", |r| {
        !r.is_empty()
    });
    assert_eq!(value(&vm[0]), mhz * 1e6, "hertz from MHz: {vm:?}");
    assert_eq!(vm[0]["metric"]["host"], "DC0_H0");
    let up = prom.wait_for("ceso_endpoint_up", |r| !r.is_empty());
    assert_eq!(value(&up[0]), 1.0);
    let ds = prom.wait_for("ceso_datastore_capacity_bytes", |r| !r.is_empty());
    assert!(value(&ds[0]) > 0.0);

    // The endpoint stops: down, and the page is still served.
    drop(sim);
    prom.wait_for("ceso_endpoint_up", |r| {
        r.first().is_some_and(|s| value(s) == 0.0)
    });
    prom.wait_for("ceso_collection_errors_total", |r| {
        r.first().is_some_and(|s| value(s) >= 1.0)
    });
    // It comes back on the same address: up again, with its VMs.
    let _back = Sim::start(&["-l", &port, "-perf-series", PINNED]);
    prom.wait_for("ceso_endpoint_up", |r| {
        r.first().is_some_and(|s| value(s) == 1.0)
    });
    prom.wait_for("ceso_vm_powered_on{vm=\"DC0_H0_VM0\"}", |r| !r.is_empty());

    // SIGTERM ends the exporter cleanly.
    let _ = Command::new("kill")
        .args(["-TERM", &exporter.id().to_string()])
        .status();
    let status = exporter.wait().expect("exporter exit");
    assert!(status.success(), "exporter exit {status:?}");
}

/// Every `ceso_…` metric name in a text.
fn metric_names(text: &str) -> Vec<String> {
    let mut names: Vec<String> = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("ceso_"))
        .map(str::to_string)
        .collect();
    names.sort();
    names.dedup();
    names
}

#[test]
fn the_alert_rules_pass_promtool() {
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/prometheus/alerts.yml");
    let out = Command::new(tool("promtool"))
        .arg("check")
        .arg("rules")
        .arg(&rules)
        .output()
        .expect("run promtool");
    assert!(
        out.status.success(),
        "promtool check rules: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(metric_names(&std::fs::read_to_string(&rules).expect("rules")).len() >= 5);
}

#[test]
fn a_public_listen_address_needs_allow_remote() {
    let mut ceso = Ceso::new();
    ceso.env("CESO_URL", "http://u:p@127.0.0.1:1/sdk");
    ceso.run(&["exporter", "--listen", "0.0.0.0:9272"])
        .fails_with(crate::sim::exit::USAGE)
        .stderr_has("--allow-remote");
}

/// A self-signed certificate for 127.0.0.1 (its own CA) in `dir`: (cert, key).
fn self_signed(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-days", "2", "-subj", "/CN=ceso-test"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl is needed to make the test's certificate (apt-get install openssl)");
    assert!(
        out.status.success(),
        "openssl req: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}

/// curl's view of an HTTPS GET: (status, headers), trusting `ca`.
fn curl(url: &str, ca: &Path, user: Option<&str>) -> (u16, String) {
    let mut cmd = Command::new("curl");
    cmd.args([
        "-s",
        "-o",
        "/dev/null",
        "-D",
        "-",
        "-w",
        "%{http_code}",
        "--cacert",
    ])
    .arg(ca)
    .arg(url);
    if let Some(user) = user {
        cmd.args(["-u", user]);
    }
    let out = cmd
        .output()
        .expect("curl is needed for the HTTPS checks (apt-get install curl)");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let status = text
        .get(text.len().saturating_sub(3)..)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

#[test]
fn prometheus_scrapes_through_tls_and_basic_auth_and_strangers_get_401() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (cert, _) = self_signed(dir.path());
    let hash = bcrypt::hash("scrape-s3cret", 4).expect("bcrypt");
    let web = dir.path().join("web.yml");
    // Relative paths are read from the web config's directory, as Prometheus' exporters do.
    std::fs::write(
        &web,
        format!(
            "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\nbasic_auth_users:\n  prom: {hash}\n"
        ),
    )
    .expect("write web.yml");
    let sim = Sim::start(&["-perf-series", PINNED]);
    let web_arg = web.display().to_string();
    let (_exporter, addr) = start_exporter(&sim, &["--web-config", &web_arg]);
    let url = format!("https://{addr}/metrics");

    let (status, headers) = curl(&url, &cert, None);
    assert_eq!(status, 401, "{headers}");
    assert!(
        headers
            .to_ascii_lowercase()
            .contains("www-authenticate: basic"),
        "{headers}"
    );
    let (status, _) = curl(&url, &cert, Some("prom:wrong"));
    assert_eq!(status, 401);
    let (status, _) = curl(&url, &cert, Some("prom:scrape-s3cret"));
    assert_eq!(status, 200);

    let job = format!(
        "    scheme: https\n    basic_auth:\n      username: prom\n      password: scrape-s3cret\n    tls_config:\n      ca_file: {}\n",
        cert.display()
    );
    let prom = Prometheus::start_with(&addr, &job);
    let vm = prom.wait_for("ceso_vm_cpu_usage_hertz{vm=\"DC0_H0_VM0\"}", |r| {
        !r.is_empty()
    });
    assert_eq!(value(&vm[0]), 1500.0 * 1e6);
}

#[test]
fn a_bad_web_config_points_at_its_line_and_never_shows_a_hash() {
    let dir = tempfile::tempdir().expect("temp dir");
    let web = dir.path().join("web.yml");
    std::fs::write(
        &web,
        "basic_auth_users:\n  prom: $2b$04$abcdefghijklmnopqrstuu5NXcnqKoVBmTk1ZQdSBW9yJ0pJoTL9W\ntls_server_confg:\n  cert_file: c.pem\n",
    )
    .expect("write web.yml");
    let mut ceso = Ceso::new();
    ceso.env("CESO_URL", "http://u:p@127.0.0.1:1/sdk");
    let run = ceso.run(&["exporter", "--web-config", &web.display().to_string()]);
    let run = run.fails_with(crate::sim::exit::USAGE);
    run.stderr_has("tls_server_confg").stderr_has("web.yml:3:1");
    assert!(!run.stderr.contains("$2b$"), "{}", run.stderr);
}

/// The exporter's page, once it has the first collection.
fn page(addr: &str) -> String {
    let (status, body) = get(addr, "/metrics", None).expect("scrape the exporter");
    assert_eq!(status, 200, "{body}");
    body
}

/// The value of the first sample of `metric` whose labels contain `labels`.
fn sample(page: &str, metric: &str, labels: &str) -> Option<f64> {
    page.lines()
        .filter(|l| l.starts_with(&format!("{metric}{{")) && l.contains(labels))
        .find_map(|l| l.rsplit(' ').next()?.parse().ok())
}

#[test]
fn series_carry_their_datacenter_backup_ages_show_and_a_new_vm_appears_on_a_later_round() {
    let sim = Sim::start(&["-disk-mb", "1", "-perf-series", PINNED]);
    let dir = tempfile::tempdir().expect("temp dir");
    let repo = dir.path().join("repo");
    let repo_arg = repo.display().to_string();
    // The VM's disk with content, as a guest would have written it.
    sim.put_file("DC0_H0_VM0/disk1-flat.vmdk", &vec![7u8; 1 << 20]);
    sim.ceso()
        .run(&[
            "backup",
            "create",
            "DC0_H0_VM0",
            "--hot",
            "--repo",
            &repo_arg,
        ])
        .ok();
    let (_exporter, addr) = start_exporter(&sim, &["--repo", &repo_arg]);

    let first = page(&addr);
    let vm0 = "vm=\"DC0_H0_VM0\"";
    for metric in [
        "ceso_vm_cpu_usage_hertz",
        "ceso_host_connected",
        "ceso_datastore_capacity_bytes",
    ] {
        assert!(
            sample(&first, metric, "datacenter=\"DC0\"").is_some(),
            "{metric} has no datacenter label:\n{first}"
        );
    }
    let age = sample(&first, "ceso_vm_backup_age_seconds", vm0)
        .unwrap_or_else(|| panic!("no backup age for DC0_H0_VM0:\n{first}"));
    assert!((0.0..600.0).contains(&age), "backup age {age}");
    // A VM never backed up has no age (rather than a made-up one).
    assert!(sample(&first, "ceso_vm_backup_age_seconds", "vm=\"DC0_H0_VM1\"").is_none());

    // Created after the first round: on a later page, with its QueryPerf values (the
    // reused counter catalog still serves a VM it has never seen).
    sim.ceso()
        .run(&["vm", "create", "fresh-vm", "--power-on"])
        .ok();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let now = page(&addr);
        if sample(&now, "ceso_vm_powered_on", "vm=\"fresh-vm\"") == Some(1.0)
            && sample(&now, "ceso_vm_cpu_usage_hertz", "vm=\"fresh-vm\"").is_some()
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "fresh-vm never appeared with its CPU usage:\n{now}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
