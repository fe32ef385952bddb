//! Radial basis expansions of interatomic distances.
//!
//! How it works (TorchMD-Net `ExpNormalSmearing`, docs/backbones.md §2.3): distances are mapped
//! through `exp(α (r_lo − d))`, which lies in `(0, 1]` for `d ≥ r_lo`, and a Gaussian of width
//! `1/√(2β)` is placed at each of `K` centres `μ_k = linspace(exp(−(r_up − r_lo)), 1, K)`:
//!
//! `f_k(d) = φ₀(d) · exp(−β_k (exp(α (r_lo − d)) − μ_k)²)`, `α = 5 / (r_up − r_lo)`,
//! `β_k = (2/K · (1 − exp(−(r_up − r_lo))))^{−2}`,
//!
//! where `φ₀` is the cosine cutoff with lower bound 0 (always 0, even when `r_lo > 0`).
//! When `trainable` is set the centres and widths are parameters (torchmd-net's class
//! default); otherwise they are recomputed from the closed form and count as no parameters.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::{Device, Float, Tensor, TensorData};

use super::cutoff::CosineCutoff;
use crate::train::transfer::upload;

/// Configuration of [`ExpNormalSmearing`].
#[derive(Config, Debug)]
pub struct ExpNormalSmearingConfig {
    /// Lower cutoff `r_lo` (Å).
    #[config(default = 0.0)]
    pub cutoff_lower: f64,
    /// Upper cutoff `r_up` (Å).
    #[config(default = 5.0)]
    pub cutoff_upper: f64,
    /// Number of basis functions `K`.
    #[config(default = 50)]
    pub num_rbf: usize,
    /// Whether `μ` and `β` are trainable parameters.
    #[config(default = true)]
    pub trainable: bool,
}

/// ExpNormal radial basis (see the module docs).
#[derive(Module, Debug)]
pub struct ExpNormalSmearing {
    /// Centres `μ` `[K]`, present when trainable.
    pub means: Option<Param<Tensor<1>>>,
    /// Widths `β` `[K]`, present when trainable.
    pub betas: Option<Param<Tensor<1>>>,
    cutoff_lower: f64,
    cutoff_upper: f64,
    num_rbf: usize,
}

impl ExpNormalSmearingConfig {
    /// Initial centres and widths from the closed form, in f64.
    pub fn initial_params(&self) -> (Vec<f64>, Vec<f64>) {
        let k = self.num_rbf;
        let start = (-(self.cutoff_upper - self.cutoff_lower)).exp();
        let means = (0..k)
            .map(|i| {
                if k == 1 {
                    start
                } else {
                    start + (1.0 - start) * i as f64 / (k - 1) as f64
                }
            })
            .collect();
        let beta = (2.0 / k as f64 * (1.0 - start)).powi(-2);
        (means, vec![beta; k])
    }

    /// Build the module on `device`.
    pub fn init(&self, device: &Device) -> ExpNormalSmearing {
        let (means, betas) = self.initial_params();
        let (means, betas) = if self.trainable {
            (
                Some(Param::from_tensor(Tensor::from_floats(
                    means.as_slice(),
                    device,
                ))),
                Some(Param::from_tensor(Tensor::from_floats(
                    betas.as_slice(),
                    device,
                ))),
            )
        } else {
            (None, None)
        };
        ExpNormalSmearing {
            means,
            betas,
            cutoff_lower: self.cutoff_lower,
            cutoff_upper: self.cutoff_upper,
            num_rbf: self.num_rbf,
        }
    }
}

impl ExpNormalSmearing {
    /// Number of basis functions `K`.
    pub fn num_rbf(&self) -> usize {
        self.num_rbf
    }

    fn config(&self) -> ExpNormalSmearingConfig {
        ExpNormalSmearingConfig::new()
            .with_cutoff_lower(self.cutoff_lower)
            .with_cutoff_upper(self.cutoff_upper)
            .with_num_rbf(self.num_rbf)
            .with_trainable(self.means.is_some())
    }

    /// Expand distances into `K` basis functions.
    ///
    /// # Shapes
    /// - `d`: `[n_edges]` distances in Å
    /// - output: `[n_edges, K]`
    pub fn forward(&self, d: Tensor<1>) -> Tensor<2> {
        let options = (&d.device(), d.dtype());
        let [n_edges] = d.dims();
        let (means, betas) = match (&self.means, &self.betas) {
            (Some(m), Some(b)) => (m.val(), b.val()),
            _ => {
                let (m, b) = self.config().initial_params();
                (
                    upload::<1, Float>(TensorData::new(m, [self.num_rbf]), options),
                    upload::<1, Float>(TensorData::new(b, [self.num_rbf]), options),
                )
            }
        };
        let alpha = 5.0 / (self.cutoff_upper - self.cutoff_lower);
        let d = d.reshape([n_edges, 1]); // [n_edges, 1]
        let envelope = CosineCutoff::new(0.0, self.cutoff_upper).forward(d.clone()); // [n_edges, 1]
        let t = d
            .neg()
            .add_scalar(self.cutoff_lower)
            .mul_scalar(alpha)
            .exp(); // [n_edges, 1]
        let diff = t.sub(means.reshape([1, self.num_rbf])); // [n_edges, K]
        let gauss = diff
            .square()
            .mul(betas.reshape([1, self.num_rbf]))
            .neg()
            .exp(); // [n_edges, K]
        gauss.mul(envelope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_form_matches_spec() {
        let cfg = ExpNormalSmearingConfig::new().with_num_rbf(64);
        let (means, betas) = cfg.initial_params();
        assert!((means[0] - (-5.0f64).exp()).abs() < 1e-12);
        assert!((means[63] - 1.0).abs() < 1e-12);
        assert!((betas[0] - 1037.9).abs() < 0.1, "beta = {}", betas[0]);
    }

    #[test]
    fn trainable_and_fixed_agree() {
        let device = crate::testing::cpu_device();
        let d = Tensor::<1>::from_floats([0.0, 0.7, 1.5, 3.2, 4.9, 5.5], &device);
        let fixed = ExpNormalSmearingConfig::new()
            .with_num_rbf(16)
            .with_trainable(false)
            .init(&device);
        let trainable = ExpNormalSmearingConfig::new()
            .with_num_rbf(16)
            .init(&device);
        assert_eq!(fixed.num_params(), 0);
        assert_eq!(trainable.num_params(), 32);
        let a: Vec<f32> = fixed
            .forward(d.clone())
            .into_data()
            .try_into_vec::<f32>()
            .unwrap();
        let b: Vec<f32> = trainable
            .forward(d)
            .into_data()
            .try_into_vec::<f32>()
            .unwrap();
        assert_eq!(a.len(), 6 * 16);
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 1e-7);
        }
        // Beyond the cutoff everything vanishes.
        assert!(a[5 * 16..].iter().all(|&v| v == 0.0));
    }
}
