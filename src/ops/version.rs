//! What each server says it is: product, API version, build (`ceso version`).

use serde::Serialize;

use super::error::OpResult;
use super::fleet::{Fleet, Gathered, Scope, Target};

/// One endpoint's ServiceContent.about, as read at login.
#[derive(Debug, Clone, Serialize)]
pub struct ServerVersion {
    pub endpoint: String,
    /// e.g. "VMware vCenter Server 8.0.2 build-22385739"
    pub product: String,
    pub version: String,
    pub build: String,
    pub api_version: String,
    /// `HostAgent` (ESXi) or `VirtualCenter`.
    pub api_type: String,
}

/// The version of every endpoint in scope; none configured is an empty answer, not an
/// error (the client's own version needs no server).
pub async fn servers(fleet: &Fleet, scope: &Scope) -> OpResult<Gathered<ServerVersion>> {
    if fleet.endpoints().is_empty() {
        return Ok(Gathered::default());
    }
    fleet.gather_each(scope, server).await
}

async fn server(target: Target) -> OpResult<Vec<ServerVersion>> {
    let client = target.endpoint.client().await?;
    let about = &client.content().about;
    Ok(vec![ServerVersion {
        endpoint: target.endpoint.name().to_string(),
        product: about.full_name.clone(),
        version: about.version.clone(),
        build: about.build.clone(),
        api_version: about.api_version.clone(),
        api_type: about.api_type.clone(),
    }])
}
