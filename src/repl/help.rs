//! `help` and `help NAME` in the shell, from the engine's own documentation.

use nu_ansi_term::Style;

use crate::script::catalog::{Catalog, FnDoc};

pub fn overview(catalog: &Catalog, color: bool) -> String {
    let bold = |t: &str| {
        if color {
            Style::new().bold().paint(t).to_string()
        } else {
            t.to_string()
        }
    };
    let mine: Vec<&str> = {
        let mut names: Vec<&str> = catalog
            .functions
            .iter()
            .filter(|f| {
                !f.standard
                    && f.namespace.is_none()
                    && f.property().is_none()
                    && f.this_type().is_none()
            })
            .map(|f| f.name.as_str())
            .collect();
        names.sort();
        names.dedup();
        names
    };
    let mut out = String::new();
    out.push_str(&bold("Functions"));
    out.push_str(" (help NAME for details)\n");
    out.push_str(&columns(&mine, 78));
    out.push('\n');
    out.push_str(&bold("Namespaces"));
    out.push_str(" (the CLI's verbs)\n");
    for ns in catalog.namespaces() {
        if catalog.stdlib.iter().any(|m| m.name == ns) {
            continue;
        }
        out.push_str(&format!("  {ns}::  {}\n", catalog.members(ns).join(", ")));
    }
    out.push('\n');
    out.push_str(&bold("Types"));
    out.push_str(" (help TYPE lists properties and methods)\n");
    out.push_str(&format!("  {}\n", catalog.types.join(", ")));
    out.push('\n');
    out.push_str(&bold("Stdlib modules"));
    out.push_str(" (import \"NAME\" as NAME;)\n");
    for m in &catalog.stdlib {
        let first = m.doc.lines().next().unwrap_or_default();
        out.push_str(&format!("  {:<10} {first}\n", m.name));
    }
    out.push('\n');
    out.push_str(&bold("Shell"));
    out.push_str(
        "\n  Tab completes functions, methods, VM and host names, files. Enter on an unfinished\n  statement continues it on the next line. Ctrl-C clears the line or stops the running\n  command; Ctrl-D exits. Results print as tables; try/catch catches vSphere faults as\n  maps (e.fault, e.message, e.object).\n",
    );
    out
}

/// Help for one name: every overload with its documentation.
pub fn topic(catalog: &Catalog, name: &str, color: bool) -> String {
    let found = catalog.lookup(name);
    if found.is_empty() {
        let all: Vec<&str> = catalog.global_names();
        let close = crate::ops::error::close_names(name, all.iter().copied());
        return if close.is_empty() {
            format!("no help for '{name}'; `help` lists everything")
        } else {
            format!("no help for '{name}'; did you mean {}?", close.join(", "))
        };
    }
    let mut out = String::new();
    if let Some(m) = catalog.stdlib.iter().find(|m| m.name == name) {
        out.push_str(&m.doc);
        out.push_str("\n\n");
    }
    let mut last_doc = String::new();
    for f in found {
        out.push_str(&heading(f, color));
        out.push('\n');
        if !f.doc.is_empty() && f.doc != last_doc {
            for line in f.doc.lines() {
                out.push_str(&format!("    {line}\n"));
            }
            last_doc = f.doc.clone();
        }
    }
    out.trim_end().to_string()
}

fn heading(f: &FnDoc, color: bool) -> String {
    let sig = f.signature();
    if color {
        Style::new().bold().paint(sig).to_string()
    } else {
        sig
    }
}

fn columns(names: &[&str], width: usize) -> String {
    let cell = names.iter().map(|n| n.len()).max().unwrap_or(0) + 2;
    let per_line = (width / cell.max(1)).max(1);
    names
        .chunks(per_line)
        .map(|row| {
            format!(
                "  {}",
                row.iter()
                    .map(|n| format!("{n:<cell$}"))
                    .collect::<String>()
                    .trim_end()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}
