//! `nucleate pretrain` and `nucleate finetune` as a [`Job`] of the one training loop
//! (`crate::train`).
//!
//! How a run works: the config (`run_config.rs`) is resolved and hashed; the data are read,
//! hashed and split by a seeded permutation; the run directory receives `config.toml` (the
//! resolved config), `run.json` (config hash, input files with their SHA-256, command line) and
//! `splits.json` (the indices of every split). Each step draws its batch, its noise and burn's
//! drop-path/drop-condition randomness from seeds that depend only on (seed, step) and computes
//! the objective's loss; core's engine does the rest on the device (AdamW with SCD's warm-up +
//! cosine schedule and weight-decay groups, global-norm clipping, the EMA). The loop checkpoints
//! the whole state atomically to `checkpoint.bin`; rerunning the same command resumes from it
//! and continues bit for bit. Validation runs every `eval_every` steps on the EMA weights. At
//! the end the run writes `model/` (the EMA weights, or the raw weights without an EMA, plus
//! the model config and `meta.json`), `eval.json` and the plots `loss.svg` (and `val_mae.svg`
//! and the test split's `parity.svg` for fine-tuning).

pub mod data;
pub mod model_dir;

use std::path::PathBuf;

use anyhow::{Context, bail};
use burn::module::Module;
use nucleate_core::Structure;
use nucleate_core::graph::RadiusGraphOptions;
use nucleate_core::head::{Readout, Reduce};
use nucleate_core::objective::{
    DenoiseBatch, DenoiseModel, DenoiseModelConfig, FinetuneSettings, NoiseLevels, StepLoss,
    cell_repeat, denoise_batch_loss, prepare_coord, prepare_finetune, prepare_pocket_scd,
    prepare_scd,
};
use nucleate_core::rng::SplitMix64;
use nucleate_core::train::{
    AdamW, Clipping, Engine, EngineConfig, Losses, NoiseNormalizer, WarmupCosine, copy_params,
};
use serde::Serialize;
use sha2::{Digest, Sha256};

pub use model_dir::{ModelMeta, load_model, load_predictor, save_et_model, save_model};

use crate::fsutil::write_atomic;
use crate::run_config::{Objective, ObjectiveKind, RunConfig, read_run_config};
use crate::train::log::{Row, plot_parity};
use crate::train::{Job, Schedule};
use data::{Batches, Splits, mix};

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
    /// Distinct `[atoms, edges]` batch shapes the last invocation's steps met.
    pub batch_shapes: usize,
}

/// A pretraining or fine-tuning run as a [`Job`] of the training loop.
struct Task<'a> {
    cfg: &'a RunConfig,
    structures: &'a [Structure],
    splits: &'a Splits,
    targets: Vec<f64>,
    readout: Readout,
    device: &'a burn::tensor::Device,
    batches: Batches,
    schedule: WarmupCosine,
    graph: RadiusGraphOptions,
    /// Pad batches to bucket capacities (GPU backends).
    pad: bool,
    unit: String,
}

impl Task<'_> {
    /// The host half of a step on the structures `idx`: updates `normalizer` with the noise.
    fn prepare_batch(
        &self,
        idx: &[usize],
        normalizer: &mut NoiseNormalizer,
        rng: &mut SplitMix64,
    ) -> anyhow::Result<DenoiseBatch> {
        let batch: Vec<Structure> = match &self.cfg.objective {
            Objective::Pretrain {
                cell_repeat: true, ..
            } => idx
                .iter()
                .map(|&i| cell_repeat(&self.structures[i], 4, 2, 0.5, rng))
                .collect(),
            _ => idx.iter().map(|&i| self.structures[i].clone()).collect(),
        };
        let g = &self.graph;
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
                    ObjectiveKind::Scd => prepare_scd(&batch, levels, normalizer, rng, g)?,
                    ObjectiveKind::ScdPocket => {
                        prepare_pocket_scd(&batch, levels, normalizer, rng, g)?
                    }
                    _ => prepare_coord(&batch, levels, normalizer, rng, g)?,
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
                prepare_finetune(
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
                    g,
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
                let batch = self.prepare_batch(chunk, &mut norm, &mut rng)?;
                let l = denoise_batch_loss(&model, &batch, &device)?;
                loss_sum += l.host().denoise * chunk.len() as f64;
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

impl Job for Task<'_> {
    type Model = DenoiseModel;
    type Batch = DenoiseBatch;

    fn figures(&self) -> &'static [&'static str] {
        &StepLoss::FIGURES
    }

    fn lr(&self, step: u64) -> f64 {
        self.schedule.lr(step)
    }

    fn prepare(&self, step: u64, normalizer: &mut NoiseNormalizer) -> anyhow::Result<DenoiseBatch> {
        let mut rng = SplitMix64::new(mix(self.cfg.train.seed, step) ^ 0xA5A5_5A5A_0F0F_F0F0);
        let idx: Vec<usize> = self
            .batches
            .at(step)
            .into_iter()
            .map(|p| self.splits.train[p])
            .collect();
        let batch = self.prepare_batch(&idx, normalizer, &mut rng)?;
        Ok(if self.pad { batch.padded() } else { batch })
    }

    fn shape(&self, batch: &DenoiseBatch) -> Vec<usize> {
        batch.shape()
    }

    fn loss(&self, model: &DenoiseModel, batch: DenoiseBatch) -> anyhow::Result<Losses> {
        Ok(denoise_batch_loss(model, &batch, self.device)?.losses())
    }

    fn validate(
        &self,
        model: &DenoiseModel,
        step: u64,
        normalizer: &NoiseNormalizer,
    ) -> anyhow::Result<Option<(Row, String)>> {
        let model = model.clone().with_training(false);
        let Evaluation { loss, mae, .. } = self.evaluate(&model, &self.splits.val, normalizer)?;
        let mut row = Row::new(step, "val", loss, 0.0);
        row.mae = mae;
        let line = match mae {
            Some(mae) => format!(
                "step {step}: val MAE {mae:.5} {} (loss {loss:.5})",
                self.unit
            ),
            None => format!("step {step}: val loss {loss:.5}"),
        };
        Ok(Some((row, line)))
    }

    fn row(&self, figures: &[f64], row: &mut Row) {
        // [denoise, property, pos_mae, force]; terms an objective does not compute are 0.
        let some = |v: f64| (v != 0.0).then_some(v);
        row.denoise = some(figures[0]);
        row.property = some(figures[1]);
        row.pos_mae = some(figures[2]);
        if figures[3] != 0.0 {
            row.terms.insert("force".into(), figures[3]);
        }
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// Reads the config and checks that the calling command runs its objective.
fn config(opts: &RunOptions) -> anyhow::Result<RunConfig> {
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
    Ok(cfg)
}

/// The run directory: created, emptied of an old run's state with `--fresh`.
fn prepare_dir(opts: &RunOptions) -> anyhow::Result<()> {
    let dir = &opts.run_dir;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
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
    Ok(())
}

/// The property's labels, unit and readout (fine-tuning), from the training split.
fn targets(
    cfg: &RunConfig,
    structures: &[Structure],
    splits: &Splits,
) -> anyhow::Result<(Vec<f64>, String, Readout, Option<String>)> {
    let Objective::Finetune {
        target,
        mean_reduce,
        standardize,
        ..
    } = &cfg.objective
    else {
        return Ok((Vec::new(), String::new(), Readout::new(), None));
    };
    let (y, unit) = data::labels(structures, target)?;
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
    Ok((y, unit, readout, Some(target.clone())))
}

/// The initial model: burn's CPU generator draws the weights whatever the device, seeded, so a
/// run is reproducible and starts from the same weights on every backend; `init` (a model
/// directory) replaces them and supplies the noise normaliser.
fn initial_model(
    cfg: &RunConfig,
    init: Option<&std::path::Path>,
    force_head: bool,
    device: &burn::tensor::Device,
) -> anyhow::Result<(DenoiseModel, NoiseNormalizer)> {
    let init_device = crate::backend::model_device();
    init_device.seed(mix(cfg.train.seed, u64::MAX));
    device.seed(mix(cfg.train.seed, u64::MAX));
    let model_config = DenoiseModelConfig::new(cfg.model.clone()).with_force_head(force_head);
    let mut model = copy_params(
        &model_config.init(&init_device)?,
        model_config.init(device)?,
    )?
    .with_training(true);
    let mut normalizer = NoiseNormalizer::default();
    if let Some(init) = init {
        let (_, _, meta) = load_model(init, device)?;
        // The initial weights have no force head; a new one keeps its fresh initialisation.
        let fresh_head = model.force_head.take();
        model = model_dir::load_weights(model, &init.join("weights.bin"))
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
    Ok((model, normalizer))
}

/// Runs (or resumes) a training run.
///
/// # Errors
/// Config, data and I/O errors; a non-finite loss; a checkpoint of another config in the run
/// directory.
pub fn run(opts: &RunOptions) -> anyhow::Result<RunSummary> {
    let cfg = config(opts)?;
    let kind = cfg.objective.kind();
    let config_sha = sha256_hex(cfg.text.as_bytes());
    prepare_dir(opts)?;
    let dir = &opts.run_dir;
    let files = crate::train::files_in(dir, config_sha.clone());
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
    let (targets, unit, readout, target_name) = targets(&cfg, &structures, &splits)?;
    let force_head =
        matches!(cfg.objective, Objective::Finetune { force_weight, .. } if force_weight > 0.0);
    let t = &cfg.train;
    let (model, normalizer) = initial_model(&cfg, opts.init.as_deref(), force_head, &device)?;
    let mut engine = Engine::new(
        &model,
        EngineConfig {
            adamw: AdamW {
                beta1: t.beta1,
                beta2: t.beta2,
                eps: 1e-8,
                weight_decay: t.weight_decay,
            },
            clipping: if t.grad_clip > 0.0 {
                Clipping::Norm(t.grad_clip)
            } else {
                Clipping::None
            },
            ema_decay: t.ema_decay,
            decay_groups: true,
        },
    );
    let task = Task {
        cfg: &cfg,
        structures: &structures,
        splits: &splits,
        targets,
        readout: readout.clone(),
        device: &device,
        batches: Batches::new(t.seed, splits.train.len(), t.batch_size),
        schedule: WarmupCosine {
            peak: t.lr,
            warmup: t.warmup,
            total: t.steps,
        },
        graph: model.graph_options(),
        pad: t.pad_batches.unwrap_or(opts.compute.pads_batches()),
        unit: unit.clone(),
    };
    let start = match crate::train::read_checkpoint(&files, &engine)? {
        Some(c) => {
            eprintln!("resuming {} at step {}", dir.display(), c.header.step);
            crate::train::resume(&c, &mut engine, model)?
        }
        None => crate::train::Start::fresh(model, normalizer),
    };
    let schedule = Schedule {
        steps: t.steps,
        log_every: t.log_every,
        eval_every: t.eval_every,
        checkpoint_every: t.checkpoint_every,
        max_seconds: t.max_seconds,
        seed: t.seed,
    };
    let (model, outcome) = crate::train::run(&task, start, &mut engine, &schedule, &files)?;
    crate::train::log::MetricsLog::new(dir).plot(dir, &unit)?;
    let mut summary = RunSummary {
        steps: outcome.steps,
        finished: outcome.finished,
        seconds: outcome.seconds,
        val_loss: outcome.last_val.as_ref().map(|r| r.loss),
        val_mae: outcome.last_val.as_ref().and_then(|r| r.mae),
        test_mae: None,
        val_force_mae: None,
        test_force_mae: None,
        n_test: splits.test.len(),
        target: target_name.clone(),
        unit: (!unit.is_empty()).then(|| unit.clone()),
        seed: t.seed,
        batch_shapes: outcome.shapes,
    };
    if outcome.finished {
        let averaged = engine.averaged(model).with_training(false);
        if matches!(cfg.objective, Objective::Finetune { .. }) {
            let val = task.evaluate(&averaged, &splits.val, &outcome.normalizer)?;
            let test = task.evaluate(&averaged, &splits.test, &outcome.normalizer)?;
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
        let normalizer = outcome.normalizer;
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
            steps: outcome.steps,
            norm_sum: normalizer.sum,
            norm_sum_sq: normalizer.sum_sq,
            norm_count: normalizer.count,
        };
        let exported = engine.state();
        let weights = exported.ema.unwrap_or(exported.params);
        save_model(&dir.join("model"), &cfg.model, &[weights], &meta)?;
        write_atomic(
            &dir.join("eval.json"),
            &serde_json::to_vec_pretty(&summary)?,
        )?;
    }
    Ok(summary)
}
