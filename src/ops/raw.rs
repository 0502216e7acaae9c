//! Raw property access, for anything the typed operations do not cover: every object of
//! a type with the property paths asked for, or paths of one object. Values are JSON as
//! decoded from the server (`Node::to_json`).

use serde::Serialize;

use crate::vim::{MoRef, PropertySpec};

use super::error::{OpError, OpResult};
use super::fleet::{Endpoint, Fleet, Scope, WithEndpoint};

/// One object and the properties read from it.
#[derive(Debug, Clone, Serialize)]
pub struct RawObject {
    pub endpoint: String,
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// (path, value) in the order asked; a path the server did not return is absent.
    pub props: Vec<(String, serde_json::Value)>,
}

/// Every object of managed type `kind` (e.g. `VirtualMachine`, `HostSystem`) in scope,
/// with `paths` read in one RetrievePropertiesEx per endpoint.
pub async fn collect(
    fleet: &Fleet,
    scope: &Scope,
    kind: &str,
    paths: &[String],
) -> OpResult<Vec<RawObject>> {
    if kind.is_empty() || !kind.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(OpError::Invalid {
            message: format!("'{kind}' is not a managed object type"),
            hint: Some(
                "use a vSphere type name such as VirtualMachine, HostSystem, Datastore, Network"
                    .into(),
            ),
        });
    }
    let targets = fleet.targets(scope).await?;
    let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
    let results = fleet
        .each_endpoint(targets, |t| {
            let paths = &paths;
            async move {
                let endpoint = t.endpoint.name().to_string();
                let client = t.endpoint.client().await?;
                // A type the user typed: the server checks it.
                let objects = client
                    .collect_checked(
                        &client.content().root_folder,
                        &[PropertySpec { kind, paths }],
                    )
                    .await
                    .at(&endpoint)?;
                Ok(objects
                    .into_iter()
                    .map(|o| RawObject {
                        endpoint: endpoint.clone(),
                        id: o.obj.value.clone(),
                        kind: o.obj.kind.clone(),
                        props: paths
                            .iter()
                            .filter_map(|p| o.get(p).map(|n| (p.to_string(), n.to_json())))
                            .collect(),
                    })
                    .collect::<Vec<_>>())
            }
        })
        .await;
    let mut all = Vec::new();
    for result in results {
        all.extend(result?);
    }
    Ok(all)
}

/// `paths` of one object. A path the object does not have is absent from the answer.
pub async fn properties(
    endpoint: &Endpoint,
    obj: &MoRef,
    paths: &[&str],
) -> OpResult<Vec<(String, serde_json::Value)>> {
    let client = endpoint.client().await?;
    let content = client.properties(obj, paths).await.at(endpoint.name())?;
    Ok(paths
        .iter()
        .filter_map(|p| content.get(p).map(|n| (p.to_string(), n.to_json())))
        .collect())
}
