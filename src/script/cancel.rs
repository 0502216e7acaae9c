//! Ctrl-C for scripts. The engine polls a flag between operations (a busy loop stops at
//! once) and every blocking call races its future against `cancelled()` (a call waiting
//! on the network gives up within milliseconds).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

#[derive(Clone, Default)]
pub struct Cancel(Arc<Inner>);

#[derive(Default)]
struct Inner {
    flag: AtomicBool,
    notify: Notify,
}

impl Cancel {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn cancel(&self) {
        self.0.flag.store(true, Ordering::SeqCst);
        self.0.notify.notify_waiters();
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.flag.load(Ordering::Relaxed)
    }

    /// Clear the flag before the next command (REPL).
    pub fn reset(&self) {
        self.0.flag.store(false, Ordering::SeqCst);
    }

    /// Resolves once `cancel` has been called.
    pub async fn cancelled(&self) {
        loop {
            let notified = self.0.notify.notified();
            tokio::pin!(notified);
            // Register before checking the flag, so a cancel in between is not missed.
            notified.as_mut().enable();
            if self.0.flag.load(Ordering::SeqCst) {
                return;
            }
            notified.await;
        }
    }
}

/// What a second Ctrl-C does while the first is still being honoured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecondInterrupt {
    /// Leave at once with exit code 130 (`ceso run`, `ceso -c`).
    Exit,
    /// Ask again (the REPL keeps running).
    Repeat,
}

/// Route SIGINT to `cancel` for the rest of the process. Registration is synchronous:
/// once this returns, Ctrl-C no longer kills the process.
pub fn listen_for_interrupts(
    handle: &tokio::runtime::Handle,
    cancel: Cancel,
    second: SecondInterrupt,
) -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let _entered = handle.enter();
    let mut interrupts = signal(SignalKind::interrupt())?;
    handle.spawn(async move {
        while interrupts.recv().await.is_some() {
            if cancel.is_cancelled() && second == SecondInterrupt::Exit {
                eprintln!("interrupted again: exiting now");
                std::process::exit(130);
            }
            cancel.cancel();
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancelled_resolves_after_cancel_and_reset_clears() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let cancel = Cancel::new();
        let waiter = cancel.clone();
        rt.block_on(async {
            let wait = tokio::spawn(async move { waiter.cancelled().await });
            tokio::task::yield_now().await;
            cancel.cancel();
            tokio::time::timeout(std::time::Duration::from_secs(5), wait)
                .await
                .expect("cancelled() woke up")
                .expect("task");
        });
        assert!(cancel.is_cancelled());
        cancel.reset();
        assert!(!cancel.is_cancelled());
    }
}
