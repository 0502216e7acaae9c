//! One integration test binary (faster to build than one per file).

mod backup;
mod client;
mod errors;
mod hosts;
mod pci;
mod repl;
mod safety;
mod script_examples;
mod script_interrupt;
mod script_run;
mod sim;
mod snapshots;
mod vm;
