//! DRS rules: create, delete, enable, disable. Each change is one ClusterRuleSpec;
//! edits and removals name the rule by the key the server assigned.

use serde::Serialize;

use crate::ops::clusters::{self, ClusterRef};
use crate::ops::error::{OpError, OpResult, close_names};
use crate::ops::progress::Progress;
use crate::ops::spec_diff::SpecDiff;
use crate::vim::{MoRef, Request};

use super::model::{GroupKind, Rule, RuleKind, Snapshot};
use super::resolve_members;

/// A new rule as the user describes it (VMs by name or glob, groups by name).
#[derive(Debug, Clone)]
pub enum NewRule {
    KeepTogether(Vec<String>),
    Separate(Vec<String>),
    VmHost {
        vm_group: String,
        host_group: String,
        /// `--must` (mandatory) rather than `--should`.
        must: bool,
        /// `--not`: must/should not run on the host group.
        not: bool,
    },
}

#[derive(Debug, Clone)]
pub struct RuleSpec {
    pub name: String,
    pub rule: NewRule,
    pub enabled: bool,
    /// For VM-VM rules: DRS never breaks it, even to keep VMs running after a host
    /// failure (`mandatory`). VM-Host rules take it from --must.
    pub mandatory: bool,
}

/// A rule change resolved against the cluster.
#[derive(Debug, Clone, Serialize)]
pub struct RulePlan {
    pub cluster: String,
    pub operation: &'static str,
    pub rule: Rule,
    /// The rule's VMs by name (VM-VM rules).
    pub vms: Vec<String>,
    pub diff: SpecDiff,
}

pub fn find<'a>(s: &'a Snapshot, name: &str) -> OpResult<&'a Rule> {
    s.rules
        .iter()
        .find(|r| r.name == name || r.key.to_string() == name)
        .ok_or_else(|| OpError::NotFound {
            kind: "DRS rule",
            name: name.to_string(),
            suggestions: close_names(name, s.rules.iter().map(|r| r.name.as_str())),
        })
}

fn vm_names(s: &Snapshot, rule: &Rule) -> Vec<String> {
    match &rule.kind {
        RuleKind::KeepTogether { vms } | RuleKind::Separate { vms } => {
            vms.iter().map(|v| s.vm_name(v)).collect()
        }
        RuleKind::VmHost { .. } => Vec::new(),
    }
}

/// The fields of a rule as diff lines (create and delete show them all).
fn describe(d: &mut SpecDiff, s: &Snapshot, rule: &Rule, adding: bool) {
    let mut put = |field: &str, value: String| {
        if adding {
            d.set(field, value);
        } else {
            d.unset(field, value);
        }
    };
    put(
        "rulesSpec.info",
        format!("{} '{}'", rule.kind.vim_type(), rule.name),
    );
    put("rulesSpec.info.enabled", rule.enabled.to_string());
    put("rulesSpec.info.mandatory", rule.mandatory.to_string());
    match &rule.kind {
        RuleKind::KeepTogether { .. } | RuleKind::Separate { .. } => {
            put(
                "rulesSpec.info.vm",
                format!("[{}]", vm_names(s, rule).join(", ")),
            );
        }
        RuleKind::VmHost {
            vm_group,
            host_group,
            affine,
        } => {
            put("rulesSpec.info.vmGroupName", vm_group.clone());
            put(
                if *affine {
                    "rulesSpec.info.affineHostGroupName"
                } else {
                    "rulesSpec.info.antiAffineHostGroupName"
                },
                host_group.clone(),
            );
        }
    }
}

pub fn plan_create(s: &Snapshot, spec: &RuleSpec) -> OpResult<RulePlan> {
    if spec.name.trim().is_empty() {
        return Err(OpError::invalid("a rule needs a name"));
    }
    if s.rules.iter().any(|r| r.name == spec.name) {
        return Err(OpError::refused(
            format!("cluster {} already has a rule '{}'", s.cluster, spec.name),
            "choose another name, or delete the old rule first",
        ));
    }
    let (kind, mandatory) = match &spec.rule {
        NewRule::KeepTogether(vms) | NewRule::Separate(vms) => {
            let ids = resolve_members(s, GroupKind::Vm, vms)?;
            if ids.len() < 2 {
                return Err(OpError::Invalid {
                    message: format!(
                        "rule '{}' names {} VM; a VM-VM rule needs at least two",
                        spec.name,
                        ids.len()
                    ),
                    hint: Some("list the VMs comma-separated: --separate web-1,web-2".into()),
                });
            }
            let kind = if matches!(spec.rule, NewRule::KeepTogether(_)) {
                RuleKind::KeepTogether { vms: ids }
            } else {
                RuleKind::Separate { vms: ids }
            };
            (kind, spec.mandatory)
        }
        NewRule::VmHost {
            vm_group,
            host_group,
            must,
            not,
        } => {
            for (name, kind) in [(vm_group, GroupKind::Vm), (host_group, GroupKind::Host)] {
                if s.group(name, kind).is_none() {
                    let same_kind = s.groups.iter().filter(|g| g.kind == kind);
                    return Err(OpError::NotFound {
                        kind: if kind == GroupKind::Vm {
                            "VM group"
                        } else {
                            "host group"
                        },
                        name: name.clone(),
                        suggestions: close_names(name, same_kind.map(|g| g.name.as_str())),
                    });
                }
            }
            (
                RuleKind::VmHost {
                    vm_group: vm_group.clone(),
                    host_group: host_group.clone(),
                    affine: !not,
                },
                *must,
            )
        }
    };
    let rule = Rule {
        key: 0,
        name: spec.name.clone(),
        enabled: spec.enabled,
        mandatory,
        kind,
        uuid: None,
    };
    let mut diff = SpecDiff::new("ReconfigureComputeResource_Task", &s.cluster, Some("add"));
    describe(&mut diff, s, &rule, true);
    Ok(RulePlan {
        cluster: s.cluster.clone(),
        operation: "add",
        vms: vm_names(s, &rule),
        rule,
        diff,
    })
}

pub fn plan_delete(s: &Snapshot, name: &str) -> OpResult<RulePlan> {
    let rule = find(s, name)?.clone();
    let mut diff = SpecDiff::new(
        "ReconfigureComputeResource_Task",
        &s.cluster,
        Some("remove"),
    );
    diff.unset("rulesSpec.removeKey", rule.key.to_string());
    describe(&mut diff, s, &rule, false);
    Ok(RulePlan {
        cluster: s.cluster.clone(),
        operation: "remove",
        vms: vm_names(s, &rule),
        rule,
        diff,
    })
}

/// Enable or disable; the edit carries the whole rule under its key, as vSphere wants.
pub fn plan_enable(s: &Snapshot, name: &str, enabled: bool) -> OpResult<RulePlan> {
    let old = find(s, name)?;
    let mut rule = old.clone();
    rule.enabled = enabled;
    let mut diff = SpecDiff::new("ReconfigureComputeResource_Task", &s.cluster, Some("edit"));
    diff.edit(
        &format!("rulesSpec.info[key={}].enabled", rule.key),
        old.enabled.to_string(),
        enabled.to_string(),
    );
    Ok(RulePlan {
        cluster: s.cluster.clone(),
        operation: "edit",
        vms: vm_names(s, &rule),
        rule,
        diff,
    })
}

/// Write one ClusterRuleSpec (ClusterRuleInfo fields in WSDL order).
fn write(r: &mut Request, operation: &str, rule: &Rule) {
    r.nest("rulesSpec", None, |r| {
        r.text("operation", operation);
        if operation == "remove" {
            r.typed_text("removeKey", "xsd:int", rule.key);
            return;
        }
        r.nest("info", Some(rule.kind.vim_type()), |r| {
            if operation == "edit" {
                r.text("key", rule.key);
            }
            r.text("enabled", rule.enabled)
                .text("name", &rule.name)
                .text("mandatory", rule.mandatory);
            if operation == "edit"
                && let Some(uuid) = &rule.uuid
            {
                r.text("ruleUuid", uuid);
            }
            match &rule.kind {
                RuleKind::KeepTogether { vms } | RuleKind::Separate { vms } => {
                    for vm in vms {
                        r.moref("vm", &MoRef::new("VirtualMachine", vm.clone()));
                    }
                }
                RuleKind::VmHost {
                    vm_group,
                    host_group,
                    affine,
                } => {
                    r.text("vmGroupName", vm_group);
                    if *affine {
                        r.text("affineHostGroupName", host_group);
                    } else {
                        r.text("antiAffineHostGroupName", host_group);
                    }
                }
            }
        });
    });
}

pub async fn apply(cluster: &ClusterRef, plan: &RulePlan, progress: &dyn Progress) -> OpResult<()> {
    let step = format!(
        "{} DRS rule {} on {}",
        match plan.operation {
            "add" => "Creating",
            "remove" => "Deleting",
            _ => "Changing",
        },
        plan.rule.name,
        cluster.name
    );
    clusters::reconfigure(
        cluster,
        |r| write(r, plan.operation, &plan.rule),
        &step,
        progress,
    )
    .await
}
