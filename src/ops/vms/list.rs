//! `vm list`: one bulk read per endpoint, endpoints in parallel.

use std::collections::HashMap;

use crate::ops::error::{OpError, OpResult};
use crate::ops::fleet::{Fleet, Gathered, Scope, Target, WithEndpoint};
use crate::vim::{MoRef, PropertySpec};

use super::VmSummary;

pub const SUMMARY_PATHS: &[&str] = &[
    "name",
    "runtime.powerState",
    "runtime.host",
    "config.hardware.numCPU",
    "config.hardware.memoryMB",
    "config.guestFullName",
    "guest.ipAddress",
    "runtime.bootTime",
    "guestHeartbeatStatus",
];

/// VMs in scope whose name matches `pattern` (a glob; all when None), sorted by name.
pub async fn list(fleet: &Fleet, scope: &Scope, pattern: Option<&str>) -> OpResult<Vec<VmSummary>> {
    list_each(fleet, scope, pattern).await?.strict()
}

/// `list`, keeping the VMs of the endpoints that answered when others fail.
pub async fn list_each(
    fleet: &Fleet,
    scope: &Scope,
    pattern: Option<&str>,
) -> OpResult<Gathered<VmSummary>> {
    let matcher = match pattern {
        Some(p) => Some(glob::Pattern::new(p).map_err(|e| OpError::Invalid {
            message: format!("invalid pattern '{p}': {e}"),
            hint: Some("patterns use * ? and [..], e.g. 'web-*'".into()),
        })?),
        None => None,
    };
    let all = fleet.gather_each(scope, list_target).await?;
    Ok(all.map_items(|mut all| {
        if let Some(m) = &matcher {
            all.retain(|vm| m.matches(&vm.name));
        }
        all.sort_by(|a, b| a.name.cmp(&b.name).then(a.endpoint.cmp(&b.endpoint)));
        all
    }))
}

/// Every VM of one target, with host names resolved in the same round trip. Objects are
/// reduced to summaries as they stream in, so memory follows the summaries, not the page.
pub async fn list_target(target: Target) -> OpResult<Vec<VmSummary>> {
    let name = target.endpoint.name().to_string();
    let client = target.endpoint.client().await?;
    #[derive(Default)]
    struct Seen {
        vms: Vec<(VmSummary, Option<MoRef>)>,
        hosts: HashMap<MoRef, String>,
    }
    let seen = client
        .collect_view_with(
            &client.content().root_folder,
            &[
                PropertySpec {
                    kind: "VirtualMachine",
                    paths: SUMMARY_PATHS,
                },
                PropertySpec {
                    kind: "HostSystem",
                    paths: &["name"],
                },
            ],
            Seen::default,
            |seen, o| match o.obj.kind.as_str() {
                "VirtualMachine" => {
                    let host = o.moref("runtime.host");
                    seen.vms
                        .push((VmSummary::from_props(&o, String::new(), name.clone()), host));
                }
                "HostSystem" => {
                    let host_name = o.str("name").unwrap_or_default().to_string();
                    seen.hosts.insert(o.obj, host_name);
                }
                _ => {}
            },
        )
        .await
        .at(&name)?;
    let mut vms = Vec::with_capacity(seen.vms.len());
    for (mut vm, host) in seen.vms {
        vm.host = host
            .and_then(|h| seen.hosts.get(&h).cloned())
            .unwrap_or_default();
        if target
            .host
            .as_ref()
            .is_some_and(|wanted| *wanted != vm.host)
        {
            continue;
        }
        vms.push(vm);
    }
    Ok(vms)
}

impl VmSummary {
    /// Decode a VM read with `SUMMARY_PATHS`; `host` is its host's name.
    pub fn from_props(o: &crate::vim::ObjectContent, host: String, endpoint: String) -> Self {
        let text = |path: &str| o.str(path).unwrap_or_default().to_string();
        VmSummary {
            name: text("name"),
            power_state: text("runtime.powerState"),
            host,
            cpus: o.i64("config.hardware.numCPU").unwrap_or(0),
            memory_mb: o.i64("config.hardware.memoryMB").unwrap_or(0),
            guest_os: text("config.guestFullName"),
            ip: text("guest.ipAddress"),
            boot_time: text("runtime.bootTime"),
            heartbeat: text("guestHeartbeatStatus"),
            endpoint,
            id: o.obj.value.clone(),
        }
    }
}
