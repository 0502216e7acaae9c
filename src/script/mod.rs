//! The scripting surface: a Rhai engine whose functions are ceso's operations.
//!
//! Layout: the framework (`ctx`, `engine`, `session`, `run`, `diagnostic`, …) and one
//! binding module per feature area (`vm`, `host`, …). A binding module has
//!
//! ```ignore
//! pub fn register(engine: &mut rhai::Engine, ctx: &ScriptCtx)
//! ```
//!
//! and is listed once in [`engine::BINDINGS`]. It calls ops through `ctx.run(future)`
//! (blocks on the shared runtime, races Ctrl-C, turns errors into catchable faults),
//! reports changes through `ctx.track(object)`, honours `dry_run` options and
//! `ctx.policy().dry_run`, and registers its value types with `object::register_object`.

pub mod cancel;
pub mod catalog;
pub mod convert;
pub mod ctx;
pub mod defs;
pub mod diagnostic;
pub mod doc;
pub mod engine;
pub mod fault;
pub mod hooks;
pub mod in_flight;
pub mod object;
pub mod render;
pub mod resolver;
pub mod run;
pub mod session;
pub mod sources;
pub mod stdlib;

// Binding modules, one per feature area (listed in engine::BINDINGS).
pub mod backup;
pub mod collect;
pub mod datastore;
pub mod datastore_files;
pub mod drs;
pub mod evacuate;
pub mod host;
pub mod migrate;
pub mod network;
pub mod network_change;
pub mod pci;
pub mod placement;
pub mod placement_policy;
pub mod pools;
pub mod snapshots;
pub mod sriov;
pub mod stats;
pub mod system;
pub mod tasks;
pub mod vm;
pub mod vm_copies;
pub mod vm_update;

pub use ctx::{Policy, ScriptCtx};
pub use engine::Limits;
