//! Resolving a VM name given by the user: exact match, or a clear error that lists close
//! names (nothing matched) or every match with its host (ambiguous).

use crate::ops::error::{OpError, OpResult, close_names};
use crate::ops::fleet::{EndpointError, Fleet, Gathered, Scope};
use crate::vim::MoRef;

use super::{VmRef, list::list_target};

/// The one VM called `name` (or with moref id `name`, e.g. `vm-42`).
pub async fn find_vm(fleet: &Fleet, scope: &Scope, name: &str) -> OpResult<VmRef> {
    let matches = find_matching(fleet, scope, name, false).await?;
    one(name, matches)
}

/// The one VM of `matches` (at least one), or Ambiguous listing every match.
fn one(name: &str, mut matches: Vec<VmRef>) -> OpResult<VmRef> {
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

/// `find_named` that keeps the VMs found on the endpoints that answered when others
/// fail (their errors are in the result); an error when nothing was found.
pub async fn find_named_each(
    fleet: &Fleet,
    scope: &Scope,
    name: &str,
) -> OpResult<Gathered<VmRef>> {
    let glob = name.contains(['*', '?', '[']);
    let found = find_matching_each(fleet, scope, name, glob).await?;
    if glob {
        return Ok(found);
    }
    let Gathered {
        items,
        errors,
        answered,
    } = found;
    Ok(Gathered {
        items: vec![one(name, items)?],
        errors,
        answered,
    })
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
    find_matching_each(fleet, scope, wanted, glob)
        .await?
        .strict()
}

/// The matches on the endpoints that answered (at least one), with the errors of the
/// others. Nothing found: the first endpoint error, else NotFound.
async fn find_matching_each(
    fleet: &Fleet,
    scope: &Scope,
    wanted: &str,
    glob: bool,
) -> OpResult<Gathered<VmRef>> {
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
    let mut errors = Vec::new();
    let mut answered = 0;
    for (target, result) in targets.iter().zip(lists) {
        let (endpoint, vms) = match result {
            Ok(answer) => answer,
            Err(error) => {
                errors.push(EndpointError {
                    endpoint: target.endpoint.name().to_string(),
                    error,
                });
                continue;
            }
        };
        answered += 1;
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
        if !errors.is_empty() {
            return Err(errors.remove(0).error);
        }
        return Err(OpError::NotFound {
            kind: "VM",
            name: wanted.to_string(),
            suggestions: close_names(wanted, all_names.iter().map(String::as_str)),
        });
    }
    Ok(Gathered {
        items: found,
        errors,
        answered,
    })
}
