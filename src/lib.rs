// Errors carry diagnostics (source text, spans, hints) and only travel on cold paths.
#![allow(clippy::result_large_err)]

//! ceso — a scriptable shell for VMware vSphere.
//!
//! Layers, each depending only on the ones above it in this list:
//! `vim` (SOAP client) → `config` → `ops` (typed operations) and the pure engines
//! (`backup_repo`) → surfaces (`cli`, `script`, `repl`).

pub mod app;
pub mod backup_repo;
pub mod cli;
pub mod config;
pub mod metrics;
pub mod ops;
pub mod repl;
pub mod script;
pub mod vim;
