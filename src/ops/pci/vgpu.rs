//! NVIDIA vGPU profiles (and, from `sriov_profiles`, SR-IOV GPU partitions): what the hosts offer (`config.sharedPassthruGpuTypes`, which
//! ESXi fills from the GPUs its vGPU manager owns), decoded into GPU, framebuffer and
//! series, with the operator's `pci_passthrough.gpu_profiles` taking precedence.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::config::schema::GpuProfile;
use crate::ops::error::OpResult;
use crate::ops::fleet::{Fleet, Scope};

use super::gpu_table;
use super::inventory::{self, HostPci, VmBacking};

/// What a profile name says: `grid_a100d-3-40c` is an A100 80GB, 3 MIG slices, 40 GB, C-series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileName {
    pub prefix: String,
    pub slices: Option<u32>,
    pub framebuffer_gb: u32,
    pub series: char,
}

pub fn parse_profile(name: &str) -> Option<ProfileName> {
    let lower = name.trim().to_lowercase();
    let rest = lower.strip_prefix("grid_").unwrap_or(&lower);
    let (prefix, tail) = rest.split_once('-')?;
    let series = tail.chars().last().filter(char::is_ascii_alphabetic)?;
    let numbers = &tail[..tail.len() - 1];
    let (slices, size) = match numbers.split_once('-') {
        Some((s, gb)) => (Some(s.parse().ok()?), gb.parse().ok()?),
        None => (None, numbers.parse().ok()?),
    };
    Some(ProfileName {
        prefix: prefix.to_string(),
        slices,
        framebuffer_gb: size,
        series,
    })
}

fn series_name(series: char) -> &'static str {
    match series {
        'q' => "Q (virtual workstation)",
        'c' => "C (compute)",
        'b' => "B (virtual PC)",
        'a' => "A (virtual applications)",
        _ => "unknown",
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct VgpuProfile {
    pub name: String,
    /// The GPU model the profile runs on (from the known-GPU table), when known.
    pub gpu: Option<String>,
    pub series: String,
    pub framebuffer_mb: u64,
    /// MIG slices (MIG-backed profiles only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mig_slices: Option<u32>,
    /// How many of these fit on one physical GPU, when known.
    pub max_per_gpu: Option<u32>,
    /// Hosts offering the profile.
    pub hosts: Vec<String>,
    /// VMs configured with the profile on those hosts.
    pub used_by: Vec<String>,
    /// `host` (decoded from the name), `config` (values from pci_passthrough.gpu_profiles)
    /// or `sriov` (an SR-IOV GPU split into virtual functions, see `sriov_profiles`).
    pub source: &'static str,
}

/// Describe one profile name, applying configured values when present.
pub fn describe(name: &str, configured: &BTreeMap<String, Vec<GpuProfile>>) -> VgpuProfile {
    let parsed = parse_profile(name);
    let model = parsed
        .as_ref()
        .and_then(|p| gpu_table::table().gpu_by_vgpu_prefix(&p.prefix));
    let max_per_gpu = match (&parsed, model) {
        (Some(p), Some(g)) => match p.slices {
            Some(slices) if slices > 0 && g.mig_slices > 0 => Some(g.mig_slices / slices),
            Some(_) => None,
            // The vGPU manager runs at most 32 time-sliced vGPUs per GPU.
            None if p.framebuffer_gb > 0 => Some((g.memory_gb / p.framebuffer_gb).min(32)),
            None => None,
        },
        _ => None,
    };
    let mut profile = VgpuProfile {
        name: name.to_string(),
        gpu: model.map(|g| format!("{} {}", g.vendor, g.model)),
        series: parsed
            .as_ref()
            .map_or("unknown", |p| series_name(p.series))
            .to_string(),
        framebuffer_mb: parsed
            .as_ref()
            .map_or(0, |p| u64::from(p.framebuffer_gb) * 1024),
        mig_slices: parsed.as_ref().and_then(|p| p.slices),
        max_per_gpu,
        hosts: Vec::new(),
        used_by: Vec::new(),
        source: "host",
    };
    if let Some(c) = configured
        .values()
        .flatten()
        .find(|c| c.name.eq_ignore_ascii_case(name))
    {
        if c.memory > 0 {
            profile.framebuffer_mb = c.memory;
        }
        if c.max_instances > 0 {
            profile.max_per_gpu = Some(c.max_instances);
        }
        profile.source = "config";
    }
    profile
}

/// Every vGPU type the hosts in scope offer, one row per profile.
pub async fn profiles(fleet: &Fleet, scope: &Scope) -> OpResult<Vec<VgpuProfile>> {
    let hosts = inventory::scan(fleet, scope).await?;
    let mut rows = collect(&hosts, &fleet.config.pci_passthrough().gpu_profiles);
    rows.extend(super::sriov_profiles::partitions(&hosts));
    Ok(rows)
}

pub fn collect(
    hosts: &[HostPci],
    configured: &BTreeMap<String, Vec<GpuProfile>>,
) -> Vec<VgpuProfile> {
    let mut rows: BTreeMap<String, VgpuProfile> = BTreeMap::new();
    for host in hosts {
        for name in &host.shared_gpu_types {
            let row = rows
                .entry(name.clone())
                .or_insert_with(|| describe(name, configured));
            row.hosts.push(host.name.clone());
            for vm in &host.vms {
                let uses = vm
                    .devices
                    .iter()
                    .filter(
                        |d| matches!(&d.backing, VmBacking::Vgpu { profile } if profile == name),
                    )
                    .count();
                for _ in 0..uses {
                    row.used_by.push(vm.name.clone());
                }
            }
        }
    }
    let mut out: Vec<VgpuProfile> = rows.into_values().collect();
    // By GPU, then series, then size: the order operators read vendor tables in.
    out.sort_by(|a, b| {
        let key = |p: &VgpuProfile| {
            let parsed = parse_profile(&p.name);
            (
                parsed
                    .as_ref()
                    .map(|x| x.prefix.clone())
                    .unwrap_or_default(),
                parsed.as_ref().map(|x| x.slices.is_some()).unwrap_or(false),
                parsed.as_ref().map(|x| x.series).unwrap_or(' '),
                p.framebuffer_mb,
                p.name.clone(),
            )
        };
        key(a).cmp(&key(b))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_names_decode() {
        assert_eq!(
            parse_profile("grid_a100d-3-40c"),
            Some(ProfileName {
                prefix: "a100d".into(),
                slices: Some(3),
                framebuffer_gb: 40,
                series: 'c'
            })
        );
        let p = parse_profile("grid_rtxa6000-12q").unwrap();
        assert_eq!(
            (p.prefix.as_str(), p.slices, p.framebuffer_gb, p.series),
            ("rtxa6000", None, 12, 'q')
        );
        assert_eq!(parse_profile("nonsense"), None);
        assert_eq!(parse_profile("grid_a30-xc"), None);
    }

    #[test]
    fn descriptions_use_the_gpu_table_and_config() {
        let none = BTreeMap::new();
        let a30 = describe("grid_a30-4c", &none);
        assert_eq!(a30.max_per_gpu, Some(6));
        assert_eq!(a30.framebuffer_mb, 4096);
        assert!(a30.gpu.as_deref().unwrap_or_default().contains("A30"));
        let mig = describe("grid_a30-2-12c", &none);
        assert_eq!(mig.max_per_gpu, Some(2));
        let mut configured = BTreeMap::new();
        configured.insert(
            "nvidia".to_string(),
            vec![GpuProfile {
                name: "grid_a30-4c".into(),
                memory: 4000,
                max_instances: 5,
            }],
        );
        let c = describe("grid_a30-4c", &configured);
        assert_eq!(
            (c.framebuffer_mb, c.max_per_gpu, c.source),
            (4000, Some(5), "config")
        );
    }
}
