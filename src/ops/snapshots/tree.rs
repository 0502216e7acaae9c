//! Decoding a VM's `snapshot` property (VirtualMachineSnapshotInfo) into a flat list in
//! tree order, and finding one snapshot by moref, id or name.

use serde::Serialize;

use crate::ops::error::{OpError, OpResult, close_names};
use crate::vim::{MoRef, Node};

/// One snapshot of a VM.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    /// The per-VM number vSphere gives each snapshot (stable, shown by `snapshot list`).
    pub id: i64,
    /// Managed object id, e.g. `snapshot-42`.
    pub moref: String,
    pub name: String,
    pub description: String,
    /// RFC 3339, as the server sent it.
    pub created: String,
    /// Power state of the VM when the snapshot was taken.
    pub state: String,
    pub quiesced: bool,
    /// Memory was captured (the VM was on and the snapshot holds its memory).
    pub memory: bool,
    /// The VM runs from this snapshot's state.
    pub current: bool,
    /// Id of the parent snapshot (None for a root).
    pub parent: Option<i64>,
    /// Depth in the tree (0 for roots).
    pub depth: usize,
}

impl Snapshot {
    pub fn moref(&self) -> MoRef {
        MoRef::new("VirtualMachineSnapshot", self.moref.clone())
    }

    /// Age in seconds at `now`, when the creation time parses.
    pub fn age_seconds(&self, now: chrono::DateTime<chrono::Utc>) -> Option<i64> {
        let created = chrono::DateTime::parse_from_rfc3339(&self.created).ok()?;
        Some(
            (now - created.with_timezone(&chrono::Utc))
                .num_seconds()
                .max(0),
        )
    }
}

/// Flatten the `snapshot` property, depth first (parents before children).
pub fn decode(info: Option<&Node>) -> Vec<Snapshot> {
    let Some(info) = info else {
        return Vec::new();
    };
    let current = info.moref_at("currentSnapshot").map(|m| m.value);
    let mut out = Vec::new();
    for root in info.children_named("rootSnapshotList") {
        walk(root, None, 0, current.as_deref(), &mut out);
    }
    out
}

fn walk(
    node: &Node,
    parent: Option<i64>,
    depth: usize,
    current: Option<&str>,
    out: &mut Vec<Snapshot>,
) {
    let moref = node
        .moref_at("snapshot")
        .map(|m| m.value)
        .unwrap_or_default();
    let id = node.i64_at("id").unwrap_or(0);
    let state = node.str_at("state").unwrap_or_default().to_string();
    out.push(Snapshot {
        id,
        current: current == Some(moref.as_str()),
        moref,
        name: node.str_at("name").unwrap_or_default().to_string(),
        description: node.str_at("description").unwrap_or_default().to_string(),
        created: node.str_at("createTime").unwrap_or_default().to_string(),
        memory: state == "poweredOn",
        state,
        quiesced: node.bool_at("quiesced").unwrap_or(false),
        parent,
        depth,
    });
    for child in node.children_named("childSnapshotList") {
        walk(child, Some(id), depth + 1, current, out);
    }
}

/// The one snapshot `wanted` designates: its moref id (`snapshot-42`), its numeric id, or
/// its name. Names may repeat in vSphere: several matches are an error listing them.
pub fn find<'a>(snapshots: &'a [Snapshot], vm: &str, wanted: &str) -> OpResult<&'a Snapshot> {
    if let Some(s) = snapshots.iter().find(|s| s.moref == wanted) {
        return Ok(s);
    }
    let by_id = wanted.parse::<i64>().ok();
    let hits: Vec<&Snapshot> = snapshots
        .iter()
        .filter(|s| s.name == wanted || by_id == Some(s.id))
        .collect();
    match hits.as_slice() {
        [one] => Ok(one),
        [] => Err(OpError::NotFound {
            kind: "snapshot",
            name: format!("{wanted}' of VM '{vm}"),
            suggestions: close_names(wanted, snapshots.iter().map(|s| s.name.as_str())),
        }),
        many => Err(OpError::Ambiguous {
            kind: "snapshot",
            name: wanted.to_string(),
            candidates: many
                .iter()
                .map(|s| format!("id {} '{}' created {}", s.id, s.name, s.created))
                .collect(),
        }),
    }
}

/// Every snapshot under the one with `id` (children, their children…), in tree order:
/// what a removal with children takes away besides it.
pub fn descendants(snapshots: &[Snapshot], id: i64) -> Vec<Snapshot> {
    let mut under = vec![id];
    let mut out = Vec::new();
    // Tree order lists parents before children, so one pass finds every level.
    for s in snapshots {
        if s.parent.is_some_and(|p| under.contains(&p)) {
            under.push(s.id);
            out.push(s.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vim::xml;

    const TREE: &str = r#"<val xmlns:X="http://www.w3.org/2001/XMLSchema-instance" X:type="VirtualMachineSnapshotInfo">
<currentSnapshot type="VirtualMachineSnapshot">snapshot-3</currentSnapshot>
<rootSnapshotList><snapshot type="VirtualMachineSnapshot">snapshot-1</snapshot><name>base</name><id>1</id>
<createTime>2026-11-22T02:53:07.353672966Z</createTime><state>poweredOn</state><quiesced>true</quiesced>
<childSnapshotList><snapshot type="VirtualMachineSnapshot">snapshot-2</snapshot><name>dup</name><id>2</id><state>poweredOff</state><quiesced>false</quiesced></childSnapshotList>
<childSnapshotList><snapshot type="VirtualMachineSnapshot">snapshot-3</snapshot><name>dup</name><id>3</id><state>poweredOff</state><quiesced>false</quiesced></childSnapshotList>
</rootSnapshotList></val>"#;

    #[test]
    fn tree_is_flattened_in_order_with_current_marked() {
        let node = xml::parse(TREE).unwrap();
        let list = decode(Some(&node));
        let names: Vec<_> = list
            .iter()
            .map(|s| (s.id, s.depth, s.parent, s.current))
            .collect();
        assert_eq!(
            names,
            vec![
                (1, 0, None, false),
                (2, 1, Some(1), false),
                (3, 1, Some(1), true)
            ]
        );
        assert!(list[0].quiesced && list[0].memory);
        assert!(list[0].age_seconds(chrono::Utc::now()).is_some());
    }

    #[test]
    fn descendants_are_every_level_below() {
        let node = xml::parse(TREE).unwrap();
        let list = decode(Some(&node));
        let ids = |id| {
            descendants(&list, id)
                .iter()
                .map(|s| s.id)
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(1), vec![2, 3]);
        assert_eq!(ids(2), Vec::<i64>::new());
    }

    #[test]
    fn repeated_names_are_ambiguous_and_ids_resolve() {
        let node = xml::parse(TREE).unwrap();
        let list = decode(Some(&node));
        let err = find(&list, "vm", "dup").unwrap_err();
        assert!(
            matches!(&err, OpError::Ambiguous { candidates, .. } if candidates.len() == 2),
            "{err}"
        );
        assert_eq!(find(&list, "vm", "3").unwrap().moref, "snapshot-3");
        assert_eq!(find(&list, "vm", "snapshot-2").unwrap().id, 2);
        assert!(matches!(
            find(&list, "vm", "bsae"),
            Err(OpError::NotFound { .. })
        ));
    }
}
