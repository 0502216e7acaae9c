//! `vm attach-pci`: resolve and check everything (the plan, shown by --dry-run), then
//! one reconfiguration that adds the device(s), locks the memory reservation to the
//! VM's size and sizes the 64-bit MMIO window for large GPUs.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::ops::error::{OpError, OpResult};
use crate::ops::fleet::{Fleet, Scope, WithEndpoint};
use crate::ops::progress::Progress;
use crate::ops::vms::VmRef;

use super::assign::{self, Mode, PlannedDevice};
use super::config_target;
use super::gpu_table;
use super::ids::VendorDevice;
use super::inventory::VmBacking;
use super::reconfig::{self, Change, VmState};

pub const MMIO_ENABLE: &str = "pciPassthru.use64bitMMIO";
pub const MMIO_SIZE: &str = "pciPassthru.64bitMMIOSizeGB";

/// What to attach: a device (static or `dynamic`), or a vGPU profile.
#[derive(Debug, Clone, Default)]
pub struct AttachRequest {
    pub device: Option<String>,
    pub dynamic: bool,
    pub vgpu: Option<String>,
    /// A free SR-IOV virtual function of the physical function `device` names.
    pub vf: bool,
}

impl AttachRequest {
    fn validate(&self) -> OpResult<()> {
        match (&self.device, &self.vgpu) {
            (None, None) => Err(OpError::Invalid {
                message: "name a device to attach, or a vGPU profile with --vgpu".into(),
                hint: Some("e.g. `ceso vm attach-pci VM 0000:3b:00.0`, `ceso vm attach-pci VM nvidia`, `ceso vm attach-pci VM --vgpu grid_a30-4c`".into()),
            }),
            (Some(_), Some(_)) => Err(OpError::Invalid {
                message: "give either a device or --vgpu, not both".into(),
                hint: Some("a vGPU is a share of a GPU the host chooses; `ceso gpu profiles` lists them".into()),
            }),
            (None, Some(_)) if self.dynamic => Err(OpError::invalid("--dynamic applies to a device, not to --vgpu")),
            (None, Some(_)) if self.vf => Err(OpError::invalid("--vf applies to a device (its physical function), not to --vgpu")),
            _ => Ok(()),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct AttachPlan {
    pub vm: String,
    pub vm_id: String,
    pub endpoint: String,
    pub host: String,
    pub devices: Vec<PlannedDevice>,
    /// memoryReservationLockedToMax goes from false to true.
    pub lock_memory_reservation: bool,
    pub memory_mb: i64,
    /// Advanced settings set for large GPUs.
    pub extra_config: BTreeMap<String, String>,
    pub notes: Vec<String>,
    #[serde(skip)]
    vm_ref: Option<VmRef>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AttachedDevice {
    pub key: i64,
    pub label: String,
    #[serde(flatten)]
    pub device: PlannedDevice,
}

#[derive(Debug, Clone, Serialize)]
pub struct AttachResult {
    pub vm: String,
    pub endpoint: String,
    pub host: String,
    pub devices: Vec<AttachedDevice>,
    pub memory_reservation_locked: bool,
    pub extra_config: BTreeMap<String, String>,
    pub notes: Vec<String>,
}

pub async fn plan(
    fleet: &Fleet,
    scope: &Scope,
    vm_name: &str,
    req: &AttachRequest,
) -> OpResult<AttachPlan> {
    req.validate()?;
    super::ensure_enabled(fleet)?;
    let targets = fleet.targets(scope).await?;
    // `--host` naming an ESXi host names the device's host here, not the VM's.
    let found = super::find::find_vm(fleet, &targets, vm_name, false).await?;
    let named_host = targets
        .iter()
        .filter(|t| t.endpoint.name() == found.vm.endpoint.name())
        .find_map(|t| t.host.clone());
    plan_found(fleet, &found, named_host, req).await
}

/// The plan for a VM already in hand (scripts hold `Vm` values). `device_host` names the
/// host whose device is meant, when it is not the VM's own.
pub async fn plan_vm(
    fleet: &Fleet,
    vm: &VmRef,
    device_host: Option<String>,
    req: &AttachRequest,
) -> OpResult<AttachPlan> {
    req.validate()?;
    super::ensure_enabled(fleet)?;
    let found = super::find::of_vm(vm).await?;
    plan_found(fleet, &found, device_host, req).await
}

async fn plan_found(
    fleet: &Fleet,
    found: &super::find::Found,
    named_host: Option<String>,
    req: &AttachRequest,
) -> OpResult<AttachPlan> {
    let (hosts, vm) = (&found.hosts, found.vm.clone());
    let host = found.host();
    if let (Some(named), Some(device)) = (&named_host, &req.device)
        && *named != host.name
    {
        // Resolve there first, so a device that does not exist is reported as such.
        if let Some(other) = hosts.iter().find(|h| h.name == *named) {
            let picked = super::selector::resolve(
                std::slice::from_ref(other),
                device,
                super::selector::Want::Any,
            )?;
            return Err(OpError::refused(
                format!(
                    "{} is on host {}, but {} runs on host {}: a VM can only use PCI devices of its own host",
                    picked.address, named, vm.name, host.name
                ),
                format!(
                    "choose a device of {} (`ceso pci list --host {} --assignable`), or move the VM to {named} first",
                    host.name, host.name
                ),
            ));
        }
    }
    let state = host
        .vm(&vm.moref)
        .ok_or_else(|| OpError::invalid(format!("{} vanished from {}", vm.name, host.name)))?
        .clone();
    if state.power_state != "poweredOff" {
        return Err(reconfig::powered_on(&vm.name, &state.power_state));
    }
    let target = config_target::query(host).await?;
    let devices = match (&req.device, &req.vgpu) {
        (Some(device), _) if req.vf => vec![assign::virtual_function(
            host,
            &target,
            device,
            req.dynamic,
        )?],
        (Some(device), _) if req.dynamic => {
            vec![assign::dynamic(host, &target, device, Some(&vm.moref))?]
        }
        (Some(device), _) => assign::direct_path(host, &target, device, Some(&vm.moref))?,
        (None, Some(profile)) => vec![assign::vgpu(host, &target, profile)?],
        (None, None) => {
            return Err(OpError::invalid(
                "name a device, or a vGPU profile with --vgpu",
            ));
        }
    };
    let client = vm.endpoint.client().await?;
    let current = VmState::read(&client, &vm.moref)
        .await
        .at(vm.endpoint.name())?;
    let existing_gpu_gb: u32 = state
        .devices
        .iter()
        .map(|d| match &d.backing {
            VmBacking::DirectPath { id } => host
                .device(id)
                .and_then(|x| x.gpu.as_ref())
                .map_or(0, |g| g.memory_gb),
            VmBacking::Dynamic { allowed, .. } => allowed
                .first()
                .and_then(|a| VendorDevice::parse(a))
                .and_then(|id| gpu_table::table().gpu(id))
                .map_or(0, |g| g.memory_gb),
            _ => 0,
        })
        .sum();
    let mut notes = Vec::new();
    let extra_config = mmio_settings(&current, existing_gpu_gb, &devices, &vm.name, &mut notes);
    notes.extend(reset_note(fleet, &devices));
    Ok(AttachPlan {
        vm: vm.name.clone(),
        vm_id: vm.moref.value.clone(),
        endpoint: vm.endpoint.name().to_string(),
        host: host.name.clone(),
        devices,
        lock_memory_reservation: !current.memory_locked,
        memory_mb: state.memory_mb,
        extra_config,
        notes,
        vm_ref: Some(vm),
    })
}

/// The 64-bit MMIO settings large GPUs need, unless the VM already has enough.
pub fn mmio_settings(
    current: &VmState,
    existing_gpu_gb: u32,
    devices: &[PlannedDevice],
    vm: &str,
    notes: &mut Vec<String>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let added: u32 = devices
        .iter()
        .filter(|d| d.mode != Mode::Vgpu)
        .map(|d| d.gpu_memory_gb)
        .sum();
    let Some(size) = assign::mmio_size_gb(existing_gpu_gb + added) else {
        return out;
    };
    if added == 0 {
        return out;
    }
    let set = current
        .extra_config
        .get(MMIO_SIZE)
        .and_then(|v| v.trim().parse::<u32>().ok())
        .unwrap_or(0);
    if !current
        .extra_config
        .get(MMIO_ENABLE)
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    {
        out.insert(MMIO_ENABLE.to_string(), "TRUE".to_string());
    }
    if set < size {
        out.insert(MMIO_SIZE.to_string(), size.to_string());
    }
    if !current.firmware.is_empty() && current.firmware != "efi" {
        notes.push(format!(
            "{vm} boots with {} firmware; GPUs with 16 GB or more need EFI to map their memory (change it before installing the guest OS)",
            current.firmware
        ));
    }
    out
}

/// `auto_reset` has no per-VM setting in the vSphere API: ESXi resets a passthrough
/// device when its VM stops, by the method in the host's /etc/vmware/passthru.map. Say so
/// when the operator asked for something else.
pub fn reset_note(fleet: &Fleet, devices: &[PlannedDevice]) -> Option<String> {
    let config = fleet.config.pci_passthrough();
    let physical = devices.iter().any(|d| d.mode != Mode::Vgpu);
    (!config.auto_reset && physical).then(|| {
        "pci_passthrough.auto_reset is false, but ESXi resets passthrough devices when the VM stops and the API has no per-VM switch: set the reset method for this vendor:device in the host's /etc/vmware/passthru.map instead".to_string()
    })
}

pub async fn apply(plan: &AttachPlan, progress: &dyn Progress) -> OpResult<AttachResult> {
    let vm = plan
        .vm_ref
        .as_ref()
        .ok_or_else(|| OpError::invalid("the attach plan has no VM"))?;
    let change = Change {
        add: plan.devices.iter().map(|d| d.backing.clone()).collect(),
        remove: Vec::new(),
        extra_config: plan
            .extra_config
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        lock_memory: plan.lock_memory_reservation.then_some(true),
    };
    let applied = reconfig::apply(vm, &change, progress).await?;
    // ESXi gives the new devices keys in the order they were sent.
    let devices = applied
        .added
        .iter()
        .zip(&plan.devices)
        .map(|((key, label), device)| AttachedDevice {
            key: *key,
            label: label.clone(),
            device: device.clone(),
        })
        .collect();
    Ok(AttachResult {
        vm: plan.vm.clone(),
        endpoint: plan.endpoint.clone(),
        host: plan.host.clone(),
        devices,
        memory_reservation_locked: applied.after.memory_locked,
        extra_config: applied
            .after
            .extra_config
            .into_iter()
            .filter(|(k, _)| k.starts_with("pciPassthru."))
            .collect(),
        notes: plan.notes.clone(),
    })
}

/// Plan and, unless `dry_run`, apply. Returns the plan and, when applied, the result.
pub async fn attach(
    fleet: &Fleet,
    scope: &Scope,
    vm: &str,
    req: &AttachRequest,
    dry_run: bool,
    progress: &dyn Progress,
) -> OpResult<(AttachPlan, Option<AttachResult>)> {
    let plan = plan(fleet, scope, vm, req).await?;
    if dry_run {
        return Ok((plan, None));
    }
    let result = apply(&plan, progress).await?;
    Ok((plan, Some(result)))
}
