//! Model directories of property models: `config.toml` (the model config), `weights.bin`
//! (every float parameter as little-endian `f32`, visiting order), `meta.json` ([`ModelMeta`]);
//! written by fine-tuning and the imports, read by `predict`, `evaluate` and `finetune --init`.

use std::path::Path;

use anyhow::{Context, bail};
use nucleate_core::Structure;
use nucleate_core::backbone::torchmdnet::TorchmdNetHead;
use nucleate_core::backbone::{AtomGraph, Et, EtConfig};
use nucleate_core::graph::{RadiusGraphOptions, radius_graph_batch};
use nucleate_core::head::{EquivariantScalarHead, Readout, Reduce, ScalarHead};
use nucleate_core::objective::{DenoiseModel, DenoiseModelConfig};
use nucleate_core::train::{flatten, load_le_bytes, param_sizes, to_le_bytes};
use serde::{Deserialize, Serialize};

use crate::fsutil::write_atomic;

/// What a saved model knows besides its weights.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ModelMeta {
    /// Model name (the run directory's name).
    pub name: String,
    /// `ct` (CT with SCD's heads, trained here) or `et` (TorchMD-Net ET with its output model,
    /// imported).
    #[serde(default = "default_backbone")]
    pub backbone: String,
    /// The imported output model (`Scalar` or `EquivariantScalar`), for `et`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_model: Option<String>,
    /// Where imported weights came from (file and SHA-256).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Whether the model has a direct force head.
    #[serde(default)]
    pub force_head: bool,
    /// `scd`, `coord` or `finetune`.
    pub objective: String,
    /// The fine-tuned label, if any.
    pub target: Option<String>,
    /// Its unit.
    pub unit: Option<String>,
    /// `sum` or `mean`.
    pub reduce: String,
    /// Readout σ.
    pub readout_std: f64,
    /// Readout μ.
    pub readout_mean: f64,
    /// Validation MAE (target units) of the saved weights.
    pub val_mae: Option<f64>,
    /// Test MAE (target units) of the saved weights.
    pub test_mae: Option<f64>,
    /// Optimiser steps trained.
    pub steps: u64,
    /// Noise normaliser Σu.
    pub norm_sum: [f64; 3],
    /// Σu².
    pub norm_sum_sq: [f64; 3],
    /// Count.
    pub norm_count: u64,
}

fn default_backbone() -> String {
    "ct".into()
}

impl ModelMeta {
    /// The readout of the property head.
    pub fn readout(&self) -> Readout {
        Readout::new()
            .with_reduce(if self.reduce == "mean" {
                Reduce::Mean
            } else {
                Reduce::Sum
            })
            .with_std(self.readout_std)
            .with_mean(self.readout_mean)
    }
}

fn model_toml(config: &nucleate_core::backbone::CtConfig) -> anyhow::Result<String> {
    #[derive(Serialize)]
    struct File<'a> {
        model: Model<'a>,
    }
    #[derive(Serialize)]
    struct Model<'a> {
        backbone: &'static str,
        ct: &'a nucleate_core::backbone::CtConfig,
    }
    Ok(toml::to_string(&File {
        model: Model {
            backbone: "ct",
            ct: config,
        },
    })?)
}

/// Writes a model directory: `config.toml`, `weights.bin` (little-endian `f32`, visiting
/// order), `meta.json`; each file atomically.
///
/// # Errors
/// I/O errors.
pub fn save_model(
    dir: &Path,
    config: &nucleate_core::backbone::CtConfig,
    params: &[Vec<f32>],
    meta: &ModelMeta,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let bytes = to_le_bytes(params);
    write_atomic(&dir.join("weights.bin"), &bytes)?;
    write_atomic(&dir.join("config.toml"), model_toml(config)?.as_bytes())?;
    write_atomic(&dir.join("meta.json"), &serde_json::to_vec_pretty(meta)?)?;
    Ok(())
}

/// The model config (`config.toml`) of model directory `dir`.
fn model_dir_config(dir: &Path) -> anyhow::Result<nucleate_core::backbone::BackboneConfig> {
    let config_path = dir.join("config.toml");
    if !config_path.is_file() {
        bail!(
            "{} not found (is {} a model directory?)",
            config_path.display(),
            dir.display()
        );
    }
    crate::model_config::read_model_config(&config_path)
}

/// Reads a model directory written by [`save_model`].
///
/// # Errors
/// Missing or malformed files, weights that do not fit the config.
pub fn load_model(
    dir: &Path,
    device: &burn::tensor::Device,
) -> anyhow::Result<(DenoiseModel, nucleate_core::backbone::CtConfig, ModelMeta)> {
    let ct = match model_dir_config(dir)? {
        nucleate_core::backbone::BackboneConfig::Ct(c) => c,
        other => bail!(
            "{}/config.toml: backbone \"{}\"; property models are CT",
            dir.display(),
            other.name()
        ),
    };
    let meta_path = dir.join("meta.json");
    let meta: ModelMeta = crate::input::read_json(&meta_path)?;
    let model = DenoiseModelConfig::new(ct.clone())
        .with_force_head(meta.force_head)
        .init(device)?;
    let model = load_weights(model, &dir.join("weights.bin"))?;
    Ok((model.with_training(false), ct, meta))
}

/// A model that predicts one property per structure.
pub enum Predictor {
    /// CT with SCD's heads (fine-tuned here).
    Ct(Box<DenoiseModel>),
    /// TorchMD-Net's ET with its output model (imported).
    Et {
        /// The representation.
        et: Box<Et>,
        /// The output model.
        head: TorchmdNetHead,
        /// The radius graph the representation expects.
        options: RadiusGraphOptions,
    },
}

impl Predictor {
    /// Per-atom forces (atoms of all structures in order, Cartesian components flattened) from
    /// a model with a direct force head; `None` for models without one.
    ///
    /// # Errors
    /// Graph or network errors.
    pub fn predict_forces(
        &self,
        structures: &[Structure],
        readout: &Readout,
        device: &burn::tensor::Device,
    ) -> anyhow::Result<Option<Vec<f64>>> {
        match self {
            Self::Ct(m) if m.force_head.is_some() => Ok(Some(
                m.predict_forces(structures, readout, device)?
                    .into_iter()
                    .flatten()
                    .collect(),
            )),
            _ => Ok(None),
        }
    }

    /// The property of each structure through `readout`.
    ///
    /// # Errors
    /// Graph or network errors (bad cell, element outside the embedding).
    pub fn predict(
        &self,
        structures: &[Structure],
        readout: &Readout,
        device: &burn::tensor::Device,
    ) -> anyhow::Result<Vec<f64>> {
        match self {
            Self::Ct(m) => Ok(m.predict(structures, readout, device)?),
            Self::Et { et, head, options } => {
                if structures.is_empty() || structures.iter().any(|s| s.numbers.is_empty()) {
                    bail!("empty structure");
                }
                let g = radius_graph_batch(structures, options)?;
                let graph = AtomGraph::from_batched(structures, &g, device)?;
                let f = et.forward(&graph)?;
                let y = head.forward(f.x, f.vec);
                Ok(readout
                    .forward(y, &graph.batch)
                    .into_data()
                    .iter::<f64>()
                    .collect())
            }
        }
    }
}

/// Writes an imported ET model directory: `config.toml` (backbone "et"), `weights.bin` (the
/// representation's parameters, then the output model's), `meta.json`.
///
/// # Errors
/// I/O errors.
pub fn save_et_model(
    dir: &Path,
    config: &EtConfig,
    et: &Et,
    head: &TorchmdNetHead,
    meta: &ModelMeta,
) -> anyhow::Result<()> {
    #[derive(Serialize)]
    struct File<'a> {
        model: Model<'a>,
    }
    #[derive(Serialize)]
    struct Model<'a> {
        backbone: &'static str,
        et: &'a EtConfig,
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut params = flatten(et);
    params.extend(match head {
        TorchmdNetHead::Scalar(h) => flatten(h.as_ref()),
        TorchmdNetHead::EquivariantScalar(h) => flatten(h),
    });
    let bytes = to_le_bytes(&params);
    write_atomic(&dir.join("weights.bin"), &bytes)?;
    let toml = toml::to_string(&File {
        model: Model {
            backbone: "et",
            et: config,
        },
    })?;
    write_atomic(&dir.join("config.toml"), toml.as_bytes())?;
    write_atomic(&dir.join("meta.json"), &serde_json::to_vec_pretty(meta)?)?;
    Ok(())
}

/// Reads any model directory (`ct` trained here, `et` imported) for prediction.
///
/// # Errors
/// Missing or malformed files, weights that do not fit the config.
pub fn load_predictor(
    dir: &Path,
    device: &burn::tensor::Device,
) -> anyhow::Result<(Predictor, ModelMeta)> {
    let config = model_dir_config(dir)?;
    let meta_path = dir.join("meta.json");
    let meta: ModelMeta = crate::input::read_json(&meta_path)?;
    match config {
        nucleate_core::backbone::BackboneConfig::Ct(_) => {
            let (m, _, meta) = load_model(dir, device)?;
            Ok((Predictor::Ct(Box::new(m)), meta))
        }
        nucleate_core::backbone::BackboneConfig::Et(c) => {
            let et = c.init(device)?;
            let head = match meta.output_model.as_deref() {
                Some("EquivariantScalar") => TorchmdNetHead::EquivariantScalar(
                    EquivariantScalarHead::new(c.hidden_channels, device),
                ),
                Some("Scalar") => {
                    TorchmdNetHead::Scalar(Box::new(ScalarHead::new(c.hidden_channels, device)))
                }
                other => bail!("{}: unknown output_model {other:?}", meta_path.display()),
            };
            // weights.bin: the representation's values, then the output model's.
            let path = dir.join("weights.bin");
            let raw = crate::input::read_file(&path)?;
            let n_et = 4 * param_sizes(&et).iter().sum::<usize>();
            let (et_bytes, head_bytes) = raw.split_at(n_et.min(raw.len()));
            let et = load_le_bytes(et, et_bytes).with_context(|| format!("{}", path.display()))?;
            let head = match head {
                TorchmdNetHead::Scalar(h) => TorchmdNetHead::Scalar(Box::new(
                    load_le_bytes(*h, head_bytes).with_context(|| format!("{}", path.display()))?,
                )),
                TorchmdNetHead::EquivariantScalar(h) => TorchmdNetHead::EquivariantScalar(
                    load_le_bytes(h, head_bytes).with_context(|| format!("{}", path.display()))?,
                ),
            };
            Ok((
                Predictor::Et {
                    et: Box::new(et),
                    head,
                    options: c.graph_options(),
                },
                meta,
            ))
        }
        other => bail!(
            "{}/config.toml: a {} model has no property head for predict",
            dir.display(),
            other.name()
        ),
    }
}

pub(crate) fn load_weights(model: DenoiseModel, path: &Path) -> anyhow::Result<DenoiseModel> {
    let raw = crate::input::read_file(path)?;
    load_le_bytes(model, &raw).with_context(|| format!("{}", path.display()))
}
