//! What each server says it is: product, API version, build (`ceso version`).

use serde::Serialize;

use super::error::OpResult;
use super::fleet::{Fleet, Scope, Target, WithEndpoint};

/// One endpoint's ServiceContent.about, as the server says it now, or why it could not be read.
#[derive(Debug, Clone, Serialize)]
pub struct ServerVersion {
    pub endpoint: String,
    /// `connected`, or how it failed: unreachable, login failed, certificate not trusted…
    pub state: String,
    /// e.g. "VMware vCenter Server 8.0.2 build-22385739"
    pub product: Option<String>,
    pub version: Option<String>,
    pub build: Option<String>,
    pub api_version: Option<String>,
    /// `HostAgent` (ESXi) or `VirtualCenter`.
    pub api_type: Option<String>,
    pub error: Option<String>,
}

/// The version of every endpoint in scope, in the config's order; the default scope is
/// every configured endpoint (asked concurrently), default or not. An endpoint that
/// fails is an entry with its state and error, never a failure of the whole: the
/// client's own version needs no server.
pub async fn servers(fleet: &Fleet, scope: &Scope) -> OpResult<Vec<ServerVersion>> {
    if fleet.endpoints().is_empty() {
        return Ok(Vec::new());
    }
    let scope = match scope {
        Scope::Default => &Scope::All,
        other => other,
    };
    let found = fleet.gather_each(scope, server).await?;
    let mut all = found.items;
    all.extend(found.errors.into_iter().map(|e| ServerVersion {
        state: e.error.failure_state().to_string(),
        error: Some(e.error.to_string()),
        ..blank(e.endpoint)
    }));
    let position = |name: &str| fleet.endpoints().iter().position(|e| e.name() == name);
    all.sort_by_key(|s| position(&s.endpoint));
    Ok(all)
}

fn blank(endpoint: String) -> ServerVersion {
    ServerVersion {
        endpoint,
        state: String::new(),
        product: None,
        version: None,
        build: None,
        api_version: None,
        api_type: None,
        error: None,
    }
}

async fn server(target: Target) -> OpResult<Vec<ServerVersion>> {
    let client = target.endpoint.client().await?;
    // Asked now: the content kept with a cached session says nothing of whether the
    // server is up, or what it runs today.
    let content = client.read_content_now().await.at(target.endpoint.name())?;
    let about = &content.about;
    Ok(vec![ServerVersion {
        state: "connected".into(),
        product: Some(about.full_name.clone()),
        version: Some(about.version.clone()),
        build: Some(about.build.clone()),
        api_version: Some(about.api_version.clone()),
        api_type: Some(about.api_type.clone()),
        ..blank(target.endpoint.name().to_string())
    }])
}
