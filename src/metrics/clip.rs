//! A line segment clipped to a rectangle (Liang–Barsky): a chart draws the part of a
//! line inside its plot, so where the line leaves the plot its slope stays true (moving
//! an end point onto the edge instead would flatten it).

/// A point (x, y).
pub type Point = (f64, f64);

/// The part of the segment `a`–`b` inside `x.0 ≤ x ≤ x.1`, `y.0 ≤ y ≤ y.1`, in the
/// segment's direction; None when no part of it is inside (or a bound is not a number).
pub fn segment(a: Point, b: Point, x: (f64, f64), y: (f64, f64)) -> Option<(Point, Point)> {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let (mut t0, mut t1) = (0.0_f64, 1.0_f64);
    // Each edge as p·t ≤ q: entering where p < 0, leaving where p > 0.
    for (p, q) in [
        (-dx, a.0 - x.0),
        (dx, x.1 - a.0),
        (-dy, a.1 - y.0),
        (dy, y.1 - a.1),
    ] {
        if !(p.is_finite() && q.is_finite()) {
            return None;
        }
        if p == 0.0 {
            if q < 0.0 {
                return None; // parallel to this edge and outside it
            }
        } else {
            let t = q / p;
            if p < 0.0 {
                t0 = t0.max(t);
            } else {
                t1 = t1.min(t);
            }
        }
    }
    if t0 > t1 {
        return None;
    }
    let at = |t: f64| (a.0 + t * dx, a.1 + t * dy);
    Some((at(t0), at(t1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const X: (f64, f64) = (-30.0, 90.0);
    const Y: (f64, f64) = (0.0, 110.0);

    fn close(p: Point, q: Point) -> bool {
        (p.0 - q.0).abs() < 1e-9 && (p.1 - q.1).abs() < 1e-9
    }

    #[test]
    fn inside_is_unchanged() {
        let (a, b) = segment((-10.0, 20.0), (50.0, 80.0), X, Y).unwrap();
        assert!(close(a, (-10.0, 20.0)) && close(b, (50.0, 80.0)));
    }

    #[test]
    fn leaving_through_the_top_keeps_the_slope() {
        // 79 % now, +1 %/day: 100 % on day 21, the top (110 %) on day 31.
        let (a, b) = segment((-29.0, 50.0), (90.0, 169.0), X, Y).unwrap();
        assert!(close(a, (-29.0, 50.0)));
        assert!(close(b, (31.0, 110.0)), "{b:?}");
        let slope = (b.1 - a.1) / (b.0 - a.0);
        assert!((slope - 1.0).abs() < 1e-9);
    }

    #[test]
    fn crossing_two_edges_is_cut_at_both() {
        let (a, b) = segment((-50.0, -20.0), (150.0, 180.0), X, Y).unwrap();
        assert!(close(a, (-30.0, 0.0)), "{a:?}");
        assert!(close(b, (80.0, 110.0)), "{b:?}");
    }

    #[test]
    fn outside_or_parallel_outside_is_none() {
        assert_eq!(segment((-20.0, 120.0), (80.0, 200.0), X, Y), None);
        assert_eq!(segment((-20.0, -5.0), (80.0, -5.0), X, Y), None);
        assert_eq!(segment((100.0, 10.0), (100.0, 50.0), X, Y), None);
        assert_eq!(segment((0.0, f64::NAN), (1.0, 1.0), X, Y), None);
        // Horizontal inside: only x is cut.
        let (a, b) = segment((-100.0, 100.0), (200.0, 100.0), X, Y).unwrap();
        assert!(close(a, (-30.0, 100.0)) && close(b, (90.0, 100.0)));
    }

    #[test]
    fn falling_line_is_cut_at_the_bottom_in_its_direction() {
        let (a, b) = segment((0.0, 50.0), (90.0, -40.0), X, Y).unwrap();
        assert!(close(a, (0.0, 50.0)));
        assert!(close(b, (50.0, 0.0)), "{b:?}");
    }
}
