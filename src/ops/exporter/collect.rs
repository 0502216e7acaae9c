//! One collection round of one endpoint: a property read of hosts, VMs, clusters and
//! datastores, and one QueryPerf (the newest real-time sample) for hosts and VMs.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::ops::clusters::{ANCESTRY, datacenter_in};
use crate::ops::error::OpResult;
use crate::ops::fleet::{Endpoint, WithEndpoint};
use crate::ops::snapshots::tree;
use crate::ops::stats::{Catalog, query};
use crate::vim::{MoRef, ObjectContent, PropertySpec};

/// Real-time counters read for hosts and VMs, in the server's raw units.
pub const PERF_COUNTERS: [&str; 7] = [
    "cpu.usagemhz.average",
    "cpu.ready.summation",
    "mem.active.average",
    "mem.vmmemctl.average",
    "mem.swapped.average",
    "net.usage.average",
    "disk.maxTotalLatency.latest",
];

/// What one endpoint answered, in base units (hertz, bytes, seconds, ratios).
#[derive(Debug, Clone, Default)]
pub struct Reading {
    pub hosts: Vec<HostReading>,
    pub vms: Vec<VmReading>,
    pub datastores: Vec<DatastoreReading>,
}

#[derive(Debug, Clone, Default)]
pub struct HostReading {
    pub name: String,
    pub datacenter: String,
    pub cluster: String,
    pub connected: bool,
    pub maintenance: bool,
    pub cpu_usage_hertz: Option<f64>,
    pub cpu_capacity_hertz: Option<f64>,
    pub memory_usage_bytes: Option<f64>,
    pub memory_capacity_bytes: Option<f64>,
    pub perf: PerfValues,
}

#[derive(Debug, Clone, Default)]
pub struct VmReading {
    pub name: String,
    /// The managed object id (`vm-42`): what backups record, stable across renames.
    pub id: String,
    pub datacenter: String,
    pub host: String,
    pub cluster: String,
    pub powered_on: bool,
    pub snapshots: usize,
    /// Unix seconds of the oldest snapshot's creation.
    pub oldest_snapshot: Option<f64>,
    pub perf: PerfValues,
}

/// The newest real-time sample of each counter, converted to base units.
#[derive(Debug, Clone, Default)]
pub struct PerfValues {
    pub cpu_usage_hertz: Option<f64>,
    pub cpu_ready_ratio: Option<f64>,
    pub memory_active_bytes: Option<f64>,
    pub memory_ballooned_bytes: Option<f64>,
    pub memory_swapped_bytes: Option<f64>,
    pub network_bytes_per_second: Option<f64>,
    pub disk_latency_seconds: Option<f64>,
}

#[derive(Debug, Clone, Default)]
pub struct DatastoreReading {
    pub name: String,
    pub datacenter: String,
    pub capacity_bytes: Option<f64>,
    pub free_bytes: Option<f64>,
    /// Capacity − free + uncommitted: what the thin disks could grow to.
    pub provisioned_bytes: Option<f64>,
}

/// One endpoint's reading. `catalog` is the counter catalog of an earlier round (it
/// changes only with the server's version); without one it is read, and either way
/// the one used is returned for the next round.
pub async fn read(
    endpoint: &Endpoint,
    catalog: Option<Arc<Catalog>>,
) -> OpResult<(Reading, Arc<Catalog>)> {
    let name = endpoint.name().to_string();
    let client = endpoint.client().await?;
    let objects = client
        .collect_view(
            &client.content().root_folder,
            &[
                PropertySpec {
                    kind: "HostSystem",
                    paths: &[
                        "name",
                        "parent",
                        "runtime.connectionState",
                        "runtime.inMaintenanceMode",
                        "summary.quickStats.overallCpuUsage",
                        "summary.quickStats.overallMemoryUsage",
                        "summary.hardware.cpuMhz",
                        "summary.hardware.numCpuCores",
                        "summary.hardware.memorySize",
                    ],
                },
                PropertySpec {
                    kind: "VirtualMachine",
                    paths: &["name", "runtime.host", "runtime.powerState", "snapshot"],
                },
                PropertySpec {
                    kind: "ClusterComputeResource",
                    paths: &["name", "parent"],
                },
                // The way up from a host or datastore to its datacenter.
                PropertySpec {
                    kind: "ComputeResource",
                    paths: &["name", "parent"],
                },
                ANCESTRY[0],
                ANCESTRY[1],
                PropertySpec {
                    kind: "Datastore",
                    paths: &[
                        "name",
                        "parent",
                        "summary.capacity",
                        "summary.freeSpace",
                        "summary.uncommitted",
                    ],
                },
            ],
        )
        .await
        .at(&name)?;
    let of = |kind: &'static str| objects.iter().filter(move |o| o.obj.kind == kind);
    let clusters: HashMap<&MoRef, &str> = of("ClusterComputeResource")
        .map(|c| (&c.obj, c.str("name").unwrap_or_default()))
        .collect();
    let parents: HashMap<MoRef, (String, Option<MoRef>)> = objects
        .iter()
        .filter(|o| {
            matches!(
                o.obj.kind.as_str(),
                "Folder" | "Datacenter" | "ComputeResource" | "ClusterComputeResource"
            )
        })
        .map(|o| {
            let name = o.str("name").unwrap_or_default().to_string();
            (o.obj.clone(), (name, o.moref("parent")))
        })
        .collect();
    let host_of: HashMap<&MoRef, (&str, &str, String)> = of("HostSystem")
        .map(|h| {
            let cluster = h
                .get("parent")
                .and_then(|p| p.as_moref())
                .and_then(|p| clusters.get(&p).copied())
                .unwrap_or_default();
            let datacenter = datacenter_in(&parents, h.moref("parent"));
            (
                &h.obj,
                (h.str("name").unwrap_or_default(), cluster, datacenter),
            )
        })
        .collect();

    let (perf, catalog) = perf_values(endpoint, &objects, catalog).await?;
    let perf_of = |o: &ObjectContent| perf.get(&o.obj).cloned().unwrap_or_default();
    let f = |o: &ObjectContent, path: &str| o.i64(path).map(|v| v as f64);

    let hosts = of("HostSystem")
        .map(|h| {
            let (host, cluster, datacenter) = host_of.get(&h.obj).cloned().unwrap_or_default();
            let mhz = |path| f(h, path).map(|v| v * 1e6);
            HostReading {
                name: host.to_string(),
                datacenter,
                cluster: cluster.to_string(),
                connected: h.str("runtime.connectionState") == Some("connected"),
                maintenance: h.bool("runtime.inMaintenanceMode") == Some(true),
                cpu_usage_hertz: mhz("summary.quickStats.overallCpuUsage"),
                cpu_capacity_hertz: mhz("summary.hardware.cpuMhz")
                    .zip(f(h, "summary.hardware.numCpuCores"))
                    .map(|(hz, cores)| hz * cores),
                memory_usage_bytes: f(h, "summary.quickStats.overallMemoryUsage")
                    .map(|mb| mb * 1024.0 * 1024.0),
                memory_capacity_bytes: f(h, "summary.hardware.memorySize"),
                perf: perf_of(h),
            }
        })
        .collect();
    let vms = of("VirtualMachine")
        .map(|v| {
            let (host, cluster, datacenter) = v
                .moref("runtime.host")
                .and_then(|h| host_of.get(&h).cloned())
                .unwrap_or_default();
            let snapshots = tree::decode(v.get("snapshot"));
            VmReading {
                name: v.str("name").unwrap_or_default().to_string(),
                id: v.obj.value.clone(),
                datacenter,
                host: host.to_string(),
                cluster: cluster.to_string(),
                powered_on: v.str("runtime.powerState") == Some("poweredOn"),
                snapshots: snapshots.len(),
                oldest_snapshot: snapshots
                    .iter()
                    .filter_map(|s| DateTime::parse_from_rfc3339(&s.created).ok())
                    .map(|t| t.with_timezone(&Utc).timestamp() as f64)
                    .reduce(f64::min),
                perf: perf_of(v),
            }
        })
        .collect();
    let datastores = of("Datastore")
        .map(|d| {
            let capacity = f(d, "summary.capacity");
            let free = f(d, "summary.freeSpace");
            DatastoreReading {
                name: d.str("name").unwrap_or_default().to_string(),
                datacenter: datacenter_in(&parents, d.moref("parent")),
                capacity_bytes: capacity,
                free_bytes: free,
                provisioned_bytes: capacity
                    .zip(free)
                    .map(|(c, fr)| c - fr + f(d, "summary.uncommitted").unwrap_or(0.0)),
            }
        })
        .collect();
    Ok((
        Reading {
            hosts,
            vms,
            datastores,
        },
        catalog,
    ))
}

/// One QueryPerf for every host and VM: the newest 20 s sample of PERF_COUNTERS.
async fn perf_values(
    endpoint: &Endpoint,
    objects: &[ObjectContent],
    cached: Option<Arc<Catalog>>,
) -> OpResult<(HashMap<MoRef, PerfValues>, Arc<Catalog>)> {
    let name = endpoint.name().to_string();
    let client = endpoint.client().await?;
    let catalog = match cached {
        Some(c) => c,
        None => Arc::new(Catalog::read(&client).await.at(&name)?),
    };
    let Some(pm) = catalog.perf_manager.as_ref() else {
        return Ok((HashMap::new(), catalog));
    };
    let keys: Vec<i64> = PERF_COUNTERS
        .iter()
        .filter_map(|n| catalog.find(n).ok().map(|c| c.key))
        .collect();
    let specs: Vec<query::Spec> = objects
        .iter()
        .filter(|o| {
            o.obj.kind == "HostSystem"
                || (o.obj.kind == "VirtualMachine"
                    && o.str("runtime.powerState") == Some("poweredOn"))
        })
        .map(|o| query::Spec {
            entity: &o.obj,
            counters: &keys,
            interval: 20,
            start: None,
            end: None,
            max_sample: Some(1),
        })
        .collect();
    let (answers, _) = query::query(&client, pm, &specs).await.at(&name)?;
    Ok((newest(&catalog, answers), catalog))
}

/// The newest sample of each counter per object, in base units. Each answer names its
/// object (two VMs may share a name): no series per sample, no lookup by name.
fn newest(catalog: &Catalog, answers: Vec<query::EntityMetrics>) -> HashMap<MoRef, PerfValues> {
    let mut out: HashMap<MoRef, PerfValues> = HashMap::with_capacity(answers.len());
    for answer in answers {
        let p = out.entry(answer.entity).or_default();
        for raw in &answer.series {
            // The aggregate ("" instance) only: per-CPU or per-disk instances would add up.
            if !raw.instance.is_empty() {
                continue;
            }
            let Some(counter) = catalog.by_key(raw.counter) else {
                continue;
            };
            // The newest sample that has a value (-1: none for that sample).
            let Some(last) = answer
                .timestamps
                .iter()
                .zip(&raw.values)
                .rfind(|(_, v)| **v >= 0)
                .map(|(_, v)| counter.convert(*v))
            else {
                continue;
            };
            match counter.name.as_str() {
                "cpu.usagemhz.average" => p.cpu_usage_hertz = Some(last * 1e6),
                // Milliseconds ready during the 20 s sample.
                "cpu.ready.summation" => p.cpu_ready_ratio = Some(last / 20_000.0),
                "mem.active.average" => p.memory_active_bytes = Some(last * 1024.0),
                "mem.vmmemctl.average" => p.memory_ballooned_bytes = Some(last * 1024.0),
                "mem.swapped.average" => p.memory_swapped_bytes = Some(last * 1024.0),
                "net.usage.average" => p.network_bytes_per_second = Some(last * 1024.0),
                "disk.maxTotalLatency.latest" => p.disk_latency_seconds = Some(last / 1000.0),
                _ => {}
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::ops::stats::Counter;
    use crate::ops::stats::query::{EntityMetrics, RawSeries};

    fn answer(vm: &str, series: Vec<(i64, &str, Vec<i64>)>) -> EntityMetrics {
        let t = |s: i64| Utc.timestamp_opt(1_700_000_000 + s, 0).unwrap();
        EntityMetrics {
            entity: MoRef::new("VirtualMachine", vm),
            timestamps: vec![t(0), t(20)],
            interval: 20,
            series: series
                .into_iter()
                .map(|(counter, instance, values)| RawSeries {
                    counter,
                    instance: instance.into(),
                    values,
                })
                .collect(),
        }
    }

    #[test]
    fn each_vm_gets_its_own_newest_values_in_base_units() {
        let mut catalog = Catalog::default();
        for (key, name, unit) in [
            (1, "cpu.usagemhz.average", "megaHertz"),
            (2, "mem.active.average", "kiloBytes"),
            (3, "cpu.ready.summation", "millisecond"),
        ] {
            catalog.add(Counter {
                key,
                name: name.into(),
                unit: unit.into(),
                stats_type: "absolute".into(),
            });
        }
        // Two VMs (they may share a name: the answer names the object, not the name).
        let values = newest(
            &catalog,
            vec![
                answer(
                    "vm-1",
                    vec![
                        (1, "", vec![100, 250]),
                        // A per-CPU instance would count the VM's CPU twice.
                        (1, "0", vec![900, 900]),
                        // -1: no value in the newest sample; the one before stands.
                        (2, "", vec![2048, -1]),
                    ],
                ),
                answer("vm-2", vec![(1, "", vec![5, 7]), (3, "", vec![0, 1000])]),
            ],
        );
        let one = &values[&MoRef::new("VirtualMachine", "vm-1")];
        assert_eq!(one.cpu_usage_hertz, Some(250e6));
        assert_eq!(one.memory_active_bytes, Some(2048.0 * 1024.0));
        assert_eq!(one.cpu_ready_ratio, None);
        let two = &values[&MoRef::new("VirtualMachine", "vm-2")];
        assert_eq!(two.cpu_usage_hertz, Some(7e6));
        assert_eq!(two.cpu_ready_ratio, Some(0.05));
    }
}
