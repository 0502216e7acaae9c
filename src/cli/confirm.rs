//! Asking before destroying.

use std::io::{BufRead, IsTerminal, Write};

use crate::ops::OpError;

/// Ok when `--yes` was given or the user answers yes; a refusal otherwise. Without a
/// terminal to ask on, destructive commands need `--yes`.
pub fn confirm(yes: bool, question: &str) -> Result<(), OpError> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(OpError::refused(
            format!("{question}: not confirmed"),
            "pass --yes to confirm when not running on a terminal",
        ));
    }
    eprint!("{question}? [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    if matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
        Ok(())
    } else {
        Err(OpError::refused(
            format!("{question}: cancelled"),
            "nothing was changed",
        ))
    }
}

/// A question as the rest of a "would …" line: only its first letter lowered, so names
/// and ids keep their case.
pub fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}
