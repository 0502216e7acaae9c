//! DRS rules and groups as typed values, with the facts about VMs and hosts they are
//! judged against. No I/O: `read.rs` fills these from the server; `check.rs` and a
//! placement engine reason over them.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupKind {
    Vm,
    Host,
}

impl GroupKind {
    pub fn label(self) -> &'static str {
        match self {
            GroupKind::Vm => "VM",
            GroupKind::Host => "host",
        }
    }

    /// The vSphere data object type (`ClusterVmGroup`, `ClusterHostGroup`).
    pub fn vim_type(self) -> &'static str {
        match self {
            GroupKind::Vm => "ClusterVmGroup",
            GroupKind::Host => "ClusterHostGroup",
        }
    }
}

/// A cluster's VM group or host group. Members are moref ids (`vm-42`, `host-7`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Group {
    pub name: String,
    pub kind: GroupKind,
    pub members: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum RuleKind {
    /// VM-VM affinity (`ClusterAffinityRuleSpec`).
    KeepTogether { vms: Vec<String> },
    /// VM-VM anti-affinity (`ClusterAntiAffinityRuleSpec`).
    Separate { vms: Vec<String> },
    /// VM-Host (`ClusterVmHostRuleInfo`): the VMs of `vm_group` run (`affine`) or do
    /// not run on the hosts of `host_group`; `mandatory` makes it "must", else "should".
    VmHost {
        vm_group: String,
        host_group: String,
        affine: bool,
    },
}

impl RuleKind {
    pub fn vim_type(&self) -> &'static str {
        match self {
            RuleKind::KeepTogether { .. } => "ClusterAffinityRuleSpec",
            RuleKind::Separate { .. } => "ClusterAntiAffinityRuleSpec",
            RuleKind::VmHost { .. } => "ClusterVmHostRuleInfo",
        }
    }

    pub fn label(&self) -> &'static str {
        match self {
            RuleKind::KeepTogether { .. } => "keep-together",
            RuleKind::Separate { .. } => "separate",
            RuleKind::VmHost { .. } => "vm-host",
        }
    }
}

/// A rule as the server holds it; `key` is assigned by the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rule {
    pub key: i64,
    pub name: String,
    pub enabled: bool,
    pub mandatory: bool,
    #[serde(flatten)]
    pub kind: RuleKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
}

impl Rule {
    /// "must run on", "should not run on", … for VM-Host rules; the kind otherwise.
    pub fn placement(&self) -> String {
        match &self.kind {
            RuleKind::VmHost { affine, .. } => format!(
                "{} {}run on",
                if self.mandatory { "must" } else { "should" },
                if *affine { "" } else { "not " }
            ),
            other => other.label().to_string(),
        }
    }
}

/// What a check needs to know about a VM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VmFact {
    pub id: String,
    pub name: String,
    /// The host it is registered on (runs on, when powered on).
    pub host: Option<String>,
    pub powered_on: bool,
    pub memory_mb: i64,
}

/// What a check needs to know about a host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostFact {
    pub id: String,
    pub name: String,
    pub memory_mb: i64,
    /// Connected and not in maintenance mode: DRS can place VMs on it.
    pub usable: bool,
}

/// One cluster's rules and groups with its VMs and hosts, read at one moment.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Snapshot {
    pub cluster: String,
    pub rules: Vec<Rule>,
    pub groups: Vec<Group>,
    pub vms: Vec<VmFact>,
    pub hosts: Vec<HostFact>,
}

impl Snapshot {
    pub fn vm(&self, id: &str) -> Option<&VmFact> {
        self.vms.iter().find(|v| v.id == id)
    }

    pub fn host(&self, id: &str) -> Option<&HostFact> {
        self.hosts.iter().find(|h| h.id == id)
    }

    pub fn group(&self, name: &str, kind: GroupKind) -> Option<&Group> {
        self.groups
            .iter()
            .find(|g| g.name == name && g.kind == kind)
    }

    pub fn rule(&self, name: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.name == name)
    }

    /// A VM's name, or its id when it no longer exists.
    pub fn vm_name(&self, id: &str) -> String {
        self.vm(id)
            .map_or_else(|| id.to_string(), |v| v.name.clone())
    }

    pub fn host_name(&self, id: &str) -> String {
        self.host(id)
            .map_or_else(|| id.to_string(), |h| h.name.clone())
    }

    /// Names of the members of a group (ids of members that no longer exist).
    pub fn member_names(&self, group: &Group) -> Vec<String> {
        group
            .members
            .iter()
            .map(|m| match group.kind {
                GroupKind::Vm => self.vm_name(m),
                GroupKind::Host => self.host_name(m),
            })
            .collect()
    }

    /// The rules that name a group.
    pub fn rules_using(&self, group: &str) -> Vec<&Rule> {
        self.rules
            .iter()
            .filter(|r| match &r.kind {
                RuleKind::VmHost {
                    vm_group,
                    host_group,
                    ..
                } => vm_group == group || host_group == group,
                _ => false,
            })
            .collect()
    }
}
