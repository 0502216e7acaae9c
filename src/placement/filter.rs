//! Can this VM go on this host? Every reason it cannot, in a fixed order: state,
//! capacity, reservation, overcommit, rules and host groups, datastores, networks,
//! devices, then the policy.

use serde::Serialize;

use super::demand::{self, Demand};
use super::error::PlacementError;
use super::model::Vm;
use super::policy::Policy;
use super::rules::{self, Kind};
use super::state::State;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReasonKind {
    State,
    Cluster,
    Capacity,
    Reservation,
    Overcommit,
    Rule,
    Group,
    Datastore,
    Network,
    Device,
    Policy,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reason {
    pub kind: ReasonKind,
    pub message: String,
}

/// The VM being checked: one of the inventory (`index`) or a new one, with the
/// indexes of the rules that name it.
#[derive(Clone, Copy)]
pub struct Candidate<'v> {
    pub vm: &'v Vm,
    pub index: Option<usize>,
    pub rules: &'v [usize],
}

impl<'v> Candidate<'v> {
    /// Inventory VM `v`.
    pub fn of(st: &'v State, v: usize) -> Self {
        Candidate {
            vm: &st.inv.vms[v],
            index: Some(v),
            rules: &st.vm_rules[v],
        }
    }
}

/// Hard reasons against `c` on host `h`, and the soft rules it would break.
pub fn check(
    st: &State,
    c: Candidate,
    h: usize,
    policy: &dyn Policy,
) -> Result<(Vec<Reason>, Vec<String>), PlacementError> {
    let host = st.host(h);
    let mut hard = Vec::new();
    let mut soft = Vec::new();
    let mut reason = |kind, message: String| hard.push(Reason { kind, message });
    if !st.eligible[h] {
        reason(
            ReasonKind::State,
            if host.maintenance {
                "in maintenance mode".into()
            } else {
                format!("connection state is {}", host.connection_state)
            },
        );
    }
    let vm = c.vm;
    let already_here = c.index.is_some_and(|i| st.pos[i] == Some(h));
    let (d, (ac, am)) = if already_here {
        (Demand::ZERO, (0.0, 0.0))
    } else {
        (
            demand::demand(vm, st.core_mhz[h]),
            demand::allocation(vm, st.core_mhz[h]),
        )
    };
    let s = st.sums[h];
    let cpu_cap = host.cpu_mhz as f64;
    let mem_cap = host.memory_mb as f64;
    if s.cpu + d.cpu_mhz > cpu_cap {
        reason(
            ReasonKind::Capacity,
            format!(
                "CPU: {:.0} MHz demanded + {:.0} > {:.0} MHz",
                s.cpu, d.cpu_mhz, cpu_cap
            ),
        );
    }
    if s.mem + d.memory_mb > mem_cap {
        reason(
            ReasonKind::Capacity,
            format!(
                "memory: {:.0} MB demanded + {:.0} > {:.0} MB",
                s.mem, d.memory_mb, mem_cap
            ),
        );
    }
    if vm.powered_on && !already_here {
        if s.res_cpu + vm.cpu_reservation_mhz as f64 > cpu_cap {
            reason(
                ReasonKind::Reservation,
                format!(
                    "CPU reservations: {:.0} + {} > {:.0} MHz",
                    s.res_cpu, vm.cpu_reservation_mhz, cpu_cap
                ),
            );
        }
        if s.res_mem + vm.memory_reservation_mb as f64 > mem_cap {
            reason(
                ReasonKind::Reservation,
                format!(
                    "memory reservations: {:.0} + {} > {:.0} MB",
                    s.res_mem, vm.memory_reservation_mb, mem_cap
                ),
            );
        }
    }
    let over = st.inv.overcommit;
    if s.alloc_cpu + ac > over.cpu * cpu_cap {
        reason(
            ReasonKind::Overcommit,
            format!(
                "CPU overcommit: {:.2} > {:.2} (configured vCPU MHz / capacity)",
                (s.alloc_cpu + ac) / cpu_cap.max(1.0),
                over.cpu
            ),
        );
    }
    if s.alloc_mem + am > over.memory * mem_cap {
        reason(
            ReasonKind::Overcommit,
            format!(
                "memory overcommit: {:.2} > {:.2} (configured memory / capacity)",
                (s.alloc_mem + am) / mem_cap.max(1.0),
                over.memory
            ),
        );
    }
    let names = |i: usize| st.host(i).name.clone();
    let mut check_rule = |r: usize| {
        let rule = &st.rules[r];
        if let Some(message) = rules::violation(rule, c.index, h, &st.pos, &names) {
            if rule.mandatory {
                let kind = match rule.kind {
                    Kind::VmHost(_) => ReasonKind::Group,
                    _ => ReasonKind::Rule,
                };
                hard.push(Reason { kind, message });
            } else {
                soft.push(message);
            }
        }
    };
    c.rules.iter().copied().for_each(&mut check_rule);
    let mut reason = |kind, message: String| hard.push(Reason { kind, message });
    for ds in &vm.datastores {
        if !host.datastores.contains(ds) {
            reason(
                ReasonKind::Datastore,
                format!("does not see datastore {ds}"),
            );
        }
    }
    for net in &vm.networks {
        if !host.networks.contains(net) {
            reason(ReasonKind::Network, format!("does not see network {net}"));
        }
    }
    if !already_here {
        let mut free: Vec<&String> = host.free_devices.iter().collect();
        for dev in &vm.devices {
            match free.iter().position(|f| *f == dev) {
                Some(i) => {
                    free.swap_remove(i);
                }
                None => reason(ReasonKind::Device, format!("no free device {dev}")),
            }
        }
    }
    if let Some(why) = policy.filter(vm, host)? {
        reason(ReasonKind::Policy, why);
    }
    Ok((hard, soft))
}
