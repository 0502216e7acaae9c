//! Clusters (vCenter only): finding one, what `cluster list/info` shows, and changing
//! DRS settings with ReconfigureComputeResource_Task carrying only the change.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;

use crate::vim::{self, Client, MoRef, ObjectContent, PropertySpec, Request};

use super::error::{OpError, OpResult, close_names};
use super::fleet::{Endpoint, Fleet, Scope, Target, WithEndpoint};
use super::progress::Progress;
use super::spec_diff::SpecDiff;

/// A cluster found on an endpoint.
#[derive(Clone)]
pub struct ClusterRef {
    pub endpoint: Arc<Endpoint>,
    pub moref: MoRef,
    pub name: String,
    pub datacenter: String,
}

/// Standalone ESXi has no clusters, DRS or vCenter objects: say so in one line.
pub fn require_vcenter(client: &Client, endpoint: &str) -> OpResult<()> {
    if client.content().is_vcenter() {
        return Ok(());
    }
    Err(OpError::refused(
        format!("{endpoint} is a standalone ESXi host: it has no clusters or DRS"),
        "connect to the vCenter that manages it (a `vcenter:` entry in the config, or --host NAME of it)",
    ))
}

const CLUSTER_PATHS: &[&str] = &[
    "parent",
    "host",
    "resourcePool",
    "configurationEx",
    "summary",
];
const HOST_PATHS: &[&str] = &[
    "parent",
    "summary.hardware.memorySize",
    "summary.hardware.cpuMhz",
    "summary.hardware.numCpuCores",
    "summary.quickStats.overallCpuUsage",
    "summary.quickStats.overallMemoryUsage",
    "runtime.connectionState",
    "runtime.inMaintenanceMode",
];
const VM_PATHS: &[&str] = &[
    "runtime.host",
    "runtime.powerState",
    "config.hardware.memoryMB",
    "resourcePool",
];

/// Clusters with their hosts and VMs, in one bulk read.
pub struct ClusterInventory {
    pub clusters: Vec<ObjectContent>,
    pub hosts: Vec<ObjectContent>,
    pub vms: Vec<ObjectContent>,
    /// Folders and datacenters: name and parent, to place a cluster in its datacenter.
    parents: HashMap<MoRef, (String, Option<MoRef>)>,
}

/// Folders and datacenters with what `datacenter_in` walks: read them with the objects
/// whose datacenter is wanted.
pub const ANCESTRY: [PropertySpec<'static>; 2] = [
    PropertySpec {
        kind: "Folder",
        paths: &["name", "parent"],
    },
    PropertySpec {
        kind: "Datacenter",
        paths: &["name", "parent"],
    },
];

/// The name of the datacenter above `parent`, walking `parents` (object → name and
/// parent); "" when the walk ends elsewhere. Bounded: a hostile server's cycle ends.
pub fn datacenter_in(
    parents: &HashMap<MoRef, (String, Option<MoRef>)>,
    parent: Option<MoRef>,
) -> String {
    let mut current = parent;
    for _ in 0..32 {
        let Some(moref) = current else { break };
        if moref.kind == "Datacenter" {
            return parents
                .get(&moref)
                .map(|(n, _)| n.clone())
                .unwrap_or_default();
        }
        current = parents.get(&moref).and_then(|(_, p)| p.clone());
    }
    String::new()
}

impl ClusterInventory {
    pub async fn read(client: &Client) -> Result<Self, vim::Error> {
        let with_name = |paths: &[&'static str]| {
            let mut all = vec!["name"];
            all.extend_from_slice(paths);
            all
        };
        let (c, h, v) = (
            with_name(CLUSTER_PATHS),
            with_name(HOST_PATHS),
            with_name(VM_PATHS),
        );
        let specs = [
            PropertySpec {
                kind: "ClusterComputeResource",
                paths: &c,
            },
            PropertySpec {
                kind: "HostSystem",
                paths: &h,
            },
            PropertySpec {
                kind: "VirtualMachine",
                paths: &v,
            },
            ANCESTRY[0],
            ANCESTRY[1],
        ];
        let all = client
            .collect_view(&client.content().root_folder, &specs)
            .await?;
        let mut inv = ClusterInventory {
            clusters: Vec::new(),
            hosts: Vec::new(),
            vms: Vec::new(),
            parents: HashMap::new(),
        };
        for o in all {
            match o.obj.kind.as_str() {
                "ClusterComputeResource" => inv.clusters.push(o),
                "HostSystem" => inv.hosts.push(o),
                "VirtualMachine" => inv.vms.push(o),
                _ => {
                    let name = o.str("name").unwrap_or_default().to_string();
                    inv.parents.insert(o.obj.clone(), (name, o.moref("parent")));
                }
            }
        }
        inv.clusters
            .sort_by(|a, b| a.str("name").cmp(&b.str("name")));
        Ok(inv)
    }

    /// The names of the endpoint's datacenters.
    pub fn datacenters(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .parents
            .iter()
            .filter(|(m, _)| m.kind == "Datacenter")
            .map(|(_, (name, _))| name.as_str())
            .collect();
        names.sort();
        names
    }

    /// The name of the datacenter holding `obj`.
    pub fn datacenter_of(&self, obj: &ObjectContent) -> String {
        datacenter_in(&self.parents, obj.moref("parent"))
    }

    pub fn hosts_of(&self, cluster: &ObjectContent) -> Vec<&ObjectContent> {
        let members = cluster.morefs("host");
        self.hosts
            .iter()
            .filter(|h| members.contains(&h.obj))
            .collect()
    }

    /// VMs registered on the cluster's hosts.
    pub fn vms_of(&self, cluster: &ObjectContent) -> Vec<&ObjectContent> {
        let members = cluster.morefs("host");
        self.vms
            .iter()
            .filter(|v| {
                v.moref("runtime.host")
                    .is_some_and(|h| members.contains(&h))
            })
            .collect()
    }

    /// The cluster called `wanted` (name, `DC/name` or moref id); without a name the
    /// endpoint's configured `cluster`, else the only cluster in its datacenter.
    pub fn find(&self, endpoint: &Endpoint, wanted: Option<&str>) -> OpResult<&ObjectContent> {
        let in_dc: Vec<&ObjectContent> = self
            .clusters
            .iter()
            .filter(|c| {
                endpoint
                    .spec
                    .datacenter
                    .as_deref()
                    .is_none_or(|dc| self.datacenter_of(c) == dc)
            })
            .collect();
        let wanted = wanted.or(endpoint.spec.cluster.as_deref());
        let Some(wanted) = wanted else {
            return match in_dc.as_slice() {
                [one] => Ok(one),
                [] => Err(OpError::NotFound {
                    kind: "cluster",
                    name: "(any)".into(),
                    suggestions: Vec::new(),
                }),
                many => Err(OpError::Invalid {
                    message: format!(
                        "{} has {} clusters: {}",
                        endpoint.name(),
                        many.len(),
                        many.iter()
                            .filter_map(|c| c.str("name"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    hint: Some(
                        "name one with --cluster, or set `cluster:` in the vcenter section of the config".into(),
                    ),
                }),
            };
        };
        let hits: Vec<&ObjectContent> = self
            .clusters
            .iter()
            .filter(|c| {
                let name = c.str("name").unwrap_or_default();
                name == wanted
                    || c.obj.value == wanted
                    || format!("{}/{name}", self.datacenter_of(c)) == wanted.trim_start_matches('/')
            })
            .collect();
        match hits.as_slice() {
            [one] => Ok(one),
            [] => Err(OpError::NotFound {
                kind: "cluster",
                name: wanted.to_string(),
                suggestions: close_names(
                    wanted,
                    self.clusters.iter().filter_map(|c| c.str("name")),
                ),
            }),
            many => Err(OpError::Ambiguous {
                kind: "cluster",
                name: wanted.to_string(),
                candidates: many
                    .iter()
                    .map(|c| {
                        format!(
                            "{}/{}",
                            self.datacenter_of(c),
                            c.str("name").unwrap_or_default()
                        )
                    })
                    .collect(),
            }),
        }
    }
}

/// Connect, refuse standalone ESXi, read the inventory and find the cluster.
pub async fn locate(
    target: &Target,
    wanted: Option<&str>,
) -> OpResult<(ClusterRef, ClusterInventory)> {
    let endpoint = target.endpoint.name().to_string();
    let client = target.endpoint.client().await?;
    require_vcenter(&client, &endpoint)?;
    let inv = ClusterInventory::read(&client).await.at(&endpoint)?;
    let found = inv.find(&target.endpoint, wanted)?;
    let cluster = ClusterRef {
        endpoint: target.endpoint.clone(),
        moref: found.obj.clone(),
        name: found.str("name").unwrap_or_default().to_string(),
        datacenter: inv.datacenter_of(found),
    };
    Ok((cluster, inv))
}

/// The DRS automation levels vSphere knows (`DrsBehavior`).
pub const AUTOMATION_LEVELS: &[&str] = &["manual", "partiallyAutomated", "fullyAutomated"];

/// What `cluster list/info` shows.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterInfo {
    pub name: String,
    pub endpoint: String,
    pub datacenter: String,
    pub id: String,
    pub hosts: Vec<String>,
    pub drs_enabled: bool,
    pub drs_automation: String,
    /// The vSphere Client's migration threshold: 1 (conservative) to 5 (aggressive).
    pub drs_threshold: i64,
    /// The API's `vmotionRate` (1 aggressive … 5 conservative): 6 - drs_threshold.
    pub vmotion_rate: i64,
    pub ha_enabled: bool,
    pub admission_control: bool,
    pub cpu_total_mhz: i64,
    pub cpu_used_mhz: i64,
    pub memory_total_mb: i64,
    pub memory_used_mb: i64,
    pub vms: usize,
    pub vms_powered_on: usize,
    pub rules: usize,
    pub groups: usize,
}

/// `vmotionRate` ↔ the Client's threshold (they run in opposite directions).
pub fn threshold_of_rate(rate: i64) -> i64 {
    6 - rate.clamp(1, 5)
}

fn info_of(endpoint: &str, inv: &ClusterInventory, c: &ObjectContent) -> ClusterInfo {
    let config = c.get("configurationEx");
    let drs = config.and_then(|n| n.child("drsConfig"));
    let das = config.and_then(|n| n.child("dasConfig"));
    let hosts = inv.hosts_of(c);
    let vms = inv.vms_of(c);
    let rate = drs.and_then(|d| d.i64_at("vmotionRate")).unwrap_or(3);
    let mut names: Vec<String> = hosts
        .iter()
        .filter_map(|h| h.str("name"))
        .map(str::to_string)
        .collect();
    names.sort();
    let sum = |path: &str| hosts.iter().filter_map(|h| h.i64(path)).sum::<i64>();
    ClusterInfo {
        name: c.str("name").unwrap_or_default().to_string(),
        endpoint: endpoint.to_string(),
        datacenter: inv.datacenter_of(c),
        id: c.obj.value.clone(),
        hosts: names,
        drs_enabled: drs.and_then(|d| d.bool_at("enabled")).unwrap_or(false),
        drs_automation: drs
            .and_then(|d| d.str_at("defaultVmBehavior"))
            .filter(|s| !s.is_empty())
            .unwrap_or("fullyAutomated")
            .to_string(),
        drs_threshold: threshold_of_rate(rate),
        vmotion_rate: rate,
        ha_enabled: das.and_then(|d| d.bool_at("enabled")).unwrap_or(false),
        admission_control: das
            .and_then(|d| d.bool_at("admissionControlEnabled"))
            .unwrap_or(false),
        cpu_total_mhz: hosts
            .iter()
            .map(|h| {
                h.i64("summary.hardware.cpuMhz").unwrap_or(0)
                    * h.i64("summary.hardware.numCpuCores").unwrap_or(0)
            })
            .sum(),
        cpu_used_mhz: sum("summary.quickStats.overallCpuUsage"),
        memory_total_mb: sum("summary.hardware.memorySize") / (1024 * 1024),
        memory_used_mb: sum("summary.quickStats.overallMemoryUsage"),
        vms: vms.len(),
        vms_powered_on: vms
            .iter()
            .filter(|v| v.str("runtime.powerState") == Some("poweredOn"))
            .count(),
        rules: config.map_or(0, |n| n.children_named("rule").count()),
        groups: config.map_or(0, |n| n.children_named("group").count()),
    }
}

/// Every cluster of the endpoints in scope. Standalone ESXi endpoints are refused
/// when named alone; with --all-hosts they simply have none.
pub async fn list(fleet: &Fleet, scope: &Scope) -> OpResult<Vec<ClusterInfo>> {
    let many = matches!(scope, Scope::All);
    fleet
        .gather(scope, |t| async move {
            let endpoint = t.endpoint.name().to_string();
            let client = t.endpoint.client().await?;
            if many && !client.content().is_vcenter() {
                return Ok(Vec::new());
            }
            require_vcenter(&client, &endpoint)?;
            let inv = ClusterInventory::read(&client).await.at(&endpoint)?;
            // `--dc` naming no datacenter is an error, not an empty list.
            if let Some(dc) = t.endpoint.spec.datacenter.as_deref()
                && !inv.datacenters().contains(&dc)
            {
                return Err(OpError::NotFound {
                    kind: "datacenter",
                    name: dc.to_string(),
                    suggestions: close_names(dc, inv.datacenters()),
                });
            }
            Ok(inv
                .clusters
                .iter()
                .filter(|c| {
                    t.endpoint
                        .spec
                        .datacenter
                        .as_deref()
                        .is_none_or(|dc| inv.datacenter_of(c) == dc)
                })
                .map(|c| info_of(&endpoint, &inv, c))
                .collect())
        })
        .await
}

pub async fn info(target: &Target, wanted: Option<&str>) -> OpResult<ClusterInfo> {
    let (cluster, inv) = locate(target, wanted).await?;
    let c = inv
        .clusters
        .iter()
        .find(|c| c.obj == cluster.moref)
        .ok_or_else(|| OpError::invalid("the cluster vanished while being read"))?;
    Ok(info_of(target.endpoint.name(), &inv, c))
}

/// `cluster update`: only what is given changes.
#[derive(Debug, Clone, Default)]
pub struct ClusterUpdate {
    pub drs: Option<bool>,
    pub automation: Option<String>,
    /// The Client's migration threshold, 1 to 5.
    pub threshold: Option<i64>,
}

impl ClusterUpdate {
    pub fn validate(&self) -> OpResult<()> {
        if let Some(level) = &self.automation
            && !AUTOMATION_LEVELS.contains(&level.as_str())
        {
            return Err(OpError::Invalid {
                message: format!("'{level}' is not a DRS automation level"),
                hint: Some(format!("use one of {}", AUTOMATION_LEVELS.join(", "))),
            });
        }
        if let Some(t) = self.threshold
            && !(1..=5).contains(&t)
        {
            return Err(OpError::Invalid {
                message: format!("DRS threshold {t} is out of range"),
                hint: Some("1 (conservative) to 5 (aggressive), as in the vSphere Client".into()),
            });
        }
        if self.drs.is_none() && self.automation.is_none() && self.threshold.is_none() {
            return Err(OpError::Invalid {
                message: "nothing to change".into(),
                hint: Some("give --drs, --drs-automation or --drs-threshold".into()),
            });
        }
        Ok(())
    }

    /// The change as a spec diff against the current settings.
    pub fn diff(&self, current: &ClusterInfo) -> SpecDiff {
        let mut d = SpecDiff::new("ReconfigureComputeResource_Task", &current.name, None);
        if let Some(on) = self.drs {
            d.edit(
                "drsConfig.enabled",
                current.drs_enabled.to_string(),
                on.to_string(),
            );
        }
        if let Some(level) = &self.automation {
            d.edit(
                "drsConfig.defaultVmBehavior",
                current.drs_automation.clone(),
                level.clone(),
            );
        }
        if let Some(t) = self.threshold {
            d.edit(
                "drsConfig.vmotionRate",
                current.vmotion_rate.to_string(),
                (6 - t).to_string(),
            );
        }
        d
    }
}

/// Apply a cluster update; returns what changed.
pub async fn update(
    target: &Target,
    wanted: Option<&str>,
    change: &ClusterUpdate,
    progress: &dyn Progress,
) -> OpResult<(ClusterInfo, SpecDiff)> {
    change.validate()?;
    let current = info(target, wanted).await?;
    let diff = change.diff(&current);
    if diff.is_empty() {
        return Ok((current, diff));
    }
    let cluster = ClusterRef {
        endpoint: target.endpoint.clone(),
        moref: MoRef::new("ClusterComputeResource", current.id.clone()),
        name: current.name.clone(),
        datacenter: current.datacenter.clone(),
    };
    reconfigure(
        &cluster,
        |r| {
            r.nest("drsConfig", None, |r| {
                // WSDL order: enabled, enableVmBehaviorOverrides, defaultVmBehavior, vmotionRate.
                r.opt_text("enabled", change.drs)
                    .opt_text("defaultVmBehavior", change.automation.as_deref())
                    .opt_text("vmotionRate", change.threshold.map(|t| 6 - t));
            });
        },
        &format!("Reconfiguring DRS of {}", cluster.name),
        progress,
    )
    .await?;
    let after = info(target, Some(&cluster.moref.value)).await?;
    Ok((after, diff))
}

/// ReconfigureComputeResource_Task with `modify: true` and a ClusterConfigSpecEx that
/// holds only what `fill` writes: the rest of the cluster's configuration stays.
pub async fn reconfigure(
    cluster: &ClusterRef,
    fill: impl FnOnce(&mut Request),
    step: &str,
    progress: &dyn Progress,
) -> OpResult<()> {
    let endpoint = cluster.endpoint.name().to_string();
    let client = cluster.endpoint.client().await?;
    let mut req = Request::new("ReconfigureComputeResource_Task", &cluster.moref);
    req.nest("spec", Some("ClusterConfigSpecEx"), fill);
    req.text("modify", true);
    progress.step(step);
    client
        .run_task(req, cluster.endpoint.timeouts().task, &|t| progress.task(t))
        .await
        .at(&endpoint)?;
    Ok(())
}
