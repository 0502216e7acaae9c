//! Least-squares line through (time, value) points, its R², and when it crosses a limit.

/// `value ≈ intercept + slope · t` (t in days from the first point).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Trend {
    /// Units per day.
    pub slope: f64,
    /// Value at the first point's time.
    pub intercept: f64,
    /// Coefficient of determination: 1 a perfect line, 0 no better than the mean.
    pub r2: f64,
    /// Standard error of the slope (units per day): how far the true slope may be from
    /// the fitted one; 0 with only two points.
    pub slope_stderr: f64,
    pub points: usize,
    /// Unix seconds of the first point (t = 0).
    pub origin: i64,
}

impl Trend {
    pub fn at(&self, unix: i64) -> f64 {
        self.intercept + self.slope * (unix - self.origin) as f64 / 86400.0
    }

    /// Unix seconds when the line reaches `limit`, if it is rising towards it.
    pub fn reaches(&self, limit: f64) -> Option<i64> {
        if self.slope <= 0.0 || !self.slope.is_finite() {
            return None;
        }
        let days = (limit - self.intercept) / self.slope;
        Some(self.origin + (days * 86400.0).round() as i64)
    }

    /// Words for the fit's quality, so a forecast says how far to trust it.
    pub fn quality(&self) -> &'static str {
        match self.r2 {
            r if r >= 0.9 => "strong",
            r if r >= 0.6 => "moderate",
            r if r >= 0.3 => "weak",
            _ => "none",
        }
    }
}

/// Fit `points` (unix seconds, value); None with fewer than 2 distinct times.
pub fn fit(points: &[(i64, f64)]) -> Option<Trend> {
    let origin = points.first()?.0;
    let n = points.len() as f64;
    let xs = || points.iter().map(|(t, _)| (t - origin) as f64 / 86400.0);
    let mean_x = xs().sum::<f64>() / n;
    let mean_y = points.iter().map(|(_, v)| v).sum::<f64>() / n;
    let (mut sxx, mut sxy, mut syy) = (0.0, 0.0, 0.0);
    for (x, (_, y)) in xs().zip(points) {
        sxx += (x - mean_x) * (x - mean_x);
        sxy += (x - mean_x) * (y - mean_y);
        syy += (y - mean_y) * (y - mean_y);
    }
    if sxx == 0.0 {
        return None;
    }
    let slope = sxy / sxx;
    let r2 = if syy == 0.0 {
        1.0
    } else {
        (sxy * sxy) / (sxx * syy)
    };
    // Residual sum of squares over n − 2 degrees of freedom, spread over sxx.
    let residual = (syy - slope * sxy).max(0.0);
    let slope_stderr = if points.len() > 2 {
        (residual / (n - 2.0) / sxx).sqrt()
    } else {
        0.0
    };
    Some(Trend {
        slope,
        intercept: mean_y - slope * mean_x,
        r2,
        slope_stderr,
        points: points.len(),
        origin,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_line_has_r2_one_and_known_crossing() {
        let pts: Vec<(i64, f64)> = (0..10)
            .map(|d| (d * 86400, 50.0 + 2.0 * d as f64))
            .collect();
        let t = fit(&pts).unwrap();
        assert!((t.slope - 2.0).abs() < 1e-9);
        assert!((t.intercept - 50.0).abs() < 1e-9);
        assert!((t.r2 - 1.0).abs() < 1e-9);
        assert!(t.slope_stderr < 1e-6, "{t:?}");
        assert_eq!(t.reaches(100.0), Some(25 * 86400));
        assert_eq!(t.quality(), "strong");
    }

    #[test]
    fn noise_lowers_r2_and_falling_never_reaches() {
        let pts: Vec<(i64, f64)> = (0..20)
            .map(|d| {
                (
                    d * 86400,
                    70.0 - 0.1 * d as f64 + if d % 2 == 0 { 5.0 } else { -5.0 },
                )
            })
            .collect();
        let t = fit(&pts).unwrap();
        assert!(t.r2 < 0.3, "{t:?}");
        // ±5 around the line: the slope is uncertain by more than it is.
        assert!(t.slope_stderr > t.slope.abs(), "{t:?}");
        assert_eq!(t.reaches(100.0), None);
        assert_eq!(fit(&[(5, 1.0)]), None);
        assert_eq!(fit(&[(5, 1.0), (5, 2.0)]), None);
    }
}
