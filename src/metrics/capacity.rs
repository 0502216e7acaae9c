//! Capacity forecasts: combine hosts' daily usage into a cluster's, fit the trend and
//! say when it reaches the limit, within a horizon.

use std::collections::BTreeMap;

use serde::Serialize;

use super::fit::{Trend, fit};

/// Fewest daily points a forecast is made from.
pub const MIN_DAYS: usize = 7;

#[derive(Debug, Clone, Serialize)]
pub struct Forecast {
    pub trend: Trend,
    /// Fit quality in words (strong, moderate, weak, none), from R².
    pub quality: &'static str,
    /// The fitted value now.
    pub now: f64,
    /// Whether the fit is good enough to date anything: R² of at least 0.3 (quality weak
    /// or better). Without it there is no `days_left`.
    pub reliable: bool,
    /// Days from now until the fitted line reaches the limit; None when it does not rise
    /// or the trend is not reliable.
    pub days_left: Option<f64>,
    /// When the limit is reached at the steepest and the flattest slope within two
    /// standard errors of the fitted one (about 95 %): earliest and latest day, the
    /// latest None when the flattest slope does not rise (it may never be reached).
    pub days_left_range: Option<DayRange>,
    /// Whether `days_left` falls within the horizon.
    pub within_horizon: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DayRange {
    pub earliest: f64,
    pub latest: Option<f64>,
}

/// Lowest R² a forecast gives a date for.
pub const MIN_R2: f64 = 0.3;

/// Days until `value` reaches `limit` rising `slope` a day; None when it does not rise.
fn days_to(limit: f64, value: f64, slope: f64) -> Option<f64> {
    (slope > 0.0 && slope.is_finite()).then(|| ((limit - value) / slope).max(0.0))
}

/// Fit `points` (unix seconds, value) and find when the line reaches `limit`.
pub fn forecast(
    points: &[(i64, f64)],
    limit: f64,
    now: i64,
    horizon_days: f64,
) -> Option<Forecast> {
    if points.len() < MIN_DAYS {
        return None;
    }
    let trend = fit(points)?;
    let value = trend.at(now);
    let reliable = trend.r2 >= MIN_R2;
    let days_left = days_to(limit, value, trend.slope).filter(|_| reliable);
    let spread = 2.0 * trend.slope_stderr;
    let days_left_range = days_left.and_then(|_| {
        Some(DayRange {
            earliest: days_to(limit, value, trend.slope + spread)?,
            latest: days_to(limit, value, trend.slope - spread),
        })
    });
    Some(Forecast {
        quality: trend.quality(),
        now: value,
        reliable,
        within_horizon: days_left.is_some_and(|d| d <= horizon_days),
        days_left,
        days_left_range,
        trend,
    })
}

/// The fitted value `days` after now, with the low and high the slope's uncertainty
/// (two standard errors, as in `days_left_range`) allows: (low, fitted, high). The
/// band starts at the fitted value now and widens with time.
pub fn band_at(f: &Forecast, days: f64) -> (f64, f64, f64) {
    let spread = 2.0 * f.trend.slope_stderr * days.abs();
    let fitted = f.now + f.trend.slope * days;
    (fitted - spread, fitted, fitted + spread)
}

/// How many days after now a chart of this forecast shows: to the day the fit reaches
/// the limit (and a little past it, so the crossing is not on the edge) when that is
/// within the horizon; else the horizon; none without a reliable rising trend beyond a
/// tenth of the history (the chart is then mostly history, readable).
pub fn forecast_span(f: Option<&Forecast>, history_days: f64, horizon_days: f64) -> f64 {
    let min = (history_days / 10.0).max(1.0);
    match f {
        Some(f) if f.reliable => match f.days_left {
            Some(d) if d <= horizon_days => (d * 1.1).max(min),
            Some(_) => horizon_days.max(min),
            None => (history_days / 3.0).clamp(min, horizon_days.max(min)),
        },
        _ => min,
    }
}

/// Per timestamp, the mean of the members' values weighted by their capacity (a big
/// host at 80 % counts more than a small one at 20 %); only timestamps every member has.
pub fn weighted_by_time(members: &[(f64, Vec<(i64, f64)>)]) -> Vec<(i64, f64)> {
    let mut sums: BTreeMap<i64, (f64, f64, usize)> = BTreeMap::new();
    for (weight, points) in members {
        for (ts, v) in points {
            let e = sums.entry(*ts).or_insert((0.0, 0.0, 0));
            e.0 += weight * v;
            e.1 += weight;
            e.2 += 1;
        }
    }
    sums.into_iter()
        .filter(|(_, (_, w, n))| *n == members.len() && *w > 0.0)
        .map(|(ts, (s, w, _))| (ts, s / w))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_trend_reaches_limit_on_time() {
        let now = 100 * 86400;
        // 0.5 %/day from 40 % sixty days ago: 70 % now, 100 % in 60 days.
        let pts: Vec<(i64, f64)> = (40..=100)
            .map(|d| (d * 86400, 40.0 + 0.5 * (d - 40) as f64))
            .collect();
        let f = forecast(&pts, 100.0, now, 90.0).unwrap();
        assert!((f.now - 70.0).abs() < 1e-6);
        assert!((f.days_left.unwrap() - 60.0).abs() < 1e-6);
        assert!(f.within_horizon);
        assert!(!forecast(&pts, 100.0, now, 30.0).unwrap().within_horizon);
        assert!(forecast(&pts[..5], 100.0, now, 90.0).is_none());
    }

    /// +0.5 %/day from 40 % over 60 days, ±3 around it.
    fn rising_with_noise() -> Vec<(i64, f64)> {
        (0..=60)
            .map(|d| {
                let wobble = if d % 2 == 0 { 3.0 } else { -3.0 };
                (d * 86400, 40.0 + 0.5 * d as f64 + wobble)
            })
            .collect()
    }

    #[test]
    fn noisy_trend_gives_a_range_and_no_trend_gives_no_date() {
        let now = 60 * 86400;
        // +0.5 %/day from 40 %, ±3 around it: 70 % now, full in about 60 days, give or take.
        let noisy = rising_with_noise();
        let f = forecast(&noisy, 100.0, now, 90.0).unwrap();
        assert!(f.reliable);
        let days = f.days_left.unwrap();
        let range = f.days_left_range.unwrap();
        let latest = range.latest.unwrap();
        assert!(range.earliest < days && days < latest, "{f:?}");
        assert!(range.earliest > 50.0 && latest < 70.0, "{f:?}");

        // Flat with ±5 noise and a tiny rise: R² near 0, so no date at all.
        let flat: Vec<(i64, f64)> = (0..=30)
            .map(|d| {
                let wobble = if d % 2 == 0 { 5.0 } else { -5.0 };
                (d * 86400, 60.0 + 0.01 * d as f64 + wobble)
            })
            .collect();
        let f = forecast(&flat, 100.0, 30 * 86400, 90.0).unwrap();
        assert!(!f.reliable && f.trend.r2 < MIN_R2, "{f:?}");
        assert_eq!(f.days_left, None);
        assert_eq!(f.days_left_range, None);
        assert!(!f.within_horizon);
    }

    #[test]
    fn the_band_widens_from_now_and_holds_the_range_crossings() {
        let now = 60 * 86400;
        let noisy = rising_with_noise();
        let f = forecast(&noisy, 100.0, now, 90.0).unwrap();
        let (lo, mid, hi) = band_at(&f, 0.0);
        assert_eq!((lo, hi), (mid, mid));
        assert!((mid - f.now).abs() < 1e-9);
        let range = f.days_left_range.unwrap();
        // The high edge reaches 100 % on the earliest day, the low edge on the latest.
        let (_, _, hi) = band_at(&f, range.earliest);
        assert!((hi - 100.0).abs() < 1e-6, "{hi}");
        let (lo, _, _) = band_at(&f, range.latest.unwrap());
        assert!((lo - 100.0).abs() < 1e-6, "{lo}");
    }

    #[test]
    fn the_chart_reaches_the_crossing_within_the_horizon_and_no_further() {
        let now = 100 * 86400;
        let pts: Vec<(i64, f64)> = (40..=100)
            .map(|d| (d * 86400, 40.0 + 0.5 * (d - 40) as f64))
            .collect();
        // Full in 60 days: the chart goes a little beyond.
        let f = forecast(&pts, 100.0, now, 90.0).unwrap();
        assert!((forecast_span(Some(&f), 60.0, 90.0) - 66.0).abs() < 1e-6);
        // Beyond a 30-day horizon: the horizon.
        let f = forecast(&pts, 100.0, now, 30.0).unwrap();
        assert_eq!(forecast_span(Some(&f), 60.0, 30.0), 30.0);
        // No forecast: a sliver, the chart is history.
        assert_eq!(forecast_span(None, 60.0, 365.0), 6.0);
    }

    #[test]
    fn weights_by_capacity_and_needs_every_member() {
        let a = (3.0, vec![(1, 80.0), (2, 80.0)]);
        let b = (1.0, vec![(1, 20.0)]);
        assert_eq!(weighted_by_time(&[a, b]), vec![(1, 65.0)]);
    }
}
