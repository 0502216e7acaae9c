//! The interactive shell (`ceso` on a terminal): rustyline with history in the XDG data
//! folder, completion, multi-line entries, pretty results, `help`, and Ctrl-C that clears
//! the line or stops the running command.

mod complete;
mod help;
mod helper;
mod names;
mod worker;

use rustyline::error::ReadlineError;
use rustyline::history::FileHistory;
use rustyline::{CompletionType, Config, Editor};

use crate::app::{App, exit};
use crate::script::cancel::{SecondInterrupt, listen_for_interrupts};
use crate::script::catalog::{AreaRecorder, Catalog};
use crate::script::engine::{self, Limits};
use crate::script::render::Look;
use crate::script::{Policy, ScriptCtx};

use helper::ShellHelper;
use names::InventoryNames;
use worker::Worker;

const PROMPT: &str = "ceso> ";
/// The prompt of the lines that continue an unfinished statement.
const CONTINUE: &str = "...   ";

pub fn run(app: &App, limits: Limits, policy: Policy) -> u8 {
    if let Err(message) = limits.check() {
        eprintln!("error: {message}");
        return exit::USAGE;
    }
    let ctx = ScriptCtx::new(app, policy);
    if let Err(e) =
        listen_for_interrupts(&app.handle(), ctx.cancel().clone(), SecondInterrupt::Repeat)
    {
        eprintln!("warning: Ctrl-C will not stop commands: {e}");
    }
    let cwd = std::env::current_dir().unwrap_or_default();
    let mut areas = AreaRecorder::default();
    let engine = engine::build_noting(&ctx, limits, cwd, |area, e| areas.note(area, e));
    let catalog = Catalog::build(&engine).with_areas(areas);
    let worker = match Worker::start(engine, ctx.clone()) {
        Ok(worker) => worker,
        Err(e) => {
            eprintln!("error: cannot start the shell: {e}");
            return exit::FAILURE;
        }
    };
    let config = Config::builder()
        .completion_type(CompletionType::List)
        .history_ignore_space(true)
        // Added by hand: a multi-line entry is one history entry.
        .auto_add_history(false)
        .build();
    let mut editor: Editor<ShellHelper, FileHistory> = match Editor::with_config(config) {
        Ok(editor) => editor,
        Err(e) => {
            eprintln!("error: cannot open the terminal: {e}");
            return exit::FAILURE;
        }
    };
    editor.set_helper(Some(ShellHelper::new(
        catalog,
        InventoryNames::new(ctx.clone()),
    )));
    let history = history_path();
    if let Some(path) = &history {
        let _ = editor.load_history(path);
    }
    let look = Look::for_stdout();
    println!(
        "ceso {} — vSphere shell (Rhai). `help` for help, Tab to complete, Ctrl-D to leave.",
        env!("CARGO_PKG_VERSION")
    );
    let code = loop {
        let line = match read_entry(&mut editor) {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break 0,
            Err(e) => {
                eprintln!("error: {e}");
                break exit::FAILURE;
            }
        };
        let entry = line.trim();
        if entry.is_empty() {
            continue;
        }
        // (history_ignore_space: an entry typed with a leading space is not kept.)
        let _ = editor.add_history_entry(line.as_str());
        if let Some(path) = &history {
            let _ = editor.save_history(path);
        }
        if matches!(entry, "exit" | "quit") {
            break 0;
        }
        if let Some(topic) = help_topic(entry) {
            let Some(helper) = editor.helper() else {
                continue;
            };
            let text = match topic {
                None => help::overview(&helper.catalog, look.color),
                Some(name) => help::topic(&helper.catalog, name, look.color),
            };
            println!("{text}");
            continue;
        }
        // Ctrl-C while it runs reaches the script (the terminal is not in raw mode then).
        let Some(reply) = worker.eval(entry) else {
            eprintln!("error: the script thread stopped");
            break exit::FAILURE;
        };
        if !reply.output.is_empty() {
            println!("{}", reply.output);
        }
        if let Some(error) = &reply.error {
            eprint!("{error}");
        }
        if let Some(helper) = editor.helper() {
            *helper.variables.borrow_mut() = reply.variables;
        }
        if let Some(code) = reply.exit {
            break code;
        }
    };
    if let Some(path) = &history {
        let _ = editor.save_history(path);
    }
    code
}

/// One entry: a line, and more lines under the `...` prompt while the statement is
/// unfinished (an open brace, bracket, parenthesis or back-tick string). Ctrl-C on a
/// continuation line drops the whole entry.
fn read_entry(editor: &mut Editor<ShellHelper, FileHistory>) -> rustyline::Result<String> {
    let mut text = editor.readline(PROMPT)?;
    while editor
        .helper()
        .is_some_and(|h| helper::unfinished(&h.parser, &text))
    {
        match editor.readline(CONTINUE) {
            Ok(more) => {
                text.push('\n');
                text.push_str(&more);
            }
            // Ctrl-D ends the entry as it is (it runs, and reports what is missing).
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(e),
        }
    }
    Ok(text)
}

/// `help` → Some(None); `help NAME` → Some(Some(NAME)); anything else → None.
fn help_topic(entry: &str) -> Option<Option<&str>> {
    let rest = entry.strip_prefix("help")?;
    let rest = rest.trim().trim_end_matches(';').trim();
    if rest.is_empty() {
        return Some(None);
    }
    // `help(x)` or `help = 1` are Rhai, not the command.
    rest.chars()
        .all(|c| c.is_alphanumeric() || c == '_' || c == ':')
        .then_some(Some(rest))
}

/// `$XDG_DATA_HOME/ceso/history` (created when missing).
fn history_path() -> Option<std::path::PathBuf> {
    let dir = dirs::data_dir()?.join("ceso");
    std::fs::create_dir_all(&dir).ok()?;
    Some(dir.join("history"))
}
