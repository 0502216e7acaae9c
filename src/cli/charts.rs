//! Charts of capacity use with plotters: the same drawing to an SVG string (inline in
//! the HTML report) or a PNG file. The font is embedded (DejaVu Sans Condensed), so
//! rendering needs nothing from the system.

use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::ops::capacity::Resource;

const FONT: &[u8] = include_bytes!("../../data/fonts/DejaVuSansCondensed.ttf");
const SIZE: (u32, u32) = (720, 320);

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
    let x_end = if r.forecast.is_some() {
        horizon_days
    } else {
        1.0
    };
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(40)
        .build_cartesian_2d(day(first).min(-1.0)..x_end, 0.0..110.0)
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
        .draw_series(LineSeries::new(
            [(day(first).min(-1.0), 100.0), (x_end, 100.0)],
            RED,
        ))
        .map_err(err)?
        .label("capacity")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], RED));
    if let Some(f) = &r.forecast {
        let at = |d: f64| f.trend.at(last + (d * 86400.0) as i64);
        chart
            .draw_series(LineSeries::new(
                [(day(first), at(day(first))), (x_end, at(x_end))],
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
