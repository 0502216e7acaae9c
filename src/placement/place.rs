//! `find_optimal_host`: every host scored or rejected with its reasons, best first.

use std::cmp::Ordering;

use serde::Serialize;

use super::demand::{self, Demand};
use super::error::PlacementError;
use super::filter::{self, Candidate, Reason};
use super::model::Vm;
use super::policy::Policy;
use super::state::{State, ratio};

/// Points taken off a host's score for each soft ("should") rule it would break.
pub const SOFT_RULE_PENALTY: f64 = 25.0;

#[derive(Debug, Clone, Serialize)]
pub struct Placement {
    pub vm: String,
    /// The VM's demand on the best host (the source says quickStats or configured).
    pub demand: Option<Demand>,
    /// Hosts that can take the VM, best first.
    pub ranked: Vec<Ranked>,
    /// Hosts that cannot, with every reason.
    pub rejected: Vec<Rejected>,
}

impl Placement {
    pub fn best(&self) -> Option<&Ranked> {
        self.ranked.first()
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Ranked {
    pub host: String,
    pub score: f64,
    /// Built-in part: 100 × (1 − mean of CPU and memory load after placing).
    pub base_score: f64,
    pub policy_score: f64,
    pub cpu_load_after: f64,
    pub memory_load_after: f64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub soft_rules_broken: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Rejected {
    pub host: String,
    pub reasons: Vec<Reason>,
}

/// Where `vm` would go. A VM of the inventory (same name) is checked as if leaving its
/// current host; any other is a new VM.
pub fn find_optimal_host(
    st: &State,
    vm: &Vm,
    policy: &dyn Policy,
) -> Result<Placement, PlacementError> {
    let index = st.vm_index(&vm.name);
    let new_rules: Vec<usize>;
    let rules: &[usize] = match index {
        Some(i) => &st.vm_rules[i],
        None => {
            new_rules = (0..st.rules.len())
                .filter(|&r| st.rules[r].applies_to(&vm.name))
                .collect();
            &new_rules
        }
    };
    let c = Candidate { vm, index, rules };
    let mut best: Option<(f64, usize)> = None;
    let mut ranked = Vec::new();
    let mut rejected = Vec::new();
    for h in 0..st.inv.hosts.len() {
        let (hard, soft) = filter::check(st, c, h, policy)?;
        let host = st.host(h);
        if !hard.is_empty() {
            rejected.push(Rejected {
                host: host.name.clone(),
                reasons: hard,
            });
            continue;
        }
        let here = index.is_some_and(|i| st.pos[i] == Some(h));
        let d = if here {
            Demand::ZERO
        } else {
            demand::demand(vm, st.core_mhz[h])
        };
        let cpu = ratio(st.sums[h].cpu + d.cpu_mhz, host.cpu_mhz);
        let mem = ratio(st.sums[h].mem + d.memory_mb, host.memory_mb);
        let base = 100.0 * (1.0 - (cpu + mem) / 2.0) - SOFT_RULE_PENALTY * soft.len() as f64;
        let policy_score = policy.score(vm, host)?;
        let score = base + policy_score;
        if best.is_none_or(|(s, _)| score > s) {
            best = Some((score, h));
        }
        ranked.push(Ranked {
            host: host.name.clone(),
            score,
            base_score: base,
            policy_score,
            cpu_load_after: cpu,
            memory_load_after: mem,
            soft_rules_broken: soft,
        });
    }
    // Ties go to the host listed first in the inventory: the same input, the same answer.
    ranked.sort_by(|a, b| b.score.partial_cmp(&a.score).unwrap_or(Ordering::Equal));
    let demand = best.map(|(_, h)| demand::demand(vm, st.core_mhz[h]));
    Ok(Placement {
        vm: vm.name.clone(),
        demand,
        ranked,
        rejected,
    })
}
