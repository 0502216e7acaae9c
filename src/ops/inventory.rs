//! Finding inventory objects by name, in bulk (one ContainerView read per question).

use std::collections::HashMap;

use crate::vim::{self, Client, MoRef, ObjectContent, PropertySpec};

/// Every object of `kind` with the given properties (plus `name`).
pub async fn objects(
    client: &Client,
    kind: &str,
    paths: &[&str],
) -> Result<Vec<ObjectContent>, vim::Error> {
    let mut all = vec!["name"];
    all.extend(paths.iter().filter(|p| **p != "name"));
    client
        .collect_view(
            &client.content().root_folder,
            &[PropertySpec { kind, paths: &all }],
        )
        .await
}

/// HostSystem morefs to names.
pub async fn host_names(client: &Client) -> Result<HashMap<MoRef, String>, vim::Error> {
    Ok(crate::vim::property_collector::name_map(
        objects(client, "HostSystem", &[]).await?,
    ))
}

/// The objects in a HostSystem list property (`datastore`, `network`) of the host
/// called `host`; None when no host is named (no filter).
pub async fn seen_by_host(
    client: &Client,
    host: Option<&str>,
    path: &str,
) -> Result<Option<Vec<MoRef>>, vim::Error> {
    let Some(host) = host else {
        return Ok(None);
    };
    Ok(Some(
        objects(client, "HostSystem", &[path])
            .await?
            .into_iter()
            .filter(|h| h.str("name") == Some(host))
            .flat_map(|h| h.morefs(path))
            .collect(),
    ))
}

/// Names of all objects of a kind, for "did you mean" suggestions.
pub fn names(objects: &[ObjectContent]) -> Vec<&str> {
    objects.iter().filter_map(|o| o.str("name")).collect()
}

/// The datacenter that contains `obj` (walking `parent`), as (moref, name). The name is
/// the `dcPath` of datastore file URLs.
pub async fn datacenter_of(client: &Client, obj: &MoRef) -> Result<(MoRef, String), vim::Error> {
    let mut current = obj.clone();
    for _ in 0..32 {
        if current.kind == "Datacenter" {
            let name = client
                .properties(&current, &["name"])
                .await?
                .str("name")
                .unwrap_or_default()
                .to_string();
            return Ok((current, name));
        }
        // A VM inside a vApp has parentVApp instead of parent.
        let props = client
            .properties(&current, &["parent", "parentVApp"])
            .await?;
        current = props
            .moref("parent")
            .or_else(|| props.moref("parentVApp"))
            .ok_or_else(|| vim::Error::Other(format!("{obj} is not inside a datacenter")))?;
    }
    Err(vim::Error::Other(format!(
        "{obj}: inventory is nested too deeply"
    )))
}
