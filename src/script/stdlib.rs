//! The standard library written in Rhai (`stdlib/*.rhai`), compiled into the binary.
//! `import "fmt" as fmt;` finds these before any file.

/// (import name, source). Add a module here and a file in stdlib/.
pub const MODULES: &[(&str, &str)] = &[
    ("fmt", include_str!("../../stdlib/fmt.rhai")),
    ("inventory", include_str!("../../stdlib/inventory.rhai")),
    ("runbook", include_str!("../../stdlib/runbook.rhai")),
];

pub fn get(name: &str) -> Option<&'static str> {
    let name = name.strip_suffix(".rhai").unwrap_or(name);
    MODULES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| *text)
}

/// The name errors use for an embedded module.
pub fn source_name(name: &str) -> String {
    format!("stdlib/{}.rhai", name.strip_suffix(".rhai").unwrap_or(name))
}
