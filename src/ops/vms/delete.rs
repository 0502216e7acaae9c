//! `vm delete`: Destroy_Task. A powered-on VM is refused unless `force`, which powers it
//! off first.

use crate::ops::error::{OpError, OpResult};
use crate::ops::fleet::WithEndpoint;
use crate::ops::progress::Progress;
use crate::vim::Request;

use super::VmRef;
use super::power::{PowerAction, power};

/// The VM's power state, refused when it is on and `force` is not given. `vm delete`
/// asks this before confirming, so a refusal never follows a "yes".
pub async fn check_deletable(vm: &VmRef, force: bool) -> OpResult<String> {
    let endpoint = vm.endpoint.name().to_string();
    let client = vm.endpoint.client().await?;
    let state = client
        .properties(&vm.moref, &["runtime.powerState"])
        .await
        .at(&endpoint)?
        .str("runtime.powerState")
        .unwrap_or_default()
        .to_string();
    if state != "poweredOff" && !force {
        return Err(OpError::refused(
            format!("{} is {state}; it was not deleted", vm.name),
            format!(
                "stop it first (`ceso vm stop {}`) or pass --force to power it off and delete it",
                vm.name
            ),
        ));
    }
    Ok(state)
}

pub async fn delete(vm: &VmRef, force: bool, progress: &dyn Progress) -> OpResult<()> {
    let endpoint = vm.endpoint.name().to_string();
    let client = vm.endpoint.client().await?;
    // Again at the moment of deleting: the state may have changed since the question.
    if check_deletable(vm, force).await? != "poweredOff" {
        power(vm, PowerAction::Off { force: true }, progress).await?;
    }
    progress.step(&format!("Deleting {}", vm.name));
    client
        .run_task(
            Request::new("Destroy_Task", &vm.moref),
            vm.endpoint.timeouts().task,
            &|t| progress.task(t),
        )
        .await
        .at(&endpoint)?;
    Ok(())
}
