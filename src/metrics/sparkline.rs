//! One-line charts of a series with block characters.

const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// At most `width` characters: the series averaged into `width` slots, scaled between
/// its own min and max.
pub fn sparkline(values: &[f64], width: usize) -> String {
    if values.is_empty() || width == 0 {
        return String::new();
    }
    let slots = width.min(values.len());
    let slot_values: Vec<f64> = (0..slots)
        .map(|i| {
            let from = i * values.len() / slots;
            let to = ((i + 1) * values.len() / slots).max(from + 1);
            values[from..to].iter().sum::<f64>() / (to - from) as f64
        })
        .collect();
    let lo = slot_values.iter().cloned().fold(f64::INFINITY, f64::min);
    let hi = slot_values
        .iter()
        .cloned()
        .fold(f64::NEG_INFINITY, f64::max);
    slot_values
        .iter()
        .map(|v| {
            if (hi - lo).abs() < f64::EPSILON {
                BARS[3]
            } else {
                BARS[(((v - lo) / (hi - lo)) * 7.0).round() as usize]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rises_and_flat() {
        assert_eq!(
            sparkline(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0], 8),
            "▁▂▃▄▅▆▇█"
        );
        assert_eq!(sparkline(&[5.0; 4], 10), "▄▄▄▄");
        assert_eq!(sparkline(&[0.0, 0.0, 10.0, 10.0], 2), "▁█");
        assert_eq!(sparkline(&[], 5), "");
    }
}
