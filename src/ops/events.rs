//! The EventManager's history: a collector (CreateCollectorForEvents with an
//! EventFilterSpec of entity, time and event types), read page by page
//! (ReadNextEvents) and destroyed after; following new events polls the collector's
//! `latestPage`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::vim::{Client, MoRef, Node, Request};

use super::error::{OpError, OpResult, close_names};
use super::event_types::EVENT_TYPES;
use super::fleet::{Target, WithEndpoint};
use super::inventory;

/// Events read per ReadNextEvents call.
const PAGE: usize = 100;
/// Largest latestPage the server allows (and so the most one follow poll can see).
const LATEST_PAGE: usize = 1000;

#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    /// An inventory object's name (or `Type:id`), with everything below it.
    pub object: Option<String>,
    pub since: Option<DateTime<Utc>>,
    /// Event type ids (`VmPoweredOffEvent`); a base type covers its subtypes.
    pub types: Vec<String>,
    /// Most events returned (the newest ones).
    pub limit: usize,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EventSummary {
    pub endpoint: String,
    pub key: i64,
    pub chain_id: i64,
    /// The event's type: `VmPoweredOffEvent`…
    #[serde(rename = "type")]
    pub kind: String,
    pub created: String,
    pub user: String,
    /// The object it is about (VM, then host, datastore, network, cluster, datacenter).
    pub object: String,
    pub message: String,
}

/// An open collector: read the history, then follow new events.
pub struct EventStream {
    client: std::sync::Arc<Client>,
    endpoint: String,
    collector: MoRef,
    query: EventQuery,
    last_key: i64,
}

/// Open a collector for `query` on the target's endpoint.
pub async fn open(target: &Target, query: EventQuery) -> OpResult<EventStream> {
    let endpoint = target.endpoint.name().to_string();
    let client = target.endpoint.client().await?;
    let manager = client
        .content()
        .manager("eventManager")
        .ok_or_else(|| OpError::invalid(format!("{endpoint} has no event manager")))?;
    check_types(&client, &endpoint, &manager, &query.types).await?;
    let entity = match &query.object {
        Some(name) => Some(find_entity(&client, &endpoint, name).await?),
        None => None,
    };
    let mut req = Request::new("CreateCollectorForEvents", &manager);
    req.nest("filter", None, |f| {
        if let Some(entity) = &entity {
            f.nest("entity", None, |e| {
                e.moref("entity", entity).text("recursion", "all");
            });
        }
        if let Some(since) = query.since {
            f.nest("time", None, |t| {
                t.text("beginTime", since.to_rfc3339());
            });
        }
        for kind in &query.types {
            f.text("eventTypeId", kind);
        }
        f.text("maxCount", LATEST_PAGE);
    });
    let collector = client
        .call_returnval(req)
        .await
        .at(&endpoint)?
        .and_then(|n| n.as_moref())
        .ok_or_else(|| OpError::Io("CreateCollectorForEvents returned no collector".into()))?;
    Ok(EventStream {
        client,
        endpoint,
        collector,
        query,
        last_key: 0,
    })
}

/// Refuse an event type that neither the API nor this server knows: the server would
/// match nothing and answer an empty history, which reads as "nothing happened". An
/// EventEx / ExtendedEvent id (`com.vmware.vc.…`) passes, as the server's catalogue
/// need not list every extension's. Costs a call only for a name the API lacks.
async fn check_types(
    client: &Client,
    endpoint: &str,
    manager: &MoRef,
    types: &[String],
) -> OpResult<()> {
    let unknown: Vec<&String> = types
        .iter()
        .filter(|t| EVENT_TYPES.binary_search(&t.as_str()).is_err() && !t.contains('.'))
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    let described = client
        .properties(manager, &["description.eventInfo"])
        .await
        .at(endpoint)?;
    let known: Vec<String> = described
        .get("description.eventInfo")
        .map(|info| {
            info.items()
                .into_iter()
                .filter_map(|d| d.text_of("key").map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    match unknown.into_iter().find(|t| !known.contains(t)) {
        None => Ok(()),
        Some(name) => Err(OpError::NotFound {
            kind: "event type",
            name: name.clone(),
            suggestions: close_names(
                name,
                EVENT_TYPES
                    .iter()
                    .copied()
                    .chain(known.iter().map(String::as_str)),
            ),
        }),
    }
}

/// An entity by `Type:id` or by name (VMs first, then hosts, clusters, datacenters,
/// datastores, networks).
async fn find_entity(client: &Client, endpoint: &str, name: &str) -> OpResult<MoRef> {
    if let Some(moref) = MoRef::parse(name) {
        return Ok(moref);
    }
    let mut seen = Vec::new();
    for kind in [
        "VirtualMachine",
        "HostSystem",
        "ClusterComputeResource",
        "Datacenter",
        "Datastore",
        "Network",
    ] {
        let all = inventory::objects(client, kind, &[]).await.at(endpoint)?;
        let hits: Vec<_> = all.iter().filter(|o| o.str("name") == Some(name)).collect();
        match hits.len() {
            0 => seen.extend(inventory::names(&all).into_iter().map(str::to_string)),
            1 => return Ok(hits[0].obj.clone()),
            _ => {
                return Err(OpError::Ambiguous {
                    kind: "object",
                    name: name.to_string(),
                    candidates: hits.iter().map(|h| h.obj.to_string()).collect(),
                });
            }
        }
    }
    Err(OpError::NotFound {
        kind: "object",
        name: name.to_string(),
        suggestions: close_names(name, seen.iter().map(String::as_str)),
    })
}

impl EventStream {
    /// The history matching the query, oldest first (the newest `limit` of them).
    pub async fn history(&mut self) -> OpResult<Vec<EventSummary>> {
        let _ = self
            .client
            .call(Request::new("RewindCollector", &self.collector))
            .await;
        let mut all = Vec::new();
        // Bounded: a server that never says "no more" cannot keep us reading.
        let most_pages = LATEST_PAGE.max(self.query.limit).div_ceil(PAGE) + 100;
        for _ in 0..most_pages {
            let mut req = Request::new("ReadNextEvents", &self.collector);
            req.text("maxCount", PAGE);
            let response = self.client.call(req).await.at(&self.endpoint)?;
            let page: Vec<EventSummary> = response
                .children_named("returnval")
                .map(|e| decode(&self.endpoint, e))
                .collect();
            if page.is_empty() {
                break;
            }
            all.extend(page);
        }
        Ok(self.keep(all))
    }

    /// Events newer than any seen so far, oldest first (one read of `latestPage`).
    pub async fn newer(&mut self) -> OpResult<Vec<EventSummary>> {
        let page = self
            .client
            .properties(&self.collector, &["latestPage"])
            .await
            .at(&self.endpoint)?;
        let events: Vec<EventSummary> = page
            .get("latestPage")
            .map(|p| {
                p.items()
                    .into_iter()
                    .filter(|e| e.child("key").is_some())
                    .map(|e| decode(&self.endpoint, e))
                    .collect()
            })
            .unwrap_or_default();
        Ok(self.keep(events))
    }

    /// Wait `every`, then `newer`.
    pub async fn poll(&mut self, every: Duration) -> OpResult<Vec<EventSummary>> {
        tokio::time::sleep(every).await;
        self.newer().await
    }

    /// Sorted, deduplicated against what was returned before, filtered by time (also
    /// here: not every server applies the filter's time), newest `limit`.
    fn keep(&mut self, mut events: Vec<EventSummary>) -> Vec<EventSummary> {
        events.retain(|e| e.key > self.last_key);
        if let Some(since) = self.query.since {
            events
                .retain(|e| DateTime::parse_from_rfc3339(&e.created).map_or(true, |t| t >= since));
        }
        events.sort_by_key(|e| e.key);
        events.dedup_by_key(|e| e.key);
        if self.query.limit > 0 && events.len() > self.query.limit {
            events.drain(..events.len() - self.query.limit);
        }
        if let Some(last) = events.last() {
            self.last_key = last.key;
        }
        events
    }

    /// DestroyCollector (collectors count against a per-session limit).
    pub async fn close(self) {
        let _ = self
            .client
            .call(Request::new("DestroyCollector", &self.collector))
            .await;
    }
}

fn decode(endpoint: &str, e: &Node) -> EventSummary {
    let object = ["vm", "host", "ds", "net", "computeResource", "datacenter"]
        .iter()
        .find_map(|arg| e.str_at(&format!("{arg}.name")))
        .unwrap_or_default();
    EventSummary {
        endpoint: endpoint.to_string(),
        key: e.i64_at("key").unwrap_or(0),
        chain_id: e.i64_at("chainId").unwrap_or(0),
        kind: e.xsi_type.clone().unwrap_or_else(|| "Event".into()),
        created: e.text_of("createdTime").unwrap_or_default().to_string(),
        user: e.text_of("userName").unwrap_or_default().to_string(),
        object: object.to_string(),
        message: e
            .text_of("fullFormattedMessage")
            .unwrap_or_default()
            .trim()
            .to_string(),
    }
}
