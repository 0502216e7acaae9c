//! Script errors as miette diagnostics: the file, line and column, the source line with
//! the spot underlined, and the chain of calls (through imported modules) that led there.

use std::collections::HashMap;
use std::fmt;

use miette::{
    Diagnostic, GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, SourceSpan,
};
use rhai::{Dynamic, EvalAltResult, Map, ParseError, Position};

use crate::app::exit;

use super::fault;
use super::sources::Sources;

/// One diagnostic: a message at a place in a source, with related places.
#[derive(Debug)]
pub struct ScriptDiagnostic {
    message: String,
    code: Option<String>,
    help: Option<String>,
    source: Option<NamedSource<String>>,
    label: Option<LabeledSpan>,
    related: Vec<ScriptDiagnostic>,
}

impl fmt::Display for ScriptDiagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ScriptDiagnostic {}

impl Diagnostic for ScriptDiagnostic {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.code
            .as_ref()
            .map(|c| Box::new(c) as Box<dyn fmt::Display>)
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|s| s as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        self.label
            .clone()
            .map(|l| Box::new(std::iter::once(l)) as Box<dyn Iterator<Item = LabeledSpan>>)
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        if self.related.is_empty() {
            return None;
        }
        Some(Box::new(self.related.iter().map(|d| d as &dyn Diagnostic)))
    }
}

/// A rendered script failure and the exit code it means.
pub struct Failure {
    pub diagnostic: ScriptDiagnostic,
    pub exit_code: u8,
}

impl Failure {
    /// The diagnostic as text for stderr: colour on a terminal without NO_COLOR, and the
    /// call chain nested under the error.
    pub fn render(&self) -> String {
        use std::io::IsTerminal;
        let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        let theme = if color {
            GraphicalTheme::unicode()
        } else {
            GraphicalTheme::unicode_nocolor()
        };
        let width = if std::io::stderr().is_terminal() {
            terminal_width()
        } else {
            100
        };
        let handler = GraphicalReportHandler::new_themed(theme)
            .with_width(width)
            .with_links(false)
            .with_show_related_as_nested(true);
        let mut out = String::new();
        if handler.render_report(&mut out, &self.diagnostic).is_err() {
            out = self.diagnostic.message.clone();
        }
        out
    }
}

fn terminal_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(100)
}

/// Where in which source.
struct Place<'a> {
    source: &'a str,
    pos: Position,
}

impl ScriptDiagnostic {
    fn new(message: impl Into<String>, code: &str) -> Self {
        Self {
            message: message.into(),
            code: Some(code.to_string()),
            help: None,
            source: None,
            label: None,
            related: Vec::new(),
        }
    }

    fn help(mut self, help: Option<String>) -> Self {
        self.help = help;
        self
    }

    /// Point at `place`, labelled `label`, when its text is known.
    fn at(mut self, sources: &Sources, place: &Place<'_>, label: &str) -> Self {
        if let (Some(text), Some(line)) = (sources.get(place.source), place.pos.line()) {
            let column = place.pos.position().unwrap_or(1);
            let (offset, len) = span_at(&text, line, column);
            self.source = Some(NamedSource::new(place.source, text.to_string()));
            self.label = Some(LabeledSpan::new_with_span(
                Some(label.to_string()),
                SourceSpan::new(offset.into(), len),
            ));
        } else if let Some(line) = place.pos.line() {
            let column = place.pos.position().unwrap_or(1);
            self.message = format!("{} ({}:{line}:{column})", self.message, place.source);
        }
        self
    }
}

/// Byte offset and length of the token at 1-based `line`/`column` (in characters).
fn span_at(text: &str, line: usize, column: usize) -> (usize, usize) {
    let mut offset = 0;
    for (i, l) in text.split_inclusive('\n').enumerate() {
        if i + 1 == line {
            let start = l
                .char_indices()
                .nth(column.saturating_sub(1))
                .map_or(l.trim_end().len(), |(b, _)| b);
            let rest = &l[start..];
            let len = token_len(rest);
            return (offset + start, len);
        }
        offset += l.len();
    }
    (text.len(), 0)
}

fn token_len(rest: &str) -> usize {
    let mut chars = rest.char_indices();
    match chars.next() {
        None => 0,
        Some((_, c)) if c.is_alphanumeric() || c == '_' => rest
            .char_indices()
            .find(|(_, c)| !(c.is_alphanumeric() || *c == '_'))
            .map_or(rest.trim_end().len(), |(i, _)| i),
        Some((_, '"')) => rest[1..].find('"').map_or(1, |i| i + 2),
        Some((_, c)) => c.len_utf8(),
    }
}

/// A syntax error in the main script (named `name`).
pub fn syntax(sources: &Sources, name: &str, e: &ParseError) -> Failure {
    let message = format!("syntax error: {}", e.err_type());
    Failure {
        diagnostic: ScriptDiagnostic::new(message, "script::syntax")
            .at(
                sources,
                &Place {
                    source: name,
                    pos: e.position(),
                },
                "here",
            )
            .help(syntax_hint(&e.err_type().to_string())),
        exit_code: exit::USAGE,
    }
}

fn syntax_hint(message: &str) -> Option<String> {
    if message.contains("Expecting ';'") {
        return Some("statements end with ';'".into());
    }
    if message.contains("to close") {
        return Some("a bracket or brace is not closed".into());
    }
    None
}

/// A runtime error of the main script `name` (or of a module it called into).
pub fn runtime(
    sources: &Sources,
    name: &str,
    err: &EvalAltResult,
    known_functions: &[String],
    defined_in: &HashMap<String, String>,
) -> Failure {
    // Unwind the call chain: each wrapper tells where the call was made (in the caller's
    // source) and which source the callee lives in.
    let mut frames: Vec<(String, String, Position)> = Vec::new();
    let mut current = name.to_string();
    let mut e = err;
    loop {
        match e {
            EvalAltResult::ErrorInFunctionCall(function, callee_source, inner, pos) => {
                let what = if function.starts_with("anon$") {
                    "a closure".to_string()
                } else {
                    format!("{function}()")
                };
                frames.push((format!("{what} was called here"), current.clone(), *pos));
                // A shell entry runs with the functions of earlier entries, under its
                // own name: the body is in the entry that defined the function.
                match defined_in.get(function) {
                    Some(entry) if callee_source.is_empty() || callee_source == name => {
                        current = entry.clone();
                    }
                    _ if !callee_source.is_empty() => current = callee_source.clone(),
                    _ => {}
                }
                e = inner;
            }
            EvalAltResult::ErrorInModule(module, inner, pos) => {
                frames.push((format!("while importing {module}"), current.clone(), *pos));
                current = module.clone();
                e = inner;
            }
            _ => break,
        }
    }
    let (mut diagnostic, exit_code) = innermost(e, known_functions);
    diagnostic = diagnostic.at(
        sources,
        &Place {
            source: &current,
            pos: e.position(),
        },
        "here",
    );
    // Innermost call first, like a stack trace.
    for (label, source, pos) in frames.into_iter().rev() {
        let mut frame = ScriptDiagnostic::new(label, "script::call");
        frame.code = None;
        diagnostic.related.push(frame.at(
            sources,
            &Place {
                source: &source,
                pos,
            },
            "here",
        ));
    }
    Failure {
        diagnostic,
        exit_code,
    }
}

/// The message, code and exit code of the error itself.
fn innermost(e: &EvalAltResult, known_functions: &[String]) -> (ScriptDiagnostic, u8) {
    match e {
        EvalAltResult::ErrorParsing(kind, _) => (
            ScriptDiagnostic::new(format!("syntax error: {kind}"), "script::syntax").help(syntax_hint(&kind.to_string())),
            exit::USAGE,
        ),
        EvalAltResult::ErrorRuntime(value, _) => thrown(value),
        EvalAltResult::ErrorTerminated(token, _) => interrupted(token),
        EvalAltResult::ErrorTooManyOperations(_) => (
            ScriptDiagnostic::new("the script reached its limit of operations", "script::limit").help(Some(
                "an endless loop? Raise the limit with --max-operations N or settings.scripting.max_operations".into(),
            )),
            exit::FAILURE,
        ),
        EvalAltResult::ErrorStackOverflow(_) => (
            ScriptDiagnostic::new("calls nested too deeply", "script::limit").help(Some(
                "endless recursion? Raise the limit with --max-call-depth N or settings.scripting.max_call_depth".into(),
            )),
            exit::FAILURE,
        ),
        EvalAltResult::ErrorDataTooLarge(what, _) => (
            ScriptDiagnostic::new(format!("{what} is larger than the script limit"), "script::limit").help(Some(
                "raise --max-string-size / --max-array-size or settings.scripting.max_string_size / max_array_size".into(),
            )),
            exit::FAILURE,
        ),
        EvalAltResult::ErrorFunctionNotFound(signature, _) => {
            let name = signature.split(['(', ' ']).next().unwrap_or(signature);
            let close = crate::ops::error::close_names(name, known_functions.iter().map(String::as_str));
            let help = if close.iter().any(|c| c == name) {
                Some(format!("{name} exists, but not for these argument types; see `help {name}` in the shell"))
            } else if close.is_empty() {
                Some("`help` in the shell lists every function".into())
            } else {
                Some(format!("did you mean {}?", close.join(", ")))
            };
            (ScriptDiagnostic::new(format!("no function {signature}"), "script::runtime").help(help), exit::FAILURE)
        }
        EvalAltResult::ErrorModuleNotFound(name, _) => (
            ScriptDiagnostic::new(format!("no module '{name}' to import"), "script::import").help(Some(format!(
                "imports look in the stdlib ({}), then the script's folder, then {}",
                super::stdlib::MODULES.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", "),
                super::resolver::user_dir().map_or("~/.config/ceso/scripts".into(), |d| d.display().to_string())
            ))),
            exit::FAILURE,
        ),
        other => (ScriptDiagnostic::new(plain_message(other), "script::runtime"), exit::FAILURE),
    }
}

/// Rhai's message without the position suffix (we show the place ourselves).
fn plain_message(e: &EvalAltResult) -> String {
    let text = e.to_string();
    let pos = e.position();
    if pos.is_none() {
        return text;
    }
    text.strip_suffix(&format!(" ({pos})"))
        .map_or(text.clone(), str::to_string)
}

/// An uncaught `throw`: a fault map from an operation, or whatever the script threw.
fn thrown(value: &Dynamic) -> (ScriptDiagnostic, u8) {
    if let Some(fault_name) = fault::fault_of(value) {
        let map = value
            .read_lock::<Map>()
            .map(|m| m.clone())
            .unwrap_or_default();
        let text = |k: &str| map.get(k).filter(|v| !v.is_unit()).map(ToString::to_string);
        let is_vim = !fault::is_ceso_kind(&fault_name);
        let code = if is_vim {
            format!("vim::{fault_name}")
        } else {
            format!("ceso::{fault_name}")
        };
        let message = text("message").unwrap_or_else(|| fault_name.clone());
        return (
            ScriptDiagnostic::new(message, &code).help(text("hint").or(Some(format!(
                "catch it with try {{ … }} catch (e) {{ if e.fault == \"{fault_name}\" … }}"
            )))),
            fault::exit_code(&fault_name),
        );
    }
    let message = if value.is_string() {
        value.to_string()
    } else {
        format!("uncaught exception: {value}")
    };
    (
        ScriptDiagnostic::new(message, "script::thrown"),
        exit::FAILURE,
    )
}

fn interrupted(token: &Dynamic) -> (ScriptDiagnostic, u8) {
    let in_flight: Vec<String> = token
        .read_lock::<Map>()
        .and_then(|m| {
            m.get("in_flight")
                .and_then(|v| v.clone().try_cast::<rhai::Array>())
        })
        .unwrap_or_default()
        .into_iter()
        .map(|v| v.to_string())
        .collect();
    let help = if in_flight.is_empty() {
        "no change was under way on the servers".to_string()
    } else {
        format!(
            "left under way:\n{}",
            in_flight
                .iter()
                .map(|l| format!("  - {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        )
    };
    (
        ScriptDiagnostic::new("interrupted", "ceso::interrupted").help(Some(help)),
        exit::INTERRUPTED,
    )
}

/// An error outside any script text (file unreadable…).
pub fn plain(
    message: impl Into<String>,
    code: &str,
    exit_code: u8,
    help: Option<String>,
) -> Failure {
    Failure {
        diagnostic: ScriptDiagnostic::new(message, code).help(help),
        exit_code,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_points_at_the_token_on_its_line() {
        let text = "let a = 1;\nlet b = frob(a);\n";
        let (offset, len) = span_at(text, 2, 9);
        assert_eq!(&text[offset..offset + len], "frob");
    }

    #[test]
    fn span_of_a_string_covers_the_quotes() {
        let text = "vm(\"web-01\")";
        let (offset, len) = span_at(text, 1, 4);
        assert_eq!(&text[offset..offset + len], "\"web-01\"");
    }
}
