//! `ceso monitor`: a live, top-like view of hosts and VMs. On a terminal it redraws in
//! place (q or Ctrl-C quits; c/m/n/d/o sort by CPU, memory, network, disk, name); in a
//! pipe it prints plain lines per sample; `--json` prints one JSON object per sample.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use crossterm::{cursor, execute, terminal};

use crate::ops::stats::live::{self, Row, Watch};
use crate::ops::{OpError, OpResult};

use super::Ctx;
use super::args::ScopeArgs;
use super::stats::secs;

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq)]
pub enum SortBy {
    Cpu,
    Mem,
    Net,
    Disk,
    Name,
}

#[derive(Debug, Args)]
pub struct MonitorArgs {
    /// Host and VM names to watch (glob; default: all)
    pub pattern: Option<String>,
    /// Watch this cluster's hosts and their VMs
    #[arg(long)]
    pub cluster: Option<String>,
    /// Time between samples (real-time statistics are 20 s apart)
    #[arg(long, default_value = "20s")]
    pub interval: String,
    /// Stop after N samples
    #[arg(long, value_name = "N", value_parser = crate::cli::numbers::int::<u64>(1, None))]
    pub samples: Option<u64>,
    /// Sort order (on a terminal: keys c, m, n, d, o)
    #[arg(long, value_enum, default_value = "cpu")]
    pub sort: SortBy,
    #[command(flatten)]
    pub scope: ScopeArgs,
}

fn sort(rows: &mut [Row], by: SortBy) {
    let key = |r: &Row| match by {
        SortBy::Cpu => r.cpu_pct,
        SortBy::Mem => r.mem_pct,
        SortBy::Net => r.net_kbps,
        SortBy::Disk => r.disk_ms,
        SortBy::Name => None,
    };
    if by == SortBy::Name {
        rows.sort_by(|a, b| a.name.cmp(&b.name));
    } else {
        rows.sort_by(|a, b| key(b).unwrap_or(-1.0).total_cmp(&key(a).unwrap_or(-1.0)));
    }
}

fn cell(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.1}")).unwrap_or_else(|| "-".into())
}

fn lines(rows: &[Row]) -> Vec<String> {
    let mut out = vec![format!(
        "{:<5} {:<28} {:>7} {:>7} {:>10} {:>8}",
        "KIND", "NAME", "CPU%", "MEM%", "NET KBps", "DISK ms"
    )];
    for r in rows {
        out.push(format!(
            "{:<5} {:<28} {:>7} {:>7} {:>10} {:>8}",
            r.kind,
            r.name,
            cell(r.cpu_pct),
            cell(r.mem_pct),
            cell(r.net_kbps),
            cell(r.disk_ms)
        ));
    }
    out
}

pub fn run(ctx: &Ctx, args: MonitorArgs) -> OpResult<()> {
    let every = Duration::from_secs(secs("--interval", &args.interval)? as u64);
    let watch = Watch {
        pattern: args.pattern.clone(),
        cluster: args.cluster.clone(),
    };
    let scope = ctx.scope(&args.scope);
    let fetch = || {
        ctx.app
            .block_on(live::sample(&ctx.app.fleet, &scope, &watch))
    };
    let live_view = !ctx.out.json && std::io::stdout().is_terminal();
    if live_view {
        return terminal_view(fetch, every, args.samples, args.sort);
    }
    let mut n = 0;
    loop {
        n += 1;
        let mut rows = fetch()?;
        sort(&mut rows, args.sort);
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        if ctx.out.json {
            println!(
                "{}",
                serde_json::json!({"time": now, "sample": n, "rows": rows})
            );
        } else {
            println!("-- {now} sample {n}");
            for line in lines(&rows) {
                println!("{line}");
            }
        }
        let _ = std::io::stdout().flush();
        if args.samples.is_some_and(|max| n >= max) {
            return Ok(());
        }
        std::thread::sleep(every);
    }
}

/// Redraw in place until q/Ctrl-C or the sample count; the terminal is restored on
/// every way out.
fn terminal_view(
    fetch: impl Fn() -> OpResult<Vec<Row>>,
    every: Duration,
    samples: Option<u64>,
    mut by: SortBy,
) -> OpResult<()> {
    let io = |e: std::io::Error| OpError::Io(format!("terminal: {e}"));
    let mut out = std::io::stdout();
    terminal::enable_raw_mode().map_err(io)?;
    let _ = execute!(out, terminal::EnterAlternateScreen, cursor::Hide);
    let result = (|| {
        let mut n = 0;
        let mut rows = Vec::new();
        let mut next = Instant::now();
        loop {
            if Instant::now() >= next {
                n += 1;
                rows = fetch()?;
                next = Instant::now() + every;
            }
            sort(&mut rows, by);
            let _ = execute!(
                out,
                cursor::MoveTo(0, 0),
                terminal::Clear(terminal::ClearType::All)
            );
            let head = format!(
                "ceso monitor · sample {n} · every {}s · sort {:?} · q quits, c/m/n/d/o sorts",
                every.as_secs(),
                by
            );
            let _ = write!(out, "{head}\r\n\r\n{}\r\n", lines(&rows).join("\r\n"));
            let _ = out.flush();
            if samples.is_some_and(|max| n >= max) {
                return Ok(());
            }
            let wait = next.saturating_duration_since(Instant::now());
            if event::poll(wait).map_err(io)?
                && let Event::Key(k) = event::read().map_err(io)?
            {
                if k.kind != KeyEventKind::Press {
                    continue;
                }
                match k.code {
                    KeyCode::Char('q') | KeyCode::Esc => return Ok(()),
                    KeyCode::Char('c') if k.modifiers.contains(KeyModifiers::CONTROL) => {
                        return Ok(());
                    }
                    KeyCode::Char('c') => by = SortBy::Cpu,
                    KeyCode::Char('m') => by = SortBy::Mem,
                    KeyCode::Char('n') => by = SortBy::Net,
                    KeyCode::Char('d') => by = SortBy::Disk,
                    KeyCode::Char('o') => by = SortBy::Name,
                    _ => {}
                }
            }
        }
    })();
    let _ = execute!(out, cursor::Show, terminal::LeaveAlternateScreen);
    let _ = terminal::disable_raw_mode();
    result
}
