//! Registering functions with documentation: what `help name` shows in the REPL and what
//! `ceso defs` writes for editors.

use rhai::FuncRegistration;

/// A function called `name`, documented by `doc` (plain text, one or more lines) and
/// typed by `params`: `"name: Type"` for each parameter, then the return type.
pub fn func(name: &str, params: &[&str], doc: &str) -> FuncRegistration {
    FuncRegistration::new(name)
        .with_comments([comment(doc)])
        .with_params_info(params.iter().copied())
}

/// `/// ` before every line, as Rhai's metadata expects.
fn comment(doc: &str) -> String {
    doc.lines()
        .map(|l| format!("/// {l}").trim_end().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}
