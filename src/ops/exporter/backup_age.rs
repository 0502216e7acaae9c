//! The newest backup of each VM in the local repository, for `ceso_vm_backup_age_seconds`.
//! Kept between rounds: a round lists the manifest ids and reads only the new ones, so a
//! repository of thousands of backups costs one directory listing per round.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::backup_repo::Repository;
use crate::ops::backup::repo::open_existing;

/// Where a backup came from and when it was made (Unix seconds).
#[derive(Debug, Clone)]
struct Made {
    endpoint: String,
    vm_id: String,
    at: f64,
}

#[derive(Debug, Default)]
pub struct BackupIndex {
    root: Option<PathBuf>,
    /// Manifest id → its origin; `None` for a manifest that could not be read (not
    /// read again every round; it stays until it is deleted).
    seen: HashMap<String, Option<Made>>,
}

impl BackupIndex {
    /// `root`: the repository directory (`None`: no repository, no backup ages).
    pub fn new(root: Option<PathBuf>) -> BackupIndex {
        BackupIndex {
            root,
            seen: HashMap::new(),
        }
    }

    /// (endpoint, VM id) → Unix time of its newest backup. A missing or unreadable
    /// repository gives nothing: backup ages are absent, the page is still served.
    pub fn newest(&mut self) -> HashMap<(String, String), f64> {
        let repo = match self.root.as_deref().map(open_existing) {
            Some(Ok(Some(repo))) => repo,
            _ => return HashMap::new(),
        };
        self.refresh(&repo);
        let mut newest: HashMap<(String, String), f64> = HashMap::new();
        for m in self.seen.values().flatten() {
            let t = newest
                .entry((m.endpoint.clone(), m.vm_id.clone()))
                .or_insert(m.at);
            *t = t.max(m.at);
        }
        newest
    }

    fn refresh(&mut self, repo: &Repository) {
        let Ok(ids) = repo.ids() else { return };
        let current: std::collections::HashSet<&String> = ids.iter().collect();
        self.seen.retain(|id, _| current.contains(id));
        for id in &ids {
            if self.seen.contains_key(id) {
                continue;
            }
            let made = repo.summary(id).ok().map(|s| Made {
                endpoint: s.vm.endpoint,
                vm_id: s.vm.moref,
                at: s.created.timestamp_millis() as f64 / 1000.0,
            });
            self.seen.insert(id.clone(), made);
        }
    }
}
