//! What to complete at the cursor: a function, a namespace member, a property or method,
//! an inventory name inside a string, a module to import, or a file path. Pure text
//! analysis, so it can be tested without a terminal.

/// The kind of word being completed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Want {
    /// A global name: function, variable, keyword, namespace.
    Global,
    /// After `ns::`.
    Member { namespace: String },
    /// After `receiver.`: a property or method (receiver is a variable name when simple;
    /// call is the function when the receiver is a call, `vm("x").`).
    Method {
        receiver: Option<String>,
        call: Option<String>,
    },
    /// Inside a string that is the first argument of `callee(` (`vm("web-`).
    Argument { callee: String },
    /// Inside the string of `import "…"`.
    Import,
    /// Inside a string that looks like a path.
    Path,
}

/// (start of the word being completed, the word so far, what it is).
pub fn context(line: &str, pos: usize) -> (usize, String, Want) {
    let before = &line[..pos];
    if let Some(open) = unclosed_quote(before) {
        let word = before[open + 1..].to_string();
        let lead = before[..open].trim_end();
        let want = if lead.ends_with("import") {
            Want::Import
        } else if word.starts_with(['/', '.', '~']) {
            Want::Path
        } else if let Some(call) = lead.strip_suffix('(') {
            let callee = trailing_path(call.trim_end());
            if matches!(callee.as_str(), "read_file" | "write_file" | "append_file") {
                Want::Path
            } else {
                Want::Argument { callee }
            }
        } else if word.contains('/') {
            Want::Path
        } else {
            Want::Argument {
                callee: String::new(),
            }
        };
        return (open + 1, word, want);
    }
    let word_len = before
        .chars()
        .rev()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .map(char::len_utf8)
        .sum::<usize>();
    let start = pos - word_len;
    let word = before[start..].to_string();
    let lead = &before[..start];
    if let Some(ns) = lead.strip_suffix("::") {
        return (
            start,
            word,
            Want::Member {
                namespace: trailing_ident(ns),
            },
        );
    }
    if let Some(receiver) = lead.strip_suffix('.') {
        let name = trailing_ident(receiver);
        // `a.b.`: the receiver's type is not known here.
        let simple =
            !name.is_empty() && !receiver[..receiver.len() - name.len()].ends_with(['.', ')']);
        return (
            start,
            word,
            Want::Method {
                receiver: simple.then_some(name),
                call: called_function(receiver),
            },
        );
    }
    (start, word, Want::Global)
}

/// `vm` when `text` ends with a call of it (`vm("x")`, `vm::info("y")`): its return
/// type is the receiver's. None for a method call (`a.f()`) or anything else.
fn called_function(text: &str) -> Option<String> {
    let body = text.strip_suffix(')')?;
    // Walk back to the matching '(' (strings and nested calls skipped).
    let mut depth = 1;
    let mut quote: Option<char> = None;
    let mut open = None;
    for (i, c) in body.char_indices().rev() {
        match quote {
            Some(q) if c == q && !body[..i].ends_with('\\') => quote = None,
            Some(_) => {}
            None => match c {
                '"' | '`' => quote = Some(c),
                ')' => depth += 1,
                '(' => {
                    depth -= 1;
                    if depth == 0 {
                        open = Some(i);
                        break;
                    }
                }
                _ => {}
            },
        }
    }
    let before = &body[..open?];
    let callee = trailing_path(before);
    let rest = &before[..before.len() - callee.len()];
    (!callee.is_empty() && !rest.trim_end().ends_with('.')).then_some(callee)
}

/// Byte index of an opening quote not closed before the end of `text`.
fn unclosed_quote(text: &str) -> Option<usize> {
    let mut open: Option<(usize, char)> = None;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        if let Some((_, quote)) = open {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == quote {
                open = None;
            }
        } else if c == '"' || c == '`' {
            open = Some((i, c));
        } else if c == '/' && text[i..].starts_with("//") {
            return None;
        }
    }
    open.map(|(i, _)| i)
}

fn trailing_ident(text: &str) -> String {
    let len = text
        .chars()
        .rev()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .map(char::len_utf8)
        .sum::<usize>();
    text[text.len() - len..].to_string()
}

/// `vm::info` or `vms` at the end of `text`.
fn trailing_path(text: &str) -> String {
    let len = text
        .chars()
        .rev()
        .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
        .map(char::len_utf8)
        .sum::<usize>();
    text[text.len() - len..].trim_start_matches(':').to_string()
}

/// Inventory kinds a function's first string argument names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Names {
    Vms,
    Hosts,
    Datastores,
    Networks,
}

pub fn names_for(callee: &str) -> Option<Names> {
    match callee {
        "vm" | "vms" | "vm::info" | "vm::start" | "vm::stop" | "vm::restart" | "vm::suspend"
        | "vm::delete" | "vm::list" => Some(Names::Vms),
        "host" | "host::info" => Some(Names::Hosts),
        "datastore" => Some(Names::Datastores),
        "network" => Some(Names::Networks),
        _ => None,
    }
}

pub const KEYWORDS: &[&str] = &[
    "let", "const", "fn", "if", "else", "for", "in", "while", "loop", "do", "until", "break",
    "continue", "return", "throw", "try", "catch", "import", "export", "as", "true", "false",
    "switch", "private", "this", "global",
];

/// REPL commands (not Rhai).
pub const COMMANDS: &[&str] = &["help", "exit", "quit"];

#[cfg(test)]
mod tests {
    use super::*;

    fn at_end(line: &str) -> (usize, String, Want) {
        context(line, line.len())
    }

    #[test]
    fn global_words_members_and_methods() {
        assert_eq!(at_end("let x = vm"), (8, "vm".into(), Want::Global));
        assert_eq!(
            at_end("vm::cr"),
            (
                4,
                "cr".into(),
                Want::Member {
                    namespace: "vm".into()
                }
            )
        );
        assert_eq!(
            at_end("v.pow"),
            (
                2,
                "pow".into(),
                Want::Method {
                    receiver: Some("v".into()),
                    call: None
                }
            )
        );
        assert_eq!(
            at_end("vms().pow"),
            (
                6,
                "pow".into(),
                Want::Method {
                    receiver: None,
                    call: Some("vms".into())
                }
            )
        );
        assert_eq!(
            at_end("a.b.c"),
            (
                4,
                "c".into(),
                Want::Method {
                    receiver: None,
                    call: None
                }
            )
        );
        assert_eq!(
            at_end("vm(\"web (a)\").st"),
            (
                14,
                "st".into(),
                Want::Method {
                    receiver: None,
                    call: Some("vm".into())
                }
            )
        );
        assert_eq!(
            at_end("x.vm(\"a\").st"),
            (
                10,
                "st".into(),
                Want::Method {
                    receiver: None,
                    call: None
                }
            )
        );
    }

    #[test]
    fn strings_complete_inventory_imports_and_paths() {
        assert_eq!(
            at_end("vm(\"web-"),
            (
                4,
                "web-".into(),
                Want::Argument {
                    callee: "vm".into()
                }
            )
        );
        assert_eq!(
            at_end("vm::info( \"DC"),
            (
                11,
                "DC".into(),
                Want::Argument {
                    callee: "vm::info".into()
                }
            )
        );
        assert_eq!(at_end("import \"fm"), (8, "fm".into(), Want::Import));
        assert_eq!(at_end("read_file(\"./no"), (11, "./no".into(), Want::Path));
        assert_eq!(
            at_end("print(\"done\"); vm"),
            (15, "vm".into(), Want::Global)
        );
        assert_eq!(names_for("vm::start"), Some(Names::Vms));
        assert_eq!(names_for("host"), Some(Names::Hosts));
    }
}
