//! Running a migration plan: each step re-checked against the inventory as it is now
//! (read again from the servers before every migration), stopping at the first step
//! reality has overtaken: the VM is elsewhere, the target cannot take it any more, or
//! the move no longer lowers the imbalance — and then through `vm migrate`'s own
//! precheck, so a step the migration would refuse stops the plan.

use serde::Serialize;

use crate::ops::error::{OpError, OpResult};
use crate::ops::fleet::{Fleet, Scope};
use crate::ops::migrate::{MigrateSpec, relocate};
use crate::ops::progress::Progress;
use crate::ops::vms::VmRef;
use crate::placement::filter::{self, Candidate};
use crate::placement::{Policy, State, imbalance};

use super::{PlannedMove, engine_error, gather};

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepOutcome {
    Migrated,
    /// `--dry-run`: checked against the inventory, not sent.
    WouldMigrate,
    /// Reality drifted; this step and the ones after it were not run.
    Stopped,
    /// The migration was sent and failed (a fault, a dropped connection); the steps
    /// after it were not run, the ones before it stay done.
    Failed,
}

#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub vm: String,
    pub from: String,
    pub to: String,
    pub outcome: StepOutcome,
    /// The gain measured just before the step.
    pub gain: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ApplyReport {
    pub dry_run: bool,
    pub steps: Vec<Step>,
    pub complete: bool,
    pub imbalance_before: f64,
    pub imbalance_after: f64,
}

/// Run `moves` in order. With `dry_run` every step is checked against one reading of
/// the inventory, updated in memory as if the earlier steps had run. A migration that
/// fails ends the run: the report (with the steps already done) comes back with the
/// error, so the caller can say what happened before it.
pub async fn apply(
    fleet: &Fleet,
    scope: &Scope,
    cluster: Option<&str>,
    moves: &[PlannedMove],
    policy: &dyn Policy,
    dry_run: bool,
    progress: &dyn Progress,
) -> OpResult<(ApplyReport, Option<OpError>)> {
    let mut g = gather(fleet, scope, cluster).await?;
    let first = State::new(&g.inventory).map_err(engine_error)?;
    let imbalance_before = imbalance(&first).total;
    drop(first);
    let mut steps = Vec::new();
    let mut complete = true;
    let mut failure = None;
    for m in moves {
        if !dry_run && !steps.is_empty() {
            g = gather(fleet, scope, cluster).await?;
        }
        let verdict = check_step(&g.inventory, m, policy)?;
        let gain = verdict.as_ref().map_or(0.0, |&(_, _, gain)| gain);
        let (v, to) = match verdict {
            Ok((v, to, _)) => (v, to),
            Err(reason) => {
                steps.push(step(m, StepOutcome::Stopped, gain, Some(reason)));
                complete = false;
                break;
            }
        };
        if dry_run {
            g.inventory.vms[v].host = Some(g.inventory.hosts[to].name.clone());
            steps.push(step(m, StepOutcome::WouldMigrate, gain, None));
            continue;
        }
        let (endpoint, moref) = g
            .vms
            .get(&m.vm)
            .cloned()
            .ok_or_else(|| OpError::invalid(format!("{} vanished while being read", m.vm)))?;
        if !g.hosts.contains_key(&m.to) {
            return Err(OpError::invalid(format!(
                "{} vanished while being read",
                m.to
            )));
        }
        let vm = VmRef {
            endpoint,
            moref,
            name: m.vm.clone(),
            host: m.from.clone(),
            power_state: None,
        };
        // The migration's own precheck too (host state, datastores, networks,
        // passthrough, capacity, DRS rules, the server's checks): a refusal is drift.
        let spec = MigrateSpec {
            to_host: Some(m.to.clone()),
            live: true,
            ..MigrateSpec::default()
        }
        .with_config(&fleet.config);
        let ran = match relocate::plan(&vm, &spec).await {
            Ok(plan) => relocate::run(&vm, &plan, progress).await,
            Err(e) => Err(e),
        };
        match ran {
            Ok(()) => {}
            Err(e @ OpError::Refused { .. }) => {
                steps.push(step(m, StepOutcome::Stopped, gain, Some(e.to_string())));
                complete = false;
                break;
            }
            Err(e) => {
                steps.push(step(m, StepOutcome::Failed, gain, Some(e.to_string())));
                complete = false;
                failure = Some(e);
                break;
            }
        }
        steps.push(step(m, StepOutcome::Migrated, gain, None));
    }
    if !dry_run
        && steps
            .iter()
            .any(|s| matches!(s.outcome, StepOutcome::Migrated))
    {
        g = gather(fleet, scope, cluster).await?;
    }
    let after = imbalance(&State::new(&g.inventory).map_err(engine_error)?).total;
    Ok((
        ApplyReport {
            dry_run,
            steps,
            complete,
            imbalance_before,
            imbalance_after: after,
        },
        failure,
    ))
}

fn step(m: &PlannedMove, outcome: StepOutcome, gain: f64, reason: Option<String>) -> Step {
    Step {
        vm: m.vm.clone(),
        from: m.from.clone(),
        to: m.to.clone(),
        outcome,
        gain,
        reason,
    }
}

type Verdict = Result<(usize, usize, f64), String>;

/// Is the step still what the plan said? Ok((vm, target host, gain now)) or why not.
fn check_step(
    inv: &crate::placement::Inventory,
    m: &PlannedMove,
    policy: &dyn Policy,
) -> OpResult<Verdict> {
    let mut st = State::new(inv).map_err(engine_error)?;
    let Some(v) = st.vm_index(&m.vm) else {
        return Ok(Err(format!("{} is no longer in the inventory", m.vm)));
    };
    let Some(&to) = st.host_by_name.get(m.to.as_str()) else {
        return Ok(Err(format!("host {} is no longer in the inventory", m.to)));
    };
    let now = st.pos[v].map(|h| st.host(h).name.clone());
    if now.as_deref() != Some(m.from.as_str()) {
        return Ok(Err(format!(
            "{} runs on {}, not {} as planned",
            m.vm,
            now.unwrap_or_else(|| "no host".into()),
            m.from
        )));
    }
    let (hard, _) = filter::check(&st, Candidate::of(&st, v), to, policy).map_err(engine_error)?;
    if !hard.is_empty() {
        let why: Vec<String> = hard.into_iter().map(|r| r.message).collect();
        return Ok(Err(format!(
            "{} can no longer go to {}: {}",
            m.vm,
            m.to,
            why.join("; ")
        )));
    }
    let before = imbalance(&st).total;
    st.apply_move(v, to);
    let gain = before - imbalance(&st).total;
    if gain <= 0.0 {
        return Ok(Err(format!(
            "moving {} to {} no longer lowers the imbalance (gain {gain:.4})",
            m.vm, m.to
        )));
    }
    Ok(Ok((v, to, gain)))
}
