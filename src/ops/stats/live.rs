//! The newest real-time sample of hosts and VMs, for `ceso monitor`: one QueryPerf per
//! endpoint with maxSample 1.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::ops::error::{OpError, OpResult};
use crate::ops::fleet::{Fleet, Scope, Target, WithEndpoint};
use crate::vim::PropertySpec;

use super::{Catalog, Subject, query, to_series};

/// CPU %, memory %, network KBps, disk latency ms.
pub const LIVE_COUNTERS: [&str; 4] = [
    "cpu.usage.average",
    "mem.usage.average",
    "net.usage.average",
    "disk.maxTotalLatency.latest",
];

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub endpoint: String,
    pub name: String,
    /// host or vm
    pub kind: &'static str,
    pub time: Option<DateTime<Utc>>,
    pub cpu_pct: Option<f64>,
    pub mem_pct: Option<f64>,
    pub net_kbps: Option<f64>,
    pub disk_ms: Option<f64>,
}

/// What to watch: a glob over host and VM names, or a cluster's hosts and their VMs.
#[derive(Debug, Clone, Default)]
pub struct Watch {
    pub pattern: Option<String>,
    pub cluster: Option<String>,
}

pub async fn sample(fleet: &Fleet, scope: &Scope, watch: &Watch) -> OpResult<Vec<Row>> {
    fleet
        .gather(scope, |t| async move { sample_target(&t, watch).await })
        .await
}

async fn watched(target: &Target, watch: &Watch) -> OpResult<Vec<Subject>> {
    let endpoint = target.endpoint.name().to_string();
    let client = target.endpoint.client().await?;
    let all = client
        .collect_view(
            &client.content().root_folder,
            &[
                PropertySpec {
                    kind: "HostSystem",
                    paths: &["name"],
                },
                PropertySpec {
                    kind: "VirtualMachine",
                    paths: &["name", "runtime.host"],
                },
                PropertySpec {
                    kind: "ClusterComputeResource",
                    paths: &["name", "host"],
                },
            ],
        )
        .await
        .at(&endpoint)?;
    let members = match &watch.cluster {
        None => None,
        Some(name) => Some(
            all.iter()
                .find(|o| o.obj.kind == "ClusterComputeResource" && o.str("name") == Some(name))
                .map(|c| c.morefs("host"))
                .ok_or_else(|| OpError::NotFound {
                    kind: "cluster",
                    name: name.clone(),
                    suggestions: Vec::new(),
                })?,
        ),
    };
    let glob = watch
        .pattern
        .as_deref()
        .map(glob::Pattern::new)
        .transpose()
        .map_err(|e| OpError::invalid(format!("not a valid glob pattern: {e}")))?;
    let host_name = |h: &crate::vim::MoRef| {
        all.iter()
            .find(|o| &o.obj == h)
            .and_then(|o| o.str("name"))
            .map(str::to_string)
    };
    Ok(all
        .iter()
        .filter(|o| o.obj.kind != "ClusterComputeResource")
        .filter(|o| {
            let host = if o.obj.kind == "HostSystem" {
                Some(o.obj.clone())
            } else {
                o.moref("runtime.host")
            };
            let in_cluster = members
                .as_ref()
                .is_none_or(|m| host.as_ref().is_some_and(|h| m.contains(h)));
            let on_host = target
                .host
                .as_deref()
                .is_none_or(|want| host.as_ref().and_then(host_name).as_deref() == Some(want));
            let named = glob
                .as_ref()
                .is_none_or(|g| o.str("name").is_some_and(|n| g.matches(n)));
            in_cluster && on_host && named
        })
        .map(|o| Subject {
            endpoint: endpoint.clone(),
            name: o.str("name").unwrap_or_default().to_string(),
            kind: o.obj.kind.clone(),
            moref: o.obj.clone(),
        })
        .collect())
}

async fn sample_target(target: &Target, watch: &Watch) -> OpResult<Vec<Row>> {
    let endpoint = target.endpoint.name().to_string();
    let client = target.endpoint.client().await?;
    let catalog = Catalog::read(&client).await.at(&endpoint)?;
    let counters: Vec<i64> = LIVE_COUNTERS
        .iter()
        .filter_map(|n| catalog.find(n).ok().map(|c| c.key))
        .collect();
    let subjects = watched(target, watch).await?;
    let Some(pm) = catalog.perf_manager.as_ref() else {
        return Ok(Vec::new());
    };
    let specs: Vec<query::Spec> = subjects
        .iter()
        .map(|s| query::Spec {
            entity: &s.moref,
            counters: &counters,
            interval: 20,
            start: None,
            end: None,
            max_sample: Some(1),
        })
        .collect();
    let (answers, _) = query::query(&client, pm, &specs).await.at(&endpoint)?;
    let series = to_series(&catalog, &subjects, &answers);
    Ok(subjects
        .iter()
        .map(|s| {
            let last = |counter: &str| {
                series
                    .iter()
                    .find(|x| x.object == s.name && x.kind == s.kind && x.counter == counter)
                    .and_then(|x| x.samples.last().copied())
            };
            Row {
                endpoint: endpoint.clone(),
                name: s.name.clone(),
                kind: if s.kind == "HostSystem" { "host" } else { "vm" },
                time: last(LIVE_COUNTERS[0]).map(|p| p.time),
                cpu_pct: last(LIVE_COUNTERS[0]).map(|p| p.value),
                mem_pct: last(LIVE_COUNTERS[1]).map(|p| p.value),
                net_kbps: last(LIVE_COUNTERS[2]).map(|p| p.value),
                disk_ms: last(LIVE_COUNTERS[3]).map(|p| p.value),
            }
        })
        .collect())
}
