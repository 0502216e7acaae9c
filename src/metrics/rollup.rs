//! Roll-ups: samples of one tier averaged into complete buckets of the next (5 min → 1 h
//! → 1 day), each with min, max and how many samples it holds. Timestamps mark the end
//! of the interval a sample covers, as vSphere's do.

/// A stored point: the end of its interval, mean, min, max and the samples behind it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub ts: i64,
    pub avg: f64,
    pub min: f64,
    pub max: f64,
    pub count: i64,
}

impl Point {
    pub fn single(ts: i64, value: f64) -> Self {
        Point {
            ts,
            avg: value,
            min: value,
            max: value,
            count: 1,
        }
    }
}

/// The bucket of `bucket` seconds a sample ending at `ts` falls in, by its end.
pub fn bucket_end(ts: i64, bucket: i64) -> i64 {
    (ts + bucket - 1).div_euclid(bucket) * bucket
}

/// Buckets of `points` (sorted by ts) that are complete: only those whose end is at or
/// before `complete_until` (the newest timestamp seen), so a bucket still filling is
/// left for a later round. Averages are weighted by the samples behind each point.
pub fn roll_up(points: &[Point], bucket: i64, complete_until: i64) -> Vec<Point> {
    let mut out: Vec<Point> = Vec::new();
    let mut weight = 0.0;
    for p in points {
        let end = bucket_end(p.ts, bucket);
        if end > complete_until {
            break;
        }
        match out.last_mut() {
            Some(last) if last.ts == end => {
                let w = p.count as f64;
                last.avg = (last.avg * weight + p.avg * w) / (weight + w);
                weight += w;
                last.min = last.min.min(p.min);
                last.max = last.max.max(p.max);
                last.count += p.count;
            }
            _ => {
                weight = p.count as f64;
                out.push(Point { ts: end, ..*p });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_minutes_into_hours_only_complete_ones() {
        // 5-minute samples from 00:05 to 02:30: hours ending 01:00 and 02:00 complete.
        let pts: Vec<Point> = (1..=30).map(|i| Point::single(i * 300, i as f64)).collect();
        let hours = roll_up(&pts, 3600, 30 * 300);
        assert_eq!(hours.len(), 2);
        assert_eq!(hours[0].ts, 3600);
        assert_eq!(hours[0].count, 12);
        assert!((hours[0].avg - 6.5).abs() < 1e-9);
        assert_eq!((hours[0].min, hours[0].max), (1.0, 12.0));
        assert_eq!(hours[1].ts, 7200);
        assert!((hours[1].avg - 18.5).abs() < 1e-9);
    }

    #[test]
    fn hours_into_a_day_weighted() {
        let mut pts = vec![Point {
            count: 12,
            ..Point::single(3600, 10.0)
        }];
        pts.push(Point {
            count: 4,
            ..Point::single(7200, 30.0)
        });
        let days = roll_up(&pts, 86400, 86400);
        assert_eq!(days.len(), 1);
        assert_eq!(days[0].ts, 86400);
        assert!((days[0].avg - 15.0).abs() < 1e-9);
        assert_eq!(days[0].count, 16);
        assert!(roll_up(&pts, 86400, 86399).is_empty());
        assert_eq!(bucket_end(86400, 86400), 86400);
        assert_eq!(bucket_end(86401, 86400), 172800);
    }
}
