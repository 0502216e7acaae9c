//! Placement policies injected into the engine (Rhai plugins implement this in
//! `script::placement_policy`; the engine itself stays pure).

use super::error::PlacementError;
use super::model::{Host, Vm};

pub trait Policy: Send + Sync {
    /// None: the host is allowed. Some(reason): it is not.
    fn filter(&self, vm: &Vm, host: &Host) -> Result<Option<String>, PlacementError>;
    /// Added to the built-in score of an allowed host.
    fn score(&self, vm: &Vm, host: &Host) -> Result<f64, PlacementError>;
}

/// No policy.
pub struct NoPolicy;

impl Policy for NoPolicy {
    fn filter(&self, _vm: &Vm, _host: &Host) -> Result<Option<String>, PlacementError> {
        Ok(None)
    }
    fn score(&self, _vm: &Vm, _host: &Host) -> Result<f64, PlacementError> {
        Ok(0.0)
    }
}

/// Several policies: every filter must allow, scores add up.
impl<P: Policy> Policy for Vec<P> {
    fn filter(&self, vm: &Vm, host: &Host) -> Result<Option<String>, PlacementError> {
        for p in self {
            if let Some(reason) = p.filter(vm, host)? {
                return Ok(Some(reason));
            }
        }
        Ok(None)
    }
    fn score(&self, vm: &Vm, host: &Host) -> Result<f64, PlacementError> {
        let mut total = 0.0;
        for p in self {
            total += p.score(vm, host)?;
        }
        Ok(total)
    }
}
