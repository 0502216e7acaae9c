//! Performance counters by name: `PerformanceManager.perfCounter` read once per
//! session (QueryPerfCounter needs the keys we are looking for), and the conversion of
//! raw values to the units people read.

use std::collections::HashMap;

use serde::Serialize;

use crate::vim::{self, Client, MoRef};

use crate::ops::error::{OpError, OpResult, close_names};

/// One counter as the server defines it.
#[derive(Debug, Clone, Serialize)]
pub struct Counter {
    pub key: i64,
    /// `group.name.rollup`, e.g. `cpu.usage.average`
    pub name: String,
    /// The server's unit key: percent, kiloBytes, kiloBytesPerSecond, megaHertz, millisecond…
    pub unit: String,
    pub stats_type: String,
}

impl Counter {
    /// Raw value to the unit shown: percent arrives in 1/100 of a percent.
    pub fn convert(&self, raw: i64) -> f64 {
        match self.unit.as_str() {
            "percent" => raw as f64 / 100.0,
            _ => raw as f64,
        }
    }

    /// The unit as shown next to converted values.
    pub fn unit_label(&self) -> &str {
        match self.unit.as_str() {
            "percent" => "%",
            "kiloBytes" => "KB",
            "kiloBytesPerSecond" => "KBps",
            "megaHertz" => "MHz",
            "millisecond" => "ms",
            "megaBytes" => "MB",
            "number" => "",
            other => other,
        }
    }
}

/// Every counter of one endpoint, by key and by name.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub perf_manager: Option<MoRef>,
    by_name: HashMap<String, Counter>,
    by_key: HashMap<i64, Counter>,
    /// Historical sampling periods (seconds) with their retention (seconds).
    pub intervals: Vec<(i64, i64)>,
}

impl Catalog {
    pub async fn read(client: &Client) -> Result<Self, vim::Error> {
        let Some(pm) = client.content().manager("perfManager") else {
            return Ok(Self::default());
        };
        let props = client
            .properties(&pm, &["perfCounter", "historicalInterval"])
            .await?;
        let mut cat = Catalog {
            perf_manager: Some(pm),
            ..Self::default()
        };
        if let Some(list) = props.get("perfCounter") {
            for c in list.items() {
                let (Some(key), Some(group), Some(name)) = (
                    c.i64_at("key"),
                    c.str_at("groupInfo.key"),
                    c.str_at("nameInfo.key"),
                ) else {
                    continue;
                };
                let rollup = c.str_at("rollupType").unwrap_or("none");
                let counter = Counter {
                    key,
                    name: format!("{group}.{name}.{rollup}"),
                    unit: c.str_at("unitInfo.key").unwrap_or_default().to_string(),
                    stats_type: c.str_at("statsType").unwrap_or_default().to_string(),
                };
                cat.add(counter);
            }
        }
        if let Some(list) = props.get("historicalInterval") {
            for i in list.items() {
                if let (Some(p), Some(l)) = (i.i64_at("samplingPeriod"), i.i64_at("length")) {
                    cat.intervals.push((p, l));
                }
            }
            cat.intervals.sort();
        }
        Ok(cat)
    }

    /// Know one more counter (by its key and its name).
    pub fn add(&mut self, counter: Counter) {
        self.by_name.insert(counter.name.clone(), counter.clone());
        self.by_key.insert(counter.key, counter);
    }

    pub fn by_key(&self, key: i64) -> Option<&Counter> {
        self.by_key.get(&key)
    }

    /// A counter by its dotted name; a name the server does not know lists close ones.
    pub fn find(&self, name: &str) -> OpResult<&Counter> {
        self.by_name.get(name).ok_or_else(|| OpError::NotFound {
            kind: "performance counter",
            name: name.to_string(),
            suggestions: close_names(name, self.by_name.keys().map(String::as_str)),
        })
    }

    /// Every counter, by name.
    pub fn all(&self) -> Vec<&Counter> {
        let mut all: Vec<&Counter> = self.by_name.values().collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// The sampling period to ask for a window of `since` seconds: real-time (20 s) for
    /// the last hour where the object has it, else the finest historical interval that
    /// still keeps the whole window.
    pub fn interval_for(&self, since: i64, realtime: bool) -> i64 {
        if realtime && since <= 3600 {
            return 20;
        }
        self.intervals
            .iter()
            .find(|(_, length)| *length >= since)
            .or(self.intervals.last())
            .map(|(p, _)| *p)
            .unwrap_or(20)
    }
}

/// The counters `stats`, `monitor` and the collector read when none are named: CPU,
/// memory, network and disk latency.
pub const DEFAULT_COUNTERS: &[&str] = &[
    "cpu.usage.average",
    "cpu.usagemhz.average",
    "mem.usage.average",
    "mem.consumed.average",
    "net.usage.average",
    "disk.maxTotalLatency.latest",
];

/// What the collector stores for datastores: space used, capacity, provisioned (KB).
pub const DATASTORE_COUNTERS: &[&str] = &[
    "disk.used.latest",
    "disk.capacity.latest",
    "disk.provisioned.latest",
];
