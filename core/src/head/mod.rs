//! Output heads: per-atom scalars (MLP or gated equivariant), per-atom vectors, and the
//! molecule-level readout.

pub mod gated;
pub mod scalar;

pub use gated::GatedEquivariantBlock;
pub use scalar::{EquivariantScalarHead, EquivariantVectorHead, Readout, Reduce, ScalarHead};
