//! Output: JSON under `--json`, aligned tables on a terminal or in a pipe.

use std::io::IsTerminal;

use comfy_table::{Cell, CellAlignment, Table, presets};
use nu_ansi_term::{Color, Style};
use serde::Serialize;

#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub json: bool,
    pub color: bool,
}

impl Output {
    pub fn new(json: bool) -> Self {
        let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        Self { json, color }
    }

    pub fn json<T: Serialize + ?Sized>(&self, value: &T) {
        match serde_json::to_string_pretty(value) {
            Ok(text) => println!("{text}"),
            Err(e) => eprintln!("error: cannot render JSON: {e}"),
        }
    }

    /// The items of a multi-endpoint answer: a JSON array when every endpoint answered,
    /// else `{"results": [...], "errors": [...]}` (and exit 7 says so).
    pub fn json_gathered<T: Serialize>(&self, g: &crate::ops::Gathered<T>) {
        if g.errors.is_empty() {
            self.json(&g.items);
        } else {
            self.json(&serde_json::json!({
                "results": g.items,
                "errors": super::report::errors_json(&g.errors),
            }));
        }
    }

    /// Print a table: `headers`, then one row of cells per item.
    pub fn table(&self, headers: &[&str], rows: Vec<Vec<String>>) {
        let mut table = Table::new();
        table.load_style(presets::NOTHING);
        table.set_header(headers.iter().map(|h| {
            let text = if self.color {
                Style::new().bold().paint(*h).to_string()
            } else {
                h.to_string()
            };
            Cell::new(text)
        }));
        for row in rows {
            table.add_row(row.into_iter().map(|c| {
                let numeric = !c.is_empty() && c.chars().all(|ch| ch.is_ascii_digit() || ch == '.');
                let cell = Cell::new(c);
                if numeric {
                    cell.set_alignment(CellAlignment::Right)
                } else {
                    cell
                }
            }));
        }
        for line in table.to_string().lines() {
            println!("{}", line.trim_end());
        }
    }

    /// `key: value` lines for one object.
    pub fn fields(&self, fields: &[(&str, String)]) {
        let width = fields.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        for (key, value) in fields {
            let key = format!("{key}:");
            let key = if self.color {
                Style::new()
                    .bold()
                    .paint(format!("{key:width$}", width = width + 1))
                    .to_string()
            } else {
                format!("{key:width$}", width = width + 1)
            };
            println!("{key} {value}");
        }
    }

    pub fn power_state(&self, state: &str) -> String {
        if !self.color {
            return state.to_string();
        }
        let color = match state {
            "poweredOn" => Color::Green,
            "poweredOff" => Color::DarkGray,
            "suspended" => Color::Yellow,
            _ => return state.to_string(),
        };
        color.paint(state).to_string()
    }

    /// A success line on stderr (keeps stdout clean for data).
    pub fn done(&self, message: &str) {
        if self.json {
            return;
        }
        if std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none() {
            eprintln!("{} {message}", Color::Green.paint("✓"));
        } else {
            eprintln!("{message}");
        }
    }
}

pub fn mb(value: i64) -> String {
    if value >= 1024 && value % 1024 == 0 {
        format!("{} GB", value / 1024)
    } else {
        format!("{value} MB")
    }
}

/// A size in MB as people read it: `512 MB`, `20.0 GB`, `1.5 TB` (binary multiples,
/// as vSphere's own client shows them). `--json` keeps the raw number.
pub fn size_mb(value: i64) -> String {
    scaled(value as f64, &["MB", "GB", "TB", "PB"], "")
}

/// A performance value in its counter's unit, scaled for reading: KB and KBps to
/// MB/GB/TB, percentages with a `%`; other units as plain numbers.
pub fn counter_value(value: f64, unit: &str) -> String {
    match unit {
        "KB" => scaled(value, &["KB", "MB", "GB", "TB"], ""),
        "MB" => scaled(value, &["MB", "GB", "TB", "PB"], ""),
        "KBps" => scaled(value, &["KB", "MB", "GB", "TB"], "/s"),
        "%" => format!("{value:.1}%"),
        _ => format!("{value:.2}"),
    }
}

fn scaled(mut v: f64, units: &[&str], suffix: &str) -> String {
    let mut unit = 0;
    while v.abs() >= 1024.0 && unit < units.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 && v.fract() == 0.0 {
        format!("{v:.0} {}{suffix}", units[unit])
    } else {
        format!("{v:.1} {}{suffix}", units[unit])
    }
}

/// `part` of `whole` as a percentage (`-` without a whole).
pub fn percent(part: i64, whole: i64) -> String {
    if whole <= 0 {
        return "-".into();
    }
    format!("{:.0}%", part as f64 * 100.0 / whole as f64)
}

/// Bytes in binary units: `512 B`, `1.5 KiB`, `20.0 GiB`.
pub fn bytes(value: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = value as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{value} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// A server timestamp (xsd:dateTime) for a table: `2026-12-07 12:46:32` in UTC, to the
/// second (servers send anything from seconds to nanoseconds); JSON keeps the server's
/// own text. Text that is not a timestamp is shown as it is.
pub fn clock(timestamp: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(timestamp).map_or_else(
        |_| timestamp.to_string(),
        |t| {
            t.with_timezone(&chrono::Utc)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        },
    )
}

/// A duration in seconds as `45s`, `12m`, `5h`, `3d`.
pub fn age(seconds: i64) -> String {
    match seconds {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// The host a dry run would create a VM on, or that its resource pool will choose.
pub fn planned_host(host: &Option<String>) -> String {
    host.clone()
        .unwrap_or_else(|| "(chosen by the pool)".into())
}

#[cfg(test)]
mod tests {
    #[test]
    fn clock_shows_utc_seconds_whatever_the_precision() {
        assert_eq!(
            super::clock("2026-12-07T12:46:32.808610672Z"),
            "2026-12-07 12:46:32"
        );
        assert_eq!(
            super::clock("2026-12-07T13:46:32+01:00"),
            "2026-12-07 12:46:32"
        );
        assert_eq!(super::clock("2026-12-07T12:46:32Z"), "2026-12-07 12:46:32");
        assert_eq!(super::clock("soon"), "soon");
    }
}
