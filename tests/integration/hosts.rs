//! `ceso host …` and many endpoints from one config.

use crate::sim::{Ceso, Sim, exit};
use serde_json::Value;

fn config_for(sims: &[(&str, &Sim)], default: Option<&str>) -> String {
    let mut yaml = String::from("hosts:\n");
    for (name, sim) in sims {
        yaml.push_str(&format!(
            "  - name: {name}\n    host: {}\n    user: root\n    password_env: ESXI_PW\n",
            sim.url
        ));
        if default == Some(name) {
            yaml.push_str("    default: true\n");
        }
    }
    yaml
}

fn ceso_with(yaml: &str) -> Ceso {
    let mut c = Ceso::new();
    c.config(yaml);
    c.env("ESXI_PW", "secret");
    c
}

#[test]
fn host_list_and_info_on_vcenter() {
    let sim = Sim::vcenter();
    let hosts = sim.ceso().run(&["host", "list", "--json"]).ok().json();
    let names: Vec<_> = hosts
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["DC0_C0_H0", "DC0_C0_H1", "DC0_C0_H2", "DC0_H0"]);
    assert_eq!(hosts[0]["cluster"], "DC0_C0");
    assert_eq!(hosts[0]["connection_state"], "connected");

    // An ESXi host by name inside the vCenter.
    let info = sim
        .ceso()
        .run(&["host", "info", "DC0_C0_H1", "--json"])
        .ok()
        .json();
    // One host, one object (as `vm info`); the vCenter's own name covers several hosts,
    // which is ambiguous for a single-object command.
    assert!(info.is_object(), "{info}");
    let endpoint = hosts[0]["endpoint"].as_str().unwrap();
    sim.ceso()
        .run(&["host", "info", endpoint, "--json"])
        .fails_with(exit::NOT_FOUND)
        .stderr_has("DC0_C0_H0")
        .stderr_has("DC0_H0");
    assert_eq!(info["name"], "DC0_C0_H1");
    assert!(info["cpu_mhz"].as_i64().unwrap() > 0);
    assert!(info["memory_mb"].as_i64().unwrap() > 0);
    assert_eq!(info["maintenance"], false);
    assert!(!info["version"].as_str().unwrap().is_empty());
    assert_eq!(info["api_type"], "VirtualCenter");
    // Names, not ids, of what the host sees (read in the same call as the host).
    assert_eq!(info["cluster"], "DC0_C0");
    assert_eq!(info["datastores"], serde_json::json!(["LocalDS_0"]));
    let networks = info["networks"].as_array().unwrap();
    assert!(networks.contains(&"VM Network".into()), "{info}");
    assert!(networks.contains(&"DC0_DVPG0".into()), "{info}");

    // --host narrows commands to that ESXi host's VMs.
    let vms = sim
        .ceso()
        .run(&["--host", "DC0_H0", "vm", "list", "--json"])
        .ok()
        .json();
    assert!(
        vms.as_array()
            .unwrap()
            .iter()
            .all(|v| v["host"] == "DC0_H0")
    );
    assert_eq!(vms.as_array().unwrap().len(), 2);

    sim.ceso()
        .run(&["host", "info", "DC0_C0_H"])
        .fails_with(exit::NOT_FOUND)
        .stderr_has("DC0_C0_H0");
}

#[test]
fn two_standalone_hosts_in_one_config() {
    let (a, b) = (Sim::esx(), Sim::esx());
    let yaml = config_for(&[("esxi1", &a), ("esxi2", &b)], Some("esxi1"));

    let hosts = ceso_with(&yaml)
        .run(&["host", "list", "--json"])
        .ok()
        .json();
    let endpoints: Vec<_> = hosts
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["endpoint"].as_str().unwrap())
        .collect();
    assert_eq!(endpoints, ["esxi1", "esxi2"]);
    assert!(
        hosts
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["error"].is_null())
    );

    // Default endpoint, a named one, and all of them.
    let default = ceso_with(&yaml).run(&["vm", "list", "--json"]).ok().json();
    assert!(
        default
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v["endpoint"] == "esxi1")
    );
    let second = ceso_with(&yaml)
        .run(&["--host", "esxi2", "vm", "list", "--json"])
        .ok()
        .json();
    assert!(
        second
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v["endpoint"] == "esxi2")
    );
    let all = ceso_with(&yaml)
        .run(&["vm", "list", "--all-hosts", "--json"])
        .ok()
        .json();
    assert_eq!(
        all.as_array().unwrap().len(),
        default.as_array().unwrap().len() * 2
    );

    // The same VM name on both hosts: ambiguous, and the error names both endpoints.
    let name = default[0]["name"].as_str().unwrap();
    ceso_with(&yaml)
        .run(&["vm", "info", name, "--all-hosts"])
        .fails_with(exit::NOT_FOUND)
        .stderr_has("esxi1")
        .stderr_has("esxi2");
    // Acting on one endpoint leaves the other alone.
    ceso_with(&yaml)
        .run(&["--host", "esxi2", "vm", "stop", "--force", name])
        .ok();
    let all = ceso_with(&yaml)
        .run(&["vm", "list", "--all-hosts", "--json"])
        .ok()
        .json();
    let state = |endpoint: &str| {
        all.as_array()
            .unwrap()
            .iter()
            .find(|v| v["endpoint"] == endpoint && v["name"] == name)
            .map(|v| v["power_state"].clone())
            .unwrap()
    };
    assert_eq!(state("esxi1"), "poweredOn");
    assert_eq!(state("esxi2"), "poweredOff");
}

#[test]
fn several_endpoints_without_a_default_ask_for_a_choice() {
    let (a, b) = (Sim::esx(), Sim::esx());
    let yaml = config_for(&[("esxi1", &a), ("esxi2", &b)], None);
    ceso_with(&yaml)
        .run(&["vm", "list"])
        .fails_with(exit::USAGE)
        .stderr_has("--host")
        .stderr_has("esxi1, esxi2");
    ceso_with(&yaml)
        .run(&["--host", "esxi9", "vm", "list"])
        .fails_with(exit::NOT_FOUND)
        .stderr_has("esxi1");
}

#[test]
fn an_unreachable_endpoint_is_a_row_not_a_failure() {
    let a = Sim::esx();
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = dead.local_addr().unwrap().port();
    drop(dead);
    let yaml = format!(
        "{}  - name: gone\n    host: http://127.0.0.1:{port}/sdk\n    user: root\n    password_env: ESXI_PW\n",
        config_for(&[("esxi1", &a)], Some("esxi1"))
    );
    // The dead endpoint is a row, and the exit code says the answer is partial.
    let hosts = ceso_with(&yaml)
        .run(&["host", "list", "--json"])
        .fails_with(exit::PARTIAL)
        .json();
    let gone = hosts
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["endpoint"] == "gone")
        .unwrap();
    assert_eq!(gone["connection_state"], "unreachable");
    assert!(gone["error"].as_str().unwrap().contains("cannot connect"));
}

#[test]
fn host_add_checks_the_connection_and_keeps_other_entries() {
    let (a, b) = (
        Sim::esx(),
        Sim::start(&["-esx", "-username", "root", "-password", "secret"]),
    );
    let mut ceso = ceso_with(&config_for(&[("esxi1", &a)], Some("esxi1")));
    let path = ceso.home.path().join("config.yaml");

    // Wrong password: refused, config untouched, the password never shown.
    ceso.env("WRONG_PW", "not-the-password");
    ceso.run(&[
        "host",
        "add",
        "esxi2",
        "--host",
        &b.url,
        "--user",
        "root",
        "--password-env",
        "WRONG_PW",
    ])
    .fails_with(exit::CONNECTION)
    .stderr_has("wrong user name or password");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains("esxi2"));

    let mut ceso = ceso_with(&text);
    let added = ceso
        .run(&[
            "host",
            "add",
            "esxi2",
            "--host",
            &b.url,
            "--user",
            "root",
            "--password-env",
            "ESXI_PW",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(added["name"], "esxi2");
    let path = ceso.home.path().join("config.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("esxi1") && text.contains("esxi2"));
    assert!(text.contains("password_env: ESXI_PW"));
    assert!(
        !text.contains("secret"),
        "the password must never be written: {text}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let hosts = ceso_with(&text)
        .run(&["host", "list", "--json"])
        .ok()
        .json();
    assert_eq!(hosts.as_array().unwrap().len(), 2);
    // A second add with the same name is refused.
    ceso_with(&text)
        .run(&[
            "host",
            "add",
            "esxi2",
            "--host",
            &b.url,
            "--user",
            "root",
            "--password-env",
            "ESXI_PW",
        ])
        .fails_with(exit::REFUSED);
    let _: Value = hosts;
}

#[test]
fn passwords_from_a_command() {
    let a = Sim::start(&["-esx", "-username", "root", "-password", "from-cmd"]);
    let yaml = format!(
        "hosts:\n  - name: esxi1\n    host: {}\n    user: root\n    password_command: \"echo from-cmd\"\n",
        a.url
    );
    let mut ceso = Ceso::new();
    ceso.config(&yaml);
    ceso.run(&["vm", "list", "--json"]).ok();
    let failing = yaml.replace("echo from-cmd", "exit 3");
    let mut ceso = Ceso::new();
    ceso.config(&failing);
    ceso.run(&["vm", "list"])
        .fails_with(exit::USAGE)
        .stderr_has("password_command failed");
}

/// A fleet: 50 standalone endpoints (one simulator serving 50 ports, 50 ms per call)
/// and two dead ones. Every live endpoint's VMs and hosts are listed, each dead one is
/// named with its error, and the exit code says the answer is partial.
#[test]
fn fifty_endpoints_with_two_dead() {
    let fleet = Sim::start(&["-esx", "-endpoints", "50", "-delay", "50"]);
    assert_eq!(fleet.urls.len(), 50);
    let mut yaml = String::from("hosts:\n");
    for (i, url) in fleet.urls.iter().enumerate() {
        yaml.push_str(&format!(
            "  - name: esx{i:02}\n    host: {url}\n    user: root\n    password_env: ESXI_PW\n"
        ));
    }
    for name in ["dead1", "dead2"] {
        let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = dead.local_addr().unwrap().port();
        drop(dead);
        yaml.push_str(&format!(
            "  - name: {name}\n    host: http://127.0.0.1:{port}/sdk\n    user: root\n    password_env: ESXI_PW\n"
        ));
    }
    let vms = ceso_with(&yaml)
        .run(&["vm", "list", "--all-hosts", "--json"])
        .fails_with(exit::PARTIAL)
        .json();
    let results = vms["results"].as_array().expect("results");
    let endpoints: std::collections::BTreeSet<&str> = results
        .iter()
        .map(|v| v["endpoint"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(endpoints.len(), 50, "every live endpoint answered");
    assert_eq!(results.len(), 50 * 2, "two VMs per simulated host");
    let errors: Vec<&str> = vms["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["endpoint"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(errors, ["dead1", "dead2"]);

    let hosts = ceso_with(&yaml)
        .run(&["host", "list", "--json"])
        .fails_with(exit::PARTIAL)
        .json();
    let hosts = hosts.as_array().expect("a JSON array");
    assert_eq!(hosts.len(), 52);
    let unreachable: Vec<&str> = hosts
        .iter()
        .filter(|h| h["connection_state"] == "unreachable")
        .map(|h| h["endpoint"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(unreachable, ["dead1", "dead2"]);
}
