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
    map.insert("message".into(), e.to_string().into());
    map.insert("object".into(), object);
    map.insert("endpoint".into(), endpoint);
    map.insert("hint".into(), e.hint().map_or(Dynamic::UNIT, Into::into));
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
                | vim::Error::Http { .. }
                | vim::Error::Decode(_) => kinds::CONNECTION.into(),
                vim::Error::Tls { .. } => kinds::TLS.into(),
                vim::Error::Timeout { .. } => kinds::TIMEOUT.into(),
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
