//! Config errors that point into the file.

use miette::{Diagnostic, NamedSource, SourceSpan};

#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("{message}")]
#[diagnostic(code(ceso::config))]
pub struct ConfigError {
    pub message: String,
    #[source_code]
    pub source_code: Option<NamedSource<String>>,
    #[label("{label}")]
    pub span: Option<SourceSpan>,
    pub label: String,
    #[help]
    pub help: Option<String>,
}

impl ConfigError {
    pub fn plain(message: impl Into<String>, help: Option<String>) -> Self {
        Self {
            message: message.into(),
            source_code: None,
            span: None,
            label: String::new(),
            help,
        }
    }

    /// An error at byte `offset` of the file `name` whose text is `text`. The snippet
    /// shown never carries a password (URL user-info, `password:` values).
    pub fn at(
        name: &str,
        text: &str,
        offset: usize,
        message: impl Into<String>,
        label: impl Into<String>,
        help: Option<String>,
    ) -> Self {
        let (text, offset) = super::redact::config(text, offset.min(text.len()));
        let text = text.as_str();
        let offset = offset.min(text.len());
        let line_end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
        let len = (line_end - offset)
            .max(1)
            .min(text.len().saturating_sub(offset));
        Self {
            message: message.into(),
            source_code: Some(NamedSource::new(name, text.to_string())),
            span: Some((offset, len).into()),
            label: label.into(),
            help,
        }
    }
}
