//! Gated equivariant block (Schütt et al. 2021, PaiNN; TorchMD-Net `GatedEquivariantBlock`).
//!
//! How it works (docs/backbones.md §2.5): the vector features are projected twice without bias;
//! the norm of the first projection over xyz is an invariant that joins the scalar features in a
//! two-layer MLP, whose output is split into new scalars and per-channel gates that scale the
//! second projection. Norms of exactly-zero vectors are 0 with zero gradient (TorchMD-Net masks
//! whole atoms; masking single channels gives the same values).

use burn::module::Module;
use burn::nn::Linear;
use burn::tensor::{Device, Tensor};

use crate::nn::activation::silu;
use crate::nn::xavier_linear;

/// One gated equivariant block `h_in → h_out` (intermediate width `h_in`).
#[derive(Module, Debug)]
pub struct GatedEquivariantBlock {
    /// `W₁`: `h_in → h_in`, no bias (its output's norm feeds the MLP).
    pub vec1_proj: Linear,
    /// `W₂`: `h_in → h_out`, no bias (the gated vector output).
    pub vec2_proj: Linear,
    /// MLP first layer `2 h_in → h_in`.
    pub update_in: Linear,
    /// MLP second layer `h_in → 2 h_out`.
    pub update_out: Linear,
    /// Apply SiLU to the scalar output.
    pub scalar_activation: bool,
    out_channels: usize,
}

impl GatedEquivariantBlock {
    /// A block with TorchMD-Net's initialisation (Xavier-uniform weights, zero biases).
    pub fn new(h_in: usize, h_out: usize, scalar_activation: bool, device: &Device) -> Self {
        Self {
            vec1_proj: xavier_linear(h_in, h_in, false, 1.0, device),
            vec2_proj: xavier_linear(h_in, h_out, false, 1.0, device),
            update_in: xavier_linear(2 * h_in, h_in, true, 1.0, device),
            update_out: xavier_linear(h_in, 2 * h_out, true, 1.0, device),
            scalar_activation,
            out_channels: h_out,
        }
    }

    /// # Shapes
    /// - `x`: `[n_atoms, h_in]`, `v`: `[n_atoms, 3, h_in]`
    /// - output: `([n_atoms, h_out], [n_atoms, 3, h_out])`
    pub fn forward(&self, x: Tensor<2>, v: Tensor<3>) -> (Tensor<2>, Tensor<3>) {
        let [n, _, h_in] = v.dims();
        let p = self.vec1_proj.forward(v.clone()); // [n, 3, h_in]
        let n2 = p.square().sum_dim(1).reshape([n, h_in]); // [n, h_in]
        let zero = n2.clone().equal_elem(0.0).float().cast(n2.dtype()); // [n, h_in]
        let norm = n2.add(zero.clone()).sqrt().mul(zero.neg().add_scalar(1.0)); // [n, h_in]
        let w = self.vec2_proj.forward(v); // [n, 3, h_out]
        let h = Tensor::cat(vec![x, norm], 1); // [n, 2 h_in]
        let h = self.update_out.forward(silu(self.update_in.forward(h))); // [n, 2 h_out]
        let h_out = self.out_channels;
        let mut x_out = h.clone().narrow(1, 0, h_out); // [n, h_out]
        let gate = h.narrow(1, h_out, h_out); // [n, h_out]
        let v_out = w.mul(gate.unsqueeze_dim(1)); // [n, 3, h_out]
        if self.scalar_activation {
            x_out = silu(x_out);
        }
        (x_out, v_out)
    }
}
