//! Backend-independent pieces of training: learning-rate schedules, the running noise
//! normaliser of SCD and EDM's adaptive gradient clipping (objectives.md §0, §5.6).

pub mod schedule;

pub use schedule::{AdaptiveClip, NoiseNormalizer, WarmupCosine};
