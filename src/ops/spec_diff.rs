//! What a reconfiguration would send, as a diff an operator can read: shown by
//! `--dry-run` before anything is sent, and returned after a change.

use serde::Serialize;

/// One field of a spec: added (`before` None), removed (`after` None) or edited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    pub field: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

/// A change to one object: the vSphere method, the object, the array operation
/// (`add`, `edit`, `remove`) where the spec has one, and the fields.
#[derive(Debug, Clone, Serialize)]
pub struct SpecDiff {
    pub method: String,
    pub object: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    pub fields: Vec<FieldChange>,
}

impl SpecDiff {
    pub fn new(method: &str, object: impl Into<String>, operation: Option<&str>) -> Self {
        Self {
            method: method.to_string(),
            object: object.into(),
            operation: operation.map(str::to_string),
            fields: Vec::new(),
        }
    }

    /// A field that is set (create/add).
    pub fn set(&mut self, field: &str, after: impl Into<String>) -> &mut Self {
        self.fields.push(FieldChange {
            field: field.to_string(),
            before: None,
            after: Some(after.into()),
        });
        self
    }

    /// A field that goes away (remove).
    pub fn unset(&mut self, field: &str, before: impl Into<String>) -> &mut Self {
        self.fields.push(FieldChange {
            field: field.to_string(),
            before: Some(before.into()),
            after: None,
        });
        self
    }

    /// A field that changes; nothing is recorded when it does not.
    pub fn edit(
        &mut self,
        field: &str,
        before: impl Into<String>,
        after: impl Into<String>,
    ) -> &mut Self {
        let (before, after) = (before.into(), after.into());
        if before != after {
            self.fields.push(FieldChange {
                field: field.to_string(),
                before: Some(before),
                after: Some(after),
            });
        }
        self
    }

    /// `+ field: value`, `- field: value`, `~ field: before → after` lines under a
    /// heading naming the method and object.
    pub fn lines(&self) -> Vec<String> {
        let op = self
            .operation
            .as_deref()
            .map(|o| format!(" [{o}]"))
            .unwrap_or_default();
        let mut out = vec![format!("{} {}{op}", self.method, self.object)];
        if self.fields.is_empty() {
            out.push("  (no change)".into());
        }
        for f in &self.fields {
            out.push(match (&f.before, &f.after) {
                (None, Some(a)) => format!("  + {}: {a}", f.field),
                (Some(b), None) => format!("  - {}: {b}", f.field),
                (Some(b), Some(a)) => format!("  ~ {}: {b} → {a}", f.field),
                (None, None) => format!("    {}", f.field),
            });
        }
        out
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_that_change_nothing_are_left_out() {
        let mut d = SpecDiff::new("UpdateConfig", "prod", None);
        d.edit("cpuAllocation.limit", "-1", "-1")
            .edit("cpuAllocation.reservation", "0", "500");
        assert_eq!(
            d.lines(),
            vec![
                "UpdateConfig prod".to_string(),
                "  ~ cpuAllocation.reservation: 0 → 500".to_string()
            ]
        );
    }
}
