//! Names of objects known by moref, fetched in one call.

use std::collections::HashMap;

use crate::vim::{self, Client, MoRef, ObjectContent, PropertySpec};

/// `name` of each object (mixed kinds allowed), in one RetrievePropertiesEx.
pub async fn names_of(
    client: &Client,
    objects: &[MoRef],
) -> Result<HashMap<MoRef, String>, vim::Error> {
    let mut kinds: Vec<&str> = objects.iter().map(|m| m.kind.as_str()).collect();
    kinds.sort_unstable();
    kinds.dedup();
    let specs: Vec<PropertySpec<'_>> = kinds
        .iter()
        .map(|kind| PropertySpec {
            kind,
            paths: &["name"],
        })
        .collect();
    let mut unique = objects.to_vec();
    unique.sort();
    unique.dedup();
    Ok(name_map(client.retrieve(&unique, &specs).await?))
}

/// Moref → `name` of objects read with a `name` path.
pub fn name_map(objects: Vec<ObjectContent>) -> HashMap<MoRef, String> {
    objects
        .into_iter()
        .map(|o| {
            let name = o.str("name").unwrap_or_default().to_string();
            (o.obj, name)
        })
        .collect()
}
