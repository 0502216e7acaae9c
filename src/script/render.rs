//! Showing script values to people: arrays of objects as tables, maps and objects as
//! `key: value` lines, colour only on a terminal without NO_COLOR.

use comfy_table::{Cell, CellAlignment, Table, presets};
use nu_ansi_term::{Color, Style};
use rhai::{Array, Dynamic, Map};

use super::ctx::ScriptCtx;

#[derive(Debug, Clone, Copy)]
pub struct Look {
    pub color: bool,
}

impl Look {
    /// Colour when `stdout` is a terminal and NO_COLOR is not set.
    pub fn for_stdout() -> Self {
        use std::io::IsTerminal;
        Self {
            color: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        }
    }

    fn bold(&self, text: &str) -> String {
        if self.color {
            Style::new().bold().paint(text).to_string()
        } else {
            text.to_string()
        }
    }

    fn value_cell(&self, column: &str, text: String) -> String {
        if !self.color {
            return text;
        }
        let color = match (column, text.as_str()) {
            (_, "poweredOn" | "connected") => Color::Green,
            (_, "poweredOff") => Color::DarkGray,
            (_, "suspended" | "disconnected" | "notResponding") => Color::Yellow,
            ("error", t) if !t.is_empty() => Color::Red,
            _ => return text,
        };
        color.paint(text).to_string()
    }
}

/// Rows of (column, value): a registered object's fields, or a map's entries.
fn row_of(ctx: &ScriptCtx, value: &Dynamic) -> Option<Vec<(String, Dynamic)>> {
    if let Some(view) = ctx.view(value) {
        return Some(
            view.fields
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        );
    }
    let map = value.read_lock::<Map>()?;
    Some(
        map.iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    )
}

/// The text of a value for the REPL and `ceso -c`. Unit is empty.
pub fn render(ctx: &ScriptCtx, value: &Dynamic, look: Look) -> String {
    if value.is_unit() {
        return String::new();
    }
    if let Some(items) = value.read_lock::<Array>() {
        return render_array(ctx, &items, look);
    }
    if let Some(fields) = row_of(ctx, value) {
        return render_fields(ctx, &fields, look);
    }
    cell(ctx, value)
}

fn render_array(ctx: &ScriptCtx, items: &Array, look: Look) -> String {
    if items.is_empty() {
        return "[]".into();
    }
    let rows: Option<Vec<Vec<(String, Dynamic)>>> = items.iter().map(|i| row_of(ctx, i)).collect();
    match rows {
        Some(rows) => table(ctx, &rows, look),
        None => {
            let cells: Vec<String> = items.iter().map(|i| cell(ctx, i)).collect();
            let inline = format!("[{}]", cells.join(", "));
            if inline.len() <= 100 && !inline.contains('\n') {
                inline
            } else {
                cells.join("\n")
            }
        }
    }
}

fn render_fields(ctx: &ScriptCtx, fields: &[(String, Dynamic)], look: Look) -> String {
    let width = fields.iter().map(|(k, _)| k.len()).max().unwrap_or(0) + 1;
    fields
        .iter()
        .map(|(k, v)| {
            let key = look.bold(&format!("{:width$}", format!("{k}:")));
            format!("{key} {}", look.value_cell(k, cell(ctx, v)))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A table with the union of every row's columns, in the order first seen.
pub fn table(ctx: &ScriptCtx, rows: &[Vec<(String, Dynamic)>], look: Look) -> String {
    let mut columns: Vec<String> = Vec::new();
    for row in rows {
        for (k, _) in row {
            if !columns.contains(k) {
                columns.push(k.clone());
            }
        }
    }
    let mut t = Table::new();
    t.load_style(presets::NOTHING);
    t.set_header(
        columns
            .iter()
            .map(|c| Cell::new(look.bold(&c.to_uppercase()))),
    );
    for row in rows {
        t.add_row(columns.iter().map(|c| {
            let value = row
                .iter()
                .find(|(k, _)| k == c)
                .map(|(_, v)| v.clone())
                .unwrap_or(Dynamic::UNIT);
            let numeric = value.is_int() || value.is_float();
            let cell = Cell::new(look.value_cell(c, cell(ctx, &value)));
            if numeric {
                cell.set_alignment(CellAlignment::Right)
            } else {
                cell
            }
        }));
    }
    t.to_string()
        .lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n")
}

/// One value on one line: strings bare, lists comma-separated, maps as compact JSON.
pub fn cell(ctx: &ScriptCtx, value: &Dynamic) -> String {
    if value.is_unit() {
        return String::new();
    }
    if value.is_string() {
        return value.to_string();
    }
    if let Some(items) = value.read_lock::<Array>() {
        return items
            .iter()
            .map(|i| cell(ctx, i))
            .collect::<Vec<_>>()
            .join(", ");
    }
    if value.is::<Map>() {
        return super::convert::to_json(ctx, value).to_string();
    }
    if let Some(view) = ctx.view(value)
        && let Some((_, name)) = view.fields.iter().find(|(k, _)| *k == "name")
    {
        return name.to_string();
    }
    value.to_string()
}
