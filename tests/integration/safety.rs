//! Safety promises of the README, each against the simulator: `--dry-run` before or
//! after the subcommand changes nothing, passwords never reach the output, `host add`
//! keeps the file as written, backups are ordered and grouped right, one dead endpoint
//! does not hide the others, and exit codes say what happened (issue 14).

use std::path::Path;

use crate::sim::{Ceso, Run, Sim, exit};
use serde_json::Value;

const VM0: &str = "ha-host_VM0";
const VM1: &str = "ha-host_VM1";
const A30: &str = "0000:3b:00.0";
const A30_2: &str = "0000:d8:00.0";
const A6000: &str = "0000:86:00.0";
const PARTIAL: i32 = 7;

/// A config naming each simulator (password from ESXI_PW) and `extra` endpoints as
/// given (YAML list items).
fn config(sims: &[(&str, &Sim)], extra: &str) -> String {
    let mut yaml = String::from("hosts:\n");
    for (name, sim) in sims {
        yaml.push_str(&format!(
            "  - name: {name}\n    host: {}\n    user: root\n    password_env: ESXI_PW\n",
            sim.url
        ));
    }
    yaml.push_str(extra);
    yaml
}

fn ceso_with(yaml: &str) -> Ceso {
    let mut c = Ceso::new();
    c.config(yaml);
    c.env("ESXI_PW", "secret");
    c
}

/// An endpoint nothing listens on (connection refused at once).
fn dead(name: &str) -> String {
    format!(
        "  - name: {name}\n    host: http://127.0.0.1:1/sdk\n    user: root\n    password_env: ESXI_PW\n"
    )
}

fn array(v: &Value) -> &Vec<Value> {
    v.as_array().unwrap_or_else(|| panic!("not an array: {v}"))
}

// ---- 1. The global --dry-run ----------------------------------------------------

/// Everything the changing commands below could change, read back over SOAP (and the
/// repository and config file from disk).
fn state(sim: &Sim, repo: &str, config: &Path) -> Value {
    let json = |args: &[&str]| {
        let mut all = args.to_vec();
        all.push("--json");
        sim.ceso().run(&all).ok().json()
    };
    let vms: Vec<Value> = array(&json(&["vm", "list"]))
        .iter()
        .map(|v| serde_json::json!([v["name"], v["power_state"]]))
        .collect();
    let pci: Vec<Value> = array(&json(&["pci", "list"]))
        .iter()
        .map(|d| serde_json::json!([d["address"], d["passthru_enabled"], d["assigned_to"]]))
        .collect();
    let snapshots: Vec<Value> = array(&json(&["snapshot", "list", VM0]))
        .iter()
        .map(|s| serde_json::json!([s["name"], s["current"]]))
        .collect();
    let backups: Vec<Value> = array(&json(&["backup", "list", "--repo", repo]))
        .iter()
        .map(|b| b["id"].clone())
        .collect();
    let devices = json(&["vm", "info", VM1])["devices"].clone();
    serde_json::json!({
        "vms": vms,
        "pci": pci,
        "snapshots": snapshots,
        "backups": backups,
        "vm1_devices": devices,
        "config": std::fs::read_to_string(config).unwrap(),
    })
}

#[test]
fn the_global_dry_run_changes_nothing_before_or_after_the_subcommand() {
    let sim = Sim::esx();
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let repo = repo.to_str().unwrap();
    let config_path = dir.path().join("config.yaml");
    std::fs::write(
        &config_path,
        "# lab\nhosts:\n  - name: old\n    host: 127.0.0.1:1\n    user: u\n",
    )
    .unwrap();
    let script = dir.path().join("stop.rhai");
    std::fs::write(&script, format!("vm(\"{VM0}\").power_off();\n")).unwrap();

    // Something for every command to change: a powered-off VM with a device, free and
    // enabled devices, two snapshots, two backups.
    let setup = |args: &[&str]| sim.ceso().run(args).ok();
    setup(&["vm", "stop", "--force", VM1]);
    setup(&["pci", "enable", A30]);
    setup(&["pci", "enable", A30_2]);
    setup(&["vm", "attach-pci", VM1, A30]);
    setup(&["snapshot", "create", VM0, "--name", "s1"]);
    setup(&["snapshot", "create", VM0, "--name", "s2"]);
    let mut backups = Vec::new();
    for _ in 0..2 {
        let made = setup(&["backup", "create", VM1, "--repo", repo, "--json"]).json();
        backups.push(made["id"].as_str().unwrap().to_string());
    }
    let before = state(&sim, repo, &config_path);
    let config = config_path.to_str().unwrap();

    let changing: Vec<Vec<&str>> = vec![
        vec!["vm", "create", "dr-new", "--memory", "64"],
        vec!["vm", "start", VM1],
        vec!["vm", "stop", "--force", VM0],
        vec!["vm", "restart", "--force", VM0],
        vec!["vm", "suspend", VM0],
        vec!["vm", "delete", VM0, "--force"],
        vec!["vm", "attach-pci", VM1, A30_2],
        vec!["vm", "detach-pci", VM1, A30],
        vec!["snapshot", "create", VM0, "--name", "s3"],
        vec!["snapshot", "revert", VM0, "s1"],
        vec!["snapshot", "delete", VM0, "s1"],
        vec!["backup", "create", VM1, "--repo", repo],
        vec!["backup", "delete", &backups[0], "--repo", repo],
        vec!["backup", "prune", "--keep-last", "1", "--repo", repo],
        vec![
            "backup",
            "restore",
            &backups[0],
            "--as-new",
            "back",
            "--repo",
            repo,
        ],
        vec!["pci", "enable", A6000],
        vec!["pci", "disable", A30_2],
        vec![
            "host",
            "add",
            "new",
            "--host",
            &sim.url,
            "--user",
            "root",
            "--password-env",
            "CESO_PASSWORD",
            "--config",
            config,
        ],
    ];
    for args in &changing {
        for before_subcommand in [true, false] {
            let mut full: Vec<&str> = Vec::new();
            if before_subcommand {
                full.push("--dry-run");
            }
            full.extend(args.iter().copied());
            if !before_subcommand {
                full.push("--dry-run");
            }
            full.push("--yes"); // a dry run wins over --yes
            let run = sim.ceso().run(&full).ok();
            let said = format!("{}{}", run.stdout, run.stderr).to_lowercase();
            assert!(
                said.contains("would"),
                "ceso {full:?} did not say what it would do:\n{}{}",
                run.stdout,
                run.stderr
            );
            assert_eq!(
                state(&sim, repo, &config_path),
                before,
                "ceso {full:?} changed something"
            );
        }
    }
    // Scripts: before `run` and after it.
    for args in [
        vec!["--dry-run", "run", script.to_str().unwrap()],
        vec!["run", "--dry-run", script.to_str().unwrap()],
    ] {
        sim.ceso().run(&args).ok();
        assert_eq!(state(&sim, repo, &config_path), before, "ceso {args:?}");
    }
}

// ---- 2. Secrets ---------------------------------------------------------------------

const SENTINEL: &str = "S3nt1nel-pw";

#[track_caller]
fn never_shown(run: Run, code: i32) {
    let run = run.fails_with(code);
    assert!(
        !run.stdout.contains(SENTINEL) && !run.stderr.contains(SENTINEL),
        "ceso {:?} showed the password:\nstdout: {}\nstderr: {}",
        run.args,
        run.stdout,
        run.stderr
    );
}

#[test]
fn passwords_never_appear_in_errors_of_the_config_the_environment_or_host_add() {
    let configs = [
        format!("vcenter:\n  host: vc.example\n  user: admin\n  password: {SENTINEL}\n"),
        format!(
            "hosts:\n  - name: a\n    host: http://root:{SENTINEL}@127.0.0.1:1/sdk\n    user: root\n"
        ),
        format!(
            "hosts:\n  - name: a\n    host: http://root:{SENTINEL}@127.0.0.1:99999/sdk\n    user: root\n    password_env: X\n"
        ),
        format!(
            "hosts:\n  - name: a\n    host: ftp://root:{SENTINEL}@esx/sdk\n    user: root\n    password_env: X\n"
        ),
        format!("hosts:\n  - name: a\n    host: http://root:{SENTINEL}@esx/sdk\n    user: [\n"),
        format!(
            "hosts: [{{name: a, host: 'http://root:{SENTINEL}@esx/sdk', password: {SENTINEL}}}]\n"
        ),
    ];
    for yaml in &configs {
        let mut c = Ceso::new();
        c.config(yaml);
        let run = c.run(&["host", "list"]);
        assert!(
            run.stderr.contains("***") || run.stderr.contains("password"),
            "{}",
            run.stderr
        );
        never_shown(run, exit::USAGE);
    }
    for var in ["CESO_URL", "GOVC_URL"] {
        for url in [
            format!("http://root:{SENTINEL}@127.0.0.1:99999/sdk"),
            format!("ftp://root:{SENTINEL}@esx1/sdk"),
            format!("http://root:{SENTINEL}@/sdk"),
            format!("root:{SENTINEL}@[::1/sdk"),
        ] {
            let mut c = Ceso::new();
            c.env(var, &url);
            never_shown(c.run(&["vm", "list"]), exit::USAGE);
        }
    }
    let mut c = Ceso::new();
    let path = c.config("hosts: []\n");
    c.env("PW", "x");
    let run = c.run(&[
        "host",
        "add",
        "a",
        "--host",
        &format!("http://root:{SENTINEL}@127.0.0.1:1/sdk"),
        "--user",
        "root",
        "--password-env",
        "PW",
    ]);
    never_shown(run, exit::USAGE);
    assert_eq!(std::fs::read_to_string(path).unwrap(), "hosts: []\n");
}

// ---- 3. host add keeps the file ----------------------------------------------------

#[test]
fn host_add_keeps_comments_and_order_and_dry_run_shows_the_diff() {
    let sim = Sim::esx();
    let old = "# my lab\nhosts:\n  # the first host\n  - name: esxi1   # rack 3\n    user: root\n    host: 127.0.0.1:1\n    password_env: ESXI_PW\n\n# the vCenter, off for now\nvcenter:\n  host: 127.0.0.1:2\n  user: admin\n  password_env: VC_PW\nsettings:\n  timeout: 30 # seconds\n";
    let mut c = ceso_with(old);
    let path = c.config(old);
    let add = |extra: &[&str]| {
        let mut args = vec![
            "host",
            "add",
            "esxi2",
            "--host",
            &sim.url,
            "--user",
            "root",
            "--password-env",
            "ESXI_PW",
        ];
        args.extend(extra);
        let mut c = ceso_with(old);
        c.env("CESO_CONFIG", &path);
        c.run(&args)
    };
    let dry = add(&["--dry-run"]).ok();
    dry.stdout_has("would change")
        .stdout_has("+  - name: esxi2\n");
    dry.stdout_has(&format!("+    host: {}\n", sim.url));
    dry.stdout_has("+    password_env: ESXI_PW\n \n # the vCenter");
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        old,
        "a dry run wrote"
    );

    add(&[]).ok().stderr_has("added esxi2");
    let new = std::fs::read_to_string(&path).unwrap();
    let expected = old.replace(
        "    password_env: ESXI_PW\n\n",
        &format!(
            "    password_env: ESXI_PW\n  - name: esxi2\n    host: {}\n    user: root\n    password_env: ESXI_PW\n\n",
            sim.url
        ),
    );
    assert_eq!(new, expected);
    // The entry works.
    c.run(&["--host", "esxi2", "vm", "list", "--json"]).ok();
}

// ---- 4, 5. Backup order and groups --------------------------------------------------

fn backup_ids(c: &mut Ceso, repo: &str) -> (Vec<String>, Value) {
    let listing = c
        .run(&["backup", "list", "--repo", repo, "--json"])
        .ok()
        .json();
    let ids = array(&listing)
        .iter()
        .map(|b| b["id"].as_str().unwrap().to_string())
        .collect();
    (ids, listing)
}

#[test]
fn backups_within_one_second_keep_their_order_and_prune_keeps_the_newest() {
    let sim = Sim::esx();
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let repo = repo.to_str().unwrap();
    sim.ceso().run(&["vm", "stop", "--force", VM1]).ok();
    let mut made = Vec::new();
    for _ in 0..4 {
        let b = sim
            .ceso()
            .run(&["backup", "create", VM1, "--repo", repo, "--json"])
            .ok()
            .json();
        made.push(b["id"].as_str().unwrap().to_string());
    }
    let (listed, listing) = backup_ids(&mut sim.ceso(), repo);
    assert_eq!(listed, made, "backup list is not in creation order");
    let backups = array(&listing);
    for b in backups {
        let created = b["created"].as_str().unwrap();
        assert!(
            created.contains('.'),
            "creation time without sub-second precision: {created}"
        );
    }
    let seqs: Vec<u64> = backups.iter().map(|b| b["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");

    let pruned = sim
        .ceso()
        .run(&[
            "backup",
            "prune",
            "--keep-last",
            "1",
            "--yes",
            "--repo",
            repo,
            "--json",
        ])
        .ok()
        .json();
    let kept: Vec<&Value> = array(&pruned["decisions"])
        .iter()
        .filter(|d| d["keep"] == true)
        .map(|d| &d["id"])
        .collect();
    assert_eq!(kept, [&Value::from(made[3].clone())]);
    assert_eq!(backup_ids(&mut sim.ceso(), repo).0, [made[3].clone()]);
}

#[test]
fn prune_groups_by_endpoint_and_vm_and_list_names_the_endpoint() {
    let (a, b) = (Sim::esx(), Sim::esx());
    let yaml = config(&[("esxi1", &a), ("esxi2", &b)], "");
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let repo = repo.to_str().unwrap();
    for host in ["esxi1", "esxi2"] {
        ceso_with(&yaml)
            .run(&["--host", host, "vm", "stop", "--force", VM1])
            .ok();
        for _ in 0..2 {
            ceso_with(&yaml)
                .run(&["--host", host, "backup", "create", VM1, "--repo", repo])
                .ok();
        }
    }
    let (_, listing) = backup_ids(&mut ceso_with(&yaml), repo);
    let backups = array(&listing);
    // Copies of a VM on two hosts carry the same UUID: that is the case at stake.
    assert_eq!(backups.len(), 4);
    assert!(
        backups
            .iter()
            .all(|x| x["vm_uuid"] == backups[0]["vm_uuid"]),
        "{listing}"
    );
    let table = ceso_with(&yaml)
        .run(&["backup", "list", "--repo", repo])
        .ok();
    table.stdout_has("ENDPOINT");
    for host in ["esxi1", "esxi2"] {
        assert_eq!(
            table.stdout.matches(&format!(" {host} ")).count(),
            2,
            "{}",
            table.stdout
        );
    }

    ceso_with(&yaml)
        .run(&[
            "backup",
            "prune",
            "--keep-last",
            "1",
            "--yes",
            "--repo",
            repo,
        ])
        .ok();
    let (_, listing) = backup_ids(&mut ceso_with(&yaml), repo);
    let mut endpoints: Vec<&str> = array(&listing)
        .iter()
        .map(|x| x["endpoint"].as_str().unwrap())
        .collect();
    endpoints.sort_unstable();
    assert_eq!(endpoints, ["esxi1", "esxi2"], "{listing}");
}

// ---- 6. One dead endpoint -----------------------------------------------------------

#[test]
fn one_dead_endpoint_does_not_hide_the_others_and_says_so() {
    let sim = Sim::esx();
    let yaml = config(&[("esxi1", &sim)], &dead("gone"));

    let text = ceso_with(&yaml)
        .run(&["vm", "list", "--all-hosts"])
        .fails_with(PARTIAL);
    text.stdout_has(VM0)
        .stdout_has("ENDPOINT")
        .stdout_has("esxi1");
    text.stderr_has("error: gone:");
    let json = ceso_with(&yaml)
        .run(&["vm", "list", "--all-hosts", "--json"])
        .fails_with(PARTIAL)
        .json();
    assert_eq!(array(&json["results"]).len(), 2, "{json}");
    assert_eq!(json["errors"][0]["endpoint"], "gone");
    assert_eq!(json["errors"][0]["exit_code"], exit::CONNECTION);

    let pci = ceso_with(&yaml)
        .run(&["pci", "list", "--all-hosts", "--json"])
        .fails_with(PARTIAL)
        .json();
    assert!(!array(&pci["results"]).is_empty());
    assert_eq!(pci["errors"][0]["endpoint"], "gone");
    ceso_with(&yaml)
        .run(&["pci", "list", "--all-hosts", "--gpus"])
        .fails_with(PARTIAL)
        .stdout_has("ENDPOINT");
    ceso_with(&yaml)
        .run(&["datastore", "list", "--all-hosts"])
        .fails_with(PARTIAL)
        .stdout_has("LocalDS_0");

    let stopped = ceso_with(&yaml)
        .run(&["vm", "stop", "--all-hosts", "--force", "ha-host_*"])
        .fails_with(PARTIAL);
    stopped.stderr_has("error: gone:").stderr_has("(esxi1)");
    let states = sim.ceso().run(&["vm", "list", "--json"]).ok().json();
    assert!(
        array(&states)
            .iter()
            .all(|v| v["power_state"] == "poweredOff"),
        "{states}"
    );

    let hosts = ceso_with(&yaml)
        .run(&["host", "list", "--json"])
        .fails_with(PARTIAL)
        .json();
    let gone = array(&hosts)
        .iter()
        .find(|h| h["endpoint"] == "gone")
        .unwrap();
    assert_eq!(gone["connection_state"], "unreachable");

    // Nothing answered: not a success.
    let none = format!("hosts:\n{}{}", dead("a"), dead("b"));
    ceso_with(&none)
        .run(&["host", "list"])
        .fails_with(exit::CONNECTION)
        .stdout_has("unreachable");
}

#[test]
fn a_refused_login_is_not_unreachable() {
    let sim = Sim::start(&["-esx", "-username", "root", "-password", "right"]);
    let yaml = config(&[("esxi1", &sim)], "");
    let run = ceso_with(&yaml)
        .run(&["host", "list"])
        .fails_with(exit::CONNECTION);
    run.stdout_has("login failed");
    assert!(!run.stdout.contains("unreachable"), "{}", run.stdout);
}

// ---- 7. A device selector over several hosts ---------------------------------------

#[test]
fn pci_enable_by_model_on_several_hosts_is_refused_listing_them() {
    let sim = Sim::vcenter();
    let enabled = || {
        let list = sim
            .ceso()
            .run(&["pci", "list", "--gpus", "--json"])
            .ok()
            .json();
        array(&list)
            .iter()
            .filter(|d| d["passthru_enabled"] == true)
            .count()
    };
    let before = enabled();
    for verb in ["enable", "disable"] {
        sim.ceso()
            .run(&["pci", verb, "a30", "--yes"])
            .fails_with(exit::NOT_FOUND)
            .stderr_has("on DC0_H0")
            .stderr_has("on DC0_C0_H1")
            .stderr_has("--host");
        assert_eq!(enabled(), before, "pci {verb} a30 changed a host");
    }
    sim.ceso()
        .run(&["pci", "enable", "a30", "--host", "DC0_H0"])
        .ok();
    assert_eq!(enabled(), before + 1);
}

// ---- 8. --host, scripts, govc's variables, hints -------------------------------------

#[test]
fn host_info_honours_host_and_scripts_see_all_hosts() {
    let (a, b) = (Sim::esx(), Sim::esx());
    let yaml = config(&[("esxi1", &a), ("esxi2", &b)], "");
    let info = ceso_with(&yaml)
        .run(&[
            "--host",
            "esxi2",
            "host",
            "info",
            "localhost.localdomain",
            "--json",
        ])
        .ok()
        .json();
    // One object (like `vm info`), from the endpoint --host named.
    assert_eq!(info["endpoint"], "esxi2", "{info}");
    ceso_with(&yaml)
        .run(&["host", "info", "esxi1", "--host", "esxi2"])
        .fails_with(exit::NOT_FOUND);

    let count = ceso_with(&yaml)
        .run(&["-c", "vms(#{all_hosts: true}).len()"])
        .ok();
    assert_eq!(count.stdout.trim(), "4");
    let one = ceso_with(&yaml)
        .run(&["-c", "vms(#{host: \"esxi2\"}).map(|v| v.endpoint)"])
        .ok();
    assert!(
        one.stdout.contains("esxi2") && !one.stdout.contains("esxi1"),
        "{}",
        one.stdout
    );
}

#[test]
fn govc_insecure_applies_to_ceso_url() {
    let sim = Sim::start(&["-esx", "-tls"]);
    let mut strict = Ceso::new();
    strict
        .env("CESO_URL", &sim.url)
        .env("CESO_USERNAME", "u")
        .env("CESO_PASSWORD", "p");
    strict.run(&["vm", "list"]).fails_with(exit::CONNECTION);
    let mut insecure = Ceso::new();
    insecure
        .env("CESO_URL", &sim.url)
        .env("GOVC_USERNAME", "u")
        .env("GOVC_PASSWORD", "p")
        .env("GOVC_INSECURE", "1");
    insecure.run(&["vm", "list"]).ok().stdout_has(VM0);
}

/// Every `ceso …` command a hint names exists.
#[track_caller]
fn hinted_commands_exist(sim: &Sim, run: &Run) {
    let mut named = 0;
    for quoted in run.stderr.split('`').skip(1).step_by(2) {
        let Some(rest) = quoted.strip_prefix("ceso ") else {
            continue;
        };
        named += 1;
        let words: Vec<&str> = rest
            .split_whitespace()
            .take_while(|w| !w.starts_with('-') && !w.starts_with('\''))
            .take(2)
            .collect();
        let mut args = words.clone();
        args.push("--help");
        sim.ceso().run(&args).ok().stdout_has("Usage: ceso");
    }
    assert!(named > 0, "no command named in: {}", run.stderr);
}

#[test]
fn datastore_list_exists_and_hints_name_real_commands() {
    let sim = Sim::esx();
    let list = sim.ceso().run(&["datastore", "list", "--json"]).ok().json();
    assert_eq!(array(&list)[0]["name"], "LocalDS_0");
    sim.ceso()
        .run(&["datastore", "list"])
        .ok()
        .stdout_has("NAME")
        .stdout_has("LocalDS_0");
    for (flag, value) in [("--datastore", "nope"), ("--network", "nope")] {
        let run = sim
            .ceso()
            .run(&["vm", "create", "x", flag, value, "--dry-run"])
            .fails_with(exit::NOT_FOUND);
        hinted_commands_exist(&sim, &run);
    }
    let run = sim
        .ceso()
        .run(&["vm", "info", "nope"])
        .fails_with(exit::NOT_FOUND);
    hinted_commands_exist(&sim, &run);
}

// ---- 9. Exit codes ---------------------------------------------------------------------

#[test]
fn a_guest_operation_without_tools_is_a_vsphere_fault() {
    let sim = Sim::esx();
    sim.ceso()
        .run(&["vm", "create", "bare", "--memory", "64"])
        .ok();
    sim.ceso().run(&["vm", "start", "bare"]).ok();
    sim.ceso()
        .run(&["vm", "restart", "bare"])
        .fails_with(exit::SERVER_FAULT)
        .stderr_has("VMware Tools must be running");
}

#[test]
fn a_backup_stored_with_its_snapshot_left_is_not_nothing_changed() {
    let sim = Sim::start(&["-esx", "-method-delay", "RemoveSnapshot_Task:3000"]);
    let yaml = format!(
        "{}settings:\n  timeout: 1\n",
        config(&[("esxi1", &sim)], "")
    );
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let repo = repo.to_str().unwrap();
    let run = ceso_with(&yaml)
        .run(&["backup", "create", VM0, "--hot", "--repo", repo])
        .fails_with(exit::CONNECTION);
    run.stderr_has("was stored, but snapshot");
    assert_eq!(backup_ids(&mut ceso_with(&yaml), repo).0.len(), 1);
}
