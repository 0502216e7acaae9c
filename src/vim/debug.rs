//! The wire log: every SOAP request and answer with its timing, for `--debug`.
//!
//! The surface installs it once (`install`); without that, `CESO_TRACE` alone gives the
//! one-line-per-call summary it always gave. Passwords, session cookies and whatever a
//! `Secret` holds are replaced before anything is written, so a log can be attached to
//! a bug report as it is.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use super::secret;

/// What replaces a secret in the log.
pub const REDACTED: &str = "<redacted>";

/// The most of one body ever kept for the log: an answer of hundreds of MB must not be
/// held in memory twice because `--debug` is on.
pub const MAX_CAPTURE: usize = 4 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Off,
    /// One line per call: URL, method, time (`CESO_TRACE`).
    Calls,
    /// Calls with their headers and bodies (`--debug`).
    Bodies,
}

#[derive(Debug, Clone)]
pub struct DebugOptions {
    pub level: Level,
    /// Written here instead of stderr (`--debug-file`).
    pub file: Option<PathBuf>,
    /// Bodies longer than this are cut, saying how much was left out.
    pub max_body: Option<usize>,
}

struct Sink {
    level: Level,
    file: Option<Mutex<File>>,
    max_body: usize,
}

static SINK: OnceLock<Sink> = OnceLock::new();

/// Configure the log for the process; the first call wins. Fails only when the file
/// cannot be created.
pub fn install(options: DebugOptions) -> std::io::Result<()> {
    let file = match &options.file {
        Some(path) => Some(Mutex::new(create_private(path)?)),
        None => None,
    };
    let _ = SINK.set(Sink {
        level: options.level,
        file,
        max_body: options.max_body.unwrap_or(MAX_CAPTURE).min(MAX_CAPTURE),
    });
    Ok(())
}

fn create_private(path: &Path) -> std::io::Result<File> {
    let mut open = std::fs::OpenOptions::new();
    open.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
    open.open(path)
}

fn sink() -> &'static Sink {
    SINK.get_or_init(|| Sink {
        level: if std::env::var_os("CESO_TRACE").is_some() {
            Level::Calls
        } else {
            Level::Off
        },
        file: None,
        max_body: MAX_CAPTURE,
    })
}

pub fn level() -> Level {
    sink().level
}

pub fn enabled() -> bool {
    level() > Level::Off
}

/// Whether bodies are logged (and so worth capturing).
pub fn bodies() -> bool {
    level() >= Level::Bodies
}

/// How much of a body to capture.
pub fn capture_limit() -> usize {
    sink().max_body
}

/// A free-form line (a cached session reused, a re-login), redacted like the rest.
pub fn note(text: &str) {
    if enabled() {
        write(&format!("[ceso] {}\n", redact(text)));
    }
}

/// One request about to be sent.
pub fn request(url: &str, method: &str, headers: &[(&str, String)], body: &str) {
    if !bodies() {
        return;
    }
    let mut out = format!("[ceso] >> {url} {method}\n");
    for (name, value) in headers {
        out.push_str(&format!("  {name}: {}\n", redact_header(name, value)));
    }
    push_body(&mut out, body.as_bytes(), body.len());
    write(&out);
}

/// What came back: the status (None when no answer arrived), the time, and the start
/// of the body (`total` bytes in all).
pub fn answer(
    url: &str,
    method: &str,
    status: Option<u16>,
    elapsed: Duration,
    body: &[u8],
    total: u64,
) {
    if !enabled() {
        return;
    }
    let status = status.map_or_else(|| "no answer".to_string(), |s| format!("HTTP {s}"));
    // The summary line keeps CESO_TRACE's shape: URL, method, time.
    let mut out = format!("[ceso] {url} {method} {elapsed:?} {status}\n");
    if bodies() {
        push_body(&mut out, body, total as usize);
    }
    write(&out);
}

fn push_body(out: &mut String, body: &[u8], total: usize) {
    if body.is_empty() && total == 0 {
        return;
    }
    let limit = capture_limit();
    let shown = &body[..body.len().min(limit)];
    let text = String::from_utf8_lossy(shown);
    out.push_str("  ");
    out.push_str(&redact(&text));
    if total > shown.len() {
        out.push_str(&format!(
            " … ({} more bytes not shown)",
            total - shown.len()
        ));
    }
    out.push('\n');
}

fn write(text: &str) {
    let sink = sink();
    match &sink.file {
        Some(file) => {
            if let Ok(mut f) = file.lock() {
                let _ = f.write_all(text.as_bytes());
            }
        }
        None => {
            let _ = std::io::stderr().lock().write_all(text.as_bytes());
        }
    }
}

fn redact_header(name: &str, value: &str) -> String {
    let lower = name.to_ascii_lowercase();
    if lower == "authorization" || lower == "proxy-authorization" {
        return REDACTED.to_string();
    }
    if lower == "cookie" || lower == "set-cookie" {
        return redact_cookies(value);
    }
    redact(value)
}

/// `name=value; …` with the session cookie's value replaced.
fn redact_cookies(value: &str) -> String {
    value
        .split(';')
        .map(|part| match part.split_once('=') {
            Some((name, _)) if name.trim() == super::client::SESSION_COOKIE => {
                format!("{name}={REDACTED}")
            }
            _ => part.to_string(),
        })
        .collect::<Vec<_>>()
        .join(";")
}

/// The text with every `<password>` element's content (any prefix, any attributes),
/// every session cookie value, and every value a `Secret` holds replaced.
pub fn redact(text: &str) -> String {
    let mut out = redact_elements(text, "password");
    out = redact_after(&out, &format!("{}=", super::client::SESSION_COOKIE));
    for known in secret::known() {
        for form in [known.clone(), xml_escaped(&known)] {
            if !form.is_empty() && out.contains(&form) {
                out = out.replace(&form, REDACTED);
            }
        }
    }
    out
}

fn xml_escaped(text: &str) -> String {
    quick_xml::escape::escape(text).into_owned()
}

/// Replace the content of every element whose local name is `name`.
fn redact_elements(text: &str, name: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('<') {
        let (before, tag_on) = rest.split_at(open);
        out.push_str(before);
        let Some(close) = tag_on.find('>') else {
            out.push_str(tag_on);
            return out;
        };
        let tag = &tag_on[..=close];
        out.push_str(tag);
        rest = &tag_on[close + 1..];
        let tag_name = tag[1..tag.len() - 1]
            .split(|c: char| c.is_whitespace() || c == '/')
            .next()
            .unwrap_or_default();
        let local = tag_name.rsplit(':').next().unwrap_or_default();
        let self_closing = tag.ends_with("/>");
        if local.eq_ignore_ascii_case(name) && !tag.starts_with("</") && !self_closing {
            // The content runs to the next tag (a password is text, never markup).
            let end = rest.find('<').unwrap_or(rest.len());
            if end > 0 {
                out.push_str(REDACTED);
            }
            rest = &rest[end..];
        }
    }
    out.push_str(rest);
    out
}

/// Replace what follows each `marker` up to a quote, `;`, whitespace or `<`.
fn redact_after(text: &str, marker: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(marker) {
        out.push_str(&rest[..at + marker.len()]);
        rest = &rest[at + marker.len()..];
        if rest.starts_with(REDACTED) {
            continue;
        }
        let quoted = rest.starts_with('"');
        let value = if quoted { &rest[1..] } else { rest };
        let end = value
            .find(|c: char| c == '"' || c == ';' || c == '<' || c.is_whitespace())
            .unwrap_or(value.len());
        out.push_str(REDACTED);
        rest = &rest[end + usize::from(quoted)..];
        if quoted && rest.starts_with('"') {
            rest = &rest[1..];
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_elements_are_redacted_whatever_their_prefix() {
        let body = r#"<Login><userName>root</userName><password>s3cr&amp;t</password></Login><auth><vim:password xsi:type="xsd:string">x</vim:password><password/></auth>"#;
        let out = redact(body);
        assert!(!out.contains("s3cr"), "{out}");
        assert!(!out.contains(">x<"), "{out}");
        assert!(out.contains("<userName>root</userName>"), "{out}");
        assert_eq!(out.matches(REDACTED).count(), 2, "{out}");
    }

    #[test]
    fn session_cookies_are_redacted() {
        assert_eq!(
            redact_header(
                "Set-Cookie",
                "vmware_soap_session=\"abc\"; Path=/; HttpOnly"
            ),
            format!("vmware_soap_session={REDACTED}; Path=/; HttpOnly")
        );
        assert_eq!(redact_header("Authorization", "Basic abc"), REDACTED);
        let text = redact("cookie vmware_soap_session=\"abc123\" done");
        assert!(!text.contains("abc123"), "{text}");
    }

    #[test]
    fn what_a_secret_holds_is_redacted_anywhere() {
        let _s = crate::vim::Secret::new("hunter2-sentinel");
        let out = redact("<x>hunter2-sentinel</x> and hunter2-sentinel");
        assert!(!out.contains("hunter2"), "{out}");
    }
}
