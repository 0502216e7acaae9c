//! `gpu check`: what GPUs a VM has (passthrough devices, Dynamic DirectPath candidates,
//! vGPU profiles) or would have (a device selector, as `pci info` takes it), read from the
//! PCI inventory and turned into facts for the pure `cuda` decision.

use serde::Serialize;

use crate::ops::error::{OpError, OpResult};
use crate::ops::fleet::{Fleet, Scope};

use super::cuda::{self, GpuFacts, GpuVendor, Request, VgpuFacts};
use super::gpu_table::{self, GpuModel};
use super::ids::VendorDevice;
use super::inventory::{self, HostPci, PciDevice, VmBacking, VmPci};
use super::selector::{self, Want};
use super::vgpu;

/// Which table the answer came from.
#[derive(Debug, Clone, Serialize)]
pub struct TableInfo {
    pub path: &'static str,
    pub version: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct GpuCheck {
    /// The VM checked, or the device selector when a device was named.
    pub target: String,
    /// `vm` or `device`.
    pub kind: &'static str,
    pub host: String,
    pub cuda: Option<String>,
    pub driver: Option<String>,
    pub compatible: bool,
    pub checks: Vec<cuda::Check>,
    pub table: TableInfo,
}

pub struct CheckRequest {
    pub target: String,
    pub cuda: Option<String>,
    pub driver: Option<String>,
}

/// The table's line for output: `data/gpus.yaml (version 2026-12-06)`.
pub fn table_info() -> TableInfo {
    TableInfo {
        path: gpu_table::TABLE_PATH,
        version: gpu_table::table().version.clone(),
    }
}

/// Check the VM (or a VM given the device) named by `req.target`.
pub async fn check(fleet: &Fleet, scope: &Scope, req: &CheckRequest) -> OpResult<GpuCheck> {
    let table = gpu_table::table();
    // The question is checked before anything is read: a bad version is a usage error.
    let release = req
        .cuda
        .as_deref()
        .map(|v| cuda::release(&table.cuda, v))
        .transpose()
        .map_err(|e| OpError::Invalid {
            message: e,
            hint: Some("pass one of the listed versions to --cuda".into()),
        })?;
    if let Some(d) = &req.driver
        && cuda::driver_version(d).is_none()
    {
        return Err(OpError::invalid(format!(
            "--driver '{d}' is not a driver version like 550.90.07"
        )));
    }
    let hosts = inventory::scan(fleet, scope).await?;
    let (kind, host, gpus) = match find_vm(&hosts, &req.target)? {
        Some((host, vm)) => ("vm", host.name.clone(), vm_gpus(host, vm)),
        None => match device_or_profile(&hosts, &req.target) {
            Some(found) => found?,
            None => {
                return Err(OpError::NotFound {
                    kind: "VM or GPU",
                    name: req.target.clone(),
                    suggestions: crate::ops::error::close_names(
                        &req.target,
                        hosts
                            .iter()
                            .flat_map(|h| h.vms.iter().map(|v| v.name.as_str())),
                    ),
                });
            }
        },
    };
    let verdict = cuda::decide(
        &gpus,
        Request {
            cuda: release,
            driver: req.driver.as_deref(),
        },
        &table.cuda,
    );
    Ok(GpuCheck {
        target: req.target.clone(),
        kind,
        host,
        cuda: release.map(|r| r.version.clone()),
        driver: req.driver.clone(),
        compatible: verdict.compatible,
        checks: verdict.checks,
        table: table_info(),
    })
}

/// The VM of that name or id; a name on several hosts (endpoints) is ambiguous, never
/// the first one found.
fn find_vm<'a>(hosts: &'a [HostPci], wanted: &str) -> OpResult<Option<(&'a HostPci, &'a VmPci)>> {
    let hits: Vec<(&HostPci, &VmPci)> = hosts
        .iter()
        .flat_map(|h| h.vms.iter().map(move |v| (h, v)))
        .filter(|(_, v)| v.name == wanted || v.moref.value == wanted)
        .collect();
    match hits.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(*one)),
        many => Err(OpError::Ambiguous {
            kind: "VM",
            name: wanted.to_string(),
            candidates: many
                .iter()
                .map(|(h, v)| format!("{} ({}) on {}", v.name, v.moref.value, h.name))
                .collect(),
        }),
    }
}

type Found = OpResult<(&'static str, String, Vec<GpuFacts>)>;

/// A vGPU profile name, or a device selector as `pci info` takes it.
fn device_or_profile(hosts: &[HostPci], text: &str) -> Option<Found> {
    if vgpu::parse_profile(text).is_some()
        && let Some(host) = hosts.iter().find(|h| {
            h.shared_gpu_types
                .iter()
                .any(|t| t.eq_ignore_ascii_case(text))
        })
    {
        return Some(Ok(("device", host.name.clone(), vec![vgpu_facts(text)])));
    }
    match selector::resolve(hosts, text, Want::Any) {
        Ok(picked) => {
            let host = hosts.get(picked.host)?;
            let d = host.device(&picked.address)?;
            Some(Ok(("device", host.name.clone(), vec![device_facts(d)])))
        }
        Err(OpError::NotFound { .. }) => None,
        Err(e) => Some(Err(e)),
    }
}

/// The GPUs of a VM: passthrough devices that are GPUs, each candidate of a Dynamic
/// DirectPath device (it may get any), and vGPUs.
fn vm_gpus(host: &HostPci, vm: &VmPci) -> Vec<GpuFacts> {
    let mut out = Vec::new();
    for d in &vm.devices {
        match &d.backing {
            VmBacking::DirectPath { id } => {
                if let Some(dev) = host.device(id).filter(|x| x.is_gpu()) {
                    out.push(device_facts(dev));
                }
            }
            VmBacking::Dynamic {
                allowed,
                assigned_id,
            } => {
                if let Some(dev) = assigned_id
                    .as_deref()
                    .and_then(|a| host.device(a))
                    .filter(|x| x.is_gpu())
                {
                    out.push(device_facts(dev));
                    continue;
                }
                for id in allowed {
                    let Some(vd) = VendorDevice::parse(id) else {
                        continue;
                    };
                    if let Some(dev) = host
                        .devices
                        .iter()
                        .find(|x| x.vendor_device == vd && x.is_gpu())
                    {
                        let mut f = device_facts(dev);
                        f.name = format!("{} (dynamic {id})", model_name(dev));
                        out.push(f);
                    } else if let Some(g) = gpu_table::table().gpu(vd) {
                        out.push(model_facts(
                            g,
                            format!("{} {} (dynamic {id})", g.vendor, g.model),
                        ));
                    }
                }
            }
            VmBacking::Vgpu { profile } => out.push(vgpu_facts(profile)),
            VmBacking::Other { .. } => {}
        }
    }
    out
}

/// `vm create --gpu … --cuda X.Y`: refuse the planned devices when `gpu check` would.
pub fn refuse_unless_cuda_runs(
    host: &HostPci,
    devices: &[super::assign::PlannedDevice],
    cuda_version: &str,
    driver: Option<&str>,
) -> OpResult<()> {
    let table = gpu_table::table();
    let release = cuda::release(&table.cuda, cuda_version).map_err(|e| OpError::Invalid {
        message: e,
        hint: Some("pass one of the listed versions to --cuda".into()),
    })?;
    if let Some(d) = driver
        && cuda::driver_version(d).is_none()
    {
        return Err(OpError::invalid(format!(
            "--driver '{d}' is not a driver version like 550.90.07"
        )));
    }
    let mut gpus = Vec::new();
    for d in devices.iter().filter(|d| !d.dependent) {
        if let Some(profile) = &d.profile {
            gpus.push(vgpu_facts(profile));
        } else if let Some(dev) = d.address.as_deref().and_then(|a| host.device(a)) {
            if dev.is_gpu() {
                gpus.push(device_facts(dev));
            }
        } else if let Some(vd) = d.id.as_deref().and_then(VendorDevice::parse) {
            if let Some(dev) = host.devices.iter().find(|x| x.vendor_device == vd) {
                if dev.is_gpu() {
                    gpus.push(device_facts(dev));
                }
            } else if let Some(g) = table.gpu(vd) {
                gpus.push(model_facts(g, format!("{} {}", g.vendor, g.model)));
            }
        }
    }
    let verdict = cuda::decide(
        &gpus,
        Request {
            cuda: Some(release),
            driver,
        },
        &table.cuda,
    );
    if verdict.compatible {
        return Ok(());
    }
    let failed: Vec<String> = verdict
        .checks
        .iter()
        .filter(|c| c.status == cuda::Status::Fail)
        .map(|c| format!("{}: {}", c.subject, c.reason))
        .collect();
    Err(OpError::refused(
        format!(
            "CUDA {} cannot run on the requested GPUs: {}",
            release.version,
            failed.join("; ")
        ),
        "nothing was created; `ceso gpu check DEVICE --cuda X.Y` explains each GPU",
    ))
}

fn model_name(d: &PciDevice) -> String {
    d.display_name()
}

fn device_facts(d: &PciDevice) -> GpuFacts {
    let name = format!("{} ({})", model_name(d), d.address);
    match &d.gpu {
        Some(g) => model_facts(g, name),
        None => GpuFacts {
            name,
            vendor: GpuVendor::from_id(d.vendor_device.vendor, &d.vendor_short),
            model: None,
            architecture: None,
            cc: None,
            vgpu: None,
        },
    }
}

fn model_facts(g: &GpuModel, name: String) -> GpuFacts {
    GpuFacts {
        name,
        vendor: GpuVendor::from_id(g.id.vendor, &g.vendor),
        model: Some(g.model.clone()),
        architecture: Some(g.architecture.clone()),
        cc: g.compute_capability,
        vgpu: None,
    }
}

fn vgpu_facts(profile: &str) -> GpuFacts {
    let parsed = vgpu::parse_profile(profile);
    let model = parsed
        .as_ref()
        .and_then(|p| gpu_table::table().gpu_by_vgpu_prefix(&p.prefix));
    let name = format!("vGPU {profile}");
    let mut facts = match model {
        Some(g) => model_facts(g, name),
        None => GpuFacts {
            name,
            vendor: GpuVendor::Nvidia,
            model: None,
            architecture: None,
            cc: None,
            vgpu: None,
        },
    };
    facts.vgpu = Some(VgpuFacts {
        profile: profile.to_string(),
        mig_slices: parsed.as_ref().and_then(|p| p.slices),
        gpu_mig_slices: model.map_or(0, |g| g.mig_slices),
    });
    facts
}
