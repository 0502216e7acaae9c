//! The engine's input: an inventory of hosts, VMs, rules and groups. This is also the
//! JSON written by `ceso inventory dump` (documented in docs/placement.md), so every
//! field has a serde default and unknown fields are refused.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Schema version of the JSON file; bumped when a field changes meaning.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inventory {
    #[serde(default = "schema_version")]
    pub version: u32,
    #[serde(default)]
    pub hosts: Vec<Host>,
    #[serde(default)]
    pub vms: Vec<Vm>,
    /// DRS rules and ceso's placement policies, as one list.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<Rule>,
    /// Host group name → host names or glob patterns (`lab-*`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub host_groups: BTreeMap<String, Vec<String>>,
    /// VM group name → VM names or glob patterns.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub vm_groups: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub overcommit: Overcommit,
}

fn schema_version() -> u32 {
    SCHEMA_VERSION
}

/// `phase4.optimization.overcommit`: configured vCPU MHz and memory may reach this many
/// times the host's physical capacity.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Overcommit {
    pub cpu: f64,
    pub memory: f64,
}

impl Default for Overcommit {
    fn default() -> Self {
        Self {
            cpu: 2.0,
            memory: 1.5,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Host {
    pub name: String,
    /// Cluster (or compute resource) name; VMs only move between hosts of one cluster.
    #[serde(default)]
    pub cluster: String,
    /// Total CPU capacity in MHz (cores × MHz per core).
    pub cpu_mhz: u64,
    #[serde(default = "one")]
    pub cpu_cores: u32,
    pub memory_mb: u64,
    /// `runtime.connectionState`: only `connected` hosts take VMs.
    #[serde(default = "connected")]
    pub connection_state: String,
    #[serde(default)]
    pub maintenance: bool,
    #[serde(default)]
    pub datastores: Vec<String>,
    #[serde(default)]
    pub networks: Vec<String>,
    /// Passthrough-capable PCI devices not given to a VM (vendor:device ids or names).
    #[serde(default)]
    pub free_devices: Vec<String>,
    /// Free-form labels for policies (`rack: r1`, `gpu: a100`).
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// `summary.quickStats` as the server reported it, if it did.
    #[serde(default)]
    pub usage: Option<HostUsage>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostUsage {
    pub cpu_mhz: u64,
    pub memory_mb: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vm {
    pub name: String,
    /// The host it runs on (None: not placed yet).
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default = "one")]
    pub vcpus: u32,
    pub memory_mb: u64,
    #[serde(default = "yes")]
    pub powered_on: bool,
    #[serde(default)]
    pub cpu_reservation_mhz: u64,
    #[serde(default)]
    pub memory_reservation_mb: u64,
    #[serde(default)]
    pub datastores: Vec<String>,
    #[serde(default)]
    pub networks: Vec<String>,
    /// PCI passthrough devices it needs (matched against a host's `free_devices`).
    #[serde(default)]
    pub devices: Vec<String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// `summary.quickStats` as the server reported it, if it did.
    #[serde(default)]
    pub usage: Option<VmUsage>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VmUsage {
    /// `overallCpuUsage`
    pub cpu_mhz: u64,
    /// `guestMemoryUsage` (active guest memory)
    #[serde(default)]
    pub guest_memory_mb: u64,
    /// `hostMemoryUsage` (memory the host gives the VM)
    #[serde(default)]
    pub host_memory_mb: u64,
}

impl VmUsage {
    /// The figures if they measure anything. A running VM always holds memory, so
    /// both memory figures at 0 mean the server does not measure (stock simulators,
    /// hosts without statistics), not an idle VM: then the configured size is the
    /// demand. The one rule for live and offline inventories alike (`demand::demand`).
    pub fn measured(self) -> Option<Self> {
        (self.guest_memory_mb > 0 || self.host_memory_mb > 0).then_some(self)
    }
}

/// A placement rule. VM and host lists take names, glob patterns or `group:NAME`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Rule {
    /// The VMs run on one host.
    VmAffinity {
        name: String,
        vms: Vec<String>,
        #[serde(default = "yes")]
        mandatory: bool,
    },
    /// The VMs run on different hosts.
    VmAntiAffinity {
        name: String,
        vms: Vec<String>,
        #[serde(default = "yes")]
        mandatory: bool,
    },
    /// The VMs run (or not) on the hosts of a host group.
    VmHost {
        name: String,
        vms: Vec<String>,
        host_group: String,
        kind: VmHostKind,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VmHostKind {
    Must,
    Should,
    MustNot,
    ShouldNot,
}

impl VmHostKind {
    pub fn mandatory(self) -> bool {
        matches!(self, VmHostKind::Must | VmHostKind::MustNot)
    }
    pub fn inside(self) -> bool {
        matches!(self, VmHostKind::Must | VmHostKind::Should)
    }
}

impl Rule {
    pub fn name(&self) -> &str {
        match self {
            Rule::VmAffinity { name, .. }
            | Rule::VmAntiAffinity { name, .. }
            | Rule::VmHost { name, .. } => name,
        }
    }
    pub fn vms(&self) -> &[String] {
        match self {
            Rule::VmAffinity { vms, .. }
            | Rule::VmAntiAffinity { vms, .. }
            | Rule::VmHost { vms, .. } => vms,
        }
    }
    pub fn mandatory(&self) -> bool {
        match self {
            Rule::VmAffinity { mandatory, .. } | Rule::VmAntiAffinity { mandatory, .. } => {
                *mandatory
            }
            Rule::VmHost { kind, .. } => kind.mandatory(),
        }
    }
}

/// What `ceso place` asks for: a VM that does not exist yet, or an existing one.
pub type VmSpec = Vm;

fn one() -> u32 {
    1
}
fn yes() -> bool {
    true
}
fn connected() -> String {
    "connected".into()
}
