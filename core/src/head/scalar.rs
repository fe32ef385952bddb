//! Output heads on a backbone's per-atom features, and the molecule-level readout.
//!
//! How it works (docs/backbones.md §2.5): a head maps per-atom features to per-atom outputs
//! `y_i`; [`Readout`] then scales by the dataset standard deviation, reduces over the atoms of
//! each system (sum or mean) and adds the dataset mean, in TorchMD-Net's order.

use burn::config::Config;
use burn::module::Module;
use burn::nn::Linear;
use burn::tensor::{Device, Tensor};

use super::gated::GatedEquivariantBlock;
use crate::nn::activation::silu;
use crate::nn::{Segments, scatter_mean, scatter_sum, xavier_linear};

/// TorchMD-Net `Scalar`: `y_i = W₂ SiLU(W₁ x_i + b₁) + b₂`, `W₁: F → F/2`, `W₂: F/2 → 1`.
#[derive(Module, Debug)]
pub struct ScalarHead {
    /// `F → F/2`.
    pub hidden: Linear,
    /// `F/2 → 1`.
    pub out: Linear,
}

impl ScalarHead {
    /// A head for `hidden_channels` features (Xavier-uniform weights, zero biases).
    pub fn new(hidden_channels: usize, device: &Device) -> Self {
        Self {
            hidden: xavier_linear(hidden_channels, hidden_channels / 2, true, 1.0, device),
            out: xavier_linear(hidden_channels / 2, 1, true, 1.0, device),
        }
    }

    /// # Shapes
    /// - `x`: `[n_atoms, F]`
    /// - output: `[n_atoms, 1]`
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.out.forward(silu(self.hidden.forward(x)))
    }
}

/// TorchMD-Net `EquivariantScalar`: GEB(F → F/2, SiLU) then GEB(F/2 → 1); the scalar output.
#[derive(Module, Debug)]
pub struct EquivariantScalarHead {
    /// The two gated equivariant blocks.
    pub blocks: Vec<GatedEquivariantBlock>,
}

impl EquivariantScalarHead {
    /// A head for `hidden_channels` features.
    pub fn new(hidden_channels: usize, device: &Device) -> Self {
        Self {
            blocks: gated_pair(hidden_channels, device),
        }
    }

    /// # Shapes
    /// - `x`: `[n_atoms, F]`, `v`: `[n_atoms, 3, F]`
    /// - output: `[n_atoms, 1]`
    pub fn forward(&self, x: Tensor<2>, v: Tensor<3>) -> Tensor<2> {
        run_blocks(&self.blocks, x, v).0
    }
}

/// SCD `EquivariantVector` (noise head): the same two blocks; the vector output.
#[derive(Module, Debug)]
pub struct EquivariantVectorHead {
    /// The two gated equivariant blocks.
    pub blocks: Vec<GatedEquivariantBlock>,
}

impl EquivariantVectorHead {
    /// A head for `hidden_channels` features.
    pub fn new(hidden_channels: usize, device: &Device) -> Self {
        Self {
            blocks: gated_pair(hidden_channels, device),
        }
    }

    /// # Shapes
    /// - `x`: `[n_atoms, F]`, `v`: `[n_atoms, 3, F]`
    /// - output: `[n_atoms, 3]`
    pub fn forward(&self, x: Tensor<2>, v: Tensor<3>) -> Tensor<2> {
        let [n, _, _] = v.dims();
        run_blocks(&self.blocks, x, v).1.reshape([n, 3])
    }
}

fn gated_pair(hidden_channels: usize, device: &Device) -> Vec<GatedEquivariantBlock> {
    let half = hidden_channels / 2;
    vec![
        GatedEquivariantBlock::new(hidden_channels, half, true, device),
        GatedEquivariantBlock::new(half, 1, false, device),
    ]
}

fn run_blocks(
    blocks: &[GatedEquivariantBlock],
    mut x: Tensor<2>,
    mut v: Tensor<3>,
) -> (Tensor<2>, Tensor<3>) {
    for b in blocks {
        (x, v) = b.forward(x, v);
    }
    (x, v)
}

/// How per-atom outputs become one value per system.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum Reduce {
    /// Sum over atoms (extensive properties, energies).
    Sum,
    /// Mean over atoms (intensive properties).
    Mean,
}

/// Molecule-level readout: `y_g = reduce_{i∈g}(σ · y_i) + μ`.
#[derive(Config, Debug)]
pub struct Readout {
    /// Reduction over the atoms of a system.
    #[config(default = "Reduce::Sum")]
    pub reduce: Reduce,
    /// Dataset standard deviation `σ` the per-atom outputs are scaled by.
    #[config(default = 1.0)]
    pub std: f64,
    /// Dataset mean `μ` added after the reduction.
    #[config(default = 0.0)]
    pub mean: f64,
}

impl Readout {
    /// # Shapes
    /// - `y`: `[n_atoms, k]`, `batch`: the system of each atom (`n_systems` buckets)
    /// - output: `[n_systems, k]`
    pub fn forward(&self, y: Tensor<2>, batch: &Segments) -> Tensor<2> {
        let y = y.mul_scalar(self.std);
        let y = match self.reduce {
            Reduce::Sum => scatter_sum(y, batch),
            Reduce::Mean => scatter_mean(y, batch),
        };
        y.add_scalar(self.mean)
    }
}
