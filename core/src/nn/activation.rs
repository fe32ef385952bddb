//! SiLU and sigmoid in the dtype of their input.
//!
//! burn 0.22.1's `sigmoid` (and `silu`, built on it) computes through f32 whatever the tensor's
//! dtype (`burn-backend` `ActivationOps::sigmoid` casts to F32), so f64 models lose precision
//! (forces from finite differences then disagree with backprop at 1e-2). These use the
//! identity `σ(x) = ½ (1 + tanh(x / 2))`: `tanh` runs in the input's dtype, never overflows,
//! and its gradient `(1 − tanh²)/4` stays finite for any input. f32 tensors take burn's own
//! `sigmoid` (exact in f32, one fused kernel where the backend has one, as flex does, instead
//! of four passes and a `tanhf`: the tanh route took 15 % of an ET/CT training step on flex).

use burn::tensor::{DType, Tensor};

/// `σ(x)`, elementwise, in the dtype of `x` (see the module notes).
pub fn sigmoid<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    if x.dtype() == DType::F32 {
        burn::tensor::activation::sigmoid(x)
    } else {
        x.mul_scalar(0.5).tanh().add_scalar(1.0).mul_scalar(0.5)
    }
}

/// `SiLU(x) = x σ(x)`, elementwise.
pub fn silu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    x.clone().mul(sigmoid(x))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    #[test]
    fn matches_the_closed_form_in_f64_and_is_finite_far_out() {
        let device = crate::testing::cpu_device();
        let xs: [f64; 8] = [-800.0, -30.0, -1.5, 0.0, 0.3, 2.0, 40.0, 800.0];
        let t = Tensor::<1>::from_data(
            TensorData::new(xs.to_vec(), [xs.len()]),
            (&device, DType::F64),
        );
        let s: Vec<f64> = silu(t).into_data().try_into_vec_as().unwrap();
        for (x, y) in xs.iter().zip(&s) {
            let want = x / (1.0 + (-x).exp());
            assert!(
                (y - want).abs() <= 1e-15 * (1.0 + want.abs()),
                "silu({x}) = {y}, want {want}"
            );
        }
    }

    #[test]
    fn f32_matches_the_closed_form_with_finite_gradients_far_out() {
        let (_serial, device) = crate::objective::serial_autodiff_device();
        let xs: [f32; 8] = [-800.0, -30.0, -1.5, 0.0, 0.3, 2.0, 40.0, 800.0];
        let x = Tensor::<1>::from_floats(xs, &device).require_grad();
        let y = silu(x.clone());
        let s: Vec<f32> = y.clone().into_data().try_into_vec().unwrap();
        let g: Vec<f32> = x
            .grad(&y.sum().backward())
            .unwrap()
            .into_data()
            .try_into_vec()
            .unwrap();
        for ((x, y), g) in xs.iter().zip(&s).zip(&g) {
            let x = f64::from(*x);
            let sig = 1.0 / (1.0 + (-x).exp());
            let (want, dwant) = (x * sig, sig * (1.0 + x * (1.0 - sig)));
            assert!(
                (f64::from(*y) - want).abs() <= 1e-6 * (1.0 + want.abs()),
                "silu({x}) = {y}"
            );
            assert!(
                (f64::from(*g) - dwant).abs() <= 1e-6,
                "silu'({x}) = {g}, want {dwant}"
            );
        }
    }

    #[test]
    fn gradient_matches_finite_differences_in_f64() {
        let (_serial, device) = crate::objective::serial_autodiff_device();
        let xs = vec![-3.0, -0.4, 0.0, 0.7, 2.5];
        let mk =
            |v: Vec<f64>| Tensor::<1>::from_data(TensorData::new(v, [5]), (&device, DType::F64));
        let x = mk(xs.clone()).require_grad();
        let grads = silu(x.clone()).sum().backward();
        let g: Vec<f64> = x
            .grad(&grads)
            .unwrap()
            .into_data()
            .try_into_vec_as()
            .unwrap();
        let h = 1e-6;
        for k in 0..5 {
            let f = |d: f64| {
                let mut v = xs.clone();
                v[k] += d;
                let y: Vec<f64> = silu(mk(v)).into_data().try_into_vec_as().unwrap();
                y[k]
            };
            let fd = (f(h) - f(-h)) / (2.0 * h);
            assert!((fd - g[k]).abs() < 1e-8, "x = {}: {fd} vs {}", xs[k], g[k]);
        }
    }
}
