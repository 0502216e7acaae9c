//! How long operations report what they are doing. Surfaces decide how to show it
//! (a progress bar on a terminal, nothing under --json, a callback in scripts).

use crate::vim::TaskProgress;

pub trait Progress: Send + Sync {
    /// A step starts ("Creating snapshot ceso-backup").
    fn step(&self, _message: &str) {}
    /// A vSphere task moved.
    fn task(&self, _task: &TaskProgress) {}
    /// Bytes moved so far out of a known total.
    fn bytes(&self, _done: u64, _total: u64) {}
    /// Something the user should know (a leftover snapshot removed, a reboot needed).
    fn note(&self, _message: &str) {}
}

/// Reports nothing.
pub struct Silent;

impl Progress for Silent {}
