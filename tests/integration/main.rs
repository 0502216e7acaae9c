//! One integration test binary (faster to build than one per file).

mod backup;
mod client;
mod cold_migrate;
mod copies;
mod demo;
mod errors;
mod evacuate;
mod hostile;
mod hostile_server;
mod hosts;
mod migrate;
mod monitoring;
mod network;
mod pci;
mod placement;
mod repl;
mod round_trips;
mod safety;
mod script_examples;
mod script_interrupt;
mod script_run;
mod sim;
mod snapshots;
mod vcenter;
mod vm;
