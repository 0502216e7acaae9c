//! Errors as miette diagnostics, and the exit code for each kind.

use miette::{Diagnostic, Report};

use crate::ops::{EndpointError, OpError};
use crate::vim;

pub use crate::app::exit;

pub fn exit_code(e: &OpError) -> u8 {
    match e {
        OpError::Vim { source, .. } => match source {
            vim::Error::Fault { name, .. } if name == "InvalidLogin" => exit::CONNECTION,
            vim::Error::Fault { .. } => exit::SERVER_FAULT,
            vim::Error::Connect { .. }
            | vim::Error::Tls { .. }
            | vim::Error::Dropped { .. }
            | vim::Error::Redirect { .. }
            | vim::Error::Timeout { .. }
            | vim::Error::Http { .. }
            | vim::Error::Decode(_) => exit::CONNECTION,
            vim::Error::NoPassword { .. } => exit::USAGE,
            vim::Error::Other(_) => exit::FAILURE,
        },
        OpError::NotFound { .. } | OpError::Ambiguous { .. } => exit::NOT_FOUND,
        OpError::Invalid { .. } | OpError::Config(_) => exit::USAGE,
        OpError::Refused { .. } => exit::REFUSED,
        OpError::Cancelled => exit::INTERRUPTED,
        OpError::Io(_) => exit::FAILURE,
        OpError::Partial { .. } => exit::PARTIAL,
        OpError::Context { source, .. } => exit_code(source),
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{message}")]
struct Plain {
    message: String,
    code: Option<String>,
    help: Option<String>,
}

impl Diagnostic for Plain {
    fn code<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.code
            .as_ref()
            .map(|c| Box::new(c) as Box<dyn std::fmt::Display>)
    }

    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn std::fmt::Display>)
    }
}

/// The diagnostic code of an error: its cause's for a restated one.
fn code(e: &OpError) -> Option<String> {
    match e {
        OpError::Vim {
            source: vim::Error::Fault { name, .. },
            ..
        } => Some(format!("vim::{name}")),
        OpError::NotFound { .. } => Some("ceso::not_found".into()),
        OpError::Ambiguous { .. } => Some("ceso::ambiguous".into()),
        OpError::Refused { .. } => Some("ceso::refused".into()),
        OpError::Partial { .. } => Some("ceso::partial".into()),
        OpError::Context { source, .. } => code(source),
        _ => None,
    }
}

/// Render an operation error for the terminal (or plain text when not a terminal).
pub fn report(e: OpError) -> Report {
    let code = code(&e);
    let help = e.hint();
    match e {
        OpError::Config(config) => Report::new(config),
        other => Report::new(Plain {
            message: other.to_string(),
            code,
            help,
        }),
    }
}

/// After the results of the endpoints that answered: one line per endpoint that did not,
/// and a partial failure (exit 7) when there was any.
pub fn endpoint_errors(errors: &[EndpointError]) -> Result<(), OpError> {
    for e in errors {
        eprintln!("error: {}", endpoint_line(e));
    }
    partial_failure(errors)
}

/// The partial failure for `errors` (none: Ok), without printing them.
pub fn partial_failure(errors: &[EndpointError]) -> Result<(), OpError> {
    if errors.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = errors.iter().map(|e| e.endpoint.as_str()).collect();
    Err(OpError::Partial {
        message: format!(
            "incomplete: {} endpoint(s) did not answer ({})",
            errors.len(),
            names.join(", ")
        ),
    })
}

/// `endpoint: what went wrong`, naming the endpoint once.
pub fn endpoint_line(e: &EndpointError) -> String {
    let text = e.error.to_string();
    if text.starts_with(&format!("{}: ", e.endpoint)) {
        text
    } else {
        format!("{}: {text}", e.endpoint)
    }
}

/// The `errors` list of `--json` output.
pub fn errors_json(errors: &[EndpointError]) -> serde_json::Value {
    errors
        .iter()
        .map(|e| {
            serde_json::json!({
                "endpoint": e.endpoint,
                "error": endpoint_line(e),
                "exit_code": exit_code(&e.error),
            })
        })
        .collect()
}
