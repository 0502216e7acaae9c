//! Placement and optimization against the simulator, with workloads set through the
//! demand extension (tests/vcsim/demand.go): an imbalanced cluster is analysed,
//! balanced by `vm balance`, and its imbalance read back over SOAP.

use serde_json::{Value, json};

use crate::sim::Sim;

/// POST /vcsim/demand: set workloads (the extension's test-only control).
fn set_demand(sim: &Sim, body: &Value) {
    sim.control("/vcsim/demand", body);
}

/// The cluster's VMs by host, from `inventory dump`.
fn vms_by_host(sim: &Sim) -> Vec<(String, String)> {
    let inv = sim
        .ceso()
        .run(&["inventory", "dump", "--cluster", "DC0_C0"])
        .ok()
        .json();
    inv["vms"]
        .as_array()
        .expect("vms")
        .iter()
        .map(|v| {
            (
                v["name"].as_str().unwrap_or_default().to_string(),
                v["host"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// Heavy VMs on one host, light ones elsewhere: returns the hot host.
fn skew(sim: &Sim) -> String {
    let vms = vms_by_host(sim);
    assert!(vms.len() >= 6, "the model has too few VMs: {vms:?}");
    let hot = vms[0].1.clone();
    let mut wl = serde_json::Map::new();
    for (name, host) in &vms {
        let (cpu, mem) = if *host == hot {
            (1400, 1100)
        } else {
            (150, 150)
        };
        wl.insert(
            name.clone(),
            json!({"cpu_mhz": cpu, "guest_memory_mb": mem, "host_memory_mb": mem}),
        );
    }
    set_demand(sim, &json!({ "vms": wl }));
    hot
}

fn analyze(sim: &Sim) -> Value {
    sim.ceso()
        .run(&["optimize", "analyze", "--cluster", "DC0_C0", "--json"])
        .ok()
        .json()
}

/// The imbalance of one cluster in `optimize analyze --json`.
fn imbalance_of(analysis: &Value, cluster: &str) -> Value {
    analysis["clusters"]
        .as_array()
        .expect("clusters")
        .iter()
        .find(|c| c["cluster"] == cluster)
        .map(|c| c["imbalance"].clone())
        .unwrap_or_else(|| panic!("no cluster {cluster}: {analysis}"))
}

#[test]
fn imbalanced_cluster_is_analysed_recommended_and_balanced() {
    let sim = Sim::start(&["-vm", "9"]);
    let hot = skew(&sim);
    let before = analyze(&sim);
    let imb = imbalance_of(&before, "DC0_C0")["total"]
        .as_f64()
        .expect("imbalance");
    assert!(
        imb > 0.3,
        "the skewed cluster should be imbalanced: {before}"
    );
    assert_eq!(before["hot"], json!([hot]), "{before}");
    assert_eq!(before["demand"]["quick_stats"], 9, "{before}");

    // vm create without --host: the engine picks the host, --dry-run shows why.
    let create = sim
        .ceso()
        .run(&[
            "vm",
            "create",
            "new-1",
            "--cpu",
            "1",
            "--memory",
            "256",
            "--dry-run",
            "--json",
        ])
        .ok()
        .json();
    let chosen = create["placement"]["ranked"][0]["host"].clone();
    assert_eq!(create["plan"]["host"], chosen, "{create}");
    assert_ne!(chosen, json!(hot), "{create}");

    // The plan lowers the imbalance and says by how much, step by step.
    let plan = sim
        .ceso()
        .run(&["optimize", "recommend", "--cluster", "DC0_C0", "--json"])
        .ok()
        .json();
    let moves = plan["moves"].as_array().expect("moves");
    assert!(!moves.is_empty(), "{plan}");
    assert!(moves.iter().all(|m| m["from"] == json!(hot)), "{plan}");
    assert!(
        plan["after"]["total"].as_f64().unwrap() < imb * 0.5,
        "{plan}"
    );
    let plan_file = tempfile::NamedTempFile::new().expect("temp");
    std::fs::write(plan_file.path(), plan.to_string()).expect("write plan");

    // --dry-run checks the steps and migrates nothing.
    let dry = sim
        .ceso()
        .run(&[
            "vm",
            "balance",
            "--cluster",
            "DC0_C0",
            "--dry-run",
            "--json",
        ])
        .ok()
        .json();
    assert!(
        dry["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["outcome"] == "would_migrate"),
        "{dry}"
    );
    assert_eq!(
        imbalance_of(&analyze(&sim), "DC0_C0"),
        imbalance_of(&before, "DC0_C0")
    );

    // Without a terminal, migrating needs --yes.
    sim.ceso()
        .run(&["vm", "balance", "--cluster", "DC0_C0"])
        .fails_with(6)
        .stderr_has("--yes");

    let done = sim
        .ceso()
        .run(&["vm", "balance", "--cluster", "DC0_C0", "--yes", "--json"])
        .ok()
        .json();
    assert_eq!(done["complete"], true, "{done}");
    assert!(
        done["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["outcome"] == "migrated"),
        "{done}"
    );
    // Read back over SOAP: the VMs moved and the hosts' quickStats followed.
    let after = analyze(&sim);
    let imb_after = imbalance_of(&after, "DC0_C0")["total"].as_f64().unwrap();
    assert!(
        imb_after < imb * 0.8,
        "before {imb}, after {imb_after}: {after}"
    );
    let hosts = sim.ceso().run(&["host", "list", "--json"]).ok().json();
    let hot_row = hosts
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == json!(hot))
        .expect("hot host listed");
    let hot_vms = vms_by_host(&sim).iter().filter(|(_, h)| *h == hot).count() as i64;
    assert!(hot_vms < 3, "VMs left on {hot}: {hot_vms}");
    assert_eq!(
        hot_row["cpu_usage_mhz"].as_i64(),
        Some(1400 * hot_vms),
        "{hot_row}"
    );

    // The old plan no longer matches reality: apply stops at its first step.
    sim.ceso()
        .run(&[
            "optimize",
            "apply",
            plan_file.path().to_str().unwrap(),
            "--cluster",
            "DC0_C0",
            "--yes",
        ])
        .fails_with(6)
        .stdout_has("stopped at")
        .stderr_has("no longer matches");
    assert_eq!(
        imbalance_of(&analyze(&sim), "DC0_C0"),
        imbalance_of(&after, "DC0_C0")
    );
}

#[test]
fn place_explains_rules_groups_and_policies() {
    let sim = Sim::vcenter();
    let mut ceso = crate::sim::Ceso::new();
    ceso.env("VC_PW", "pass");
    let dir = tempfile::tempdir().expect("temp");
    let policy = dir.path().join("no-h1.rhai");
    std::fs::write(
        &policy,
        "fn filter(vm, host) {\n  if host.name.ends_with(\"_H1\") { [false, \"H1 is being retired\"] } else { true }\n}\nfn score(vm, host) { if host.name.ends_with(\"_H2\") { 500 } else { 0 } }\n",
    )
    .unwrap();
    ceso.config(&format!(
        "hosts:\n  - name: vc\n    host: {}\n    user: user\n    password_env: VC_PW\nplacement:\n  host_groups:\n    lab: [DC0_C0_H0]\n  policies:\n    - {{ vms: 'app-*', host_group: lab, rule: must_not }}\n",
        sim.url
    ));
    let out = ceso
        .run(&[
            "place",
            "app-1",
            "--cpus",
            "1",
            "--memory",
            "256",
            "--cluster",
            "DC0_C0",
            "--policy",
            policy.to_str().unwrap(),
            "--json",
        ])
        .ok()
        .json();
    let ranked = out["ranked"].as_array().expect("ranked");
    assert_eq!(ranked.len(), 1, "{out}");
    assert_eq!(ranked[0]["host"], "DC0_C0_H2");
    assert_eq!(ranked[0]["policy_score"], 500.0);
    let reason = |host: &str| {
        out["rejected"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["host"] == host)
            .map(|r| r["reasons"].clone())
            .unwrap_or(Value::Null)
    };
    assert_eq!(reason("DC0_C0_H0")[0]["kind"], "group", "{out}");
    assert_eq!(reason("DC0_C0_H1")[0]["kind"], "policy", "{out}");
    assert!(
        reason("DC0_C0_H1")[0]["message"]
            .as_str()
            .unwrap()
            .contains("H1 is being retired")
    );
    // Stock quickStats report no memory for VMs: the configured size was used.
    assert_eq!(out["demand"]["source"], "configured", "{out}");

    // Too large for any host: refused, each host with its capacity reason.
    let mut c = sim.ceso();
    let run = c.run(&[
        "place",
        "big",
        "--cpus",
        "64",
        "--memory",
        "900000",
        "--cluster",
        "DC0_C0",
        "--explain",
    ]);
    run.stdout_has("not DC0_C0_H0: CPU")
        .stdout_has("overcommit");
    run.fails_with(6);

    // A runaway policy is stopped with its file named.
    let runaway = dir.path().join("loop.rhai");
    std::fs::write(&runaway, "fn score(vm, host) {\n  loop { }\n}\n").unwrap();
    sim.ceso()
        .run(&[
            "place",
            "x",
            "--cpus",
            "1",
            "--memory",
            "64",
            "--policy",
            runaway.to_str().unwrap(),
        ])
        .fails_with(2)
        .stderr_has("loop.rhai: in score(): Too many operations");
}

#[test]
fn drs_rules_bind_the_engine_and_inventory_files_work_offline() {
    let sim = Sim::vcenter();
    let inv = sim
        .ceso()
        .run(&["inventory", "dump", "--cluster", "DC0_C0"])
        .ok()
        .json();
    let vms: Vec<String> = inv["vms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(vms.len(), 2, "{inv}");
    sim.ceso()
        .run(&[
            "drs",
            "rule",
            "create",
            "apart",
            "--separate",
            &vms.join(","),
            "--cluster",
            "DC0_C0",
            "--yes",
        ])
        .ok();
    let inv = sim
        .ceso()
        .run(&["inventory", "dump", "--cluster", "DC0_C0"])
        .ok()
        .json();
    assert_eq!(inv["rules"][0]["type"], "vm_anti_affinity", "{inv}");
    assert_eq!(inv["rules"][0]["name"], "DC0_C0/apart");
    assert_eq!(inv["hosts"].as_array().unwrap().len(), 3);
    assert!(
        inv["hosts"][0]["datastores"]
            .as_array()
            .unwrap()
            .contains(&json!("LocalDS_0"))
    );

    // Offline: the dumped file, no server. The second VM may not join the first's host.
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), inv.to_string()).unwrap();
    let first = inv["vms"][0]["host"].as_str().unwrap().to_string();
    let out = crate::sim::Ceso::new()
        .run(&[
            "place",
            &vms[1],
            "--inventory",
            file.path().to_str().unwrap(),
            "--json",
        ])
        .ok()
        .json();
    let rejected = out["rejected"].as_array().unwrap();
    let on_first = rejected.iter().find(|r| r["host"] == json!(first));
    if inv["vms"][1]["host"] != json!(first) {
        assert_eq!(
            on_first.expect("first host refused")["reasons"][0]["kind"],
            "rule",
            "{out}"
        );
    }
    // Offline planning works on the file; phase4.optimization.enabled: false turns it off.
    let plan = crate::sim::Ceso::new()
        .run(&[
            "optimize",
            "recommend",
            "--inventory",
            file.path().to_str().unwrap(),
            "--json",
        ])
        .ok()
        .json();
    assert!(plan["before"]["total"].is_number(), "{plan}");
    let mut off = crate::sim::Ceso::new();
    off.config("phase4:\n  optimization:\n    enabled: false\n");
    off.run(&[
        "optimize",
        "recommend",
        "--inventory",
        file.path().to_str().unwrap(),
    ])
    .fails_with(6)
    .stderr_has("optimization is disabled");
    // A broken inventory file: the line and column.
    std::fs::write(file.path(), "{\"hosts\": [}").unwrap();
    crate::sim::Ceso::new()
        .run(&[
            "optimize",
            "recommend",
            "--inventory",
            file.path().to_str().unwrap(),
        ])
        .fails_with(2)
        .stderr_has(":1:");
}

#[test]
fn script_functions_find_optimal_host_and_recommend_migrations() {
    let sim = Sim::vcenter();
    let out = sim
        .ceso()
        .run(&[
            "-c",
            "let p = find_optimal_host(#{name: \"n1\", cpus: 1, memory_mb: 128, cluster: \"DC0_C0\"}); let r = recommend_migrations(3, \"DC0_C0\"); `${p.ranked.len()} ${p.ranked[0].host.starts_with(\"DC0_C0_H\")} ${r.moves.len() <= 3} ${type_of(optimize_analyze().clusters[0].imbalance.total)}`",
        ])
        .ok();
    out.stdout_has("3 true true f64");
}

#[test]
fn load_balance_and_auto_balance_settings_are_honoured() {
    let sim = Sim::start(&["-vm", "9"]);
    let hot = skew(&sim);
    let before = analyze(&sim);

    // multi_host.load_balance: false: vm create leaves the host to vCenter.
    let with = |extra: &str| {
        let mut c = sim.ceso();
        c.env("VC_PW", "pass").config(&format!(
            "hosts:\n  - name: vc\n    host: {}\n    user: user\n    password_env: VC_PW\nphase4:\n{extra}",
            sim.url
        ));
        c
    };
    let mut manual = with("  multi_host:\n    load_balance: false\n");
    let create = manual
        .run(&[
            "vm",
            "create",
            "new-2",
            "--cpu",
            "1",
            "--memory",
            "256",
            "--dry-run",
            "--json",
        ])
        .ok()
        .json();
    assert!(create["placement"].is_null(), "{create}");

    // optimization.auto_balance: true is standing consent: no --yes needed.
    let mut auto = with("  optimization:\n    auto_balance: true\n");
    let done = auto
        .run(&["vm", "balance", "--cluster", "DC0_C0", "--json"])
        .ok()
        .json();
    assert_eq!(done["complete"], true, "{done}");
    let after = analyze(&sim);
    assert!(
        imbalance_of(&after, "DC0_C0")["total"].as_f64().unwrap()
            < imbalance_of(&before, "DC0_C0")["total"].as_f64().unwrap(),
        "{after}"
    );
    assert!(
        vms_by_host(&sim).iter().filter(|(_, h)| *h == hot).count() < 3,
        "VMs stayed on {hot}"
    );
}

/// vCenter custom attributes are the placement engine's tags (`host.tags.rack` in a
/// policy): set with SetField here as an operator would in the vSphere Client or with
/// `govc fields.set`.
#[test]
fn custom_attributes_are_tags_for_policies() {
    let sim = Sim::vcenter();
    let soap = crate::sim::Soap::login(&sim);
    let added = soap.call(
        r#"<AddCustomFieldDef xmlns="urn:vim25"><_this type="CustomFieldsManager">CustomFieldsManager</_this><name>rack</name><moType>HostSystem</moType></AddCustomFieldDef>"#,
    );
    let key = added
        .split("<key>")
        .nth(1)
        .and_then(|rest| rest.split("</key>").next())
        .unwrap_or_else(|| panic!("no key in {added}"))
        .to_string();
    for (host, rack) in [
        ("DC0_C0_H0", "r1"),
        ("DC0_C0_H1", "r2"),
        ("DC0_C0_H2", "r1"),
    ] {
        let info = sim
            .ceso()
            .run(&["host", "info", host, "--json"])
            .ok()
            .json();
        let id = info[0]["id"]
            .as_str()
            .or(info["id"].as_str())
            .unwrap_or_else(|| panic!("no id: {info}"))
            .to_string();
        let set = soap.call(&format!(
            r#"<SetField xmlns="urn:vim25"><_this type="CustomFieldsManager">CustomFieldsManager</_this><entity type="HostSystem">{id}</entity><key>{key}</key><value>{rack}</value></SetField>"#
        ));
        assert!(set.contains("SetFieldResponse"), "SetField: {set}");
    }
    let dump = sim.ceso().run(&["inventory", "dump"]).ok().json();
    let tagged: Vec<(String, String)> = dump["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .filter_map(|h| {
            Some((
                h["name"].as_str()?.to_string(),
                h["tags"]["rack"].as_str()?.to_string(),
            ))
        })
        .collect();
    assert!(
        tagged.contains(&("DC0_C0_H1".into(), "r2".into())),
        "{tagged:?}"
    );
    assert_eq!(tagged.len(), 3, "{tagged:?}");

    let dir = tempfile::tempdir().expect("temp");
    let policy = dir.path().join("rack.rhai");
    std::fs::write(
        &policy,
        "fn score(vm, host) { if host.tags.rack == \"r2\" { 100 } else { 0 } }\n",
    )
    .unwrap();
    let out = sim
        .ceso()
        .run(&[
            "place",
            "app-1",
            "--cpus",
            "1",
            "--memory",
            "256",
            "--cluster",
            "DC0_C0",
            "--policy",
            policy.to_str().unwrap(),
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(out["ranked"][0]["host"], "DC0_C0_H1", "{out}");
    assert_eq!(out["ranked"][0]["policy_score"], 100.0, "{out}");
}

/// A migration that fails while a plan runs: the failed step is named with the fault,
/// the steps done before it are counted (they stay done), and the exit code is the
/// fault's, not a silent success or a bare server error.
#[test]
fn a_failed_step_is_reported_with_the_steps_already_done() {
    let sim = Sim::start(&["-vm", "9", "-fail-method", "RelocateVM_Task:1"]);
    let hot = skew(&sim);
    let total = vms_by_host(&sim).iter().filter(|(_, h)| *h == hot).count();
    let run = sim
        .ceso()
        .run(&["vm", "balance", "--cluster", "DC0_C0", "--yes"])
        .fails_with(crate::sim::exit::SERVER_FAULT);
    run.stderr_has("the plan stopped at a failed migration after 0 of 1 step(s) had run")
        .stderr_has("injected by -fail-method")
        .stdout_has(&format!("FAILED DC0_C0_RP0_VM0 {hot} →"));
    // Read back: nothing left the hot host.
    let still = vms_by_host(&sim).iter().filter(|(_, h)| *h == hot).count();
    assert_eq!(still, total);
}

/// The same config online and offline: host groups, `must` policies and overcommit
/// ratios bind `--inventory` runs exactly as live ones.
#[test]
fn offline_runs_use_the_config_like_online_ones() {
    let sim = Sim::vcenter();
    let dump = sim
        .ceso()
        .run(&["inventory", "dump", "--cluster", "DC0_C0"])
        .ok();
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &dump.stdout).unwrap();
    let offline = file.path().to_str().unwrap();
    // `place VM` for a new 1-vCPU VM under `placement` (a config section), online and
    // offline; both must give the same JSON, with exit code `code`.
    let place = |placement: &str, vm: &str, code: i32| -> Value {
        let config = format!(
            "hosts:\n  - name: vc\n    host: {}\n    user: user\n    password_env: VC_PW\n{placement}",
            sim.url
        );
        let args = [
            "place",
            vm,
            "--cpus",
            "1",
            "--memory",
            "64",
            "--cluster",
            "DC0_C0",
            "--json",
        ];
        let mut live = crate::sim::Ceso::new();
        live.env("VC_PW", "pass").config(&config);
        let mut off = crate::sim::Ceso::new();
        off.config(&config);
        let mut off_args = args.to_vec();
        off_args.extend(["--inventory", offline]);
        let (a, b) = if code == 0 {
            (live.run(&args).ok().json(), off.run(&off_args).ok().json())
        } else {
            (
                live.run(&args).fails_with(code).json(),
                off.run(&off_args).fails_with(code).json(),
            )
        };
        assert_eq!(a, b, "online and offline differ");
        a
    };
    // A must policy onto a host group: only that host.
    let out = place(
        "placement:\n  host_groups:\n    lab: [DC0_C0_H1]\n  policies:\n    - { vms: 'x-*', host_group: lab, rule: must }\n",
        "x-1",
        0,
    );
    let ranked: Vec<&Value> = out["ranked"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["host"])
        .collect();
    assert_eq!(ranked, [&json!("DC0_C0_H1")], "{out}");
    assert!(
        out["rejected"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["reasons"][0]["kind"] == "group"),
        "{out}"
    );
    // An overcommit ratio no host meets: every host refused for it, offline too.
    let out = place(
        "phase4:\n  optimization:\n    overcommit: { cpu: 0.01, memory: 100.0 }\n",
        "x-2",
        6,
    );
    let rejected = out["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 3, "{out}");
    assert!(
        rejected.iter().all(|r| r["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["kind"] == "overcommit")),
        "{out}"
    );
}

/// A running VM whose quickStats are all zeros was not measured: offline as online,
/// its configured size is its demand.
#[test]
fn zero_quick_stats_in_a_file_count_as_the_configured_size() {
    let sim = Sim::vcenter();
    let mut inv = sim
        .ceso()
        .run(&["inventory", "dump", "--cluster", "DC0_C0"])
        .ok()
        .json();
    let vm = inv["vms"][0].clone();
    assert_eq!(vm["powered_on"], true, "{vm}");
    inv["vms"][0]["usage"] = json!({"cpu_mhz": 0, "guest_memory_mb": 0, "host_memory_mb": 0});
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), inv.to_string()).unwrap();
    let name = vm["name"].as_str().unwrap();
    let out = crate::sim::Ceso::new()
        .run(&[
            "place",
            name,
            "--inventory",
            file.path().to_str().unwrap(),
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(out["demand"]["source"], "configured", "{out}");
    assert_eq!(
        out["demand"]["memory_mb"],
        vm["memory_mb"].as_f64().unwrap(),
        "{out}"
    );
    let live = sim
        .ceso()
        .run(&["place", name, "--cluster", "DC0_C0", "--json"])
        .ok()
        .json();
    assert_eq!(live["demand"], out["demand"], "{live}");
}

/// VMs never move between clusters: `optimize analyze` gives each cluster its own
/// imbalance (the standalone host is a cluster of one), never one pooled figure.
#[test]
fn analyze_reports_the_imbalance_of_each_cluster() {
    let sim = Sim::start(&["-vm", "9"]);
    skew(&sim);
    let all = sim
        .ceso()
        .run(&["optimize", "analyze", "--json"])
        .ok()
        .json();
    let mut names: Vec<&str> = all["clusters"]
        .as_array()
        .expect("clusters")
        .iter()
        .filter_map(|c| c["cluster"].as_str())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["DC0_C0", "DC0_H0"], "{all}");
    let c0 = imbalance_of(&all, "DC0_C0");
    // The same figure as analysing the cluster alone: the standalone host's load
    // does not leak into it.
    assert_eq!(c0, imbalance_of(&analyze(&sim), "DC0_C0"));
    assert!(c0["total"].as_f64().unwrap() > 0.3, "{all}");
    assert_eq!(imbalance_of(&all, "DC0_H0")["total"], 0.0, "{all}");
    assert!(all.get("imbalance").is_none(), "no pooled headline: {all}");
    sim.ceso()
        .run(&["optimize", "analyze"])
        .ok()
        .stdout_has("imbalance of DC0_C0: ")
        .stdout_has("imbalance of DC0_H0: cpu 0.0000, memory 0.0000, total 0.0000");
    // A plan reports each cluster before and after it.
    let plan = sim
        .ceso()
        .run(&["optimize", "recommend", "--json"])
        .ok()
        .json();
    let of = |name: &str| {
        plan["clusters"]
            .as_array()
            .expect("clusters")
            .iter()
            .find(|c| c["cluster"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name}: {plan}"))
    };
    let c = of("DC0_C0");
    assert_eq!(c["before"], c0, "{plan}");
    assert!(
        c["after"]["total"].as_f64().unwrap() < c0["total"].as_f64().unwrap(),
        "{plan}"
    );
    assert_eq!(of("DC0_H0")["moves"], 0, "{plan}");
}
