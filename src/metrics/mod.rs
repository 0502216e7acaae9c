//! Pure engines for monitoring: durations as people write them, roll-ups of samples
//! into coarser buckets, least-squares trends with their fit, sparklines, lines clipped
//! to a chart's plot. No I/O.

pub mod capacity;
pub mod clip;
pub mod duration;
pub mod exposition;
pub mod fit;
pub mod rollup;
pub mod sparkline;
