//! `host evacuate`: every VM off one host, then, when asked and only when none is left,
//! maintenance mode. The plan picks a target per VM (one host for all, or the placement
//! engine with the evacuated host taken out as if already in maintenance), assesses
//! each move with the migration precheck and sorts the VMs into live moves, cold moves
//! and refusals. Running it sends each VM through `migrate_vms`; a running VM that
//! cannot be vMotioned (passthrough, vGPU) moves only with `cold`: shut down, relocated,
//! powered on again on its target.
//!
//! `--to-host` may also name another endpoint (`ENDPOINT`, `ENDPOINT/HOST`, or a host
//! found on one): the "leave old hardware" case between standalone ESXi hosts. There is
//! no vMotion between endpoints, so that needs `cold`; each VM then gets the cold
//! migration's plan (`cold::plan`, through `migrate_vms`) before any copy starts, and
//! moves by `cold::run` (a running VM shut down, copied, powered on again there). With
//! `warm` (no `cold` needed) each VM moves by warm migration instead (`warm::run`: copied
//! while it runs, off only for the cut-over), within the fleet's concurrency bound.

use std::sync::Arc;

use serde::Serialize;

use crate::ops::error::{OpError, OpResult, close_names};
use crate::ops::fleet::{Endpoint, Fleet, Scope, Target, WithEndpoint};
use crate::ops::placement::{engine_error, gather};
use crate::ops::progress::{Progress, Silent};
use crate::ops::vms::{self, PowerAction, VmRef};
use crate::ops::{hosts, inventory};
use crate::placement::{self, Policy, State};
use crate::vim::MoRef;

use super::precheck::{Check, Kind};
use super::{
    ColdOutcome, ColdPlan, MigrateResult, MigrateSpec, Planned, WarmOutcome, host_elsewhere,
    migrate_vms, other_endpoint, relocate,
};

/// Where the VMs go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// `--to-host H2`: every VM to this host of the same endpoint, or to another endpoint
    /// (`ENDPOINT`, `ENDPOINT/HOST`, a host of another endpoint) by cold migration.
    Host(String),
    /// `--auto`: the placement engine's best host for each VM.
    Auto,
}

#[derive(Debug, Clone)]
pub struct EvacuateSpec {
    pub host: String,
    pub destination: Destination,
    /// Move running VMs that cannot be vMotioned by shutting them down; needed to
    /// evacuate onto another endpoint.
    pub cold: bool,
    /// Onto another endpoint: move each VM by warm migration (copied while it runs).
    pub warm: bool,
    pub maintenance: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// vMotion of a running VM.
    Live,
    /// Relocation of a powered-off (or suspended) VM.
    Cold,
    /// A running VM that cannot be vMotioned (or goes to another endpoint), with
    /// `cold`: shut down, relocated (copied), powered on again on the target.
    ColdRestart,
    /// Onto another endpoint with `warm`: copied while it runs, then cut over.
    Warm,
}

impl Method {
    pub fn describe(self) -> &'static str {
        match self {
            Method::Live => "live (vMotion)",
            Method::Cold => "cold",
            Method::ColdRestart => "cold: shut down, move, power on",
            Method::Warm => "warm: copied while it runs, then cut over",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Planned (a dry run, or before running).
    WouldMove,
    Moved,
    /// Not attempted: a check failed, no host fits, it needs `--cold`, or its move
    /// could not be planned (`error` says why).
    Refused,
    /// Attempted and failed; `error` says where the VM is now.
    Failed,
}

/// One VM of the evacuation.
#[derive(Debug, Serialize)]
pub struct VmEvacuation {
    pub vm: String,
    pub from_host: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_host: Option<String>,
    pub power_state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<Method>,
    pub outcome: Outcome,
    /// `--auto`: the engine's score of the chosen host.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// The precheck of the move to `to_host` (as a running VM would be checked).
    pub checks: Vec<Check>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Onto another endpoint: the cold migration's plan (files, bytes, networks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub copy: Option<Box<ColdPlan>>,
    /// Onto another endpoint: what the cold migration did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub copied: Option<ColdOutcome>,
    /// Onto another endpoint with `warm`: what the warm migration did (rounds, downtime).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warm: Option<WarmOutcome>,
    #[serde(skip)]
    problem: Option<OpError>,
    #[serde(skip)]
    vm_ref: VmRef,
}

impl VmEvacuation {
    pub fn problem(&self) -> Option<&OpError> {
        self.problem.as_ref()
    }

    fn set_problem(&mut self, outcome: Outcome, e: OpError) {
        self.outcome = outcome;
        self.error = Some(e.to_string());
        self.problem = Some(e);
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum Maintenance {
    NotAsked,
    /// The host was in maintenance mode before the evacuation.
    Already,
    WouldEnter,
    Entered,
    /// Not entered: a VM is left (or would be), or the task failed.
    Skipped {
        reason: String,
    },
}

/// An evacuation, planned or done.
#[derive(Serialize)]
pub struct Evacuation {
    pub host: String,
    pub endpoint: String,
    pub dry_run: bool,
    pub vms: Vec<VmEvacuation>,
    pub maintenance: Maintenance,
    #[serde(skip)]
    maintenance_error: Option<OpError>,
    #[serde(skip)]
    host_ref: MoRef,
    #[serde(skip)]
    endpoint_ref: Arc<Endpoint>,
}

impl Evacuation {
    /// The VMs that would move (or moved).
    pub fn moving(&self) -> impl Iterator<Item = &VmEvacuation> {
        self.vms
            .iter()
            .filter(|v| matches!(v.outcome, Outcome::WouldMove | Outcome::Moved))
    }

    /// The evacuation as a result: Ok when every VM moved (and maintenance mode was
    /// entered when asked); the one failure; or, when some VMs moved and others did
    /// not, a partial failure naming each one left.
    pub fn result(&mut self) -> OpResult<()> {
        let mut problems: Vec<(String, OpError)> = self
            .vms
            .iter_mut()
            .filter_map(|v| v.problem.take().map(|e| (v.vm.clone(), e)))
            .collect();
        if problems.is_empty() {
            let moved = self
                .vms
                .iter()
                .filter(|v| v.outcome == Outcome::Moved)
                .count();
            return match self.maintenance_error.take() {
                // VMs moved: a failure to enter maintenance mode (refused, or the task
                // failed) is no longer "nothing changed" but a partial failure (7).
                Some(e) if moved > 0 => {
                    let message = format!(
                        "evacuation of {} incomplete: every VM moved ({moved}), but {e}",
                        self.host
                    );
                    let hint = e.hint().unwrap_or_else(|| {
                        format!(
                            "the VMs stay where they moved; once the cause is fixed, `ceso host evacuate {} --to-host HOST --maintenance` enters maintenance mode (nothing is left to move)",
                            self.host
                        )
                    });
                    Err(OpError::Partial {
                        message: message.clone(),
                    }
                    .context(message, Some(hint)))
                }
                Some(e) => Err(e),
                None => Ok(()),
            };
        }
        let moved = self.moving().count();
        if moved == 0 {
            return Err(problems.remove(0).1);
        }
        let verb = if self.dry_run { "would move" } else { "moved" };
        let left: Vec<&str> = problems.iter().map(|(vm, _)| vm.as_str()).collect();
        let maintenance = match (&self.maintenance, self.dry_run) {
            (Maintenance::Skipped { .. }, false) => "; maintenance mode was not entered",
            (Maintenance::Skipped { .. }, true) => "; maintenance mode would not be entered",
            _ => "",
        };
        let message = format!(
            "evacuation of {} incomplete: {moved} of {} VMs {verb}; left: {}{maintenance}",
            self.host,
            self.vms.len(),
            left.join(", ")
        );
        let hint = format!(
            "each VM left is named above with its reason; fix that and run the evacuation of {} again (the VMs that moved stay where they are)",
            self.host
        );
        Err(OpError::Partial {
            message: message.clone(),
        }
        .context(message, Some(hint)))
    }
}

/// Read the host and its VMs, choose each VM's target and check each move. Nothing is
/// changed. `policy` is the placement plugins' (used with `Destination::Auto`).
pub async fn plan(
    fleet: &Fleet,
    scope: &Scope,
    spec: &EvacuateSpec,
    policy: &dyn Policy,
) -> OpResult<Evacuation> {
    let host = hosts::find(fleet, scope, &spec.host).await?;
    let name = host.summary.name.clone();
    let endpoint = fleet
        .endpoint(&host.summary.endpoint)
        .cloned()
        .ok_or_else(|| OpError::invalid(format!("{name}: its endpoint is not configured")))?;
    if spec.destination == Destination::Host(name.clone()) {
        return Err(OpError::Invalid {
            message: format!("cannot evacuate {name} onto itself"),
            hint: Some("give another host with --to-host (of another endpoint: --to-host ENDPOINT[/HOST] --cold), or let ceso choose with --auto".into()),
        });
    }
    // One clear error before any VM is looked at: where the VMs go.
    let client = endpoint.client().await?;
    let names = inventory::host_names(&client).await.at(endpoint.name())?;
    let copy_to = match &spec.destination {
        Destination::Host(to) => elsewhere(fleet, &endpoint, &name, &names, to).await?,
        Destination::Auto if names.values().all(|n| *n == name) => {
            return Err(OpError::refused(
                format!(
                    "{name} is the only host of {}: --auto places VMs on the other hosts of one endpoint, and there is none; nothing was moved",
                    endpoint.name()
                ),
                "name the other endpoint: --to-host ENDPOINT[/HOST] --cold (between endpoints VMs move by cold migration)",
            ));
        }
        Destination::Auto => None,
    };
    if copy_to.is_none() && spec.warm {
        return Err(OpError::refused(
            format!(
                "a warm migration copies VMs to another endpoint; the target is a host of {}, where VMs move by vMotion; nothing was moved",
                endpoint.name()
            ),
            "drop --warm (running VMs move live), or name another endpoint: --to-host ENDPOINT[/HOST] --warm",
        ));
    }
    if let Some(to) = &copy_to
        && !spec.cold
        && !spec.warm
    {
        return Err(OpError::refused(
            format!(
                "{name} is on {}, {to} is another endpoint: between endpoints there is no vMotion, only a cold migration (every file copied; running VMs shut down and powered on again there); nothing was moved",
                endpoint.name()
            ),
            "pass --cold to move them that way, or --warm to copy running VMs while they run (add --dry-run first to see each VM's copy)",
        ));
    }
    let target = Target {
        endpoint: endpoint.clone(),
        host: Some(name.clone()),
    };
    let mut found = vms::list::list_target(target).await?;
    found.sort_by(|a, b| a.name.cmp(&b.name));
    let mut out: Vec<VmEvacuation> = found
        .into_iter()
        .map(|s| VmEvacuation {
            vm_ref: VmRef {
                endpoint: endpoint.clone(),
                moref: MoRef::new("VirtualMachine", &s.id),
                name: s.name.clone(),
                host: name.clone(),
                power_state: Some(s.power_state.clone()),
            },
            vm: s.name,
            from_host: name.clone(),
            to_host: None,
            power_state: s.power_state,
            method: None,
            outcome: Outcome::WouldMove,
            score: None,
            checks: Vec::new(),
            error: None,
            copy: None,
            copied: None,
            warm: None,
            problem: None,
        })
        .collect();
    if let Some(to) = &copy_to {
        // Every VM's copy is planned (and checked) before the first one starts.
        let refs: Vec<VmRef> = out.iter().map(|v| v.vm_ref.clone()).collect();
        let planned = migrate_vms(
            fleet,
            &refs,
            &copy_spec(fleet, to, spec.warm),
            true,
            &Silent,
        )
        .await;
        for (v, result) in out.iter_mut().zip(planned) {
            v.to_host = Some(to.clone());
            classify_copy(v, result, spec.warm);
        }
        return Ok(evacuation(spec, &host, endpoint, out));
    }
    match &spec.destination {
        Destination::Host(to) => {
            for v in &mut out {
                v.to_host = Some(to.clone());
            }
        }
        Destination::Auto => place(fleet, &endpoint, &name, &mut out, policy).await?,
    }
    let assessed = fleet
        .each(out.iter().collect(), |v| async move {
            match &v.to_host {
                Some(to) => relocate::assess(&v.vm_ref, &move_spec(fleet, to, true))
                    .await
                    .map(Some),
                None => Ok(None),
            }
        })
        .await;
    for (v, result) in out.iter_mut().zip(assessed) {
        match result {
            Ok(Some(plan)) => classify(v, plan, spec.cold),
            Ok(None) => {}
            Err(e) => v.set_problem(Outcome::Refused, e),
        }
    }
    Ok(evacuation(spec, &host, endpoint, out))
}

/// The plan, with whether H would enter maintenance mode.
fn evacuation(
    spec: &EvacuateSpec,
    host: &hosts::HostInfo,
    endpoint: Arc<Endpoint>,
    out: Vec<VmEvacuation>,
) -> Evacuation {
    let name = host.summary.name.clone();
    let maintenance = match (spec.maintenance, host.summary.maintenance) {
        (false, _) => Maintenance::NotAsked,
        (true, true) => Maintenance::Already,
        (true, false) if out.iter().all(|v| v.outcome == Outcome::WouldMove) => {
            Maintenance::WouldEnter
        }
        (true, false) => Maintenance::Skipped {
            reason: format!("{} would be left on {name}", left_names(&out)),
        },
    };
    Evacuation {
        host: name,
        endpoint: endpoint.name().to_string(),
        dry_run: true,
        vms: out,
        maintenance,
        maintenance_error: None,
        host_ref: MoRef::new("HostSystem", &host.id),
        endpoint_ref: endpoint,
    }
}

/// Where `--to-host` points: a host of H's endpoint (None), or another endpoint as
/// `ENDPOINT` (its only host) or `ENDPOINT/HOST`, the form `migrate_vms` takes.
async fn elsewhere(
    fleet: &Fleet,
    endpoint: &Endpoint,
    name: &str,
    names: &std::collections::HashMap<MoRef, String>,
    to: &str,
) -> OpResult<Option<String>> {
    if let Some((other, host)) = other_endpoint(fleet, to) {
        if other.name() == endpoint.name() {
            return Err(OpError::Invalid {
                message: format!("{to} is {name}'s own endpoint"),
                hint: Some(
                    "name another host of it with --to-host HOST, or another endpoint with --to-host ENDPOINT[/HOST] --cold"
                        .into(),
                ),
            });
        }
        return Ok(Some(match host {
            Some(h) => format!("{}/{h}", other.name()),
            None => other.name().to_string(),
        }));
    }
    if names.values().any(|n| n == to) {
        return Ok(None);
    }
    if fleet.endpoints().len() > 1 {
        match host_elsewhere(fleet, endpoint.name(), to).await {
            Ok((other, host)) => return Ok(Some(format!("{}/{host}", other.name()))),
            Err(OpError::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Err(OpError::NotFound {
        kind: "host",
        name: to.to_string(),
        suggestions: close_names(to, names.values().map(String::as_str)),
    })
}

/// The spec of one VM's move, with the config's ratios and checks.
fn move_spec(fleet: &Fleet, to: &str, live: bool) -> MigrateSpec {
    MigrateSpec {
        to_host: Some(to.to_string()),
        live,
        ..MigrateSpec::default()
    }
    .with_config(&fleet.config)
}

/// The spec of one VM's cold migration to another endpoint (`ENDPOINT[/HOST]`): a
/// running VM is shut down first and powered on again there; with `warm`, a warm
/// migration (the default cut-over rule).
fn copy_spec(fleet: &Fleet, to: &str, warm: bool) -> MigrateSpec {
    MigrateSpec {
        cold: true,
        shutdown: true,
        warm,
        ..move_spec(fleet, to, false)
    }
}

/// A cold migration's plan, or why the VM cannot be copied.
fn classify_copy(v: &mut VmEvacuation, planned: OpResult<MigrateResult>, warm: bool) {
    match planned {
        Ok(MigrateResult {
            plan: Planned::Cold(plan),
            ..
        }) => {
            v.method = Some(match (warm, v.power_state == "poweredOn") {
                (true, true) => Method::Warm,
                (false, true) => Method::ColdRestart,
                (_, false) => Method::Cold,
            });
            v.to_host = Some(format!("{}/{}", plan.to_endpoint, plan.to_host));
            v.checks = plan.checks.clone();
            v.copy = Some(plan);
        }
        Ok(_) => v.set_problem(
            Outcome::Refused,
            OpError::invalid(format!(
                "{}: not planned as a copy to another endpoint",
                v.vm
            )),
        ),
        Err(e) => v.set_problem(Outcome::Refused, e),
    }
}

/// `--auto`: each VM's host by the placement engine, over the endpoint's inventory
/// with the evacuated host taken out as if in maintenance mode. Big VMs are placed
/// first; each placement counts for the next. A host of the same cluster is preferred
/// (what DRS does for maintenance mode); another host of the endpoint only when none
/// of the cluster fits.
async fn place(
    fleet: &Fleet,
    endpoint: &Endpoint,
    host: &str,
    out: &mut [VmEvacuation],
    policy: &dyn Policy,
) -> OpResult<()> {
    let mut g = gather(fleet, &Scope::Named(endpoint.name().to_string()), None).await?;
    let cluster = g
        .inventory
        .hosts
        .iter_mut()
        .find(|h| h.name == host)
        .map(|h| {
            h.maintenance = true;
            h.cluster.clone()
        })
        .ok_or_else(|| OpError::invalid(format!("{host} is not in the placement inventory")))?;
    let inv = &g.inventory;
    let mut st = State::new(inv).map_err(engine_error)?;
    let mut order: Vec<usize> = (0..out.len()).collect();
    let size = |i: usize| st.vm_index(&out[i].vm).map_or(0, |v| inv.vms[v].memory_mb);
    order.sort_by_key(|&i| std::cmp::Reverse(size(i)));
    for i in order {
        let v = &mut out[i];
        let Some(index) = st.vm_index(&v.vm) else {
            v.set_problem(
                Outcome::Refused,
                OpError::refused(
                    format!(
                        "{}: the placement engine does not place it (a template?)",
                        v.vm
                    ),
                    "move it with `ceso vm migrate` and --to-host",
                ),
            );
            continue;
        };
        let p = placement::find_optimal_host(&st, &inv.vms[index], policy).map_err(engine_error)?;
        let in_cluster = |h: &str| {
            inv.hosts
                .iter()
                .any(|x| x.name == h && x.cluster == cluster)
        };
        let best = p
            .ranked
            .iter()
            .find(|r| in_cluster(&r.host))
            .or_else(|| p.ranked.first());
        match best {
            Some(r) => {
                v.to_host = Some(r.host.clone());
                v.score = Some(r.score);
                if let Some(&h) = st.host_by_name.get(r.host.as_str()) {
                    st.apply_move(index, h);
                }
            }
            None => {
                let reasons: Vec<String> = p
                    .rejected
                    .iter()
                    .filter(|r| r.host != host)
                    .map(|r| {
                        let why: Vec<&str> = r.reasons.iter().map(|x| x.message.as_str()).collect();
                        format!("{}: {}", r.host, why.join("; "))
                    })
                    .collect();
                v.set_problem(
                    Outcome::Refused,
                    OpError::refused(
                        format!(
                            "no host can take {} (the placement engine's reasons):\n{}",
                            v.vm,
                            if reasons.is_empty() {
                                "no other host".to_string()
                            } else {
                                reasons.join("\n")
                            }
                        ),
                        format!(
                            "free capacity, or name a host with --to-host (`ceso place {} --explain` shows every reason)",
                            v.vm
                        ),
                    ),
                );
            }
        }
    }
    Ok(())
}

/// What the checks of one move allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Move(Method),
    /// Running and pinned by a passthrough device (with the server saying so too):
    /// moves with `cold`.
    NeedsCold,
    /// Another check failed.
    Blocked,
}

fn verdict(powered_on: bool, checks: &[Check], cold: bool) -> Verdict {
    let blocking: Vec<&Check> = checks.iter().filter(|c| c.blocks()).collect();
    if blocking.is_empty() {
        return Verdict::Move(if powered_on {
            Method::Live
        } else {
            Method::Cold
        });
    }
    // What blocks only vMotion (a passthrough device; the server's refusals of a live
    // move, e.g. its own passthrough or CPU check) a cold move gets past; the cold
    // relocation runs every check again, for a powered-off VM.
    let vmotion_only = blocking
        .iter()
        .all(|c| c.name == "passthrough" || c.kind == Kind::Server)
        && blocking.iter().any(|c| c.name == "passthrough");
    match (powered_on && vmotion_only, cold) {
        (true, true) => Verdict::Move(Method::ColdRestart),
        (true, false) => Verdict::NeedsCold,
        (false, _) => Verdict::Blocked,
    }
}

/// Live, cold, or refused, from the checks of the move.
fn classify(v: &mut VmEvacuation, plan: relocate::RelocatePlan, cold: bool) {
    let on = v.power_state == "poweredOn";
    let refusal = match verdict(on, &plan.checks, cold) {
        Verdict::Move(method) => {
            v.method = Some(method);
            None
        }
        Verdict::NeedsCold => {
            let reasons: Vec<String> = plan
                .checks
                .iter()
                .filter(|c| c.blocks())
                .map(Check::line)
                .collect();
            Some(OpError::refused(
                format!(
                    "{} cannot be vMotioned to {}; it was not moved:\n{}",
                    v.vm,
                    plan.to_host,
                    reasons.join("\n")
                ),
                format!(
                    "pass --cold to shut it down, move it and power it on again on {}",
                    plan.to_host
                ),
            ))
        }
        Verdict::Blocked => relocate::refuse_blocked(&plan).err(),
    };
    v.checks = plan.checks;
    if let Some(e) = refusal {
        v.set_problem(Outcome::Refused, e);
    }
}

fn left_names(vms: &[VmEvacuation]) -> String {
    let left: Vec<&str> = vms
        .iter()
        .filter(|v| !matches!(v.outcome, Outcome::WouldMove | Outcome::Moved))
        .map(|v| v.vm.as_str())
        .collect();
    left.join(", ")
}

/// Run a plan: every VM that can move, concurrently within the fleet's bound (the
/// others are left as planned, with their reasons), then maintenance mode when asked
/// and no VM is left on the host.
pub async fn run(fleet: &Fleet, mut ev: Evacuation, progress: &dyn Progress) -> Evacuation {
    ev.dry_run = false;
    let results = fleet
        .each(
            ev.vms
                .iter()
                .filter(|v| v.outcome == Outcome::WouldMove)
                .collect(),
            |v| async move { move_vm(fleet, v, progress).await },
        )
        .await;
    let mut results = results.into_iter();
    for v in ev
        .vms
        .iter_mut()
        .filter(|v| v.outcome == Outcome::WouldMove)
    {
        match results.next() {
            Some(Ok((copied, warm))) => {
                v.outcome = Outcome::Moved;
                v.copied = copied;
                v.warm = warm;
            }
            Some(Err(e)) => v.set_problem(Outcome::Failed, e),
            None => v.set_problem(Outcome::Failed, OpError::invalid("no result")),
        }
    }
    if matches!(
        ev.maintenance,
        Maintenance::WouldEnter | Maintenance::Skipped { .. }
    ) {
        ev.maintenance = enter_maintenance(&mut ev, progress).await;
    }
    ev
}

/// One VM's move through `migrate_vms`; onto another endpoint, what its copy did (cold
/// or warm).
async fn move_vm(
    fleet: &Fleet,
    v: &VmEvacuation,
    progress: &dyn Progress,
) -> OpResult<(Option<ColdOutcome>, Option<WarmOutcome>)> {
    let (Some(to), Some(method)) = (&v.to_host, v.method) else {
        return Err(OpError::invalid(format!("{}: no target", v.vm)));
    };
    if v.copy.is_some() {
        // The cold migration shuts a running VM down and powers it on again itself; the
        // warm one copies it while it runs and cuts over.
        let warm = method == Method::Warm;
        return migrate_one(fleet, &v.vm_ref, &copy_spec(fleet, to, warm), progress)
            .await
            .map(|r| (r.outcome, r.warm));
    }
    let moved = match method {
        Method::Live => migrate_one(fleet, &v.vm_ref, &move_spec(fleet, to, true), progress)
            .await
            .map(|_| ()),
        Method::Cold => migrate_one(fleet, &v.vm_ref, &move_spec(fleet, to, false), progress)
            .await
            .map(|_| ()),
        Method::ColdRestart => cold_restart(fleet, v, to, progress).await,
        Method::Warm => Err(OpError::invalid(format!(
            "{}: a warm move is between endpoints only",
            v.vm
        ))),
    };
    moved.map(|()| (None, None))
}

async fn migrate_one(
    fleet: &Fleet,
    vm: &VmRef,
    spec: &MigrateSpec,
    progress: &dyn Progress,
) -> OpResult<MigrateResult> {
    migrate_vms(fleet, std::slice::from_ref(vm), spec, false, progress)
        .await
        .into_iter()
        .next()
        .unwrap_or_else(|| Err(OpError::invalid(format!("{}: no result", vm.name))))
}

/// Shut down (through the guest when VMware Tools run, else power off), relocate cold,
/// power on on the target. Each failure says where the VM is and in what state.
async fn cold_restart(
    fleet: &Fleet,
    v: &VmEvacuation,
    to: &str,
    progress: &dyn Progress,
) -> OpResult<()> {
    let vm = &v.vm_ref;
    let client = vm.endpoint.client().await?;
    let tools = client
        .properties(&vm.moref, &["guest.toolsRunningStatus"])
        .await
        .at(vm.endpoint.name())?;
    let force = tools.str("guest.toolsRunningStatus") != Some("guestToolsRunning");
    vms::power(vm, PowerAction::Off { force }, progress)
        .await
        .map_err(|e| {
            let message = format!(
                "{}: could not shut it down for its cold move ({e}); it still runs on {}",
                vm.name, v.from_host
            );
            e.context(message, None)
        })?;
    let off = VmRef {
        power_state: Some("poweredOff".into()),
        ..vm.clone()
    };
    if let Err(e) = migrate_one(fleet, &off, &move_spec(fleet, to, false), progress).await {
        // Put it back as it was: running on its host.
        let restarted = vms::power(&off, PowerAction::On, progress).await;
        let (state, hint) = match restarted {
            Ok(_) => ("it runs again on", None),
            Err(_) => (
                "it is powered off on",
                Some(format!("start it with `ceso vm start {}`", vm.name)),
            ),
        };
        let message = format!(
            "{}: the cold move to {to} failed ({e}); {state} {}",
            vm.name, v.from_host
        );
        return Err(e.context(message, hint));
    }
    let moved = VmRef {
        host: to.to_string(),
        ..off
    };
    vms::power(&moved, PowerAction::On, progress)
        .await
        .map_err(|e| {
            let message = format!(
                "{}: moved to {to}, but it did not power on there ({e}); it is powered off on {to}",
                vm.name
            );
            e.context(
                message,
                Some(format!(
                    "check its passthrough devices on {to} (`ceso pci list --host {to}`), then `ceso vm start {}`",
                    vm.name
                )),
            )
        })?;
    Ok(())
}

/// Maintenance mode, entered only when every VM moved and none is on the host now (a
/// VM created or moved there meanwhile counts).
async fn enter_maintenance(ev: &mut Evacuation, progress: &dyn Progress) -> Maintenance {
    let left = left_names(&ev.vms);
    if !left.is_empty() {
        return Maintenance::Skipped {
            reason: format!("{left} left on {}", ev.host),
        };
    }
    let endpoint = ev.endpoint_ref.clone();
    let target = Target {
        endpoint: endpoint.clone(),
        host: Some(ev.host.clone()),
    };
    let skipped = |ev: &mut Evacuation, e: OpError| {
        let reason = e.to_string();
        ev.maintenance_error = Some(e);
        Maintenance::Skipped { reason }
    };
    match vms::list::list_target(target).await {
        Ok(now) if !now.is_empty() => {
            let names: Vec<String> = now.into_iter().map(|s| s.name).collect();
            let e = OpError::refused(
                format!(
                    "{} is on {} now; maintenance mode was not entered",
                    names.join(", "),
                    ev.host
                ),
                format!("evacuate it again: `ceso host evacuate {}`", ev.host),
            );
            skipped(ev, e)
        }
        Ok(_) => {
            match hosts::enter_maintenance(&endpoint, &ev.host_ref, &ev.host, progress).await {
                Ok(()) => Maintenance::Entered,
                Err(e) => {
                    let message = format!("{} did not enter maintenance mode: {e}", ev.host);
                    let e = e.context(message, None);
                    skipped(ev, e)
                }
            }
        }
        Err(e) => {
            let message = format!("{} did not enter maintenance mode: {e}", ev.host);
            let e = e.context(message, None);
            skipped(ev, e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::migrate::Kind;

    fn check(name: &'static str, kind: Kind, ok: bool) -> Check {
        Check {
            name,
            kind,
            ok,
            forced: false,
            reason: String::new(),
        }
    }

    #[test]
    fn running_vms_move_live_and_stopped_ones_cold() {
        let fine = [check("host", Kind::Required, true)];
        assert_eq!(verdict(true, &fine, false), Verdict::Move(Method::Live));
        assert_eq!(verdict(false, &fine, true), Verdict::Move(Method::Cold));
    }

    #[test]
    fn a_passthrough_device_alone_sends_a_running_vm_cold_only_when_asked() {
        let pinned = [
            check("host", Kind::Required, true),
            check("passthrough", Kind::Required, false),
        ];
        assert_eq!(verdict(true, &pinned, false), Verdict::NeedsCold);
        // The server refusing the same vMotion (vCenter's checker) changes nothing.
        let also_server = [
            check("passthrough", Kind::Required, false),
            check("server", Kind::Server, false),
        ];
        assert_eq!(verdict(true, &also_server, false), Verdict::NeedsCold);
        assert_eq!(verdict(false, &also_server, true), Verdict::Blocked);
        assert_eq!(
            verdict(true, &pinned, true),
            Verdict::Move(Method::ColdRestart)
        );
    }

    #[test]
    fn any_other_failed_check_blocks_even_with_cold() {
        let both = [
            check("network", Kind::Required, false),
            check("passthrough", Kind::Required, false),
        ];
        assert_eq!(verdict(true, &both, true), Verdict::Blocked);
        let full = [check("memory", Kind::Advisory, false)];
        assert_eq!(verdict(false, &full, true), Verdict::Blocked);
        // An advisory check skipped by --force (or check_compatibility: false) does not.
        let mut forced = check("memory", Kind::Advisory, false);
        forced.forced = true;
        assert_eq!(verdict(true, &[forced], false), Verdict::Move(Method::Live));
    }
}
