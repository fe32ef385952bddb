//! `nucleate train unigem` and `nucleate generate`: UniGEM training (AdamW with EDM's adaptive
//! gradient clipping and an EMA of the weights, constant learning rate, atomic checkpoints that
//! resume exactly, a held-out property MAE) and sampling to extended XYZ with the EDM metrics of
//! the generated set.
//!
//! A model directory holds `config.toml` (the model config), `weights.bin` (every float
//! parameter as little-endian f32, in module visiting order) and `meta.json` (property name,
//! training mean and MAD, atom-count histogram, steps done).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use burn::module::Module;
use clap::{Args, Subcommand};
use nucleate_core::Structure;
use nucleate_core::backbone::{BackboneConfig, UniGem, UniGemConfig};
use nucleate_core::objective::{
    AtomCountHistogram, Guidance, NoiseSchedule, SplitMix64, UniGemBatch, UniGemLoss,
    UniGemMeta as Meta, annotated, phase_times, predict_property, prepare_unigem, sample,
    unigem_batch_loss,
};
use nucleate_core::train::{
    AdamW, Clipping, Engine, EngineConfig, Losses, NoiseNormalizer, copy_params, load_le_bytes,
    to_le_bytes,
};
use sha2::Digest;

use crate::learn::data::mix;

/// `nucleate train …`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    #[command(subcommand)]
    what: TrainWhat,
}

#[derive(Debug, Subcommand)]
enum TrainWhat {
    /// Train UniGEM on QM9 (docs/objectives.md §5.2).
    Unigem(UnigemTrainArgs),
}

/// `nucleate train unigem`.
#[derive(Debug, Args)]
pub struct UnigemTrainArgs {
    /// Model config (TOML with `backbone = "unigem"`).
    #[arg(long)]
    config: PathBuf,
    /// QM9 input files (CSV, extended XYZ, optionally gzipped) with the property label.
    #[arg(long, required = true, num_args = 1..)]
    data: Vec<PathBuf>,
    /// Output model directory.
    #[arg(long, short = 'o')]
    out: PathBuf,
    /// Property trained by the property head (a per-structure label, e.g. `homo`).
    #[arg(long, default_value = "homo")]
    property: String,
    /// Optimiser steps.
    #[arg(long, default_value_t = 1000)]
    steps: usize,
    /// Molecules per batch (half nucleation, half growth phase).
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = 1e-4)]
    lr: f64,
    /// Stop after this many seconds (checkpoint written).
    #[arg(long)]
    max_seconds: Option<f64>,
    /// Write a checkpoint every this many steps.
    #[arg(long, default_value_t = 200)]
    checkpoint_every: usize,
    /// Pad each batch to bucket capacities of atoms and edges (bounded kernel shapes on a
    /// GPU); default: on the GPU backends only.
    #[arg(long)]
    pad_batches: Option<bool>,
    /// Random seed (initial weights, batches, noise, held-out set).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// EMA decay of the weights (EDM: 0.999; 0 = none). The model directory holds the EMA.
    #[arg(long, default_value_t = 0.999)]
    ema_decay: f64,
    /// Molecules held out (seeded) for the property MAE reported at the end.
    #[arg(long, default_value_t = 0)]
    holdout: usize,
    /// Split the data with a named recipe instead of `--holdout`: `edm` trains on EDM's
    /// 100,000 QM9 molecules and reports the property MAE on its test set (13,083); the split
    /// is seeded by `--seed` and saved as `split.json` in the model directory.
    #[arg(long, value_enum, conflicts_with = "holdout")]
    split: Option<crate::dataset::split::Preset>,
    /// Compute backend: `cpu`, `wgpu` or `cuda`.
    #[arg(long, value_enum, default_value_t = crate::backend::Compute::Cpu)]
    device: crate::backend::Compute,
    /// Continue training from a model directory written by `train unigem` (same config and
    /// property): its weights (the EMA) start both the weights and the EMA, the step count
    /// continues from its `steps_done` (so `--steps` is the new total), the optimiser state
    /// starts afresh. A checkpoint in the output directory takes precedence (that run resumes).
    #[arg(long)]
    init: Option<PathBuf>,
}

/// `nucleate generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Model directory written by `nucleate train unigem`.
    #[arg(long)]
    model: PathBuf,
    /// Molecules to generate.
    #[arg(long, default_value_t = 100)]
    n: usize,
    /// Output extended XYZ.
    #[arg(short = 'o', long)]
    out: PathBuf,
    /// Also write the sampling trajectory (every `--every`-th step) here.
    #[arg(long)]
    trajectory: Option<PathBuf>,
    /// Trajectory stride in sampling steps.
    #[arg(long, default_value_t = 50)]
    every: usize,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Property-guided generation: `NAME=VALUE` in the label's units (e.g. `homo=-6.5`).
    #[arg(long)]
    target: Option<String>,
    /// Sampling steps T (the model was trained with 1000).
    #[arg(long, default_value_t = 1000)]
    steps: usize,
    /// Compute backend: `cpu`, `wgpu` or `cuda`.
    #[arg(long, value_enum, default_value_t = crate::backend::Compute::Cpu)]
    device: crate::backend::Compute,
}

fn load_config(path: &Path) -> anyhow::Result<UniGemConfig> {
    match crate::model_config::read_model_config(path)? {
        BackboneConfig::UniGem(c) => Ok(c),
        other => bail!(
            "{}: backbone is \"{}\", expected \"unigem\"",
            path.display(),
            other.name()
        ),
    }
}

fn save_weights(
    dir: &Path,
    config_text: &str,
    params: &[Vec<f32>],
    meta: &Meta,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let bytes = to_le_bytes(params);
    // Write to temporary names, then rename, so an interrupted save leaves the old checkpoint.
    for (name, data) in [
        ("weights.bin", bytes),
        ("meta.json", serde_json::to_vec_pretty(meta)?),
        ("config.toml", config_text.as_bytes().to_vec()),
    ] {
        crate::fsutil::write_atomic(&dir.join(name), &data)?;
    }
    Ok(())
}

fn load(dir: &Path, device: &burn::tensor::Device) -> anyhow::Result<(UniGem, Meta)> {
    let config = load_config(&dir.join("config.toml"))?;
    let meta: Meta = crate::input::read_json(&dir.join("meta.json"))?;
    let path = dir.join("weights.bin");
    let raw = crate::input::read_file(&path)?;
    let model =
        load_le_bytes(config.init(device)?, &raw).with_context(|| format!("{}", path.display()))?;
    Ok((model, meta))
}

/// UniGEM training as a [`crate::train::Job`]: a step's molecules (drawn with replacement),
/// times and noise come from (seed, step); constant learning rate; no validation during
/// training (the held-out MAE is measured at the end).
struct UniGemJob<'a> {
    model_device: burn::tensor::Device,
    mols: &'a [Structure],
    train_idx: &'a [usize],
    y_norm: &'a [f64],
    batch: usize,
    seed: u64,
    lr: f64,
    schedule: NoiseSchedule,
    /// Pad batches to bucket capacities (GPU backends).
    pad: bool,
}

impl crate::train::Job for UniGemJob<'_> {
    type Model = UniGem;
    type Batch = UniGemBatch;

    fn figures(&self) -> &'static [&'static str] {
        &UniGemLoss::FIGURES
    }

    fn lr(&self, _step: u64) -> f64 {
        self.lr
    }

    fn prepare(&self, step: u64, _normalizer: &mut NoiseNormalizer) -> anyhow::Result<UniGemBatch> {
        let mut rng = SplitMix64::new(mix(self.seed, step) ^ 0x5A5A_A5A5_F0F0_0F0F);
        let idx: Vec<usize> = (0..self.batch)
            .map(|_| self.train_idx[rng.range(0, self.train_idx.len() - 1)])
            .collect();
        let batch: Vec<Structure> = idx.iter().map(|&i| self.mols[i].clone()).collect();
        let y: Vec<f64> = idx.iter().map(|&i| self.y_norm[i]).collect();
        let t = phase_times(self.batch, self.schedule.steps(), &mut rng);
        let batch = prepare_unigem(&self.schedule, &batch, &y, &t, &mut rng)?;
        Ok(if self.pad { batch.padded() } else { batch })
    }

    fn shape(&self, batch: &UniGemBatch) -> Vec<usize> {
        batch.shape()
    }

    fn loss(&self, model: &UniGem, batch: UniGemBatch) -> anyhow::Result<Losses> {
        Ok(unigem_batch_loss(model, &batch, &self.model_device)?.losses())
    }

    fn validate(
        &self,
        _model: &UniGem,
        _step: u64,
        _normalizer: &NoiseNormalizer,
    ) -> anyhow::Result<Option<(crate::train::log::Row, String)>> {
        Ok(None)
    }
}

/// Runs `nucleate train …`.
///
/// # Errors
/// Unreadable config or data, molecules without the property, non-QM9 atoms.
pub fn run_train(args: &TrainArgs) -> anyhow::Result<()> {
    let TrainWhat::Unigem(args) = &args.what;
    let config_text = crate::input::read_text(&args.config)?;
    let config = load_config(&args.config)?;
    let mut mols = Vec::new();
    let mut ys = Vec::new();
    let mut unit = None;
    for path in &args.data {
        for s in crate::input::read_structures(path)? {
            let (y, u) = crate::learn::data::label(&s, &args.property).with_context(|| {
                format!(
                    "{}: a molecule has no `{}` label",
                    path.display(),
                    args.property
                )
            })?;
            if unit.is_none() {
                unit = u;
            }
            mols.push(s);
            ys.push(y);
        }
    }
    if mols.is_empty() {
        bail!("no molecules in the training data");
    }
    let (train_idx, test_idx): (Vec<usize>, Vec<usize>) = match args.split {
        Some(preset) => {
            let sizes = preset.sizes(mols.len())?;
            let [train, val, test] = crate::dataset::split::split(mols.len(), sizes, args.seed);
            let split = serde_json::json!({
                "preset": preset, "seed": args.seed, "train": train, "val": val, "test": test,
            });
            std::fs::create_dir_all(&args.out)
                .with_context(|| format!("creating {}", args.out.display()))?;
            crate::fsutil::write_atomic(
                &args.out.join("split.json"),
                split.to_string().as_bytes(),
            )?;
            (train, test)
        }
        None => {
            // Held-out molecules (seeded permutation) for the property MAE; the rest trains.
            if args.holdout >= mols.len() {
                bail!(
                    "--holdout {} leaves no training molecules ({} in total)",
                    args.holdout,
                    mols.len()
                );
            }
            let perm = crate::dataset::split::permutation(mols.len(), args.seed);
            let (test, train) = perm.split_at(args.holdout);
            (train.to_vec(), test.to_vec())
        }
    };
    // Property normalisation and the atom-count histogram come from the training molecules.
    let n_train = train_idx.len() as f64;
    let mean = train_idx.iter().map(|&i| ys[i]).sum::<f64>() / n_train;
    let mad = (train_idx.iter().map(|&i| (ys[i] - mean).abs()).sum::<f64>() / n_train).max(1e-12);
    let y_norm: Vec<f64> = ys.iter().map(|y| (y - mean) / mad).collect();
    let sizes = AtomCountHistogram::from_sizes(train_idx.iter().map(|&i| mols[i].n_atoms()))
        .context("empty molecules")?;
    let device = args.device.train_device()?;
    // Initial weights from burn's CPU generator on every backend (reproducible across them).
    let init_device = crate::backend::model_device();
    init_device.seed(mix(args.seed, u64::MAX));
    device.seed(mix(args.seed, u64::MAX));
    let mut model = copy_params(&config.init(&init_device)?, config.init(&device)?)?;
    let mut start = 0;
    if let Some(dir) = &args.init {
        let init_config = load_config(&dir.join("config.toml"))?;
        if serde_json::to_value(&init_config)? != serde_json::to_value(&config)? {
            bail!(
                "{}: its model config differs from {}",
                dir.display(),
                args.config.display()
            );
        }
        let (init, init_meta) = load(dir, &init_device)?;
        if init_meta.property != args.property {
            bail!(
                "{}: the model predicts `{}`, this run trains `{}`",
                dir.display(),
                init_meta.property,
                args.property
            );
        }
        model = copy_params(&init, model)
            .with_context(|| format!("{}: another model config", dir.display()))?;
        start = init_meta.steps_done;
        eprintln!("continuing from step {start} of {}", dir.display());
    }
    let mut engine = Engine::new(
        &model,
        EngineConfig {
            // EDM: AdamW(amsgrad, wd 1e-12) on every parameter.
            adamw: AdamW {
                weight_decay: 1e-12,
                ..AdamW::default()
            },
            clipping: Clipping::Adaptive,
            ema_decay: args.ema_decay,
            decay_groups: false,
        },
    );
    engine.continue_from(start as u64);
    let config_sha = format!("{:x}", sha2::Sha256::digest(config_text.as_bytes()));
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let files = crate::train::files_in(&args.out, config_sha);
    let job = UniGemJob {
        model_device: device.clone(),
        mols: &mols,
        train_idx: &train_idx,
        y_norm: &y_norm,
        batch: args.batch,
        seed: args.seed,
        lr: args.lr,
        schedule: NoiseSchedule::polynomial2(1000),
        pad: args.pad_batches.unwrap_or(args.device.pads_batches()),
    };
    let begin = match crate::train::read_checkpoint(&files, &engine).map_err(|e| {
        e.context(format!(
            "{} belongs to another model config; use another -o directory",
            args.out.display()
        ))
    })? {
        Some(c) => {
            start = c.header.step as usize;
            eprintln!("resuming from step {start} in {}", args.out.display());
            crate::train::resume(&c, &mut engine, model)?
        }
        None => crate::train::Start::fresh(model, NoiseNormalizer::default()),
    };
    let schedule = crate::train::Schedule {
        steps: args.steps as u64,
        log_every: 10,
        eval_every: 0,
        checkpoint_every: args.checkpoint_every.max(1) as u64,
        max_seconds: args.max_seconds.unwrap_or(0.0),
        seed: args.seed,
    };
    let clock = Instant::now();
    let (model, outcome) = crate::train::run(&job, begin, &mut engine, &schedule, &files)?;
    let step = outcome.steps as usize;
    let exported = engine.state();
    let weights = exported.ema.unwrap_or(exported.params);
    let clipped = outcome.clipped;
    // Property MAE of the exported (EMA) weights on the held-out molecules.
    let property_mae = if test_idx.is_empty() {
        None
    } else {
        let m = engine.averaged(model).valid();
        let device = device.clone().without_autodiff();
        let mut abs = 0.0;
        for chunk in test_idx.chunks(64) {
            let batch: Vec<Structure> = chunk.iter().map(|&i| mols[i].clone()).collect();
            let pred = predict_property(&m, &batch, &device)?;
            for (p, &i) in pred.iter().zip(chunk) {
                abs += (p * mad + mean - ys[i]).abs();
            }
        }
        Some(abs / test_idx.len() as f64)
    };
    // The model directory's weights are the EMA (what EDM and UniGEM sample from).
    save_weights(
        &args.out,
        &config_text,
        &[weights],
        &Meta {
            property: args.property.clone(),
            unit: unit.clone(),
            mean,
            mad,
            sizes: sizes.bins.clone(),
            steps_done: step,
            property_mae,
            holdout: test_idx.len(),
        },
    )?;
    println!(
        "trained {} steps ({} this run, {clipped} of them clipped) on {} molecules in {:.1} s → {}",
        step,
        outcome.new_steps,
        train_idx.len(),
        clock.elapsed().as_secs_f64(),
        args.out.display()
    );
    if let Some(mae) = property_mae {
        println!(
            "{}: MAE {mae:.4} on {} held-out molecules (property head at t = 0, EMA weights)",
            args.property,
            test_idx.len()
        );
    }
    Ok(())
}

fn annotate(mols: &[Structure], property: &[f64], meta: &Meta, t: usize) -> Vec<Structure> {
    mols.iter()
        .zip(property)
        .map(|(m, p)| annotated(m, &meta.property, meta.to_label(*p), t))
        .collect()
}

/// Runs `nucleate generate`.
///
/// # Errors
/// Unreadable model, unknown target property, unwritable output.
pub fn run_generate(args: &GenerateArgs) -> anyhow::Result<()> {
    if args.n == 0 {
        bail!("--n must be at least 1");
    }
    // Guided sampling differentiates the property head, hence autodiff.
    let device = args.device.train_device()?;
    let (model, meta) = load(&args.model, &device)?;
    let target = match &args.target {
        None => None,
        Some(spec) => {
            let (name, value) = spec
                .split_once('=')
                .with_context(|| format!("--target {spec}: expected NAME=VALUE"))?;
            if name != meta.property {
                bail!(
                    "--target {spec}: unknown property `{name}`; this model predicts `{}`",
                    meta.property
                );
            }
            let v: f64 = value
                .parse()
                .with_context(|| format!("--target {spec}: `{value}` is not a number"))?;
            Some(v)
        }
    };
    let hist = AtomCountHistogram::new(meta.sizes.iter().copied())
        .context("meta.json has an empty atom-count histogram")?;
    let mut rng = SplitMix64::new(args.seed);
    let sizes: Vec<usize> = (0..args.n).map(|_| hist.sample(&mut rng)).collect();
    let guidance = target.map(|v| Guidance {
        target: vec![meta.normalise(v); args.n],
    });
    let schedule = NoiseSchedule::polynomial2(args.steps);
    let clock = Instant::now();
    let out = sample(
        &model,
        &schedule,
        &sizes,
        guidance.as_ref(),
        args.trajectory.as_ref().map(|_| args.every),
        &mut rng,
        &device,
    )?;
    let secs = clock.elapsed().as_secs_f64();
    let final_mols = annotate(&out.molecules, &out.property, &meta, 0);
    let text = nucleate_core::io::write::write_extxyz(&final_mols)?;
    crate::fsutil::write_atomic(&args.out, text.as_bytes())?;
    if let Some(path) = &args.trajectory {
        let frames: Vec<Structure> = out
            .frames
            .iter()
            .flat_map(|f| annotate(&f.molecules, &f.property, &meta, f.t))
            .collect();
        crate::fsutil::write_atomic(
            path,
            nucleate_core::io::write::write_extxyz(&frames)?.as_bytes(),
        )?;
    }
    let m = nucleate_core::metrics::evaluate(&out.molecules, None);
    println!(
        "generated {} molecules in {secs:.1} s → {}",
        args.n,
        args.out.display()
    );
    println!(
        "atom stability {:.4}  molecule stability {:.4}  validity {:.4}  uniqueness {:.4}",
        m.atom_stability, m.mol_stability, m.validity, m.uniqueness
    );
    if let Some(v) = target {
        let err = out
            .property
            .iter()
            .map(|&p| (meta.to_label(p) - v).abs())
            .sum::<f64>()
            / args.n as f64;
        println!(
            "guidance: mean |pred {} − target {v}| = {err:.4}",
            meta.property
        );
    }
    Ok(())
}
