//! `ceso exporter`: vSphere metrics for Prometheus. One collection per endpoint per
//! interval (all endpoints concurrently) is shared by every scrape; an endpoint that
//! fails is `ceso_endpoint_up 0` with its error counted, never a failed page.

mod backup_age;
pub mod collect;
mod families;
pub mod web_config;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;

use crate::metrics::exposition::Family;

use super::fleet::Fleet;
use super::stats::Catalog;
use backup_age::BackupIndex;

pub use collect::Reading;

/// Rounds a counter catalog is reused before it is read again (a server upgrade can
/// add counters; an endpoint that failed has its catalog read afresh anyway).
pub const CATALOG_ROUNDS: u64 = 30;

/// Health kept across rounds, per endpoint.
#[derive(Debug, Clone, Default)]
struct Health {
    errors: u64,
    /// Unix seconds of the last round that answered.
    last_success: Option<f64>,
}

/// One endpoint's outcome in a round.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub endpoint: String,
    pub seconds: f64,
    pub result: Result<Reading, String>,
}

/// The collector: call `round` every interval; it returns the page's families.
#[derive(Default)]
pub struct Exporter {
    health: HashMap<String, Health>,
    rounds: u64,
    /// Per endpoint, its counter catalog and the round it was read in (one per
    /// configured endpoint: bounded by the config).
    catalogs: HashMap<String, (Arc<Catalog>, u64)>,
    backups: BackupIndex,
}

impl Exporter {
    /// `backup_repo`: the local backup repository, for backup ages (`None`: none).
    pub fn new(backup_repo: Option<PathBuf>) -> Exporter {
        Exporter {
            backups: BackupIndex::new(backup_repo),
            ..Exporter::default()
        }
    }

    pub async fn round(&mut self, fleet: &Fleet) -> Vec<Family> {
        let started = Instant::now();
        let rounds = self.rounds;
        let fresh: HashMap<String, Arc<Catalog>> = self
            .catalogs
            .iter()
            .filter(|(_, (_, read_in))| rounds - read_in < CATALOG_ROUNDS)
            .map(|(e, (c, _))| (e.clone(), c.clone()))
            .collect();
        let fresh = &fresh;
        let outcomes = fleet
            .each_endpoint(fleet.endpoints().to_vec(), |endpoint| async move {
                let t = Instant::now();
                let cached = fresh.get(endpoint.name()).cloned();
                let result = collect::read(&endpoint, cached)
                    .await
                    .map_err(|e| e.to_string());
                Ok::<_, crate::ops::OpError>((
                    endpoint.name().to_string(),
                    t.elapsed().as_secs_f64(),
                    result,
                ))
            })
            .await;
        let now = Utc::now().timestamp_millis() as f64 / 1000.0;
        let mut kept = Vec::new();
        for (endpoint, seconds, result) in outcomes.into_iter().flatten() {
            let h = self.health.entry(endpoint.clone()).or_default();
            let result = match result {
                Ok((reading, catalog)) => {
                    h.last_success = Some(now);
                    // Reused: keep the round it was read in; else it is new this round.
                    let read_in = match (fresh.get(&endpoint), self.catalogs.get(&endpoint)) {
                        (Some(c), Some((_, r))) if Arc::ptr_eq(c, &catalog) => *r,
                        _ => rounds,
                    };
                    self.catalogs.insert(endpoint.clone(), (catalog, read_in));
                    Ok(reading)
                }
                Err(e) => {
                    h.errors += 1;
                    // It may come back as another server (an upgrade, a restore).
                    self.catalogs.remove(&endpoint);
                    Err(e)
                }
            };
            kept.push(Outcome {
                endpoint,
                seconds,
                result,
            });
        }
        self.rounds += 1;
        let backups = self.backups.newest();
        families::build(
            &kept,
            &|endpoint| {
                let h = self.health.get(endpoint).cloned().unwrap_or_default();
                (h.errors, h.last_success)
            },
            &|endpoint, vm_id| {
                backups
                    .get(&(endpoint.to_string(), vm_id.to_string()))
                    .map(|t| (now - t).max(0.0))
            },
            started.elapsed().as_secs_f64(),
            self.rounds,
        )
    }
}
