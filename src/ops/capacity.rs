//! Capacity planning: each cluster's (or standalone host's) CPU and memory use over the
//! collector's daily history, fitted; headroom within the configured overcommit ratios;
//! days until use reaches capacity; the VMs growing fastest.

use std::collections::HashMap;

use chrono::Utc;
use serde::Serialize;

use crate::metrics::capacity::{self, Forecast, MIN_DAYS};
use crate::metrics::fit;
use crate::vim::{MoRef, ObjectContent, PropertySpec};

use super::error::OpResult;
use super::fleet::{Fleet, Scope, WithEndpoint};
use super::history::{HistoryQuery, Store};

#[derive(Debug, Clone)]
pub struct CapacityQuery {
    pub cluster: Option<String>,
    pub horizon_days: f64,
    pub top: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub generated: chrono::DateTime<Utc>,
    pub horizon_days: f64,
    pub overcommit: Overcommit,
    pub groups: Vec<Group>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Overcommit {
    pub cpu: f64,
    pub memory: f64,
}

/// A cluster, or a standalone host (its own compute resource).
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    pub endpoint: String,
    pub name: String,
    pub hosts: Vec<String>,
    /// Days of daily history the database holds for every host of the group.
    pub history_days: usize,
    /// Set when there is too little history to forecast.
    pub insufficient: Option<String>,
    pub resources: Vec<Resource>,
    pub top_vms: Vec<VmGrowth>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Resource {
    /// cpu or memory
    pub name: String,
    /// Physical capacity (MHz or MB).
    pub capacity: f64,
    pub capacity_unit: String,
    /// What `allocated` counts: "allocated" (vCPUs, configured VM memory) or
    /// "provisioned" (a datastore's space promised to its files).
    pub allocation: String,
    /// Allocated to VMs (vCPUs or MB of configured memory; GB provisioned on a datastore).
    pub allocated: f64,
    /// Physical cores or MB times the overcommit ratio; a datastore's capacity.
    pub allocatable: f64,
    /// The unit of `allocated`, `allocatable` and `headroom` (vCPUs, MB, GB).
    pub allocated_unit: String,
    /// allocatable − allocated; a datastore's free space (capacity − used).
    pub headroom: f64,
    /// What `headroom` is: "headroom" or "free".
    pub headroom_label: String,
    /// Daily use in percent of capacity (unix seconds, %).
    pub usage: Vec<(i64, f64)>,
    pub forecast: Option<Forecast>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VmGrowth {
    pub name: String,
    /// Consumed memory growth, MB per day.
    pub memory_mb_per_day: f64,
    pub cpu_mhz_per_day: f64,
}

fn overcommit(fleet: &Fleet) -> Overcommit {
    let o = fleet
        .config
        .config
        .phase4
        .as_ref()
        .and_then(|p| p.optimization.as_ref())
        .and_then(|o| o.overcommit.as_ref());
    Overcommit {
        cpu: o.map_or(2.0, |o| o.cpu),
        memory: o.map_or(1.5, |o| o.memory),
    }
}

fn daily(store: &Store, object: &str, counter: &str) -> OpResult<Vec<(i64, f64)>> {
    Ok(store
        .read(&HistoryQuery {
            object: object.to_string(),
            counter: counter.to_string(),
            tier: 86400,
            since: None,
        })?
        .into_iter()
        .find(|s| s.object == object)
        .map(|s| {
            s.samples
                .iter()
                .map(|p| (p.time.timestamp(), p.value))
                .collect()
        })
        .unwrap_or_default())
}

pub async fn report(
    fleet: &Fleet,
    scope: &Scope,
    store: &Store,
    q: &CapacityQuery,
) -> OpResult<Report> {
    let targets = fleet.targets(scope).await?;
    let now = Utc::now();
    let ratios = overcommit(fleet);
    let mut groups = Vec::new();
    for t in targets {
        let endpoint = t.endpoint.name().to_string();
        let client = t.endpoint.client().await?;
        let specs = [
            PropertySpec {
                kind: "HostSystem",
                paths: &[
                    "name",
                    "parent",
                    "summary.hardware.cpuMhz",
                    "summary.hardware.numCpuCores",
                    "summary.hardware.memorySize",
                    "datastore",
                ],
            },
            PropertySpec {
                kind: "Datastore",
                paths: &["name", "summary.capacity"],
            },
            PropertySpec {
                kind: "VirtualMachine",
                paths: &[
                    "name",
                    "runtime.host",
                    "config.hardware.numCPU",
                    "config.hardware.memoryMB",
                ],
            },
            PropertySpec {
                kind: "ComputeResource",
                paths: &["name", "host"],
            },
        ];
        let all = client
            .collect_view(&client.content().root_folder, &specs)
            .await
            .at(&endpoint)?;
        let hosts: HashMap<MoRef, &ObjectContent> = all
            .iter()
            .filter(|o| o.obj.kind == "HostSystem")
            .map(|o| (o.obj.clone(), o))
            .collect();
        let mut computes: Vec<&ObjectContent> = all
            .iter()
            .filter(|o| o.obj.kind.ends_with("ComputeResource"))
            .filter(|o| {
                q.cluster
                    .as_deref()
                    .is_none_or(|c| o.str("name") == Some(c))
            })
            .filter(|o| {
                t.host.is_none()
                    || o.morefs("host")
                        .iter()
                        .any(|h| hosts.get(h).and_then(|h| h.str("name")) == t.host.as_deref())
            })
            .collect();
        computes.sort_by_key(|c| c.str("name").map(str::to_string));
        for c in computes {
            let members: Vec<&ObjectContent> = c
                .morefs("host")
                .iter()
                .filter_map(|h| hosts.get(h).copied())
                .collect();
            if members.is_empty() {
                continue;
            }
            let vms: Vec<&ObjectContent> = all
                .iter()
                .filter(|o| o.obj.kind == "VirtualMachine")
                .filter(|v| {
                    v.moref("runtime.host")
                        .is_some_and(|h| members.iter().any(|m| m.obj == h))
                })
                .collect();
            let mut mounted: Vec<&ObjectContent> = all
                .iter()
                .filter(|o| o.obj.kind == "Datastore")
                .filter(|d| {
                    members
                        .iter()
                        .any(|m| m.morefs("datastore").contains(&d.obj))
                })
                .collect();
            mounted.sort_by_key(|d| d.str("name").map(str::to_string));
            let mut g = group(
                store,
                &endpoint,
                c,
                &members,
                &vms,
                ratios,
                now.timestamp(),
                q,
            )?;
            for d in mounted {
                g.resources.push(datastore(store, d, now.timestamp(), q)?);
            }
            groups.push(g);
        }
    }
    Ok(Report {
        generated: now,
        horizon_days: q.horizon_days,
        overcommit: ratios,
        groups,
    })
}

#[allow(clippy::too_many_arguments)]
fn group(
    store: &Store,
    endpoint: &str,
    compute: &ObjectContent,
    members: &[&ObjectContent],
    vms: &[&ObjectContent],
    ratios: Overcommit,
    now: i64,
    q: &CapacityQuery,
) -> OpResult<Group> {
    let host_names: Vec<String> = members
        .iter()
        .map(|h| h.str("name").unwrap_or_default().to_string())
        .collect();
    let num = |o: &ObjectContent, p: &str| o.i64(p).unwrap_or(0) as f64;
    let cpu_cap: Vec<f64> = members
        .iter()
        .map(|h| num(h, "summary.hardware.cpuMhz") * num(h, "summary.hardware.numCpuCores"))
        .collect();
    let mem_cap: Vec<f64> = members
        .iter()
        .map(|h| num(h, "summary.hardware.memorySize") / 1048576.0)
        .collect();
    let cores: f64 = members
        .iter()
        .map(|h| num(h, "summary.hardware.numCpuCores"))
        .sum();
    let vcpus: f64 = vms.iter().map(|v| num(v, "config.hardware.numCPU")).sum();
    let vram: f64 = vms.iter().map(|v| num(v, "config.hardware.memoryMB")).sum();

    let mut resources = Vec::new();
    let mut history_days = usize::MAX;
    for (name, counter, caps, allocated, allocatable, cap_unit, alloc_unit) in [
        (
            "cpu",
            "cpu.usage.average",
            &cpu_cap,
            vcpus,
            cores * ratios.cpu,
            "MHz",
            "vCPUs",
        ),
        (
            "memory",
            "mem.usage.average",
            &mem_cap,
            vram,
            mem_cap.iter().sum::<f64>() * ratios.memory,
            "MB",
            "MB",
        ),
    ] {
        let mut per_host = Vec::new();
        for (h, cap) in host_names.iter().zip(caps.iter()) {
            per_host.push((*cap, daily(store, h, counter)?));
        }
        let usage = capacity::weighted_by_time(&per_host);
        history_days = history_days.min(usage.len());
        resources.push(Resource {
            name: name.into(),
            capacity: caps.iter().sum(),
            capacity_unit: cap_unit.into(),
            allocation: "allocated".into(),
            allocated,
            allocatable,
            allocated_unit: alloc_unit.into(),
            headroom: allocatable - allocated,
            headroom_label: "headroom".into(),
            forecast: capacity::forecast(&usage, 100.0, now, q.horizon_days),
            usage,
        });
    }
    let insufficient = (history_days < MIN_DAYS).then(|| {
        format!(
            "{history_days} day(s) of daily history for {}; a forecast needs {MIN_DAYS} (`ceso stats collect --backfill 30d` fetches the server's)",
            compute.str("name").unwrap_or_default()
        )
    });
    let mut top_vms = Vec::new();
    for v in vms {
        let name = v.str("name").unwrap_or_default();
        let slope = |counter: &str, scale: f64| -> OpResult<f64> {
            let pts = daily(store, name, counter)?;
            Ok(fit::fit(&pts).map_or(0.0, |t| t.slope * scale))
        };
        top_vms.push(VmGrowth {
            name: name.to_string(),
            memory_mb_per_day: slope("mem.consumed.average", 1.0 / 1024.0)?,
            cpu_mhz_per_day: slope("cpu.usagemhz.average", 1.0)?,
        });
    }
    top_vms.sort_by(|a, b| b.memory_mb_per_day.total_cmp(&a.memory_mb_per_day));
    top_vms.truncate(q.top);
    Ok(Group {
        endpoint: endpoint.to_string(),
        name: compute.str("name").unwrap_or_default().to_string(),
        hosts: host_names,
        history_days,
        insufficient,
        resources,
        top_vms,
    })
}

/// A datastore's space: daily `disk.used.latest` against `disk.capacity.latest` (or the
/// summary's capacity where the server keeps no capacity series).
fn datastore(store: &Store, d: &ObjectContent, now: i64, q: &CapacityQuery) -> OpResult<Resource> {
    let name = d.str("name").unwrap_or_default();
    let summary_kb = d.i64("summary.capacity").unwrap_or(0) as f64 / 1024.0;
    let used = daily(store, name, "disk.used.latest")?;
    let capacity: HashMap<i64, f64> = daily(store, name, "disk.capacity.latest")?
        .into_iter()
        .collect();
    let provisioned = daily(store, name, "disk.provisioned.latest")?;
    let usage: Vec<(i64, f64)> = used
        .iter()
        .filter_map(|(ts, kb)| {
            let cap = capacity
                .get(ts)
                .copied()
                .filter(|c| *c > 0.0)
                .unwrap_or(summary_kb);
            (cap > 0.0).then(|| (*ts, kb / cap * 100.0))
        })
        .collect();
    let gb = |kb: f64| kb / 1048576.0;
    let cap_kb = capacity.values().copied().last().unwrap_or(summary_kb);
    let cap_kb = used
        .last()
        .and_then(|(ts, _)| capacity.get(ts).copied())
        .unwrap_or(cap_kb);
    let used_now = used.last().map_or(0.0, |p| p.1);
    Ok(Resource {
        name: format!("datastore {name}"),
        capacity: gb(cap_kb),
        capacity_unit: "GB".into(),
        allocation: "provisioned".into(),
        allocated: gb(provisioned.last().map_or(used_now, |p| p.1)),
        allocatable: gb(cap_kb),
        allocated_unit: "GB".into(),
        headroom: gb(cap_kb - used_now),
        headroom_label: "free".into(),
        forecast: capacity::forecast(&usage, 100.0, now, q.horizon_days),
        usage,
    })
}
