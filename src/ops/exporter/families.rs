//! The exporter's metric families: names, help and labels in one place (documented in
//! docs/monitoring.md; keep them stable).

use crate::metrics::exposition::{Family, Labels};

use super::Outcome;
use super::collect::PerfValues;

/// Every family, always present (empty when no object has a value).
pub fn build(
    outcomes: &[Outcome],
    health: &dyn Fn(&str) -> (u64, Option<f64>),
    backup_age: &dyn Fn(&str, &str) -> Option<f64>,
    round_seconds: f64,
    rounds: u64,
) -> Vec<Family> {
    let mut up = Family::gauge(
        "ceso_endpoint_up",
        "1 when the endpoint answered the last collection, else 0.",
    );
    let mut duration = Family::gauge(
        "ceso_collection_duration_seconds",
        "Time the last collection of the endpoint took.",
    );
    let mut errors = Family::counter(
        "ceso_collection_errors",
        "Collections of the endpoint that failed since the exporter started.",
    );
    let mut last = Family::gauge(
        "ceso_collection_last_success_timestamp_seconds",
        "When the endpoint last answered a collection (Unix time).",
    );
    let mut round = Family::gauge(
        "ceso_collection_round_duration_seconds",
        "Time the last round over every endpoint took.",
    );
    let mut total = Family::counter(
        "ceso_collection_rounds",
        "Collection rounds since the exporter started.",
    );
    round.add(Labels::none(), round_seconds);
    total.add(Labels::none(), rounds as f64);

    let mut host = HostFamilies::new();
    let mut vm = VmFamilies::new();
    let mut ds = DatastoreFamilies::new();
    for o in outcomes {
        let e = Labels::new(&[("endpoint", &o.endpoint)]);
        let (failed, success) = health(&o.endpoint);
        up.add(e.clone(), if o.result.is_ok() { 1.0 } else { 0.0 });
        duration.add(e.clone(), o.seconds);
        errors.add(e.clone(), failed as f64);
        if let Some(t) = success {
            last.add(e.clone(), t);
        }
        let Ok(reading) = &o.result else { continue };
        for h in &reading.hosts {
            let labels = Labels::new(&[
                ("endpoint", &o.endpoint),
                ("datacenter", &h.datacenter),
                ("cluster", &h.cluster),
                ("host", &h.name),
            ]);
            host.connected.add(labels.clone(), bool01(h.connected));
            host.maintenance.add(labels.clone(), bool01(h.maintenance));
            opt(&mut host.cpu_capacity, &labels, h.cpu_capacity_hertz);
            opt(&mut host.memory_usage, &labels, h.memory_usage_bytes);
            opt(&mut host.memory_capacity, &labels, h.memory_capacity_bytes);
            // QueryPerf's sample when there is one (the same source as `ceso stats`),
            // else quickStats.
            opt(
                &mut host.perf.cpu_usage,
                &labels,
                h.perf.cpu_usage_hertz.or(h.cpu_usage_hertz),
            );
            host.perf.add_rest(&labels, &h.perf);
        }
        for v in &reading.vms {
            let labels = Labels::new(&[
                ("endpoint", &o.endpoint),
                ("datacenter", &v.datacenter),
                ("cluster", &v.cluster),
                ("host", &v.host),
                ("vm", &v.name),
            ]);
            vm.powered_on.add(labels.clone(), bool01(v.powered_on));
            vm.snapshots.add(labels.clone(), v.snapshots as f64);
            opt(&mut vm.oldest_snapshot, &labels, v.oldest_snapshot);
            opt(&mut vm.backup_age, &labels, backup_age(&o.endpoint, &v.id));
            opt(&mut vm.perf.cpu_usage, &labels, v.perf.cpu_usage_hertz);
            vm.perf.add_rest(&labels, &v.perf);
        }
        for d in &reading.datastores {
            let labels = Labels::new(&[
                ("endpoint", &o.endpoint),
                ("datacenter", &d.datacenter),
                ("datastore", &d.name),
            ]);
            opt(&mut ds.capacity, &labels, d.capacity_bytes);
            opt(&mut ds.free, &labels, d.free_bytes);
            opt(&mut ds.provisioned, &labels, d.provisioned_bytes);
        }
    }
    let mut out = vec![up, duration, errors, last, round, total];
    out.extend(host.into_families());
    out.extend(vm.into_families());
    out.extend([ds.capacity, ds.free, ds.provisioned]);
    out
}

fn bool01(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

fn opt(f: &mut Family, labels: &Labels, v: Option<f64>) {
    if let Some(v) = v {
        f.add(labels.clone(), v);
    }
}

/// The real-time counters hosts and VMs share, under `ceso_host_*` or `ceso_vm_*`.
struct PerfFamilies {
    cpu_usage: Family,
    cpu_ready: Family,
    memory_active: Family,
    memory_ballooned: Family,
    memory_swapped: Family,
    network: Family,
    disk_latency: Family,
}

macro_rules! perf_families {
    ($prefix:literal, $what:literal) => {
        PerfFamilies {
            cpu_usage: Family::gauge(
                concat!($prefix, "_cpu_usage_hertz"),
                concat!(
                    "CPU used by the ",
                    $what,
                    " (cpu.usagemhz.average, newest 20 s sample)."
                ),
            ),
            cpu_ready: Family::gauge(
                concat!($prefix, "_cpu_ready_ratio"),
                concat!(
                    "Share of the last 20 s the ",
                    $what,
                    "'s vCPUs were ready but not scheduled (cpu.ready.summation)."
                ),
            ),
            memory_active: Family::gauge(
                concat!($prefix, "_memory_active_bytes"),
                concat!("Memory the ", $what, " actively used (mem.active.average)."),
            ),
            memory_ballooned: Family::gauge(
                concat!($prefix, "_memory_ballooned_bytes"),
                concat!(
                    "Memory reclaimed by the balloon driver (mem.vmmemctl.average) on the ",
                    $what,
                    "."
                ),
            ),
            memory_swapped: Family::gauge(
                concat!($prefix, "_memory_swapped_bytes"),
                concat!(
                    "Memory swapped out (mem.swapped.average) on the ",
                    $what,
                    "."
                ),
            ),
            network: Family::gauge(
                concat!($prefix, "_network_usage_bytes_per_second"),
                concat!(
                    "Network traffic of the ",
                    $what,
                    ", both directions (net.usage.average)."
                ),
            ),
            disk_latency: Family::gauge(
                concat!($prefix, "_disk_latency_seconds"),
                concat!(
                    "Highest disk latency of the ",
                    $what,
                    " (disk.maxTotalLatency.latest)."
                ),
            ),
        }
    };
}

impl PerfFamilies {
    /// Everything but CPU usage (whose source differs between hosts and VMs).
    fn add_rest(&mut self, labels: &Labels, p: &PerfValues) {
        opt(&mut self.cpu_ready, labels, p.cpu_ready_ratio);
        opt(&mut self.memory_active, labels, p.memory_active_bytes);
        opt(&mut self.memory_ballooned, labels, p.memory_ballooned_bytes);
        opt(&mut self.memory_swapped, labels, p.memory_swapped_bytes);
        opt(&mut self.network, labels, p.network_bytes_per_second);
        opt(&mut self.disk_latency, labels, p.disk_latency_seconds);
    }

    fn into_families(self) -> [Family; 7] {
        [
            self.cpu_usage,
            self.cpu_ready,
            self.memory_active,
            self.memory_ballooned,
            self.memory_swapped,
            self.network,
            self.disk_latency,
        ]
    }
}

struct HostFamilies {
    connected: Family,
    maintenance: Family,
    cpu_capacity: Family,
    memory_usage: Family,
    memory_capacity: Family,
    perf: PerfFamilies,
}

impl HostFamilies {
    fn new() -> Self {
        HostFamilies {
            connected: Family::gauge(
                "ceso_host_connected",
                "1 when the host's connection state is connected.",
            ),
            maintenance: Family::gauge(
                "ceso_host_maintenance",
                "1 when the host is in maintenance mode.",
            ),
            cpu_capacity: Family::gauge(
                "ceso_host_cpu_capacity_hertz",
                "CPU capacity of the host (cores × clock).",
            ),
            memory_usage: Family::gauge(
                "ceso_host_memory_usage_bytes",
                "Memory in use on the host (quickStats).",
            ),
            memory_capacity: Family::gauge(
                "ceso_host_memory_capacity_bytes",
                "Physical memory of the host.",
            ),
            perf: perf_families!("ceso_host", "host"),
        }
    }

    fn into_families(self) -> Vec<Family> {
        let mut out = vec![
            self.connected,
            self.maintenance,
            self.cpu_capacity,
            self.memory_usage,
            self.memory_capacity,
        ];
        out.extend(self.perf.into_families());
        out
    }
}

struct VmFamilies {
    powered_on: Family,
    snapshots: Family,
    oldest_snapshot: Family,
    backup_age: Family,
    perf: PerfFamilies,
}

impl VmFamilies {
    fn new() -> Self {
        VmFamilies {
            powered_on: Family::gauge("ceso_vm_powered_on", "1 when the VM is powered on."),
            snapshots: Family::gauge("ceso_vm_snapshots", "Snapshots the VM has."),
            oldest_snapshot: Family::gauge(
                "ceso_vm_snapshot_oldest_timestamp_seconds",
                "Creation time of the VM's oldest snapshot (Unix time).",
            ),
            backup_age: Family::gauge(
                "ceso_vm_backup_age_seconds",
                "Time since the VM's newest backup in the local repository (absent: never backed up there).",
            ),
            perf: perf_families!("ceso_vm", "VM"),
        }
    }

    fn into_families(self) -> Vec<Family> {
        let mut out = vec![
            self.powered_on,
            self.snapshots,
            self.oldest_snapshot,
            self.backup_age,
        ];
        out.extend(self.perf.into_families());
        out
    }
}

struct DatastoreFamilies {
    capacity: Family,
    free: Family,
    provisioned: Family,
}

impl DatastoreFamilies {
    fn new() -> Self {
        DatastoreFamilies {
            capacity: Family::gauge(
                "ceso_datastore_capacity_bytes",
                "Capacity of the datastore.",
            ),
            free: Family::gauge("ceso_datastore_free_bytes", "Free space on the datastore."),
            provisioned: Family::gauge(
                "ceso_datastore_provisioned_bytes",
                "Space the datastore's files could take: used plus what thin disks may still grow.",
            ),
        }
    }
}
