//! The precheck of a migration inside one vCenter, over facts read beforehand (pure; no
//! I/O). Each check is one line with its reason. ceso's own checks are of two kinds:
//! hard ones, which vSphere would refuse anyway (a host in maintenance mode, a datastore
//! or network the target cannot see, a passthrough device during vMotion), and advisory
//! ones (capacity within the overcommit ratios, DRS "should" rules), which `--force`
//! skips. The server's own compatibility results are never skipped.

use serde::Serialize;

use crate::ops::drs::{self, FindingKind, Snapshot};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// vSphere would refuse the move: never skipped.
    Required,
    /// ceso's judgement: `--force` skips it.
    Advisory,
    /// The server's CheckRelocate answer: never skipped.
    Server,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub kind: Kind,
    pub ok: bool,
    /// Skipped by `--force` (an advisory check that failed).
    pub forced: bool,
    pub reason: String,
}

impl Check {
    fn new(name: &'static str, kind: Kind, ok: bool, reason: String) -> Self {
        Self {
            name,
            kind,
            ok,
            forced: false,
            reason,
        }
    }

    /// Blocks the migration.
    pub fn blocks(&self) -> bool {
        !self.ok && !self.forced
    }

    /// `ok   host: …` / `FAIL datastore: …` / `skip memory: … (--force)`
    pub fn line(&self) -> String {
        let mark = match (self.ok, self.forced) {
            (true, _) => "ok  ",
            (false, true) => "skip",
            (false, false) => "FAIL",
        };
        let forced = if self.forced {
            " (skipped: --force)"
        } else {
            ""
        };
        format!("{mark} {}: {}{forced}", self.name, self.reason)
    }
}

/// What the checks know about a host.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct HostFacts {
    pub id: String,
    pub name: String,
    pub connection_state: String,
    pub maintenance: bool,
    pub datastores: Vec<String>,
    pub networks: Vec<String>,
    pub memory_mb: i64,
    pub cpu_threads: i64,
    /// vCPUs and memory (MB) of the powered-on VMs registered on it, the migrating VM excluded.
    pub running_cpus: i64,
    pub running_memory_mb: i64,
}

/// What the checks know about the VM.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct VmFacts {
    pub id: String,
    pub name: String,
    pub powered_on: bool,
    pub host_id: String,
    pub cpus: i64,
    pub memory_mb: i64,
    /// Datastores holding its files (names).
    pub datastores: Vec<String>,
    /// Networks of its NICs (names), after any --network-map.
    pub networks: Vec<String>,
    /// Passthrough and vGPU devices (labels).
    pub passthrough: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Ratios {
    pub cpu: f64,
    pub memory: f64,
}

impl Default for Ratios {
    /// The spec's defaults for `phase4.optimization.overcommit`.
    fn default() -> Self {
        Self {
            cpu: 2.0,
            memory: 1.5,
        }
    }
}

pub struct Input<'a> {
    pub vm: &'a VmFacts,
    pub target: &'a HostFacts,
    /// The datastore asked for (`--datastore`), else the VM stays on its own.
    pub datastore: Option<&'a str>,
    pub ratios: Ratios,
    /// The target's cluster rules, when the target host is in a cluster.
    pub drs: Option<&'a Snapshot>,
    pub force: bool,
    /// The VM is off while it moves (a cold migration), even if it runs before and after.
    pub cold: bool,
}

/// Every check, in a fixed order (cheap and decisive first).
pub fn run(input: &Input) -> Vec<Check> {
    let mut out = vec![host_state(input), datastore(input), networks(input)];
    if let Some(c) = passthrough(input) {
        out.push(c);
    }
    if input.vm.powered_on {
        out.extend(capacity(input));
    }
    out.extend(drs_rules(input));
    if input.force {
        for c in out.iter_mut() {
            if c.kind == Kind::Advisory && !c.ok {
                c.forced = true;
            }
        }
    }
    out
}

fn host_state(i: &Input) -> Check {
    let t = i.target;
    let (ok, reason) = if t.connection_state != "connected" {
        (false, format!("{} is {}", t.name, t.connection_state))
    } else if t.maintenance {
        (
            false,
            format!("{} is in maintenance mode; it takes no VMs", t.name),
        )
    } else {
        (true, format!("{} is connected", t.name))
    };
    Check::new("host", Kind::Required, ok, reason)
}

fn datastore(i: &Input) -> Check {
    let wanted: Vec<&str> = match i.datastore {
        Some(ds) => vec![ds],
        None => i.vm.datastores.iter().map(String::as_str).collect(),
    };
    let missing: Vec<&str> = wanted
        .iter()
        .copied()
        .filter(|ds| !i.target.datastores.iter().any(|d| d == ds))
        .collect();
    let (ok, reason) = if missing.is_empty() {
        (
            true,
            format!("{} visible from {}", wanted.join(", "), i.target.name),
        )
    } else {
        (
            false,
            format!(
                "{} not mounted on {} (it sees: {})",
                missing.join(", "),
                i.target.name,
                none_if_empty(&i.target.datastores)
            ),
        )
    };
    Check::new("datastore", Kind::Required, ok, reason)
}

fn networks(i: &Input) -> Check {
    let missing: Vec<&str> =
        i.vm.networks
            .iter()
            .map(String::as_str)
            .filter(|n| !i.target.networks.iter().any(|t| t == n))
            .collect();
    let (ok, reason) = if i.vm.networks.is_empty() {
        (true, "the VM has no network".to_string())
    } else if missing.is_empty() {
        (
            true,
            format!("{} present on {}", i.vm.networks.join(", "), i.target.name),
        )
    } else {
        (
            false,
            format!(
                "{} missing on {} (it has: {})",
                missing.join(", "),
                i.target.name,
                none_if_empty(&i.target.networks)
            ),
        )
    };
    Check::new("network", Kind::Required, ok, reason)
}

/// Passthrough and vGPU devices pin a running VM to its host's hardware: vMotion of
/// such a VM is refused by vSphere (DisallowedMigrationDeviceAttached).
fn passthrough(i: &Input) -> Option<Check> {
    if i.vm.passthrough.is_empty() || i.vm.host_id == i.target.id {
        return None;
    }
    Some(if i.vm.powered_on && !i.cold {
        Check::new(
            "passthrough",
            Kind::Required,
            false,
            format!(
                "{} blocks vMotion; power the VM off and migrate it cold",
                i.vm.passthrough.join(", ")
            ),
        )
    } else {
        Check::new(
            "passthrough",
            Kind::Advisory,
            true,
            format!(
                "{} moves with the VM powered off; the device must exist on {} to power on",
                i.vm.passthrough.join(", "),
                i.target.name
            ),
        )
    })
}

fn capacity(i: &Input) -> Vec<Check> {
    if i.vm.host_id == i.target.id {
        return Vec::new();
    }
    let t = i.target;
    let memory_limit = (t.memory_mb as f64 * i.ratios.memory) as i64;
    let memory_after = t.running_memory_mb + i.vm.memory_mb;
    let cpu_limit = (t.cpu_threads as f64 * i.ratios.cpu) as i64;
    let cpu_after = t.running_cpus + i.vm.cpus;
    vec![
        Check::new(
            "memory",
            Kind::Advisory,
            memory_after <= memory_limit,
            format!(
                "{memory_after} MB configured on {} after the move, limit {memory_limit} MB ({} MB x {})",
                t.name, t.memory_mb, i.ratios.memory
            ),
        ),
        Check::new(
            "cpu",
            Kind::Advisory,
            cpu_after <= cpu_limit,
            format!(
                "{cpu_after} vCPUs on {} after the move, limit {cpu_limit} ({} threads x {})",
                t.name, t.cpu_threads, i.ratios.cpu
            ),
        ),
    ]
}

/// The rules the move would break: the target cluster's rules checked with the VM
/// already on the target host, against the same check now. Only new violations
/// count; a "must" rule is required, a "should" rule advisory.
fn drs_rules(i: &Input) -> Vec<Check> {
    let Some(before) = i.drs else {
        return Vec::new();
    };
    if !i.vm.powered_on {
        return Vec::new();
    }
    let mut after = before.clone();
    match after.vms.iter_mut().find(|v| v.id == i.vm.id) {
        Some(v) => {
            v.host = Some(i.target.id.clone());
            v.powered_on = true;
        }
        None => after.vms.push(drs::model::VmFact {
            id: i.vm.id.clone(),
            name: i.vm.name.clone(),
            host: Some(i.target.id.clone()),
            powered_on: true,
            memory_mb: i.vm.memory_mb,
        }),
    }
    let existing = drs::check(before);
    let broken: Vec<drs::Finding> = drs::check(&after)
        .into_iter()
        .filter(|f| {
            f.kind == FindingKind::Violation
                && !existing
                    .iter()
                    .any(|e| e.kind == FindingKind::Violation && e.rules == f.rules)
        })
        .collect();
    if broken.is_empty() {
        let rules = before.rules.iter().filter(|r| r.enabled).count();
        return vec![Check::new(
            "drs",
            Kind::Advisory,
            true,
            format!("no rule of {} broken ({rules} enabled)", before.cluster),
        )];
    }
    broken
        .into_iter()
        .map(|f| {
            let mandatory = f
                .rules
                .iter()
                .any(|name| before.rule(name).is_some_and(|r| r.mandatory));
            let kind = if mandatory {
                Kind::Required
            } else {
                Kind::Advisory
            };
            Check::new("drs", kind, false, f.message)
        })
        .collect()
}

fn none_if_empty(items: &[String]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host() -> HostFacts {
        HostFacts {
            id: "host-2".into(),
            name: "esx2".into(),
            connection_state: "connected".into(),
            datastores: vec!["ds1".into()],
            networks: vec!["VM Network".into()],
            memory_mb: 4096,
            cpu_threads: 2,
            ..HostFacts::default()
        }
    }

    fn vm() -> VmFacts {
        VmFacts {
            id: "vm-1".into(),
            name: "web".into(),
            powered_on: true,
            host_id: "host-1".into(),
            cpus: 2,
            memory_mb: 1024,
            datastores: vec!["ds1".into()],
            networks: vec!["VM Network".into()],
            ..VmFacts::default()
        }
    }

    fn checks(vm: &VmFacts, target: &HostFacts, force: bool) -> Vec<Check> {
        run(&Input {
            vm,
            target,
            datastore: None,
            ratios: Ratios::default(),
            drs: None,
            force,
            cold: false,
        })
    }

    #[test]
    fn a_fit_passes_every_check() {
        assert!(checks(&vm(), &host(), false).iter().all(|c| c.ok));
    }

    #[test]
    fn each_failure_is_a_line_and_force_skips_only_advisory_ones() {
        let mut t = host();
        t.maintenance = true;
        t.networks.clear();
        t.running_memory_mb = 6000;
        let mut v = vm();
        v.passthrough = vec!["PCI device 0".into()];
        let all = checks(&v, &t, true);
        let failed: Vec<&str> = all.iter().filter(|c| !c.ok).map(|c| c.name).collect();
        assert_eq!(failed, ["host", "network", "passthrough", "memory"]);
        let blocking: Vec<&str> = all.iter().filter(|c| c.blocks()).map(|c| c.name).collect();
        assert_eq!(blocking, ["host", "network", "passthrough"]);
        assert!(
            all[0]
                .line()
                .starts_with("FAIL host: esx2 is in maintenance mode")
        );
    }
}
