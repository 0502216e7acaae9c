//! Showing script values to people: arrays of objects as tables, maps and objects as
//! `key: value` lines, colour only on a terminal without NO_COLOR.

use comfy_table::{Attribute, Cell, CellAlignment, Table, presets};
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

    /// The colour a value is shown in, if any (power and connection states, errors).
    fn color_of(column: &str, text: &str) -> Option<Color> {
        match (column, text) {
            (_, "poweredOn" | "connected") => Some(Color::Green),
            (_, "poweredOff") => Some(Color::DarkGray),
            (_, "suspended" | "disconnected" | "notResponding") => Some(Color::Yellow),
            ("error" | "fault", t) if !t.is_empty() => Some(Color::Red),
            _ => None,
        }
    }

    fn value_text(&self, column: &str, text: String) -> String {
        match Self::color_of(column, &text) {
            Some(color) if self.color => color.paint(text).to_string(),
            _ => text,
        }
    }

    /// A table cell, styled by comfy-table itself so that column widths stay right.
    fn value_cell(&self, column: &str, text: String) -> Cell {
        let color = Self::color_of(column, &text).filter(|_| self.color);
        let cell = Cell::new(text);
        match color {
            Some(Color::Green) => cell.fg(comfy_table::Color::Green),
            Some(Color::DarkGray) => cell.fg(comfy_table::Color::DarkGrey),
            Some(Color::Yellow) => cell.fg(comfy_table::Color::Yellow),
            Some(Color::Red) => cell.fg(comfy_table::Color::Red),
            _ => cell,
        }
    }
}

type Row = Vec<(String, Dynamic)>;

/// All fields of a registered object, or a map's entries.
fn row_of(ctx: &ScriptCtx, value: &Dynamic) -> Option<Row> {
    if let Some(view) = ctx.view(value) {
        return Some(
            view.fields
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        );
    }
    map_row(value)
}

/// The columns a table shows: an object's table columns, or a map's entries.
fn table_row_of(ctx: &ScriptCtx, value: &Dynamic) -> Option<Row> {
    if let Some(view) = ctx.view(value) {
        return Some(
            view.fields
                .into_iter()
                .filter(|(k, _)| view.columns.is_empty() || view.columns.contains(k))
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        );
    }
    map_row(value)
}

/// A map's entries, the identifying ones (name, vm, host) first: maps keep no order.
fn map_row(value: &Dynamic) -> Option<Row> {
    let map = value.read_lock::<Map>()?;
    let mut row: Row = map
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    let rank = |k: &str| {
        ["name", "vm", "host"]
            .iter()
            .position(|f| *f == k)
            .unwrap_or(usize::MAX)
    };
    row.sort_by_key(|(k, _)| rank(k));
    Some(row)
}

/// Rows of `items` restricted to `columns`, in that order (`table(rows, ["name", …])`).
pub fn table_of_columns(
    ctx: &ScriptCtx,
    items: &Array,
    columns: &[String],
    look: Look,
) -> Option<String> {
    let rows: Option<Vec<Row>> = items
        .iter()
        .map(|i| {
            let row = row_of(ctx, i)?;
            Some(
                columns
                    .iter()
                    .map(|c| {
                        (
                            c.clone(),
                            row.iter()
                                .find(|(k, _)| k == c)
                                .map_or(Dynamic::UNIT, |(_, v)| v.clone()),
                        )
                    })
                    .collect(),
            )
        })
        .collect();
    rows.map(|rows| table(ctx, &rows, look))
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
    let rows: Option<Vec<Row>> = items.iter().map(|i| table_row_of(ctx, i)).collect();
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

/// `key: value` lines, then each list of maps or objects (a VM's disks, NICs, devices)
/// as a table under its name, as `ceso vm info` shows them.
fn render_fields(ctx: &ScriptCtx, fields: &[(String, Dynamic)], look: Look) -> String {
    let (lists, scalars): (Vec<_>, Vec<_>) = fields
        .iter()
        .partition(|(_, v)| table_rows(ctx, v).is_some());
    let width = scalars.iter().map(|(k, _)| k.len()).max().unwrap_or(0) + 1;
    let mut out: Vec<String> = scalars
        .iter()
        .map(|(k, v)| {
            let key = look.bold(&format!("{:width$}", format!("{k}:")));
            format!("{key} {}", look.value_text(k, cell(ctx, v)))
        })
        .collect();
    for (k, v) in lists {
        let Some(rows) = table_rows(ctx, v) else {
            continue;
        };
        out.push(String::new());
        out.push(look.bold(&format!("{k}:")));
        out.push(table(ctx, &rows, look));
    }
    out.join("\n")
}

/// The rows of a non-empty list whose items are all maps or objects, without nested
/// maps (a device's raw backing stays in the value, out of the table).
fn table_rows(ctx: &ScriptCtx, value: &Dynamic) -> Option<Vec<Row>> {
    let items = value.read_lock::<Array>()?;
    if items.is_empty() {
        return None;
    }
    items
        .iter()
        .map(|i| {
            let row = table_row_of(ctx, i)?;
            Some(row.into_iter().filter(|(_, v)| !v.is::<Map>()).collect())
        })
        .collect()
}

/// A table with the union of every row's columns, in the order first seen.
pub fn table(ctx: &ScriptCtx, rows: &[Row], look: Look) -> String {
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
    if look.color {
        t.enforce_styling();
    } else {
        t.force_no_tty();
    }
    t.set_header(columns.iter().map(|c| {
        let cell = Cell::new(c.to_uppercase());
        if look.color {
            cell.add_attribute(Attribute::Bold)
        } else {
            cell
        }
    }));
    for row in rows {
        t.add_row(columns.iter().map(|c| {
            let value = row
                .iter()
                .find(|(k, _)| k == c)
                .map(|(_, v)| v.clone())
                .unwrap_or(Dynamic::UNIT);
            let numeric = value.is_int() || value.is_float();
            let cell = look.value_cell(c, cell(ctx, &value));
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

/// One value on one line: strings bare, lists comma-separated, maps as compact JSON,
/// objects by name.
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
