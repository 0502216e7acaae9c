//! Placement engine benchmark (run by scripts/bench-placement): generated inventories,
//! the engine against a plain greedy baseline measured in the same run.
//!
//! 1. Placing one VM among 1,000 hosts (10,000 VMs): built-in, and with a Rhai score
//!    policy; the baseline is a bare least-loaded scan with a capacity check.
//! 2. Rebalancing 64 hosts / 4,000 VMs, half the hosts skewed hot: time, imbalance
//!    cut, the gap to the fluid lower bound, and moves; the baseline moves the largest
//!    VM from the most to the least loaded host while that lowers the imbalance.

use std::time::{Duration, Instant};

use ceso::placement::model::*;
use ceso::placement::{
    BalanceOptions, NoPolicy, State, find_optimal_host, imbalance, lower_bound,
    recommend_migrations,
};
use ceso::script::engine::Limits;
use ceso::script::placement_policy::RhaiPolicy;

/// xorshift64*: the same inventory on every run.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

fn host(i: usize, cluster: &str) -> Host {
    let mut tags = std::collections::BTreeMap::new();
    tags.insert("rack".to_string(), format!("r{}", i % 16));
    Host {
        name: format!("esx{i:04}"),
        cluster: cluster.into(),
        cpu_mhz: 64 * 2_600,
        cpu_cores: 64,
        memory_mb: 1024 * 1024,
        connection_state: "connected".into(),
        datastores: vec!["vsan".into()],
        networks: vec!["VM Network".into()],
        tags,
        ..Default::default()
    }
}

fn vm(rng: &mut Rng, i: usize, on: &str, heat: u64) -> Vm {
    let vcpus = [1, 1, 2, 2, 2, 4][rng.range(0, 5) as usize];
    let memory_mb = u64::from(vcpus) * 4096;
    let cpu = u64::from(vcpus) * 2_600 * rng.range(10, 30 + heat) / 100;
    let mem = memory_mb * rng.range(30, 60 + heat / 2) / 100;
    Vm {
        name: format!("vm{i:05}"),
        host: Some(on.into()),
        vcpus,
        memory_mb,
        powered_on: true,
        datastores: vec!["vsan".into()],
        networks: vec!["VM Network".into()],
        usage: Some(VmUsage {
            cpu_mhz: cpu,
            guest_memory_mb: mem,
            host_memory_mb: mem,
        }),
        ..Default::default()
    }
}

fn big_inventory() -> Inventory {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let hosts: Vec<Host> = (0..1_000)
        .map(|i| host(i, &format!("c{}", i / 100)))
        .collect();
    let vms = (0..10_000)
        .map(|i| {
            let h = &hosts[rng.range(0, 999) as usize].name;
            vm(&mut rng, i, h, 0)
        })
        .collect();
    Inventory {
        version: SCHEMA_VERSION,
        hosts,
        vms,
        rules: vec![Rule::VmAntiAffinity {
            name: "db-apart".into(),
            vms: vec!["vm0000[0-9]".into()],
            mandatory: true,
        }],
        ..Default::default()
    }
}

/// 64 hosts, 4,000 VMs: the first 16 hosts carry over twice the VMs of the others,
/// and hotter ones, within the overcommit limits (vCPU ratio about 3.4 hot, 1.5 cold).
fn skewed_inventory() -> Inventory {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let hosts: Vec<Host> = (0..64).map(|i| host(i, "c0")).collect();
    let mut vms = Vec::new();
    for i in 0..4_000 {
        let hot = rng.range(0, 99) < 43;
        let h = if hot {
            rng.range(0, 15)
        } else {
            rng.range(16, 63)
        } as usize;
        let v = vm(&mut rng, i, &hosts[h].name, if hot { 20 } else { 0 });
        vms.push(v);
    }
    // A few passthrough VMs that cannot move.
    for v in vms.iter_mut().take(40) {
        v.devices = vec!["10de:20b5".into()];
    }
    Inventory {
        version: SCHEMA_VERSION,
        hosts,
        vms,
        overcommit: Overcommit {
            cpu: 4.0,
            memory: 1.5,
        },
        ..Default::default()
    }
}

/// Median of `runs` timings of `f`.
fn median(runs: usize, mut f: impl FnMut()) -> Duration {
    let mut t: Vec<Duration> = (0..runs)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed()
        })
        .collect();
    t.sort();
    t[runs / 2]
}

/// The baseline placement: the least loaded host with room, nothing else checked.
fn greedy_place(inv: &Inventory, st: &State, cpu: f64, mem: f64) -> Option<usize> {
    let mut best = None;
    let mut best_load = f64::INFINITY;
    for (h, host) in inv.hosts.iter().enumerate() {
        let s = st.sums[h];
        if s.cpu + cpu > host.cpu_mhz as f64 || s.mem + mem > host.memory_mb as f64 {
            continue;
        }
        let load = (s.cpu + cpu) / host.cpu_mhz as f64 + (s.mem + mem) / host.memory_mb as f64;
        if load < best_load {
            best_load = load;
            best = Some(h);
        }
    }
    best
}

fn total(inv: &Inventory) -> f64 {
    imbalance(&State::new(inv).expect("inventory")).total
}

/// The baseline rebalancer: largest VM of the most loaded host to the least loaded
/// host, imbalance recomputed from scratch, while it helps.
fn greedy_balance(inv: &Inventory, max_moves: usize) -> (Inventory, usize) {
    let mut inv = inv.clone();
    let mut moves = 0;
    let mut now = total(&inv);
    while moves < max_moves {
        let st = State::new(&inv).expect("inventory");
        let load = |h: usize| st.cpu_load(h) + st.mem_load(h);
        let n = inv.hosts.len();
        let hot = (0..n)
            .max_by(|&a, &b| load(a).total_cmp(&load(b)))
            .unwrap_or(0);
        let cold = (0..n)
            .min_by(|&a, &b| load(a).total_cmp(&load(b)))
            .unwrap_or(0);
        let biggest = (0..inv.vms.len())
            .filter(|&v| st.pos[v] == Some(hot) && inv.vms[v].devices.is_empty())
            .max_by(|&a, &b| {
                (st.demand[a].cpu_mhz + st.demand[a].memory_mb)
                    .total_cmp(&(st.demand[b].cpu_mhz + st.demand[b].memory_mb))
            });
        let Some(v) = biggest else { break };
        drop(st);
        let from = inv.vms[v].host.clone();
        inv.vms[v].host = Some(inv.hosts[cold].name.clone());
        let after = total(&inv);
        if after >= now {
            inv.vms[v].host = from;
            break;
        }
        now = after;
        moves += 1;
    }
    (inv, moves)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `cargo test --all-targets` runs this binary without --bench: no timings there.
    if !args.iter().any(|a| a == "--bench") {
        println!("placement benchmark: run scripts/bench-placement");
        return;
    }
    let runs: usize = args
        .iter()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(200);

    println!("== place one VM: 1,000 hosts, 10,000 VMs, {runs} runs (median) ==");
    let inv = big_inventory();
    let t = Instant::now();
    let st = State::new(&inv).expect("inventory");
    let prepare = t.elapsed();
    let new = Vm {
        name: "new-vm".into(),
        vcpus: 4,
        memory_mb: 16_384,
        powered_on: true,
        datastores: vec!["vsan".into()],
        networks: vec!["VM Network".into()],
        ..Default::default()
    };
    let d = ceso::placement::demand::demand(&new, 2_600.0);
    let base = median(runs, || {
        std::hint::black_box(greedy_place(&inv, &st, d.cpu_mhz, d.memory_mb));
    });
    let engine = median(runs, || {
        std::hint::black_box(find_optimal_host(&st, &new, &NoPolicy).expect("place"));
    });
    let dir = std::env::temp_dir().join(format!("ceso-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let policy_file = dir.join("spread-by-rack.rhai");
    std::fs::write(
        &policy_file,
        "fn score(vm, host) { if host.tags.rack == \"r3\" { -5.0 } else { 0.0 } }\n",
    )
    .expect("policy");
    let policy = RhaiPolicy::load(&policy_file, Limits::default()).expect("policy");
    let policy_runs = (runs / 10).max(5);
    let with_policy = median(policy_runs, || {
        std::hint::black_box(find_optimal_host(&st, &new, &policy).expect("place"));
    });
    let _ = std::fs::remove_dir_all(&dir);
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("state prepared once:          {:>9.3} ms", ms(prepare));
    println!("baseline (least-loaded scan): {:>9.3} ms", ms(base));
    println!(
        "engine, built-in:             {:>9.3} ms  ({:.1}x baseline; target ≤ 1 ms: {})",
        ms(engine),
        engine.as_secs_f64() / base.as_secs_f64(),
        if ms(engine) <= 1.0 { "met" } else { "MISSED" }
    );
    println!(
        "engine, Rhai score policy:    {:>9.3} ms  ({:.1}x baseline; target ≤ 25 ms: {})",
        ms(with_policy),
        with_policy.as_secs_f64() / base.as_secs_f64(),
        if ms(with_policy) <= 25.0 {
            "met"
        } else {
            "MISSED"
        }
    );

    println!("\n== rebalance: 64 hosts, 4,000 VMs, skewed (16 hot hosts) ==");
    let inv = skewed_inventory();
    let st = State::new(&inv).expect("inventory");
    let before = imbalance(&st);
    let lb = lower_bound(&st).expect("equal hosts");
    drop(st);
    println!(
        "before: imbalance {:.4} (cpu {:.4}, memory {:.4}); lower bound {:.4}",
        before.total, before.cpu, before.memory, lb.total
    );
    let max_moves = 4_000;
    let t = Instant::now();
    let (g_inv, g_moves) = greedy_balance(&inv, max_moves);
    let g_time = t.elapsed();
    let g_after = total(&g_inv);
    let report = |label: &str, after: f64, moves: usize, time: Duration| {
        let cut = 100.0 * (before.total - after) / before.total;
        let gap = 100.0 * (after - lb.total) / (before.total - lb.total);
        println!(
            "{label:<28} {:>9.1} ms  after {after:.4}  cut {cut:5.1} %  gap to bound {gap:4.1} %  moves {moves}",
            ms(time)
        );
        (cut, gap)
    };
    report("baseline greedy:", g_after, g_moves, g_time);
    for (label, cost) in [
        ("engine, default cost:", None),
        ("engine, cost 0.0001:", Some(1e-4)),
    ] {
        let options = BalanceOptions {
            max_moves,
            migration_cost: cost.unwrap_or(BalanceOptions::default().migration_cost),
            ..Default::default()
        };
        let t = Instant::now();
        let plan = recommend_migrations(&inv, options, &NoPolicy).expect("plan");
        let time = t.elapsed();
        let (cut, gap) = report(label, plan.after.total, plan.moves.len(), time);
        println!(
            "{:<28} time ≤ 1 s: {}; cut ≥ 20 %: {}; within 5 % of the bound: {}; {:.2}x baseline time",
            "",
            if time.as_secs_f64() <= 1.0 {
                "met"
            } else {
                "MISSED"
            },
            if cut >= 20.0 { "met" } else { "MISSED" },
            if gap <= 5.0 { "met" } else { "MISSED" },
            time.as_secs_f64() / g_time.as_secs_f64()
        );
    }
}
