//! `ceso exporter`: vSphere metrics for Prometheus. One collection per endpoint per
//! interval (all endpoints concurrently) is shared by every scrape; an endpoint that
//! fails is `ceso_endpoint_up 0` with its error counted, never a failed page.

pub mod collect;
mod families;

use std::collections::HashMap;
use std::time::Instant;

use chrono::Utc;

use crate::metrics::exposition::Family;

use super::fleet::Fleet;

pub use collect::Reading;

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
}

impl Exporter {
    pub async fn round(&mut self, fleet: &Fleet) -> Vec<Family> {
        let started = Instant::now();
        let outcomes = fleet
            .each_endpoint(fleet.endpoints().to_vec(), |endpoint| async move {
                let t = Instant::now();
                let result = collect::read(&endpoint).await.map_err(|e| e.to_string());
                Ok::<_, crate::ops::OpError>(Outcome {
                    endpoint: endpoint.name().to_string(),
                    seconds: t.elapsed().as_secs_f64(),
                    result,
                })
            })
            .await;
        let now = Utc::now().timestamp_millis() as f64 / 1000.0;
        let outcomes: Vec<Outcome> = outcomes.into_iter().flatten().collect();
        for o in &outcomes {
            let h = self.health.entry(o.endpoint.clone()).or_default();
            match &o.result {
                Ok(_) => h.last_success = Some(now),
                Err(_) => h.errors += 1,
            }
        }
        self.rounds += 1;
        families::build(
            &outcomes,
            &|endpoint| {
                let h = self.health.get(endpoint).cloned().unwrap_or_default();
                (h.errors, h.last_success)
            },
            started.elapsed().as_secs_f64(),
            self.rounds,
        )
    }
}
