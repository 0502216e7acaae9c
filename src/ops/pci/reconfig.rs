//! One ReconfigVM_Task for a PCI change, with the VM read before and after. A failed
//! task is checked against the state before it: when the VM changed anyway (a partial
//! apply), the change is undone, and the error says which of the two happened.

use std::collections::BTreeMap;

use crate::ops::devices::{self, DeviceChange, PciBacking};
use crate::ops::error::{OpError, OpResult};
use crate::ops::fleet::WithEndpoint;
use crate::ops::progress::Progress;
use crate::ops::vms::VmRef;
use crate::vim::{self, Client, MoRef, Node, Request};

/// The parts of a VM a PCI change touches.
#[derive(Debug, Clone, Default)]
pub struct VmState {
    pub power_state: String,
    pub memory_locked: bool,
    /// VirtualPCIPassthrough devices: key and label.
    pub pci: Vec<(i64, String)>,
    pub extra_config: BTreeMap<String, String>,
    pub firmware: String,
}

impl VmState {
    pub async fn read(client: &Client, vm: &MoRef) -> Result<VmState, vim::Error> {
        let p = client
            .properties(
                vm,
                &[
                    "runtime.powerState",
                    "config.memoryReservationLockedToMax",
                    "config.hardware.device",
                    "config.extraConfig",
                    "config.firmware",
                ],
            )
            .await?;
        let pci = p
            .get("config.hardware.device")
            .map(Node::items)
            .unwrap_or_default()
            .into_iter()
            .filter(|d| d.xsi_type.as_deref() == Some("VirtualPCIPassthrough"))
            .map(|d| {
                (
                    d.i64_at("key").unwrap_or(0),
                    d.str_at("deviceInfo.label").unwrap_or_default().to_string(),
                )
            })
            .collect();
        let extra_config = p
            .get("config.extraConfig")
            .map(Node::items)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|o| {
                Some((
                    o.text_of("key")?.to_string(),
                    o.text_of("value").unwrap_or_default().to_string(),
                ))
            })
            .collect();
        Ok(VmState {
            power_state: p.str("runtime.powerState").unwrap_or_default().to_string(),
            memory_locked: p
                .bool("config.memoryReservationLockedToMax")
                .unwrap_or(false),
            pci,
            extra_config,
            firmware: p.str("config.firmware").unwrap_or_default().to_string(),
        })
    }

    fn keys(&self) -> Vec<i64> {
        self.pci.iter().map(|(k, _)| *k).collect()
    }
}

/// What to change in one reconfiguration.
#[derive(Debug, Clone, Default)]
pub struct Change {
    pub add: Vec<PciBacking>,
    pub remove: Vec<i64>,
    pub extra_config: Vec<(String, String)>,
    pub lock_memory: Option<bool>,
}

impl Change {
    fn write(&self, r: &mut Request) {
        r.nest("spec", None, |r| {
            for key in &self.remove {
                devices::write(
                    r,
                    &DeviceChange::Remove {
                        kind: "VirtualPCIPassthrough".into(),
                        key: *key,
                    },
                );
            }
            for (i, backing) in self.add.iter().enumerate() {
                let key = -200 - i32::try_from(i).unwrap_or(0);
                devices::write(
                    r,
                    &DeviceChange::AddPci {
                        key,
                        backing: backing.clone(),
                    },
                );
            }
            for (key, value) in &self.extra_config {
                devices::write_option(r, key, value);
            }
            if let Some(lock) = self.lock_memory {
                r.text("memoryReservationLockedToMax", lock);
            }
        });
    }
}

/// The VM after a successful change, with the devices it gained.
pub struct Applied {
    pub before: VmState,
    pub after: VmState,
    pub added: Vec<(i64, String)>,
}

pub async fn apply(vm: &VmRef, change: &Change, progress: &dyn Progress) -> OpResult<Applied> {
    let endpoint = vm.endpoint.name().to_string();
    let client = vm.endpoint.client().await?;
    let before = VmState::read(&client, &vm.moref).await.at(&endpoint)?;
    // Checked again here: the VM may have been started since the plan was made.
    if before.power_state != "poweredOff" {
        return Err(powered_on(&vm.name, &before.power_state));
    }
    let mut req = Request::new("ReconfigVM_Task", &vm.moref);
    change.write(&mut req);
    progress.step(&format!("Reconfiguring {}", vm.name));
    let result = client
        .run_task(req, vm.endpoint.timeouts().task, &|t| progress.task(t))
        .await
        .at(&endpoint);
    let after = VmState::read(&client, &vm.moref).await.at(&endpoint);
    match (result, after) {
        (Ok(_), Ok(after)) => {
            let before_keys = before.keys();
            let added: Vec<(i64, String)> = after
                .pci
                .iter()
                .filter(|(k, _)| !before_keys.contains(k))
                .cloned()
                .collect();
            let still_there: Vec<i64> = change
                .remove
                .iter()
                .filter(|k| after.keys().contains(k))
                .copied()
                .collect();
            if added.len() != change.add.len() || !still_there.is_empty() {
                let note = undo(&client, vm, &before, &after, progress).await;
                return Err(OpError::Io(format!(
                    "{}: the server reported success but the VM has {} of {} new devices and {} of {} removed; {note}",
                    vm.name,
                    added.len(),
                    change.add.len(),
                    change.remove.len() - still_there.len(),
                    change.remove.len()
                )));
            }
            Ok(Applied {
                before,
                after,
                added,
            })
        }
        (Err(e), Ok(after)) => {
            let note = undo(&client, vm, &before, &after, progress).await;
            Err(annotate(e, &note))
        }
        (Err(e), Err(_)) => Err(annotate(
            e,
            &format!(
                "{} could not be read back: check it with `ceso vm info {}`",
                vm.name, vm.name
            ),
        )),
        (Ok(_), Err(e)) => Err(annotate(
            e,
            &format!(
                "the change was accepted but {} could not be read back",
                vm.name
            ),
        )),
    }
}

/// Put the VM back as it was before a failed change, as far as it differs. Returns the
/// sentence the error ends with.
/// The change that takes `after` back to `before`, and the labels of devices that
/// were lost (removed devices cannot be re-created from what the VM shows).
pub fn revert(before: &VmState, after: &VmState) -> (Change, Vec<String>) {
    let before_keys = before.keys();
    let after_keys = after.keys();
    let change = Change {
        add: Vec::new(),
        remove: after_keys
            .iter()
            .filter(|k| !before_keys.contains(k))
            .copied()
            .collect(),
        extra_config: after
            .extra_config
            .iter()
            .filter(|(k, v)| before.extra_config.get(*k) != Some(*v))
            .map(|(k, _)| {
                (
                    k.clone(),
                    before.extra_config.get(k).cloned().unwrap_or_default(),
                )
            })
            .collect(),
        lock_memory: (after.memory_locked != before.memory_locked).then_some(before.memory_locked),
    };
    let lost = before
        .pci
        .iter()
        .filter(|(k, _)| !after_keys.contains(k))
        .map(|(_, label)| label.clone())
        .collect();
    (change, lost)
}

async fn undo(
    client: &Client,
    vm: &VmRef,
    before: &VmState,
    after: &VmState,
    progress: &dyn Progress,
) -> String {
    let (revert, lost) = revert(before, after);
    let lost_note = if lost.is_empty() {
        String::new()
    } else {
        format!(
            "; {} lost {} and ceso cannot re-create them: attach them again",
            vm.name,
            lost.join(", ")
        )
    };
    if revert.remove.is_empty() && revert.extra_config.is_empty() && revert.lock_memory.is_none() {
        if lost.is_empty() {
            return format!("{} was left as it was", vm.name);
        }
        return lost_note.trim_start_matches("; ").to_string();
    }
    progress.step(&format!("Undoing the partial change on {}", vm.name));
    let mut req = Request::new("ReconfigVM_Task", &vm.moref);
    revert.write(&mut req);
    match client
        .run_task(req, vm.endpoint.timeouts().task, &vim::no_progress)
        .await
    {
        Ok(_) => format!(
            "the partial change was undone: {} is as it was{lost_note}",
            vm.name
        ),
        Err(e) => format!(
            "undoing the partial change failed too ({e}): check {} with `ceso vm info {}`{lost_note}",
            vm.name, vm.name
        ),
    }
}

/// Add what happened to the VM to an error, keeping its kind (and so its exit code).
fn annotate(e: OpError, note: &str) -> OpError {
    let join = |message: String| {
        if message.is_empty() {
            note.to_string()
        } else {
            format!("{message}; {note}")
        }
    };
    match e {
        OpError::Vim {
            endpoint,
            source:
                vim::Error::Fault {
                    name,
                    message,
                    object,
                    detail,
                },
        } => OpError::Vim {
            endpoint,
            source: vim::Error::Fault {
                name,
                message: join(message),
                object,
                detail,
            },
        },
        OpError::Refused { message, hint } => OpError::Refused {
            message: join(message),
            hint,
        },
        OpError::Invalid { message, hint } => OpError::Invalid {
            message: join(message),
            hint,
        },
        other => {
            let message = join(other.to_string());
            other.context(message, None)
        }
    }
}

pub fn powered_on(vm: &str, state: &str) -> OpError {
    OpError::refused(
        format!(
            "{vm} is {state}: PCI devices can only be attached or detached while the VM is powered off"
        ),
        format!("stop it first: `ceso vm stop {vm}` (or `--force` to power it off at once)"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revert_removes_what_was_added_and_restores_settings() {
        let before = VmState {
            pci: vec![(7, "PCI device 0".into())],
            extra_config: [("keep".to_string(), "1".to_string())].into(),
            ..VmState::default()
        };
        let after = VmState {
            memory_locked: true,
            pci: vec![(7, "PCI device 0".into()), (9, "PCI device 1".into())],
            extra_config: [
                ("keep".to_string(), "1".to_string()),
                ("pciPassthru.use64bitMMIO".to_string(), "TRUE".to_string()),
            ]
            .into(),
            ..VmState::default()
        };
        let (change, lost) = revert(&before, &after);
        assert_eq!(change.remove, vec![9]);
        assert_eq!(change.lock_memory, Some(false));
        assert_eq!(
            change.extra_config,
            vec![("pciPassthru.use64bitMMIO".to_string(), String::new())]
        );
        assert!(lost.is_empty());
        let (nothing, lost) = revert(&after, &before);
        assert!(nothing.remove.is_empty());
        assert_eq!(lost, vec!["PCI device 1".to_string()]);
    }
}
