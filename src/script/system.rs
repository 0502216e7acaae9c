//! General-purpose functions runbooks need: waiting, time, environment, JSON, globs,
//! tables, files and shell commands. Writing files and running commands are refused
//! unless the config or a flag allows them.

use std::time::Duration;

use rhai::{Dynamic, Engine, Map};

use crate::ops::OpError;

use super::convert::{from_json, to_json};
use super::ctx::{RhaiResultOf, ScriptCtx};
use super::doc::func;
use super::fault::{script_error, to_rhai};
use super::render::{Look, render};

pub fn register(engine: &mut Engine, ctx: &ScriptCtx) {
    let c = ctx.clone();
    func(
        "sleep",
        &["seconds: i64", "()"],
        "Wait; Ctrl-C interrupts at once.",
    )
    .register_into_engine(engine, move |seconds: i64| sleep(&c, seconds as f64));
    let c = ctx.clone();
    func(
        "sleep",
        &["seconds: f64", "()"],
        "Wait a fraction of a second or more; Ctrl-C interrupts at once.",
    )
    .register_into_engine(engine, move |seconds: f64| sleep(&c, seconds));
    func(
        "now",
        &["String"],
        "The current time, RFC 3339 in UTC (2024-05-01T12:00:00Z).",
    )
    .register_into_engine(engine, || {
        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    });
    func(
        "env",
        &["name: String", "Dynamic"],
        "An environment variable, or () when unset.",
    )
    .register_into_engine(engine, |name: &str| -> Dynamic {
        std::env::var(name).map_or(Dynamic::UNIT, Into::into)
    });
    func(
        "glob_match",
        &["pattern: String", "text: String", "bool"],
        "Does `text` match the glob (* ? [..])?",
    )
    .register_into_engine(engine, |pattern: &str, text: &str| -> RhaiResultOf<bool> {
        glob::Pattern::new(pattern)
            .map(|p| p.matches(text))
            .map_err(|e| script_error(format!("glob_match: invalid pattern '{pattern}': {e}")))
    });
    let c = ctx.clone();
    func(
        "json",
        &["value: Dynamic", "String"],
        "The value as pretty-printed JSON (objects become their fields).",
    )
    .register_into_engine(engine, move |value: Dynamic| {
        serde_json::to_string_pretty(&to_json(&c, &value)).unwrap_or_default()
    });
    func(
        "parse_json",
        &["text: String", "Dynamic"],
        "Parse JSON text into maps, arrays and values.",
    )
    .register_into_engine(engine, |text: &str| -> RhaiResultOf<Dynamic> {
        serde_json::from_str::<serde_json::Value>(text)
            .map(|v| from_json(&v))
            .map_err(|e| script_error(format!("parse_json: {e}")))
    });
    let c = ctx.clone();
    func(
        "table",
        &["value: Dynamic", "()"],
        "Print an array of objects or maps as a table (a map or object as fields).",
    )
    .register_into_engine(engine, move |value: Dynamic| {
        c.say(&render(&c, &value, Look::for_stdout()))
    });
    let c = ctx.clone();
    func(
        "table",
        &["rows: Array", "columns: Array", "()"],
        "Print an array of objects or maps as a table with these columns, in this order.",
    )
    .register_into_engine(
        engine,
        move |rows: rhai::Array, columns: rhai::Array| -> RhaiResultOf<()> {
            let columns = super::convert::strings(columns, "table")?;
            let text = super::render::table_of_columns(&c, &rows, &columns, Look::for_stdout())
                .ok_or_else(|| script_error("table: every row must be an object or a map"))?;
            c.say(&text);
            Ok(())
        },
    );
    func(
        "eprint",
        &["value: Dynamic", "()"],
        "Print to stderr (keeps stdout for data).",
    )
    .register_into_engine(engine, |value: Dynamic| eprintln!("{value}"));
    // Rhai's own exit() ends the script with a value, not an exit code; ceso's leaves the
    // process with the code, from any depth (it cannot be caught).
    func(
        "exit",
        &["code: i64", "()"],
        "End the script now; `ceso run` exits with `code`.",
    )
    .register_into_engine(engine, |code: i64| -> RhaiResultOf<()> {
        Err(exit_with(code))
    });
    func("exit", &["()"], "End the script now with exit code 0.")
        .register_into_engine(engine, || -> RhaiResultOf<()> { Err(exit_with(0)) });
    let c = ctx.clone();
    func("dry_run", &["bool"], "Was the script run with --dry-run? (Every changing function then only says what it would do.)")
        .register_into_engine(engine, move || c.policy().dry_run);

    func(
        "read_file",
        &["path: String", "String"],
        "The text of a file.",
    )
    .register_into_engine(engine, |path: &str| -> RhaiResultOf<String> {
        std::fs::read_to_string(path)
            .map_err(|e| to_rhai(&OpError::Io(format!("cannot read {path}: {e}"))))
    });
    let c = ctx.clone();
    func(
        "write_file",
        &["path: String", "text: String", "()"],
        "Write text to a file, replacing it. Needs --allow-write.",
    )
    .register_into_engine(engine, move |path: &str, text: &str| -> RhaiResultOf<()> {
        c.require_write("write_file")?;
        std::fs::write(path, text)
            .map_err(|e| to_rhai(&OpError::Io(format!("cannot write {path}: {e}"))))
    });
    let c = ctx.clone();
    func(
        "append_file",
        &["path: String", "text: String", "()"],
        "Append text to a file. Needs --allow-write.",
    )
    .register_into_engine(engine, move |path: &str, text: &str| -> RhaiResultOf<()> {
        c.require_write("append_file")?;
        use std::io::Write;
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .map_err(|e| to_rhai(&OpError::Io(format!("cannot append to {path}: {e}"))))
    });
    let c = ctx.clone();
    func(
        "shell",
        &["command: String", "Map"],
        "Run a command with sh -c: #{status, stdout, stderr}. Needs --allow-shell. Ctrl-C kills it.",
    )
    .register_into_engine(engine, move |command: &str| shell(&c, command));
}

fn sleep(ctx: &ScriptCtx, seconds: f64) -> RhaiResultOf<()> {
    if !seconds.is_finite() || seconds < 0.0 {
        return Err(script_error(format!(
            "sleep: {seconds} is not a number of seconds"
        )));
    }
    let duration = Duration::from_secs_f64(seconds.min(1e9));
    ctx.run(async move {
        tokio::time::sleep(duration).await;
        Ok(())
    })
}

fn shell(ctx: &ScriptCtx, command: &str) -> RhaiResultOf<Map> {
    ctx.require_shell("shell")?;
    let command = command.to_string();
    let output = ctx.run(async move {
        tokio::process::Command::new("sh")
            .arg("-c")
            .arg(&command)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output()
            .await
            .map_err(|e| OpError::Io(format!("cannot run `{command}`: {e}")))
    })?;
    let mut m = Map::new();
    m.insert(
        "status".into(),
        i64::from(output.status.code().unwrap_or(-1)).into(),
    );
    m.insert(
        "stdout".into(),
        String::from_utf8_lossy(&output.stdout).into_owned().into(),
    );
    m.insert(
        "stderr".into(),
        String::from_utf8_lossy(&output.stderr).into_owned().into(),
    );
    Ok(m)
}

/// The uncatchable error `exit(code)` stops a script with.
fn exit_with(code: i64) -> Box<rhai::EvalAltResult> {
    let mut token = Map::new();
    token.insert("exit".into(), code.into());
    Box::new(rhai::EvalAltResult::ErrorTerminated(
        token.into(),
        rhai::Position::NONE,
    ))
}

/// The exit code, when `error` is an `exit(code)`.
pub fn exit_code_of(error: &rhai::EvalAltResult) -> Option<u8> {
    let rhai::EvalAltResult::ErrorTerminated(token, _) = error.unwrap_inner() else {
        return None;
    };
    let code = token.read_lock::<Map>()?.get("exit")?.as_int().ok()?;
    Some(code.clamp(0, 255) as u8)
}
