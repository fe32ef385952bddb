//! What `nucleate import torchmd-net` and `nucleate import scd` share: reading a PyTorch or
//! safetensors checkpoint file, turning its tensors into named burn tensors, and reading the
//! Lightning `hyper_parameters` it carries.

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use burn::tensor::{Tensor, TensorData};
use nucleate_core::backbone::DistanceInfluence;
use nucleate_core::io::torch::{PyValue, TorchTensor, read_safetensors, read_torch_checkpoint};
use nucleate_core::nn::NamedTensor;
use sha2::{Digest, Sha256};

/// A checkpoint file's tensors and hyper-parameters and its SHA-256 (hex, for provenance).
///
/// # Errors
/// An unreadable or malformed file (the message names it).
pub(crate) fn read_checkpoint(path: &std::path::Path) -> anyhow::Result<Checkpoint> {
    let bytes = crate::input::read_file(path)?;
    let is_safetensors = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("safetensors"));
    let (tensors, hyper) = if is_safetensors {
        (
            read_safetensors(&bytes).with_context(|| format!("{}", path.display()))?,
            BTreeMap::new(),
        )
    } else {
        let c = read_torch_checkpoint(&bytes).with_context(|| format!("{}", path.display()))?;
        (c.tensors, c.hyper_parameters)
    };
    Ok(Checkpoint {
        tensors,
        hyper,
        sha256: format!("{:x}", Sha256::digest(&bytes)),
    })
}

/// What [`read_checkpoint`] returns.
pub(crate) struct Checkpoint {
    /// Tensors by state-dict key.
    pub tensors: BTreeMap<String, TorchTensor>,
    /// Hyper-parameters (empty for a bare state dict or safetensors).
    pub hyper: BTreeMap<String, PyValue>,
    /// SHA-256 of the file, hex.
    pub sha256: String,
}

pub(crate) fn named_tensor(t: &TorchTensor, device: &burn::tensor::Device) -> NamedTensor {
    let data = |shape: Vec<usize>| TensorData::new(t.data.clone(), shape);
    match t.shape.len() {
        0 => NamedTensor::R1(Tensor::from_data(data(vec![1]), device)),
        1 => NamedTensor::R1(Tensor::from_data(data(t.shape.clone()), device)),
        2 => NamedTensor::R2(Tensor::from_data(data(t.shape.clone()), device)),
        3 => NamedTensor::R3(Tensor::from_data(data(t.shape.clone()), device)),
        _ => NamedTensor::R4(Tensor::from_data(data(t.shape.clone()), device)),
    }
}

// Readers of Lightning `hyper_parameters` (also used by `import scd`): `opt_*` give `None` for
// an absent key and an error naming the key for a value of the wrong type.

pub(crate) fn opt_int(h: &BTreeMap<String, PyValue>, key: &str) -> anyhow::Result<Option<usize>> {
    match h.get(key) {
        None => Ok(None),
        Some(PyValue::Int(v)) if *v >= 0 => Ok(Some(usize::try_from(*v)?)),
        Some(other) => bail!("`{key}` = {other:?}: expected a non-negative integer"),
    }
}

pub(crate) fn opt_float(h: &BTreeMap<String, PyValue>, key: &str) -> anyhow::Result<Option<f64>> {
    match h.get(key) {
        None => Ok(None),
        Some(PyValue::Float(v)) => Ok(Some(*v)),
        Some(PyValue::Int(v)) => Ok(Some(*v as f64)),
        Some(other) => bail!("`{key}` = {other:?}: expected a number"),
    }
}

pub(crate) fn int(h: &BTreeMap<String, PyValue>, key: &str) -> anyhow::Result<usize> {
    opt_int(h, key)?.with_context(|| format!("no hyper-parameter `{key}`"))
}

pub(crate) fn float(h: &BTreeMap<String, PyValue>, key: &str) -> anyhow::Result<f64> {
    opt_float(h, key)?.with_context(|| format!("no hyper-parameter `{key}`"))
}

pub(crate) fn boolean(
    h: &BTreeMap<String, PyValue>,
    key: &str,
    default: bool,
) -> anyhow::Result<bool> {
    match h.get(key) {
        None | Some(PyValue::None) => Ok(default),
        Some(PyValue::Bool(b)) => Ok(*b),
        Some(other) => bail!("`{key}` = {other:?}: expected true or false"),
    }
}

pub(crate) fn string<'a>(h: &'a BTreeMap<String, PyValue>, key: &str) -> Option<&'a str> {
    match h.get(key) {
        Some(PyValue::Str(s)) => Some(s),
        _ => None,
    }
}

/// `distance_influence` (TorchMD-Net and SCD spell it the same), `both` when absent.
pub(crate) fn distance_influence(
    h: &BTreeMap<String, PyValue>,
) -> anyhow::Result<DistanceInfluence> {
    Ok(match string(h, "distance_influence").unwrap_or("both") {
        "both" => DistanceInfluence::Both,
        "keys" => DistanceInfluence::Keys,
        "values" => DistanceInfluence::Values,
        "none" => DistanceInfluence::None,
        other => bail!("distance_influence {other:?}: expected both, keys, values or none"),
    })
}
