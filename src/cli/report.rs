//! Errors as miette diagnostics, and the exit code for each kind.

use miette::{Diagnostic, Report};

use crate::ops::OpError;
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
            vim::Error::Other(_) => exit::FAILURE,
        },
        OpError::NotFound { .. } | OpError::Ambiguous { .. } => exit::NOT_FOUND,
        OpError::Invalid { .. } | OpError::Config(_) => exit::USAGE,
        OpError::Refused { .. } => exit::REFUSED,
        OpError::Cancelled => exit::INTERRUPTED,
        OpError::Io(_) => exit::FAILURE,
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

/// Render an operation error for the terminal (or plain text when not a terminal).
pub fn report(e: OpError) -> Report {
    let code = match &e {
        OpError::Vim {
            source: vim::Error::Fault { name, .. },
            ..
        } => Some(format!("vim::{name}")),
        OpError::NotFound { .. } => Some("ceso::not_found".into()),
        OpError::Ambiguous { .. } => Some("ceso::ambiguous".into()),
        OpError::Refused { .. } => Some("ceso::refused".into()),
        _ => None,
    };
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
