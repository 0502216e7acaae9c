//! VM snapshots: the tree as users see it, and create / revert / remove.

pub mod manage;
pub mod tree;

pub use manage::{
    SnapshotSpec, create, finish_create, list, remove, remove_all, revert, start_create,
};
pub use tree::{Snapshot, descendants, find};
