//! VM groups and host groups: create, delete, add and remove members. Each change is
//! one ClusterGroupSpec (add, edit or remove, keyed by the group's name).

use serde::Serialize;

use crate::ops::clusters::{self, ClusterRef};
use crate::ops::error::{OpError, OpResult, close_names};
use crate::ops::progress::Progress;
use crate::ops::spec_diff::SpecDiff;
use crate::vim::{MoRef, Request};

use super::model::{Group, GroupKind, Snapshot};
use super::resolve_members;

#[derive(Debug, Clone)]
pub enum GroupChange {
    Create {
        name: String,
        kind: GroupKind,
        members: Vec<String>,
    },
    Delete {
        name: String,
    },
    /// Add members (names or globs).
    Add {
        name: String,
        members: Vec<String>,
    },
    /// Remove members (names or globs).
    Remove {
        name: String,
        members: Vec<String>,
    },
}

/// A group change resolved against the cluster: what is sent and what it changes.
#[derive(Debug, Clone, Serialize)]
pub struct GroupPlan {
    pub cluster: String,
    pub operation: &'static str,
    pub group: Group,
    /// Member names, for display.
    pub members: Vec<String>,
    pub diff: SpecDiff,
}

pub fn find<'a>(s: &'a Snapshot, name: &str) -> OpResult<&'a Group> {
    s.groups
        .iter()
        .find(|g| g.name == name)
        .ok_or_else(|| OpError::NotFound {
            kind: "DRS group",
            name: name.to_string(),
            suggestions: close_names(name, s.groups.iter().map(|g| g.name.as_str())),
        })
}

fn names(s: &Snapshot, group: &Group) -> String {
    format!("[{}]", s.member_names(group).join(", "))
}

pub fn plan(s: &Snapshot, change: &GroupChange) -> OpResult<GroupPlan> {
    let field = |kind: GroupKind| match kind {
        GroupKind::Vm => "vm",
        GroupKind::Host => "host",
    };
    let (operation, group, diff) = match change {
        GroupChange::Create {
            name,
            kind,
            members,
        } => {
            if name.trim().is_empty() {
                return Err(OpError::invalid("a group needs a name"));
            }
            if let Some(old) = s.groups.iter().find(|g| &g.name == name) {
                return Err(OpError::refused(
                    format!(
                        "cluster {} already has a {} group '{name}'",
                        s.cluster,
                        old.kind.label()
                    ),
                    format!(
                        "add members with `ceso drs group add {name} …`, or choose another name"
                    ),
                ));
            }
            let group = Group {
                name: name.clone(),
                kind: *kind,
                members: resolve_members(s, *kind, members)?,
            };
            let mut d = SpecDiff::new("ReconfigureComputeResource_Task", &s.cluster, Some("add"));
            d.set("groupSpec.info", format!("{} '{name}'", kind.vim_type()))
                .set(
                    &format!("groupSpec.info.{}", field(*kind)),
                    names(s, &group),
                );
            ("add", group, d)
        }
        GroupChange::Delete { name } => {
            let group = find(s, name)?.clone();
            let users = s.rules_using(name);
            if !users.is_empty() {
                return Err(OpError::refused(
                    format!(
                        "group '{name}' is used by rule{} {}",
                        if users.len() == 1 { "" } else { "s" },
                        users
                            .iter()
                            .map(|r| format!("'{}'", r.name))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    "delete those rules first (`ceso drs rule delete NAME`)",
                ));
            }
            let mut d = SpecDiff::new(
                "ReconfigureComputeResource_Task",
                &s.cluster,
                Some("remove"),
            );
            d.unset("groupSpec.removeKey", name.clone()).unset(
                &format!("groupSpec.info.{}", field(group.kind)),
                names(s, &group),
            );
            ("remove", group, d)
        }
        GroupChange::Add { name, members } | GroupChange::Remove { name, members } => {
            let old = find(s, name)?;
            let adding = matches!(change, GroupChange::Add { .. });
            let given = resolve_members(s, old.kind, members)?;
            let mut group = old.clone();
            // Members that no longer exist cannot be sent back: an edit drops them.
            group.members.retain(|m| match group.kind {
                GroupKind::Vm => s.vm(m).is_some(),
                GroupKind::Host => s.host(m).is_some(),
            });
            if adding {
                for id in given {
                    if !group.members.contains(&id) {
                        group.members.push(id);
                    }
                }
            } else {
                group.members.retain(|m| !given.contains(m));
            }
            let mut d = SpecDiff::new("ReconfigureComputeResource_Task", &s.cluster, Some("edit"));
            d.edit(
                &format!("groupSpec.info['{name}'].{}", field(old.kind)),
                names(s, old),
                names(s, &group),
            );
            ("edit", group, d)
        }
    };
    Ok(GroupPlan {
        cluster: s.cluster.clone(),
        operation,
        members: s.member_names(&group),
        group,
        diff,
    })
}

/// Write one ClusterGroupSpec.
fn write(r: &mut Request, operation: &str, group: &Group) {
    r.nest("groupSpec", None, |r| {
        r.text("operation", operation);
        if operation == "remove" {
            r.typed_text("removeKey", "xsd:string", &group.name);
            return;
        }
        r.nest("info", Some(group.kind.vim_type()), |r| {
            r.text("name", &group.name);
            let (field, kind) = match group.kind {
                GroupKind::Vm => ("vm", "VirtualMachine"),
                GroupKind::Host => ("host", "HostSystem"),
            };
            for m in &group.members {
                r.moref(field, &MoRef::new(kind, m.clone()));
            }
        });
    });
}

pub async fn apply(
    cluster: &ClusterRef,
    plan: &GroupPlan,
    progress: &dyn Progress,
) -> OpResult<()> {
    let step = format!(
        "{} DRS group {} on {}",
        match plan.operation {
            "add" => "Creating",
            "remove" => "Deleting",
            _ => "Changing",
        },
        plan.group.name,
        cluster.name
    );
    clusters::reconfigure(
        cluster,
        |r| write(r, plan.operation, &plan.group),
        &step,
        progress,
    )
    .await
}
