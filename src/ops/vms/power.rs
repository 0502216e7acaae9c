//! Power operations. Asking for the state a VM is already in is not an error: scripts
//! that "make sure these 50 VMs are off" should not fail on the ones that already are.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::ops::error::{OpError, OpResult};
use crate::ops::fleet::WithEndpoint;
use crate::ops::progress::Progress;
use crate::vim::Request;

use super::VmRef;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PowerAction {
    On,
    /// Guest shutdown through VMware Tools; `force` powers off at once.
    Off {
        force: bool,
    },
    /// Guest reboot through VMware Tools; `force` resets at once.
    Restart {
        force: bool,
    },
    Suspend,
}

impl PowerAction {
    pub fn verb(&self) -> &'static str {
        match self {
            PowerAction::On => "start",
            PowerAction::Off { force: false } => "shut down",
            PowerAction::Off { force: true } => "power off",
            PowerAction::Restart { force: false } => "restart",
            PowerAction::Restart { force: true } => "reset",
            PowerAction::Suspend => "suspend",
        }
    }

    /// The verb done: "started", "shut down"…
    pub fn past(&self) -> &'static str {
        match self {
            PowerAction::On => "started",
            PowerAction::Off { force: false } => "shut down",
            PowerAction::Off { force: true } => "powered off",
            PowerAction::Restart { force: false } => "restarted",
            PowerAction::Restart { force: true } => "reset",
            PowerAction::Suspend => "suspended",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PowerResult {
    pub vm: String,
    pub endpoint: String,
    pub before: String,
    pub after: String,
    pub changed: bool,
}

pub async fn power(
    vm: &VmRef,
    action: PowerAction,
    progress: &dyn Progress,
) -> OpResult<PowerResult> {
    let endpoint = vm.endpoint.name().to_string();
    let client = vm.endpoint.client().await?;
    let timeouts = vm.endpoint.timeouts();
    let state =
        |p: &crate::vim::ObjectContent| p.str("runtime.powerState").unwrap_or_default().to_string();
    // The lookup that found the VM read its state a moment ago: no second read.
    let before = match &vm.power_state {
        Some(known) => known.clone(),
        None => state(
            &client
                .properties(&vm.moref, &["runtime.powerState"])
                .await
                .at(&endpoint)?,
        ),
    };
    let already = match action {
        PowerAction::On => before == "poweredOn",
        PowerAction::Off { .. } => before == "poweredOff",
        PowerAction::Suspend => before == "suspended",
        PowerAction::Restart { .. } => false,
    };
    if already {
        return Ok(PowerResult {
            vm: vm.name.clone(),
            endpoint,
            after: before.clone(),
            before,
            changed: false,
        });
    }
    if matches!(action, PowerAction::Restart { .. } | PowerAction::Suspend) && before != "poweredOn"
    {
        return Err(OpError::refused(
            format!("cannot {} {}: it is {before}", action.verb(), vm.name),
            format!("start it first with `ceso vm start {}`", vm.name),
        ));
    }
    progress.step(&format!("{} {}", capitalise(action.verb()), vm.name));
    let on_task = |t: &crate::vim::TaskProgress| progress.task(t);
    let task = |method: &str| Request::new(method, &vm.moref);
    match action {
        PowerAction::On => {
            client
                .run_task(task("PowerOnVM_Task"), timeouts.task, &on_task)
                .await
                .at(&endpoint)?;
        }
        PowerAction::Off { force: true } => {
            client
                .run_task(task("PowerOffVM_Task"), timeouts.task, &on_task)
                .await
                .at(&endpoint)?;
        }
        PowerAction::Restart { force: true } => {
            client
                .run_task(task("ResetVM_Task"), timeouts.task, &on_task)
                .await
                .at(&endpoint)?;
        }
        PowerAction::Suspend => {
            client
                .run_task(task("SuspendVM_Task"), timeouts.task, &on_task)
                .await
                .at(&endpoint)?;
        }
        PowerAction::Off { force: false } | PowerAction::Restart { force: false } => {
            let method = if matches!(action, PowerAction::Off { .. }) {
                "ShutdownGuest"
            } else {
                "RebootGuest"
            };
            client
                .call(task(method))
                .await
                .map_err(|e| guest_op_error(&endpoint, vm, action, e))?;
            if matches!(action, PowerAction::Off { .. }) {
                // The guest shuts down on its own time: wait for it, bounded.
                wait_for_state(&client, vm, "poweredOff", Duration::from_secs(300))
                    .await
                    .at(&endpoint)?;
            }
        }
    }
    // A task that succeeded left the VM in its target state; reading it back would
    // cost a round trip per VM and say nothing new.
    let after = match action {
        PowerAction::On | PowerAction::Restart { .. } => "poweredOn",
        PowerAction::Off { .. } => "poweredOff",
        PowerAction::Suspend => "suspended",
    }
    .to_string();
    Ok(PowerResult {
        vm: vm.name.clone(),
        endpoint,
        before,
        after,
        changed: true,
    })
}

fn guest_op_error(
    endpoint: &str,
    vm: &VmRef,
    action: PowerAction,
    e: crate::vim::Error,
) -> OpError {
    let needs_tools = matches!(
        e.fault_name(),
        Some("ToolsUnavailable" | "MethodNotFound" | "NotSupported" | "InvalidState")
    );
    if needs_tools {
        let force = if matches!(action, PowerAction::Off { .. }) {
            "stop"
        } else {
            "restart"
        };
        // A vSphere fault (exit 5), not a refusal: the server said no.
        let message = format!(
            "cannot {} {} through the guest: {e}",
            action.verb(),
            vm.name
        );
        return OpError::vim(endpoint, e).context(
            message,
            Some(format!(
                "VMware Tools must be running for a clean {}; `ceso vm {force} --force {}` does it at once",
                action.verb(),
                vm.name
            )),
        );
    }
    OpError::vim(endpoint, e)
}

async fn wait_for_state(
    client: &crate::vim::Client,
    vm: &VmRef,
    wanted: &str,
    timeout: Duration,
) -> Result<(), crate::vim::Error> {
    let started = Instant::now();
    let mut delay = Duration::from_millis(25);
    loop {
        let props = client
            .properties(&vm.moref, &["runtime.powerState"])
            .await?;
        if props.str("runtime.powerState") == Some(wanted) {
            return Ok(());
        }
        if started.elapsed() > timeout {
            return Err(crate::vim::Error::Timeout {
                what: format!("waiting for {} to be {wanted}", vm.name),
                secs: timeout.as_secs(),
            });
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(2));
    }
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
