//! The Rhai implementation of backup hooks (ops only knows the `HookRunner` trait).
//!
//! A hook is a Rhai script file. It sees `phase`, `vm` (map: name, id, uuid, endpoint,
//! power_state), `backup_id`, `mode`, `quiesce`, `snapshot` (name or ()) and `result`
//! (map: ok, error, kind, bytes_read, bytes_new; () in pre-hooks), and the same as one
//! map `ctx`. It fails by throwing (`throw "database not ready"`) or returning `false`.
//! `print` goes to stderr, prefixed with the script's name.
//!
//! This runs a plain `rhai::Engine`; when the shared scripting layer (src/script) lands,
//! hooks should get its engine and bindings.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::config::schema::Scripting;
use crate::ops::backup::{HookContext, HookRunner};

/// A hook taking longer than this is stopped (and counts as failed).
const TIME_LIMIT: Duration = Duration::from_secs(600);

pub struct RhaiHooks {
    limits: Scripting,
}

impl RhaiHooks {
    pub fn new(limits: Scripting) -> Self {
        Self { limits }
    }

    fn engine(&self, label: String) -> rhai::Engine {
        let mut engine = rhai::Engine::new();
        let print_label = label.clone();
        engine.on_print(move |text| eprintln!("[hook {print_label}] {text}"));
        engine.on_debug(move |text, _, pos| eprintln!("[hook {label}] {pos:?}: {text}"));
        if let Some(max) = self.limits.max_operations {
            engine.set_max_operations(max);
        }
        if let Some(depth) = self.limits.max_call_depth {
            engine.set_max_call_levels(depth);
        }
        if let Some(size) = self.limits.max_string_size {
            engine.set_max_string_size(size);
        }
        if let Some(size) = self.limits.max_array_size {
            engine.set_max_array_size(size);
        }
        let started = Instant::now();
        engine.on_progress(move |_| {
            (started.elapsed() > TIME_LIMIT)
                .then(|| format!("stopped after {}s", TIME_LIMIT.as_secs()).into())
        });
        engine
    }
}

impl HookRunner for RhaiHooks {
    fn run(&self, script: &Path, context: &HookContext) -> Result<(), String> {
        let label = script
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| script.display().to_string());
        let engine = self.engine(label);
        let ctx = rhai::serde::to_dynamic(context)
            .map_err(|e| format!("cannot pass the context: {e}"))?;
        let mut scope = rhai::Scope::new();
        if let Some(map) = ctx.clone().try_cast::<rhai::Map>() {
            for (name, value) in map {
                scope.push_dynamic(name.to_string(), value);
            }
        }
        scope.push_dynamic("ctx", ctx);
        let ast = engine
            .compile_file_with_scope(&scope, script.to_path_buf())
            .map_err(|e| e.to_string())?;
        let result: rhai::Dynamic = engine
            .eval_ast_with_scope(&mut scope, &ast)
            .map_err(|e| e.to_string())?;
        if result.as_bool() == Ok(false) {
            return Err("the script returned false".into());
        }
        Ok(())
    }
}
