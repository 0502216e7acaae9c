//! OVF and OVA: `vm export` (ExportVm) and `vm import` (CreateImportSpec, ImportVApp),
//! both moving disk bytes over an NFC lease that is kept alive while they move and
//! aborted on failure.

pub mod descriptor;
pub mod export;
pub mod import;
pub mod ova;

use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::ops::error::{OpError, OpResult};
use crate::vim::{Client, MoRef};

pub use export::{ExportPlan, ExportResult, export};
pub use import::{ImportPlan, ImportSpec, import};

/// How often the lease hears HttpNfcLeaseProgress. Servers time a lease out after
/// `leaseTimeout` (300 s by default) without it.
const KEEPALIVE: Duration = Duration::from_secs(20);

/// Run `work` while telling the server, every KEEPALIVE, how far it got.
async fn with_keepalive<T>(
    client: &Client,
    lease: &MoRef,
    done: &AtomicU64,
    total: u64,
    work: impl Future<Output = OpResult<T>>,
) -> OpResult<T> {
    tokio::pin!(work);
    let mut tick = tokio::time::interval(KEEPALIVE);
    tick.tick().await;
    loop {
        tokio::select! {
            result = &mut work => return result,
            _ = tick.tick() => {
                let percent = done.load(Ordering::Relaxed).saturating_mul(100) / total.max(1);
                // A missed keepalive is not a failure; the transfer's own errors are.
                let _ = client.lease_progress(lease, percent).await;
            }
        }
    }
}

fn io_error(path: &Path, e: std::io::Error) -> OpError {
    OpError::Io(format!("{}: {e}", path.display()))
}

/// A file name from a VM name: what a file system and a tar header take.
fn package_name(vm: &str) -> String {
    let name: String = vm
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let name = name.trim_start_matches('.');
    if name.is_empty() {
        "vm".into()
    } else {
        name.chars().take(60).collect()
    }
}
