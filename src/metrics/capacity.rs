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

    #[test]
    fn noisy_trend_gives_a_range_and_no_trend_gives_no_date() {
        let now = 60 * 86400;
        // +0.5 %/day from 40 %, ±3 around it: 70 % now, full in about 60 days, give or take.
        let noisy: Vec<(i64, f64)> = (0..=60)
            .map(|d| {
                let wobble = if d % 2 == 0 { 3.0 } else { -3.0 };
                (d * 86400, 40.0 + 0.5 * d as f64 + wobble)
            })
            .collect();
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
    fn weights_by_capacity_and_needs_every_member() {
        let a = (3.0, vec![(1, 80.0), (2, 80.0)]);
        let b = (1.0, vec![(1, 20.0)]);
        assert_eq!(weighted_by_time(&[a, b]), vec![(1, 65.0)]);
    }
}
