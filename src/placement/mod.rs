//! Placement and optimization engine. Pure: an [`Inventory`] in (hosts, VMs, rules,
//! host groups, overcommit), decisions out — where a VM should go
//! ([`find_optimal_host`]) and which migrations lower the imbalance
//! ([`recommend_migrations`]). `ops::placement` gathers the inventory over SOAP;
//! policies (Rhai plugins) come in through the [`Policy`] trait. The metric and the
//! algorithm are documented in docs/placement.md.

pub mod analyze;
pub mod balance;
pub mod bound;
pub mod demand;
pub mod error;
pub mod filter;
pub mod model;
pub mod place;
pub mod policy;
pub mod rules;
pub mod state;

#[cfg(test)]
mod tests;

pub use analyze::{Analysis, ClusterAnalysis, analyze};
pub use balance::{
    BalanceOptions, ClusterChange, Imbalance, Move, Plan, cluster_imbalance, imbalance,
    recommend_migrations,
};
pub use bound::lower_bound;
pub use error::PlacementError;
pub use model::{Host, HostUsage, Inventory, Overcommit, Rule, Vm, VmHostKind, VmUsage};
pub use place::{Placement, Ranked, Rejected, find_optimal_host};
pub use policy::{NoPolicy, Policy};
pub use state::State;
