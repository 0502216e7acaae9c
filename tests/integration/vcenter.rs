//! `ceso rp`, `ceso cluster`, `ceso drs` and `ceso vm move` against the simulator
//! (tests/vcsim/drs.go models what vcsim lacks: cluster reconfiguration, pool
//! summaries, MoveIntoResourcePool).

use serde_json::Value;

use crate::sim::{Sim, exit};

const CLUSTER: &str = "DC0_C0";
const ROOT: &str = "DC0/DC0_C0/Resources";

fn pool<'a>(list: &'a Value, path: &str) -> &'a Value {
    list.as_array()
        .expect("a list")
        .iter()
        .find(|p| p["path"] == path)
        .unwrap_or_else(|| panic!("no pool {path} in {list:#}"))
}

fn cluster_vms(sim: &Sim) -> Vec<(String, String)> {
    let vms = sim
        .ceso()
        .run(&["vm", "list", "DC0_C0_*", "--json"])
        .ok()
        .json();
    vms.as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["name"].as_str().unwrap().to_string(),
                v["host"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn pools_nested_create_update_move_delete() {
    let sim = Sim::vcenter();
    // A bare name goes under the only cluster's root pool.
    let created = sim
        .ceso()
        .run(&[
            "rp",
            "create",
            "prod",
            "--cpu-shares",
            "high",
            "--memory-limit",
            "4096",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(created["path"], format!("{ROOT}/prod"));
    assert_eq!(created["cpu"]["shares_level"], "high");
    assert_eq!(created["cpu"]["shares"], 8000);
    assert_eq!(created["memory"]["limit"], 4096);
    sim.ceso()
        .run(&[
            "rp",
            "create",
            &format!("{ROOT}/prod/web"),
            "--no-expandable",
            "--cpu-reservation",
            "500",
        ])
        .ok();

    // Dry runs show the diff and change nothing.
    let dry = sim
        .ceso()
        .run(&["rp", "update", "web", "--memory-shares", "low", "--dry-run"])
        .ok();
    dry.stdout_has("~ memoryAllocation.shares: normal (163840) → low (81920)");
    let list = sim.ceso().run(&["rp", "list", "--json"]).ok().json();
    let web = pool(&list, &format!("{ROOT}/prod/web"));
    assert_eq!(web["memory"]["shares_level"], "normal");
    assert_eq!(web["depth"], 2);
    assert_eq!(web["cpu"]["expandable"], false);
    // Each pool reads back its own name and config (vcsim shares one summary).
    assert_eq!(
        pool(&list, &format!("{ROOT}/prod"))["pools"],
        serde_json::json!(["web"])
    );

    // Update changes only what is given (here via govc's path form).
    let updated = sim
        .ceso()
        .run(&[
            "rp",
            "update",
            "/DC0/host/DC0_C0/Resources/prod/web",
            "--cpu-shares",
            "6000",
            "--expandable",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(updated["cpu"]["shares_level"], "custom");
    assert_eq!(updated["cpu"]["shares"], 6000);
    assert_eq!(updated["cpu"]["reservation"], 500, "untouched fields stay");
    assert_eq!(updated["cpu"]["expandable"], true);
    let table = sim.ceso().run(&["rp", "list", "--cluster", CLUSTER]).ok();
    assert!(
        table.stdout.contains("    web "),
        "indented tree:\n{}",
        table.stdout
    );
    assert!(
        !table.stdout.contains("DC0_H0"),
        "--cluster filters:\n{}",
        table.stdout
    );

    // Names: ambiguous lists the paths; unknown suggests close names; bad input exits 2.
    sim.ceso()
        .run(&["rp", "info", "Resources"])
        .fails_with(exit::NOT_FOUND)
        .stderr_has("DC0/DC0_C0/Resources, DC0/DC0_H0/Resources");
    sim.ceso()
        .run(&["rp", "info", "webb"])
        .fails_with(exit::NOT_FOUND)
        .stderr_has("did you mean web");
    sim.ceso()
        .run(&["rp", "update", "web", "--cpu-shares", "lots"])
        .fails_with(exit::USAGE);
    sim.ceso()
        .run(&["rp", "create", "prod/web"])
        .fails_with(exit::REFUSED);

    // vm move: globs, into a pool of the same cluster; another cluster's VM is refused.
    let moved = sim
        .ceso()
        .run(&[
            "vm",
            "move",
            "DC0_C0_RP0_*",
            "--resource-pool",
            "prod/web",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(moved.as_array().unwrap().len(), 2);
    assert!(
        moved
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["to"] == format!("{ROOT}/prod/web"))
    );
    let info = sim
        .ceso()
        .run(&["vm", "info", "DC0_C0_RP0_VM0", "--json"])
        .ok()
        .json();
    assert_eq!(info["resource_pool"], "web");
    sim.ceso()
        .run(&["vm", "move", "DC0_H0_VM0", "--resource-pool", "prod"])
        .fails_with(exit::REFUSED)
        .stderr_has("belongs to DC0_C0");
    // A glob over VMs of both: every VM is refused, nothing is moved (all planned first).
    sim.ceso()
        .run(&["vm", "move", "*_VM1", "--resource-pool", "prod"])
        .fails_with(exit::REFUSED)
        .stderr_has("DC0_H0_VM1")
        .stderr_has("belongs to DC0_C0")
        .stderr_has("nothing was moved");
    let info = sim
        .ceso()
        .run(&["vm", "info", "DC0_C0_RP0_VM1", "--json"])
        .ok()
        .json();
    assert_eq!(info["resource_pool"], "web", "the cluster's VM was moved");
    sim.ceso()
        .run(&[
            "vm",
            "create",
            "pooled",
            "--resource-pool",
            &format!("{ROOT}/prod"),
            "--dry-run",
        ])
        .ok()
        .stdout_has(&format!("{ROOT}/prod"));

    // Delete asks (refused without a terminal), says where the VMs go, and they go there.
    sim.ceso()
        .run(&["rp", "delete", "web"])
        .fails_with(exit::REFUSED);
    sim.ceso()
        .run(&["rp", "delete", "web", "--dry-run"])
        .ok()
        .stdout_has("vSphere moves them to the parent");
    let deleted = sim
        .ceso()
        .run(&["rp", "delete", "web", "--yes", "--json"])
        .ok()
        .json();
    assert_eq!(deleted["moved_to"], format!("{ROOT}/prod"));
    let list = sim.ceso().run(&["rp", "list", "--json"]).ok().json();
    let prod = pool(&list, &format!("{ROOT}/prod"));
    assert_eq!(
        prod["vms"],
        serde_json::json!(["DC0_C0_RP0_VM0", "DC0_C0_RP0_VM1"])
    );
    sim.ceso()
        .run(&["rp", "delete", ROOT, "--yes"])
        .fails_with(exit::REFUSED)
        .stderr_has("root pool");
}

#[test]
fn drs_groups_rules_and_check() {
    let sim = Sim::vcenter();
    let vms = cluster_vms(&sim);
    let (a, b) = (&vms[0], &vms[1]);

    // An unknown VM is an error with close names, and nothing is sent.
    sim.ceso()
        .run(&[
            "drs",
            "rule",
            "create",
            "r",
            "--separate",
            &format!("{},DC0_C0_RP0_VMX", a.0),
        ])
        .fails_with(exit::NOT_FOUND)
        .stderr_has("did you mean DC0_C0_RP0_VM0");
    sim.ceso()
        .run(&[
            "drs",
            "rule",
            "create",
            "apart",
            "--separate",
            &format!("{},{}", a.0, b.0),
            "--dry-run",
        ])
        .ok()
        .stdout_has("+ rulesSpec.info: ClusterAntiAffinityRuleSpec 'apart'");
    assert_eq!(
        sim.ceso()
            .run(&["drs", "rule", "list", "--json"])
            .ok()
            .json(),
        serde_json::json!([])
    );

    // Keys come from the server; rules read back with their VMs by name.
    let first = sim
        .ceso()
        .run(&[
            "drs",
            "rule",
            "create",
            "apart",
            "--separate",
            "DC0_C0_RP0_VM*",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(first["rule"]["key"], 1);
    let second = sim
        .ceso()
        .run(&[
            "drs",
            "rule",
            "create",
            "together",
            "--keep-together",
            &format!("{},{}", a.0, b.0),
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(second["rule"]["key"], 2);
    let rules = sim
        .ceso()
        .run(&["drs", "rule", "list", "--json"])
        .ok()
        .json();
    assert_eq!(rules[0]["type"], "separate");
    assert_eq!(rules[0]["vms"], serde_json::json!([a.0, b.0]));
    assert_eq!(rules[1]["enabled"], true);
    assert!(rules[1]["uuid"].as_str().is_some_and(|u| u.len() == 36));

    // Contradiction (together and apart) and a violation of whichever rule the
    // current placement breaks.
    let check = sim
        .ceso()
        .run(&["drs", "check", "--json"])
        .fails_with(1)
        .json();
    let findings = check["findings"].as_array().unwrap();
    assert!(findings.iter().any(|f| {
        f["kind"] == "contradiction"
            && f["message"]
                .as_str()
                .unwrap()
                .contains("kept together by 'together' and kept apart by 'apart'")
    }));
    let broken = if a.1 == b.1 { "apart" } else { "together" };
    assert!(
        findings
            .iter()
            .any(|f| f["kind"] == "violation" && f["rules"][0] == broken),
        "{check:#}"
    );
    sim.ceso().run(&["drs", "rule", "disable", "together"]).ok();
    let rules = sim
        .ceso()
        .run(&["drs", "rule", "list", "--json"])
        .ok()
        .json();
    assert_eq!(rules[1]["enabled"], false);
    assert_eq!(rules[1]["key"], 2, "an edit keeps the key");

    // Groups and a must-run rule to one host: anti-affinity of two VMs cannot hold,
    // and a VM bigger than the host cannot fit.
    sim.ceso()
        .run(&[
            "vm",
            "create",
            "big",
            "--memory",
            "8192",
            "--host",
            "DC0_C0_H2",
            "--power-on",
        ])
        .ok();
    sim.ceso()
        .run(&[
            "drs",
            "group",
            "create",
            "web-vms",
            "--vms",
            "DC0_C0_RP0_VM*,big",
        ])
        .ok();
    sim.ceso()
        .run(&["drs", "group", "create", "one-host", "--hosts", "DC0_C0_H0"])
        .ok();
    sim.ceso()
        .run(&[
            "drs",
            "rule",
            "create",
            "pin",
            "--vm-group",
            "web-vms",
            "--host-group",
            "one-host",
            "--must",
        ])
        .ok();
    sim.ceso()
        .run(&[
            "drs",
            "rule",
            "create",
            "pin2",
            "--vm-group",
            "nope",
            "--host-group",
            "one-host",
            "--must",
        ])
        .fails_with(exit::NOT_FOUND)
        .stderr_has("VM group 'nope' not found");
    let groups = sim
        .ceso()
        .run(&["drs", "group", "list", "--json"])
        .ok()
        .json();
    assert_eq!(
        groups[0]["members"],
        serde_json::json!(["DC0_C0_RP0_VM0", "DC0_C0_RP0_VM1", "big"])
    );
    assert_eq!(groups[1]["rules"], serde_json::json!(["pin"]));
    let check = sim
        .ceso()
        .run(&["drs", "check", "--json"])
        .fails_with(1)
        .json();
    let messages: Vec<&str> = check["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "contradiction")
        .map(|f| f["message"].as_str().unwrap())
        .collect();
    assert!(
        messages
            .iter()
            .any(|m| m.contains("keeps 2 VMs apart, but they can use only 1 host(s) under 'pin'")),
        "{messages:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("the VMs of group 'web-vms' need 8256 MB")),
        "{messages:?}"
    );
    // big runs on H2, outside the host group.
    assert!(check["findings"].as_array().unwrap().iter().any(|f| {
        f["kind"] == "violation"
            && f["message"]
                .as_str()
                .unwrap()
                .starts_with("big runs on DC0_C0_H2, outside host group 'one-host'")
    }));

    // A group used by a rule cannot go; a VM that no longer exists is reported.
    sim.ceso()
        .run(&["drs", "group", "delete", "one-host", "--yes"])
        .fails_with(exit::REFUSED)
        .stderr_has("used by rule 'pin'");
    sim.ceso()
        .run(&["vm", "delete", "big", "--force", "--yes"])
        .ok();
    let check = sim
        .ceso()
        .run(&["drs", "check", "--json"])
        .fails_with(1)
        .json();
    assert!(
        check["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["kind"] == "missing"
                && f["message"]
                    .as_str()
                    .unwrap()
                    .contains("which no longer exist")
                && f["rules"] == serde_json::json!(["web-vms", "pin"])),
        "{check:#}"
    );

    // Membership edits, deletions, and what is left.
    sim.ceso()
        .run(&["drs", "group", "remove", "web-vms", "DC0_C0_RP0_VM1"])
        .ok();
    sim.ceso()
        .run(&["drs", "rule", "delete", "pin", "--yes"])
        .ok();
    sim.ceso()
        .run(&["drs", "group", "delete", "one-host", "--yes"])
        .ok();
    let info = sim.ceso().run(&["cluster", "info", "--json"]).ok().json();
    assert_eq!(info["rules"], 2);
    assert_eq!(info["groups"], 1);
    let groups = sim
        .ceso()
        .run(&["drs", "group", "list", "--json"])
        .ok()
        .json();
    assert_eq!(
        groups[0]["ids"].as_array().unwrap().len(),
        1,
        "the edit dropped the deleted VM"
    );

    // Recommendations: none pending; RecommendHostsForVm is not offered by vcsim.
    sim.ceso()
        .run(&["drs", "recommendations"])
        .ok()
        .stderr_has("no pending recommendations");
    sim.ceso()
        .run(&["drs", "recommendations", "--vm", &a.0])
        .fails_with(exit::REFUSED)
        .stderr_has("does not offer RecommendHostsForVm");
}

#[test]
fn cluster_settings_and_standalone_refusals() {
    let sim = Sim::vcenter();
    let before = sim
        .ceso()
        .run(&["cluster", "info", CLUSTER, "--json"])
        .ok()
        .json();
    assert_eq!(before["drs_enabled"], true);
    assert_eq!(before["hosts"].as_array().unwrap().len(), 3);
    assert!(before["memory_total_mb"].as_i64().unwrap() > 0);
    sim.ceso()
        .run(&[
            "cluster",
            "update",
            "--drs-automation",
            "manual",
            "--drs-threshold",
            "5",
            "--dry-run",
        ])
        .ok()
        .stdout_has("~ drsConfig.vmotionRate: 3 → 1");
    let updated = sim
        .ceso()
        .run(&[
            "cluster",
            "update",
            CLUSTER,
            "--drs-automation",
            "manual",
            "--drs-threshold",
            "5",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(updated["cluster"]["drs_automation"], "manual");
    assert_eq!(updated["cluster"]["drs_threshold"], 5);
    assert_eq!(
        updated["cluster"]["drs_enabled"], true,
        "only what is given changes"
    );
    let list = sim.ceso().run(&["cluster", "list", "--json"]).ok().json();
    assert_eq!(list[0]["vmotion_rate"], 1);
    sim.ceso()
        .run(&["cluster", "update", "--drs-threshold", "9"])
        .fails_with(exit::USAGE);
    sim.ceso()
        .run(&["cluster", "info", "DC0_C1"])
        .fails_with(exit::NOT_FOUND)
        .stderr_has("did you mean DC0_C0");

    let esx = Sim::esx();
    for args in [
        &["cluster", "list"][..],
        &["drs", "check"],
        &["drs", "rule", "list"],
        &["drs", "group", "create", "g", "--vms", "x"],
    ] {
        let run = esx.ceso().run(args).fails_with(exit::REFUSED);
        run.stderr_has("is a standalone ESXi host: it has no clusters or DRS");
        assert!(!run.stderr.contains("Fault"), "{}", run.stderr);
    }
    // Standalone hosts do have resource pools.
    esx.ceso().run(&["rp", "create", "dev"]).ok();
    let list = esx.ceso().run(&["rp", "list", "--json"]).ok().json();
    assert_eq!(list.as_array().unwrap().len(), 2);
}

#[test]
fn scripts_reach_pools_and_rules() {
    let sim = Sim::vcenter();
    sim.ceso().run(&["rp", "create", "prod"]).ok();
    sim.ceso()
        .run(&["vm", "move", "DC0_C0_RP0_VM0", "--resource-pool", "prod"])
        .ok();
    let script = r#"
        let out = #{};
        out.vms = rp("prod").vms();
        out.pools = rps().len();
        out.before = drs_rules().len();
        out.created = drs::create_rule(#{name: "apart", separate: ["DC0_C0_RP0_VM*"]}).rule.name;
        out.dry = drs::create_rule(#{name: "other", keep_together: ["DC0_C0_RP0_VM*"], dry_run: true}).dry_run;
        out.rules = drs_rules().map(|r| r.name);
        try {
            drs::create_rule(#{name: "bad", separate: ["nope", "DC0_C0_RP0_VM0"]});
        } catch (e) {
            out.fault = e.fault;
            out.message = e.message;
        }
        out.ok = drs_check().ok;
        out
    "#;
    let out = sim.ceso().run(&["--json", "-c", script]).ok().json();
    assert_eq!(out["vms"], serde_json::json!(["DC0_C0_RP0_VM0"]));
    assert_eq!(out["pools"], 3);
    assert_eq!(out["before"], 0);
    assert_eq!(out["created"], "apart");
    assert_eq!(out["dry"], true);
    assert_eq!(
        out["rules"],
        serde_json::json!(["apart"]),
        "the dry run sent nothing"
    );
    assert_eq!(out["fault"], "NotFound");
    assert!(
        out["message"].as_str().unwrap().contains("'nope'"),
        "{out:#}"
    );
    // Both cluster VMs start on hosts vcsim picks; the check reflects whichever.
    assert!(out["ok"].is_boolean());
}

#[test]
fn scripts_change_pools_groups_rules_and_clusters() {
    let sim = Sim::vcenter();
    let vms = cluster_vms(&sim);
    let (a, b) = (&vms[0].0, &vms[1].0);
    let script = format!(
        r#"
        let out = #{{}};
        out.created = rp::create("prod", #{{cpu_shares: "high", memory_limit: 4096, expandable: false}}).path;
        rp::create("prod/scratch");
        out.updated = rp::update("prod", #{{cpu_reservation: 500}}).cpu.reservation;
        out.moved = vm::move(["{a}"], "prod").map(|r| r.to);
        rp::delete("scratch");
        drs::create_group("web", #{{vms: ["{a}"]}});
        drs::add("web", ["{b}"]);
        drs::create_group("pinned", #{{hosts: ["DC0_C0_H0", "DC0_C0_H1"]}});
        drs::remove("pinned", ["DC0_C0_H1"]);
        drs::create_group("gone", #{{hosts: ["DC0_C0_H2"]}});
        drs::delete_group("gone");
        drs::create_rule(#{{name: "on-h0", vm_group: "web", host_group: "pinned", should: true}});
        drs::create_rule(#{{name: "apart", separate: ["{a}", "{b}"]}});
        drs::disable_rule("apart");
        drs::create_rule(#{{name: "tmp", keep_together: ["{a}", "{b}"]}});
        drs::delete_rule("tmp");
        out.cluster = cluster::update("{CLUSTER}", #{{drs_automation: "manual", drs_threshold: 5}}).drs_automation;
        out
    "#
    );
    let out = sim.ceso().run(&["--json", "-c", &script]).ok().json();
    assert_eq!(out["created"], format!("{ROOT}/prod"));
    assert_eq!(out["updated"], 500);
    assert_eq!(out["moved"], serde_json::json!([format!("{ROOT}/prod")]));
    assert_eq!(out["cluster"], "manual");

    // Read back over SOAP through the CLI.
    let prod = sim
        .ceso()
        .run(&["rp", "info", "prod", "--json"])
        .ok()
        .json();
    assert_eq!(prod["cpu"]["shares_level"], "high");
    assert_eq!(prod["cpu"]["reservation"], 500);
    assert_eq!(prod["memory"]["limit"], 4096);
    assert_eq!(prod["cpu"]["expandable"], false);
    assert_eq!(prod["vms"], serde_json::json!([a]));
    assert_eq!(prod["pools"], serde_json::json!([]), "scratch was deleted");
    let groups = sim
        .ceso()
        .run(&["drs", "group", "list", "--json"])
        .ok()
        .json();
    let names: Vec<&str> = groups
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["web", "pinned"]);
    assert_eq!(groups[0]["members"], serde_json::json!([a, b]));
    assert_eq!(groups[1]["members"], serde_json::json!(["DC0_C0_H0"]));
    let rules = sim
        .ceso()
        .run(&["drs", "rule", "list", "--json"])
        .ok()
        .json();
    let rules = rules.as_array().unwrap();
    assert_eq!(rules.len(), 2, "{rules:#?}");
    let on_h0 = rules.iter().find(|r| r["name"] == "on-h0").unwrap();
    assert_eq!(on_h0["vm_group"], "web");
    let apart = rules.iter().find(|r| r["name"] == "apart").unwrap();
    assert_eq!(apart["enabled"], false);
    let cluster = sim
        .ceso()
        .run(&["cluster", "info", CLUSTER, "--json"])
        .ok()
        .json();
    assert_eq!(cluster["drs_threshold"], 5);
}

#[test]
fn script_pool_drs_and_cluster_changes_honour_dry_run() {
    let sim = Sim::vcenter();
    sim.ceso().run(&["rp", "create", "prod"]).ok();
    sim.ceso()
        .run(&["drs", "group", "create", "web", "--vms", "DC0_C0_RP0_VM0"])
        .ok();
    sim.ceso()
        .run(&["drs", "group", "create", "hosts", "--hosts", "DC0_C0_H0"])
        .ok();
    sim.ceso()
        .run(&[
            "drs",
            "rule",
            "create",
            "apart",
            "--separate",
            "DC0_C0_RP0_VM0,DC0_C0_RP0_VM1",
        ])
        .ok();
    let read = |sim: &Sim| {
        let run = |args: &[&str]| sim.ceso().run(args).ok().json();
        serde_json::json!([
            run(&["rp", "list", "--json"]),
            run(&["drs", "group", "list", "--json"]),
            run(&["drs", "rule", "list", "--json"]),
            run(&["cluster", "info", CLUSTER, "--json"]),
            run(&["vm", "info", "DC0_C0_RP0_VM0", "--json"])["resource_pool"],
        ])
    };
    let before = read(&sim);
    // DRY_RUN (ceso --dry-run) for most, the dry_run option for the rest.
    let script = format!(
        r#"
        if !DRY_RUN {{ throw "expected DRY_RUN"; }}
        rp::create("test");
        rp::update("prod", #{{cpu_shares: "low"}});
        rp::delete("prod");
        vm::move("DC0_C0_RP0_VM0", "prod");
        drs::create_group("more", #{{hosts: ["DC0_C0_H1"]}});
        drs::add("web", ["DC0_C0_RP0_VM1"]);
        drs::remove("web", ["DC0_C0_RP0_VM0"]);
        drs::delete_group("web");
        drs::disable_rule("apart");
        drs::delete_rule("apart");
        drs::create_rule(#{{name: "x", vm_group: "web", host_group: "hosts", must: true}});
        cluster::update("{CLUSTER}", #{{drs: false}});
        rp::update("prod", #{{memory_limit: 1024, dry_run: true}}).dry_run
    "#
    );
    let run = sim.ceso().run(&["--dry-run", "--json", "-c", &script]).ok();
    assert_eq!(run.stdout.trim(), "true");
    run.stderr_has("would send");
    run.stderr_has("would move DC0_C0_RP0_VM0");
    assert_eq!(read(&sim), before, "a dry run changes nothing");
}

/// The spec's literal syntax, `rp create NAME --cpu SHARES --memory SHARES`: the
/// shares flags under their spec names, read back over SOAP.
#[test]
fn rp_create_takes_the_specs_cpu_and_memory_flags() {
    let sim = Sim::vcenter();
    sim.ceso()
        .run(&["rp", "create", "spec", "--cpu", "high", "--memory", "low"])
        .ok();
    let list = sim.ceso().run(&["rp", "list", "--json"]).ok().json();
    let p = pool(&list, &format!("{ROOT}/spec"));
    assert_eq!(p["cpu"]["shares_level"], "high");
    assert_eq!(p["memory"]["shares_level"], "low");
}

#[test]
fn drs_apply_that_fails_after_applying_one_is_partial() {
    // The second ApplyRecommendation is answered with a SystemError fault.
    let sim = Sim::start(&["-fail-method", "ApplyRecommendation:2"]);
    let hosts = ["DC0_C0_H0", "DC0_C0_H1", "DC0_C0_H2"];
    let vms = cluster_vms(&sim);
    assert!(vms.len() >= 2, "{vms:?}");
    let elsewhere = |from: &str| {
        hosts
            .iter()
            .find(|h| **h != from)
            .map(|h| h.to_string())
            .expect("another host")
    };
    let (vm0, from0) = vms[0].clone();
    let (vm1, from1) = vms[1].clone();
    let (to0, to1) = (elsewhere(&from0), elsewhere(&from1));
    sim.control(
        "/vcsim/drs",
        &serde_json::json!({"cluster": CLUSTER, "migrations": [
            {"vm": vm0, "to": to0},
            {"vm": vm1, "to": to1},
        ]}),
    );
    let pending = sim
        .ceso()
        .run(&["drs", "recommendations", "--json"])
        .ok()
        .json();
    assert_eq!(pending[0]["key"], "1", "{pending:#}");
    assert_eq!(
        pending[0]["actions"][0],
        format!("migrate {vm0} from {from0} to {to0}")
    );
    assert_eq!(pending[1]["key"], "2", "{pending:#}");

    // A key that is not pending: not found, nothing applied.
    sim.ceso()
        .run(&["drs", "apply", "1", "9"])
        .fails_with(exit::NOT_FOUND)
        .stderr_has("'9' not found");
    assert_eq!(cluster_vms(&sim), vms);

    // Key 1 applied (its VM moved), key 2 failed: partial (7), naming both.
    sim.ceso()
        .run(&["drs", "apply", "1", "2"])
        .fails_with(exit::PARTIAL)
        .stderr_has("applied recommendation 1; not applied (1)")
        .stderr_has("recommendation 2: ")
        .stderr_has("injected by -fail-method");
    let now = cluster_vms(&sim);
    let host = |vm: &str| {
        now.iter()
            .find(|(n, _)| n == vm)
            .map(|(_, h)| h.clone())
            .expect("listed")
    };
    assert_eq!(host(&vm0), to0);
    assert_eq!(host(&vm1), from1);
    // The applied one is gone; the failed one is still pending.
    let pending = sim
        .ceso()
        .run(&["drs", "recommendations", "--json"])
        .ok()
        .json();
    let keys: Vec<&str> = pending
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|r| r["key"].as_str())
        .collect();
    assert_eq!(keys, vec!["2"]);
}
