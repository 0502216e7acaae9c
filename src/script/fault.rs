//! Errors crossing into scripts. Operation failures (vSphere faults, not found, refused…)
//! become catchable maps — `#{fault, message, object, endpoint, hint}` — so runbooks can
//! `try { … } catch (e) { if e.fault == "InvalidPowerState" … }`. Mistakes in the script
//! itself (bad option names, wrong argument types) stay ordinary Rhai errors.

use rhai::{Dynamic, EvalAltResult, Map, Position};

use crate::ops::OpError;
use crate::vim;

/// Fault names ceso uses for failures that are not vSphere faults.
pub mod kinds {
    pub const NOT_FOUND: &str = "NotFound";
    pub const AMBIGUOUS: &str = "Ambiguous";
    pub const INVALID: &str = "InvalidInput";
    pub const REFUSED: &str = "Refused";
    pub const CONNECTION: &str = "ConnectionError";
    pub const TLS: &str = "TlsError";
    pub const TIMEOUT: &str = "Timeout";
    pub const CONFIG: &str = "ConfigError";
    pub const IO: &str = "IoError";
    pub const FAILED: &str = "Failed";
    pub const PARTIAL: &str = "PartialFailure";
}

/// Is `fault` one of ceso's own kinds (rather than a vSphere fault name)?
pub fn is_ceso_kind(fault: &str) -> bool {
    use kinds::*;
    [
        NOT_FOUND,
        AMBIGUOUS,
        INVALID,
        REFUSED,
        CONNECTION,
        TLS,
        TIMEOUT,
        CONFIG,
        IO,
        FAILED,
        PARTIAL,
        "Interrupted",
    ]
    .contains(&fault)
}

/// The map a script catches for an operation error.
pub fn fault_map(e: &OpError) -> Map {
    let mut map = Map::new();
    let (fault, object, endpoint) = classify(e);
    map.insert("fault".into(), fault.into());
    map.insert("message".into(), script_terms(&e.to_string()).into());
    map.insert("object".into(), object);
    map.insert("endpoint".into(), endpoint);
    map.insert(
        "hint".into(),
        e.hint().map_or(Dynamic::UNIT, |h| script_terms(&h).into()),
    );
    map
}

/// The fault name, object and endpoint of an error (an error with context: its cause's).
fn classify(e: &OpError) -> (String, Dynamic, Dynamic) {
    match e {
        OpError::Vim { endpoint, source } => {
            let fault = match source {
                vim::Error::Fault { name, .. } => name.clone(),
                vim::Error::Connect { .. }
                | vim::Error::Dropped { .. }
                | vim::Error::Redirect { .. }
                | vim::Error::Http { .. }
                | vim::Error::Decode(_) => kinds::CONNECTION.into(),
                vim::Error::Tls { .. } => kinds::TLS.into(),
                vim::Error::Timeout { .. } => kinds::TIMEOUT.into(),
                vim::Error::NoPassword { .. } => kinds::INVALID.into(),
                vim::Error::Other(_) => kinds::FAILED.into(),
            };
            let object = match source {
                vim::Error::Fault {
                    object: Some(obj), ..
                } => obj.to_string().into(),
                _ => Dynamic::UNIT,
            };
            (fault, object, endpoint.clone().into())
        }
        OpError::NotFound { name, .. } => {
            (kinds::NOT_FOUND.into(), name.clone().into(), Dynamic::UNIT)
        }
        OpError::Ambiguous { name, .. } => {
            (kinds::AMBIGUOUS.into(), name.clone().into(), Dynamic::UNIT)
        }
        OpError::Invalid { .. } => (kinds::INVALID.into(), Dynamic::UNIT, Dynamic::UNIT),
        OpError::Refused { .. } => (kinds::REFUSED.into(), Dynamic::UNIT, Dynamic::UNIT),
        OpError::Config(_) => (kinds::CONFIG.into(), Dynamic::UNIT, Dynamic::UNIT),
        OpError::Io(_) => (kinds::IO.into(), Dynamic::UNIT, Dynamic::UNIT),
        OpError::Partial { .. } => (kinds::PARTIAL.into(), Dynamic::UNIT, Dynamic::UNIT),
        OpError::Context { source, .. } => classify(source),
        // Interrupts are not faults: they never reach here (see ScriptCtx::run).
        OpError::Cancelled => ("Interrupted".into(), Dynamic::UNIT, Dynamic::UNIT),
    }
}

/// CLI areas that are namespaces of script functions (`ceso vm stop` → `vm::stop`).
const SCRIPT_NAMESPACES: &[&str] = &["vm", "host", "snapshot", "backup"];

/// Operation errors suggest CLI commands (`` `ceso vm stop web` ``); in a script or the
/// shell, the same advice as the script call (`` `vm::stop("web")` ``). Commands of
/// areas without a namespace stay as they are.
pub fn script_terms(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("`ceso ") {
        let Some(len) = rest[start + 1..].find('`') else {
            break;
        };
        let command = &rest[start + 1..start + 1 + len];
        out.push_str(&rest[..start]);
        match script_call(command) {
            Some(call) => out.push_str(&format!("`{call}`")),
            None => out.push_str(&format!("`{command}`")),
        }
        rest = &rest[start + len + 2..];
    }
    out.push_str(rest);
    out
}

/// `ceso vm stop --force web` → `vm::stop("web", #{force: true})`.
fn script_call(command: &str) -> Option<String> {
    let mut words = command.split_whitespace().skip(1);
    let noun = words.next()?;
    let verb = words.next()?;
    if !SCRIPT_NAMESPACES.contains(&noun) || verb.starts_with('-') {
        return None;
    }
    let mut args = Vec::new();
    let mut flags = Vec::new();
    for word in words {
        if let Some(flag) = word.strip_prefix("--") {
            flags.push(format!("{}: true", flag.replace('-', "_")));
        } else if let Some(placeholder) = word.strip_prefix('<').and_then(|w| w.strip_suffix('>')) {
            args.push(placeholder.to_string());
        } else {
            args.push(format!("{:?}", word.trim_matches('\'')));
        }
    }
    if !flags.is_empty() {
        args.push(format!("#{{{}}}", flags.join(", ")));
    }
    Some(format!(
        "{noun}::{}({})",
        verb.replace('-', "_"),
        args.join(", ")
    ))
}

/// An operation error as a catchable script error.
pub fn to_rhai(e: &OpError) -> Box<EvalAltResult> {
    thrown(fault_map(e))
}

/// Throw `map` as `throw` in a script would.
pub fn thrown(map: Map) -> Box<EvalAltResult> {
    Box::new(EvalAltResult::ErrorRuntime(map.into(), Position::NONE))
}

/// A mistake in the script (wrong option, bad value): a plain Rhai error.
pub fn script_error(message: impl Into<String>) -> Box<EvalAltResult> {
    Box::new(EvalAltResult::ErrorRuntime(
        message.into().into(),
        Position::NONE,
    ))
}

/// The fault name of a thrown value, if it is a fault map.
pub fn fault_of(value: &Dynamic) -> Option<String> {
    let map = value.read_lock::<Map>()?;
    map.get("fault").and_then(|f| f.clone().into_string().ok())
}

/// Exit code for an uncaught fault (mirrors the CLI's codes).
pub fn exit_code(fault: &str) -> u8 {
    use crate::app::exit;
    match fault {
        kinds::NOT_FOUND | kinds::AMBIGUOUS => exit::NOT_FOUND,
        kinds::INVALID | kinds::CONFIG => exit::USAGE,
        kinds::REFUSED => exit::REFUSED,
        kinds::CONNECTION | kinds::TLS | kinds::TIMEOUT | "InvalidLogin" => exit::CONNECTION,
        kinds::IO | kinds::FAILED | kinds::PARTIAL => exit::FAILURE,
        _ => exit::SERVER_FAULT,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_advice_becomes_script_calls() {
        assert_eq!(
            script_terms("list what exists with `ceso vm list`"),
            "list what exists with `vm::list()`"
        );
        assert_eq!(
            script_terms("stop it first (`ceso vm stop web-01`) or pass --force"),
            "stop it first (`vm::stop(\"web-01\")`) or pass --force"
        );
        assert_eq!(
            script_terms("`ceso vm restart --force web` does it at once"),
            "`vm::restart(\"web\", #{force: true})` does it at once"
        );
        assert_eq!(
            script_terms("name it by its id (shown by `ceso snapshot list <vm>`)"),
            "name it by its id (shown by `snapshot::list(vm)`)"
        );
        // Areas without a namespace keep the command.
        assert_eq!(
            script_terms("`ceso pci list` shows them"),
            "`ceso pci list` shows them"
        );
        assert_eq!(script_terms("no advice"), "no advice");
    }
}
