//! `ceso run`, `ceso -c`, `ceso defs`, and `ceso` alone (the shell, or a script on stdin).

use crate::app::{App, exit};
use crate::script::run::{self, Request, Source};
use crate::script::{Limits, Policy};

use super::args::{RunArgs, ScriptArgs};

/// Limits: flags over settings.scripting over defaults. Permissions: flag or config.
pub fn limits_and_policy(app: &App, args: &ScriptArgs) -> (Limits, Policy) {
    let settings = app.fleet.config.settings();
    let config = settings.scripting.as_ref();
    let base = Limits::from_config(config);
    let limits = Limits {
        max_operations: args.max_operations.unwrap_or(base.max_operations),
        max_call_depth: args.max_call_depth.unwrap_or(base.max_call_depth),
        max_string_size: args.max_string_size.unwrap_or(base.max_string_size),
        max_array_size: args.max_array_size.unwrap_or(base.max_array_size),
    };
    let policy = Policy {
        allow_shell: args.allow_shell || config.is_some_and(|c| c.allow_shell),
        allow_write: args.allow_write || config.is_some_and(|c| c.allow_write),
        dry_run: args.dry_run,
    };
    (limits, policy)
}

pub fn run_file(app: &App, args: RunArgs, outer: &ScriptArgs, json: bool) -> u8 {
    let (limits, policy) = limits_and_policy(app, &args.script.merged(outer));
    run::run(
        app,
        Request {
            source: Source::File(args.file),
            args: args.args,
            limits,
            policy,
            json,
            print_value: false,
        },
    )
}

pub fn eval(app: &App, text: String, script: &ScriptArgs, json: bool) -> u8 {
    let (limits, policy) = limits_and_policy(app, script);
    run::run(
        app,
        Request {
            source: Source::Inline(text),
            args: Vec::new(),
            limits,
            policy,
            json,
            print_value: true,
        },
    )
}

/// `ceso` alone: the shell on a terminal, else the script read from stdin.
pub fn shell_or_stdin(app: &App, script: &ScriptArgs, json: bool) -> u8 {
    use std::io::IsTerminal;
    let (limits, policy) = limits_and_policy(app, script);
    if std::io::stdin().is_terminal() {
        return crate::repl::run(app, limits, policy);
    }
    run::run(
        app,
        Request {
            source: Source::Stdin,
            args: Vec::new(),
            limits,
            policy,
            json,
            print_value: false,
        },
    )
}

pub fn defs(app: &App, dir: &std::path::Path) -> u8 {
    let ctx = crate::script::ScriptCtx::new(app, Policy::default());
    let cwd = std::env::current_dir().unwrap_or_default();
    let engine = crate::script::engine::build(&ctx, Limits::default(), cwd);
    match crate::script::defs::write(&engine, dir) {
        Ok(files) => {
            for file in files {
                println!("{}", file.display());
            }
            0
        }
        Err(e) => {
            eprintln!(
                "{:?}",
                miette::miette!(
                    help = "check that the folder can be created and written",
                    "cannot write definitions into {}: {e}",
                    dir.display()
                )
            );
            exit::FAILURE
        }
    }
}
