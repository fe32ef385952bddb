//! SCD checkpoint weights → [`DenoiseModel`]: the `state_dict` key mapping behind
//! `nucleate import scd`.
//!
//! How it works: SCD's `CET` (a `ConditionalET` as `rep_model` plus `noise_head`,
//! `embedding_head` and `scalar_head`) has exactly the modules of our [`DenoiseModel`] (CT,
//! noise head, embedding head, scalar head), so every key translates to one of our dotted
//! parameter paths: `nn.Linear` weights are transposed (`[out, in]` → `[in, out]`), LayerNorm
//! `weight`/`bias` become `gamma`/`beta`, the `nn.Sequential` indices of `adaLN2.fc` and
//! `ProjHead2` become our field names. Buffers: `mean`/`std` go into the [`Readout`],
//! `noise_normalizer.*` (the running statistics of the noise targets) into a
//! [`NoiseNormalizer`], fixed RBF centres and widths are checked against the closed form. A key
//! the mapping does not know, or a parameter no key fills, is an error, so a silent partial load
//! cannot happen. This module reads no files: the caller provides the name → tensor map, with
//! the `model.` / `ema_model.` prefix of the Lightning checkpoint already removed.
//!
//! To reproduce SCD's outputs the CT must be configured as the checkpoint was trained:
//! [`crate::backbone::VecPreNormKind::DyT`] for `vec_prenorm: True`, and
//! [`crate::backbone::EtConfig::vec_norm_regulariser`] `Scd` for the whitened vector norms
//! (see [`crate::nn::EquivariantLayerNorm`]).

use std::collections::BTreeMap;

use burn::tensor::Device;

use super::{DenoiseModel, DenoiseModelConfig};
use crate::backbone::torchmdnet::{
    ImportError, Transform, apply, check_fixed_rbf, head_name, linear_name, read_f64, scalar_buffer,
};
use crate::head::Readout;
use crate::nn::{NamedTensor, ParamLoadError, load_named};
use crate::train::NoiseNormalizer;

/// What an SCD checkpoint holds, in our modules.
#[derive(Debug)]
pub struct ScdImport {
    /// CT with the noise, scalar and embedding heads.
    pub model: DenoiseModel,
    /// The property readout: `std`, `mean` buffers and the given reduction.
    pub readout: Readout,
    /// Running statistics of the (denoising) noise targets.
    pub normalizer: NoiseNormalizer,
}

/// Our name for a key of SCD's `ConditionalET` (without `rep_model.`), relative to the CT.
fn ct_name(key: &str) -> Option<(String, Transform)> {
    let t = |s: String| Some((s, Transform::Same));
    let lin = |s: String| Some((s, Transform::TransposeLinear));
    match key {
        "embedding.weight" => return t("embedding".into()),
        "distance_expansion.means" => return t("distance_expansion.means".into()),
        "distance_expansion.betas" => return t("distance_expansion.betas".into()),
        "neighbor_embedding_module.embedding.weight" => {
            return t("neighbor_embedding.embedding".into());
        }
        "drop_cond.mask_token" => return t("drop_cond.mask_token".into()),
        "drop_cond.norm.weight" => return t("drop_cond.norm.gamma".into()),
        "drop_cond.norm.bias" => return t("drop_cond.norm.beta".into()),
        _ => {}
    }
    if let Some(rest) = key.strip_prefix("neighbor_embedding_module.") {
        return linear_name("neighbor_embedding", rest, &["distance_proj", "combine"]);
    }
    // Per-layer modules: `x_post_norm.{l}.*`, `v_post_norm.{l}.*`, `attention_layers.{l}.*`.
    let (list, rest) = key.split_once('.')?;
    let (layer, rest) = rest.split_once('.')?;
    let layer: usize = layer.parse().ok()?;
    let at = |s: &str| format!("layers.{layer}.{s}");
    match (list, rest) {
        ("x_post_norm", "weight") => return t(at("x_post_norm.gamma")),
        ("x_post_norm", "bias") => return t(at("x_post_norm.beta")),
        ("v_post_norm", "weight") => return t(at("v_post_norm.weight")),
        ("attention_layers", _) => {}
        _ => return None,
    }
    match rest {
        "conditional_ln.x_norm.weight" => return t(at("conditional_ln.x_norm.gamma")),
        "conditional_ln.x_norm.bias" => return t(at("conditional_ln.x_norm.beta")),
        "conditional_ln.fc.0.weight" => return lin(at("conditional_ln.fc_in.weight")),
        "conditional_ln.fc.0.bias" => return t(at("conditional_ln.fc_in.bias")),
        "conditional_ln.fc.2.weight" => return t(at("conditional_ln.fc_norm.gamma")),
        "conditional_ln.fc.2.bias" => return t(at("conditional_ln.fc_norm.beta")),
        "conditional_ln.fc.3.weight" => return lin(at("conditional_ln.fc_out.weight")),
        "conditional_ln.fc.3.bias" => return t(at("conditional_ln.fc_out.bias")),
        "conditional_ln.x_modulate.alpha" => return t(at("conditional_ln.alpha_mod")),
        "conditional_ln.alpha_x" => return t(at("conditional_ln.alpha_gate")),
        "vec_norm.norm_alpha" => return t(at("vec_norm.alpha")),
        "vec_norm.norm_gamma" => return t(at("vec_norm.gamma")),
        "vec_norm.norm_beta" => return t(at("vec_norm.beta")),
        _ => {}
    }
    linear_name(
        &format!("layers.{layer}.attention"),
        rest,
        &[
            "q_proj", "k_proj", "v_proj", "o_proj", "vec_proj", "dk_proj", "dv_proj",
        ],
    )
}

/// Our name for a key of SCD's `ProjHead2` (without `embedding_head.`).
fn embedding_head_name(key: &str) -> Option<(String, Transform)> {
    let (seq, rest) = key.split_once('.')?;
    let (idx, param) = rest.split_once('.')?;
    let (module, is_norm) = match (seq, idx) {
        ("pre_proj", "0") => ("norm_in", true),
        ("pre_proj", "1") => ("lin_a", false),
        ("pre_proj", "3") => ("norm_a", true),
        ("post_agg_mlp", "0") => ("norm_pool", true),
        ("post_agg_mlp", "1") => ("lin_b", false),
        ("post_agg_mlp", "3") => ("norm_b", true),
        ("post_agg_mlp", "4") => ("lin_c", false),
        _ => return None,
    };
    match (is_norm, param) {
        (true, "weight") => Some((format!("{module}.gamma"), Transform::Same)),
        (true, "bias") => Some((format!("{module}.beta"), Transform::Same)),
        (false, _) => linear_name("", &format!("{module}.{param}"), &[module])
            .map(|(n, t)| (n.trim_start_matches('.').to_owned(), t)),
        _ => None,
    }
}

/// Our dotted path in [`DenoiseModel`] for a key of SCD's `CET` `state_dict`.
fn model_name(key: &str) -> Option<(String, Transform)> {
    let prefixed =
        |prefix: &str, m: Option<(String, Transform)>| m.map(|(n, t)| (format!("{prefix}.{n}"), t));
    if let Some(rest) = key.strip_prefix("rep_model.") {
        return prefixed("backbone", ct_name(rest));
    }
    if let Some(rest) = key.strip_prefix("noise_head.") {
        return prefixed("noise_head", head_name(rest));
    }
    if let Some(rest) = key.strip_prefix("scalar_head.") {
        return prefixed("scalar_head", head_name(rest));
    }
    if let Some(rest) = key.strip_prefix("embedding_head.") {
        return prefixed("emb_head", embedding_head_name(rest));
    }
    None
}

/// Imports SCD's `CET` from its `state_dict` (original key names, PyTorch layouts, without
/// the Lightning module's `model.` prefix). `config` must describe the same architecture
/// (`emb_dim`, `num_layers`, `num_heads`, `num_rbf`, `trainable_rbf`, cutoffs, `max_z`,
/// `neighbor_embedding`, `distance_influence`, `vector_cutoff`, the pre-/post-norm flags);
/// `readout` brings the reduction (`head_agg`), its `std`/`mean` are replaced by the buffers.
///
/// # Errors
/// [`ImportError::Params`] for unknown keys, missing parameters or wrong shapes (e.g. a config
/// that does not match the weights), [`ImportError::BufferMismatch`] when fixed RBF buffers
/// differ from the closed form, [`ImportError::Backbone`] for an invalid config.
pub fn import_scd(
    config: &DenoiseModelConfig,
    state: &BTreeMap<String, NamedTensor>,
    readout: Readout,
    device: &Device,
) -> Result<ScdImport, ImportError> {
    let model = config.init(device)?;
    let et = &config.ct.et;
    let mut ours = BTreeMap::new();
    let mut unknown = Vec::new();
    let mut readout = readout;
    let mut normalizer = NoiseNormalizer::default();
    for (key, t) in state {
        if !et.trainable_rbf
            && let Some(which) = key.strip_prefix("rep_model.distance_expansion.")
        {
            if !check_fixed_rbf(et, key, which, t)? {
                unknown.push(key.clone());
            }
            continue;
        }
        match key.as_str() {
            "mean" => readout.mean = scalar_buffer(key, t)?,
            "std" => readout.std = scalar_buffer(key, t)?,
            "noise_normalizer.acc_sum" => normalizer.sum = vec3(key, t)?,
            "noise_normalizer.acc_squared_sum" => normalizer.sum_sq = vec3(key, t)?,
            "noise_normalizer.acc_count" => {
                let count = scalar_buffer(key, t)?;
                if !(count >= 0.0 && count.fract() == 0.0 && count < 2f64.powi(53)) {
                    return Err(ImportError::Read {
                        key: key.clone(),
                        reason: format!("expected a non-negative whole count, got {count}"),
                    });
                }
                normalizer.count = count as u64;
            }
            // How often the statistics were updated: bookkeeping, not needed to use them.
            "noise_normalizer.num_accumulations" => {}
            _ => match model_name(key) {
                Some((name, tr)) => {
                    ours.insert(name, apply(t, tr, key)?);
                }
                None => unknown.push(key.clone()),
            },
        }
    }
    if !unknown.is_empty() {
        return Err(ParamLoadError::UnknownSource { keys: unknown }.into());
    }
    let model = load_named(model, &ours)?;
    Ok(ScdImport {
        model: model.with_training(false),
        readout,
        normalizer,
    })
}

fn vec3(key: &str, t: &NamedTensor) -> Result<[f64; 3], ImportError> {
    match read_f64(key, t)?.as_slice() {
        &[a, b, c] => Ok([a, b, c]),
        _ => Err(ParamLoadError::SourceShape {
            key: key.to_owned(),
            got: t.shape(),
            expected: "3 values (x, y, z)".into(),
        }
        .into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backbone::{CtConfig, EtConfig};
    use crate::nn::params::param_names;

    #[test]
    fn keys_map_to_our_paths() {
        let cases = [
            ("rep_model.embedding.weight", "backbone.embedding", false),
            (
                "rep_model.attention_layers.1.conditional_ln.fc.3.weight",
                "backbone.layers.1.conditional_ln.fc_out.weight",
                true,
            ),
            (
                "rep_model.attention_layers.0.conditional_ln.fc.2.bias",
                "backbone.layers.0.conditional_ln.fc_norm.beta",
                false,
            ),
            (
                "rep_model.attention_layers.0.vec_norm.norm_gamma",
                "backbone.layers.0.vec_norm.gamma",
                false,
            ),
            (
                "rep_model.attention_layers.2.dv_proj.weight",
                "backbone.layers.2.attention.dv_proj.weight",
                true,
            ),
            (
                "rep_model.x_post_norm.3.bias",
                "backbone.layers.3.x_post_norm.beta",
                false,
            ),
            (
                "rep_model.v_post_norm.0.weight",
                "backbone.layers.0.v_post_norm.weight",
                false,
            ),
            (
                "rep_model.drop_cond.norm.weight",
                "backbone.drop_cond.norm.gamma",
                false,
            ),
            (
                "rep_model.neighbor_embedding_module.combine.weight",
                "backbone.neighbor_embedding.combine.weight",
                true,
            ),
            (
                "noise_head.output_network.1.update_net.layers.2.bias",
                "noise_head.blocks.1.update_out.bias",
                false,
            ),
            (
                "embedding_head.post_agg_mlp.4.weight",
                "emb_head.lin_c.weight",
                true,
            ),
            (
                "embedding_head.pre_proj.3.weight",
                "emb_head.norm_a.gamma",
                false,
            ),
        ];
        for (key, ours, transposed) in cases {
            let tr = if transposed {
                Transform::TransposeLinear
            } else {
                Transform::Same
            };
            assert_eq!(model_name(key), Some((ours.to_owned(), tr)), "{key}");
        }
        for bad in [
            "rep_model.attention_layers.0.layernorm.weight",
            "rep_model.x_post_norm.x.weight",
            "embedding_head.pre_proj.2.weight",
            "rep_model.v_post_norm.0.bias",
            "ctr_loss.proj_head.mlp.0.weight",
        ] {
            assert_eq!(model_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn every_parameter_of_the_model_has_an_scd_key() {
        // Invert the mapping over the model's own parameter list: each of our parameters must
        // be the image of exactly one SCD key of the form the mapping accepts.
        let device = crate::testing::cpu_device();
        let config = DenoiseModelConfig::new(
            CtConfig::new().with_et(
                EtConfig::new()
                    .with_hidden_channels(8)
                    .with_num_layers(2)
                    .with_num_heads(2)
                    .with_num_rbf(4)
                    .with_trainable_rbf(true),
            ),
        );
        let model = config.init(&device).unwrap();
        let candidates = scd_keys(2);
        for (name, _) in param_names(&model) {
            let hits: Vec<&String> = candidates
                .iter()
                .filter(|k| model_name(k).is_some_and(|(n, _)| n == name))
                .collect();
            assert_eq!(hits.len(), 1, "{name}: {hits:?}");
        }
    }

    /// Every key a two-layer `CET` with trainable RBF has (SCD's module and parameter names).
    fn scd_keys(layers: usize) -> Vec<String> {
        let mut keys: Vec<String> = [
            "rep_model.embedding.weight",
            "rep_model.distance_expansion.means",
            "rep_model.distance_expansion.betas",
            "rep_model.neighbor_embedding_module.embedding.weight",
            "rep_model.drop_cond.mask_token",
            "rep_model.drop_cond.norm.weight",
            "rep_model.drop_cond.norm.bias",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        for m in ["distance_proj", "combine"] {
            for p in ["weight", "bias"] {
                keys.push(format!("rep_model.neighbor_embedding_module.{m}.{p}"));
            }
        }
        for l in 0..layers {
            let a = format!("rep_model.attention_layers.{l}");
            for m in ["q_proj", "k_proj", "v_proj", "o_proj", "dk_proj", "dv_proj"] {
                for p in ["weight", "bias"] {
                    keys.push(format!("{a}.{m}.{p}"));
                }
            }
            keys.push(format!("{a}.vec_proj.weight"));
            for s in [
                "conditional_ln.x_norm.weight",
                "conditional_ln.x_norm.bias",
                "conditional_ln.fc.0.weight",
                "conditional_ln.fc.0.bias",
                "conditional_ln.fc.2.weight",
                "conditional_ln.fc.2.bias",
                "conditional_ln.fc.3.weight",
                "conditional_ln.fc.3.bias",
                "conditional_ln.x_modulate.alpha",
                "conditional_ln.alpha_x",
                "vec_norm.norm_alpha",
                "vec_norm.norm_gamma",
                "vec_norm.norm_beta",
            ] {
                keys.push(format!("{a}.{s}"));
            }
            keys.push(format!("rep_model.x_post_norm.{l}.weight"));
            keys.push(format!("rep_model.x_post_norm.{l}.bias"));
            keys.push(format!("rep_model.v_post_norm.{l}.weight"));
        }
        for head in ["noise_head", "scalar_head"] {
            for b in 0..2 {
                let o = format!("{head}.output_network.{b}");
                keys.push(format!("{o}.vec1_proj.weight"));
                keys.push(format!("{o}.vec2_proj.weight"));
                for i in [0, 2] {
                    for p in ["weight", "bias"] {
                        keys.push(format!("{o}.update_net.layers.{i}.{p}"));
                    }
                }
            }
        }
        for (seq, idx) in [
            ("pre_proj", 0),
            ("pre_proj", 1),
            ("pre_proj", 3),
            ("post_agg_mlp", 0),
            ("post_agg_mlp", 1),
            ("post_agg_mlp", 3),
            ("post_agg_mlp", 4),
        ] {
            for p in ["weight", "bias"] {
                keys.push(format!("embedding_head.{seq}.{idx}.{p}"));
            }
        }
        keys
    }
}
