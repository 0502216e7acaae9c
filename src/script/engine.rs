//! The one Rhai engine: limits, Ctrl-C polling, module resolution, and every binding
//! module registered from one list.

use std::path::PathBuf;

use rhai::{Engine, OptimizationLevel};

use crate::config::schema::Scripting;

use super::ctx::ScriptCtx;
use super::resolver::Resolver;

/// A binding module: one feature area's script functions and types.
pub struct Binding {
    /// The area, as `help` lists it.
    pub area: &'static str,
    pub register: fn(&mut rhai::Engine, &ScriptCtx),
}

/// Every binding module, in registration order. A feature area adds its file
/// (`src/script/<area>.rs` with `pub fn register(engine: &mut Engine, ctx: &ScriptCtx)`)
/// and one line here.
pub const BINDINGS: &[Binding] = &[
    Binding {
        area: "vm",
        register: super::vm::register,
    },
    Binding {
        area: "host",
        register: super::host::register,
    },
    Binding {
        area: "datastore",
        register: super::datastore::register,
    },
    Binding {
        area: "datastore_files",
        register: super::datastore_files::register,
    },
    Binding {
        area: "tasks",
        register: super::tasks::register,
    },
    Binding {
        area: "network",
        register: super::network::register,
    },
    Binding {
        area: "network_change",
        register: super::network_change::register,
    },
    Binding {
        area: "snapshot",
        register: super::snapshots::register,
    },
    Binding {
        area: "backup",
        register: super::backup::register,
    },
    Binding {
        area: "pci",
        register: super::pci::register,
    },
    Binding {
        area: "pools",
        register: super::pools::register,
    },
    Binding {
        area: "drs",
        register: super::drs::register,
    },
    Binding {
        area: "stats",
        register: super::stats::register,
    },
    Binding {
        area: "placement",
        register: super::placement::register,
    },
    Binding {
        area: "collect",
        register: super::collect::register,
    },
    Binding {
        area: "system",
        register: super::system::register,
    },
];

/// Resource limits; 0 means no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_operations: u64,
    pub max_call_depth: usize,
    pub max_string_size: usize,
    pub max_array_size: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            // Generous for runbooks (they wait on the network, not the CPU) yet an
            // accidental infinite loop ends in well under a minute.
            max_operations: 1_000_000_000,
            max_call_depth: 64,
            max_string_size: 16 << 20,
            max_array_size: 1_000_000,
        }
    }
}

/// The deepest call nesting the script thread's stack is sized for.
pub const MAX_CALL_DEPTH: usize = 1000;

impl Limits {
    /// A limit the engine cannot honour safely (deeper calls would overflow the stack).
    pub fn check(&self) -> Result<(), String> {
        if !(1..=MAX_CALL_DEPTH).contains(&self.max_call_depth) {
            return Err(format!(
                "max call depth {} is out of range (1 to {MAX_CALL_DEPTH})",
                self.max_call_depth
            ));
        }
        Ok(())
    }

    /// Defaults, overridden by `settings.scripting`.
    pub fn from_config(config: Option<&Scripting>) -> Self {
        let d = Self::default();
        let Some(c) = config else { return d };
        Self {
            max_operations: c.max_operations.unwrap_or(d.max_operations),
            max_call_depth: c.max_call_depth.unwrap_or(d.max_call_depth),
            max_string_size: c.max_string_size.unwrap_or(d.max_string_size),
            max_array_size: c.max_array_size.unwrap_or(d.max_array_size),
        }
    }
}

/// Build the engine for one run (or one REPL session).
pub fn build(ctx: &ScriptCtx, limits: Limits, base_dir: PathBuf) -> Engine {
    build_noting(ctx, limits, base_dir, |_, _| {})
}

/// Build the engine, calling `after(area, engine)` once each binding module is
/// registered (the shell's `help` learns which area each function belongs to).
pub fn build_noting(
    ctx: &ScriptCtx,
    limits: Limits,
    base_dir: PathBuf,
    mut after: impl FnMut(&'static str, &Engine),
) -> Engine {
    let mut engine = Engine::new();
    // Simple: never evaluates functions at compile time (they talk to servers).
    engine.set_optimization_level(OptimizationLevel::Simple);
    engine
        .set_max_operations(limits.max_operations)
        .set_max_call_levels(limits.max_call_depth)
        .set_max_string_size(limits.max_string_size)
        .set_max_array_size(limits.max_array_size)
        .set_max_map_size(limits.max_array_size)
        .set_max_expr_depths(128, 64)
        .set_max_modules(256);
    engine.set_fail_on_invalid_map_property(false);
    let cancel = ctx.cancel().clone();
    let c = ctx.clone();
    engine.on_progress(move |_| cancel.is_cancelled().then(|| c.interrupted_token()));
    engine.on_print(|text| {
        use std::io::Write;
        let _ = writeln!(std::io::stdout().lock(), "{text}");
    });
    engine.on_debug(|text, source, pos| {
        let at = match (source, pos.line()) {
            (Some(s), Some(line)) => format!("{s}:{line}: "),
            (None, Some(line)) => format!("line {line}: "),
            _ => String::new(),
        };
        eprintln!("{at}{text}");
    });
    engine.set_module_resolver(Resolver::new(ctx.sources().clone(), base_dir));
    for binding in BINDINGS {
        (binding.register)(&mut engine, ctx);
        after(binding.area, &engine);
    }
    engine
}
