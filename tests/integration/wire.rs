//! Seeing the wire and govc habits: `--debug` (secrets redacted), `-k`, `--dc`,
//! `version`, completion scripts and man pages, units in tables.

use crate::sim::{Ceso, Sim, exit};

/// A password that must never be written anywhere.
const SENTINEL: &str = "Sentinel-Pw-7f3k9q";

/// Every session cookie value in `log` is redacted, and the sentinel is absent.
#[track_caller]
fn no_secret_in(log: &str) {
    assert!(!log.contains(SENTINEL), "the password leaked:\n{log}");
    for (i, _) in log.match_indices("vmware_soap_session=") {
        let value = &log[i + "vmware_soap_session=".len()..];
        assert!(
            value.starts_with("<redacted>") || value.starts_with('…'),
            "a session cookie leaked: {}",
            &value[..value.len().min(60)]
        );
    }
}

#[test]
fn debug_logs_every_call_with_timing_and_no_secret() {
    let sim = Sim::start(&["-username", "alice", "-password", SENTINEL]);
    let ceso = |extra: &[(&str, &str)]| {
        let mut c = sim.ceso();
        c.env("CESO_USERNAME", "alice")
            .env("CESO_PASSWORD", SENTINEL);
        for (k, v) in extra {
            c.env(k, v);
        }
        c
    };

    // --debug: requests and answers on stderr, stdout stays pure JSON.
    let run = ceso(&[])
        .run(&["--debug", "--no-session-cache", "vm", "list", "--json"])
        .ok();
    assert_eq!(run.json().as_array().unwrap().len(), 4);
    for needle in [
        ">> ",
        " Login ",
        "RetrievePropertiesEx",
        "HTTP 200",
        "<redacted>",
    ] {
        assert!(
            run.stderr.contains(needle),
            "no {needle:?} in:\n{}",
            run.stderr
        );
    }
    assert!(
        run.stderr.contains("<userName>alice</userName>"),
        "{}",
        run.stderr
    );
    // Each answer line carries its time.
    assert!(
        run.stderr
            .lines()
            .any(|l| l.contains(" Login ") && (l.contains("ms ") || l.contains("µs "))),
        "{}",
        run.stderr
    );
    no_secret_in(&run.stderr);
    no_secret_in(&run.stdout);

    // A wrong password is logged redacted too (and the login still fails as before).
    let mut wrong = sim.ceso();
    wrong
        .env("CESO_USERNAME", "alice")
        .env("CESO_PASSWORD", "Wrong-Sentinel-55");
    let failed = wrong
        .run(&["--debug", "vm", "list"])
        .fails_with(exit::CONNECTION);
    assert!(
        !failed.stderr.contains("Wrong-Sentinel-55"),
        "{}",
        failed.stderr
    );

    // --debug-file: the log goes to the file (mode 0600), nothing of it on stderr.
    let file = tempfile::NamedTempFile::new().unwrap();
    let path = file.path().to_str().unwrap().to_string();
    let run = ceso(&[])
        .run(&[
            "--debug-file",
            &path,
            "--no-session-cache",
            "host",
            "list",
            "--json",
        ])
        .ok();
    assert!(!run.stderr.contains("[ceso]"), "{}", run.stderr);
    let log = std::fs::read_to_string(&path).unwrap();
    assert!(
        log.contains(" Login ") && log.contains("<redacted>"),
        "{log}"
    );
    no_secret_in(&log);

    // CESO_DEBUG=1 is --debug; --debug-max-body cuts bodies and says so.
    let run = ceso(&[("CESO_DEBUG", "1")])
        .run(&["--debug-max-body", "120", "datastore", "list", "--json"])
        .ok();
    assert!(
        run.stderr.contains("more bytes not shown"),
        "{}",
        run.stderr
    );
    no_secret_in(&run.stderr);

    // CESO_TRACE (the older switch) is the one-line summary: no bodies.
    let run = ceso(&[("CESO_TRACE", "1")])
        .run(&["--no-session-cache", "vm", "list"])
        .ok();
    assert!(
        run.stderr.contains("RetrievePropertiesEx"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains(">> "), "{}", run.stderr);
    assert!(!run.stderr.contains("<userName>"), "{}", run.stderr);
}

#[test]
fn k_skips_verification_and_dc_picks_the_datacenter() {
    let sim = Sim::start(&["-tls", "-dc", "2"]);
    // A self-signed certificate is refused, and accepted with govc's -k.
    sim.ceso()
        .run(&["cluster", "list"])
        .fails_with(exit::CONNECTION);
    let all = sim
        .ceso()
        .run(&["-k", "cluster", "list", "--json"])
        .ok()
        .json();
    let datacenters = |list: &serde_json::Value| {
        let mut dcs: Vec<String> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["datacenter"].as_str().unwrap().to_string())
            .collect();
        dcs.dedup();
        dcs
    };
    assert_eq!(datacenters(&all), ["DC0", "DC1"]);
    // --dc (or --datacenter) narrows to one, after the subcommand as well.
    let one = sim
        .ceso()
        .run(&["cluster", "list", "--json", "--insecure", "--dc", "DC1"])
        .ok()
        .json();
    assert_eq!(datacenters(&one), ["DC1"]);
    sim.ceso()
        .run(&["-k", "--dc", "DC7", "cluster", "list"])
        .fails_with(exit::NOT_FOUND)
        .stderr_has("DC7");
    // vm create goes to the datacenter --dc names.
    for dc in ["DC0", "DC1"] {
        let plan = sim
            .ceso()
            .run(&[
                "-k",
                "--datacenter",
                dc,
                "vm",
                "create",
                "w1",
                "--cpu",
                "1",
                "--memory",
                "128",
                "--dry-run",
                "--json",
            ])
            .ok()
            .json();
        assert_eq!(plan["plan"]["datacenter"], dc, "{plan}");
    }
    // A datacenter that does not exist is not found, with the names there are.
    sim.ceso()
        .run(&[
            "-k",
            "--dc",
            "DC9",
            "vm",
            "create",
            "w1",
            "--cpu",
            "1",
            "--memory",
            "128",
            "--dry-run",
        ])
        .fails_with(exit::NOT_FOUND)
        .stderr_has("DC9");
}

#[test]
fn version_names_the_server_and_tables_use_readable_units() {
    let sim = Sim::vcenter();
    let v = sim.ceso().run(&["version", "--json"]).ok().json();
    assert_eq!(v["ceso"], env!("CARGO_PKG_VERSION"));
    let server = &v["endpoints"][0];
    assert_eq!(server["state"], "connected", "{v}");
    assert_eq!(server["api_type"], "VirtualCenter", "{v}");
    assert!(!server["api_version"].as_str().unwrap().is_empty(), "{v}");
    assert!(!server["build"].as_str().unwrap().is_empty(), "{v}");
    sim.ceso()
        .run(&["version"])
        .ok()
        .stdout_has("API ")
        .stdout_has("build ");
    // Without an endpoint: the client's version alone, exit 0.
    let alone = Ceso::new().run(&["version", "--json"]).ok().json();
    assert_eq!(alone["endpoints"], serde_json::json!([]));

    // datastore list: GB/TB and a use percentage; --json keeps raw MB.
    let json = sim.ceso().run(&["datastore", "list", "--json"]).ok().json();
    let first = &json[0];
    assert!(first["capacity_mb"].as_i64().unwrap() > 0, "{json}");
    let table = sim.ceso().run(&["datastore", "list"]).ok();
    let row = table
        .stdout
        .lines()
        .find(|l| l.contains(first["name"].as_str().unwrap()))
        .unwrap();
    assert!(row.contains(" GB") || row.contains(" TB"), "{row}");
    assert!(row.contains('%'), "{row}");
    assert!(table.stdout.contains("USED"), "{}", table.stdout);
}

#[test]
fn completion_scripts_load_and_man_pages_are_written() {
    let ceso = env!("CARGO_BIN_EXE_ceso");
    let bash = std::process::Command::new("bash")
        .args([
            "-c",
            &format!("source <('{ceso}' completions bash) && complete -p ceso"),
        ])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&bash.stdout);
    assert!(
        bash.status.success(),
        "{out} {}",
        String::from_utf8_lossy(&bash.stderr)
    );
    assert!(out.contains("-F _ceso ceso"), "{out}");
    // The script completes subcommands and the new global flags.
    let script = Ceso::new().run(&["completions", "bash"]).ok().stdout;
    assert!(script.contains("completions") && script.contains("--debug-file"));
    for shell in ["zsh", "fish"] {
        let text = Ceso::new().run(&["completions", shell]).ok().stdout;
        assert!(text.contains("ceso") && text.contains("version"), "{shell}");
    }
    Ceso::new()
        .run(&["completions", "tcsh"])
        .fails_with(exit::USAGE);

    let page = Ceso::new().run(&["man"]).ok().stdout;
    assert!(page.contains(".TH ceso 1"), "{page}");
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("man1");
    Ceso::new()
        .run(&["man", "--dir", target.to_str().unwrap()])
        .ok();
    assert!(target.join("ceso.1").is_file());
    assert!(target.join("ceso-vm.1").is_file());
}

#[test]
fn a_typo_suggests_cesos_functions_never_rhai_internals() {
    let typo = Ceso::new().run(&["-c", "vmss()"]).fails_with(exit::FAILURE);
    typo.stderr_has("did you mean").stderr_has("vms");
    for (call, internal) in [
        ("get_fn_metadata_lis()", "get_fn_metadata_list"),
        ("PII()", " PI"),
    ] {
        let run = Ceso::new().run(&["-c", call]).fails_with(exit::FAILURE);
        let hint = run.stderr.split("did you mean").nth(1).unwrap_or_default();
        assert!(!hint.contains(internal), "{call}: {}", run.stderr);
    }
}

#[test]
fn version_asks_every_configured_endpoint_and_shows_a_dead_one() {
    let vc = Sim::vcenter();
    let esx = Sim::esx();
    // A port nothing listens on: bound, then closed.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut ceso = Ceso::new();
    ceso.env("PW", "pass").config(&format!(
        "hosts:\n  - name: vc\n    host: {}\n    user: user\n    password_env: PW\n  - name: gone\n    host: http://{dead}/sdk\n    user: user\n    password_env: PW\n  - name: esx\n    host: {}\n    user: user\n    password_env: PW\n",
        vc.url, esx.url
    ));
    let path = ceso.home.path().join("config.yaml");
    let v = ceso.run(&["version", "--json"]).ok().json();
    assert_eq!(v["ceso"], env!("CARGO_PKG_VERSION"));
    let all = v["endpoints"].as_array().unwrap();
    let names: Vec<&str> = all
        .iter()
        .map(|e| e["endpoint"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["vc", "gone", "esx"], "{v}");
    assert_eq!(all[0]["api_type"], "VirtualCenter", "{v}");
    assert_eq!(all[2]["api_type"], "HostAgent", "{v}");
    assert!(!all[2]["api_version"].as_str().unwrap().is_empty(), "{v}");
    assert_eq!(all[1]["state"], "unreachable", "{v}");
    assert!(all[1]["api_version"].is_null(), "{v}");
    assert!(all[1]["error"].is_string(), "{v}");

    let mut again = Ceso::new();
    again.env("PW", "pass").env("CESO_CONFIG", &path);
    again
        .run(&["version"])
        .ok()
        .stdout_has("gone: unreachable")
        .stdout_has("esx: ")
        .stdout_has("build ");
}
