//! Resolving a VM name given by the user: exact match, or a clear error that lists close
//! names (nothing matched) or every match with its host (ambiguous).

use std::collections::HashMap;

use crate::ops::error::{OpError, OpResult, close_names};
use crate::ops::fleet::{EndpointError, Fleet, Gathered, Scope, Target, WithEndpoint};
use crate::vim::{MoRef, PropertySpec};

use super::VmRef;

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
    let moref = MoRef::parse(wanted);
    let hit = |id: &str, name: &str| match &matcher {
        Some(m) => m.matches(name),
        None => {
            name == wanted
                || id == wanted
                || moref
                    .as_ref()
                    .is_some_and(|m| m.kind == "VirtualMachine" && m.value == id)
        }
    };
    let targets = fleet.targets(scope).await?;
    let endpoints: Vec<String> = targets
        .iter()
        .map(|t| t.endpoint.name().to_string())
        .collect();
    // An inventory path (`DC0/vm/folder/web-1`; a `/` in a name is `%2f` in vSphere)
    // is resolved by the server's SearchIndex, whatever the size of the inventory.
    let by_path = matcher.is_none() && wanted.contains('/');
    let lists = fleet
        .each_endpoint(targets, |t| async move {
            if by_path {
                find_by_path(t, wanted).await
            } else {
                find_in_target(t, &hit).await
            }
        })
        .await;
    let mut found = Vec::new();
    let mut all_names = Vec::new();
    let mut errors = Vec::new();
    let mut answered = 0;
    for (endpoint, result) in endpoints.into_iter().zip(lists) {
        match result {
            Ok((vms, names)) => {
                answered += 1;
                found.extend(vms);
                all_names.extend(names);
            }
            Err(error) => errors.push(EndpointError { endpoint, error }),
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

/// The VM at inventory path `path` in one target (none, or one).
async fn find_by_path(target: Target, path: &str) -> OpResult<(Vec<VmRef>, Vec<String>)> {
    let endpoint = target.endpoint.clone();
    let at = endpoint.name().to_string();
    let client = endpoint.client().await?;
    let index = client
        .content()
        .manager("searchIndex")
        .ok_or_else(|| OpError::invalid(format!("{at} has no SearchIndex")))?;
    let mut req = crate::vim::Request::new("FindByInventoryPath", &index);
    req.text("inventoryPath", path.trim_start_matches('/'));
    let found = client
        .call_returnval(req)
        .await
        .at(&at)?
        .and_then(|n| n.as_moref())
        .filter(|m| m.kind == "VirtualMachine");
    let Some(moref) = found else {
        return Ok((Vec::new(), Vec::new()));
    };
    let props = client
        .properties(&moref, &["name", "runtime.host", "runtime.powerState"])
        .await
        .at(&at)?;
    let host = match props.moref("runtime.host") {
        Some(h) => client
            .properties(&h, &["name"])
            .await
            .at(&at)?
            .str("name")
            .unwrap_or_default()
            .to_string(),
        None => String::new(),
    };
    if target.host.as_ref().is_some_and(|wanted| *wanted != host) {
        return Ok((Vec::new(), Vec::new()));
    }
    Ok((
        vec![VmRef {
            endpoint: endpoint.clone(),
            name: props.str("name").unwrap_or_default().to_string(),
            power_state: props.str("runtime.powerState").map(str::to_string),
            moref,
            host,
        }],
        Vec::new(),
    ))
}

/// The VMs of one target that `hit` (id, name) selects, and every VM name there (for
/// suggestions). Two reads: the names of all VMs (and hosts), then the host and power
/// state of the matches only, so a lookup costs the same whatever the VMs hold.
async fn find_in_target(
    target: Target,
    hit: &(impl Fn(&str, &str) -> bool + Sync),
) -> OpResult<(Vec<VmRef>, Vec<String>)> {
    let endpoint = target.endpoint.clone();
    let at = endpoint.name().to_string();
    let client = endpoint.client().await?;
    #[derive(Default)]
    struct Seen {
        matches: Vec<(MoRef, String)>,
        names: Vec<String>,
        hosts: HashMap<MoRef, String>,
    }
    let seen = client
        .collect_view_with(
            &client.content().root_folder,
            &[
                PropertySpec {
                    kind: "VirtualMachine",
                    paths: &["name"],
                },
                PropertySpec {
                    kind: "HostSystem",
                    paths: &["name"],
                },
            ],
            Seen::default,
            |seen, o| {
                let name = o.str("name").unwrap_or_default().to_string();
                match o.obj.kind.as_str() {
                    "VirtualMachine" => {
                        if hit(&o.obj.value, &name) {
                            seen.matches.push((o.obj, name.clone()));
                        }
                        seen.names.push(name);
                    }
                    "HostSystem" => {
                        seen.hosts.insert(o.obj, name);
                    }
                    _ => {}
                }
            },
        )
        .await
        .at(&at)?;
    let morefs: Vec<MoRef> = seen.matches.iter().map(|(m, _)| m.clone()).collect();
    let details = client
        .retrieve(
            &morefs,
            &[PropertySpec {
                kind: "VirtualMachine",
                paths: &["runtime.host", "runtime.powerState"],
            }],
        )
        .await
        .at(&at)?;
    let mut vms = Vec::with_capacity(seen.matches.len());
    for (moref, name) in seen.matches {
        // A VM deleted between the two reads is not found.
        let Some(d) = details.iter().find(|d| d.obj == moref) else {
            continue;
        };
        let host = d
            .moref("runtime.host")
            .and_then(|h| seen.hosts.get(&h).cloned())
            .unwrap_or_default();
        if target.host.as_ref().is_some_and(|wanted| *wanted != host) {
            continue;
        }
        vms.push(VmRef {
            endpoint: endpoint.clone(),
            moref,
            name,
            host,
            power_state: d.str("runtime.powerState").map(str::to_string),
        });
    }
    Ok((vms, seen.names))
}
