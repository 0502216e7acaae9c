//! The text of every script and module loaded, by the name errors refer to it with, so
//! a diagnostic can show the line in a module the error came from.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

#[derive(Clone, Default)]
pub struct Sources(Arc<RwLock<HashMap<String, Arc<str>>>>);

impl Sources {
    pub fn add(&self, name: &str, text: &str) {
        if let Ok(mut map) = self.0.write() {
            map.insert(name.to_string(), Arc::from(text));
        }
    }

    pub fn get(&self, name: &str) -> Option<Arc<str>> {
        self.0.read().ok()?.get(name).cloned()
    }
}

/// Script text as Rhai should see it: a `#!` first line becomes an empty comment,
/// keeping every other line where the user sees it.
pub fn without_shebang(text: &str) -> std::borrow::Cow<'_, str> {
    if text.starts_with("#!") {
        let rest = text.find('\n').map_or("", |i| &text[i..]);
        std::borrow::Cow::Owned(format!("//{rest}"))
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}
