//! Managed object references: `VirtualMachine:vm-42`.

use std::fmt;

/// A reference to a server-side managed object. Ids are opaque strings: vcsim datastore
/// ids contain `/` and `@`, ESX network ids contain spaces.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct MoRef {
    pub kind: String,
    pub value: String,
}

impl MoRef {
    pub fn new(kind: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            value: value.into(),
        }
    }

    /// Parse `Type:id` (the form `to_string` writes and users paste back).
    pub fn parse(text: &str) -> Option<Self> {
        let (kind, value) = text.split_once(':')?;
        (!kind.is_empty() && !value.is_empty()).then(|| Self::new(kind, value))
    }
}

impl fmt::Display for MoRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind, self.value)
    }
}
