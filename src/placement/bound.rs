//! A lower bound on the imbalance any plan can reach: VMs treated as a fluid that can
//! be split across the hosts of their cluster, capacity, overcommit and rules ignored,
//! only VMs that cannot move (passthrough devices, hosts out of service) held in place.
//! Every real plan is a point of this relaxation, so its imbalance is at least the
//! bound. CPU and memory are relaxed separately (min(a + b) ≥ min a + min b).

use std::collections::BTreeMap;

use super::balance::Imbalance;
use super::state::State;

/// The bound, or None when a cluster mixes host capacities: for equal capacities
/// water-filling is the exact minimum of the relaxation; for mixed ones it is not, and
/// a number that is not a bound would mislead.
pub fn lower_bound(st: &State) -> Option<Imbalance> {
    bound_over(st, None)
}

/// The bound for the hosts of one cluster (what `optimize analyze` shows per cluster).
pub fn cluster_lower_bound(st: &State, cluster: &str) -> Option<Imbalance> {
    bound_over(st, Some(cluster))
}

fn bound_over(st: &State, only: Option<&str>) -> Option<Imbalance> {
    let hosts: Vec<usize> = (0..st.inv.hosts.len())
        .filter(|&h| st.eligible[h] && only.is_none_or(|c| st.host(h).cluster == c))
        .collect();
    let mut domains: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for &h in &hosts {
        domains.entry(&st.host(h).cluster).or_default().push(h);
    }
    for members in domains.values() {
        let first = st.host(members[0]);
        if members.iter().any(|&h| {
            st.host(h).cpu_mhz != first.cpu_mhz || st.host(h).memory_mb != first.memory_mb
        }) {
            return None;
        }
    }
    // Pinned and movable demand per host, per resource.
    let n = st.inv.hosts.len();
    let (mut pin_c, mut pin_m) = (vec![0.0; n], vec![0.0; n]);
    let (mut mov_c, mut mov_m): (BTreeMap<&str, f64>, BTreeMap<&str, f64>) = Default::default();
    for (v, vm) in st.inv.vms.iter().enumerate() {
        let Some(h) = st.pos[v] else { continue };
        if !st.eligible[h] {
            continue;
        }
        let d = st.demand[v];
        if vm.devices.is_empty() {
            *mov_c.entry(&st.host(h).cluster).or_default() += d.cpu_mhz;
            *mov_m.entry(&st.host(h).cluster).or_default() += d.memory_mb;
        } else {
            pin_c[h] += d.cpu_mhz;
            pin_m[h] += d.memory_mb;
        }
    }
    let (mut cpu, mut mem) = (Vec::new(), Vec::new());
    for (name, members) in &domains {
        let cap_c = st.host(members[0]).cpu_mhz as f64;
        let cap_m = st.host(members[0]).memory_mb as f64;
        let pc: Vec<f64> = members.iter().map(|&h| pin_c[h]).collect();
        let pm: Vec<f64> = members.iter().map(|&h| pin_m[h]).collect();
        cpu.extend(water_fill(
            &pc,
            mov_c.get(name).copied().unwrap_or(0.0),
            cap_c,
        ));
        mem.extend(water_fill(
            &pm,
            mov_m.get(name).copied().unwrap_or(0.0),
            cap_m,
        ));
    }
    let (c, m) = (std_dev(&cpu), std_dev(&mem));
    Some(Imbalance {
        cpu: c,
        memory: m,
        total: c + m,
    })
}

/// Loads after pouring `fluid` onto hosts holding `pinned` (same capacity `cap`): the
/// lowest hosts are raised to one level, which minimises the spread.
fn water_fill(pinned: &[f64], fluid: f64, cap: f64) -> Vec<f64> {
    if cap <= 0.0 {
        return vec![0.0; pinned.len()];
    }
    let mut sorted = pinned.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mut level = sorted.first().copied().unwrap_or(0.0);
    let mut left = fluid;
    for i in 0..sorted.len() {
        let next = sorted.get(i + 1).copied().unwrap_or(f64::INFINITY);
        let width = (i + 1) as f64;
        let room = (next - level) * width;
        if left <= room {
            level += left / width;
            break;
        }
        left -= room;
        level = next;
    }
    pinned.iter().map(|&p| p.max(level) / cap).collect()
}

pub fn std_dev(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        return 0.0;
    }
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    (xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n).sqrt()
}
