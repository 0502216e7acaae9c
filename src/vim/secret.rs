//! A password that never prints.

use std::fmt;
use std::sync::Mutex;

#[derive(Clone, Default)]
pub struct Secret(String);

/// Every value a Secret was made with, so the wire log (`--debug`) can blank it out
/// wherever it turns up. Bounded: a process holds a handful of passwords.
static KNOWN: Mutex<Vec<String>> = Mutex::new(Vec::new());
const MAX_KNOWN: usize = 64;
/// Shorter values are not searched for: blanking every "ab" would make logs unreadable,
/// and a password is redacted in its own elements whatever its length.
const MIN_KNOWN: usize = 4;

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        let value = value.into();
        if value.len() >= MIN_KNOWN
            && let Ok(mut known) = KNOWN.lock()
            && known.len() < MAX_KNOWN
            && !known.contains(&value)
        {
            known.push(value.clone());
        }
        Self(value)
    }

    /// The only way to read the value: grep for `expose` to audit where it goes.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The values secrets hold, for redaction.
pub(crate) fn known() -> Vec<String> {
    KNOWN.lock().map(|k| k.clone()).unwrap_or_default()
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}
