//! Training objectives, backend-independent parts: noise schedules and centre-of-mass handling
//! for diffusion (UniGEM / EDM, objectives.md §5) and UniGEM's two-phase loss.

pub mod diffusion;
pub mod unigem;

pub use diffusion::{NoiseSchedule, Transition, diffuse, remove_com};
pub use unigem::{
    NUCLEATION_TIME, SplitMix64, UniGemError, UniGemLoss, phase_times, type_features, unigem_loss,
};
