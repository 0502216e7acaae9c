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
    let mut out = String::new();
    out.push_str(&bold("Functions by area"));
    out.push_str(" (help NAME for details and every overload)\n");
    let areas = catalog.by_area();
    let width = areas
        .iter()
        .flat_map(|a| a.functions.iter().map(|(k, _)| k.len()))
        .max()
        .unwrap_or(0)
        .min(28);
    for area in &areas {
        out.push('\n');
        out.push_str(&bold(area_title(area.area)));
        out.push('\n');
        for (name, line) in &area.functions {
            out.push_str(format!("  {name:<width$}  {line}").trim_end());
            out.push('\n');
        }
        if !area.types.is_empty() {
            out.push_str(&format!(
                "  methods of {} (help {} lists them)\n",
                area.types.join(", "),
                area.types[0]
            ));
        }
    }
    out.push('\n');
    out.push_str(&bold("Types"));
    out.push_str(" (help TYPE lists properties and methods)\n");
    out.push_str(&format!("  {}\n", catalog.types.join(", ")));
    out.push('\n');
    out.push_str(&bold("Stdlib modules"));
    out.push_str(" (import \"NAME\" as NAME;)\n");
    for m in &catalog.stdlib {
        let first = crate::script::catalog::first_sentence(&m.doc);
        out.push_str(&format!("  {:<10} {first}\n", m.name));
    }
    out.push('\n');
    out.push_str(&bold("Shell"));
    out.push_str(
        "\n  Tab completes functions, methods, VM and host names, files. Enter on an unfinished\n  statement continues it on the next line (under `...`). Ctrl-C clears the line or stops the running\n  command; Ctrl-D exits. Results print as tables; try/catch catches vSphere faults as\n  maps (e.fault, e.message, e.object).\n",
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

/// The area's heading in `help` (the bindings' areas, in the operators' words).
fn area_title(area: &str) -> &str {
    match area {
        "vm" => "VMs (vm)",
        "host" => "Hosts (host)",
        "datastore" => "Datastores (datastore)",
        "network" => "Networks (network)",
        "snapshot" => "Snapshots (snapshot)",
        "backup" => "Backups (backup)",
        "pci" => "PCI devices and GPUs (pci)",
        "collect" => "Collecting over many objects (collect)",
        "system" => "Utilities: files, JSON, time, output (system)",
        other => other,
    }
}

fn heading(f: &FnDoc, color: bool) -> String {
    let sig = f.signature();
    if color {
        Style::new().bold().paint(sig).to_string()
    } else {
        sig
    }
}
