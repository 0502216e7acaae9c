//! The inventory prepared for decisions: hosts by name, each VM's demand and host,
//! per-host sums, and the rules compiled to indexes.

use std::collections::{BTreeMap, HashMap};

use super::demand::{self, Demand, Source};
use super::error::PlacementError;
use super::model::{Host, Inventory, Vm};
use super::rules::{self, CompiledRule};

/// Sums over the powered-on VMs of one host.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct HostSums {
    pub cpu: f64,
    pub mem: f64,
    pub alloc_cpu: f64,
    pub alloc_mem: f64,
    pub res_cpu: f64,
    pub res_mem: f64,
}

pub struct State<'a> {
    pub inv: &'a Inventory,
    pub host_by_name: HashMap<&'a str, usize>,
    pub core_mhz: Vec<f64>,
    /// Connected and not in maintenance mode.
    pub eligible: Vec<bool>,
    pub pos: Vec<Option<usize>>,
    /// Each VM's demand on its current host (on no host: at 0 MHz per core).
    pub demand: Vec<Demand>,
    pub sums: Vec<HostSums>,
    pub rules: Vec<CompiledRule>,
    /// Rule indexes naming each VM.
    pub vm_rules: Vec<Vec<usize>>,
    pub host_groups: BTreeMap<String, Vec<bool>>,
}

impl<'a> State<'a> {
    pub fn new(inv: &'a Inventory) -> Result<Self, PlacementError> {
        let mut host_by_name = HashMap::with_capacity(inv.hosts.len());
        for (i, h) in inv.hosts.iter().enumerate() {
            if host_by_name.insert(h.name.as_str(), i).is_some() {
                return Err(PlacementError::Inventory(format!(
                    "host '{}' is listed twice",
                    h.name
                )));
            }
        }
        let core_mhz: Vec<f64> = inv.hosts.iter().map(core_mhz).collect();
        let eligible = inv.hosts.iter().map(eligible).collect();
        let mut pos = Vec::with_capacity(inv.vms.len());
        let mut demands = Vec::with_capacity(inv.vms.len());
        let mut sums = vec![HostSums::default(); inv.hosts.len()];
        for vm in &inv.vms {
            let at = match &vm.host {
                Some(h) => Some(*host_by_name.get(h.as_str()).ok_or_else(|| {
                    PlacementError::Inventory(format!(
                        "VM '{}' runs on host '{h}', which is not in the inventory",
                        vm.name
                    ))
                })?),
                None => None,
            };
            let mhz = at.map_or(0.0, |h| core_mhz[h]);
            let d = demand::demand(vm, mhz);
            if let Some(h) = at {
                add(&mut sums[h], vm, d, mhz, 1.0);
            }
            pos.push(at);
            demands.push(d);
        }
        let host_groups = rules::host_groups(inv)?;
        let rules = rules::compile(inv, &host_groups)?;
        let mut vm_rules = vec![Vec::new(); inv.vms.len()];
        for (r, rule) in rules.iter().enumerate() {
            for &m in &rule.members {
                vm_rules[m].push(r);
            }
        }
        Ok(Self {
            inv,
            host_by_name,
            core_mhz,
            eligible,
            pos,
            demand: demands,
            sums,
            rules,
            vm_rules,
            host_groups,
        })
    }

    pub fn host(&self, h: usize) -> &'a Host {
        &self.inv.hosts[h]
    }

    pub fn vm_index(&self, name: &str) -> Option<usize> {
        self.inv.vms.iter().position(|v| v.name == name)
    }

    pub fn cpu_load(&self, h: usize) -> f64 {
        ratio(self.sums[h].cpu, self.inv.hosts[h].cpu_mhz)
    }

    pub fn mem_load(&self, h: usize) -> f64 {
        ratio(self.sums[h].mem, self.inv.hosts[h].memory_mb)
    }

    /// Move inventory VM `v` to host `to`, updating the sums.
    pub fn apply_move(&mut self, v: usize, to: usize) {
        let vm = &self.inv.vms[v];
        if let Some(from) = self.pos[v] {
            add(
                &mut self.sums[from],
                vm,
                self.demand[v],
                self.core_mhz[from],
                -1.0,
            );
        }
        // The demand follows the VM; configured CPU is re-measured in the new host's MHz.
        let d = match self.demand[v].source {
            Source::QuickStats => self.demand[v],
            Source::Configured => demand::demand(vm, self.core_mhz[to]),
        };
        add(&mut self.sums[to], vm, d, self.core_mhz[to], 1.0);
        self.demand[v] = d;
        self.pos[v] = Some(to);
    }

    /// How many VMs' demand came from quickStats and how many from configured sizes.
    pub fn sources(&self) -> DemandSources {
        let mut out = DemandSources::default();
        for (vm, d) in self.inv.vms.iter().zip(&self.demand) {
            if !vm.powered_on {
                out.powered_off += 1;
            } else if d.source == Source::QuickStats {
                out.quick_stats += 1;
            } else {
                out.configured += 1;
            }
        }
        out
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct DemandSources {
    pub quick_stats: usize,
    pub configured: usize,
    pub powered_off: usize,
}

fn add(s: &mut HostSums, vm: &Vm, d: Demand, core_mhz: f64, sign: f64) {
    let (ac, am) = demand::allocation(vm, core_mhz);
    s.cpu += sign * d.cpu_mhz;
    s.mem += sign * d.memory_mb;
    s.alloc_cpu += sign * ac;
    s.alloc_mem += sign * am;
    if vm.powered_on {
        s.res_cpu += sign * vm.cpu_reservation_mhz as f64;
        s.res_mem += sign * vm.memory_reservation_mb as f64;
    }
}

pub fn core_mhz(h: &Host) -> f64 {
    h.cpu_mhz as f64 / f64::from(h.cpu_cores.max(1))
}

pub fn eligible(h: &Host) -> bool {
    h.connection_state == "connected" && !h.maintenance
}

pub fn ratio(used: f64, capacity: u64) -> f64 {
    if capacity == 0 {
        if used > 0.0 { f64::INFINITY } else { 0.0 }
    } else {
        used / capacity as f64
    }
}
