//! Why the engine could not answer: the inventory contradicts itself, or a policy failed.

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlacementError {
    #[error("inventory: {0}")]
    Inventory(String),
    /// A policy plugin failed (its message carries the file, line and column).
    #[error("{0}")]
    Policy(String),
}
