//! One integration test binary (faster to build than one per file).

mod backup;
mod client;
mod errors;
mod hosts;
mod pci;
mod sim;
mod snapshots;
mod vm;
