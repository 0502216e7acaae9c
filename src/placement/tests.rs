//! Engine tests on hand-built inventories: every filter reason, every rule kind, host
//! groups, policies, the imbalance metric, and plans that never break a hard rule or
//! overcommit.

use super::filter::ReasonKind;
use super::model::*;
use super::*;

fn host(name: &str, cpu_mhz: u64, memory_mb: u64) -> Host {
    Host {
        name: name.into(),
        cluster: "C0".into(),
        cpu_mhz,
        cpu_cores: 4,
        memory_mb,
        connection_state: "connected".into(),
        datastores: vec!["ds1".into()],
        networks: vec!["VM Network".into()],
        ..Default::default()
    }
}

fn vm(name: &str, on: &str, cpu: u64, mem: u64) -> Vm {
    Vm {
        name: name.into(),
        host: Some(on.into()),
        vcpus: 1,
        memory_mb: mem,
        powered_on: true,
        usage: Some(VmUsage {
            cpu_mhz: cpu,
            guest_memory_mb: mem,
            host_memory_mb: mem,
        }),
        ..Default::default()
    }
}

fn new_vm(cpu: u64, mem: u64) -> Vm {
    Vm {
        host: None,
        name: "new".into(),
        ..vm("new", "", cpu, mem)
    }
}

/// Three 10 GHz / 10 GB hosts; h0 carries 6 GHz and 6 GB, h1 2, h2 nothing.
fn skewed() -> Inventory {
    Inventory {
        version: SCHEMA_VERSION,
        hosts: vec![
            host("h0", 10_000, 10_000),
            host("h1", 10_000, 10_000),
            host("h2", 10_000, 10_000),
        ],
        vms: vec![
            vm("a", "h0", 3_000, 3_000),
            vm("b", "h0", 2_000, 2_000),
            vm("c", "h0", 1_000, 1_000),
            vm("d", "h1", 2_000, 2_000),
        ],
        ..Default::default()
    }
}

fn reasons(p: &Placement, host: &str) -> Vec<ReasonKind> {
    p.rejected
        .iter()
        .find(|r| r.host == host)
        .map(|r| r.reasons.iter().map(|x| x.kind).collect())
        .unwrap_or_default()
}

fn place(inv: &Inventory, v: &Vm) -> Placement {
    let st = State::new(inv).expect("state");
    find_optimal_host(&st, v, &NoPolicy).expect("place")
}

#[test]
fn ranks_the_emptiest_host_first() {
    let p = place(&skewed(), &new_vm(1_000, 1_000));
    let order: Vec<&str> = p.ranked.iter().map(|r| r.host.as_str()).collect();
    assert_eq!(order, ["h2", "h1", "h0"]);
    assert!((p.ranked[0].cpu_load_after - 0.1).abs() < 1e-9);
    assert_eq!(p.demand.map(|d| d.source), Some(demand::Source::QuickStats));
}

#[test]
fn capacity_and_state_reasons() {
    let mut inv = skewed();
    inv.hosts[2].maintenance = true;
    let p = place(&inv, &new_vm(5_000, 1_000));
    assert_eq!(reasons(&p, "h0"), [ReasonKind::Capacity]);
    assert_eq!(reasons(&p, "h2"), [ReasonKind::State]);
    assert_eq!(p.best().map(|r| r.host.as_str()), Some("h1"));
}

#[test]
fn configured_size_when_no_quickstats() {
    let mut v = new_vm(0, 0);
    v.usage = None;
    v.vcpus = 2;
    v.memory_mb = 4_096;
    let p = place(&skewed(), &v);
    let d = p.demand.expect("demand");
    assert_eq!(d.source, demand::Source::Configured);
    // 10 000 MHz over 4 cores: 2 500 MHz per vCPU.
    assert_eq!(d.cpu_mhz, 5_000.0);
    assert_eq!(d.memory_mb, 4_096.0);
}

#[test]
fn overcommit_limits_configured_size_not_demand() {
    let mut inv = skewed();
    inv.overcommit = Overcommit {
        cpu: 1.0,
        memory: 1.5,
    };
    // h2 is idle, but 5 vCPUs × 2 500 MHz is more than 1.0 × 10 000 MHz.
    let mut v = new_vm(100, 100);
    v.vcpus = 5;
    let p = place(&inv, &v);
    assert!(reasons(&p, "h2").contains(&ReasonKind::Overcommit));
    v.vcpus = 4;
    assert!(place(&inv, &v).rejected.iter().all(|r| r.host != "h2"));
}

#[test]
fn reservations_are_admission_control() {
    let mut inv = skewed();
    inv.vms[3].cpu_reservation_mhz = 9_000;
    let mut v = new_vm(100, 100);
    v.cpu_reservation_mhz = 2_000;
    let p = place(&inv, &v);
    assert_eq!(reasons(&p, "h1"), [ReasonKind::Reservation]);
}

#[test]
fn datastore_network_device_reasons() {
    let mut inv = skewed();
    inv.hosts[0].datastores.push("san".into());
    inv.hosts[1].networks.push("prod".into());
    inv.hosts[2].free_devices.push("10de:20b5".into());
    let mut v = new_vm(100, 100);
    v.datastores = vec!["san".into()];
    v.networks = vec!["prod".into()];
    v.devices = vec!["10de:20b5".into()];
    let p = place(&inv, &v);
    assert!(p.ranked.is_empty());
    assert_eq!(reasons(&p, "h0"), [ReasonKind::Network, ReasonKind::Device]);
    assert_eq!(
        reasons(&p, "h1"),
        [ReasonKind::Datastore, ReasonKind::Device]
    );
    assert_eq!(
        reasons(&p, "h2"),
        [ReasonKind::Datastore, ReasonKind::Network]
    );
}

#[test]
fn one_device_serves_one_vm() {
    let mut inv = skewed();
    inv.hosts[2].free_devices = vec!["gpu".into()];
    let mut v = new_vm(100, 100);
    v.devices = vec!["gpu".into(), "gpu".into()];
    assert_eq!(reasons(&place(&inv, &v), "h2"), [ReasonKind::Device]);
}

#[test]
fn affinity_and_anti_affinity() {
    let mut inv = skewed();
    inv.rules = vec![
        Rule::VmAffinity {
            name: "together".into(),
            vms: vec!["new".into(), "d".into()],
            mandatory: true,
        },
        Rule::VmAntiAffinity {
            name: "apart".into(),
            vms: vec!["new".into(), "a".into()],
            mandatory: true,
        },
    ];
    let p = place(&inv, &new_vm(100, 100));
    assert_eq!(p.best().map(|r| r.host.as_str()), Some("h1"));
    assert_eq!(reasons(&p, "h0"), [ReasonKind::Rule, ReasonKind::Rule]);
    assert_eq!(reasons(&p, "h2"), [ReasonKind::Rule]);
}

#[test]
fn host_groups_must_should_and_globs() {
    let mut inv = skewed();
    inv.host_groups.insert("lab".into(), vec!["h[01]".into()]);
    inv.rules = vec![Rule::VmHost {
        name: "lab-only".into(),
        vms: vec!["new*".into()],
        host_group: "lab".into(),
        kind: VmHostKind::Must,
    }];
    let p = place(&inv, &new_vm(100, 100));
    assert_eq!(reasons(&p, "h2"), [ReasonKind::Group]);
    assert_eq!(p.best().map(|r| r.host.as_str()), Some("h1"));

    // "should not": allowed, but scored down below the others.
    inv.rules = vec![Rule::VmHost {
        name: "not-lab".into(),
        vms: vec!["new".into()],
        host_group: "lab".into(),
        kind: VmHostKind::ShouldNot,
    }];
    let p = place(&inv, &new_vm(100, 100));
    assert!(p.rejected.is_empty());
    assert_eq!(p.ranked[0].host, "h2");
    assert_eq!(p.ranked[1].soft_rules_broken.len(), 1);
    assert!(p.ranked[1].score < p.ranked[0].score - place::SOFT_RULE_PENALTY + 1.0);

    inv.rules = vec![Rule::VmHost {
        name: "x".into(),
        vms: vec!["new".into()],
        host_group: "nope".into(),
        kind: VmHostKind::Must,
    }];
    let e = State::new(&inv).err().expect("unknown group refused");
    assert!(e.to_string().contains("unknown host group 'nope'"), "{e}");
}

struct NoH2GpuBonus;
impl Policy for NoH2GpuBonus {
    fn filter(&self, _vm: &Vm, host: &Host) -> Result<Option<String>, PlacementError> {
        Ok((host.name == "h2").then(|| "h2 is reserved".to_string()))
    }
    fn score(&self, _vm: &Vm, host: &Host) -> Result<f64, PlacementError> {
        Ok(if host.name == "h0" { 1_000.0 } else { 0.0 })
    }
}

#[test]
fn policy_filter_and_score() {
    let inv = skewed();
    let st = State::new(&inv).expect("state");
    let p = find_optimal_host(&st, &new_vm(100, 100), &NoH2GpuBonus).expect("place");
    assert_eq!(reasons(&p, "h2"), [ReasonKind::Policy]);
    assert_eq!(p.rejected[0].reasons[0].message, "h2 is reserved");
    assert_eq!(p.ranked[0].host, "h0");
    assert_eq!(p.ranked[0].policy_score, 1_000.0);
}

#[test]
fn imbalance_is_population_std_dev_of_load() {
    let inv = skewed();
    let st = State::new(&inv).expect("state");
    let i = imbalance(&st);
    // loads 0.6, 0.2, 0.0: mean 0.2667, σ = sqrt(((1/3)^2+(1/15)^2+(4/15)^2)/3)
    let want = bound::std_dev(&[0.6, 0.2, 0.0]);
    assert!((i.cpu - want).abs() < 1e-12 && (i.memory - want).abs() < 1e-12);
    assert!((want - 0.24944).abs() < 1e-4);
    assert_eq!(i.total, i.cpu + i.memory);
}

#[test]
fn plan_lowers_imbalance_with_gains_that_add_up() {
    let inv = skewed();
    let plan = recommend_migrations(&inv, BalanceOptions::default(), &NoPolicy).expect("plan");
    assert!(!plan.moves.is_empty());
    assert!(plan.after.total < plan.before.total * 0.5, "{plan:?}");
    let gains: f64 = plan.moves.iter().map(|m| m.gain).sum();
    assert!((plan.before.total - plan.after.total - gains).abs() < 1e-9);
    for m in &plan.moves {
        assert!(m.gain > plan.move_threshold);
    }
    // Replaying the plan on the inventory gives the imbalance it promised.
    let mut replay = inv.clone();
    for m in &plan.moves {
        let v = replay.vms.iter_mut().find(|v| v.name == m.vm).expect("vm");
        assert_eq!(v.host.as_deref(), Some(m.from.as_str()));
        v.host = Some(m.to.clone());
    }
    let after = imbalance(&State::new(&replay).expect("state"));
    assert!((after.total - plan.after.total).abs() < 1e-9);
}

#[test]
fn plan_respects_max_moves_and_migration_cost() {
    let inv = skewed();
    let one = BalanceOptions {
        max_moves: 1,
        ..Default::default()
    };
    let plan = recommend_migrations(&inv, one, &NoPolicy).expect("plan");
    assert_eq!(plan.moves.len(), 1);
    assert!(plan.stopped.contains("limit of 1"));
    let costly = BalanceOptions {
        migration_cost: 10.0,
        ..Default::default()
    };
    assert!(
        recommend_migrations(&inv, costly, &NoPolicy)
            .expect("plan")
            .moves
            .is_empty()
    );
}

#[test]
fn plan_never_breaks_hard_rules_or_overcommit() {
    let mut inv = skewed();
    inv.overcommit = Overcommit {
        cpu: 2.0,
        memory: 1.5,
    };
    // h2 is off limits to a and b; c and d must share a host (both start on h0).
    inv.vms[3].host = Some("h0".into());
    inv.host_groups.insert("edge".into(), vec!["h2".into()]);
    inv.rules = vec![
        Rule::VmHost {
            name: "not-edge".into(),
            vms: vec!["a".into(), "b".into()],
            host_group: "edge".into(),
            kind: VmHostKind::MustNot,
        },
        Rule::VmAffinity {
            name: "pair".into(),
            vms: vec!["c".into(), "d".into()],
            mandatory: true,
        },
    ];
    // h2 accepts little configured size: 1 vCPU × 2 500 MHz × 2.0 = 5 000 ≥ one VM only.
    inv.hosts[2].cpu_mhz = 2_500;
    inv.hosts[2].cpu_cores = 1;
    inv.hosts[2].memory_mb = 10_000;
    inv.overcommit.cpu = 1.0;
    let plan = recommend_migrations(&inv, BalanceOptions::default(), &NoPolicy).expect("plan");
    let mut replay = inv.clone();
    for m in &plan.moves {
        assert!(!(m.to == "h2" && (m.vm == "a" || m.vm == "b")), "{m:?}");
        let v = replay.vms.iter_mut().find(|v| v.name == m.vm).expect("vm");
        v.host = Some(m.to.clone());
    }
    let st = State::new(&replay).expect("state");
    let a = analyze(&st);
    assert!(
        a.violations.iter().all(|v| !v.mandatory),
        "{:?}",
        a.violations
    );
    assert!(a.per_host.iter().all(|h| !h.over_limit), "{:?}", a.per_host);
}

#[test]
fn device_vms_and_offline_hosts_do_not_move() {
    let mut inv = skewed();
    for v in &mut inv.vms[..3] {
        v.devices = vec!["gpu".into()];
    }
    let plan = recommend_migrations(&inv, BalanceOptions::default(), &NoPolicy).expect("plan");
    assert!(plan.moves.iter().all(|m| m.from != "h0"));
    inv.hosts[2].connection_state = "disconnected".into();
    let plan = recommend_migrations(&inv, BalanceOptions::default(), &NoPolicy).expect("plan");
    assert!(plan.moves.iter().all(|m| m.to != "h2"));
}

#[test]
fn moves_stay_inside_a_cluster() {
    let mut inv = skewed();
    inv.hosts[2].cluster = "C1".into();
    inv.hosts[1].cluster = "C1".into();
    let plan = recommend_migrations(&inv, BalanceOptions::default(), &NoPolicy).expect("plan");
    assert!(plan.moves.iter().all(|m| m.from != "h0"), "{plan:?}");
}

#[test]
fn same_input_same_answer() {
    let inv = skewed();
    let a = serde_json::to_string(
        &recommend_migrations(&inv, BalanceOptions::default(), &NoPolicy).expect("plan"),
    )
    .expect("json");
    let b = serde_json::to_string(
        &recommend_migrations(&inv, BalanceOptions::default(), &NoPolicy).expect("plan"),
    )
    .expect("json");
    assert_eq!(a, b);
    let p1 = serde_json::to_string(&place(&inv, &new_vm(10, 10))).expect("json");
    let p2 = serde_json::to_string(&place(&inv, &new_vm(10, 10))).expect("json");
    assert_eq!(p1, p2);
}

#[test]
fn lower_bound_is_below_any_plan() {
    let inv = skewed();
    let st = State::new(&inv).expect("state");
    let lb = lower_bound(&st).expect("equal hosts");
    // 8 GHz over three 10 GHz hosts spreads to 0.2667 each: σ = 0.
    assert!(lb.total.abs() < 1e-12);
    let plan = recommend_migrations(&inv, BalanceOptions::default(), &NoPolicy).expect("plan");
    assert!(plan.after.total >= lb.total);
    let mut pinned = inv.clone();
    pinned.vms[0].devices = vec!["gpu".into()];
    let lb = lower_bound(&State::new(&pinned).expect("state")).expect("bound");
    // a (0.3) stays on h0; the other 0.5 fills h1 and h2 to 0.25 each.
    assert!((lb.cpu - bound::std_dev(&[0.3, 0.25, 0.25])).abs() < 1e-12);
    let mut mixed = inv;
    mixed.hosts[0].cpu_mhz = 20_000;
    assert!(lower_bound(&State::new(&mixed).expect("state")).is_none());
}

#[test]
fn analyze_reports_hot_cold_and_stranded() {
    let mut inv = skewed();
    // h1: memory full, CPU mostly free → its free CPU is stranded.
    inv.vms[3].usage = Some(VmUsage {
        cpu_mhz: 1_000,
        guest_memory_mb: 9_800,
        host_memory_mb: 9_800,
    });
    let a = analyze(&State::new(&inv).expect("state"));
    // h1 is hot by memory (0.98 against a mean of 0.55).
    assert_eq!(a.hot, ["h0", "h1"]);
    assert!(a.cold.contains(&"h2".to_string()));
    assert!((a.stranded.cpu_mhz - 9_000.0).abs() < 1e-6);
    assert_eq!(a.demand.quick_stats, 4);
}

#[test]
fn inventory_json_refuses_unknown_fields_and_defaults_the_rest() {
    let inv: Inventory = serde_json::from_str(
        r#"{"hosts":[{"name":"h","cpu_mhz":1000,"memory_mb":1024}],"vms":[{"name":"v","memory_mb":512,"host":"h"}]}"#,
    )
    .expect("minimal inventory");
    assert_eq!(inv.version, SCHEMA_VERSION);
    assert_eq!(inv.overcommit, Overcommit::default());
    assert!(inv.vms[0].powered_on);
    let e = serde_json::from_str::<Inventory>(r#"{"hostz":[]}"#).expect_err("refused");
    assert!(e.to_string().contains("hostz"), "{e}");
    let inv: Inventory =
        serde_json::from_str(r#"{"hosts":[],"vms":[{"name":"v","memory_mb":1,"host":"ghost"}]}"#)
            .expect("parses");
    let e = State::new(&inv).err().expect("unknown host refused");
    assert!(e.to_string().contains("ghost"), "{e}");
}

#[test]
fn the_migration_cost_is_stated_for_eight_hosts_and_scaled_to_larger_ones() {
    use super::balance::{REFERENCE_HOSTS, move_threshold};
    assert_eq!(move_threshold(0.001, 3), 0.001);
    assert_eq!(move_threshold(0.001, REFERENCE_HOSTS), 0.001);
    assert!((move_threshold(0.001, 64) - 0.000125).abs() < 1e-12);
    // A plan reports both: what was configured and what a move had to beat.
    let inv = skewed();
    let plan = recommend_migrations(&inv, BalanceOptions::default(), &NoPolicy).expect("plan");
    assert_eq!(
        plan.migration_cost,
        BalanceOptions::default().migration_cost
    );
    assert!(plan.move_threshold <= plan.migration_cost);
}
