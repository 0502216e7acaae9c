//! Inventory names for completion (`vm("web-<Tab>`), fetched on first use and kept for a
//! minute. Never asks for a password: endpoints that would prompt are skipped.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::PasswordSource;
use crate::ops::{datastores, hosts, networks, vms};
use crate::script::ScriptCtx;

use super::complete::Names;

const FRESH_FOR: Duration = Duration::from_secs(60);
const WAIT_AT_MOST: Duration = Duration::from_secs(3);

pub struct InventoryNames {
    ctx: ScriptCtx,
    cache: Mutex<HashMap<Names, (Instant, Vec<String>)>>,
}

impl InventoryNames {
    pub fn new(ctx: ScriptCtx) -> Self {
        Self {
            ctx,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Names of that kind, from the cache or the servers (empty when they cannot be had
    /// quickly and quietly).
    pub fn get(&self, kind: Names) -> Vec<String> {
        if let Ok(cache) = self.cache.lock()
            && let Some((at, names)) = cache.get(&kind)
            && at.elapsed() < FRESH_FOR
        {
            return names.clone();
        }
        if !self.can_connect_quietly() {
            return Vec::new();
        }
        let fleet = self.ctx.fleet().clone();
        let scope = self.ctx.scope().clone();
        let fetch = async move {
            let names: Vec<String> = match kind {
                Names::Vms => vms::list(&fleet, &scope, None)
                    .await?
                    .into_iter()
                    .map(|v| v.name)
                    .collect(),
                Names::Hosts => hosts::list(&fleet, &scope)
                    .await?
                    .items
                    .into_iter()
                    .map(|h| h.name)
                    .collect(),
                Names::Datastores => datastores::list(&fleet, &scope)
                    .await?
                    .into_iter()
                    .map(|d| d.name)
                    .collect(),
                Names::Networks => networks::list(&fleet, &scope)
                    .await?
                    .into_iter()
                    .map(|n| n.name)
                    .collect(),
            };
            Ok::<_, crate::ops::OpError>(names)
        };
        let names = match self
            .ctx
            .handle()
            .block_on(async { tokio::time::timeout(WAIT_AT_MOST, fetch).await })
        {
            Ok(Ok(mut names)) => {
                names.sort();
                names.dedup();
                names
            }
            _ => return Vec::new(),
        };
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(kind, (Instant::now(), names.clone()));
        }
        names
    }

    /// Every endpoint is connected already or has a password that needs no prompt.
    fn can_connect_quietly(&self) -> bool {
        self.ctx
            .fleet()
            .endpoints()
            .iter()
            .all(|e| e.connected().is_some() || !matches!(e.spec.password, PasswordSource::Prompt))
    }
}
