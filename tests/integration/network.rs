//! `ceso network …`, `vswitch …`, `dvs …` and `vm nic …` against the simulator's
//! networking extension (tests/vcsim/network.go).

use serde_json::Value;

use crate::sim::{Sim, exit};

const CLUSTER: &str = "DC0_C0";

fn json(sim: &Sim, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    sim.ceso().run(&all).ok().json()
}

/// Standard port groups and vSwitches of the cluster's hosts, as read over SOAP.
fn cluster_network(sim: &Sim) -> (Value, Value) {
    let list = json(sim, &["network", "list"]);
    let standard: Vec<Value> = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "standard")
        .cloned()
        .collect();
    (
        Value::Array(standard),
        json(sim, &["vswitch", "list", "--cluster", CLUSTER]),
    )
}

fn rows<'a>(list: &'a Value, name: &str) -> Vec<&'a Value> {
    list.as_array()
        .unwrap()
        .iter()
        .filter(|r| r["name"] == name)
        .collect()
}

#[test]
fn cluster_vlan_creation_where_host_3_of_4_fails_leaves_every_host_as_before() {
    let sim = Sim::start(&["-host", "4", "-network-fail", "DC0_C0_H2"]);
    let before = cluster_network(&sim);
    let run = sim
        .ceso()
        .run(&[
            "network",
            "create",
            "vlan100",
            "--vlan-id",
            "100",
            "--cluster",
            CLUSTER,
            "--promiscuous",
            "reject",
        ])
        .fails_with(exit::SERVER_FAULT);
    run.stderr_has("failed on DC0_C0_H2")
        .stderr_has("HostConfigFault")
        .stderr_has("restored DC0_C0_H0, DC0_C0_H1")
        .stderr_has("every host was put back")
        .stderr_has("no host was left changed");
    assert_eq!(cluster_network(&sim), before, "a host was left changed");
    // An update that fails on host 3 puts the VLAN back on hosts 1 and 2.
    sim.ceso()
        .run(&[
            "network",
            "update",
            "VM Network",
            "--vlan-id",
            "42",
            "--cluster",
            CLUSTER,
        ])
        .fails_with(exit::SERVER_FAULT);
    assert_eq!(cluster_network(&sim), before);
    // The dry run shows every host's before/after and changes nothing.
    let dry = sim
        .ceso()
        .run(&[
            "network",
            "update",
            "VM Network",
            "--vlan-id",
            "42",
            "--cluster",
            CLUSTER,
            "--dry-run",
        ])
        .ok();
    for h in ["DC0_C0_H0", "DC0_C0_H1", "DC0_C0_H2", "DC0_C0_H3"] {
        dry.stdout_has(&format!("{h}: would change"));
    }
    dry.stdout_has("vlan: 0 -> 42");
    assert_eq!(cluster_network(&sim), before);
}

#[test]
fn a_host_that_cannot_be_restored_is_named() {
    // H0 takes the change but refuses the undo; H2 refuses the change.
    let sim = Sim::start(&["-host", "4", "-network-fail", "DC0_C0_H0:2,DC0_C0_H2"]);
    let run = sim
        .ceso()
        .run(&[
            "network",
            "create",
            "vlan7",
            "--vlan-id",
            "7",
            "--cluster",
            CLUSTER,
        ])
        .fails_with(exit::SERVER_FAULT);
    run.stderr_has("restored DC0_C0_H1")
        .stderr_has("COULD NOT RESTORE DC0_C0_H0");
    let list = json(&sim, &["network", "list"]);
    let hosts: Vec<&str> = rows(&list, "vlan7")
        .iter()
        .map(|r| r["host"].as_str().unwrap())
        .collect();
    assert_eq!(
        hosts,
        ["DC0_C0_H0"],
        "only the unrestorable host keeps the port group"
    );
}

#[test]
fn port_groups_across_a_cluster_with_policies_validation_and_check() {
    let sim = Sim::vcenter();
    let ceso = |args: &[&str]| sim.ceso().run(args);
    // A vCenter with several hosts needs the hosts said.
    ceso(&["network", "create", "x", "--vlan-id", "5"])
        .fails_with(exit::USAGE)
        .stderr_has("say which ones");
    // Validation before anything is sent.
    ceso(&[
        "network",
        "create",
        "x",
        "--vlan-id",
        "4096",
        "--cluster",
        CLUSTER,
    ])
    .fails_with(exit::USAGE)
    .stderr_has("--vlan-id")
    .stderr_has("must be 0–4095, got 4096");
    ceso(&[
        "network",
        "create",
        "x",
        "--shaping",
        "2000,1000,10",
        "--cluster",
        CLUSTER,
    ])
    .fails_with(exit::USAGE)
    .stderr_has("below the average");
    ceso(&[
        "network",
        "create",
        "x",
        "--active",
        "vmnic3",
        "--cluster",
        CLUSTER,
    ])
    .fails_with(exit::USAGE)
    .stderr_has("not an uplink");
    ceso(&["network", "create", "VM Network", "--cluster", CLUSTER])
        .fails_with(exit::USAGE)
        .stderr_has("already exists");
    ceso(&["network", "create", "x", "--cluster", "nope"]).fails_with(exit::NOT_FOUND);
    assert!(rows(&json(&sim, &["network", "list"]), "x").is_empty());

    ceso(&[
        "network",
        "create",
        "db",
        "--vlan-id",
        "30",
        "--cluster",
        CLUSTER,
        "--promiscuous",
        "reject",
        "--forged-transmits",
        "reject",
        "--shaping",
        "100000,200000,1024",
        "--notify-switches",
        "no",
    ])
    .ok();
    let list = json(&sim, &["network", "list"]);
    let db = rows(&list, "db");
    assert_eq!(db.len(), 3, "one row per host of the cluster: {db:?}");
    for r in &db {
        assert_eq!(r["vlan"], "30");
        assert_eq!(r["policy"]["forged_transmits"], false);
        assert_eq!(r["policy"]["shaping"]["peak_kbps"], 200000);
        assert_eq!(r["policy"]["notify_switches"], false);
        // Inherited from vSwitch0: the template's MAC changes accept.
        assert_eq!(r["policy"]["mac_changes"], true);
    }
    // Only what is given changes; --inherit hands a setting back to the vSwitch.
    ceso(&[
        "network",
        "update",
        "db",
        "--host",
        "DC0_C0_H0",
        "--inherit",
        "forged-transmits",
    ])
    .ok();
    let h0 = json(&sim, &["network", "list", "--host", "DC0_C0_H0"]);
    let r = rows(&h0, "db")[0];
    assert_eq!(
        r["policy"]["forged_transmits"], true,
        "inherited from vSwitch0"
    );
    assert_eq!(r["policy"]["notify_switches"], false);
    assert_eq!(r["vlan"], "30");

    // network check: the policy now differs, a port group exists on one host only, a VM
    // is connected to it, and the DVS members have no uplinks.
    ceso(&[
        "network",
        "create",
        "lonely",
        "--host",
        "DC0_C0_H1",
        "--vlan-id",
        "9",
    ])
    .ok();
    ceso(&[
        "vm",
        "nic",
        "set",
        "DC0_C0_RP0_VM0",
        "ethernet-0",
        "--network",
        "lonely",
    ])
    .ok();
    let check = ceso(&["network", "check", "--cluster", CLUSTER, "--json"]).fails_with(1);
    let findings = check.json()["findings"].as_array().unwrap().clone();
    let has =
        |kind: &str, f: &dyn Fn(&Value) -> bool| findings.iter().any(|x| x["kind"] == kind && f(x));
    assert!(
        has("setting_differs", &|x| x["portgroup"] == "db"
            && x["setting"] == "forged-transmits"),
        "{findings:?}"
    );
    assert!(
        has("portgroup_missing", &|x| x["portgroup"] == "lonely"
            && x["missing_on"].as_array().unwrap().len() == 2),
        "{findings:?}"
    );
    assert!(
        has("vm_network_missing", &|x| x["vm"] == "DC0_C0_RP0_VM0"
            && x["network"] == "lonely"),
        "{findings:?}"
    );
    assert!(
        has("dvs_member_without_uplinks", &|x| x["switch"] == "DVS0"),
        "{findings:?}"
    );
    ceso(&["network", "check"])
        .fails_with(1)
        .stdout_has("is missing on");

    // Fix everything: check passes with exit 0.
    ceso(&[
        "vm",
        "nic",
        "set",
        "DC0_C0_RP0_VM0",
        "ethernet-0",
        "--network",
        "DC0_DVPG0",
    ])
    .ok();
    ceso(&[
        "network",
        "delete",
        "lonely",
        "--host",
        "DC0_C0_H1",
        "--yes",
    ])
    .ok();
    ceso(&[
        "network",
        "update",
        "db",
        "--cluster",
        CLUSTER,
        "--forged-transmits",
        "reject",
    ])
    .ok();
    ceso(&[
        "dvs",
        "host",
        "add",
        "DVS0",
        "DC0_H0",
        "DC0_C0_H0",
        "DC0_C0_H1",
        "DC0_C0_H2",
        "--uplinks",
        "vmnic3",
    ])
    .ok();
    ceso(&["network", "check"]).ok().stdout_has("consistent");
    // Deleting a port group a VM uses is refused before anything changes.
    ceso(&["network", "create", "busy", "--cluster", CLUSTER]).ok();
    ceso(&[
        "vm",
        "nic",
        "set",
        "DC0_C0_RP0_VM1",
        "ethernet-0",
        "--network",
        "busy",
    ])
    .ok();
    ceso(&["network", "delete", "busy", "--cluster", CLUSTER, "--yes"])
        .fails_with(exit::REFUSED)
        .stderr_has("VMs are connected")
        .stderr_has("move their NICs first");
    assert_eq!(rows(&json(&sim, &["network", "list"]), "busy").len(), 3);
}

/// Per-host errors keep their kind through the multi-host planning: a refusal is 6
/// with its hint, an unknown vSwitch or port group 4, never "invalid" (2).
#[test]
fn per_host_errors_keep_their_kind_and_name_the_host() {
    let sim = Sim::vcenter();
    let ceso = |args: &[&str]| sim.ceso().run(args);
    ceso(&["network", "create", "busy", "--cluster", CLUSTER]).ok();
    ceso(&[
        "vm",
        "nic",
        "set",
        "DC0_C0_RP0_VM1",
        "ethernet-0",
        "--network",
        "busy",
    ])
    .ok();
    ceso(&["network", "delete", "busy", "--cluster", CLUSTER, "--yes"])
        .fails_with(exit::REFUSED)
        .stderr_has("DC0_C0_RP0_VM1")
        .stderr_has("nothing was changed")
        .stderr_has("move their NICs first");
    assert_eq!(rows(&json(&sim, &["network", "list"]), "busy").len(), 3);
    ceso(&[
        "network",
        "create",
        "x",
        "--vswitch",
        "vSwitch9",
        "--cluster",
        CLUSTER,
    ])
    .fails_with(exit::NOT_FOUND)
    .stderr_has("vswitch 'vSwitch9' not found")
    .stderr_has("DC0_C0_H0")
    .stderr_has("DC0_C0_H2");
    ceso(&[
        "network",
        "update",
        "nosuch",
        "--vlan-id",
        "5",
        "--cluster",
        CLUSTER,
    ])
    .fails_with(exit::NOT_FOUND)
    .stderr_has("port group 'nosuch' not found");
    ceso(&["network", "delete", "nosuch", "--cluster", CLUSTER, "--yes"])
        .fails_with(exit::NOT_FOUND);
    assert!(rows(&json(&sim, &["network", "list"]), "x").is_empty());
}

#[test]
fn vswitches_are_created_with_uplinks_and_deleted_with_their_port_groups() {
    let sim = Sim::vcenter();
    let ceso = |args: &[&str]| sim.ceso().run(args);
    ceso(&[
        "vswitch",
        "create",
        "vSwitch1",
        "--uplinks",
        "vmnic9",
        "--host",
        "DC0_C0_H0",
    ])
    // A NIC the host does not have: not found, the host's NICs named.
    .fails_with(exit::NOT_FOUND)
    .stderr_has("physical NIC vmnic9 does not exist on DC0_C0_H0")
    .stderr_has("the physical NICs of DC0_C0_H0 are vmnic0, vmnic1, vmnic2, vmnic3");
    ceso(&[
        "vswitch",
        "create",
        "vSwitch1",
        "--uplinks",
        "vmnic0",
        "--host",
        "DC0_C0_H0",
    ])
    .fails_with(exit::USAGE)
    .stderr_has("already an uplink of vSwitch0");
    ceso(&[
        "vswitch",
        "create",
        "vSwitch1",
        "--uplinks",
        "vmnic1,vmnic2",
        "--mtu",
        "9000",
        "--cluster",
        CLUSTER,
    ])
    .ok();
    let list = json(&sim, &["vswitch", "list", "--cluster", CLUSTER]);
    let v1: Vec<&Value> = rows(&list, "vSwitch1");
    assert_eq!(v1.len(), 3);
    assert_eq!(v1[0]["mtu"], 9000);
    assert_eq!(v1[0]["uplinks"], serde_json::json!(["vmnic1", "vmnic2"]));
    ceso(&[
        "network",
        "create",
        "storage",
        "--vswitch",
        "vSwitch1",
        "--vlan-id",
        "50",
        "--load-balancing",
        "explicit",
        "--active",
        "vmnic2",
        "--standby",
        "vmnic1",
        "--cluster",
        CLUSTER,
    ])
    .ok();
    let list = json(&sim, &["network", "list"]);
    let pg = &rows(&list, "storage")[0]["policy"];
    assert_eq!(pg["active"], serde_json::json!(["vmnic2"]));
    assert_eq!(pg["standby"], serde_json::json!(["vmnic1"]));
    assert_eq!(pg["load_balancing"], "failover_explicit");
    ceso(&["vswitch", "delete", "vSwitch1", "--cluster", CLUSTER])
        .fails_with(exit::REFUSED)
        .stderr_has("--yes");
    ceso(&[
        "vswitch",
        "delete",
        "vSwitch1",
        "--cluster",
        CLUSTER,
        "--yes",
    ])
    .ok();
    assert!(rows(&json(&sim, &["vswitch", "list"]), "vSwitch1").is_empty());
    assert!(rows(&json(&sim, &["network", "list"]), "storage").is_empty());
}

#[test]
fn dv_portgroup_policy_round_trip_keeps_unrelated_settings() {
    let sim = Sim::vcenter();
    let ceso = |args: &[&str]| sim.ceso().run(args);
    ceso(&[
        "dvs",
        "portgroup",
        "create",
        "DVS0",
        "web",
        "--trunk",
        "200-100",
    ])
    .fails_with(exit::USAGE)
    .stderr_has("runs backwards");
    ceso(&[
        "dvs",
        "portgroup",
        "create",
        "DVS0",
        "web",
        "--trunk",
        "100-200,150",
    ])
    .fails_with(exit::USAGE)
    .stderr_has("overlaps");
    ceso(&[
        "dvs",
        "portgroup",
        "create",
        "DVS0",
        "web",
        "--vlan-id",
        "4095",
    ])
    .fails_with(exit::USAGE);
    ceso(&[
        "dvs",
        "portgroup",
        "create",
        "DVS0",
        "web",
        "--vlan-id",
        "10",
        "--ports",
        "16",
        "--binding",
        "ephemeral",
        "--promiscuous",
        "reject",
        "--shaping",
        "1000,2000,64",
        "--load-balancing",
        "loadbased",
        "--notify-switches",
        "no",
    ])
    .ok();
    let pg = |sim: &Sim| {
        json(sim, &["dvs", "portgroup", "list", "DVS0"])
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "web")
            .cloned()
            .unwrap()
    };
    let before = pg(&sim);
    assert_eq!(before["vlan"], serde_json::json!({"type": "id", "id": 10}));
    // One setting changes; the simulator blanks whatever a spec omits, so this only
    // passes when ceso reads, merges and sends the whole configuration.
    let dry = ceso(&[
        "dvs",
        "portgroup",
        "update",
        "DVS0",
        "web",
        "--forged-transmits",
        "reject",
        "--trunk",
        "100-200,300",
        "--dry-run",
    ])
    .ok();
    dry.stdout_has("forged-transmits: inherit -> reject")
        .stdout_has("vlan: 10 -> trunk 100-200,300");
    assert_eq!(pg(&sim), before, "--dry-run changed something");
    ceso(&[
        "dvs",
        "portgroup",
        "update",
        "DVS0",
        "web",
        "--forged-transmits",
        "reject",
        "--trunk",
        "100-200,300",
    ])
    .ok();
    let after = pg(&sim);
    assert_eq!(
        after["vlan"]["ranges"],
        serde_json::json!([[100, 200], [300, 300]])
    );
    assert_eq!(after["policy"]["forged_transmits"], false);
    for kept in [
        "promiscuous",
        "shaping",
        "shaping_in",
        "load_balancing",
        "notify_switches",
    ] {
        assert_eq!(
            after["policy"][kept], before["policy"][kept],
            "{kept} did not survive"
        );
    }
    assert_eq!(after["ports"], 16);
    assert_eq!(after["binding"], "ephemeral");
    assert_ne!(after["config_version"], before["config_version"]);
    // --inherit returns one setting to the switch default.
    ceso(&[
        "dvs",
        "portgroup",
        "update",
        "DVS0",
        "web",
        "--inherit",
        "promiscuous",
    ])
    .ok();
    let inherited = pg(&sim);
    assert_eq!(inherited["policy"]["promiscuous"], Value::Null);
    assert_eq!(inherited["policy"]["forged_transmits"], false);
    ceso(&["dvs", "portgroup", "delete", "DVS0", "web", "--yes"]).ok();
    assert!(
        json(&sim, &["dvs", "portgroup", "list", "DVS0"])
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["name"] != "web")
    );
}

#[test]
fn distributed_switch_membership_and_vm_nic_reconnection() {
    let sim = Sim::vcenter();
    let ceso = |args: &[&str]| sim.ceso().run(args);
    ceso(&[
        "dvs",
        "create",
        "DSwitch",
        "--uplinks",
        "2",
        "--mtu",
        "9000",
    ])
    .ok();
    ceso(&[
        "dvs",
        "host",
        "add",
        "DSwitch",
        "DC0_C0_H0",
        "--uplinks",
        "vmnic0",
    ])
    .fails_with(exit::USAGE)
    .stderr_has("already an uplink of vSwitch0");
    ceso(&[
        "dvs",
        "host",
        "add",
        "DSwitch",
        "DC0_C0_H0",
        "--uplinks",
        "vmnic9",
    ])
    .fails_with(exit::NOT_FOUND)
    .stderr_has("physical NIC vmnic9 does not exist on DC0_C0_H0")
    .stderr_has("vmnic0, vmnic1, vmnic2, vmnic3");
    // The simulator wants every host of the VM's cluster in the switch (vCenter only the VM's host).
    ceso(&[
        "dvs",
        "host",
        "add",
        "DSwitch",
        "DC0_C0_H0",
        "DC0_C0_H1",
        "DC0_C0_H2",
        "--uplinks",
        "vmnic1,vmnic2",
    ])
    .ok();
    let info = json(&sim, &["dvs", "info", "DSwitch"]);
    assert_eq!(info["max_mtu"], 9000);
    assert_eq!(
        info["uplink_names"],
        serde_json::json!(["uplink1", "uplink2"])
    );
    let members = info["members"].as_array().unwrap();
    assert_eq!(members.len(), 3);
    assert_eq!(
        members[0]["uplinks"],
        serde_json::json!(["vmnic1", "vmnic2"])
    );
    ceso(&[
        "dvs",
        "portgroup",
        "create",
        "DSwitch",
        "app",
        "--vlan-id",
        "20",
        "--active",
        "uplink2",
        "--standby",
        "uplink1",
    ])
    .ok();
    ceso(&[
        "dvs",
        "portgroup",
        "create",
        "DSwitch",
        "bad",
        "--active",
        "uplink7",
    ])
    .fails_with(exit::USAGE)
    .stderr_has("not an uplink");

    // Reconnect a NIC to the new DV port group: same MAC, same key.
    let nics = json(&sim, &["vm", "nic", "list", "DC0_C0_RP0_VM1"]);
    let vm_host = json(&sim, &["vm", "info", "DC0_C0_RP0_VM1"])["host"]
        .as_str()
        .unwrap()
        .to_string();
    let nic = &nics[0];
    {
        ceso(&[
            "vm",
            "nic",
            "set",
            "DC0_C0_RP0_VM1",
            nic["label"].as_str().unwrap(),
            "--network",
            "DSwitch/app",
        ])
        .ok();
        let after = json(&sim, &["vm", "nic", "list", "DC0_C0_RP0_VM1"]);
        assert_eq!(after[0]["mac"], nic["mac"]);
        assert_eq!(after[0]["key"], nic["key"]);
        assert_eq!(after[0]["network"], "app");
        // A member host whose VM uses the switch cannot leave it.
        ceso(&["dvs", "host", "remove", "DSwitch", &vm_host]).fails_with(exit::REFUSED);
        ceso(&[
            "vm",
            "nic",
            "set",
            "DC0_C0_RP0_VM1",
            nic["label"].as_str().unwrap(),
            "--network",
            "VM Network",
        ])
        .ok();
    }
    // A VM on a host outside the switch cannot be connected to it.
    ceso(&["vm", "nic", "add", "DC0_H0_VM0", "--network", "app"])
        .fails_with(exit::REFUSED)
        .stderr_has("not a member");
    let added = json(
        &sim,
        &["vm", "nic", "add", "DC0_H0_VM0", "--network", "VM Network"],
    );
    let listed = json(&sim, &["vm", "nic", "list", "DC0_H0_VM0"]);
    assert_eq!(listed.as_array().unwrap().len(), 2);
    // The answer names the adapter as the server does, with the MAC it was given.
    assert_eq!(added["nic"], listed[1]["label"], "{added} vs {listed}");
    assert_eq!(added["mac"], listed[1]["mac"], "{added} vs {listed}");
    assert_ne!(added["mac"], "", "{added}");
    ceso(&[
        "vm",
        "nic",
        "remove",
        "DC0_H0_VM0",
        "Network adapter 2",
        "--yes",
    ])
    .fails_with(exit::NOT_FOUND);
    let labels: Vec<String> = json(&sim, &["vm", "nic", "list", "DC0_H0_VM0"])
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["label"].as_str().unwrap().to_string())
        .collect();
    ceso(&["vm", "nic", "remove", "DC0_H0_VM0", &labels[1], "--yes"]).ok();
    assert_eq!(
        json(&sim, &["vm", "nic", "list", "DC0_H0_VM0"])
            .as_array()
            .unwrap()
            .len(),
        1
    );

    ceso(&[
        "dvs",
        "host",
        "remove",
        "DSwitch",
        "DC0_C0_H0",
        "DC0_C0_H1",
        "DC0_C0_H2",
    ])
    .ok();
    assert!(
        json(&sim, &["dvs", "info", "DSwitch"])["members"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    ceso(&["dvs", "delete", "DSwitch", "--yes"]).ok();
    assert!(
        json(&sim, &["dvs", "list"])
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["name"] != "DSwitch")
    );
}

#[test]
fn scripts_read_networks_and_the_check_report() {
    let sim = Sim::vcenter();
    let run = sim
        .ceso()
        .run(&["-c", "let r = network_check(#{cluster: \"DC0_C0\"}); let n = network_list(); `${r.consistent} ${r.findings.len()} ${n.filter(|x| x.name == \"VM Network\").len()}`"])
        .ok();
    // The model's switch members have no uplinks (3 cluster hosts); VM Network is on 4 hosts.
    run.stdout_has("false 3 4");
}

#[test]
fn scripts_change_port_groups_and_vswitches() {
    let sim = Sim::vcenter();
    let script = format!(
        r#"
        let out = #{{}};
        out.vswitch = vswitch::create("vSwitch1", #{{uplinks: ["vmnic1", "vmnic2"], mtu: 9000, cluster: "{CLUSTER}"}}).hosts.len();
        network::create("storage", #{{vswitch: "vSwitch1", vlan_id: 50, load_balancing: "explicit",
            active: ["vmnic2"], standby: ["vmnic1"], notify_switches: false, cluster: "{CLUSTER}"}});
        network::create("db", #{{vlan_id: 30, promiscuous: "reject", cluster: "{CLUSTER}"}});
        out.updated = network::update("db", #{{vlan_id: 31, rename: "db2", cluster: "{CLUSTER}"}}).dry_run;
        network::create("tmp", #{{host: "DC0_C0_H0"}});
        network::delete("tmp", #{{host: "DC0_C0_H0"}});
        vswitch::create("vSwitch2", #{{uplinks: "vmnic3", host: "DC0_C0_H1"}});
        vswitch::delete("vSwitch2", #{{host: "DC0_C0_H1"}});
        out
    "#
    );
    let out = sim.ceso().run(&["--json", "-c", &script]).ok().json();
    assert_eq!(out["vswitch"], 3);
    assert_eq!(out["updated"], false);

    let list = json(&sim, &["network", "list"]);
    let storage = rows(&list, "storage");
    assert_eq!(storage.len(), 3, "on every host of the cluster");
    let pg = &storage[0]["policy"];
    assert_eq!(storage[0]["vlan"], "50");
    assert_eq!(pg["active"], serde_json::json!(["vmnic2"]));
    assert_eq!(pg["standby"], serde_json::json!(["vmnic1"]));
    assert_eq!(pg["load_balancing"], "failover_explicit");
    assert_eq!(pg["notify_switches"], false);
    assert!(rows(&list, "db").is_empty(), "renamed");
    let db2 = rows(&list, "db2");
    assert_eq!(db2.len(), 3);
    assert_eq!(db2[0]["vlan"], "31");
    assert_eq!(db2[0]["policy"]["promiscuous"], false);
    assert!(rows(&list, "tmp").is_empty());
    let switches = json(&sim, &["vswitch", "list", "--cluster", CLUSTER]);
    let v1 = rows(&switches, "vSwitch1");
    assert_eq!(v1.len(), 3);
    assert_eq!(v1[0]["mtu"], 9000);
    assert!(rows(&switches, "vSwitch2").is_empty());
}

#[test]
fn script_network_changes_honour_dry_run() {
    let sim = Sim::vcenter();
    sim.ceso()
        .run(&[
            "network",
            "create",
            "db",
            "--vlan-id",
            "30",
            "--cluster",
            CLUSTER,
        ])
        .ok();
    let before = cluster_network(&sim);
    let script = format!(
        r#"
        if !DRY_RUN {{ throw "expected DRY_RUN"; }}
        network::create("web", #{{vlan_id: 10, cluster: "{CLUSTER}"}});
        network::update("db", #{{vlan_id: 31, cluster: "{CLUSTER}"}});
        network::delete("db", #{{cluster: "{CLUSTER}"}});
        vswitch::create("vSwitch1", #{{uplinks: ["vmnic1"], cluster: "{CLUSTER}"}});
        vswitch::delete("vSwitch0", #{{host: "DC0_C0_H0"}});
        network::update("db", #{{promiscuous: "accept", cluster: "{CLUSTER}", dry_run: true}}).dry_run
    "#
    );
    let run = sim.ceso().run(&["--dry-run", "--json", "-c", &script]).ok();
    assert_eq!(run.stdout.trim(), "true");
    run.stderr_has("would change");
    assert_eq!(cluster_network(&sim), before, "a dry run changes nothing");
}

#[test]
fn scripts_change_dv_port_groups_and_vm_nics() {
    let sim = Sim::vcenter();
    let vm = "DC0_C0_RP0_VM0";
    let script = format!(
        r#"
        let out = #{{}};
        dvs::portgroup_create("DVS0", "web", #{{vlan_id: 10, ports: 16, binding: "ephemeral", promiscuous: "reject"}});
        out.changes = dvs::portgroup_update("DVS0", "web", #{{trunk: "100-200,300", forged_transmits: "reject"}}).changes.len();
        dvs::portgroup_create("DVS0", "tmp");
        dvs::portgroup_delete("DVS0", "tmp");
        network::create("db", #{{cluster: "{CLUSTER}"}});
        vm::nic_add("{vm}", #{{network: "VM Network"}});
        vm::nic_set("{vm}", "ethernet-0", #{{network: "db"}});
        out
    "#
    );
    let out = sim.ceso().run(&["--json", "-c", &script]).ok().json();
    assert_eq!(out["changes"], 2, "{out:#}");

    let pgs = json(&sim, &["dvs", "portgroup", "list", "DVS0"]);
    let names: Vec<&str> = pgs
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(!names.contains(&"tmp"), "{names:?}");
    let web = pgs
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "web")
        .unwrap();
    assert_eq!(
        web["vlan"]["ranges"],
        serde_json::json!([[100, 200], [300, 300]])
    );
    assert_eq!(web["ports"], 16);
    assert_eq!(web["binding"], "ephemeral");
    assert_eq!(web["policy"]["promiscuous"], false, "kept");
    assert_eq!(web["policy"]["forged_transmits"], false);

    let nics = json(&sim, &["vm", "nic", "list", vm]);
    let nics = nics.as_array().unwrap();
    assert_eq!(nics.len(), 2, "{nics:#?}");
    let (set, added): (Vec<&Value>, Vec<&Value>) =
        nics.iter().partition(|n| n["label"] == "ethernet-0");
    assert_eq!(set[0]["network"], "db", "{nics:#?}");
    assert_eq!(added[0]["network"], "VM Network");
    let added = added[0]["label"].as_str().unwrap();
    sim.ceso()
        .run(&["-c", &format!(r#"vm::nic_remove("{vm}", "{added}");"#)])
        .ok();
    let nics = json(&sim, &["vm", "nic", "list", vm]);
    assert_eq!(nics.as_array().unwrap().len(), 1);
}

#[test]
fn script_dv_port_group_and_nic_changes_honour_dry_run() {
    let sim = Sim::vcenter();
    let vm = "DC0_C0_RP0_VM0";
    sim.ceso()
        .run(&[
            "dvs",
            "portgroup",
            "create",
            "DVS0",
            "web",
            "--vlan-id",
            "10",
        ])
        .ok();
    sim.ceso()
        .run(&["network", "create", "db", "--cluster", CLUSTER])
        .ok();
    let read = |sim: &Sim| {
        serde_json::json!([
            json(sim, &["dvs", "portgroup", "list", "DVS0"]),
            json(sim, &["vm", "nic", "list", vm]),
        ])
    };
    let before = read(&sim);
    let label = before[1][0]["label"].as_str().unwrap().to_string();
    let script = format!(
        r#"
        if !DRY_RUN {{ throw "expected DRY_RUN"; }}
        dvs::portgroup_create("DVS0", "app", #{{vlan_id: 20}});
        dvs::portgroup_update("DVS0", "web", #{{vlan_id: 11}});
        dvs::portgroup_delete("DVS0", "web");
        vm::nic_add("{vm}", #{{network: "VM Network"}});
        vm::nic_set("{vm}", "{label}", #{{network: "db"}}).dry_run;
        vm::nic_remove("{vm}", "{label}", #{{dry_run: true}}).dry_run
    "#
    );
    let run = sim.ceso().run(&["--dry-run", "--json", "-c", &script]).ok();
    assert_eq!(run.stdout.trim(), "true");
    run.stderr_has("would change vlan");
    run.stderr_has("would remove");
    assert_eq!(read(&sim), before, "a dry run changes nothing");
}

#[test]
fn scripts_create_distributed_switches_and_their_members() {
    let sim = Sim::vcenter();
    let script = r#"
        dvs::create("DSwitch", #{uplinks: 2, mtu: 9000});
        dvs::host_add("DSwitch", ["DC0_C0_H0", "DC0_C0_H1", "DC0_C0_H2"], #{uplinks: ["vmnic1", "vmnic2"]});
        dvs::host_remove("DSwitch", ["DC0_C0_H2"], #{});
        dvs::update("DSwitch", #{promiscuous: "reject"});
        dvs::create("Gone");
        dvs::delete("Gone");
        // Under a dry run nothing changes.
        dvs::update("DSwitch", #{mtu: 1500, dry_run: true});
        dvs::host_remove("DSwitch", ["DC0_C0_H0"], #{dry_run: true}).dry_run
    "#;
    let run = sim.ceso().run(&["--json", "-c", script]).ok();
    assert_eq!(run.stdout.trim(), "true");
    run.stderr_has("would change");
    let info = json(&sim, &["dvs", "info", "DSwitch"]);
    assert_eq!(info["max_mtu"], 9000, "the dry run kept the MTU");
    let members: Vec<&str> = info["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["host"].as_str().unwrap())
        .collect();
    assert_eq!(members, ["DC0_C0_H0", "DC0_C0_H1"]);
    assert_eq!(
        info["members"][0]["uplinks"],
        serde_json::json!(["vmnic1", "vmnic2"])
    );
    let all = json(&sim, &["dvs", "list"]);
    let names: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["name"].as_str())
        .collect();
    assert!(names.contains(&"DSwitch"), "{all:#}");
    assert!(!names.contains(&"Gone"), "{all:#}");
}

#[test]
fn vm_create_on_a_dv_port_group_named_by_its_switch() {
    let sim = Sim::vcenter();
    let ceso = |args: &[&str]| sim.ceso().run(args);
    // Port group names are unique per datacenter (vCenter refuses a duplicate), so
    // SWITCH/NAME says which switch the operator means and is checked against it.
    ceso(&["dvs", "create", "DSwitch-A"]).ok();
    ceso(&["dvs", "create", "DSwitch-B"]).ok();
    ceso(&[
        "dvs",
        "host",
        "add",
        "DSwitch-A",
        "DC0_C0_H0",
        "DC0_C0_H1",
        "DC0_C0_H2",
        "--uplinks",
        "vmnic1",
    ])
    .ok();
    ceso(&[
        "dvs",
        "portgroup",
        "create",
        "DSwitch-A",
        "app",
        "--vlan-id",
        "30",
    ])
    .ok();
    // The spec's plain `--portgroup NAME` works too.
    ceso(&["vm", "create", "pg-1", "--portgroup", "app", "--dry-run"])
        .ok()
        .stdout_has("app");
    ceso(&["vm", "create", "pg-1", "--portgroup", "A/"])
        .fails_with(exit::USAGE)
        .stderr_has("SWITCH/PORTGROUP");
    ceso(&[
        "vm",
        "create",
        "pg-1",
        "--cpu",
        "1",
        "--memory",
        "128",
        "--portgroup",
        "DSwitch-B/app",
    ])
    .fails_with(exit::NOT_FOUND)
    .stderr_has("app");
    ceso(&[
        "vm",
        "create",
        "pg-1",
        "--cpu",
        "1",
        "--memory",
        "128",
        "--portgroup",
        "DSwitch-A/app",
    ])
    .ok();
    let nics = json(&sim, &["vm", "nic", "list", "pg-1"]);
    let text = nics.to_string();
    assert!(text.contains("app"), "{nics}");
}
