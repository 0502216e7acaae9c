//! Networking: standard vSwitches and port groups per host (changes over many hosts
//! are all-or-nothing), distributed switches and DV port groups (read-merge-send with
//! configVersion), security/shaping/teaming policies, VM NICs, `network list` and
//! `network check`.

pub mod check;
pub mod dvs;
pub mod hosts_apply;
pub mod list;
pub mod nic;
pub mod policy;
pub mod portgroup;
pub mod select;
pub mod snapshot;
pub mod spec_tree;
pub mod sriov_nic;
pub mod vswitch;

pub use check::{CheckReport, Finding};
pub use hosts_apply::{Outcome, Report};
pub use policy::{PolicyChange, PolicyInput};
pub use portgroup::PortgroupChange;
pub use select::HostSelector;

use crate::ops::error::OpResult;
use crate::ops::fleet::{Fleet, Scope};

/// `network check` over the endpoints in scope (optionally one cluster).
pub async fn check_scope(
    fleet: &Fleet,
    scope: &Scope,
    cluster: Option<&str>,
) -> OpResult<CheckReport> {
    let snaps: Vec<_> = select::snapshots(fleet, scope)
        .await?
        .into_iter()
        .map(|(_, s, _)| s)
        .collect();
    if let Some(c) = cluster
        && !snaps
            .iter()
            .any(|s| s.hosts.iter().any(|h| h.cluster.as_deref() == Some(c)))
    {
        let known: Vec<String> = snaps
            .iter()
            .flat_map(|s| s.hosts.iter().filter_map(|h| h.cluster.clone()))
            .collect();
        return Err(crate::ops::OpError::NotFound {
            kind: "cluster",
            name: c.to_string(),
            suggestions: crate::ops::error::close_names(c, known.iter().map(String::as_str)),
        });
    }
    Ok(check::check(&snaps, cluster))
}
