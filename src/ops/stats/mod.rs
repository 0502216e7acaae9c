//! Performance statistics from the PerformanceManager: counters by name, one QueryPerf
//! per endpoint for every object asked, values in the units people read.

pub mod counters;
pub mod live;
pub mod query;

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::vim::{Client, MoRef, ObjectContent, PropertySpec};

use super::error::{OpError, OpResult, close_names};
use super::fleet::{Fleet, Scope, Target, WithEndpoint};

pub use counters::{Catalog, Counter, DATASTORE_COUNTERS, DEFAULT_COUNTERS};

/// An object statistics are read for.
#[derive(Debug, Clone, Serialize)]
pub struct Subject {
    pub endpoint: String,
    pub name: String,
    /// HostSystem, VirtualMachine, ClusterComputeResource, Datastore
    pub kind: String,
    #[serde(skip)]
    pub moref: MoRef,
}

impl Subject {
    /// vSphere keeps real-time (20 s) statistics for hosts and VMs only.
    pub fn has_realtime(&self) -> bool {
        matches!(self.kind.as_str(), "HostSystem" | "VirtualMachine")
    }
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Sample {
    pub time: DateTime<Utc>,
    pub value: f64,
}

/// One counter of one object over time, converted.
#[derive(Debug, Clone, Serialize)]
pub struct Series {
    pub endpoint: String,
    pub object: String,
    pub kind: String,
    pub counter: String,
    pub unit: String,
    pub instance: String,
    /// Seconds per sample (20 real-time; 300, 1800, 7200, 86400 historical).
    pub interval: i64,
    pub samples: Vec<Sample>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub avg: Option<f64>,
    pub last: Option<f64>,
}

impl Series {
    pub fn new(subject: &Subject, counter: &Counter, instance: &str, interval: i64) -> Self {
        Series {
            endpoint: subject.endpoint.clone(),
            object: subject.name.clone(),
            kind: subject.kind.clone(),
            counter: counter.name.clone(),
            unit: counter.unit_label().to_string(),
            instance: instance.to_string(),
            interval,
            samples: Vec::new(),
            min: None,
            max: None,
            avg: None,
            last: None,
        }
    }

    /// Fill min/max/avg/last from the samples.
    pub fn summarize(mut self) -> Self {
        let values = || self.samples.iter().map(|s| s.value);
        if !self.samples.is_empty() {
            self.min = values().reduce(f64::min);
            self.max = values().reduce(f64::max);
            self.avg = Some(values().sum::<f64>() / self.samples.len() as f64);
            self.last = self.samples.last().map(|s| s.value);
        }
        self
    }
}

const KINDS: &[&str] = &[
    "HostSystem",
    "VirtualMachine",
    "ClusterComputeResource",
    "Datastore",
];

/// Objects of the target by name or glob (hosts, VMs, clusters, datastores); without a
/// pattern, the target's hosts.
pub async fn subjects(
    client: &Client,
    target: &Target,
    pattern: Option<&str>,
) -> OpResult<Vec<Subject>> {
    let endpoint = target.endpoint.name().to_string();
    let kinds: Vec<PropertySpec> = KINDS
        .iter()
        .map(|k| PropertySpec {
            kind: k,
            paths: &["name"],
        })
        .collect();
    let all = client
        .collect_view(&client.content().root_folder, &kinds)
        .await
        .at(&endpoint)?;
    let subject = |o: &ObjectContent| Subject {
        endpoint: endpoint.clone(),
        name: o.str("name").unwrap_or_default().to_string(),
        kind: o.obj.kind.clone(),
        moref: o.obj.clone(),
    };
    let mut found: Vec<Subject> = match pattern {
        None => all
            .iter()
            .filter(|o| o.obj.kind == "HostSystem")
            .filter(|o| {
                target
                    .host
                    .as_deref()
                    .is_none_or(|h| o.str("name") == Some(h))
            })
            .map(subject)
            .collect(),
        Some(p) => {
            let glob = glob::Pattern::new(p)
                .map_err(|e| OpError::invalid(format!("'{p}' is not a valid glob pattern: {e}")))?;
            all.iter()
                .filter(|o| o.str("name").is_some_and(|n| glob.matches(n) || n == p))
                .map(subject)
                .collect()
        }
    };
    found.sort_by(|a, b| (&a.kind, &a.name).cmp(&(&b.kind, &b.name)));
    if found.is_empty() {
        let name = pattern.unwrap_or("(any host)").to_string();
        return Err(OpError::NotFound {
            kind: "object",
            suggestions: close_names(&name, all.iter().filter_map(|o| o.str("name"))),
            name,
        });
    }
    Ok(found)
}

/// A duration option (`5m`, `1h`, `90d`) as seconds, or a usage error naming it.
pub fn seconds(option: &str, text: &str) -> OpResult<i64> {
    match crate::metrics::duration::parse_any(text) {
        Some(s) if s > 0 => Ok(s),
        Some(_) => Err(OpError::Invalid {
            message: format!("{option} {text:?} must be positive"),
            hint: Some("give a duration of at least 1s, e.g. 20s, 5m, 1h".into()),
        }),
        None => Err(OpError::Invalid {
            message: format!("{option} {text:?} is not a duration"),
            hint: Some("write a number with a unit: 20s, 5m, 1h, 1d, 2w".into()),
        }),
    }
}

/// What `stats` reads.
#[derive(Debug, Clone)]
pub struct Query {
    pub object: Option<String>,
    pub counters: Vec<String>,
    /// Window in seconds back from now.
    pub since: i64,
    /// Sampling period; None picks one that covers the window.
    pub interval: Option<i64>,
}

/// Counters by name (the defaults when none is given); unknown names are errors.
pub fn resolve_counters<'a>(catalog: &'a Catalog, names: &[String]) -> OpResult<Vec<&'a Counter>> {
    if catalog.is_empty() {
        return Err(OpError::refused(
            "this endpoint publishes no performance counters",
            "statistics need a PerformanceManager (ESXi or vCenter)",
        ));
    }
    if names.is_empty() {
        return Ok(DEFAULT_COUNTERS
            .iter()
            .filter_map(|n| catalog.find(n).ok())
            .collect());
    }
    names.iter().map(|n| catalog.find(n)).collect()
}

/// Counter keys to ask each kind of object for: the names given, else the defaults
/// (datastores publish space, not CPU or memory).
pub struct KeysByKind {
    pub compute: Vec<i64>,
    pub space: Vec<i64>,
}

impl KeysByKind {
    pub fn of(&self, kind: &str) -> &[i64] {
        if kind == "Datastore" {
            &self.space
        } else {
            &self.compute
        }
    }
}

pub fn keys_by_kind(catalog: &Catalog, names: &[String]) -> OpResult<KeysByKind> {
    let compute: Vec<i64> = resolve_counters(catalog, names)?
        .iter()
        .map(|c| c.key)
        .collect();
    let space = if names.is_empty() {
        DATASTORE_COUNTERS
            .iter()
            .filter_map(|n| catalog.find(n).ok().map(|c| c.key))
            .collect()
    } else {
        compute.clone()
    };
    Ok(KeysByKind { compute, space })
}

/// Statistics for every object matched on every target, one QueryPerf per endpoint.
pub async fn read(fleet: &Fleet, scope: &Scope, q: &Query) -> OpResult<Vec<Series>> {
    fleet
        .gather(scope, |t| async move { read_target(&t, q).await })
        .await
}

pub async fn read_target(target: &Target, q: &Query) -> OpResult<Vec<Series>> {
    let endpoint = target.endpoint.name().to_string();
    let client = target.endpoint.client().await?;
    let catalog = Catalog::read(&client).await.at(&endpoint)?;
    let subjects = subjects(&client, target, q.object.as_deref()).await?;
    let start = Utc::now() - Duration::seconds(q.since);
    let keys = keys_by_kind(&catalog, &q.counters)?;
    if let Some(interval) = q.interval {
        check_interval(&client, &endpoint, &catalog, &subjects, interval).await?;
    }
    let intervals: Vec<i64> = subjects
        .iter()
        .map(|s| {
            q.interval
                .unwrap_or_else(|| catalog.interval_for(q.since, s.has_realtime()))
        })
        .collect();
    let specs: Vec<query::Spec> = subjects
        .iter()
        .zip(&intervals)
        .map(|(s, &interval)| query::Spec {
            entity: &s.moref,
            counters: keys.of(&s.kind),
            interval,
            start: Some(start),
            end: None,
            max_sample: None,
        })
        .collect();
    let Some(pm) = catalog.perf_manager.as_ref() else {
        return Ok(Vec::new());
    };
    let (answers, _) = query::query(&client, pm, &specs).await.at(&endpoint)?;
    Ok(to_series(&catalog, &subjects, &answers))
}

/// The real-time refresh rate (seconds) of an object, if the server keeps real-time
/// statistics for it (QueryPerfProviderSummary).
async fn refresh_rate(
    client: &Client,
    perf_manager: &MoRef,
    entity: &MoRef,
) -> Result<Option<i64>, crate::vim::Error> {
    let mut req = crate::vim::Request::new("QueryPerfProviderSummary", perf_manager);
    req.moref("entity", entity);
    let answer = client.call(req).await?;
    let summary = answer.child("returnval");
    Ok(summary
        .filter(|s| s.bool_at("currentSupported") == Some(true))
        .and_then(|s| s.i64_at("refreshRate")))
}

/// A forced `--interval` must be one the server keeps: a historical interval, or the
/// real-time refresh rate of the objects that have one. Otherwise a usage error naming
/// what it offers (the server's own answer is a bare InvalidArgument).
async fn check_interval(
    client: &Client,
    endpoint: &str,
    catalog: &Catalog,
    subjects: &[Subject],
    interval: i64,
) -> OpResult<()> {
    let historical: Vec<i64> = catalog.intervals.iter().map(|(p, _)| *p).collect();
    if historical.contains(&interval) {
        return Ok(());
    }
    let realtime = match (
        &catalog.perf_manager,
        subjects.iter().find(|s| s.has_realtime()),
    ) {
        (Some(pm), Some(s)) => refresh_rate(client, pm, &s.moref).await.at(endpoint)?,
        _ => None,
    };
    if realtime == Some(interval) {
        return Ok(());
    }
    Err(offered_intervals(interval, realtime, &historical))
}

/// The usage error for an `--interval` the server does not keep, naming those it does.
pub fn offered_intervals(asked: i64, realtime: Option<i64>, historical: &[i64]) -> OpError {
    use crate::metrics::duration::show;
    let mut offered: Vec<String> = realtime
        .map(|r| format!("{} (real-time, hosts and VMs)", show(r)))
        .into_iter()
        .collect();
    offered.extend(historical.iter().map(|p| show(*p)));
    let offered = if offered.is_empty() {
        "no sampling intervals".to_string()
    } else {
        offered.join(", ")
    };
    OpError::Invalid {
        message: format!(
            "--interval {}: the server keeps samples of {offered}",
            show(asked)
        ),
        hint: Some(
            "give one of those, or leave --interval out for the finest that covers --since".into(),
        ),
    }
}

/// Decoded answers joined with their objects and counters, in the objects' order.
pub fn to_series(
    catalog: &Catalog,
    subjects: &[Subject],
    answers: &[query::EntityMetrics],
) -> Vec<Series> {
    // Answers by object, looked up once per subject (a scan per subject is quadratic
    // at thousands of VMs).
    let mut by_entity: HashMap<&MoRef, Vec<&query::EntityMetrics>> = HashMap::new();
    for a in answers {
        by_entity.entry(&a.entity).or_default().push(a);
    }
    let mut out = Vec::new();
    for subject in subjects {
        for answer in by_entity.get(&subject.moref).into_iter().flatten() {
            for raw in &answer.series {
                let Some(counter) = catalog.by_key(raw.counter) else {
                    continue;
                };
                let mut series = Series::new(subject, counter, &raw.instance, answer.interval);
                series.samples = answer
                    .timestamps
                    .iter()
                    .zip(&raw.values)
                    .filter(|(_, v)| **v >= 0) // -1: no value for that sample
                    .map(|(t, v)| Sample {
                        time: *t,
                        value: counter.convert(*v),
                    })
                    .collect();
                out.push(series.summarize());
            }
        }
    }
    out
}
