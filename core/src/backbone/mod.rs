//! Backbones: networks from atoms and a radius graph to per-atom features.
//!
//! - [`et`]: TorchMD-Net's Equivariant Transformer (scalar + vector features).
//! - [`ct`]: SCD's conditioned ET (adaptive norms, mask token, joint drop-path).
//! - [`egnn`]: EDM's EGNN (coordinate updates, time input, zero centre of mass) and UniGEM's
//!   shared-then-two-branch variant.
//! - [`torchmdnet`]: TorchMD-Net `state_dict` names → our parameters (weight import).
//!
//! Inputs are an [`AtomGraph`] (tensors built from [`crate::Structure`]s and their
//! [`crate::graph`] radius graph). Every backbone is written against burn's backend-erased
//! tensors and takes the [`burn::tensor::Device`] to build on; none picks a backend.

pub mod ct;
pub mod egnn;
pub mod et;
pub mod input;
pub mod registry;
pub mod torchmdnet;

#[cfg(test)]
mod symmetry_tests;

pub use ct::{Ct, CtConfig, VecPreNormKind};
pub use egnn::{Egnn, EgnnConfig, EgnnDynamics, EquivariantBlock, UniGem, UniGemConfig};
pub use et::{DistanceInfluence, EquivariantFeatures, Et, EtAttention, EtConfig};
pub use input::{AtomGraph, EdgeGeometry, HostGraph, bucket};
pub use registry::{BackboneConfig, ModelSummary};

use crate::graph::GraphError;

/// Why a backbone could not be built or run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BackboneError {
    /// A hyper-parameter is out of range.
    #[error("invalid backbone config, field {field:?}: {reason}")]
    Config { field: &'static str, reason: String },
    /// An atomic number has no row in the element embedding.
    #[error("atom {atom} has atomic number {z}, but the embedding has rows 0..{max_z}")]
    AtomicNumber { atom: usize, z: i64, max_z: usize },
    /// An input tensor has the wrong shape.
    #[error("{what} must have shape {expected:?}, got {got:?}")]
    Shape {
        what: &'static str,
        expected: Vec<usize>,
        got: Vec<usize>,
    },
    /// The radius graph could not be built.
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// A batched graph does not belong to the structures it was given with.
    #[error(
        "graph has {graph_atoms} atoms in {graph_systems} systems but the structures have \
         {atoms} atoms in {systems} systems"
    )]
    GraphMismatch {
        graph_atoms: usize,
        graph_systems: usize,
        atoms: usize,
        systems: usize,
    },
}
