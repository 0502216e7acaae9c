//! PNG charts of capacity use with plotters (`capacity report --png`; the HTML page
//! draws its own SVG, capacity_page). The font is embedded (DejaVu Sans Condensed), so
//! rendering needs nothing from the system.

use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::metrics::capacity::forecast_span;
use crate::metrics::clip;
use crate::ops::capacity::Resource;

const FONT: &[u8] = include_bytes!("../../data/fonts/DejaVuSansCondensed.ttf");
const SIZE: (u32, u32) = (720, 320);
/// The plot's % axis: a little above full, so the capacity line shows.
const Y_RANGE: (f64, f64) = (0.0, 110.0);

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// Daily use (%) with the fitted trend carried to the horizon and the 100 % line.
fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    r: &Resource,
    horizon_days: f64,
) -> Result<(), String> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    area.fill(&WHITE).map_err(err)?;
    let first = r.usage.first().map_or(0, |p| p.0);
    let last = r.usage.last().map_or(1, |p| p.0);
    let day = |ts: i64| (ts - last) as f64 / 86400.0;
    let x_start = day(first).min(-1.0);
    // To just past the day it is full (or the horizon), not always the horizon: a
    // month of history stays readable next to a year's horizon.
    let x_end = forecast_span(r.forecast.as_ref(), -x_start, horizon_days);
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(40)
        .build_cartesian_2d(x_start..x_end, Y_RANGE.0..Y_RANGE.1)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("days from now")
        .y_desc("% used")
        .draw()
        .map_err(err)?;
    chart
        .draw_series(LineSeries::new(
            r.usage.iter().map(|(t, v)| (day(*t), *v)),
            BLUE.stroke_width(2),
        ))
        .map_err(err)?
        .label("daily use")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], BLUE));
    chart
        .draw_series(LineSeries::new([(x_start, 100.0), (x_end, 100.0)], RED))
        .map_err(err)?
        .label("capacity")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], RED));
    if let Some(f) = &r.forecast {
        let at = |d: f64| f.trend.at(last + (d * 86400.0) as i64);
        // Cut where the line leaves the plot, so it crosses 100 % on the forecast day.
        let trend = clip::segment(
            (day(first), at(day(first))),
            (x_end, at(x_end)),
            (x_start, x_end),
            Y_RANGE,
        );
        chart
            .draw_series(LineSeries::new(
                trend.into_iter().flat_map(|(a, b)| [a, b]),
                BLACK.stroke_width(1),
            ))
            .map_err(err)?
            .label(format!("trend (R² {:.2})", f.trend.r2))
            .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], BLACK));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    area.present().map_err(err)
}

/// The same drawing as SVG text, which the tests read back.
#[cfg(test)]
pub fn svg(title: &str, r: &Resource, horizon_days: f64) -> Result<String, String> {
    register_font();
    let mut out = String::new();
    {
        let area = SVGBackend::with_string(&mut out, SIZE).into_drawing_area();
        draw(&area, title, r, horizon_days)?;
    }
    Ok(out)
}

pub fn png(path: &Path, title: &str, r: &Resource, horizon_days: f64) -> Result<(), String> {
    register_font();
    let area = BitMapBackend::new(path, SIZE).into_drawing_area();
    draw(&area, title, r, horizon_days)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::capacity::forecast;

    /// Memory at 79 % now, rising 1 % a day for a month: full in 21 days.
    fn rising() -> Resource {
        let now = 1_700_000_000;
        let usage: Vec<(i64, f64)> = (0..30)
            .map(|i| (now - (29 - i) * 86400, 50.0 + i as f64))
            .collect();
        Resource {
            name: "memory".into(),
            capacity: 1000.0,
            capacity_unit: "MB".into(),
            allocation: "allocated".into(),
            allocated: 500.0,
            allocatable: 1500.0,
            allocated_unit: "MB".into(),
            headroom: 1000.0,
            headroom_label: "headroom".into(),
            forecast: forecast(&usage, 100.0, now, 90.0),
            usage,
        }
    }

    /// Each `<polyline>`'s stroke colour and points, in drawing order.
    fn polylines(svg: &str) -> Vec<(String, Vec<(f64, f64)>)> {
        let attr = |tag: &str, name: &str| -> Option<String> {
            let from = tag.find(&format!(" {name}=\""))? + name.len() + 3;
            let len = tag[from..].find('"')?;
            Some(tag[from..from + len].to_string())
        };
        svg.split("<polyline")
            .skip(1)
            .filter_map(|rest| {
                let tag = &rest[..rest.find("/>")?];
                let points = attr(tag, "points")?
                    .split_whitespace()
                    .filter_map(|p| {
                        let (x, y) = p.split_once(',')?;
                        Some((x.parse().ok()?, y.parse().ok()?))
                    })
                    .collect();
                Some((attr(tag, "stroke")?, points))
            })
            .collect()
    }

    #[test]
    fn trend_crosses_full_on_the_forecast_day() {
        let r = rising();
        let f = r.forecast.as_ref().expect("a forecast");
        assert!((f.days_left.expect("it fills") - 21.0).abs() < 1e-6);
        let svg = svg("memory", &r, 90.0).expect("drawn");
        let lines = polylines(&svg);
        // Axes and ticks come first; then the series in order: use, capacity, trend.
        let after = |from: usize, colour: &str| {
            lines
                .iter()
                .enumerate()
                .skip(from)
                .find(|(_, (c, p))| c == colour && p.len() >= 2)
                .map(|(i, (_, p))| (i, p.clone()))
                .unwrap_or_else(|| panic!("no {colour} line in {svg}"))
        };
        // The capacity line spans the plot at 100 %: day -29 to a little past day 21.
        let end = forecast_span(r.forecast.as_ref(), 29.0, 90.0);
        assert!(end > 21.0 && end < 30.0, "{end}");
        let (at, full) = after(0, "#FF0000");
        let (left, right) = (full[0], full[full.len() - 1]);
        let y_full = left.1;
        let day_of = |px: f64| -29.0 + (px - left.0) / (right.0 - left.0) * (end + 29.0);
        // The trend: two points, crossing the capacity line at day 21.
        let (_, trend) = after(at + 1, "#000000");
        assert_eq!(trend.len(), 2, "{trend:?}");
        let (a, b) = (trend[0], trend[1]);
        assert!(
            b.1 < y_full && a.1 > y_full,
            "the trend rises past 100 %: {trend:?}"
        );
        let x = a.0 + (y_full - a.1) / (b.1 - a.1) * (b.0 - a.0);
        let day = day_of(x);
        assert!(
            (day - 21.0).abs() < 1.0,
            "crosses 100 % on day {day:.1}, not 21"
        );
    }
}
