//! The line editor's helper: completion, and telling when a statement is not finished
//! (an open brace, bracket, parenthesis or string) so the shell asks for more.

use std::cell::RefCell;

use rustyline::completion::{Completer, FilenameCompleter, Pair};
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::{Context, Helper};

use crate::script::catalog::Catalog;
use crate::script::stdlib;

use super::complete::{COMMANDS, KEYWORDS, Want, context, names_for};
use super::names::InventoryNames;

pub struct ShellHelper {
    pub catalog: Catalog,
    pub names: InventoryNames,
    /// Variables in scope and their types, after the last entry.
    pub variables: RefCell<Vec<(String, String)>>,
    files: FilenameCompleter,
    /// Parses only, to tell complete input from unfinished input.
    pub parser: rhai::Engine,
}

impl ShellHelper {
    pub fn new(catalog: Catalog, names: InventoryNames) -> Self {
        Self {
            catalog,
            names,
            variables: RefCell::new(Vec::new()),
            files: FilenameCompleter::new(),
            parser: rhai::Engine::new_raw(),
        }
    }

    fn candidates(&self, word: &str, want: &Want) -> Vec<String> {
        let mut out: Vec<String> = match want {
            Want::Global => {
                let mut all: Vec<String> = self
                    .catalog
                    .global_names()
                    .into_iter()
                    .map(str::to_string)
                    .collect();
                all.extend(
                    self.catalog
                        .namespaces()
                        .into_iter()
                        .map(|n| format!("{n}::")),
                );
                all.extend(KEYWORDS.iter().map(|k| k.to_string()));
                all.extend(COMMANDS.iter().map(|k| k.to_string()));
                all.extend(self.variables.borrow().iter().map(|(n, _)| n.clone()));
                all
            }
            Want::Member { namespace } => self
                .catalog
                .members(namespace)
                .into_iter()
                .map(str::to_string)
                .collect(),
            Want::Method { receiver, call } => {
                let type_name = receiver
                    .as_ref()
                    .and_then(|r| {
                        self.variables
                            .borrow()
                            .iter()
                            .rev()
                            .find(|(n, _)| n == r)
                            .map(|(_, t)| t.clone())
                    })
                    .or_else(|| call.as_deref().and_then(|c| self.catalog.returns(c)));
                let type_name = method_type(type_name, &self.catalog.types);
                // ceso's own methods first, then Rhai's generic ones, each sorted.
                let mut all = self.catalog.methods(type_name.as_deref());
                all.retain(|c| c.starts_with(word));
                return all.into_iter().map(str::to_string).collect();
            }
            Want::Argument { callee } => match names_for(callee) {
                Some(kind) => self.names.get(kind),
                None => Vec::new(),
            },
            Want::Import => {
                let mut all: Vec<String> =
                    stdlib::MODULES.iter().map(|(n, _)| n.to_string()).collect();
                if let Ok(dir) = std::fs::read_dir(".") {
                    all.extend(dir.flatten().filter_map(|e| {
                        let name = e.file_name().to_string_lossy().to_string();
                        name.strip_suffix(".rhai").map(str::to_string)
                    }));
                }
                all
            }
            Want::Path => Vec::new(),
        };
        out.retain(|c| c.starts_with(word));
        out.sort();
        out.dedup();
        out
    }
}

/// The type whose methods complete after `receiver.`, when known. Rhai spells its
/// collections `array` or `Array` (`vms()` returns one): either way only their methods
/// are offered, not every type's.
fn method_type(type_name: Option<String>, types: &[String]) -> Option<String> {
    type_name
        .map(|t| match t.as_str() {
            "array" | "Array" => "Array".to_string(),
            "map" | "Map" => "Map".to_string(),
            other => other.to_string(),
        })
        .filter(|t| types.contains(t) || t == "Array" || t == "Map")
}

impl Completer for ShellHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let (start, word, want) = context(line, pos);
        if want == Want::Path {
            return self.files.complete(line, pos, ctx);
        }
        let pairs = self
            .candidates(&word, &want)
            .into_iter()
            .map(|c| Pair {
                display: c.clone(),
                replacement: c,
            })
            .collect();
        Ok((start, pairs))
    }
}

impl Hinter for ShellHelper {
    type Hint = String;
}

impl Highlighter for ShellHelper {}

/// Every line is accepted as typed: the shell asks for more under its own `...` prompt
/// (rustyline has no continuation prompt).
impl Validator for ShellHelper {}

impl Helper for ShellHelper {}

/// The input stops in the middle of a statement: more lines will finish it. Other
/// syntax errors are complete input (the error is shown when it runs).
pub fn unfinished(parser: &rhai::Engine, input: &str) -> bool {
    use rhai::ParseErrorType as P;
    let Err(e) = parser.compile(input) else {
        return false;
    };
    let at_end = {
        let pos = e.position();
        let lines: Vec<&str> = input.lines().collect();
        match pos.line() {
            None => true,
            Some(line) => {
                line > lines.len()
                    || (line == lines.len()
                        && pos.position().unwrap_or(0) > lines[line - 1].trim_end().chars().count())
            }
        }
    };
    match e.err_type() {
        P::UnexpectedEOF => true,
        // A back-tick string may span lines; a "string" may not.
        P::BadInput(rhai::LexError::UnterminatedString) => input.matches('`').count() % 2 == 1,
        P::UnknownOperator(_) => false,
        P::MissingToken(..) | P::MissingSymbol(..) | P::BadInput(_) => {
            at_end || input.ends_with('\n')
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_array_of_vms_completes_array_methods_only() {
        #[derive(Clone)]
        struct Vm;
        let mut engine = rhai::Engine::new();
        engine
            .register_type_with_name::<Vm>("Vm")
            .register_fn("start", |_: &mut Vm| 1_i64)
            .register_fn("vms", rhai::Array::new);
        let catalog = Catalog::build(&engine);
        let (_, _, want) = context("vms().", 6);
        let Want::Method { call, .. } = want else {
            panic!("{want:?}")
        };
        let returned = call.as_deref().and_then(|c| catalog.returns(c));
        let t = method_type(returned, &catalog.types);
        assert_eq!(t.as_deref(), Some("Array"));
        let methods = catalog.methods(t.as_deref());
        assert!(
            methods.contains(&"filter") && methods.contains(&"len"),
            "{methods:?}"
        );
        assert!(!methods.contains(&"start"), "{methods:?}");
        assert!(
            methods.len() < catalog.methods(None).len() / 2,
            "{methods:?}"
        );
    }

    #[test]
    fn open_blocks_brackets_and_strings_are_unfinished() {
        let parser = rhai::Engine::new_raw();
        for text in [
            "fn f(x) {",
            "let a = [1, 2,",
            "if true {\n  print(1);",
            "vms().filter(|v|",
            "let s = `abc",
        ] {
            assert!(unfinished(&parser, text), "{text:?} should be unfinished");
        }
        for text in ["let a = 1;", "vms()", "let = 5;", "1 +* 2", "}"] {
            assert!(!unfinished(&parser, text), "{text:?} should be complete");
        }
    }
}
