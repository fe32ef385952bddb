//! Smooth radial cutoff functions.
//!
//! How it works: the cosine cutoff of TorchMD-Net (docs/backbones.md §2.3) multiplies edge
//! quantities so that they go to zero smoothly at the upper cutoff. With `lower == 0` it is
//! `φ(d) = ½ (cos(π d / r_up) + 1)` for `d < r_up`, else 0. With `lower > 0` it is
//! `φ(d) = ½ (cos(π (2 (d − r_lo)/(r_up − r_lo) + 1)) + 1)` for `r_lo < d < r_up`, else 0.

use burn::tensor::Tensor;
use core::f64::consts::PI;

/// TorchMD-Net's `CosineCutoff(cutoff_lower, cutoff_upper)`. Has no parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CosineCutoff {
    /// Lower cutoff in Å (0 for the usual form).
    pub lower: f64,
    /// Upper cutoff in Å.
    pub upper: f64,
}

impl CosineCutoff {
    /// A cutoff between `lower` and `upper` (Å).
    pub fn new(lower: f64, upper: f64) -> Self {
        Self { lower, upper }
    }

    /// Evaluate the cutoff on distances of any shape.
    ///
    /// # Shapes
    /// - `d`: `[...]` distances in Å
    /// - output: `[...]` weights in `[0, 1]`
    pub fn forward<const D: usize>(&self, d: Tensor<D>) -> Tensor<D> {
        let dtype = d.dtype();
        if self.lower > 0.0 {
            let inside = d
                .clone()
                .greater_elem(self.lower)
                .float()
                .cast(dtype)
                .mul(d.clone().lower_elem(self.upper).float().cast(dtype));
            let arg = d
                .sub_scalar(self.lower)
                .mul_scalar(2.0 * PI / (self.upper - self.lower))
                .add_scalar(PI);
            arg.cos().add_scalar(1.0).mul_scalar(0.5).mul(inside)
        } else {
            let inside = d.clone().lower_elem(self.upper).float().cast(dtype);
            d.mul_scalar(PI / self.upper)
                .cos()
                .add_scalar(1.0)
                .mul_scalar(0.5)
                .mul(inside)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_cutoff_values() {
        let device = crate::testing::cpu_device();
        let d = Tensor::<1>::from_floats([0.0, 2.5, 4.999, 5.0, 6.0], &device);
        let out: Vec<f32> = CosineCutoff::new(0.0, 5.0)
            .forward(d)
            .into_data()
            .try_into_vec::<f32>()
            .unwrap();
        assert!((out[0] - 1.0).abs() < 1e-6);
        assert!((out[1] - 0.5).abs() < 1e-6);
        assert!(out[2] < 1e-5 && out[2] >= 0.0);
        assert_eq!(out[3], 0.0);
        assert_eq!(out[4], 0.0);
    }

    #[test]
    fn cosine_cutoff_with_lower_bound() {
        let device = crate::testing::cpu_device();
        let d = Tensor::<1>::from_floats([0.5, 1.0, 3.0, 5.0], &device);
        let out: Vec<f32> = CosineCutoff::new(1.0, 5.0)
            .forward(d)
            .into_data()
            .try_into_vec::<f32>()
            .unwrap();
        // ½(cos(π(2·(3−1)/4 + 1)) + 1) = ½(cos 2π + 1) = 1 at the middle of the window.
        assert_eq!(out[0], 0.0);
        assert_eq!(out[1], 0.0);
        assert!((out[2] - 1.0).abs() < 1e-6);
        assert_eq!(out[3], 0.0);
    }
}
