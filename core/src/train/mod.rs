//! Backend-independent training: the engine (`engine`: one device-resident step for any model
//! and objective — AdamW, clipping, EMA), the counted host↔device transfers (`transfer`), the
//! flat weights format and the host AdamW kept as the tests' golden reference (`optim`),
//! learning-rate schedules, the running noise normaliser of SCD and EDM's adaptive gradient
//! clipping (docs/objectives.md §0, §5.6).

pub mod engine;
pub mod optim;
pub mod schedule;
pub mod transfer;

pub use engine::{
    Clipping, Engine, EngineConfig, EngineError, EngineState, Losses, NonFinite, StepFigures,
};

pub use optim::{
    AdamW, AdamWState, Ema, FlatParamsError, clip_factor, copy_params, decay_mask, flatten,
    global_norm, gradients, load_le_bytes, param_sizes, to_le_bytes, unflatten, unflatten_concat,
};
pub use schedule::{AdaptiveClip, NoiseNormalizer, WarmupCosine};
