//! All-or-nothing changes over many hosts.
//!
//! Hosts are changed one after another, in a fixed order. When host k of N fails, the
//! hosts already changed (and whatever part of host k's own change went through) are
//! put back with the exact specs read before, newest first; the report says which
//! hosts were changed, restored, or could not be restored. Sequential on purpose: a
//! bad change stops at the first host that refuses it instead of reaching every host.

use std::sync::Arc;

use serde::Serialize;

use crate::ops::error::{OpError, OpResult};
use crate::ops::fleet::{Endpoint, WithEndpoint};
use crate::ops::progress::Progress;
use crate::vim::{MoRef, Node, Request};

use super::spec_tree::write;

/// One HostNetworkSystem method call.
#[derive(Debug, Clone)]
pub enum NetCall {
    AddPortgroup(Node),
    UpdatePortgroup(String, Node),
    RemovePortgroup(String),
    AddVswitch(String, Node),
    UpdateVswitch(String, Node),
    RemoveVswitch(String),
}

impl NetCall {
    fn request(&self, system: &MoRef) -> Request {
        let mut req;
        match self {
            NetCall::AddPortgroup(spec) => {
                req = Request::new("AddPortGroup", system);
                write(&mut req, "portgrp", None, spec);
            }
            NetCall::UpdatePortgroup(name, spec) => {
                req = Request::new("UpdatePortGroup", system);
                req.text("pgName", name);
                write(&mut req, "portgrp", None, spec);
            }
            NetCall::RemovePortgroup(name) => {
                req = Request::new("RemovePortGroup", system);
                req.text("pgName", name);
            }
            NetCall::AddVswitch(name, spec) => {
                req = Request::new("AddVirtualSwitch", system);
                req.text("vswitchName", name);
                write(&mut req, "spec", None, spec);
            }
            NetCall::UpdateVswitch(name, spec) => {
                req = Request::new("UpdateVirtualSwitch", system);
                req.text("vswitchName", name);
                write(&mut req, "spec", None, spec);
            }
            NetCall::RemoveVswitch(name) => {
                req = Request::new("RemoveVirtualSwitch", system);
                req.text("vswitchName", name);
            }
        }
        req
    }
}

/// One setting before and after, for --dry-run and the report.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SettingDiff {
    pub setting: String,
    pub before: String,
    pub after: String,
}

/// Settings that differ between two (name, value) lists; a missing side is "(absent)".
pub fn diff(before: &[(&str, String)], after: &[(&str, String)]) -> Vec<SettingDiff> {
    let mut names: Vec<&str> = before.iter().map(|(n, _)| *n).collect();
    for (n, _) in after {
        if !names.contains(n) {
            names.push(n);
        }
    }
    let get = |list: &[(&str, String)], n: &str| {
        list.iter()
            .find(|(k, _)| *k == n)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| "(absent)".into())
    };
    names
        .into_iter()
        .filter_map(|n| {
            let (b, a) = (get(before, n), get(after, n));
            (b != a).then(|| SettingDiff {
                setting: n.to_string(),
                before: b,
                after: a,
            })
        })
        .collect()
}

/// What to do on one host, and how to undo it.
pub struct HostPlan {
    pub endpoint: Arc<Endpoint>,
    pub host: String,
    pub system: MoRef,
    pub calls: Vec<NetCall>,
    /// undo[i] reverts calls[i].
    pub undo: Vec<NetCall>,
    pub diff: Vec<SettingDiff>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// --dry-run: would change.
    WouldChange,
    /// Nothing to do on this host.
    Unchanged,
    Changed,
    /// Changed, then put back after another host failed.
    Restored,
    /// Changed, and putting it back failed: the host is left changed.
    NotRestored,
    /// The host that refused the change (anything it had applied was put back).
    Failed,
    /// Not reached: an earlier host failed.
    NotAttempted,
}

#[derive(Debug, Clone, Serialize)]
pub struct HostOutcome {
    pub endpoint: String,
    pub host: String,
    pub outcome: Outcome,
    pub changes: Vec<SettingDiff>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub action: String,
    pub dry_run: bool,
    pub hosts: Vec<HostOutcome>,
    /// The error that stopped the change, after the rollback.
    #[serde(skip)]
    pub failure: Option<OpError>,
}

impl Report {
    pub fn count(&self, outcome: Outcome) -> usize {
        self.hosts.iter().filter(|h| h.outcome == outcome).count()
    }

    /// Ok when the change went through everywhere (or was a dry run); otherwise the
    /// error that stopped it, restated with what happened to each host.
    pub fn into_result(mut self) -> OpResult<Report> {
        let Some(failure) = self.failure.take() else {
            return Ok(self);
        };
        let list = |o: Outcome| {
            self.hosts
                .iter()
                .filter(|h| h.outcome == o)
                .map(|h| h.host.clone())
                .collect::<Vec<_>>()
        };
        let failed = list(Outcome::Failed);
        let restored = list(Outcome::Restored);
        let stuck = list(Outcome::NotRestored);
        let mut message = format!(
            "{} failed on {}: {failure}",
            self.action,
            failed.first().map_or("a host", String::as_str)
        );
        if !restored.is_empty() {
            message.push_str(&format!("; restored {}", restored.join(", ")));
        }
        if stuck.is_empty() {
            message.push_str("; every host was put back as it was");
        }
        let hint = if stuck.is_empty() {
            "no host was left changed".to_string()
        } else {
            message.push_str(&format!("; COULD NOT RESTORE {}", stuck.join(", ")));
            format!(
                "{} still carry the change: check them with `ceso network list` and fix by hand",
                stuck.join(", ")
            )
        };
        // The failure keeps its kind (a host's fault is exit 5, not a refusal).
        Err(failure.context(message, Some(hint)))
    }
}

async fn call(plan: &HostPlan, call: &NetCall) -> OpResult<()> {
    let client = plan.endpoint.client().await?;
    client
        .call(call.request(&plan.system))
        .await
        .map(|_| ())
        .at(plan.endpoint.name())
}

/// Undo `done` calls of a plan, newest first; the first error if any.
async fn undo(plan: &HostPlan, done: usize) -> Option<OpError> {
    let mut first = None;
    for u in plan.undo[..done].iter().rev() {
        if let Err(e) = call(plan, u).await {
            first.get_or_insert(e);
        }
    }
    first
}

/// Apply plans in order; on the first failure, roll back and report.
pub async fn run(
    action: &str,
    plans: Vec<HostPlan>,
    dry_run: bool,
    progress: &dyn Progress,
) -> Report {
    let outcome_of = |p: &HostPlan, outcome| HostOutcome {
        endpoint: p.endpoint.name().to_string(),
        host: p.host.clone(),
        outcome,
        changes: p.diff.clone(),
        error: None,
    };
    if dry_run {
        return Report {
            action: action.into(),
            dry_run,
            hosts: plans
                .iter()
                .map(|p| {
                    let o = if p.calls.is_empty() {
                        Outcome::Unchanged
                    } else {
                        Outcome::WouldChange
                    };
                    outcome_of(p, o)
                })
                .collect(),
            failure: None,
        };
    }
    let mut hosts: Vec<HostOutcome> = plans
        .iter()
        .map(|p| outcome_of(p, Outcome::NotAttempted))
        .collect();
    let mut failure = None;
    for (i, plan) in plans.iter().enumerate() {
        if plan.calls.is_empty() {
            hosts[i].outcome = Outcome::Unchanged;
            continue;
        }
        progress.step(&format!("{action} on {}", plan.host));
        let mut done = 0;
        let mut error = None;
        for c in &plan.calls {
            match call(plan, c).await {
                Ok(()) => done += 1,
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
        let Some(e) = error else {
            hosts[i].outcome = Outcome::Changed;
            continue;
        };
        hosts[i].outcome = Outcome::Failed;
        hosts[i].error = Some(e.to_string());
        if let Some(u) = undo(plan, done).await {
            hosts[i].outcome = Outcome::NotRestored;
            hosts[i].error = Some(format!("{e}; undoing its partial change failed too: {u}"));
        }
        failure = Some(e);
        // Put back the hosts changed before, newest first.
        for j in (0..i).rev() {
            if hosts[j].outcome != Outcome::Changed {
                continue;
            }
            progress.step(&format!("Restoring {}", plans[j].host));
            match undo(&plans[j], plans[j].calls.len()).await {
                None => hosts[j].outcome = Outcome::Restored,
                Some(u) => {
                    hosts[j].outcome = Outcome::NotRestored;
                    hosts[j].error = Some(format!("restoring failed: {u}"));
                }
            }
        }
        break;
    }
    Report {
        action: action.into(),
        dry_run,
        hosts,
        failure,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_lists_only_what_changes() {
        let before = [
            ("vlan", "10".to_string()),
            ("promiscuous", "reject".to_string()),
        ];
        let after = [
            ("vlan", "20".to_string()),
            ("promiscuous", "reject".to_string()),
        ];
        assert_eq!(
            diff(&before, &after),
            [SettingDiff {
                setting: "vlan".into(),
                before: "10".into(),
                after: "20".into()
            }]
        );
        assert_eq!(diff(&[], &after)[0].before, "(absent)");
    }
}
