//! One collection round: for every host, VM, cluster and datastore of every endpoint,
//! the 5-minute samples since the last one stored (one QueryPerf per endpoint), and on
//! request a backfill of the server's daily roll-ups. Because each round asks from
//! the last stored sample, a collector that was stopped or killed loses nothing the
//! server still keeps (vCenter: a day of 5-minute samples) and stores nothing twice.

use std::time::Instant;

use chrono::{Duration, Utc};
use serde::Serialize;

use crate::ops::error::OpResult;
use crate::ops::fleet::{Fleet, Scope, Target, WithEndpoint};
use crate::ops::stats::{self, Catalog, query};

use super::store::{Retention, Store};

#[derive(Debug, Clone)]
pub struct CollectOptions {
    pub counters: Vec<String>,
    /// Seconds of history to fetch for objects the database has nothing of yet.
    pub backfill: i64,
    pub retention: Retention,
}

/// What one round did.
#[derive(Debug, Clone, Serialize)]
pub struct Round {
    pub round: u64,
    pub endpoints: usize,
    pub objects: usize,
    pub series: usize,
    /// Samples new to the database.
    pub stored: usize,
    /// QueryPerf calls made (one per endpoint for a sample; more for a long backfill).
    pub round_trips: usize,
    pub millis: u128,
}

/// Read one round from every target and store it; `round` numbers the report.
pub async fn round(
    fleet: &Fleet,
    scope: &Scope,
    store: &mut Store,
    opts: &CollectOptions,
    number: u64,
) -> OpResult<Round> {
    let started = Instant::now();
    let targets = fleet.targets(scope).await?;
    let endpoints = targets.len();
    // Start times come from the database before any network work.
    let store_ref = &*store;
    let read = fleet
        .each_endpoint(targets, |t| async move {
            read_target(&t, store_ref, opts).await
        })
        .await;
    let mut all = Vec::new();
    let (mut objects, mut round_trips) = (0, 0);
    for r in read {
        let (n, calls, series) = r?;
        objects += n;
        round_trips += calls;
        all.extend(series);
    }
    let stored = store.write(&all, opts.retention)?;
    Ok(Round {
        round: number,
        endpoints,
        objects,
        series: all.len(),
        stored,
        round_trips,
        millis: started.elapsed().as_millis(),
    })
}

async fn read_target(
    target: &Target,
    store: &Store,
    opts: &CollectOptions,
) -> OpResult<(usize, usize, Vec<stats::Series>)> {
    let endpoint = target.endpoint.name().to_string();
    let client = target.endpoint.client().await?;
    let catalog = Catalog::read(&client).await.at(&endpoint)?;
    let keys = stats::keys_by_kind(&catalog, &opts.counters)?;
    let names = |kind: &str| -> Vec<&str> {
        keys.of(kind)
            .iter()
            .filter_map(|k| catalog.by_key(*k).map(|c| c.name.as_str()))
            .collect()
    };
    let mut subjects = stats::subjects(&client, target, Some("*")).await?;
    if let Some(host) = &target.host {
        subjects.retain(|s| s.kind != "HostSystem" || &s.name == host);
    }
    let now = Utc::now();
    // The finest interval the server keeps (5 minutes) and how long it keeps it.
    let (fine, fine_keep) = catalog.intervals.first().copied().unwrap_or((300, 86400));
    let mut starts = Vec::new();
    for s in &subjects {
        let last = names(&s.kind)
            .iter()
            .map(|c| store.last_ts(&endpoint, &s.name, c, fine))
            .collect::<OpResult<Vec<_>>>()?;
        let start = match last.iter().copied().min().flatten() {
            // Ask from the oldest counter's last sample; the rest are ignored when stored.
            Some(ts) => (now.timestamp() - fine_keep).max(ts),
            None => now.timestamp() - opts.backfill.clamp(fine, fine_keep),
        };
        starts.push(chrono::DateTime::from_timestamp(start, 0).unwrap_or(now));
    }
    let daily = catalog.intervals.iter().find(|(p, _)| *p == 86400).copied();
    let mut specs: Vec<query::Spec> = subjects
        .iter()
        .zip(&starts)
        .map(|(s, start)| query::Spec {
            entity: &s.moref,
            counters: keys.of(&s.kind),
            interval: fine,
            start: Some(*start),
            end: None,
            max_sample: None,
        })
        .collect();
    if let Some((period, keep)) = daily.filter(|_| opts.backfill > 86400) {
        for s in &subjects {
            let Some(first) = names(&s.kind).first().copied() else {
                continue;
            };
            // Backfill unless the stored days already reach back far enough: a daily
            // bucket rolled up from a few local hours (just after midnight) is no history.
            let wanted = now.timestamp() - opts.backfill.min(keep);
            let oldest = store.first_ts(&endpoint, &s.name, first, period)?;
            if oldest.is_none_or(|ts| ts > wanted + period) {
                specs.push(query::Spec {
                    entity: &s.moref,
                    counters: keys.of(&s.kind),
                    interval: period,
                    start: Some(now - Duration::seconds(opts.backfill.min(keep))),
                    end: None,
                    max_sample: None,
                });
            }
        }
    }
    let Some(pm) = catalog.perf_manager.as_ref() else {
        return Ok((0, 0, Vec::new()));
    };
    let (answers, calls) = query::query(&client, pm, &specs).await.at(&endpoint)?;
    Ok((
        subjects.len(),
        calls,
        stats::to_series(&catalog, &subjects, &answers),
    ))
}
