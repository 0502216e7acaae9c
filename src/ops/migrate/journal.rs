//! The record of a cold migration's copied files, so that a run that was killed or
//! failed continues from the files already copied and verified instead of starting
//! again. One JSON file per (source VM, target folder) under
//! `$XDG_STATE_HOME/ceso/migrations` (`~/.local/state/…`), written atomically after
//! each verified file and removed when the migration ends either way.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ops::error::{OpError, OpResult};

/// A file copied to the target and read back with the same hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verified {
    pub size: u64,
    pub sha256: String,
}

/// How far a warm migration's chain of one disk got on the target: the round it is
/// current with, its top descriptor and that one's CID, the source's changeId at that
/// round, and the chain's files (each in `files`, verified).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chain {
    pub round: u32,
    pub top: String,
    pub top_cid: String,
    pub change_id: String,
    pub files: Vec<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Record {
    vm: String,
    /// Target datastore path → what was verified there.
    files: BTreeMap<String, Verified>,
    /// A warm migration's chains: target base descriptor → how far it got.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    chains: BTreeMap<String, Chain>,
}

pub struct Journal {
    path: Option<PathBuf>,
    record: Record,
}

impl Journal {
    /// The journal of this migration, empty when none was left by an earlier run.
    /// `identity` names the migration (source endpoint and VM, target folder).
    pub fn open(identity: &[&str], vm: &str) -> Journal {
        let path = dirs::state_dir()
            .or_else(dirs::data_local_dir)
            .map(|d| d.join("ceso").join("migrations"))
            .map(|d| d.join(format!("{}.json", key(identity))));
        let record = path
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .and_then(|text| serde_json::from_str::<Record>(&text).ok())
            .unwrap_or_else(|| Record {
                vm: vm.to_string(),
                ..Record::default()
            });
        Journal { path, record }
    }

    /// What an earlier run verified at this target path.
    pub fn verified(&self, target: &str) -> Option<&Verified> {
        self.record.files.get(target)
    }

    pub fn len(&self) -> usize {
        self.record.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.record.files.is_empty()
    }

    /// Remember a verified file (saved at once: a kill right after loses nothing).
    pub fn record(&mut self, target: &str, verified: Verified) -> OpResult<()> {
        self.record.files.insert(target.to_string(), verified);
        self.save()
    }

    /// The chain a warm migration built for the disk whose base descriptor is `disk`.
    pub fn chain(&self, disk: &str) -> Option<&Chain> {
        self.record.chains.get(disk)
    }

    /// Remember a warm migration's chain after a verified round (saved at once).
    pub fn record_chain(&mut self, disk: &str, chain: Chain) -> OpResult<()> {
        self.record.chains.insert(disk.to_string(), chain);
        self.save()
    }

    /// Forget a file (its copy on the target was found changed or removed).
    pub fn forget(&mut self, target: &str) -> OpResult<()> {
        if self.record.files.remove(target).is_some() {
            self.save()?;
        }
        Ok(())
    }

    fn save(&self) -> OpResult<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let io = |e: std::io::Error| {
            OpError::Io(format!(
                "cannot write the migration journal {}: {e}",
                path.display()
            ))
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let text = serde_json::to_string_pretty(&self.record)
            .map_err(|e| OpError::Io(format!("migration journal: {e}")))?;
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, text).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }

    /// The migration ended (done, or rolled back with the copies removed).
    pub fn remove(self) {
        if let Some(path) = self.path {
            let _ = std::fs::remove_file(path);
        }
    }

    pub fn location(&self) -> Option<&std::path::Path> {
        self.path.as_deref()
    }
}

fn key(identity: &[&str]) -> String {
    let digest = Sha256::digest(identity.join("\n").as_bytes());
    hex::encode(&digest[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_depends_on_every_part_and_is_a_safe_file_name() {
        let a = key(&["esx1", "vm-1", "[ds] vm1"]);
        assert_ne!(a, key(&["esx1", "vm-1", "[ds] vm2"]));
        assert_ne!(a, key(&["esx2", "vm-1", "[ds] vm1"]));
        assert_eq!(a, key(&["esx1", "vm-1", "[ds] vm1"]));
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
    }
}
