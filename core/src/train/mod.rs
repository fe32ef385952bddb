//! Backend-independent pieces of training: host-side AdamW, EMA and the flat weights format
//! (`optim`), learning-rate schedules, the running noise normaliser of SCD and EDM's adaptive
//! gradient clipping (docs/objectives.md §0, §5.6).

pub mod optim;
pub mod schedule;

pub use optim::{
    AdamW, AdamWState, Ema, FlatParamsError, clip_factor, copy_params, decay_mask, flatten,
    global_norm, gradients, load_le_bytes, param_sizes, to_le_bytes, unflatten, unflatten_concat,
};
pub use schedule::{AdaptiveClip, NoiseNormalizer, WarmupCosine};
