//! Backend-independent pieces of training: learning-rate schedules, the running noise
//! normaliser of SCD and EDM's adaptive gradient clipping (objectives.md §0, §5.6).

pub mod optim;
pub mod schedule;

pub use optim::{
    AdamW, AdamWState, Ema, clip_factor, decay_mask, flatten, global_norm, gradients, unflatten,
};
pub use schedule::{AdaptiveClip, NoiseNormalizer, WarmupCosine};
