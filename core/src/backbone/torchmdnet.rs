//! TorchMD-Net weights → [`Et`] and its heads: the `state_dict` key mapping behind
//! `nucleate import torchmd-net`.
//!
//! How it works: every TorchMD-Net key is translated to the dotted path of our parameter
//! ([`crate::nn::param_names`]); `nn.Linear` weights are transposed (PyTorch stores
//! `[out, in]`, burn `[in, out]`); LayerNorm `weight`/`bias` become `gamma`/`beta`. Buffers
//! that carry no learned state (the neighbour-list box, fixed RBF centres and widths, which are
//! checked against the closed form) are consumed; `mean`/`std` go into the [`Readout`]. A key
//! the mapping does not know, or a parameter no key fills, is an error, so a silent partial
//! load cannot happen. This module reads no files: the caller provides the name → tensor map.

use std::collections::BTreeMap;

use burn::tensor::{Device, Tensor};

use super::{BackboneError, Et, EtConfig};
use crate::head::{EquivariantScalarHead, Readout, ScalarHead};
use crate::nn::{NamedTensor, ParamLoadError, load_named};

/// The output model found in a TorchMD-Net `state_dict`.
#[derive(Debug)]
pub enum TorchmdNetHead {
    /// `output_modules.Scalar` (MLP on `x`).
    Scalar(Box<ScalarHead>),
    /// `output_modules.EquivariantScalar` (gated equivariant blocks).
    EquivariantScalar(EquivariantScalarHead),
}

/// A TorchMD-Net model (`TorchMD_Net` with an ET representation) in our modules.
#[derive(Debug)]
pub struct TorchmdNetEt {
    /// The representation.
    pub et: Et,
    /// The output model, when the `state_dict` has one.
    pub head: Option<TorchmdNetHead>,
    /// Standardisation (`std`, `mean` buffers) and reduction.
    pub readout: Readout,
}

/// Why TorchMD-Net weights could not be imported.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ImportError {
    /// The configuration is invalid.
    #[error(transparent)]
    Backbone(#[from] BackboneError),
    /// A tensor is missing, has the wrong shape, or is not understood.
    #[error(transparent)]
    Params(#[from] ParamLoadError),
    /// A fixed (non-trainable) buffer differs from what the configuration implies.
    #[error("buffer {key:?} differs from the configuration's closed form by {max_abs_diff}")]
    BufferMismatch { key: String, max_abs_diff: f64 },
    /// A tensor's values could not be read.
    #[error("reading tensor {key:?}: {reason}")]
    Read { key: String, reason: String },
}

/// How a source tensor becomes ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transform {
    Same,
    TransposeLinear,
}

/// Our name for a TorchMD-Net ET representation key (without `representation_model.`).
fn representation_name(key: &str) -> Option<(String, Transform)> {
    let t = |s: String| Some((s, Transform::Same));
    let lin = |s: String| Some((s, Transform::TransposeLinear));
    match key {
        "embedding.weight" => return t("embedding".into()),
        "distance_expansion.means" => return t("distance_expansion.means".into()),
        "distance_expansion.betas" => return t("distance_expansion.betas".into()),
        "neighbor_embedding.embedding.weight" => return t("neighbor_embedding.embedding".into()),
        "out_norm.weight" => return t("out_norm.gamma".into()),
        "out_norm.bias" => return t("out_norm.beta".into()),
        _ => {}
    }
    if let Some(rest) = key.strip_prefix("neighbor_embedding.") {
        return linear_name("neighbor_embedding", rest, &["distance_proj", "combine"]);
    }
    let rest = key.strip_prefix("attention_layers.")?;
    let (layer, rest) = rest.split_once('.')?;
    let layer: usize = layer.parse().ok()?;
    match rest {
        "layernorm.weight" => return t(format!("layers.{layer}.layernorm.gamma")),
        "layernorm.bias" => return t(format!("layers.{layer}.layernorm.beta")),
        _ => {}
    }
    let (module, param) = rest.split_once('.')?;
    const PROJ: [&str; 7] = [
        "q_proj", "k_proj", "v_proj", "o_proj", "vec_proj", "dk_proj", "dv_proj",
    ];
    if !PROJ.contains(&module) || !matches!(param, "weight" | "bias") {
        return None;
    }
    let ours = format!("layers.{layer}.{module}.{param}");
    if param == "weight" {
        lin(ours)
    } else {
        t(ours)
    }
}

/// `prefix.<module>.<weight|bias>` for a linear `module` in `allowed`.
pub(crate) fn linear_name(
    prefix: &str,
    rest: &str,
    allowed: &[&str],
) -> Option<(String, Transform)> {
    let (module, param) = rest.split_once('.')?;
    if !allowed.contains(&module) {
        return None;
    }
    match param {
        "weight" => Some((
            format!("{prefix}.{module}.weight"),
            Transform::TransposeLinear,
        )),
        "bias" => Some((format!("{prefix}.{module}.bias"), Transform::Same)),
        _ => None,
    }
}

/// Our name for a TorchMD-Net output-model key (without `output_model.`).
pub(crate) fn head_name(key: &str) -> Option<(String, Transform)> {
    let rest = key.strip_prefix("output_network.")?;
    // Scalar: output_network.layers.{0,2}.{weight,bias}
    if let Some(rest) = rest.strip_prefix("layers.") {
        let (idx, param) = rest.split_once('.')?;
        let module = match idx {
            "0" => "hidden",
            "2" => "out",
            _ => return None,
        };
        return linear_name("", &format!("{module}.{param}"), &["hidden", "out"])
            .map(|(n, t)| (n.trim_start_matches('.').to_owned(), t));
    }
    // EquivariantScalar: output_network.{b}.{vec1_proj,vec2_proj,update_net.layers.{0,2}}.*
    let (block, rest) = rest.split_once('.')?;
    let block: usize = block.parse().ok()?;
    let prefix = format!("blocks.{block}");
    if let Some(rest) = rest.strip_prefix("update_net.layers.") {
        let (idx, param) = rest.split_once('.')?;
        let module = match idx {
            "0" => "update_in",
            "2" => "update_out",
            _ => return None,
        };
        return linear_name(&prefix, &format!("{module}.{param}"), &[module]);
    }
    match rest {
        "vec1_proj.weight" | "vec2_proj.weight" => {
            linear_name(&prefix, rest, &["vec1_proj", "vec2_proj"])
        }
        _ => None,
    }
}

pub(crate) fn apply(
    t: &NamedTensor,
    transform: Transform,
    key: &str,
) -> Result<NamedTensor, ParamLoadError> {
    match (transform, t) {
        (Transform::Same, _) => Ok(t.clone()),
        (Transform::TransposeLinear, NamedTensor::R2(w)) => {
            Ok(NamedTensor::R2(w.clone().transpose()))
        }
        (Transform::TransposeLinear, other) => Err(ParamLoadError::SourceShape {
            key: key.to_owned(),
            got: other.shape(),
            expected: "a rank-2 linear weight [out, in]".into(),
        }),
    }
}

pub(crate) fn read_f64(key: &str, t: &NamedTensor) -> Result<Vec<f64>, ImportError> {
    let data = match t {
        NamedTensor::R1(t) => t.to_data(),
        NamedTensor::R2(t) => t.to_data(),
        NamedTensor::R3(t) => t.to_data(),
        NamedTensor::R4(t) => t.to_data(),
    };
    data.try_into_vec_as::<f64>()
        .map_err(|e| ImportError::Read {
            key: key.to_owned(),
            reason: format!("{e:?}"),
        })
}

pub(crate) fn scalar_buffer(key: &str, t: &NamedTensor) -> Result<f64, ImportError> {
    match read_f64(key, t)?.as_slice() {
        [v] => Ok(*v),
        _ => Err(ParamLoadError::SourceShape {
            key: key.to_owned(),
            got: t.shape(),
            expected: "a scalar".into(),
        }
        .into()),
    }
}

/// Checks a fixed (non-trainable) RBF buffer `distance_expansion.<which>` against the closed
/// form of `config`. `Ok(false)` when `which` is not an RBF buffer.
///
/// # Errors
/// [`ImportError::BufferMismatch`] when the values differ by more than 1e-4 (relative).
pub(crate) fn check_fixed_rbf(
    config: &EtConfig,
    key: &str,
    which: &str,
    t: &NamedTensor,
) -> Result<bool, ImportError> {
    let (means, betas) = config.rbf_config().initial_params();
    let expected = match which {
        "means" => means,
        "betas" => betas,
        _ => return Ok(false),
    };
    let got = read_f64(key, t)?;
    if got.len() != expected.len() {
        return Err(ParamLoadError::SourceShape {
            key: key.to_owned(),
            got: t.shape(),
            expected: format!("[{}] (num_rbf of the configuration)", expected.len()),
        }
        .into());
    }
    let max_abs_diff = got
        .iter()
        .zip(&expected)
        .map(|(a, b)| (a - b).abs() / b.abs().max(1.0))
        .fold(0.0, f64::max);
    if max_abs_diff > 1e-4 {
        return Err(ImportError::BufferMismatch {
            key: key.to_owned(),
            max_abs_diff,
        });
    }
    Ok(true)
}

/// Imports a TorchMD-Net `TorchMD_Net` (ET representation, optional `Scalar` or
/// `EquivariantScalar` output model) from its `state_dict`, given as name → tensor with the
/// original key names and PyTorch layouts. `config` must describe the same architecture
/// (TorchMD-Net's `hidden_channels`, `num_layers`, `num_heads`, `num_rbf`, `trainable_rbf`,
/// cutoffs, `max_z`, `neighbor_embedding`, `distance_influence`, `vector_cutoff`); the reduction
/// comes from `reduce_op` in TorchMD-Net's hyper-parameters, passed as `readout`.
///
/// # Errors
/// [`ImportError::Params`] for unknown keys, missing parameters or wrong shapes (e.g. a config
/// that does not match the weights), [`ImportError::BufferMismatch`] when fixed RBF buffers
/// differ from the closed form, [`ImportError::Backbone`] for an invalid config.
pub fn import_et(
    config: &EtConfig,
    state: &BTreeMap<String, NamedTensor>,
    readout: Readout,
    device: &Device,
) -> Result<TorchmdNetEt, ImportError> {
    let et = config.init(device)?;
    let mut rep = BTreeMap::new();
    let mut head = BTreeMap::new();
    let mut unknown = Vec::new();
    let mut readout = readout;
    for (key, t) in state {
        if let Some(k) = key.strip_prefix("representation_model.") {
            if k == "distance.box" {
                continue; // neighbour-list box buffer: the graph is built elsewhere
            }
            if !config.trainable_rbf
                && let Some(which) = k.strip_prefix("distance_expansion.")
            {
                if !check_fixed_rbf(config, key, which, t)? {
                    unknown.push(key.clone());
                }
                continue;
            }
            match representation_name(k) {
                Some((name, tr)) => {
                    rep.insert(name, apply(t, tr, key)?);
                }
                None => unknown.push(key.clone()),
            }
        } else if let Some(k) = key.strip_prefix("output_model.") {
            match head_name(k) {
                Some((name, tr)) => {
                    head.insert(name, apply(t, tr, key)?);
                }
                None => unknown.push(key.clone()),
            }
        } else if key == "mean" {
            readout.mean = scalar_buffer(key, t)?;
        } else if key == "std" {
            readout.std = scalar_buffer(key, t)?;
        } else {
            unknown.push(key.clone());
        }
    }
    if !unknown.is_empty() {
        return Err(ParamLoadError::UnknownSource { keys: unknown }.into());
    }
    let et = load_named(et, &rep)?;
    let head = if head.is_empty() {
        None
    } else {
        Some(import_head(config.hidden_channels, &head, device)?)
    };
    Ok(TorchmdNetEt { et, head, readout })
}

/// Imports a TorchMD-Net output model from tensors named as in its own `state_dict`
/// (`output_network.…`, i.e. without the `output_model.` prefix).
///
/// # Errors
/// [`ImportError::Params`] for unknown keys, missing parameters or wrong shapes.
pub fn import_output_model(
    hidden_channels: usize,
    state: &BTreeMap<String, NamedTensor>,
    device: &Device,
) -> Result<TorchmdNetHead, ImportError> {
    let mut head = BTreeMap::new();
    let mut unknown = Vec::new();
    for (key, t) in state {
        match head_name(key) {
            Some((name, tr)) => {
                head.insert(name, apply(t, tr, key)?);
            }
            None => unknown.push(key.clone()),
        }
    }
    if !unknown.is_empty() {
        return Err(ParamLoadError::UnknownSource { keys: unknown }.into());
    }
    import_head(hidden_channels, &head, device)
}

fn import_head(
    hidden_channels: usize,
    ours: &BTreeMap<String, NamedTensor>,
    device: &Device,
) -> Result<TorchmdNetHead, ImportError> {
    if ours.keys().any(|k| k.starts_with("blocks.")) {
        let head = EquivariantScalarHead::new(hidden_channels, device);
        Ok(TorchmdNetHead::EquivariantScalar(load_named(head, ours)?))
    } else {
        let head = ScalarHead::new(hidden_channels, device);
        Ok(TorchmdNetHead::Scalar(Box::new(load_named(head, ours)?)))
    }
}

impl TorchmdNetHead {
    /// Per-atom outputs `[n_atoms, 1]` from the backbone features.
    pub fn forward(&self, x: Tensor<2>, vec: Tensor<3>) -> Tensor<2> {
        match self {
            Self::Scalar(h) => h.forward(x),
            Self::EquivariantScalar(h) => h.forward(x, vec),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn representation_keys_map_to_our_paths() {
        let cases = [
            ("embedding.weight", "embedding", Transform::Same),
            ("out_norm.weight", "out_norm.gamma", Transform::Same),
            (
                "attention_layers.3.vec_proj.weight",
                "layers.3.vec_proj.weight",
                Transform::TransposeLinear,
            ),
            (
                "attention_layers.0.dv_proj.bias",
                "layers.0.dv_proj.bias",
                Transform::Same,
            ),
            (
                "attention_layers.1.layernorm.bias",
                "layers.1.layernorm.beta",
                Transform::Same,
            ),
            (
                "neighbor_embedding.combine.weight",
                "neighbor_embedding.combine.weight",
                Transform::TransposeLinear,
            ),
        ];
        for (key, ours, tr) in cases {
            assert_eq!(
                representation_name(key),
                Some((ours.to_owned(), tr)),
                "{key}"
            );
        }
        assert_eq!(representation_name("attention_layers.0.foo.weight"), None);
        assert_eq!(
            representation_name("attention_layers.x.q_proj.weight"),
            None
        );
    }

    #[test]
    fn head_keys_map_to_our_paths() {
        assert_eq!(
            head_name("output_network.layers.2.bias"),
            Some(("out.bias".to_owned(), Transform::Same))
        );
        assert_eq!(
            head_name("output_network.1.update_net.layers.0.weight"),
            Some((
                "blocks.1.update_in.weight".to_owned(),
                Transform::TransposeLinear
            ))
        );
        assert_eq!(
            head_name("output_network.0.vec2_proj.weight"),
            Some((
                "blocks.0.vec2_proj.weight".to_owned(),
                Transform::TransposeLinear
            ))
        );
        assert_eq!(head_name("output_network.0.vec2_proj.bias"), None);
        assert_eq!(head_name("output_network.layers.1.weight"), None);
    }
}
