//! Names of objects known by moref, fetched in one call.

use std::collections::HashMap;

use crate::vim::{self, Client, MoRef};

pub use crate::vim::property_collector::name_map;

/// `name` of each object (mixed kinds allowed), in one RetrievePropertiesEx.
pub async fn names_of(
    client: &Client,
    objects: &[MoRef],
) -> Result<HashMap<MoRef, String>, vim::Error> {
    client.names_of(objects).await
}
