//! Typed operations, in the terms users think in. All behaviour lives here; the CLI,
//! scripts and the REPL only parse, call these, and render.

pub mod backup;
pub mod batch;
pub mod capacity;
pub mod clusters;
pub mod datastore_files;
pub mod datastores;
pub mod devices;
pub mod drs;
pub mod error;
pub mod event_types;
pub mod events;
pub mod exporter;
pub mod fleet;
pub mod history;
pub mod hosts;
pub mod inventory;
pub mod migrate;
pub mod network;
pub mod networks;
pub mod ovf;
pub mod password;
pub mod pci;
pub mod placement;
pub mod pools;
pub mod progress;
pub mod raw;
pub mod snapshots;
pub mod spec_diff;
pub mod stats;
pub mod tasks;
pub mod version;
pub mod vms;

pub use error::{OpError, OpResult};
pub use fleet::{Endpoint, EndpointError, Fleet, Gathered, Scope, Target};
pub use progress::{Progress, Silent};
