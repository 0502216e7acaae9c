//! QueryPerf: one call for many objects (one PerfQuerySpec each), decoded into series.

use chrono::{DateTime, SecondsFormat, Utc};

use crate::vim::{self, Client, MoRef, Node, Request, decode};

/// What to ask of one object.
pub struct Spec<'a> {
    pub entity: &'a MoRef,
    pub counters: &'a [i64],
    pub interval: i64,
    /// Exclusive, as vSphere reads it.
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    pub max_sample: Option<i64>,
}

/// One object's answer: timestamps (the end of each sample's interval) and one series
/// per counter and instance.
#[derive(Debug, Clone)]
pub struct EntityMetrics {
    pub entity: MoRef,
    pub timestamps: Vec<DateTime<Utc>>,
    pub interval: i64,
    pub series: Vec<RawSeries>,
}

#[derive(Debug, Clone)]
pub struct RawSeries {
    pub counter: i64,
    pub instance: String,
    pub values: Vec<i64>,
}

pub fn xsd_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Values one QueryPerf answer may carry: answers stay well inside the decoder's
/// bounds (and vCenter's own query limits) however many objects are asked at once.
const MAX_VALUES_PER_CALL: i64 = 100_000;

impl Spec<'_> {
    /// Values this spec asks for, at most.
    fn values(&self) -> i64 {
        let samples = match (self.max_sample, self.start) {
            (Some(n), _) => n,
            (None, Some(start)) => {
                let end = self.end.unwrap_or_else(Utc::now);
                (end - start).num_seconds() / self.interval.max(1) + 1
            }
            (None, None) => 180,
        };
        samples.max(1) * self.counters.len().max(1) as i64
    }
}

/// QueryPerf for every spec, in as few calls as the answer size allows (one for a
/// sample of 1,000 VMs); returns the answers and the calls made. Objects without
/// statistics for the interval (a cluster has no real-time data) are absent.
pub async fn query(
    client: &Client,
    perf_manager: &MoRef,
    specs: &[Spec<'_>],
) -> Result<(Vec<EntityMetrics>, usize), vim::Error> {
    let mut all = Vec::new();
    let mut calls = 0;
    let mut from = 0;
    while from < specs.len() {
        let mut to = from;
        let mut values = 0;
        while to < specs.len() && (to == from || values + specs[to].values() <= MAX_VALUES_PER_CALL)
        {
            values += specs[to].values();
            to += 1;
        }
        all.extend(query_once(client, perf_manager, &specs[from..to]).await?);
        calls += 1;
        from = to;
    }
    Ok((all, calls))
}

async fn query_once(
    client: &Client,
    perf_manager: &MoRef,
    specs: &[Spec<'_>],
) -> Result<Vec<EntityMetrics>, vim::Error> {
    let mut req = Request::new("QueryPerf", perf_manager);
    for s in specs {
        req.nest("querySpec", None, |r| {
            r.moref("entity", s.entity);
            r.opt_text("startTime", s.start.map(xsd_time));
            r.opt_text("endTime", s.end.map(xsd_time));
            r.opt_text("maxSample", s.max_sample);
            for c in s.counters {
                r.nest("metricId", None, |r| {
                    r.text("counterId", c).text("instance", "");
                });
            }
            r.text("intervalId", s.interval);
            r.text("format", "normal");
        });
    }
    // Each object's answer is decoded as it arrives: the whole answer (megabytes for
    // thousands of VMs) is never one tree.
    // One answer per object asked, at most: a server that streams more is refused
    // rather than held (the whole-tree decode bounded this by its node limit).
    let mut out = Vec::with_capacity(specs.len());
    client
        .call_split(req, Some(decode::PERF_ENTITY), &mut |node| {
            if out.len() >= specs.len() {
                return Err(vim::Error::Decode(format!(
                    "QueryPerf answered for more than the {} objects asked",
                    specs.len()
                )));
            }
            out.extend(decode_entity(&node));
            Ok(())
        })
        .await?;
    Ok(out)
}

fn decode_entity(node: &Node) -> Option<EntityMetrics> {
    let entity = node.moref_at("entity")?;
    let mut interval = 0;
    let timestamps = node
        .children_named("sampleInfo")
        .filter_map(|s| {
            interval = s.i64_at("interval").unwrap_or(interval);
            let text = s.str_at("timestamp")?;
            DateTime::parse_from_rfc3339(text)
                .ok()
                .map(|t| t.with_timezone(&Utc))
        })
        .collect();
    let series = node
        .children_named("value")
        .filter_map(|v| {
            Some(RawSeries {
                counter: v.i64_at("id.counterId")?,
                instance: v.str_at("id.instance").unwrap_or_default().to_string(),
                values: v.children_named("value").filter_map(Node::as_i64).collect(),
            })
        })
        .collect();
    Some(EntityMetrics {
        entity,
        timestamps,
        interval,
        series,
    })
}
