//! What every script function can reach: the fleet, the one shared tokio runtime, the
//! cancel signal, the default scope and the policy (what scripts may do). Cheap to
//! clone; native functions capture a clone.

use std::future::Future;
use std::sync::{Arc, RwLock};

use rhai::{Dynamic, EvalAltResult, Map, Position};

use crate::ops::{Endpoint, Fleet, OpError, OpResult, Scope};

use super::cancel::Cancel;
use super::fault;
use super::in_flight::{InFlight, Tracker};
use super::object::{ObjectView, ViewFn};
use super::sources::Sources;

/// What scripts are allowed to do beyond reading and changing vSphere.
#[derive(Debug, Clone, Copy, Default)]
pub struct Policy {
    /// `shell(...)` may run commands.
    pub allow_shell: bool,
    /// `write_file(...)` and config changes (`host::add`) are allowed.
    pub allow_write: bool,
    /// Every changing function only says what it would do (`ceso run --dry-run`).
    pub dry_run: bool,
}

#[derive(Clone)]
pub struct ScriptCtx(Arc<Inner>);

struct Inner {
    fleet: Arc<Fleet>,
    handle: tokio::runtime::Handle,
    cancel: Cancel,
    scope: Scope,
    policy: Policy,
    views: RwLock<Vec<ViewFn>>,
    sources: Sources,
    in_flight: InFlight,
    config_path: Option<std::path::PathBuf>,
    /// stdout carries JSON (`--json`): notes such as dry-run plans go to stderr.
    notes_to_stderr: std::sync::atomic::AtomicBool,
}

pub type RhaiResultOf<T> = Result<T, Box<EvalAltResult>>;

impl ScriptCtx {
    pub fn new(app: &crate::app::App, policy: Policy) -> Self {
        Self(Arc::new(Inner {
            fleet: app.fleet.clone(),
            handle: app.handle(),
            cancel: Cancel::new(),
            scope: app.scope.clone(),
            config_path: app.config_path.clone(),
            notes_to_stderr: std::sync::atomic::AtomicBool::new(false),
            policy,
            views: RwLock::new(Vec::new()),
            sources: Sources::default(),
            in_flight: InFlight::default(),
        }))
    }

    pub fn fleet(&self) -> &Arc<Fleet> {
        &self.0.fleet
    }

    pub fn handle(&self) -> &tokio::runtime::Handle {
        &self.0.handle
    }

    pub fn cancel(&self) -> &Cancel {
        &self.0.cancel
    }

    /// The scope given on the command line (`--host`, `--all-hosts`).
    pub fn scope(&self) -> &Scope {
        &self.0.scope
    }

    /// Where `host::add` writes.
    pub fn config_path(&self) -> Option<std::path::PathBuf> {
        self.0.config_path.clone()
    }

    pub fn policy(&self) -> Policy {
        self.0.policy
    }

    /// Script sources by name, for diagnostics.
    pub fn sources(&self) -> &Sources {
        &self.0.sources
    }

    /// Run an operation to completion from the script thread, on the shared runtime.
    /// Ctrl-C wins the race: the operation is dropped and the script stops with a
    /// message saying what was under way. Operation errors become catchable faults.
    pub fn run<T>(&self, future: impl Future<Output = OpResult<T>>) -> RhaiResultOf<T> {
        let cancel = &self.0.cancel;
        if cancel.is_cancelled() {
            return Err(self.interrupted(Vec::new()));
        }
        let outcome = self.0.handle.block_on(async {
            tokio::select! {
                biased;
                () = cancel.cancelled() => Err(self.0.in_flight.describe()),
                result = future => Ok(result),
            }
        });
        match outcome {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(OpError::Cancelled)) => Err(self.interrupted(Vec::new())),
            Ok(Err(e)) => Err(fault::to_rhai(&e)),
            Err(in_flight) => Err(self.interrupted(in_flight)),
        }
    }

    /// Progress for one changing operation on `object`; what it reports is what an
    /// interrupt describes.
    pub fn track(&self, object: &str) -> Tracker {
        self.0.in_flight.track(object)
    }

    /// The error that stops a script on Ctrl-C. Not catchable by `try`.
    pub fn interrupted(&self, in_flight: Vec<String>) -> Box<EvalAltResult> {
        Box::new(EvalAltResult::ErrorTerminated(
            interrupted_token(in_flight),
            Position::NONE,
        ))
    }

    /// What the engine stops with when Ctrl-C arrives between operations.
    pub fn interrupted_token(&self) -> Dynamic {
        interrupted_token(Vec::new())
    }

    /// The configured endpoint called `name`.
    pub fn endpoint(&self, name: &str) -> RhaiResultOf<Arc<Endpoint>> {
        self.0.fleet.endpoint(name).cloned().ok_or_else(|| {
            fault::to_rhai(&OpError::NotFound {
                kind: "endpoint",
                name: name.to_string(),
                suggestions: Vec::new(),
            })
        })
    }

    pub fn add_view(&self, view: ViewFn) {
        if let Ok(mut views) = self.0.views.write() {
            views.push(view);
        }
    }

    /// Fields of a registered object type, for tables and JSON.
    pub fn view(&self, value: &Dynamic) -> Option<ObjectView> {
        let views = self.0.views.read().ok()?;
        views.iter().find_map(|view| view(value))
    }

    /// Shell commands allowed?
    pub fn require_shell(&self, what: &str) -> RhaiResultOf<()> {
        if self.0.policy.allow_shell {
            return Ok(());
        }
        Err(fault::to_rhai(&OpError::Refused {
            message: format!("{what}: scripts may not run shell commands"),
            hint: Some(
                "pass --allow-shell, or set settings.scripting.allow_shell: true in the config"
                    .into(),
            ),
        }))
    }

    /// Writing files allowed?
    pub fn require_write(&self, what: &str) -> RhaiResultOf<()> {
        if self.0.policy.allow_write {
            return Ok(());
        }
        Err(fault::to_rhai(&OpError::Refused {
            message: format!("{what}: scripts may not write files"),
            hint: Some(
                "pass --allow-write, or set settings.scripting.allow_write: true in the config"
                    .into(),
            ),
        }))
    }

    /// Keep stdout for data (`--json`): `say` writes to stderr from now on.
    pub fn send_notes_to_stderr(&self) {
        self.0
            .notes_to_stderr
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// A line for the user (dry-run plans, …): stdout, or stderr when stdout carries JSON.
    /// A closed pipe is not an error.
    pub fn say(&self, line: &str) {
        use std::io::Write;
        if self
            .0
            .notes_to_stderr
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            let _ = writeln!(std::io::stderr().lock(), "{line}");
        } else {
            let _ = writeln!(std::io::stdout().lock(), "{line}");
        }
    }
}

/// `#{interrupted: true, in_flight: [...]}`: the value of an ErrorTerminated.
fn interrupted_token(in_flight: Vec<String>) -> Dynamic {
    let mut token = Map::new();
    token.insert("interrupted".into(), true.into());
    token.insert(
        "in_flight".into(),
        in_flight
            .into_iter()
            .map(Dynamic::from)
            .collect::<rhai::Array>()
            .into(),
    );
    token.into()
}
