//! Training objectives, backend-independent parts: noise schedules and centre-of-mass handling
//! for diffusion (UniGEM / EDM, objectives.md §5).

pub mod diffusion;

pub use diffusion::{NoiseSchedule, Transition, diffuse, remove_com};
