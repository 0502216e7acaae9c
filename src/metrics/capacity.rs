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
    /// Days from now until the fitted line reaches the limit; None when it does not rise.
    pub days_left: Option<f64>,
    /// Whether that happens within the horizon.
    pub within_horizon: bool,
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
    let days_left = trend
        .reaches(limit)
        .map(|t| ((t - now) as f64 / 86400.0).max(0.0));
    Some(Forecast {
        quality: trend.quality(),
        now: trend.at(now),
        within_horizon: days_left.is_some_and(|d| d <= horizon_days),
        days_left,
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
    fn weights_by_capacity_and_needs_every_member() {
        let a = (3.0, vec![(1, 80.0), (2, 80.0)]);
        let b = (1.0, vec![(1, 20.0)]);
        assert_eq!(weighted_by_time(&[a, b]), vec![(1, 65.0)]);
    }
}
