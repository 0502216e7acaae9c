//! `--max-rate`: pacing of disk reads, the lever that keeps a hot backup's load on the
//! datastore low. Reads are paced to the average rate since the start, so a short burst
//! is allowed but the long-run rate never exceeds the limit.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Parse a rate in bytes per second: `50M`, `50MB`, `50MiB`, `1.5G`, `800K`, `1048576`,
/// with an optional `/s`. Units are binary (K = 1024).
pub fn parse_rate(text: &str) -> Result<u64, String> {
    let bad = || format!("'{text}' is not a rate; use bytes per second like 50M, 1.5G or 800K");
    let t = text.trim();
    let t = t.strip_suffix("/s").unwrap_or(t).trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let number: f64 = number.parse().map_err(|_| bad())?;
    let scale: f64 = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1.0,
        "K" | "KB" | "KIB" => 1024.0,
        "M" | "MB" | "MIB" => 1024.0 * 1024.0,
        "G" | "GB" | "GIB" => 1024.0 * 1024.0 * 1024.0,
        _ => return Err(bad()),
    };
    let rate = number * scale;
    if !rate.is_finite() || rate < 1.0 {
        return Err(bad());
    }
    Ok(rate as u64)
}

/// Paces a byte stream to at most `rate` bytes per second (no limit when None). Shared
/// by the streams of one job (`&self`), so the limit holds inside each copy and across
/// copies running at once.
#[derive(Debug)]
pub struct Throttle {
    rate: Option<u64>,
    started: Instant,
    bytes: AtomicU64,
}

impl Throttle {
    pub fn new(rate: Option<u64>) -> Self {
        Self {
            rate,
            started: Instant::now(),
            bytes: AtomicU64::new(0),
        }
    }

    /// Account for `n` bytes just read; waits when reading is ahead of the rate.
    pub async fn consume(&self, n: u64) {
        if self.rate.is_none() {
            return;
        }
        self.bytes.fetch_add(n, Ordering::Relaxed);
        if let Some(wait) = self.ahead_by(Instant::now()) {
            tokio::time::sleep(wait).await;
        }
    }

    /// How far reading is ahead of the allowed rate at `now`.
    fn ahead_by(&self, now: Instant) -> Option<Duration> {
        let rate = self.rate?;
        let bytes = self.bytes.load(Ordering::Relaxed);
        let due = self.started + Duration::from_secs_f64(bytes as f64 / rate as f64);
        due.checked_duration_since(now).filter(|d| !d.is_zero())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_with_binary_units() {
        assert_eq!(parse_rate("50M"), Ok(50 << 20));
        assert_eq!(parse_rate("50MB/s"), Ok(50 << 20));
        assert_eq!(parse_rate("1.5G"), Ok(3 << 29));
        assert_eq!(parse_rate("800k"), Ok(800 << 10));
        assert_eq!(parse_rate("1048576"), Ok(1 << 20));
        assert!(parse_rate("fast").is_err());
        assert!(parse_rate("0").is_err());
        assert!(parse_rate("10X").is_err());
    }

    #[test]
    fn throttle_waits_only_when_ahead() {
        let t = Throttle::new(Some(1000));
        t.bytes.store(500, Ordering::Relaxed);
        let wait = t.ahead_by(t.started).unwrap();
        assert_eq!(wait, Duration::from_millis(500));
        assert!(t.ahead_by(t.started + Duration::from_secs(1)).is_none());
        assert!(Throttle::new(None).ahead_by(Instant::now()).is_none());
    }
}
