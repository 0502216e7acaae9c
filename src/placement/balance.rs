//! `recommend_migrations`: a plan of VM moves that lowers the cluster imbalance, DRS's
//! measure: the standard deviation of host load (Σ VM demand / host capacity) over the
//! connected hosts out of maintenance, for CPU and for memory. The plan's objective is
//! their sum. See docs/placement.md for the algorithm.

use std::cmp::Ordering;
use std::collections::HashMap;

use serde::Serialize;

use super::demand::Source;
use super::error::PlacementError;
use super::filter::{self, Candidate};
use super::model::Inventory;
use super::policy::Policy;
use super::state::{DemandSources, State, ratio};

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Imbalance {
    pub cpu: f64,
    pub memory: f64,
    /// cpu + memory: what the plan lowers.
    pub total: f64,
}

#[derive(Debug, Clone, Copy)]
pub struct BalanceOptions {
    pub max_moves: usize,
    /// A move is worth making only if it lowers the total imbalance by more than this.
    pub migration_cost: f64,
    /// How many of the most and least loaded hosts each step looks at first (0: all).
    pub candidates: usize,
}

impl Default for BalanceOptions {
    fn default() -> Self {
        Self {
            max_moves: 16,
            migration_cost: DEFAULT_MIGRATION_COST,
            candidates: 8,
        }
    }
}

/// 0.001 of total imbalance (0.1 percentage point of load standard deviation) on a
/// cluster of `REFERENCE_HOSTS` hosts.
pub const DEFAULT_MIGRATION_COST: f64 = 0.001;

/// The cluster size the migration cost is stated for.
pub const REFERENCE_HOSTS: usize = 8;

/// The least gain a move must bring among `hosts` hosts. Moving the same VM between the
/// same two hosts changes the standard deviation over n hosts by about 1/n (the sum of
/// squared deviations changes by the same amount, then is divided by n): an unscaled
/// cost would call a move worth making on 8 hosts worthless on 64. So the cost is
/// stated for `REFERENCE_HOSTS` hosts and scaled down for larger inventories.
pub fn move_threshold(migration_cost: f64, hosts: usize) -> f64 {
    if hosts <= REFERENCE_HOSTS {
        migration_cost
    } else {
        migration_cost * REFERENCE_HOSTS as f64 / hosts as f64
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Move {
    pub vm: String,
    pub from: String,
    pub to: String,
    pub cpu_mhz: f64,
    pub memory_mb: f64,
    /// How much the total imbalance drops with this move.
    pub gain: f64,
    pub imbalance_after: Imbalance,
}

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// Over the hosts of every cluster pooled: the figure the search lowers. Each
    /// cluster's own is in `clusters`.
    pub before: Imbalance,
    pub after: Imbalance,
    /// Each cluster's imbalance before and after the plan, in inventory order.
    pub clusters: Vec<ClusterChange>,
    pub moves: Vec<Move>,
    pub migration_cost: f64,
    /// The least gain a move had to bring here: the migration cost scaled to the
    /// number of hosts (`move_threshold`).
    pub move_threshold: f64,
    /// Why the plan ends here.
    pub stopped: String,
    pub demand: DemandSources,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClusterChange {
    pub cluster: String,
    pub before: Imbalance,
    pub after: Imbalance,
    /// Moves of the plan inside this cluster.
    pub moves: usize,
}

/// The load statistics the search updates move by move.
#[derive(Clone, Copy)]
struct Moments {
    n: f64,
    s1c: f64,
    s2c: f64,
    s1m: f64,
    s2m: f64,
}

impl Moments {
    fn of(st: &State) -> Self {
        Self::over(st, None)
    }

    /// The moments over the eligible hosts of `only` (a cluster), or of every cluster.
    fn over(st: &State, only: Option<&str>) -> Self {
        let mut m = Moments {
            n: 0.0,
            s1c: 0.0,
            s2c: 0.0,
            s1m: 0.0,
            s2m: 0.0,
        };
        for h in (0..st.inv.hosts.len())
            .filter(|&h| st.eligible[h] && only.is_none_or(|c| st.host(h).cluster == c))
        {
            let (c, mm) = (st.cpu_load(h), st.mem_load(h));
            m.n += 1.0;
            m.s1c += c;
            m.s2c += c * c;
            m.s1m += mm;
            m.s2m += mm * mm;
        }
        m
    }

    fn imbalance(&self) -> Imbalance {
        let sd = |s1: f64, s2: f64| {
            if self.n == 0.0 {
                0.0
            } else {
                let mean = s1 / self.n;
                (s2 / self.n - mean * mean).max(0.0).sqrt()
            }
        };
        let cpu = sd(self.s1c, self.s2c);
        let memory = sd(self.s1m, self.s2m);
        Imbalance {
            cpu,
            memory,
            total: cpu + memory,
        }
    }

    /// The moments after host loads change from `old` to `new` (CPU, memory) pairs.
    fn with(&self, old: [(f64, f64); 2], new: [(f64, f64); 2]) -> Self {
        let mut m = *self;
        for ((oc, om), (nc, nm)) in old.into_iter().zip(new) {
            m.s1c += nc - oc;
            m.s2c += nc * nc - oc * oc;
            m.s1m += nm - om;
            m.s2m += nm * nm - om * om;
        }
        m
    }
}

/// The imbalance of the inventory as it is, over the hosts of every cluster pooled
/// (what a plan lowers).
pub fn imbalance(st: &State) -> Imbalance {
    Moments::of(st).imbalance()
}

/// The imbalance of one cluster: σ of load over its own hosts. Moves never leave a
/// cluster, so this is what a plan can change there.
pub fn cluster_imbalance(st: &State, cluster: &str) -> Imbalance {
    Moments::over(st, Some(cluster)).imbalance()
}

/// Cluster names in inventory order, each once.
pub fn cluster_names(inv: &Inventory) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for h in &inv.hosts {
        if !out.contains(&h.cluster) {
            out.push(h.cluster.clone());
        }
    }
    out
}

pub fn recommend_migrations(
    inv: &Inventory,
    options: BalanceOptions,
    policy: &dyn Policy,
) -> Result<Plan, PlacementError> {
    let configured_cost = options.migration_cost;
    let mut st = State::new(inv)?;
    let before = imbalance(&st);
    let names = cluster_names(inv);
    let cluster_before: Vec<Imbalance> = names.iter().map(|c| cluster_imbalance(&st, c)).collect();
    let clusters = cluster_ids(inv);
    let hosts = st.eligible.iter().filter(|&&e| e).count();
    let options = BalanceOptions {
        migration_cost: move_threshold(options.migration_cost, hosts),
        ..options
    };
    let mut moves = Vec::new();
    let mut stopped = "no move lowers the imbalance by more than the migration cost".to_string();
    while moves.len() < options.max_moves {
        let mut found = best_move(&st, &clusters, options, policy, options.candidates)?;
        if found.is_none() && options.candidates != 0 {
            found = best_move(&st, &clusters, options, policy, 0)?;
        }
        let Some((v, to, gain)) = found else { break };
        let from = st.pos[v].unwrap_or(to);
        st.apply_move(v, to);
        let d = st.demand[v];
        moves.push(Move {
            vm: inv.vms[v].name.clone(),
            from: inv.hosts[from].name.clone(),
            to: inv.hosts[to].name.clone(),
            cpu_mhz: d.cpu_mhz,
            memory_mb: d.memory_mb,
            gain,
            imbalance_after: imbalance(&st),
        });
    }
    if moves.len() == options.max_moves {
        stopped = format!("reached the limit of {} moves", options.max_moves);
    }
    let cluster_of: HashMap<&str, &str> = inv
        .hosts
        .iter()
        .map(|h| (h.name.as_str(), h.cluster.as_str()))
        .collect();
    let per_cluster = names
        .into_iter()
        .zip(cluster_before)
        .map(|(cluster, before)| ClusterChange {
            after: cluster_imbalance(&st, &cluster),
            moves: moves
                .iter()
                .filter(|m| cluster_of.get(m.to.as_str()) == Some(&cluster.as_str()))
                .count(),
            before,
            cluster,
        })
        .collect();
    Ok(Plan {
        before,
        after: imbalance(&st),
        clusters: per_cluster,
        moves,
        migration_cost: configured_cost,
        move_threshold: options.migration_cost,
        stopped,
        demand: st.sources(),
    })
}

fn cluster_ids(inv: &Inventory) -> Vec<usize> {
    let mut ids: HashMap<&str, usize> = HashMap::new();
    inv.hosts
        .iter()
        .map(|h| {
            let next = ids.len();
            *ids.entry(h.cluster.as_str()).or_insert(next)
        })
        .collect()
}

/// The feasible move with the largest gain above the migration cost, looking only at
/// the `k` hosts furthest above and below the mean (all hosts when `k` is 0).
fn best_move(
    st: &State,
    clusters: &[usize],
    options: BalanceOptions,
    policy: &dyn Policy,
    k: usize,
) -> Result<Option<(usize, usize, f64)>, PlacementError> {
    let moments = Moments::of(st);
    let now = moments.imbalance().total;
    let n = moments.n.max(1.0);
    let (mc, mm) = (moments.s1c / n, moments.s1m / n);
    let mut hosts: Vec<(f64, usize)> = (0..st.inv.hosts.len())
        .filter(|&h| st.eligible[h])
        .map(|h| ((st.cpu_load(h) - mc) + (st.mem_load(h) - mm), h))
        .collect();
    hosts.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(Ordering::Equal));
    let (sources, targets): (Vec<usize>, Vec<usize>) = if k == 0 || hosts.len() <= 2 * k {
        let all: Vec<usize> = hosts.iter().map(|&(_, h)| h).collect();
        (all.clone(), all)
    } else {
        (
            hosts[..k].iter().map(|&(_, h)| h).collect(),
            hosts[hosts.len() - k..].iter().map(|&(_, h)| h).collect(),
        )
    };
    let mut on_source: Vec<Vec<usize>> = vec![Vec::new(); st.inv.hosts.len()];
    for (v, p) in st.pos.iter().enumerate() {
        if let Some(h) = *p {
            on_source[h].push(v);
        }
    }
    let mut gains: Vec<(f64, usize, usize)> = Vec::new();
    for &a in &sources {
        let ha = st.host(a);
        let (la_c, la_m) = (st.cpu_load(a), st.mem_load(a));
        for &v in &on_source[a] {
            let vm = &st.inv.vms[v];
            // Passthrough devices pin a VM; powered-off VMs weigh nothing.
            if !vm.powered_on || !vm.devices.is_empty() {
                continue;
            }
            let d = st.demand[v];
            if d.cpu_mhz == 0.0 && d.memory_mb == 0.0 {
                continue;
            }
            let na = (
                la_c - ratio(d.cpu_mhz, ha.cpu_mhz),
                la_m - ratio(d.memory_mb, ha.memory_mb),
            );
            for &b in &targets {
                if b == a || clusters[b] != clusters[a] {
                    continue;
                }
                let hb = st.host(b);
                let cpu_b = match d.source {
                    Source::QuickStats => d.cpu_mhz,
                    Source::Configured => f64::from(vm.vcpus) * st.core_mhz[b],
                };
                let nb = (
                    st.cpu_load(b) + ratio(cpu_b, hb.cpu_mhz),
                    st.mem_load(b) + ratio(d.memory_mb, hb.memory_mb),
                );
                let after = moments
                    .with([(la_c, la_m), (st.cpu_load(b), st.mem_load(b))], [na, nb])
                    .imbalance()
                    .total;
                let gain = now - after;
                if gain > options.migration_cost {
                    gains.push((gain, v, b));
                }
            }
        }
    }
    gains.sort_by(|x, y| {
        y.0.partial_cmp(&x.0)
            .unwrap_or(Ordering::Equal)
            .then(x.1.cmp(&y.1))
            .then(x.2.cmp(&y.2))
    });
    for (gain, v, b) in gains {
        let c = Candidate::of(st, v);
        let (hard, soft) = filter::check(st, c, b, policy)?;
        if !hard.is_empty() {
            continue;
        }
        // A move never breaks a soft rule the VM keeps where it is.
        if let Some(here) = st.pos[v]
            && !soft.is_empty()
        {
            let (_, soft_here) = filter::check(st, c, here, &super::policy::NoPolicy)?;
            if soft.len() > soft_here.len() {
                continue;
            }
        }
        return Ok(Some((v, b, gain)));
    }
    Ok(None)
}
