//! Helpers shared by the parity tests against reference implementations: fixture arrays,
//! PyTorch tensors as our named tensors, and the relative error the tolerances refer to.
// Each test crate uses its own subset of these helpers.
#![allow(dead_code)]

use std::collections::BTreeMap;

use burn::tensor::{Device, Tensor, TensorData};
use nucleate_core::io::npz::{NpyArray, read_npz};
use nucleate_core::nn::NamedTensor;

/// The arrays of `tests/fixtures/<path>` (an `.npz`), by name.
pub fn npz(path: &str) -> BTreeMap<String, NpyArray> {
    let full = format!("{}/../tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(&full).unwrap_or_else(|e| panic!("fixture {full}: {e}"));
    read_npz(&bytes)
        .expect("valid npz")
        .into_iter()
        .map(|(k, (_, a))| (k, a))
        .collect()
}

/// An array as an f32 tensor of its rank (a 0-d scalar becomes `[1]`).
pub fn named(a: &NpyArray, device: &Device) -> NamedTensor {
    let shape = if a.shape.is_empty() {
        vec![1]
    } else {
        a.shape.clone()
    };
    let data = TensorData::new(a.as_f64(), shape.clone()).convert::<f32>();
    match shape.len() {
        1 => NamedTensor::R1(Tensor::from_data(data, device)),
        2 => NamedTensor::R2(Tensor::from_data(data, device)),
        3 => NamedTensor::R3(Tensor::from_data(data, device)),
        _ => NamedTensor::R4(Tensor::from_data(data, device)),
    }
}

/// A float tensor's values.
pub fn values<const D: usize>(t: Tensor<D>) -> Vec<f64> {
    t.into_data()
        .try_into_vec_as::<f64>()
        .expect("float tensor")
}

/// `max |a − b| / max |b|` ([`nucleate_core::testing::relative_error`]), for equal lengths.
pub fn rel_err(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    nucleate_core::testing::relative_error(a, b)
}
