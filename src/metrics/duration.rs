//! `20s`, `5m`, `1h`, `1d`, `2w`, `90d` (and plain seconds) to seconds.

/// Seconds in a duration written `N[s|m|h|d|w]`; None when it is not one or is zero.
pub fn parse(text: &str) -> Option<i64> {
    parse_any(text).filter(|s| *s > 0)
}

/// Seconds in a duration written `N[s|m|h|d|w]`, zero included; None when it is not one.
pub fn parse_any(text: &str) -> Option<i64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n: i64 = digits.parse().ok()?;
    let scale = match unit {
        "" | "s" => 1,
        "m" | "min" => 60,
        "h" => 3600,
        "d" => 86400,
        "w" => 7 * 86400,
        "y" => 365 * 86400,
        _ => return None,
    };
    n.checked_mul(scale)
}

/// The shortest exact way to write `secs` (`300` → `5m`).
pub fn show(secs: i64) -> String {
    for (unit, scale) in [("d", 86400), ("h", 3600), ("m", 60)] {
        if secs >= scale && secs % scale == 0 {
            return format!("{}{unit}", secs / scale);
        }
    }
    format!("{secs}s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(parse("20s"), Some(20));
        assert_eq!(parse("5m"), Some(300));
        assert_eq!(parse("1h"), Some(3600));
        assert_eq!(parse("90d"), Some(90 * 86400));
        assert_eq!(parse("45"), Some(45));
        assert_eq!(parse("0s"), None);
        assert_eq!(parse_any("0s"), Some(0));
        assert_eq!(parse_any("0x"), None);
        assert_eq!(parse("5x"), None);
        assert_eq!(parse("m"), None);
        assert_eq!(show(300), "5m");
        assert_eq!(show(86400 * 2), "2d");
        assert_eq!(show(90), "90s");
    }
}
