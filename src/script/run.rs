//! `ceso run FILE`, `ceso -c EXPR` and scripts piped on stdin: evaluate on a dedicated
//! thread while this one watches for Ctrl-C, then report.

use std::io::Read;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use rhai::{Array, Dynamic};

use crate::app::{App, exit};

use super::cancel::{SecondInterrupt, listen_for_interrupts};
use super::convert::to_json;
use super::ctx::{Policy, ScriptCtx};
use super::diagnostic::{self, Failure};
use super::engine::{self, Limits};
use super::render::{Look, render};
use super::session::{Outcome, Session};

pub enum Source {
    File(PathBuf),
    /// `ceso -c '<expr>'`
    Inline(String),
    Stdin,
}

pub struct Request {
    pub source: Source,
    pub args: Vec<String>,
    pub limits: Limits,
    pub policy: Policy,
    /// Print the final value as JSON (always for `-c`; with `--json` for files).
    pub json: bool,
    /// Print the final value (`-c`).
    pub print_value: bool,
}

/// Scripts recurse through Rhai's evaluator; give them room.
pub const STACK_SIZE: usize = 64 << 20;

/// How long an interrupted script has to stop before the process leaves anyway.
const GRACE: Duration = Duration::from_secs(3);

pub fn run(app: &App, request: Request) -> u8 {
    if let Err(message) = request.limits.check() {
        let help = Some(
            "set --max-call-depth or settings.scripting.max_call_depth within that range"
                .to_string(),
        );
        return fail(&diagnostic::plain(
            message,
            "ceso::usage",
            exit::USAGE,
            help,
        ));
    }
    let (name, text, base_dir) = match read(&request.source) {
        Ok(found) => found,
        Err(failure) => return fail(&failure),
    };
    let ctx = ScriptCtx::new(app, request.policy);
    if request.json {
        ctx.send_notes_to_stderr();
    }
    if let Err(e) =
        listen_for_interrupts(&app.handle(), ctx.cancel().clone(), SecondInterrupt::Exit)
    {
        eprintln!("warning: Ctrl-C will not stop scripts cleanly: {e}");
    }
    let engine = engine::build(&ctx, request.limits, base_dir);
    let cancel = ctx.cancel().clone();
    let (tx, rx) = std::sync::mpsc::channel();
    let thread_ctx = ctx.clone();
    let spawned = std::thread::Builder::new()
        .name("ceso-script".into())
        .stack_size(STACK_SIZE)
        .spawn(move || {
            let mut session = Session::new(engine, thread_ctx.clone());
            push_constants(&mut session, &name, &request.args, request.policy.dry_run);
            let code = match session.eval(&name, &text, false) {
                Outcome::Value(value) => {
                    if request.print_value || (request.json && !value.is_unit()) {
                        print_value(&thread_ctx, &value, request.json);
                    }
                    0
                }
                Outcome::Exit(code) => code,
                Outcome::Failed(failure) => fail(&failure),
            };
            let _ = tx.send(code);
        });
    if let Err(e) = spawned {
        return fail(&diagnostic::plain(
            format!("cannot start the script thread: {e}"),
            "ceso::internal",
            exit::FAILURE,
            None,
        ));
    }
    let mut cancelled_at: Option<Instant> = None;
    loop {
        match rx.recv_timeout(Duration::from_millis(20)) {
            Ok(code) => return code,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                eprintln!("error: the script thread stopped without a result");
                return exit::FAILURE;
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
        }
        if cancel.is_cancelled() {
            let since = *cancelled_at.get_or_insert_with(Instant::now);
            if since.elapsed() > GRACE {
                eprintln!(
                    "interrupted: the script did not stop within {}s; leaving it",
                    GRACE.as_secs()
                );
                return exit::INTERRUPTED;
            }
        }
    }
}

/// (name for diagnostics, text, folder imports resolve from).
fn read(source: &Source) -> Result<(String, String, PathBuf), Box<Failure>> {
    let cwd = std::env::current_dir().unwrap_or_default();
    match source {
        Source::Inline(text) => Ok(("<command>".into(), text.clone(), cwd)),
        Source::Stdin => {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text).map_err(|e| {
                diagnostic::plain(
                    format!("cannot read the script from stdin: {e}"),
                    "ceso::io",
                    exit::USAGE,
                    None,
                )
            })?;
            Ok(("<stdin>".into(), text, cwd))
        }
        Source::File(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                let hint = match e.kind() {
                    std::io::ErrorKind::NotFound => {
                        Some("check the path; scripts usually end in .rhai".to_string())
                    }
                    _ => None,
                };
                diagnostic::plain(
                    format!("cannot read {}: {e}", path.display()),
                    "ceso::io",
                    exit::USAGE,
                    hint,
                )
            })?;
            let dir = path
                .canonicalize()
                .ok()
                .and_then(|p| p.parent().map(PathBuf::from))
                .unwrap_or(cwd);
            Ok((path.display().to_string(), text, dir))
        }
    }
}

/// `ARGS` (the arguments after the script), `SCRIPT` (its path) and `DRY_RUN`.
pub fn push_constants(session: &mut Session, name: &str, args: &[String], dry_run: bool) {
    let args: Array = args.iter().cloned().map(Dynamic::from).collect();
    session.scope.push_constant("ARGS", args);
    session.scope.push_constant("SCRIPT", name.to_string());
    session.scope.push_constant("DRY_RUN", dry_run);
}

fn print_value(ctx: &ScriptCtx, value: &Dynamic, json: bool) {
    use std::io::Write;
    let text = if json {
        serde_json::to_string_pretty(&to_json(ctx, value)).unwrap_or_default()
    } else {
        render(ctx, value, Look::for_stdout())
    };
    if !text.is_empty() {
        let _ = writeln!(std::io::stdout().lock(), "{text}");
    }
}

/// Print a failure on stderr; its exit code.
pub fn fail(failure: &Failure) -> u8 {
    eprint!("{}", failure.render());
    failure.exit_code
}
