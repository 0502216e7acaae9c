//! VMs with their summary, for surfaces that keep both (scripts hold a `Vm` object
//! that can act and can show itself). One bulk read per endpoint, like `vm list`.

use crate::ops::error::{OpError, OpResult, close_names};
use crate::ops::fleet::{Fleet, Scope, Target, WithEndpoint};
use crate::vim::MoRef;

use super::list::{SUMMARY_PATHS, list_target};
use super::{VmRef, VmSummary};

/// A VM as found: a handle to act on it and what it looked like then.
#[derive(Debug, Clone)]
pub struct FoundVm {
    pub vm: VmRef,
    pub summary: VmSummary,
}

/// Every VM in scope whose name matches the glob `pattern` (all when None), sorted by
/// name. Nothing matching is an empty list, not an error.
pub async fn select(fleet: &Fleet, scope: &Scope, pattern: Option<&str>) -> OpResult<Vec<FoundVm>> {
    let mut all = fleet.gather(scope, |t| select_target(t, pattern)).await?;
    all.sort_by(|a, b| {
        a.summary
            .name
            .cmp(&b.summary.name)
            .then(a.summary.endpoint.cmp(&b.summary.endpoint))
    });
    Ok(all)
}

/// VMs of one target (an endpoint, or one ESXi host in it) matching `pattern`.
pub async fn select_target(target: Target, pattern: Option<&str>) -> OpResult<Vec<FoundVm>> {
    let matcher = match pattern {
        Some(p) => Some(glob::Pattern::new(p).map_err(|e| OpError::Invalid {
            message: format!("invalid pattern '{p}': {e}"),
            hint: Some("patterns use * ? and [..], e.g. 'web-*'".into()),
        })?),
        None => None,
    };
    let endpoint = target.endpoint.clone();
    let mut found: Vec<FoundVm> = list_target(target)
        .await?
        .into_iter()
        .filter(|s| matcher.as_ref().is_none_or(|m| m.matches(&s.name)))
        .map(|summary| FoundVm {
            vm: VmRef {
                endpoint: endpoint.clone(),
                moref: MoRef::new("VirtualMachine", summary.id.clone()),
                name: summary.name.clone(),
                host: summary.host.clone(),
                // Scripts keep VMs for a long time: never trust this state later.
                power_state: None,
            },
            summary,
        })
        .collect();
    found.sort_by(|a, b| a.summary.name.cmp(&b.summary.name));
    Ok(found)
}

/// The one VM called `name` (or with id `name`, e.g. `vm-42`).
pub async fn select_one(fleet: &Fleet, scope: &Scope, name: &str) -> OpResult<FoundVm> {
    let all = select(fleet, scope, None).await?;
    let wanted = MoRef::parse(name).map_or_else(|| name.to_string(), |m| m.value);
    let mut hits: Vec<FoundVm> = all
        .iter()
        .filter(|f| f.summary.name == name || f.summary.id == wanted)
        .cloned()
        .collect();
    match hits.len() {
        1 => Ok(hits.remove(0)),
        0 => Err(OpError::NotFound {
            kind: "VM",
            name: name.to_string(),
            suggestions: close_names(name, all.iter().map(|f| f.summary.name.as_str())),
        }),
        _ => Err(OpError::Ambiguous {
            kind: "VM",
            name: name.to_string(),
            candidates: hits
                .iter()
                .map(|f| {
                    format!(
                        "{} ({} on {}/{})",
                        f.summary.name, f.summary.id, f.summary.endpoint, f.summary.host
                    )
                })
                .collect(),
        }),
    }
}

/// Read a VM's summary again (after a change, or to see the current state).
pub async fn refresh(vm: &VmRef) -> OpResult<VmSummary> {
    let endpoint = vm.endpoint.name().to_string();
    let client = vm.endpoint.client().await?;
    let p = client
        .properties(&vm.moref, SUMMARY_PATHS)
        .await
        .at(&endpoint)?;
    let host = match p.moref("runtime.host") {
        Some(h) => client
            .names_of(std::slice::from_ref(&h))
            .await
            .at(&endpoint)?
            .remove(&h)
            .unwrap_or_default(),
        None => String::new(),
    };
    Ok(VmSummary::from_props(&p, host, endpoint))
}
