//! The config file's shape (`~/.config/ceso/config.yaml`). Unknown keys are errors:
//! a typo in a safety setting must not be silently ignored.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<HostEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vcenter: Option<VcenterEntry>,
    /// The spec's Feature 1 shows this section at the top level; it is the same as
    /// `phase4.pci_passthrough` (setting both is an error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pci_passthrough: Option<PciPassthrough>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase4: Option<Phase4>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<Settings>,
    /// ceso's host groups and placement policies (workload isolation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<PlacementConfig>,
}

/// One endpoint: a standalone ESXi host (or a vCenter given as a host).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HostEntry {
    pub name: String,
    /// An address (`192.168.1.100`, `esx1:8443`) or a full URL (`http://127.0.0.1:8989/sdk`).
    pub host: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub default: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub insecure: bool,
    /// SHA-256 or SHA-1 certificate thumbprint to pin (self-signed ESXi).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbprint: Option<String>,
    /// A PEM bundle of extra CAs to trust.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
    /// Name of an environment variable holding the password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
    /// A command whose standard output is the password (`pass show esx1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_command: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datacenter: Option<String>,
}

/// How to reach and trust an endpoint, and where its password comes from: the fields
/// shared by `hosts:` entries and the `vcenter:` section.
#[derive(Debug, Clone, Default)]
pub struct Access {
    pub insecure: bool,
    pub thumbprint: Option<String>,
    pub ca_file: Option<String>,
    pub password_env: Option<String>,
    pub password_command: Option<String>,
}

macro_rules! access_of {
    ($entry:expr) => {
        Access {
            insecure: $entry.insecure,
            thumbprint: $entry.thumbprint.clone(),
            ca_file: $entry.ca_file.clone(),
            password_env: $entry.password_env.clone(),
            password_command: $entry.password_command.clone(),
        }
    };
}

impl HostEntry {
    pub fn access(&self) -> Access {
        access_of!(self)
    }
}

impl VcenterEntry {
    pub fn access(&self) -> Access {
        access_of!(self)
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VcenterEntry {
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default)]
    pub host: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Accepted for the spec's schema, but a password in a file is refused at load time:
    /// use password_env or password_command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datacenter: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub default: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub insecure: bool,
    /// SHA-256 or SHA-1 certificate thumbprint to pin (self-signed ESXi).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbprint: Option<String>,
    /// A PEM bundle of extra CAs to trust.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
    /// Name of an environment variable holding the password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
    /// A command whose standard output is the password (`pass show esx1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_command: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Phase4 {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pci_passthrough: Option<PciPassthrough>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vcenter: Option<VcenterEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hot_backup: Option<HotBackup>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multi_host: Option<MultiHost>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub networking: Option<Networking>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optimization: Option<Optimization>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PciPassthrough {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Reset the device when the VM stops (`auto_reset`; `default_reset` in Feature 1).
    #[serde(default = "yes", alias = "default_reset")]
    pub auto_reset: bool,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub gpu_profiles: BTreeMap<String, Vec<GpuProfile>>,
}

impl Default for PciPassthrough {
    fn default() -> Self {
        Self {
            enabled: true,
            auto_reset: true,
            gpu_profiles: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GpuProfile {
    pub name: String,
    #[serde(default)]
    pub memory: u64,
    #[serde(default)]
    pub max_instances: u32,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HotBackup {
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub default_quiesce: bool,
    #[serde(default = "yes")]
    pub cbt_enabled: bool,
    /// Repository directory (default: the XDG data dir's `ceso/backups`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// Read throttle, e.g. `50M` (bytes per second).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rate: Option<String>,
    #[serde(default, skip_serializing_if = "Hooks::is_empty")]
    pub hooks: Hooks,
    /// Per-VM settings, by VM name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub vms: BTreeMap<String, VmBackup>,
}

impl Default for HotBackup {
    fn default() -> Self {
        Self {
            enabled: true,
            default_quiesce: false,
            cbt_enabled: true,
            repository: None,
            max_rate: None,
            hooks: Hooks::default(),
            vms: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Hooks {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pre: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub post: Vec<String>,
}

impl Hooks {
    pub fn is_empty(&self) -> bool {
        self.pre.is_empty() && self.post.is_empty()
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VmBackup {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quiesce: Option<bool>,
    #[serde(default, skip_serializing_if = "Hooks::is_empty")]
    pub hooks: Hooks,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MultiHost {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// `vm create` without a host lets the placement engine pick one.
    #[serde(default = "yes")]
    pub load_balance: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migration: Option<Migration>,
    /// Endpoints opened at once by commands over several hosts
    /// (`settings.endpoint_concurrency` wins when both are set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<usize>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Migration {
    #[serde(default = "yes")]
    pub check_compatibility: bool,
    #[serde(default = "yes")]
    pub preserve_mac: bool,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Networking {
    #[serde(default = "yes")]
    pub vlan_aware: bool,
    #[serde(default = "yes")]
    pub dvs_support: bool,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Optimization {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Applying a balance plan needs no confirmation (like DRS fully automated).
    #[serde(default)]
    pub auto_balance: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overcommit: Option<Overcommit>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Overcommit {
    #[serde(default = "two")]
    pub cpu: f64,
    #[serde(default = "one_and_half")]
    pub memory: f64,
}

/// `placement:` — host groups (names or globs), policies binding VMs to them, and
/// Rhai policy plugins, read by `ceso place`, `ceso optimize` and `vm create`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PlacementConfig {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub host_groups: BTreeMap<String, Vec<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<PlacementPolicy>,
    /// `.rhai` files defining `filter(vm, host)` and/or `score(vm, host)`; relative
    /// paths are relative to the config file.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plugins: Vec<String>,
    /// The least gain (in total imbalance) a migration must bring (default 0.001).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migration_cost: Option<f64>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PlacementPolicy {
    /// A name shown in reasons (default `policy-N`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// VM names or globs (`prod-*`): one string or a list.
    pub vms: Names,
    pub host_group: String,
    pub rule: PolicyRule,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Names {
    One(String),
    Many(Vec<String>),
}

impl Names {
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            Names::One(s) => vec![s.clone()],
            Names::Many(v) => v.clone(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicyRule {
    Must,
    Should,
    #[serde(alias = "must-not")]
    MustNot,
    #[serde(alias = "should-not")]
    ShouldNot,
}

/// ceso's own knobs.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Seconds for one SOAP round trip (default 60).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
    /// Seconds to connect (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_timeout: Option<u64>,
    /// Seconds to wait for a vSphere task (default 3600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_timeout: Option<u64>,
    /// Operations run at once over many objects of one endpoint (default 16).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<usize>,
    /// Endpoints worked on at once (default 256): they are independent servers, so a
    /// fleet fans out wider than the per-object bound a single server should see.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_concurrency: Option<usize>,
    /// Keep sessions between commands in the user's cache dir (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_cache: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scripting: Option<Scripting>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Scripting {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_operations: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_call_depth: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_string_size: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_array_size: Option<usize>,
    /// Allow `shell(...)` in scripts.
    #[serde(default)]
    pub allow_shell: bool,
    /// Allow `write_file(...)` in scripts.
    #[serde(default)]
    pub allow_write: bool,
}

fn yes() -> bool {
    true
}

fn two() -> f64 {
    2.0
}

fn one_and_half() -> f64 {
    1.5
}

fn is_false(b: &bool) -> bool {
    !*b
}
