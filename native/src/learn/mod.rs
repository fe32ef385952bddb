//! The training engine behind `nucleate pretrain` and `nucleate finetune`.
//!
//! How a run works: the config (`run_config.rs`) is resolved and hashed; the data are read,
//! hashed and split by a seeded permutation; the run directory receives `config.toml` (the
//! resolved config), `run.json` (config hash, input files with their SHA-256, command line) and
//! `splits.json` (the indices of every split). Each step draws its batch, its noise and burn's
//! drop-path/drop-condition randomness from seeds that depend only on (seed, step), computes the
//! objective's loss, reads the gradients to the host, clips their global norm and applies AdamW
//! with SCD's warm-up + cosine schedule and weight-decay groups, then updates the EMA of the
//! weights. A non-finite loss or gradient stops the run with `nan_report.json` instead of
//! training on garbage. Every `checkpoint_every` steps the whole state (weights, EMA, AdamW
//! moments, noise normaliser, step) is written atomically to `checkpoint.bin`; rerunning the
//! same command resumes from it and continues the identical loss curve (rows logged after the
//! checkpoint by a killed run are dropped). Validation runs every `eval_every` steps on the EMA
//! weights. At the end the run writes `model/` (the EMA weights, or the raw weights without an
//! EMA, plus the model config and `meta.json`), `eval.json` and the plots `loss.svg` (and
//! `val_mae.svg` and the test split's `parity.svg` for fine-tuning).

pub mod checkpoint;
pub mod data;
pub mod log;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use burn::module::Module;
use indicatif::{ProgressBar, ProgressStyle};
use nucleate_core::Structure;
use nucleate_core::backbone::torchmdnet::TorchmdNetHead;
use nucleate_core::backbone::{AtomGraph, Et, EtConfig};
use nucleate_core::graph::{RadiusGraphOptions, radius_graph_batch};
use nucleate_core::head::{EquivariantScalarHead, Readout, Reduce, ScalarHead};
use nucleate_core::nn::params::param_names;
use nucleate_core::objective::{
    DenoiseModel, DenoiseModelConfig, FinetuneSettings, NoiseLevels, StepLoss, cell_repeat,
    coord_loss, finetune_loss, pocket_scd_loss, scd_loss,
};
use nucleate_core::rng::SplitMix64;
use nucleate_core::train::{
    AdamW, AdamWState, Ema, NoiseNormalizer, WarmupCosine, clip_factor, copy_params, decay_mask,
    flatten, global_norm, gradients, load_le_bytes, param_sizes, to_le_bytes, unflatten,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::run_config::{Objective, ObjectiveKind, RunConfig, read_run_config};
use checkpoint::{Checkpoint, Header, write_atomic};
use data::{Batches, mix};
use log::{MetricsLog, Row, plot_parity};

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
                    .forward(y, graph.batch.clone(), graph.n_systems)
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

fn load_weights(model: DenoiseModel, path: &Path) -> anyhow::Result<DenoiseModel> {
    let raw = crate::input::read_file(path)?;
    load_le_bytes(model, &raw).with_context(|| format!("{}", path.display()))
}

/// How to start a run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Run config file.
    pub config: PathBuf,
    /// `section.key=value` overrides.
    pub overrides: Vec<String>,
    /// Run directory.
    pub run_dir: PathBuf,
    /// Initial weights (a model directory), for fine-tuning a pretrained model.
    pub init: Option<PathBuf>,
    /// Discard an existing checkpoint in the run directory.
    pub fresh: bool,
    /// Which objectives the calling command accepts.
    pub accept: &'static [ObjectiveKind],
    /// The command line, for `run.json`.
    pub command: String,
    /// The backend to train on.
    pub compute: crate::backend::Compute,
}

/// The figures of a finished (or budget-stopped) run.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    /// Steps done.
    pub steps: u64,
    /// Whether all configured steps are done.
    pub finished: bool,
    /// Training seconds (all invocations).
    pub seconds: f64,
    /// Last validation loss.
    pub val_loss: Option<f64>,
    /// Validation MAE (fine-tuning).
    pub val_mae: Option<f64>,
    /// Test MAE (fine-tuning).
    pub test_mae: Option<f64>,
    /// Validation force MAE (target units per Å, per component), with a force head.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub val_force_mae: Option<f64>,
    /// Test force MAE (target units per Å, per component), with a force head.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_force_mae: Option<f64>,
    /// Test structures.
    pub n_test: usize,
    /// Target and unit (fine-tuning).
    pub target: Option<String>,
    /// Unit.
    pub unit: Option<String>,
    /// Seed.
    pub seed: u64,
}

struct Task<'a> {
    cfg: &'a RunConfig,
    structures: &'a [Structure],
    targets: Vec<f64>,
    readout: Readout,
    device: &'a burn::tensor::Device,
}

impl Task<'_> {
    fn loss(
        &self,
        model: &DenoiseModel,
        idx: &[usize],
        normalizer: &mut NoiseNormalizer,
        rng: &mut SplitMix64,
        device: &burn::tensor::Device,
    ) -> anyhow::Result<StepLoss> {
        let batch: Vec<Structure> = match &self.cfg.objective {
            Objective::Pretrain {
                cell_repeat: true, ..
            } => idx
                .iter()
                .map(|&i| cell_repeat(&self.structures[i], 4, 2, 0.5, rng))
                .collect(),
            _ => idx.iter().map(|&i| self.structures[i].clone()).collect(),
        };
        Ok(match &self.cfg.objective {
            Objective::Pretrain {
                kind,
                sigma_corrupt,
                sigma_reg,
                ..
            } => {
                let levels = NoiseLevels {
                    corrupt: *sigma_corrupt,
                    regularise: *sigma_reg,
                };
                match kind {
                    ObjectiveKind::Scd => scd_loss(model, &batch, levels, normalizer, rng, device)?,
                    ObjectiveKind::ScdPocket => {
                        pocket_scd_loss(model, &batch, levels, normalizer, rng, device)?
                    }
                    _ => coord_loss(model, &batch, levels, normalizer, rng, device)?,
                }
            }
            Objective::Finetune {
                noise,
                denoise_weight,
                rotate,
                force_weight,
                ..
            } => {
                let y: Vec<f64> = idx.iter().map(|&i| self.targets[i]).collect();
                finetune_loss(
                    model,
                    &batch,
                    &y,
                    &self.readout,
                    FinetuneSettings {
                        noise: *noise,
                        denoise_weight: *denoise_weight,
                        rotate: *rotate,
                        force_weight: *force_weight,
                    },
                    normalizer,
                    rng,
                    device,
                )?
            }
        })
    }

    /// Mean loss on `idx` (fixed noise; the normaliser is not updated) and, for fine-tuning,
    /// the MAE of the property in target units. Runs without autodiff: a forward pass on an
    /// autodiff device keeps its graph until a backward pass that never comes.
    fn evaluate(
        &self,
        model: &DenoiseModel,
        idx: &[usize],
        normalizer: &NoiseNormalizer,
    ) -> anyhow::Result<Evaluation> {
        let device = self.device.clone().without_autodiff();
        let mut pairs = Vec::new();
        let model = model.valid();
        let mut force_abs = 0.0;
        let mut force_n = 0usize;
        let bs = self.cfg.train.batch_size.max(1);
        let mut loss_sum = 0.0;
        let mut abs_sum = 0.0;
        for (k, chunk) in idx.chunks(bs).enumerate() {
            let mut norm = *normalizer;
            let mut rng = SplitMix64::new(mix(0x005E_ED0F_7E57, k as u64));
            if let Objective::Finetune { .. } = self.cfg.objective {
                let batch: Vec<Structure> =
                    chunk.iter().map(|&i| self.structures[i].clone()).collect();
                let pred = model.predict(&batch, &self.readout, &device)?;
                for (p, &i) in pred.iter().zip(chunk) {
                    let e = p - self.targets[i];
                    loss_sum += e * e;
                    abs_sum += e.abs();
                    pairs.push((self.targets[i], *p));
                }
                if model.force_head.is_some() {
                    let f = model.predict_forces(&batch, &self.readout, &device)?;
                    let truth = batch
                        .iter()
                        .flat_map(|s| match s.atom_arrays.get("forces") {
                            Some(nucleate_core::AtomArray::Float { width: 3, values }) => {
                                values.clone()
                            }
                            _ => Vec::new(),
                        });
                    for (p, t) in f.iter().flatten().zip(truth) {
                        force_abs += (p - t).abs();
                        force_n += 1;
                    }
                }
            } else {
                let l = self.loss(&model, chunk, &mut norm, &mut rng, &device)?;
                loss_sum += l.denoise * chunk.len() as f64;
            }
        }
        let n = idx.len().max(1) as f64;
        let mae = matches!(self.cfg.objective, Objective::Finetune { .. }).then_some(abs_sum / n);
        let force_mae = (force_n > 0).then(|| force_abs / force_n as f64);
        Ok(Evaluation {
            loss: loss_sum / n,
            mae,
            force_mae,
            pairs,
        })
    }
}

/// What [`Task::evaluate`] measures on a set of structures.
struct Evaluation {
    /// Mean loss.
    loss: f64,
    /// Property MAE in target units (fine-tuning).
    mae: Option<f64>,
    /// Force MAE (fine-tuning with forces).
    force_mae: Option<f64>,
    /// `(reference, predicted)` per structure (fine-tuning).
    pairs: Vec<(f64, f64)>,
}

fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

fn progress(total: u64, start: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise} < {eta_precise}] {bar:30} {pos}/{len} steps {wide_msg}",
    ) {
        bar.set_style(style);
    }
    bar.set_position(start);
    bar.reset_eta();
    bar
}

fn nan_report(
    dir: &Path,
    step: u64,
    loss: &StepLoss,
    lr: f64,
    norm: f64,
    bad: &[String],
    last_checkpoint: u64,
) -> anyhow::Error {
    let report = serde_json::json!({
        "step": step,
        "loss": host(&loss.total),
        "denoise": loss.denoise,
        "property": loss.property,
        "lr": lr,
        "grad_norm": norm,
        "non_finite_gradients": bad,
        "last_checkpoint_step": last_checkpoint,
    });
    let path = dir.join("nan_report.json");
    let written = serde_json::to_vec_pretty(&report)
        .ok()
        .and_then(|b| write_atomic(&path, &b).ok())
        .is_some();
    anyhow::anyhow!(
        "training stopped at step {step}: non-finite loss or gradient (loss {}, gradient norm \
         {norm}, learning rate {lr:e}; {} parameters with non-finite gradients{}). The last \
         good checkpoint is step {last_checkpoint}; {}",
        host(&loss.total),
        bad.len(),
        bad.first()
            .map(|n| format!(", first {n}"))
            .unwrap_or_default(),
        if written {
            format!("details in {}", path.display())
        } else {
            "the report could not be written".to_string()
        }
    )
}

fn host(t: &burn::tensor::Tensor<1>) -> f64 {
    t.clone()
        .detach()
        .into_data()
        .iter::<f64>()
        .next()
        .unwrap_or(f64::NAN)
}

/// Runs (or resumes) a training run.
///
/// # Errors
/// Config, data and I/O errors; a non-finite loss; a checkpoint of another config in the run
/// directory.
pub fn run(opts: &RunOptions) -> anyhow::Result<RunSummary> {
    let mut cfg = read_run_config(&opts.config, &opts.overrides)?;
    let kind = cfg.objective.kind();
    if !opts.accept.contains(&kind) {
        bail!(
            "{}: objective kind = \"{}\"; this command runs {}",
            opts.config.display(),
            kind.name(),
            opts.accept
                .iter()
                .map(|k| format!("\"{}\"", k.name()))
                .collect::<Vec<_>>()
                .join(" or ")
        );
    }
    if kind == ObjectiveKind::Finetune {
        // docs/backbones.md §3.9: everything is trainable during fine-tuning.
        cfg.model.freeze_embeddings = false;
    }
    let config_sha = sha256_hex(cfg.text.as_bytes());
    let dir = &opts.run_dir;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let ckpt_path = dir.join("checkpoint.bin");
    let log = MetricsLog::new(dir);
    if opts.fresh {
        for f in [
            "checkpoint.bin",
            "metrics.jsonl",
            "metrics.csv",
            "nan_report.json",
        ] {
            let p = dir.join(f);
            if p.exists() {
                std::fs::remove_file(&p).with_context(|| format!("removing {}", p.display()))?;
            }
        }
    }
    let resume = if ckpt_path.exists() {
        let c = checkpoint::read(&ckpt_path)?;
        if c.header.config_sha256 != config_sha {
            bail!(
                "{} holds a checkpoint of another config (hash {} ≠ {}); use another --run \
                 directory, the same config and overrides, or --fresh to start over",
                dir.display(),
                &c.header.config_sha256[..12.min(c.header.config_sha256.len())],
                &config_sha[..12]
            );
        }
        Some(c)
    } else {
        None
    };
    write_atomic(&dir.join("config.toml"), cfg.text.as_bytes())?;

    let (structures, sources) = data::load(&cfg.data)?;
    let splits = data::split(structures.len(), &cfg.data)?;
    write_atomic(&dir.join("splits.json"), &serde_json::to_vec(&splits)?)?;
    let run_info = serde_json::json!({
        "config_sha256": config_sha,
        "config": opts.config,
        "overrides": opts.overrides,
        "init": opts.init,
        "data": sources,
        "structures": structures.len(),
        "splits": {"train": splits.train.len(), "val": splits.val.len(), "test": splits.test.len()},
        "command": opts.command,
        "device": opts.compute,
        "nucleate": env!("CARGO_PKG_VERSION"),
    });
    write_atomic(
        &dir.join("run.json"),
        &serde_json::to_vec_pretty(&run_info)?,
    )?;

    let device = opts.compute.train_device()?;
    ::log::info!("training on {} ({:?})", opts.compute, device);
    let (targets, unit, readout, target_name) = match &cfg.objective {
        Objective::Finetune {
            target,
            mean_reduce,
            standardize,
            ..
        } => {
            let (y, unit) = data::labels(&structures, target)?;
            let train_y: Vec<f64> = splits.train.iter().map(|&i| y[i]).collect();
            let n = train_y.len() as f64;
            let mean = train_y.iter().sum::<f64>() / n;
            let std = (train_y.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n)
                .sqrt()
                .max(1e-12);
            let reduce = if *mean_reduce {
                Reduce::Mean
            } else {
                Reduce::Sum
            };
            let readout = if *standardize {
                Readout::new()
                    .with_reduce(reduce)
                    .with_std(std)
                    .with_mean(mean)
            } else {
                Readout::new().with_reduce(reduce)
            };
            (y, unit, readout, Some(target.clone()))
        }
        Objective::Pretrain { .. } => (Vec::new(), String::new(), Readout::new(), None),
    };
    let task = Task {
        cfg: &cfg,
        structures: &structures,
        targets,
        readout: readout.clone(),
        device: &device,
    };

    // The initial weights come from burn's CPU generator whatever the device, seeded, so that
    // a run is reproducible and starts from the same weights on every backend.
    let init_device = crate::backend::model_device();
    init_device.seed(mix(cfg.train.seed, u64::MAX));
    device.seed(mix(cfg.train.seed, u64::MAX));
    let force_head =
        matches!(cfg.objective, Objective::Finetune { force_weight, .. } if force_weight > 0.0);
    let model_config = DenoiseModelConfig::new(cfg.model.clone()).with_force_head(force_head);
    let mut model = copy_params(
        &model_config.init(&init_device)?,
        model_config.init(&device)?,
    )?
    .with_training(true);
    let mut normalizer = NoiseNormalizer::default();
    if let (Some(init), None) = (&opts.init, &resume) {
        let (_, _, meta) = load_model(init, &device)?;
        // The initial weights have no force head; a new one keeps its fresh initialisation.
        let fresh_head = model.force_head.take();
        model = load_weights(model, &init.join("weights.bin"))
            .with_context(|| format!("initialising from {}", init.display()))?
            .with_training(true);
        model.force_head = fresh_head;
        // docs/objectives.md §0.1: the normaliser keeps accumulating from pretraining.
        normalizer = NoiseNormalizer {
            sum: meta.norm_sum,
            sum_sq: meta.norm_sum_sq,
            count: meta.norm_count,
        };
    }
    let t = &cfg.train;
    let opt = AdamW {
        beta1: t.beta1,
        beta2: t.beta2,
        eps: 1e-8,
        weight_decay: t.weight_decay,
    };
    let schedule = WarmupCosine {
        peak: t.lr,
        warmup: t.warmup,
        total: t.steps,
    };
    let decay = decay_mask(&model);
    let names: Vec<String> = param_names(&model).into_iter().map(|(n, _)| n).collect();
    let mut params = flatten(&model);
    let sizes: Vec<usize> = params.iter().map(Vec::len).collect();
    let mut adam = AdamWState::new(&params);
    let mut ema = (t.ema_decay > 0.0).then(|| Ema::new(t.ema_decay, &params));
    let mut step = 0u64;
    let mut seconds_before = 0.0;
    if let Some(c) = resume {
        if c.header.sizes != sizes {
            bail!(
                "{}: parameter sizes differ from the config's model",
                ckpt_path.display()
            );
        }
        normalizer = c.normalizer();
        step = c.header.step;
        seconds_before = c.header.seconds;
        params = c.params;
        adam = c.adam;
        if let (Some(e), Some(saved)) = (&mut ema, c.ema) {
            e.values = saved;
        }
        model = unflatten(model, &params)?;
        log.truncate_after(step)?;
        eprintln!("resuming {} at step {step}", dir.display());
    } else {
        log.truncate_after(0)?;
    }
    let eval_model = |params: &[Vec<f32>], ema: &Option<Ema>, model: &DenoiseModel| {
        let values = ema.as_ref().map_or(params, |e| &e.values);
        unflatten(model.clone(), values).map(|m| m.with_training(false))
    };
    let save_ckpt = |step: u64,
                     params: &[Vec<f32>],
                     ema: &Option<Ema>,
                     adam: &AdamWState,
                     normalizer: &NoiseNormalizer,
                     seconds: f64|
     -> anyhow::Result<()> {
        let c = Checkpoint {
            header: Header {
                step,
                config_sha256: config_sha.clone(),
                sizes: sizes.clone(),
                has_ema: ema.is_some(),
                adam_step: adam.step,
                norm_sum: normalizer.sum,
                norm_sum_sq: normalizer.sum_sq,
                norm_count: normalizer.count,
                seconds,
                clip_history: Vec::new(),
            },
            params: params.to_vec(),
            ema: ema.as_ref().map(|e| e.values.clone()),
            adam: adam.clone(),
        };
        write_atomic(&ckpt_path, &checkpoint::encode(&c)?)
    };

    let mut batches = Batches::new(t.seed, splits.train.len(), t.batch_size);
    let clock = Instant::now();
    let bar = progress(t.steps, step);
    let mut last_ckpt = step;
    let mut last_val = None;
    let mut last_mae = None;
    let mut smoothed: Option<f64> = None;
    let mut stopped_by_budget = false;
    while step < t.steps {
        let step_seed = mix(t.seed, step);
        device.seed(step_seed);
        let mut rng = SplitMix64::new(step_seed ^ 0xA5A5_5A5A_0F0F_F0F0);
        let idx: Vec<usize> = batches
            .at(step)
            .into_iter()
            .map(|p| splits.train[p])
            .collect();
        let lr = schedule.lr(step);
        let loss = task.loss(&model, &idx, &mut normalizer, &mut rng, &device)?;
        let total = host(&loss.total);
        let grads = if total.is_finite() {
            gradients(&model, &loss.total.backward())
        } else {
            Vec::new()
        };
        let norm = global_norm(&grads);
        if !total.is_finite() || !norm.is_finite() {
            let bad: Vec<String> = grads
                .iter()
                .zip(&names)
                .filter(|(g, _)| g.as_ref().is_some_and(|g| g.iter().any(|v| !v.is_finite())))
                .map(|(_, n)| n.clone())
                .collect();
            bar.abandon();
            return Err(nan_report(dir, step + 1, &loss, lr, norm, &bad, last_ckpt));
        }
        opt.step(
            &mut params,
            &grads,
            &decay,
            &mut adam,
            lr,
            clip_factor(norm, t.grad_clip),
        );
        model = unflatten(model, &params)?;
        if let Some(e) = &mut ema {
            e.update(&params);
        }
        step += 1;
        let seconds = seconds_before + clock.elapsed().as_secs_f64();
        smoothed = Some(smoothed.map_or(total, |s| 0.95 * s + 0.05 * total));
        bar.set_position(step);
        bar.set_message(format!(
            "loss {:.4} (avg {:.4}) lr {lr:.2e}",
            total,
            smoothed.unwrap_or(total)
        ));
        if step.is_multiple_of(t.log_every) || step == t.steps {
            log.append(&Row {
                step,
                split: "train".into(),
                loss: total,
                denoise: (loss.denoise != 0.0).then_some(loss.denoise),
                property: (loss.property != 0.0).then_some(loss.property),
                pos_mae: (loss.pos_mae != 0.0).then_some(loss.pos_mae),
                mae: None,
                lr: Some(lr),
                grad_norm: Some(norm),
                seconds,
            })?;
        }
        let out_of_time = t.max_seconds > 0.0 && clock.elapsed().as_secs_f64() >= t.max_seconds;
        if step.is_multiple_of(t.checkpoint_every) || step == t.steps || out_of_time {
            save_ckpt(step, &params, &ema, &adam, &normalizer, seconds)?;
            last_ckpt = step;
        }
        if step.is_multiple_of(t.eval_every) || step == t.steps {
            let m = eval_model(&params, &ema, &model)?;
            let Evaluation { loss: val, mae, .. } = task.evaluate(&m, &splits.val, &normalizer)?;
            last_val = Some(val);
            last_mae = mae;
            log.append(&Row {
                step,
                split: "val".into(),
                loss: val,
                denoise: None,
                property: None,
                pos_mae: None,
                mae,
                lr: None,
                grad_norm: None,
                seconds,
            })?;
            let line = match mae {
                Some(mae) => format!("step {step}: val MAE {mae:.5} {unit} (loss {val:.5})"),
                None => format!("step {step}: val loss {val:.5}"),
            };
            bar.println(&line);
            if bar.is_hidden() {
                eprintln!("{line} [{seconds:.0} s]");
            }
        }
        if out_of_time {
            stopped_by_budget = true;
            break;
        }
    }
    bar.finish_and_clear();
    let seconds = seconds_before + clock.elapsed().as_secs_f64();
    if step > last_ckpt {
        save_ckpt(step, &params, &ema, &adam, &normalizer, seconds)?;
    }
    log.plot(dir, &unit)?;
    let finished = step >= t.steps && !stopped_by_budget;
    let mut summary = RunSummary {
        steps: step,
        finished,
        seconds,
        val_loss: last_val,
        val_mae: last_mae,
        test_mae: None,
        val_force_mae: None,
        test_force_mae: None,
        n_test: splits.test.len(),
        target: target_name.clone(),
        unit: (!unit.is_empty()).then(|| unit.clone()),
        seed: t.seed,
    };
    if finished {
        let m = eval_model(&params, &ema, &model)?;
        if matches!(cfg.objective, Objective::Finetune { .. }) {
            let val = task.evaluate(&m, &splits.val, &normalizer)?;
            let test = task.evaluate(&m, &splits.test, &normalizer)?;
            summary.val_mae = val.mae;
            summary.test_mae = test.mae;
            summary.val_force_mae = val.force_mae;
            summary.test_force_mae = test.force_mae;
            plot_parity(
                dir,
                &test.pairs,
                target_name.as_deref().unwrap_or("property"),
                &unit,
            )?;
        }
        let exported = ema.as_ref().map_or(&params, |e| &e.values);
        let meta = ModelMeta {
            backbone: "ct".into(),
            output_model: None,
            source: None,
            force_head,
            name: dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            objective: kind.name().into(),
            target: target_name,
            unit: summary.unit.clone(),
            reduce: if matches!(readout.reduce, Reduce::Mean) {
                "mean".into()
            } else {
                "sum".into()
            },
            readout_std: readout.std,
            readout_mean: readout.mean,
            val_mae: summary.val_mae,
            test_mae: summary.test_mae,
            steps: step,
            norm_sum: normalizer.sum,
            norm_sum_sq: normalizer.sum_sq,
            norm_count: normalizer.count,
        };
        save_model(&dir.join("model"), &cfg.model, exported, &meta)?;
        write_atomic(
            &dir.join("eval.json"),
            &serde_json::to_vec_pretty(&summary)?,
        )?;
    }
    Ok(summary)
}
