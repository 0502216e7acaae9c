//! When a warm migration stops copying rounds and cuts over: the delta of the last round
//! fell below `--cutover-when-delta-below`, the `--cutover-at` time came, or
//! `--max-rounds` delta rounds did not get there, which means the guest writes faster
//! than the copy catches up: the migration stops and says how fast the guest writes.

use std::time::{Duration, SystemTime};

use serde::Serialize;

/// The default `--cutover-when-delta-below` when neither it nor `--cutover-at` is given.
pub const DEFAULT_DELTA_BELOW: u64 = 64 << 20;
/// The default `--max-rounds` (delta rounds after the base round).
pub const DEFAULT_MAX_ROUNDS: u32 = 8;

#[derive(Debug, Clone)]
pub struct StopRule {
    /// Cut over once a round's delta is below this many bytes.
    pub delta_below: Option<u64>,
    /// Cut over once this time has come (after the round running then).
    pub at: Option<SystemTime>,
    /// Most delta rounds before giving up.
    pub max_rounds: u32,
}

impl Default for StopRule {
    fn default() -> Self {
        StopRule {
            delta_below: Some(DEFAULT_DELTA_BELOW),
            at: None,
            max_rounds: DEFAULT_MAX_ROUNDS,
        }
    }
}

/// One copy round: round 0 is the base (every allocated area), later ones deltas.
#[derive(Debug, Clone, Serialize)]
pub struct Round {
    pub index: u32,
    pub bytes: u64,
    #[serde(rename = "duration_ms", serialize_with = "millis")]
    pub duration: Duration,
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Copy another delta round while the guest runs.
    Another,
    /// Stop the guest and copy the last delta; the reason is for the report.
    CutOver(String),
    /// Give up: the message says why and what to do.
    NotConverging(String),
}

/// What to do after `rounds` (at least the base round) at time `now`.
pub fn next(rule: &StopRule, rounds: &[Round], now: SystemTime) -> Next {
    let Some(last) = rounds.last() else {
        return Next::Another;
    };
    if last.index == 0 {
        // The base round's size says nothing about the guest's writes.
        return match rule.at {
            Some(at) if now >= at => Next::CutOver("the cut-over time came".into()),
            _ => Next::Another,
        };
    }
    if let Some(below) = rule.delta_below
        && last.bytes < below
    {
        return Next::CutOver(format!(
            "round {}'s delta of {} is below {}",
            last.index,
            mib(last.bytes),
            mib(below)
        ));
    }
    if let Some(at) = rule.at
        && now >= at
    {
        return Next::CutOver("the cut-over time came".into());
    }
    if last.index >= rule.max_rounds {
        let rate = write_rate(rounds);
        let goal = rule
            .delta_below
            .map(|b| format!("below {}", mib(b)))
            .unwrap_or_else(|| "small enough".into());
        return Next::NotConverging(format!(
            "the delta is not converging: after {} delta rounds the last one still held {} ({goal} was wanted); \
             the guest writes about {}/s, about as fast as or faster than the rounds copy",
            last.index,
            mib(last.bytes),
            mib(rate)
        ));
    }
    Next::Another
}

/// Bytes per second the guest wrote: each delta holds what changed while the round
/// before it ran, so the last delta over the round before's duration.
pub fn write_rate(rounds: &[Round]) -> u64 {
    match rounds {
        [.., before, last] if last.index > 0 => {
            let secs = before.duration.as_secs_f64().max(0.001);
            (last.bytes as f64 / secs) as u64
        }
        _ => 0,
    }
}

fn mib(bytes: u64) -> String {
    if bytes >= 10 << 20 {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(index: u32, mb: u64, secs: u64) -> Round {
        Round {
            index,
            bytes: mb << 20,
            duration: Duration::from_secs(secs),
        }
    }

    #[test]
    fn a_small_delta_cuts_over_and_a_base_round_never_does() {
        let rule = StopRule::default();
        let now = SystemTime::now();
        assert_eq!(next(&rule, &[round(0, 1, 1)], now), Next::Another);
        assert_eq!(
            next(&rule, &[round(0, 900, 60), round(1, 300, 20)], now),
            Next::Another
        );
        let Next::CutOver(why) = next(
            &rule,
            &[round(0, 900, 60), round(1, 300, 20), round(2, 20, 2)],
            now,
        ) else {
            panic!("expected a cut-over");
        };
        assert!(why.contains("below 64 MiB"), "{why}");
    }

    #[test]
    fn the_cut_over_time_wins_even_over_a_large_delta() {
        let now = SystemTime::now();
        let rule = StopRule {
            delta_below: None,
            at: Some(now - Duration::from_secs(1)),
            max_rounds: 8,
        };
        assert!(matches!(
            next(&rule, &[round(0, 900, 60), round(1, 300, 20)], now),
            Next::CutOver(_)
        ));
    }

    #[test]
    fn max_rounds_without_convergence_says_how_fast_the_guest_writes() {
        let rule = StopRule {
            delta_below: Some(1 << 20),
            at: None,
            max_rounds: 2,
        };
        let rounds = [round(0, 100, 10), round(1, 40, 4), round(2, 40, 4)];
        let Next::NotConverging(message) = next(&rule, &rounds, SystemTime::now()) else {
            panic!("expected a refusal");
        };
        assert!(message.contains("not converging"), "{message}");
        assert!(message.contains("10 MiB/s"), "{message}");
        assert_eq!(write_rate(&rounds), 10 << 20);
    }
}
