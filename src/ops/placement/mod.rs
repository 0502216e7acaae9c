//! Placement and optimization over live inventories: gathering what the engine
//! (`crate::placement`) reads, with the config's host groups, policies and overcommit,
//! and running a migration plan step by step against the live inventory.

pub mod apply;
pub mod gather;

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;

use crate::config::LoadedConfig;
use crate::config::schema::PolicyRule;
use crate::placement::model::{Inventory, Overcommit, Rule, SCHEMA_VERSION, VmHostKind};
use crate::placement::{BalanceOptions, PlacementError};
use crate::vim::MoRef;

use super::error::{OpError, OpResult};
use super::fleet::{Endpoint, Fleet, Scope};

pub use apply::{ApplyReport, StepOutcome, apply};

/// An inventory read from the servers, with what is needed to act on it.
pub struct Gathered {
    pub inventory: Inventory,
    /// VM name → where it lives.
    pub vms: HashMap<String, (Arc<Endpoint>, MoRef)>,
    pub hosts: HashMap<String, (Arc<Endpoint>, MoRef)>,
}

/// The inventory of every target in `scope`, narrowed to `cluster` when given, with
/// the config's placement section and overcommit applied: what the engine reads.
pub async fn gather(fleet: &Fleet, scope: &Scope, cluster: Option<&str>) -> OpResult<Gathered> {
    let mut g = gather_servers(fleet, scope, cluster).await?;
    apply_config(&mut g.inventory, &fleet.config);
    Ok(g)
}

/// An offline inventory file (`ceso inventory dump`) as the engine reads it: narrowed
/// and given the config exactly as [`gather`] does with a live one.
pub fn offline(
    path: &std::path::Path,
    cluster: Option<&str>,
    config: &LoadedConfig,
) -> OpResult<Inventory> {
    let mut inv = read_inventory(path)?;
    narrow(&mut inv, cluster)?;
    apply_config(&mut inv, config);
    Ok(inv)
}

/// What the servers say, without the config (`inventory dump`: the config is applied
/// when the file is used, so a file stays valid when the config changes).
pub async fn gather_servers(
    fleet: &Fleet,
    scope: &Scope,
    cluster: Option<&str>,
) -> OpResult<Gathered> {
    let targets = fleet.targets(scope).await?;
    let parts = fleet
        .each_endpoint(targets.clone(), |t| async move { gather::part(&t).await })
        .await;
    let mut out = Gathered {
        inventory: Inventory {
            version: SCHEMA_VERSION,
            ..Default::default()
        },
        vms: HashMap::new(),
        hosts: HashMap::new(),
    };
    for (target, part) in targets.iter().zip(parts) {
        let part = part?;
        for (name, m) in part.vm_refs {
            out.vms.insert(name, (target.endpoint.clone(), m));
        }
        for (name, m) in part.host_refs {
            out.hosts.insert(name, (target.endpoint.clone(), m));
        }
        let inv = &mut out.inventory;
        inv.hosts.extend(part.hosts);
        inv.vms.extend(part.vms);
        inv.rules.extend(part.rules);
        inv.host_groups.extend(part.host_groups);
        inv.vm_groups.extend(part.vm_groups);
    }
    narrow(&mut out.inventory, cluster)?;
    Ok(out)
}

/// Only the hosts of `cluster`, the VMs on them, and the rules not qualified by
/// another cluster (`OTHER/name`); an unknown cluster is an error naming the known ones.
pub fn narrow(inv: &mut Inventory, cluster: Option<&str>) -> OpResult<()> {
    let Some(wanted) = cluster else {
        return Ok(());
    };
    let mut known: Vec<String> = inv.hosts.iter().map(|h| h.cluster.clone()).collect();
    known.sort_unstable();
    known.dedup();
    if !known.iter().any(|c| c == wanted) {
        return Err(OpError::NotFound {
            kind: "cluster",
            name: wanted.to_string(),
            suggestions: super::error::close_names(wanted, known.iter().map(String::as_str)),
        });
    }
    inv.hosts.retain(|h| h.cluster == wanted);
    let keep: std::collections::HashSet<&str> = inv.hosts.iter().map(|h| h.name.as_str()).collect();
    inv.vms
        .retain(|v| v.host.as_deref().is_some_and(|h| keep.contains(h)));
    let others: Vec<String> = known
        .iter()
        .filter(|c| *c != wanted)
        .map(|c| format!("{c}/"))
        .collect();
    inv.rules
        .retain(|r| !others.iter().any(|p| r.name().starts_with(p.as_str())));
    Ok(())
}

/// Config → inventory: overcommit ratios, host groups and policies as VM-host rules.
/// Idempotent: a policy replaces a rule of its name, a group one of its name (a file
/// dumped by an older ceso may hold them already).
pub fn apply_config(inv: &mut Inventory, config: &LoadedConfig) {
    if let Some(o) = config.optimization().overcommit {
        inv.overcommit = Overcommit {
            cpu: o.cpu,
            memory: o.memory,
        };
    }
    let placement = config.placement();
    for (name, members) in placement.host_groups {
        inv.host_groups.insert(name, members);
    }
    for (i, p) in placement.policies.iter().enumerate() {
        let name = p
            .name
            .clone()
            .unwrap_or_else(|| format!("policy-{}", i + 1));
        inv.rules.retain(|r| r.name() != name);
        inv.rules.push(Rule::VmHost {
            name,
            vms: p.vms.to_vec(),
            host_group: p.host_group.clone(),
            kind: match p.rule {
                PolicyRule::Must => VmHostKind::Must,
                PolicyRule::Should => VmHostKind::Should,
                PolicyRule::MustNot => VmHostKind::MustNot,
                PolicyRule::ShouldNot => VmHostKind::ShouldNot,
            },
        });
    }
}

/// `placement.migration_cost` and `--max-moves` as engine options.
pub fn balance_options(config: &LoadedConfig, max_moves: Option<usize>) -> BalanceOptions {
    let d = BalanceOptions::default();
    BalanceOptions {
        max_moves: max_moves.unwrap_or(d.max_moves),
        migration_cost: config
            .placement()
            .migration_cost
            .unwrap_or(d.migration_cost),
        ..d
    }
}

/// Engine errors in the ops vocabulary.
pub fn engine_error(e: PlacementError) -> OpError {
    match e {
        PlacementError::Inventory(m) => OpError::Invalid {
            message: format!("placement: {m}"),
            hint: Some("fix the inventory file or the placement section of the config".into()),
        },
        PlacementError::Policy(m) => OpError::Invalid {
            message: m,
            hint: Some("fix the policy plugin (its file, line and column are above)".into()),
        },
    }
}

/// A parsed offline inventory (`ceso inventory dump`); errors name line and column.
pub fn read_inventory(path: &std::path::Path) -> OpResult<Inventory> {
    let text = std::fs::read_to_string(path).map_err(|e| OpError::Invalid {
        message: format!("cannot read {}: {e}", path.display()),
        hint: Some("give the file written by `ceso inventory dump > inv.json`".into()),
    })?;
    let inv: Inventory = serde_json::from_str(&text).map_err(|e| OpError::Invalid {
        message: format!(
            "{}:{}:{}: not a ceso inventory: {e}",
            path.display(),
            e.line(),
            e.column()
        ),
        hint: Some("its schema is in docs/placement.md".into()),
    })?;
    if inv.version != SCHEMA_VERSION {
        return Err(OpError::Invalid {
            message: format!(
                "{}: inventory schema version {} (this ceso reads {SCHEMA_VERSION})",
                path.display(),
                inv.version
            ),
            hint: Some("dump it again with this version of ceso".into()),
        });
    }
    Ok(inv)
}

/// What `optimize recommend --json` writes and `optimize apply` reads.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct PlanFile {
    pub kind: String,
    #[serde(default)]
    pub cluster: Option<String>,
    pub moves: Vec<PlannedMove>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct PlannedMove {
    pub vm: String,
    pub from: String,
    pub to: String,
    #[serde(default)]
    pub gain: f64,
}

pub const PLAN_KIND: &str = "ceso-migration-plan";

/// Where `vm create` without `--host` puts a new VM on a vCenter: the engine's ranking
/// of the hosts `scope` covers (with the config's groups, policies and overcommit).
/// No host fitting is not an error here: the VM is created powered off, and vCenter
/// may still place it; the caller says so.
pub async fn choose_host(
    fleet: &Fleet,
    scope: &Scope,
    vm: &crate::placement::Vm,
    policy: &dyn crate::placement::Policy,
) -> OpResult<crate::placement::Placement> {
    let g = gather(fleet, scope, None).await?;
    let st = crate::placement::State::new(&g.inventory).map_err(engine_error)?;
    crate::placement::find_optimal_host(&st, vm, policy).map_err(engine_error)
}
