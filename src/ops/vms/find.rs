//! Resolving a VM name given by the user: exact match, or a clear error that lists close
//! names (nothing matched) or every match with its host (ambiguous).

use crate::ops::error::{OpError, OpResult, close_names};
use crate::ops::fleet::{Fleet, Scope};
use crate::vim::MoRef;

use super::{VmRef, list::list_target};

/// The one VM called `name` (or with moref id `name`, e.g. `vm-42`).
pub async fn find_vm(fleet: &Fleet, scope: &Scope, name: &str) -> OpResult<VmRef> {
    let mut matches = find_matching(fleet, scope, name, false).await?;
    match matches.len() {
        1 => Ok(matches.remove(0)),
        0 => unreachable!("find_matching returns NotFound"),
        _ => Err(OpError::Ambiguous {
            kind: "VM",
            name: name.to_string(),
            candidates: matches
                .iter()
                .map(|m| {
                    format!(
                        "{} ({} on {}/{})",
                        m.name,
                        m.moref.value,
                        m.endpoint.name(),
                        m.host
                    )
                })
                .collect(),
        }),
    }
}

/// A name, or a glob when it has `*`, `?` or `[`: the VMs it means (at least one).
pub async fn find_named(fleet: &Fleet, scope: &Scope, name: &str) -> OpResult<Vec<VmRef>> {
    if name.contains(['*', '?', '[']) {
        find_vms(fleet, scope, name).await
    } else {
        Ok(vec![find_vm(fleet, scope, name).await?])
    }
}

/// Add `vm` to `list` unless the same VM (same endpoint and moref) is there already.
pub fn push_unique(list: &mut Vec<VmRef>, vm: VmRef) {
    if !list
        .iter()
        .any(|o| o.moref == vm.moref && o.endpoint.name() == vm.endpoint.name())
    {
        list.push(vm);
    }
}

/// Every VM whose name matches the glob `pattern` (at least one).
pub async fn find_vms(fleet: &Fleet, scope: &Scope, pattern: &str) -> OpResult<Vec<VmRef>> {
    find_matching(fleet, scope, pattern, true).await
}

async fn find_matching(
    fleet: &Fleet,
    scope: &Scope,
    wanted: &str,
    glob: bool,
) -> OpResult<Vec<VmRef>> {
    let matcher = if glob {
        Some(
            glob::Pattern::new(wanted)
                .map_err(|e| OpError::invalid(format!("invalid pattern '{wanted}': {e}")))?,
        )
    } else {
        None
    };
    let targets = fleet.targets(scope).await?;
    let lists = fleet
        .each(targets.clone(), |t| async move {
            let endpoint = t.endpoint.clone();
            Ok((endpoint, list_target(t).await?))
        })
        .await;
    let moref = MoRef::parse(wanted);
    let mut found = Vec::new();
    let mut all_names = Vec::new();
    for result in lists {
        let (endpoint, vms) = result?;
        for vm in vms {
            let hit = match &matcher {
                Some(m) => m.matches(&vm.name),
                None => {
                    vm.name == wanted
                        || vm.id == wanted
                        || moref
                            .as_ref()
                            .is_some_and(|m| m.kind == "VirtualMachine" && m.value == vm.id)
                }
            };
            if hit {
                found.push(VmRef {
                    endpoint: endpoint.clone(),
                    moref: MoRef::new("VirtualMachine", vm.id.clone()),
                    name: vm.name.clone(),
                    host: vm.host.clone(),
                });
            }
            all_names.push(vm.name);
        }
    }
    if found.is_empty() {
        return Err(OpError::NotFound {
            kind: "VM",
            name: wanted.to_string(),
            suggestions: close_names(wanted, all_names.iter().map(String::as_str)),
        });
    }
    Ok(found)
}
