//! Backup hooks on the script engine (`ops::backup::HookRunner`): a hook is a Rhai
//! script with every ceso function a runbook has (`vm(...)`, `shell(...)` when allowed…).
//!
//! It sees `phase` ("pre"/"post"), `vm` (map: name, id, uuid, endpoint, power_state),
//! `backup_id`, `mode`, `quiesce`, `snapshot` (name, or () before it is taken) and
//! `result` (map: ok, error, kind, bytes_read, bytes_new; () in pre-hooks), and the same
//! as one map `ctx`. It fails by throwing (`throw "database not ready"`), `exit(n)` with
//! n ≠ 0, or returning `false`. `print` goes to stderr, prefixed with the hook's file
//! name, so that `--json` output stays clean.

use std::path::{Path, PathBuf};

use rhai::Map;

use crate::ops::backup::{HookContext, HookRunner};

use super::convert::from_serialize;
use super::ctx::ScriptCtx;
use super::engine::{self, Limits};
use super::run::STACK_SIZE;
use super::session::{Outcome, Session};

pub struct ScriptHooks {
    ctx: ScriptCtx,
    limits: Limits,
}

impl ScriptHooks {
    pub fn new(ctx: ScriptCtx, limits: Limits) -> Self {
        Self { ctx, limits }
    }

    fn eval(&self, script: &Path, context: &HookContext) -> Result<(), String> {
        let text = std::fs::read_to_string(script)
            .map_err(|e| format!("cannot read {}: {e}", script.display()))?;
        let dir = script
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let mut engine = engine::build(&self.ctx, self.limits, dir);
        let label = script
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| script.display().to_string());
        engine.on_print(move |text| eprintln!("[hook {label}] {text}"));
        let mut session = Session::new(engine, self.ctx.clone());
        let value = from_serialize(context);
        if let Some(map) = value.clone().try_cast::<Map>() {
            for (name, field) in map {
                session.scope.push_constant_dynamic(name.to_string(), field);
            }
        }
        session.scope.push_constant_dynamic("ctx", value);
        match session.eval(&script.display().to_string(), &text, false) {
            Outcome::Value(v) if v.as_bool() == Ok(false) => Err("the hook returned false".into()),
            Outcome::Value(_) | Outcome::Exit(0) => Ok(()),
            Outcome::Exit(code) => Err(format!("the hook called exit({code})")),
            Outcome::Failed(failure) => {
                // The full diagnostic (file, line, the spot) for the user; one line for
                // the error that stops or annotates the backup.
                eprint!("{}", failure.render());
                Err(failure.diagnostic.to_string())
            }
        }
    }
}

impl HookRunner for ScriptHooks {
    fn run(&self, script: &Path, context: &HookContext) -> Result<(), String> {
        // Scripts recurse through Rhai's evaluator: give the hook the stack scripts get.
        std::thread::scope(|s| {
            std::thread::Builder::new()
                .name("ceso-hook".into())
                .stack_size(STACK_SIZE)
                .spawn_scoped(s, || self.eval(script, context))
                .map_err(|e| format!("cannot start the hook thread: {e}"))?
                .join()
                .map_err(|_| "the hook crashed".to_string())?
        })
    }
}
