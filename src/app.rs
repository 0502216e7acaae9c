//! The state every surface shares: one tokio runtime and one fleet of endpoints.
//! The CLI, the REPL and scripts all run operations through this.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use crate::config::{self, ConfigError};
use crate::ops::{Fleet, Scope};
use crate::vim::Secret;

/// Exit codes, the same for commands and scripts.
pub mod exit {
    pub const FAILURE: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const CONNECTION: u8 = 3;
    pub const NOT_FOUND: u8 = 4;
    pub const SERVER_FAULT: u8 = 5;
    pub const REFUSED: u8 = 6;
    /// Some endpoints failed; the results of the others were printed.
    pub const PARTIAL: u8 = 7;
    pub const INTERRUPTED: u8 = 130;
}

pub struct App {
    runtime: tokio::runtime::Runtime,
    pub fleet: Arc<Fleet>,
    /// The scope chosen on the command line (`--host`, `--all-hosts`).
    pub scope: Scope,
    /// Where `host add` writes.
    pub config_path: Option<PathBuf>,
}

pub struct AppOptions {
    pub config: Option<PathBuf>,
    pub scope: Scope,
    /// `--no-session-cache`: overrides `settings.session_cache`.
    pub no_session_cache: bool,
    /// `-k`/`--insecure`: no certificate verification on any endpoint.
    pub insecure: bool,
    /// `--dc`: the datacenter on every endpoint, over the configured one.
    pub datacenter: Option<String>,
}

impl App {
    pub fn new(options: AppOptions) -> Result<Self, ConfigError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .thread_name("ceso-rt")
            .build()
            .map_err(|e| {
                ConfigError::plain(format!("cannot start the async runtime: {e}"), None)
            })?;
        let mut loaded = config::load::load(options.config.as_deref(), &config::load::ProcessEnv)?;
        if options.no_session_cache {
            loaded
                .config
                .settings
                .get_or_insert_with(Default::default)
                .session_cache = Some(false);
        }
        for spec in &mut loaded.endpoints {
            if options.insecure {
                spec.tls = crate::vim::TlsMode::Insecure;
            }
            if let Some(dc) = &options.datacenter {
                spec.datacenter = Some(dc.clone());
            }
        }
        let config_path = options
            .config
            .clone()
            .or_else(|| std::env::var_os("CESO_CONFIG").map(PathBuf::from))
            .or_else(|| loaded.path.clone())
            .or_else(config::load::default_path);
        let fleet = Arc::new(Fleet::new(loaded, Some(Arc::new(prompt_password))));
        Ok(Self {
            runtime,
            fleet,
            scope: options.scope,
            config_path,
        })
    }

    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    pub fn handle(&self) -> tokio::runtime::Handle {
        self.runtime.handle().clone()
    }

    /// Log out of every session opened (cached sessions stay for the next command).
    pub fn close(&self) {
        let fleet = self.fleet.clone();
        self.block_on(async move {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(3), fleet.close()).await;
        });
    }
}

/// Ask on the terminal, never echoing. None when there is no terminal to ask on.
fn prompt_password(label: &str) -> Option<Secret> {
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() {
        return None;
    }
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = ONE_AT_A_TIME.lock().ok()?;
    rpassword::prompt_password(label).ok().map(Secret::new)
}

#[cfg(test)]
mod tests {
    use super::exit;

    /// The README's exit-code table lists every code the program uses, and only those.
    #[test]
    fn the_readme_table_and_the_codes_agree() {
        let readme = include_str!("../README.md");
        let table = readme
            .split("Exit codes (commands and scripts alike):")
            .nth(1)
            .expect("README has the exit-code table");
        let listed: Vec<u8> = table
            .lines()
            .skip_while(|l| !l.starts_with('|'))
            .take_while(|l| l.starts_with('|'))
            .filter_map(|l| l.split('|').nth(1)?.trim().parse().ok())
            .collect();
        let used = [
            0,
            exit::FAILURE,
            exit::USAGE,
            exit::CONNECTION,
            exit::NOT_FOUND,
            exit::SERVER_FAULT,
            exit::REFUSED,
            exit::PARTIAL,
            exit::INTERRUPTED,
        ];
        assert_eq!(listed, used);
    }
}
