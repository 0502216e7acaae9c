//! `vm create --gpu/--vgpu`: choose the host from the devices asked for and check every
//! device before the VM plan is made, so nothing is created when a GPU is wrong.

use serde::Serialize;

use crate::ops::error::{OpError, OpResult, close_names};
use crate::ops::fleet::{Fleet, Scope, Target};
use crate::ops::vms::{self, CreatePlan, CreateSpec};

use super::assign::{self, PlannedDevice};
use super::attach::{mmio_settings, reset_note};
use super::config_target;
use super::inventory::{self, HostPci};
use super::reconfig::VmState;
use super::selector::{self, Want};

#[derive(Debug, Clone, Default)]
pub struct GpuRequest {
    /// Devices by address or selector.
    pub devices: Vec<String>,
    /// Give them as Dynamic DirectPath (by vendor:device).
    pub dynamic: bool,
    /// vGPU profiles.
    pub vgpus: Vec<String>,
    /// Refuse unless this CUDA release runs on the devices (`gpu check`'s decision).
    pub cuda: Option<String>,
    /// The guest driver to check with `cuda`.
    pub driver: Option<String>,
}

impl GpuRequest {
    pub fn is_empty(&self) -> bool {
        self.devices.is_empty() && self.vgpus.is_empty()
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct GpuPlan {
    pub host: String,
    pub devices: Vec<PlannedDevice>,
    pub notes: Vec<String>,
}

/// Resolve and check the GPUs, then plan the VM on their host.
pub async fn plan(
    fleet: &Fleet,
    scope: &Scope,
    spec: &CreateSpec,
    req: &GpuRequest,
) -> OpResult<(Target, CreatePlan, GpuPlan)> {
    if req.dynamic && req.devices.is_empty() {
        return Err(OpError::invalid("--dynamic applies to --gpu devices"));
    }
    super::ensure_enabled(fleet)?;
    let mut hosts = inventory::scan(fleet, scope).await?;
    if hosts.is_empty() {
        return Err(OpError::invalid("no ESXi host in scope"));
    }
    let mut chosen: Option<usize> = None;
    let mut devices: Vec<PlannedDevice> = Vec::new();
    let mut target_cache = None;
    for device in &req.devices {
        let index = match chosen {
            Some(i) => i,
            None => selector::resolve(&hosts, device, Want::Assign)?.host,
        };
        chosen = Some(index);
        let host = &hosts[index];
        if target_cache.is_none() {
            target_cache = Some(config_target::query(host).await?);
        }
        let target = target_cache
            .as_ref()
            .ok_or_else(|| OpError::invalid("no config target"))?;
        let planned = if req.dynamic {
            vec![assign::dynamic(host, target, device, None)?]
        } else {
            assign::direct_path(host, target, device, None)?
        };
        // The next --gpu must not pick these again.
        let reserved: Vec<String> = planned.iter().filter_map(|p| p.reserved.clone()).collect();
        reserve(&mut hosts[index], &reserved, &spec.name);
        devices.extend(planned);
    }
    for profile in &req.vgpus {
        let index = match chosen {
            Some(i) => i,
            None => vgpu_host(&hosts, profile)?,
        };
        chosen = Some(index);
        let host = &hosts[index];
        if target_cache.is_none() {
            target_cache = Some(config_target::query(host).await?);
        }
        let target = target_cache
            .as_ref()
            .ok_or_else(|| OpError::invalid("no config target"))?;
        devices.push(assign::vgpu(host, target, profile)?);
    }
    let index = chosen.ok_or_else(|| OpError::invalid("no GPU was asked for"))?;
    let host = &hosts[index];
    if let Some(cuda) = &req.cuda {
        super::check::refuse_unless_cuda_runs(host, &devices, cuda, req.driver.as_deref())?;
    }
    let target = Target {
        endpoint: host.endpoint.clone(),
        host: Some(host.name.clone()),
    };
    let mut plan = vms::create::plan(&target, spec).await?;
    for (i, d) in devices.iter().enumerate() {
        plan.add_device(crate::ops::devices::DeviceChange::AddPci {
            key: -200 - i32::try_from(i).unwrap_or(0),
            backing: d.backing.clone(),
        });
    }
    plan.memory_reservation_locked = true;
    let mut notes = Vec::new();
    // A new VM has no guest yet: give large GPUs the EFI firmware they need now.
    let fresh = VmState {
        firmware: "efi".into(),
        ..VmState::default()
    };
    let extra = mmio_settings(&fresh, 0, &devices, &spec.name, &mut notes);
    if !extra.is_empty() {
        plan.firmware = Some("efi".into());
    }
    plan.extra_config = extra.into_iter().collect();
    notes.extend(reset_note(fleet, &devices));
    Ok((
        target,
        plan,
        GpuPlan {
            host: host.name.clone(),
            devices,
            notes,
        },
    ))
}

/// Mark devices as taken by the VM being planned.
fn reserve(host: &mut HostPci, addresses: &[String], vm: &str) {
    for d in host
        .devices
        .iter_mut()
        .filter(|d| addresses.contains(&d.address))
    {
        d.assigned_to.push(format!("{vm} (being created)"));
    }
}

/// The first host that offers a vGPU profile.
fn vgpu_host(hosts: &[HostPci], profile: &str) -> OpResult<usize> {
    if let Some(i) = hosts.iter().position(|h| {
        h.shared_gpu_types
            .iter()
            .any(|t| t.eq_ignore_ascii_case(profile.trim()))
    }) {
        return Ok(i);
    }
    let mut offered: Vec<&str> = hosts
        .iter()
        .flat_map(|h| h.shared_gpu_types.iter().map(String::as_str))
        .collect();
    offered.sort_unstable();
    offered.dedup();
    if offered.is_empty() {
        return Err(OpError::refused(
            "no host in scope offers vGPU profiles",
            "vGPU needs the NVIDIA vGPU manager on the host and a GPU that is not in passthrough mode",
        ));
    }
    Err(OpError::NotFound {
        kind: "vGPU profile",
        name: profile.to_string(),
        suggestions: close_names(profile, offered),
    })
}
