//! Virtual machines: list, find, info, create, clone, templates, power, delete, update.

pub mod clone;
pub mod create;
pub mod delete;
pub mod find;
pub mod info;
pub mod list;
pub mod power;
pub mod power_many;
pub mod register;
pub mod select;
pub mod update;
pub mod update_input;
pub mod update_spec;

use std::sync::Arc;

use serde::Serialize;

use crate::vim::MoRef;

use super::fleet::Endpoint;

pub use create::{CreatePlan, CreateSpec, create};
pub use delete::delete;
pub use find::{find_named, find_named_each, find_vm, find_vms, push_unique};
pub use info::{VmInfo, info};
pub use list::{list, list_each};
pub use power::{PowerAction, PowerResult, power};
pub use power_many::power_many;
pub use select::{FoundVm, select, select_one};

/// A VM found on an endpoint: what operations need to act on it.
#[derive(Clone)]
pub struct VmRef {
    pub endpoint: Arc<Endpoint>,
    pub moref: MoRef,
    pub name: String,
    pub host: String,
    /// `runtime.powerState` as read by the lookup that made this reference, in the same
    /// command; None when unknown or possibly stale (read again before relying on it).
    pub power_state: Option<String>,
}

impl VmRef {
    /// A VM a task just made (created, cloned, imported): powered off, on the host the
    /// server put it.
    pub async fn made(
        endpoint: &Arc<Endpoint>,
        moref: MoRef,
        name: &str,
    ) -> crate::ops::OpResult<VmRef> {
        use crate::ops::fleet::WithEndpoint;
        let client = endpoint.client().await?;
        let at = endpoint.name();
        let host = client
            .properties(&moref, &["runtime.host"])
            .await
            .at(at)?
            .moref("runtime.host");
        let host = match host {
            Some(h) => client
                .properties(&h, &["name"])
                .await
                .at(at)?
                .str("name")
                .unwrap_or_default()
                .to_string(),
            None => String::new(),
        };
        Ok(VmRef {
            endpoint: endpoint.clone(),
            moref,
            name: name.to_string(),
            host,
            power_state: Some("poweredOff".into()),
        })
    }
}

impl std::fmt::Debug for VmRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({} on {})",
            self.name,
            self.moref.value,
            self.endpoint.name()
        )
    }
}

/// One row of `vm list`.
#[derive(Debug, Clone, Serialize)]
pub struct VmSummary {
    pub name: String,
    pub power_state: String,
    pub host: String,
    pub cpus: i64,
    pub memory_mb: i64,
    pub guest_os: String,
    pub ip: String,
    /// `runtime.bootTime` (ISO 8601) as the server gives it; empty while powered off.
    /// A guest reboot keeps the VM poweredOn and changes this.
    pub boot_time: String,
    /// `guestHeartbeatStatus`: green while VMware Tools run in the guest, gray without
    /// them (or while the guest reboots), yellow/red when heartbeats go missing.
    pub heartbeat: String,
    pub endpoint: String,
    pub id: String,
}
