//! What scripts have under way on the servers, so an interrupted script can say what
//! state it left things in (a power-off task may still finish after Ctrl-C).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::ops::Progress;
use crate::vim::TaskProgress;

#[derive(Clone, Default)]
pub struct InFlight(Arc<Registry>);

#[derive(Default)]
struct Registry {
    next: AtomicU64,
    entries: Mutex<BTreeMap<u64, Entry>>,
}

struct Entry {
    object: String,
    step: Option<String>,
    task: Option<TaskProgress>,
}

impl InFlight {
    /// Track one operation on `object` (a VM name…) until the tracker is dropped.
    pub fn track(&self, object: &str) -> Tracker {
        let id = self.0.next.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut entries) = self.0.entries.lock() {
            entries.insert(
                id,
                Entry {
                    object: object.to_string(),
                    step: None,
                    task: None,
                },
            );
        }
        Tracker {
            registry: self.0.clone(),
            id,
        }
    }

    /// One line per operation that had started changing something.
    pub fn describe(&self) -> Vec<String> {
        let Ok(entries) = self.0.entries.lock() else {
            return Vec::new();
        };
        entries
            .values()
            .filter_map(|e| {
                let step = e.step.as_deref()?;
                Some(match &e.task {
                    Some(t) if t.state == "success" || t.state == "error" => {
                        format!("{}: {step}: task {} had finished ({})", e.object, t.task, t.state)
                    }
                    Some(t) => format!(
                        "{}: {step}: task {} ({}) was {}{}; it keeps running on the server and may still complete",
                        e.object,
                        t.task,
                        t.name,
                        t.state,
                        t.percent.map(|p| format!(" at {p}%")).unwrap_or_default()
                    ),
                    None => format!(
                        "{}: {step}: the request was sent; the server may or may not have acted on it",
                        e.object
                    ),
                })
            })
            .collect()
    }
}

/// Progress of one tracked operation; forgets it when dropped.
pub struct Tracker {
    registry: Arc<Registry>,
    id: u64,
}

impl Tracker {
    fn update(&self, f: impl FnOnce(&mut Entry)) {
        if let Ok(mut entries) = self.registry.entries.lock()
            && let Some(entry) = entries.get_mut(&self.id)
        {
            f(entry);
        }
    }
}

impl Progress for Tracker {
    fn step(&self, message: &str) {
        self.update(|e| {
            e.step = Some(message.to_string());
            e.task = None;
        });
    }

    fn task(&self, task: &TaskProgress) {
        self.update(|e| e.task = Some(task.clone()));
    }

    fn note(&self, message: &str) {
        eprintln!("{message}");
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        if let Ok(mut entries) = self.registry.entries.lock() {
            entries.remove(&self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_started_work_and_forgets_finished_work() {
        let in_flight = InFlight::default();
        let reading = in_flight.track("web-01");
        let powering = in_flight.track("web-02");
        powering.step("Power off web-02");
        powering.task(&TaskProgress {
            task: "task-7".into(),
            name: "PowerOffVM_Task".into(),
            entity: "web-02".into(),
            state: "running".into(),
            percent: Some(40),
        });
        let lines = in_flight.describe();
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(
            lines[0].contains("task-7") && lines[0].contains("40%"),
            "{lines:?}"
        );
        drop(powering);
        drop(reading);
        assert!(in_flight.describe().is_empty());
    }
}
