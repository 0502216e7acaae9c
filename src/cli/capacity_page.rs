//! The capacity report as one self-contained HTML page (`capacity report --html`): per
//! cluster a headline of days until CPU, memory and each datastore are full (with the
//! range the fit allows), a chart per resource, and the fastest-growing VMs. Inline SVG
//! and CSS only: no script, font or image is fetched, and it prints to A4.
//!
//! A chart's x axis is in two parts: the history on the left 60 % at its own scale, the
//! forecast on the right to the day the trend reaches 100 % (or the horizon). One axis
//! over both would squeeze a month of history into the left edge of a year.

use std::fmt::Write as _;

use chrono::{DateTime, Duration, Utc};

use crate::metrics::capacity::{band_at, forecast_span};
use crate::ops::capacity::{Group, Report, Resource};

use super::capacity::{allocation, likely};

const W: f64 = 760.0;
const H: f64 = 250.0;
const LEFT: f64 = 52.0;
const RIGHT: f64 = 18.0;
const TOP: f64 = 14.0;
const BOTTOM: f64 = 40.0;
/// Share of the plot's width the history takes when there is a forecast to show.
const HISTORY_SHARE: f64 = 0.6;

const STYLE: &str = "
:root{--ink:#1d2430;--muted:#5b6573;--line:#d6dbe1;--use:#1f5fbf;--trend:#1d2430;
--band:#c9d8ef;--full:#c0392b;--ok:#1e7b45;--warn:#b7791f;--bad:#c0392b}
*{box-sizing:border-box}
body{font-family:'DejaVu Sans','Segoe UI',Helvetica,Arial,sans-serif;color:var(--ink);
margin:0 auto;max-width:860px;padding:28px 24px;line-height:1.4;font-size:14px}
h1{font-size:24px;margin:0 0 4px}
h2{font-size:19px;margin:0 0 2px}
h3{font-size:15px;margin:18px 0 6px}
.meta,.muted{color:var(--muted)}
.meta{margin:0 0 20px}
section.group{border-top:3px solid var(--ink);padding-top:14px;margin-top:26px}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:12px 0 6px}
.card{flex:1 1 230px;border:1px solid var(--line);border-left:6px solid var(--ok);
border-radius:4px;padding:8px 12px}
.card.warn{border-left-color:var(--warn)}
.card.bad{border-left-color:var(--bad)}
.card.none{border-left-color:var(--line)}
.card .what{font-size:12px;text-transform:uppercase;letter-spacing:.04em;color:var(--muted)}
.card .big{font-size:26px;font-weight:bold;line-height:1.2}
.card .big small{font-size:14px;font-weight:normal}
.card .detail{font-size:12.5px;color:var(--muted)}
figure{margin:10px 0 16px;break-inside:avoid}
figure svg{width:100%;height:auto;display:block}
figcaption{font-size:12.5px;color:var(--muted)}
table{border-collapse:collapse;width:100%;font-size:13px;break-inside:avoid}
th,td{border-bottom:1px solid var(--line);padding:4px 8px;text-align:left}
th{font-weight:bold;border-bottom:2px solid var(--ink)}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.note{background:#fff6e0;border:1px solid #f0d9a0;padding:6px 10px;border-radius:4px}
.legend{font-size:12px;color:var(--muted)}
.legend i{display:inline-block;width:18px;height:0;vertical-align:middle;margin:0 4px 0 12px}
@page{size:A4;margin:14mm}
@media print{body{max-width:none;padding:0;font-size:12px}
section.group{break-before:page;margin-top:0}section.group:first-of-type{break-before:auto}
*{-webkit-print-color-adjust:exact;print-color-adjust:exact}}
";

pub fn html(report: &Report) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Capacity report {}</title><style>{STYLE}</style></head><body>\
         <h1>Capacity report</h1><p class=\"meta\">{} · forecast horizon {:.0} days · \
         overcommit allowed: CPU {}×, memory {}× · {} cluster(s) or standalone host(s)</p>",
        report.generated.format("%Y-%m-%d"),
        report.generated.format("%-d %B %Y, %H:%M UTC"),
        report.horizon_days,
        report.overcommit.cpu,
        report.overcommit.memory,
        report.groups.len(),
    );
    for g in &report.groups {
        group(&mut h, g, report);
    }
    h.push_str(
        "<p class=\"muted\">How to read the dates: a straight line is fitted through the daily \
         use; the date is when that line reaches 100 %, and the range is where it lands with \
         the slope two standard errors steeper or flatter (about 95 %). No date is given when \
         the fit explains less than 30 % of the variation (R² below 0.3).</p></body></html>\n",
    );
    h
}

fn group(h: &mut String, g: &Group, report: &Report) {
    let _ = write!(
        h,
        "<section class=\"group\"><h2>{}</h2><p class=\"muted\">{} · {} host(s): {} · \
         {} day(s) of daily history</p>",
        esc(&g.name),
        esc(&g.endpoint),
        g.hosts.len(),
        esc(&g.hosts.join(", ")),
        g.history_days
    );
    if let Some(why) = &g.insufficient {
        let _ = write!(
            h,
            "<p class=\"note\"><b>Too little history to forecast.</b> {}</p>",
            esc(why)
        );
    }
    h.push_str("<div class=\"cards\">");
    for r in &g.resources {
        card(h, r, report);
    }
    h.push_str("</div>");
    for r in g.resources.iter().filter(|r| !r.usage.is_empty()) {
        let _ = write!(
            h,
            "<figure>{}<figcaption>{}: daily use in % of capacity ({} {} {}). {}</figcaption></figure>",
            chart(r, report),
            esc(&label(r)),
            fmt_num(r.capacity),
            esc(&r.capacity_unit),
            if r.name.starts_with("datastore") {
                "of space"
            } else {
                "physical"
            },
            esc(&allocation(r)),
        );
    }
    h.push_str(
        "<p class=\"legend\"><i style=\"border-top:2.5px solid var(--use)\"></i>daily use\
         <i style=\"border-top:2px dashed var(--trend)\"></i>fitted trend\
         <i style=\"border-top:9px solid var(--band)\"></i>likely range\
         <i style=\"border-top:2px solid var(--full)\"></i>capacity (100 %)</p>",
    );
    if !g.top_vms.is_empty() {
        h.push_str(
            "<h3>Fastest-growing VMs</h3><table><tr><th>VM</th>\
             <th class=\"n\">memory growth</th><th class=\"n\">CPU growth</th></tr>",
        );
        for v in &g.top_vms {
            let _ = write!(
                h,
                "<tr><td>{}</td><td class=\"n\">{:+.1} MB/day</td><td class=\"n\">{:+.1} MHz/day</td></tr>",
                esc(&v.name),
                v.memory_mb_per_day,
                v.cpu_mhz_per_day
            );
        }
        h.push_str("</table>");
    }
    h.push_str("</section>");
}

/// "CPU", "Memory", "Datastore LocalDS_0".
fn label(r: &Resource) -> String {
    match r.name.as_str() {
        "cpu" => "CPU".into(),
        "memory" => "Memory".into(),
        other => {
            let mut c = other.chars();
            c.next()
                .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                .unwrap_or_default()
        }
    }
}

/// The headline of one resource: days until full (or why there is no date).
fn card(h: &mut String, r: &Resource, report: &Report) {
    let now_pct = r
        .forecast
        .as_ref()
        .map(|f| f.now)
        .or(r.usage.last().map(|p| p.1));
    let used = now_pct.map_or("no data".to_string(), |v| format!("{v:.1} % used now"));
    let (class, big, detail) = match &r.forecast {
        None => (
            "none",
            "no forecast".to_string(),
            format!("{used}; fewer than 7 days of history"),
        ),
        Some(f) if !f.reliable => (
            "none",
            "no trend".to_string(),
            format!(
                "{used}; use does not follow a line (R² {:.2} over {} days), so no date",
                f.trend.r2, f.trend.points
            ),
        ),
        Some(f) => match f.days_left {
            None => (
                "",
                "not filling".to_string(),
                format!("{used}; {:+.2} %/day", f.trend.slope),
            ),
            Some(d) => {
                let when = date(report.generated, d);
                let class = if d <= 30.0 {
                    "bad"
                } else if f.within_horizon {
                    "warn"
                } else {
                    ""
                };
                (
                    class,
                    format!("{} <small>days to full</small>", days(d)),
                    format!(
                        "around {when}{}; {used}, {:+.2} %/day, fit {} (R² {:.2}, {} days)",
                        likely(f.days_left_range),
                        f.trend.slope,
                        f.quality,
                        f.trend.r2,
                        f.trend.points
                    ),
                )
            }
        },
    };
    let _ = write!(
        h,
        "<div class=\"card {class}\"><div class=\"what\">{}</div><div class=\"big\">{big}</div>\
         <div class=\"detail\">{}</div></div>",
        esc(&label(r)),
        esc(&detail)
    );
}

fn days(d: f64) -> String {
    format!("{:.0}", d.round())
}

fn date(from: DateTime<Utc>, days: f64) -> String {
    let secs = (days * 86400.0).clamp(-1e10, 1e10) as i64;
    (from + Duration::seconds(secs))
        .format("%-d %b %Y")
        .to_string()
}

/// 1234.5 → "1,235"; 12.34 → "12.3".
fn fmt_num(v: f64) -> String {
    if v.abs() < 100.0 {
        return format!("{v:.1}");
    }
    let whole = format!("{:.0}", v.abs());
    let mut out = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if v < 0.0 { format!("-{out}") } else { out }
}

fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Days from now → x in the SVG: history from its first day to now on the left part,
/// the forecast from now to `ahead` days on the right.
struct Axis {
    history: f64,
    ahead: f64,
    split: f64,
}

impl Axis {
    fn x(&self, day: f64) -> f64 {
        let right = W - RIGHT;
        if day <= 0.0 {
            let t = if self.history > 0.0 {
                (day + self.history) / self.history
            } else {
                1.0
            };
            LEFT + t.clamp(0.0, 1.0) * (self.split - LEFT)
        } else {
            self.split + (day / self.ahead).clamp(0.0, 1.0) * (right - self.split)
        }
    }
}

/// A tick step (days) giving about `n` ticks over `span` days.
fn step(span: f64, n: f64) -> i64 {
    [1, 2, 7, 14, 30, 60, 90, 180, 365]
        .into_iter()
        .find(|s| span / *s as f64 <= n)
        .unwrap_or(730)
}

fn chart(r: &Resource, report: &Report) -> String {
    let now = report.generated.timestamp();
    let day_of = |ts: i64| (ts - now) as f64 / 86400.0;
    let history = r.usage.first().map_or(1.0, |p| -day_of(p.0)).max(1.0);
    let f = r.forecast.as_ref();
    let ahead = forecast_span(f, history, report.horizon_days);
    let split = if f.is_some_and(|f| f.reliable) {
        LEFT + (W - RIGHT - LEFT) * HISTORY_SHARE
    } else {
        // Nothing to forecast: the history takes nearly all the width.
        W - RIGHT - (W - RIGHT - LEFT) * 0.08
    };
    let axis = Axis {
        history,
        ahead,
        split,
    };
    let top_pct = r
        .usage
        .iter()
        .map(|p| p.1)
        .fold(110.0_f64, f64::max)
        .min(200.0);
    let y = |pct: f64| TOP + (1.0 - pct.clamp(0.0, top_pct) / top_pct) * (H - TOP - BOTTOM);
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {W} {H}\" role=\"img\" \
         aria-label=\"{} use and forecast\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\" font-size=\"11\">",
        esc(&label(r))
    );
    // The forecast region, shaded lightly so history and forecast read apart.
    let _ = write!(
        s,
        "<rect x=\"{:.1}\" y=\"{TOP}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#f4f6f9\"/>",
        split,
        W - RIGHT - split,
        H - TOP - BOTTOM
    );
    // Horizontal grid with % labels.
    for pct in (0..=(top_pct as i64)).step_by(25) {
        let yy = y(pct as f64);
        let _ = write!(
            s,
            "<line x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{yy:.1}\" y2=\"{yy:.1}\" stroke=\"#e3e7ec\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#5b6573\">{pct} %</text>",
            W - RIGHT,
            LEFT - 6.0,
            yy + 4.0
        );
    }
    // Date ticks: history and forecast each at their own step.
    let mut ticks: Vec<f64> = Vec::new();
    let hs = step(history, 5.0) as f64;
    let mut d = 0.0;
    while d <= history + 0.01 {
        ticks.push(-d);
        d += hs;
    }
    if f.is_some_and(|f| f.reliable) {
        let fs = step(ahead, 3.5) as f64;
        let mut d = fs;
        while d <= ahead + 0.01 {
            ticks.push(d);
            d += fs;
        }
    }
    let mut last_x = f64::NEG_INFINITY;
    ticks.sort_by(f64::total_cmp);
    for d in ticks {
        let xx = axis.x(d);
        // Labels need about 56 px; a crowded one is skipped.
        if xx - last_x < 56.0 {
            continue;
        }
        last_x = xx;
        let _ = write!(
            s,
            "<line x1=\"{xx:.1}\" x2=\"{xx:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#9aa3ad\"/>\
             <text x=\"{xx:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#5b6573\">{}</text>",
            H - BOTTOM,
            H - BOTTOM + 4.0,
            H - BOTTOM + 16.0,
            date(report.generated, d)
                .rsplit_once(' ')
                .map_or(String::new(), |(dm, _)| dm.to_string())
        );
    }
    // Years under the axis, once per part.
    let _ = write!(
        s,
        "<text x=\"{LEFT}\" y=\"{:.1}\" fill=\"#5b6573\">{}</text>",
        H - 6.0,
        date(report.generated, -history)
            .rsplit(' ')
            .next()
            .unwrap_or_default()
    );
    if let Some(f) = f.filter(|f| f.reliable) {
        // The likely range: from the fitted value now, widening.
        let n = 32;
        let pts: Vec<(f64, f64, f64)> = (0..=n)
            .map(|i| {
                let d = ahead * i as f64 / n as f64;
                let (lo, _, hi) = band_at(f, d);
                (axis.x(d), y(lo), y(hi))
            })
            .collect();
        let mut poly: Vec<String> = pts
            .iter()
            .map(|(x, _, hi)| format!("{x:.1},{hi:.1}"))
            .collect();
        poly.extend(pts.iter().rev().map(|(x, lo, _)| format!("{x:.1},{lo:.1}")));
        let _ = write!(
            s,
            "<polygon points=\"{}\" fill=\"#c9d8ef\" opacity=\"0.85\"/>",
            poly.join(" ")
        );
        // The fitted line over the history and on to the chart's end (clipped to the
        // plot: a line past 100 % ends at the top).
        let trend = |d: f64| f.trend.at(now + (d * 86400.0) as i64);
        let line: Vec<String> = [-history, 0.0, ahead]
            .iter()
            .map(|d| format!("{:.1},{:.1}", axis.x(*d), y(trend(*d))))
            .collect();
        let _ = write!(
            s,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"#1d2430\" stroke-width=\"1.6\" stroke-dasharray=\"6 4\"/>",
            line.join(" ")
        );
        if let Some(d) = f.days_left.filter(|d| *d <= ahead) {
            let xx = axis.x(d);
            let anchor = if xx > W - RIGHT - 120.0 {
                "end"
            } else {
                "start"
            };
            let dx = if anchor == "end" { -6.0 } else { 6.0 };
            let _ = write!(
                s,
                "<line x1=\"{xx:.1}\" x2=\"{xx:.1}\" y1=\"{TOP}\" y2=\"{:.1}\" stroke=\"#c0392b\" stroke-dasharray=\"3 3\"/>\
                 <circle cx=\"{xx:.1}\" cy=\"{:.1}\" r=\"4\" fill=\"#c0392b\"/>\
                 <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"{anchor}\" fill=\"#c0392b\" font-weight=\"bold\">full ≈ {}</text>",
                H - BOTTOM,
                y(100.0),
                xx + dx,
                TOP + 12.0,
                date(report.generated, d)
            );
        }
    }
    // Capacity.
    let _ = write!(
        s,
        "<line x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#c0392b\" stroke-width=\"1.5\"/>",
        W - RIGHT,
        y(100.0),
        y(100.0)
    );
    // Today.
    let _ = write!(
        s,
        "<line x1=\"{split:.1}\" x2=\"{split:.1}\" y1=\"{TOP}\" y2=\"{:.1}\" stroke=\"#1d2430\"/>\
         <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#1d2430\">today</text>",
        H - BOTTOM,
        split - 4.0,
        H - BOTTOM - 6.0
    );
    // The history itself, on top.
    let line: Vec<String> = r
        .usage
        .iter()
        .map(|(t, v)| format!("{:.1},{:.1}", axis.x(day_of(*t)), y(*v)))
        .collect();
    let _ = write!(
        s,
        "<polyline points=\"{}\" fill=\"none\" stroke=\"#1f5fbf\" stroke-width=\"2.2\" stroke-linejoin=\"round\"/>",
        line.join(" ")
    );
    // Plot frame.
    let _ = write!(
        s,
        "<rect x=\"{LEFT}\" y=\"{TOP}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"none\" stroke=\"#9aa3ad\"/></svg>",
        W - RIGHT - LEFT,
        H - TOP - BOTTOM
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_fills_the_left_part_and_the_forecast_the_right() {
        let a = Axis {
            history: 60.0,
            ahead: 300.0,
            split: 500.0,
        };
        assert_eq!(a.x(-60.0), LEFT);
        assert_eq!(a.x(0.0), 500.0);
        assert_eq!(a.x(300.0), W - RIGHT);
        // Thirty days of history take as much width as 150 of forecast here.
        assert!((a.x(-30.0) - (LEFT + 500.0) / 2.0).abs() < 1e-9);
    }

    #[test]
    fn numbers_read_with_separators() {
        assert_eq!(fmt_num(1234.6), "1,235");
        assert_eq!(fmt_num(123456.0), "123,456");
        assert_eq!(fmt_num(12.34), "12.3");
        assert_eq!(step(60.0, 5.0), 14);
    }
}
