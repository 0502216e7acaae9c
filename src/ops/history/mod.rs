//! ceso's own performance history: a collector storing the server's samples in SQLite
//! with roll-ups and retention, and reads of what it stored.

pub mod collect;
pub mod store;

pub use collect::{CollectOptions, Round, round};
pub use store::{Created, HistoryQuery, Retention, Store, default_path};
