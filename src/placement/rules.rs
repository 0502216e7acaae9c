//! Rules compiled against one inventory: VM lists and host groups resolved to indexes
//! once, so checking a VM on a host costs a few lookups.

use std::collections::BTreeMap;

use super::error::PlacementError;
use super::model::{Inventory, Rule, VmHostKind};

/// A name, a glob pattern (`prod-*`) or `group:NAME` (expanded by the caller).
#[derive(Debug, Clone)]
pub enum Matcher {
    Exact(String),
    Glob(glob::Pattern),
}

impl Matcher {
    pub fn new(text: &str) -> Result<Self, PlacementError> {
        if text.contains(['*', '?', '[']) {
            glob::Pattern::new(text)
                .map(Matcher::Glob)
                .map_err(|e| PlacementError::Inventory(format!("bad pattern '{text}': {e}")))
        } else {
            Ok(Matcher::Exact(text.to_string()))
        }
    }

    pub fn matches(&self, name: &str) -> bool {
        match self {
            Matcher::Exact(s) => s == name,
            Matcher::Glob(p) => p.matches(name),
        }
    }
}

/// Expand `group:NAME` entries through `groups`, then compile every entry.
pub fn matchers(
    entries: &[String],
    groups: &BTreeMap<String, Vec<String>>,
    what: &str,
) -> Result<Vec<Matcher>, PlacementError> {
    let mut out = Vec::new();
    for e in entries {
        match e.strip_prefix("group:") {
            Some(g) => {
                let members = groups.get(g).ok_or_else(|| {
                    PlacementError::Inventory(format!("unknown {what} group '{g}'"))
                })?;
                for m in members {
                    out.push(Matcher::new(m)?);
                }
            }
            None => out.push(Matcher::new(e)?),
        }
    }
    Ok(out)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Affinity,
    AntiAffinity,
    VmHost(VmHostKind),
}

#[derive(Debug, Clone)]
pub struct CompiledRule {
    pub name: String,
    pub kind: Kind,
    pub mandatory: bool,
    pub vm_matchers: Vec<Matcher>,
    /// Inventory VM indexes the rule names.
    pub members: Vec<usize>,
    /// For VM-host rules: which hosts are in the group.
    pub in_group: Vec<bool>,
    pub host_group: String,
}

impl CompiledRule {
    pub fn applies_to(&self, name: &str) -> bool {
        self.vm_matchers.iter().any(|m| m.matches(name))
    }
}

/// Host group name → membership of each inventory host.
pub fn host_groups(inv: &Inventory) -> Result<BTreeMap<String, Vec<bool>>, PlacementError> {
    let mut out = BTreeMap::new();
    for (name, entries) in &inv.host_groups {
        let ms = matchers(entries, &BTreeMap::new(), "host")?;
        out.insert(
            name.clone(),
            inv.hosts
                .iter()
                .map(|h| ms.iter().any(|m| m.matches(&h.name)))
                .collect(),
        );
    }
    Ok(out)
}

pub fn compile(
    inv: &Inventory,
    groups: &BTreeMap<String, Vec<bool>>,
) -> Result<Vec<CompiledRule>, PlacementError> {
    let mut out = Vec::with_capacity(inv.rules.len());
    for rule in &inv.rules {
        let vm_matchers = matchers(rule.vms(), &inv.vm_groups, "VM")?;
        let members = inv
            .vms
            .iter()
            .enumerate()
            .filter(|(_, v)| vm_matchers.iter().any(|m| m.matches(&v.name)))
            .map(|(i, _)| i)
            .collect();
        let (kind, in_group, host_group) = match rule {
            Rule::VmAffinity { .. } => (Kind::Affinity, Vec::new(), String::new()),
            Rule::VmAntiAffinity { .. } => (Kind::AntiAffinity, Vec::new(), String::new()),
            Rule::VmHost {
                host_group, kind, ..
            } => {
                let members = groups.get(host_group).ok_or_else(|| {
                    PlacementError::Inventory(format!(
                        "rule '{}' names unknown host group '{host_group}'",
                        rule.name()
                    ))
                })?;
                (Kind::VmHost(*kind), members.clone(), host_group.clone())
            }
        };
        out.push(CompiledRule {
            name: rule.name().to_string(),
            kind,
            mandatory: rule.mandatory(),
            vm_matchers,
            members,
            in_group,
            host_group,
        });
    }
    Ok(out)
}

/// Why VM `vm` (an inventory index, or None for a VM not in the inventory) on host
/// `host` breaks `rule`, given where every inventory VM is (`pos`). None: it does not.
pub fn violation(
    rule: &CompiledRule,
    vm: Option<usize>,
    host: usize,
    pos: &[Option<usize>],
    host_names: &dyn Fn(usize) -> String,
) -> Option<String> {
    let others = || {
        rule.members
            .iter()
            .copied()
            .filter(move |&m| Some(m) != vm)
            .filter_map(|m| pos[m].map(|h| (m, h)))
    };
    match rule.kind {
        Kind::Affinity => {
            let away: Vec<usize> = others()
                .filter(|&(_, h)| h != host)
                .map(|(_, h)| h)
                .collect();
            (!away.is_empty()).then(|| {
                format!(
                    "affinity rule '{}': its other VMs run on {}",
                    rule.name,
                    host_names(away[0])
                )
            })
        }
        Kind::AntiAffinity => others().any(|(_, h)| h == host).then(|| {
            format!(
                "anti-affinity rule '{}': another of its VMs runs on this host",
                rule.name
            )
        }),
        Kind::VmHost(kind) => {
            let inside = rule.in_group.get(host).copied().unwrap_or(false);
            (inside != kind.inside()).then(|| {
                let verb = match kind {
                    VmHostKind::Must => "must run in",
                    VmHostKind::Should => "should run in",
                    VmHostKind::MustNot => "must not run in",
                    VmHostKind::ShouldNot => "should not run in",
                };
                format!(
                    "rule '{}': VM {verb} host group '{}'",
                    rule.name, rule.host_group
                )
            })
        }
    }
}
