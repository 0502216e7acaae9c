//! `optimize analyze`: the state of an inventory in the engine's terms — imbalance per
//! cluster and resource (moves never leave a cluster, so clusters are never pooled), load and overcommit per host, hot and cold hosts, broken rules, and
//! stranded capacity (free room on one resource a host cannot use because the other
//! is exhausted).

use serde::Serialize;

use super::balance::{Imbalance, cluster_imbalance, cluster_names};
use super::bound::cluster_lower_bound;
use super::rules;
use super::state::{DemandSources, State, ratio};

/// A host this far above (below) the mean load, in load units, is hot (cold).
pub const HOT_COLD_MARGIN: f64 = 0.10;
/// A resource with less than this share free counts as exhausted.
pub const EXHAUSTED: f64 = 0.05;

#[derive(Debug, Clone, Serialize)]
pub struct Analysis {
    pub hosts: usize,
    pub vms: usize,
    /// One entry per cluster, in inventory order: no plan moves a VM between clusters,
    /// so an imbalance pooled over clusters would count differences no plan can fix.
    pub clusters: Vec<ClusterAnalysis>,
    pub per_host: Vec<HostLoad>,
    pub hot: Vec<String>,
    pub cold: Vec<String>,
    pub violations: Vec<Violation>,
    pub stranded: Stranded,
    pub demand: DemandSources,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClusterAnalysis {
    pub cluster: String,
    /// Hosts counted in the imbalance (connected, out of maintenance mode).
    pub hosts: usize,
    /// σ of load over this cluster's hosts, now.
    pub imbalance: Imbalance,
    /// The lowest imbalance any plan could reach here (see docs/placement.md), when
    /// defined.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lower_bound: Option<Imbalance>,
    pub mean_cpu_load: f64,
    pub mean_memory_load: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct HostLoad {
    pub host: String,
    pub cluster: String,
    /// Connected and out of maintenance mode: counted in the imbalance.
    pub eligible: bool,
    pub vms: usize,
    pub cpu_load: f64,
    pub memory_load: f64,
    /// Configured vCPU MHz / physical MHz, and configured memory / physical memory.
    pub cpu_overcommit: f64,
    pub memory_overcommit: f64,
    pub over_limit: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Violation {
    pub rule: String,
    pub vm: String,
    pub host: String,
    pub mandatory: bool,
    pub message: String,
}

/// Free capacity on hosts whose other resource is exhausted.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Stranded {
    pub cpu_mhz: f64,
    pub memory_mb: f64,
}

pub fn analyze(st: &State) -> Analysis {
    let inv = st.inv;
    let clusters: Vec<ClusterAnalysis> = cluster_names(inv)
        .into_iter()
        .map(|cluster| {
            let eligible: Vec<usize> = (0..inv.hosts.len())
                .filter(|&h| st.eligible[h] && inv.hosts[h].cluster == cluster)
                .collect();
            let n = eligible.len().max(1) as f64;
            ClusterAnalysis {
                hosts: eligible.len(),
                imbalance: cluster_imbalance(st, &cluster),
                lower_bound: cluster_lower_bound(st, &cluster),
                mean_cpu_load: eligible.iter().map(|&h| st.cpu_load(h)).sum::<f64>() / n,
                mean_memory_load: eligible.iter().map(|&h| st.mem_load(h)).sum::<f64>() / n,
                cluster,
            }
        })
        .collect();
    let mut vms_on = vec![0usize; inv.hosts.len()];
    for h in st.pos.iter().flatten() {
        vms_on[*h] += 1;
    }
    let mut per_host = Vec::with_capacity(inv.hosts.len());
    let (mut hot, mut cold) = (Vec::new(), Vec::new());
    let mut stranded = Stranded::default();
    for (h, host) in inv.hosts.iter().enumerate() {
        let (c, m) = (st.cpu_load(h), st.mem_load(h));
        let s = st.sums[h];
        let oc = ratio(s.alloc_cpu, host.cpu_mhz);
        let om = ratio(s.alloc_mem, host.memory_mb);
        // Hot and cold against the mean of the host's own cluster.
        let (mean_c, mean_m) = clusters
            .iter()
            .find(|x| x.cluster == host.cluster)
            .map_or((c, m), |x| (x.mean_cpu_load, x.mean_memory_load));
        if st.eligible[h] {
            let dev = (c - mean_c).max(m - mean_m);
            let under = (mean_c - c).min(mean_m - m);
            if dev > HOT_COLD_MARGIN {
                hot.push(host.name.clone());
            } else if under > HOT_COLD_MARGIN {
                cold.push(host.name.clone());
            }
            let free_c = (1.0 - c).max(0.0);
            let free_m = (1.0 - m).max(0.0);
            let cpu_full = free_c < EXHAUSTED || oc >= inv.overcommit.cpu;
            let mem_full = free_m < EXHAUSTED || om >= inv.overcommit.memory;
            if mem_full && !cpu_full {
                stranded.cpu_mhz += free_c * host.cpu_mhz as f64;
            }
            if cpu_full && !mem_full {
                stranded.memory_mb += free_m * host.memory_mb as f64;
            }
        }
        per_host.push(HostLoad {
            host: host.name.clone(),
            cluster: host.cluster.clone(),
            eligible: st.eligible[h],
            vms: vms_on[h],
            cpu_load: c,
            memory_load: m,
            cpu_overcommit: oc,
            memory_overcommit: om,
            over_limit: oc > inv.overcommit.cpu || om > inv.overcommit.memory,
        });
    }
    let names = |i: usize| st.host(i).name.clone();
    let mut violations = Vec::new();
    for rule in &st.rules {
        for &v in &rule.members {
            let Some(h) = st.pos[v] else { continue };
            if let Some(message) = rules::violation(rule, Some(v), h, &st.pos, &names) {
                violations.push(Violation {
                    rule: rule.name.clone(),
                    vm: inv.vms[v].name.clone(),
                    host: names(h),
                    mandatory: rule.mandatory,
                    message,
                });
            }
        }
    }
    Analysis {
        hosts: inv.hosts.len(),
        vms: inv.vms.len(),
        clusters,
        per_host,
        hot,
        cold,
        violations,
        stranded,
        demand: st.sources(),
    }
}
