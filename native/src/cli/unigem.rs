//! `nucleate train unigem` and `nucleate generate`: a self-contained UniGEM training loop
//! (Adam on the host, constant learning rate, periodic checkpoints) and sampling to extended
//! XYZ with the EDM metrics of the generated set.
//!
//! A model directory holds `config.toml` (the model config), `weights.bin` (every float
//! parameter as little-endian f32, in module visiting order) and `meta.json` (property name,
//! training mean and MAD, atom-count histogram, steps done).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::tensor::{Gradients, Tensor, TensorData};
use clap::{Args, Subcommand};
use nucleate_core::backbone::{BackboneConfig, UniGem, UniGemConfig};
use nucleate_core::objective::{
    AtomCountHistogram, Guidance, NoiseSchedule, SplitMix64, phase_times, sample, unigem_loss,
};
use nucleate_core::{AtomArray, Label, LabelValue, Structure};
use serde::{Deserialize, Serialize};

/// `nucleate train …`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    #[command(subcommand)]
    what: TrainWhat,
}

#[derive(Debug, Subcommand)]
enum TrainWhat {
    /// Train UniGEM on QM9 (objectives.md §5.2).
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
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
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
}

#[derive(Debug, Serialize, Deserialize)]
struct Meta {
    property: String,
    mean: f64,
    mad: f64,
    sizes: Vec<(usize, u64)>,
    steps_done: usize,
}

fn property_of(s: &Structure, name: &str) -> Option<f64> {
    match s.labels.get(name) {
        Some(Label {
            value: LabelValue::Float(v),
            ..
        }) => Some(*v),
        Some(Label {
            value: LabelValue::Int(v),
            ..
        }) => Some(*v as f64),
        _ => None,
    }
}

fn load_config(path: &Path) -> anyhow::Result<UniGemConfig> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    match crate::model_config::parse_model_config(&text)
        .with_context(|| format!("in {}", path.display()))?
    {
        BackboneConfig::UniGem(c) => Ok(c),
        other => bail!(
            "{}: backbone is \"{}\", expected \"unigem\"",
            path.display(),
            other.name()
        ),
    }
}

struct Collect(Vec<f32>);
impl ModuleVisitor for Collect {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0
            .extend(param.val().into_data().iter::<f64>().map(|v| v as f32));
    }
}

struct Load<'a> {
    values: &'a [f32],
    at: usize,
    short: bool,
}
impl ModuleMapper for Load<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (values, at) = (self.values, &mut self.at);
        let short = &mut self.short;
        param.map(|t| {
            let n = t.shape().num_elements();
            let Some(chunk) = values.get(*at..*at + n) else {
                *short = true;
                return t;
            };
            *at += n;
            let v: Vec<f64> = chunk.iter().map(|&x| f64::from(x)).collect();
            let new = Tensor::from_data(TensorData::new(v, t.shape()), (&t.device(), t.dtype()));
            if t.is_require_grad() {
                new.require_grad()
            } else {
                new
            }
        })
    }
}

/// Adam (no weight decay) on the host, state by parameter id.
struct Adam<'a> {
    grads: &'a Gradients,
    lr: f64,
    step: i32,
    state: &'a mut HashMap<ParamId, (Vec<f64>, Vec<f64>)>,
}
impl ModuleMapper for Adam<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let id = param.id;
        let (grads, lr, step) = (self.grads, self.lr, self.step);
        let state = &mut *self.state;
        param.map(|t| {
            let Some(g) = t.grad(grads) else {
                return t;
            };
            let g: Vec<f64> = g.into_data().iter::<f64>().collect();
            let (m, v) = state
                .entry(id)
                .or_insert_with(|| (vec![0.0; g.len()], vec![0.0; g.len()]));
            let (b1, b2) = (0.9f64, 0.999f64);
            let (c1, c2) = (1.0 - b1.powi(step), 1.0 - b2.powi(step));
            let w: Vec<f64> = t
                .clone()
                .detach()
                .into_data()
                .iter::<f64>()
                .enumerate()
                .map(|(i, w)| {
                    m[i] = b1 * m[i] + (1.0 - b1) * g[i];
                    v[i] = b2 * v[i] + (1.0 - b2) * g[i] * g[i];
                    w - lr * (m[i] / c1) / ((v[i] / c2).sqrt() + 1e-8)
                })
                .collect();
            Tensor::from_data(TensorData::new(w, t.shape()), (&t.device(), t.dtype()))
                .require_grad()
        })
    }
}

fn save(dir: &Path, config_text: &str, model: &UniGem, meta: &Meta) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut c = Collect(Vec::new());
    model.visit(&mut c);
    let bytes: Vec<u8> = c.0.iter().flat_map(|v| v.to_le_bytes()).collect();
    // Write to temporary names, then rename, so an interrupted save leaves the old checkpoint.
    for (name, data) in [
        ("weights.bin", bytes),
        ("meta.json", serde_json::to_vec_pretty(meta)?),
        ("config.toml", config_text.as_bytes().to_vec()),
    ] {
        let tmp = dir.join(format!("{name}.tmp"));
        std::fs::write(&tmp, data).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, dir.join(name))?;
    }
    Ok(())
}

fn load(dir: &Path, device: &burn::tensor::Device) -> anyhow::Result<(UniGem, Meta)> {
    let config = load_config(&dir.join("config.toml"))?;
    let meta: Meta = serde_json::from_slice(
        &std::fs::read(dir.join("meta.json"))
            .with_context(|| format!("reading {}/meta.json", dir.display()))?,
    )
    .context("meta.json")?;
    let raw = std::fs::read(dir.join("weights.bin"))
        .with_context(|| format!("reading {}/weights.bin", dir.display()))?;
    let values: Vec<f32> = raw
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let model = config.init(device)?;
    let mut l = Load {
        values: &values,
        at: 0,
        short: false,
    };
    let model = model.map(&mut l);
    if l.short || l.at != values.len() {
        bail!(
            "{}/weights.bin has {} values; the config's model needs a different count",
            dir.display(),
            values.len()
        );
    }
    Ok((model, meta))
}

/// Runs `nucleate train …`.
///
/// # Errors
/// Unreadable config or data, molecules without the property, non-QM9 atoms.
pub fn run_train(args: &TrainArgs) -> anyhow::Result<()> {
    let TrainWhat::Unigem(args) = &args.what;
    let config_text = std::fs::read_to_string(&args.config)
        .with_context(|| format!("reading {}", args.config.display()))?;
    let config = load_config(&args.config)?;
    let mut mols = Vec::new();
    let mut ys = Vec::new();
    for path in &args.data {
        for s in crate::input::read_structures(path)? {
            let y = property_of(&s, &args.property).with_context(|| {
                format!(
                    "{}: a molecule has no `{}` label",
                    path.display(),
                    args.property
                )
            })?;
            mols.push(s);
            ys.push(y);
        }
    }
    if mols.is_empty() {
        bail!("no molecules in the training data");
    }
    let mean = ys.iter().sum::<f64>() / ys.len() as f64;
    let mad = (ys.iter().map(|y| (y - mean).abs()).sum::<f64>() / ys.len() as f64).max(1e-12);
    let y_norm: Vec<f64> = ys.iter().map(|y| (y - mean) / mad).collect();
    let sizes = AtomCountHistogram::from_sizes(mols.iter().map(Structure::n_atoms))
        .context("empty molecules")?;
    let device = crate::backend::model_device();
    let (mut model, start) = if args.out.join("weights.bin").exists() {
        let (m, meta) = load(&args.out, &device)?;
        eprintln!(
            "resuming from step {} in {}",
            meta.steps_done,
            args.out.display()
        );
        (m, meta.steps_done)
    } else {
        (config.init(&device)?, 0)
    };
    let schedule = NoiseSchedule::polynomial2(1000);
    let mut rng = SplitMix64::new(args.seed ^ (start as u64).wrapping_mul(0x9E37));
    let mut adam_state = HashMap::new();
    let clock = Instant::now();
    let mut step = start;
    let meta = |steps_done| Meta {
        property: args.property.clone(),
        mean,
        mad,
        sizes: sizes.bins.clone(),
        steps_done,
    };
    while step < args.steps {
        let idx: Vec<usize> = (0..args.batch)
            .map(|_| rng.range(0, mols.len() - 1))
            .collect();
        let batch: Vec<Structure> = idx.iter().map(|&i| mols[i].clone()).collect();
        let y: Vec<f64> = idx.iter().map(|&i| y_norm[i]).collect();
        let t = phase_times(args.batch, schedule.steps(), &mut rng);
        let loss = unigem_loss(&model, &schedule, &batch, &y, &t, &mut rng, &device)?;
        let grads = loss.total.backward();
        step += 1;
        model = model.map(&mut Adam {
            grads: &grads,
            lr: args.lr,
            step: (step - start) as i32,
            state: &mut adam_state,
        });
        let secs = clock.elapsed().as_secs_f64();
        if step % 10 == 0 || step == args.steps {
            eprintln!(
                "step {step}: eps {:.4} type {:.4} prop {:.4} ({:.2} steps/s)",
                loss.eps,
                loss.types,
                loss.property,
                (step - start) as f64 / secs
            );
        }
        let out_of_time = args.max_seconds.is_some_and(|m| secs >= m);
        if step % args.checkpoint_every.max(1) == 0 || step == args.steps || out_of_time {
            save(&args.out, &config_text, &model, &meta(step))?;
        }
        if out_of_time {
            eprintln!("time budget reached at step {step}");
            break;
        }
    }
    save(&args.out, &config_text, &model, &meta(step))?;
    println!(
        "trained {} steps ({} this run) on {} molecules in {:.1} s → {}",
        step,
        step - start,
        mols.len(),
        clock.elapsed().as_secs_f64(),
        args.out.display()
    );
    Ok(())
}

fn annotate(mols: &[Structure], property: &[f64], meta: &Meta, t: usize) -> Vec<Structure> {
    mols.iter()
        .zip(property)
        .map(|(m, p)| {
            let mut s = m.clone();
            let species: Vec<String> = s
                .numbers
                .iter()
                .map(|&z| nucleate_core::elements::symbol(z).to_string())
                .collect();
            s.atom_arrays.insert(
                "pred_species".into(),
                AtomArray::Text {
                    width: 1,
                    values: species,
                },
            );
            s.labels.insert(
                format!("pred_{}", meta.property),
                Label {
                    value: LabelValue::Float(p * meta.mad + meta.mean),
                    unit: None,
                },
            );
            s.labels.insert(
                "t".into(),
                Label {
                    value: LabelValue::Int(t as i64),
                    unit: None,
                },
            );
            s
        })
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
    let device = crate::backend::model_device();
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
        target: vec![(v - meta.mean) / meta.mad; args.n],
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
    std::fs::write(&args.out, text).with_context(|| format!("writing {}", args.out.display()))?;
    if let Some(path) = &args.trajectory {
        let frames: Vec<Structure> = out
            .frames
            .iter()
            .flat_map(|f| annotate(&f.molecules, &f.property, &meta, f.t))
            .collect();
        std::fs::write(path, nucleate_core::io::write::write_extxyz(&frames)?)
            .with_context(|| format!("writing {}", path.display()))?;
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
            .map(|p| (p * meta.mad + meta.mean - v).abs())
            .sum::<f64>()
            / args.n as f64;
        println!(
            "guidance: mean |pred {} − target {v}| = {err:.4}",
            meta.property
        );
    }
    Ok(())
}
