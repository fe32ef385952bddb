//! Training-run configs: `configs/<backbone>-<dataset>-<objective>.toml` with four sections,
//! every key checked (unknown keys are errors, keys that do not apply to the objective too).
//!
//! ```toml
//! [model]            # the model config of `model_config.rs` (backbone "ct")
//! [data]             # paths (relative to this file), split sizes and seed
//! [objective]        # kind = "scd" | "coord" | "scd-pocket" | "finetune" and its settings
//! [train]            # optimiser, schedule, batch, budget, checkpoints
//! ```
//!
//! `--set section.key=value` overrides are applied to the TOML table before it is checked; the
//! resolved text is what a run directory stores.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use nucleate_core::backbone::{BackboneConfig, CtConfig};
use serde::Deserialize;

/// Which training objective a run optimises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ObjectiveKind {
    /// Self-Conditioned Denoising (pretraining).
    Scd,
    /// Plain coordinate denoising (pretraining).
    Coord,
    /// Pocket-conditional SCD (pretraining on complexes tagged pocket/ligand).
    #[serde(rename = "scd-pocket")]
    ScdPocket,
    /// Supervised fine-tuning on a per-structure label.
    Finetune,
}

impl ObjectiveKind {
    /// The name in configs.
    pub fn name(self) -> &'static str {
        match self {
            Self::Scd => "scd",
            Self::Coord => "coord",
            Self::ScdPocket => "scd-pocket",
            Self::Finetune => "finetune",
        }
    }
}

/// `[data]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSection {
    /// Input files (any format `nucleate data inspect` reads), relative to the config file.
    pub paths: Vec<PathBuf>,
    /// Held-out test structures (first in the seeded permutation).
    pub test: usize,
    /// Validation structures (next in the permutation).
    pub val: usize,
    /// Training structures (next); 0 = all the rest.
    pub train: usize,
    /// Seed of the split permutation. Runs with the same paths, seed, `test` and `val` share
    /// their held-out structures, so a fine-tuning run can use a pretraining run's remainder
    /// without ever seeing its own test molecules.
    pub split_seed: u64,
}

/// `[objective]` as written; which keys apply depends on `kind`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ObjectiveSection {
    kind: ObjectiveKind,
    sigma_corrupt: Option<f64>,
    sigma_reg: Option<f64>,
    cell_repeat: Option<bool>,
    target: Option<String>,
    reduce: Option<String>,
    standardize: Option<bool>,
    noise: Option<f64>,
    denoise_weight: Option<f64>,
    rotate: Option<bool>,
    force_weight: Option<f64>,
}

/// The objective of a run, with defaults from docs/objectives.md filled in.
#[derive(Debug, Clone, PartialEq)]
pub enum Objective {
    /// SCD or coord pretraining.
    Pretrain {
        /// `scd` or `coord`.
        kind: ObjectiveKind,
        /// σ_c (Å).
        sigma_corrupt: f64,
        /// σ_r (Å), SCD's clean view.
        sigma_reg: f64,
        /// SCD's cell-repeat augmentation for periodic structures.
        cell_repeat: bool,
    },
    /// Fine-tuning.
    Finetune {
        /// Label name.
        target: String,
        /// `sum` or `mean` over atoms.
        mean_reduce: bool,
        /// z-score the label with the training mean and std (readout σ, μ).
        standardize: bool,
        /// σ_ft (Å).
        noise: f64,
        /// Auxiliary denoising weight.
        denoise_weight: f64,
        /// Random rotations.
        rotate: bool,
        /// Weight of the force loss (a direct force head on per-atom `forces`); 0 = none.
        force_weight: f64,
    },
}

impl Objective {
    /// The kind.
    pub fn kind(&self) -> ObjectiveKind {
        match self {
            Self::Pretrain { kind, .. } => *kind,
            Self::Finetune { .. } => ObjectiveKind::Finetune,
        }
    }
}

/// `[train]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainSection {
    /// Optimiser steps.
    pub steps: u64,
    /// Structures per batch.
    pub batch_size: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Linear warm-up steps (then cosine to 0 at `steps`).
    pub warmup: u64,
    /// AdamW β₁.
    pub beta1: f64,
    /// AdamW β₂.
    pub beta2: f64,
    /// AdamW decoupled weight decay (SCD's parameter groups).
    pub weight_decay: f64,
    /// Global gradient-norm limit (0 = none).
    pub grad_clip: f64,
    /// EMA decay of the weights (0 = no EMA); evaluation and the exported model use the EMA.
    pub ema_decay: f64,
    /// Seed of batches, noise and drop-path.
    pub seed: u64,
    /// Checkpoint every this many steps.
    pub checkpoint_every: u64,
    /// Validate every this many steps.
    pub eval_every: u64,
    /// Log the training loss every this many steps.
    pub log_every: u64,
    /// Stop (with a checkpoint) after this many seconds of training in one invocation; 0 = no
    /// limit.
    pub max_seconds: f64,
    /// Pad each batch to bucket capacities of atoms and edges, so that a GPU backend compiles
    /// and autotunes a bounded number of kernel shapes. Absent: on the GPU backends (wgpu,
    /// cuda) only.
    #[serde(default)]
    pub pad_batches: Option<bool>,
}

/// A checked run config.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// The CT model (the config's `[model]` must name backbone "ct").
    pub model: CtConfig,
    /// Data and split.
    pub data: DataSection,
    /// Objective.
    pub objective: Objective,
    /// Optimisation.
    pub train: TrainSection,
    /// The resolved TOML (after overrides), as stored in the run directory.
    pub text: String,
}

/// Applies one `section.key=value` override (value parsed as TOML, else taken as a string).
fn apply_override(table: &mut toml::Table, spec: &str) -> anyhow::Result<()> {
    let (path, value) = spec
        .split_once('=')
        .with_context(|| format!("--set {spec}: expected section.key=value"))?;
    let value: toml::Value = toml::from_str::<toml::Table>(&format!("v = {value}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(value.to_string()));
    let keys: Vec<&str> = path.trim().split('.').collect();
    let (last, parents) = keys
        .split_last()
        .with_context(|| format!("--set {spec}: empty key"))?;
    let mut at = table;
    for k in parents {
        at = at
            .get_mut(*k)
            .and_then(toml::Value::as_table_mut)
            .with_context(|| format!("--set {spec}: the config has no table [{k}]"))?;
    }
    if !at.contains_key(*last) {
        bail!("--set {spec}: the config has no key `{path}` (overrides change existing keys)");
    }
    at.insert((*last).to_string(), value);
    Ok(())
}

fn section<T: for<'de> Deserialize<'de>>(table: &toml::Table, name: &str) -> anyhow::Result<T> {
    let v = table
        .get(name)
        .with_context(|| format!("missing section [{name}]"))?
        .clone();
    v.try_into().with_context(|| format!("in [{name}]"))
}

/// Parses a run config, applying `overrides` first.
///
/// # Errors
/// TOML syntax, unknown top-level sections or keys, missing keys, a backbone other than CT,
/// objective keys that do not apply to the kind, and out-of-range values.
pub fn parse_run_config(text: &str, overrides: &[String]) -> anyhow::Result<RunConfig> {
    let mut table: toml::Table = toml::from_str(text).context("invalid TOML")?;
    for o in overrides {
        apply_override(&mut table, o)?;
    }
    let unknown: Vec<&String> = table
        .keys()
        .filter(|k| !["model", "data", "objective", "train"].contains(&k.as_str()))
        .collect();
    if !unknown.is_empty() {
        bail!(
            "unknown sections: {unknown:?} (a run config has [model], [data], [objective], \
             [train])"
        );
    }
    let model_table = table
        .get("model")
        .cloned()
        .context("missing section [model]")?;
    let mut only_model = toml::Table::new();
    only_model.insert("model".into(), model_table);
    let model_text = toml::to_string(&only_model)?;
    let model = match crate::model_config::parse_model_config(&model_text)? {
        BackboneConfig::Ct(c) => c,
        other => bail!(
            "[model] backbone = \"{}\": the denoising objectives and fine-tuning train the CT \
             backbone (SCD's heads); use backbone = \"ct\"",
            other.name()
        ),
    };
    let data: DataSection = section(&table, "data")?;
    if data.paths.is_empty() {
        bail!("[data] paths is empty");
    }
    let o: ObjectiveSection = section(&table, "objective")?;
    let train: TrainSection = section(&table, "train")?;
    let objective = match o.kind {
        ObjectiveKind::Scd | ObjectiveKind::Coord | ObjectiveKind::ScdPocket => {
            let stray: Vec<&str> = [
                ("target", o.target.is_some()),
                ("reduce", o.reduce.is_some()),
                ("standardize", o.standardize.is_some()),
                ("noise", o.noise.is_some()),
                ("denoise_weight", o.denoise_weight.is_some()),
                ("rotate", o.rotate.is_some()),
                ("force_weight", o.force_weight.is_some()),
            ]
            .into_iter()
            .filter_map(|(k, given)| given.then_some(k))
            .collect();
            if !stray.is_empty() {
                bail!(
                    "[objective] kind = \"{}\" does not use {stray:?} (fine-tuning keys)",
                    o.kind.name()
                );
            }
            if o.kind == ObjectiveKind::ScdPocket && o.cell_repeat == Some(true) {
                bail!(
                    "[objective] kind = \"scd-pocket\" denoises molecular ligands; cell_repeat \
                     is for crystals"
                );
            }
            Objective::Pretrain {
                kind: o.kind,
                sigma_corrupt: o.sigma_corrupt.unwrap_or(0.04),
                sigma_reg: o.sigma_reg.unwrap_or(0.005),
                cell_repeat: o.cell_repeat.unwrap_or(false),
            }
        }
        ObjectiveKind::Finetune => {
            let stray: Vec<&str> = [
                ("sigma_corrupt", o.sigma_corrupt.is_some()),
                ("sigma_reg", o.sigma_reg.is_some()),
                ("cell_repeat", o.cell_repeat.is_some()),
            ]
            .into_iter()
            .filter_map(|(k, given)| given.then_some(k))
            .collect();
            if !stray.is_empty() {
                bail!("[objective] kind = \"finetune\" does not use {stray:?} (pretraining keys)");
            }
            let reduce = o.reduce.unwrap_or_else(|| "sum".into());
            if reduce != "sum" && reduce != "mean" {
                bail!("[objective] reduce = {reduce:?}: expected \"sum\" or \"mean\"");
            }
            Objective::Finetune {
                target: o
                    .target
                    .context("[objective] kind = \"finetune\" needs target = \"<label>\"")?,
                mean_reduce: reduce == "mean",
                standardize: o.standardize.unwrap_or(true),
                noise: o.noise.unwrap_or(0.005),
                denoise_weight: o.denoise_weight.unwrap_or(0.1),
                rotate: o.rotate.unwrap_or(true),
                force_weight: o.force_weight.unwrap_or(0.0),
            }
        }
    };
    for (name, ok) in [
        ("train.steps > 0", train.steps > 0),
        ("train.batch_size > 0", train.batch_size > 0),
        ("train.lr > 0", train.lr > 0.0 && train.lr.is_finite()),
        ("0 ≤ train.beta1 < 1", (0.0..1.0).contains(&train.beta1)),
        ("0 ≤ train.beta2 < 1", (0.0..1.0).contains(&train.beta2)),
        (
            "0 ≤ train.ema_decay < 1",
            (0.0..1.0).contains(&train.ema_decay),
        ),
        ("train.weight_decay ≥ 0", train.weight_decay >= 0.0),
        ("train.grad_clip ≥ 0", train.grad_clip >= 0.0),
        ("train.checkpoint_every > 0", train.checkpoint_every > 0),
        ("train.eval_every > 0", train.eval_every > 0),
        ("train.log_every > 0", train.log_every > 0),
        ("train.max_seconds ≥ 0", train.max_seconds >= 0.0),
    ] {
        if !ok {
            bail!("out of range: expected {name}");
        }
    }
    Ok(RunConfig {
        model,
        data,
        objective,
        train,
        text: toml::to_string(&table)?,
    })
}

/// Reads and parses a run config file; data paths become relative to its directory.
///
/// # Errors
/// Unreadable file, and everything [`parse_run_config`] rejects (with the file name).
pub fn read_run_config(path: &Path, overrides: &[String]) -> anyhow::Result<RunConfig> {
    let text = crate::input::read_text(path)?;
    let mut config =
        parse_run_config(&text, overrides).with_context(|| format!("in {}", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    for p in &mut config.data.paths {
        if p.is_relative() {
            *p = base.join(&*p);
        }
        if let Ok(abs) = std::fs::canonicalize(&*p) {
            *p = abs;
        }
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const SMALL: &str = r#"
[model]
backbone = "ct"

[model.ct]
p_dropcond = 0.2
p_droppath = 0.1
vec_prenorm = "Equivariant"
inv_post_norm = true
vec_post_norm = false
clip = 1000.0
freeze_embeddings = true

[model.ct.et]
hidden_channels = 16
num_layers = 2
num_heads = 4
num_rbf = 8
trainable_rbf = false
cutoff_lower = 0.0
cutoff_upper = 5.0
max_z = 100
neighbor_embedding = true
distance_influence = "Both"
vector_cutoff = true
layernorm_on_vec = false
vec_norm_regulariser = "Isotropic"

[data]
paths = ["qm9.extxyz.gz"]
test = 10
val = 5
train = 0
split_seed = 0

[objective]
kind = "scd"

[train]
steps = 20
batch_size = 4
lr = 5e-4
warmup = 5
beta1 = 0.9
beta2 = 0.999
weight_decay = 0.05
grad_clip = 1.0
ema_decay = 0.9
seed = 0
checkpoint_every = 5
eval_every = 10
log_every = 1
max_seconds = 0.0
"#;

    #[test]
    fn padding_follows_the_backend_unless_set() {
        let c = parse_run_config(SMALL, &[]).unwrap();
        assert_eq!(c.train.pad_batches, None);
        let c = parse_run_config(&format!("{SMALL}pad_batches = true\n"), &[]).unwrap();
        assert_eq!(c.train.pad_batches, Some(true));
        let c = parse_run_config(&format!("{SMALL}pad_batches = false\n"), &[]).unwrap();
        assert_eq!(c.train.pad_batches, Some(false));
        assert!(parse_run_config(&format!("{SMALL}pad_batches = 3\n"), &[]).is_err());
    }

    #[test]
    fn a_complete_config_parses_with_defaults_and_overrides() {
        let c = parse_run_config(SMALL, &[]).unwrap();
        assert_eq!(c.model.et.hidden_channels, 16);
        assert_eq!(
            c.objective,
            Objective::Pretrain {
                kind: ObjectiveKind::Scd,
                sigma_corrupt: 0.04,
                sigma_reg: 0.005,
                cell_repeat: false
            }
        );
        let c = parse_run_config(
            SMALL,
            &["train.steps=7".into(), "objective.kind=\"coord\"".into()],
        )
        .unwrap();
        assert_eq!(c.train.steps, 7);
        assert_eq!(c.objective.kind(), ObjectiveKind::Coord);
        assert!(c.text.contains("steps = 7"));
        let c = parse_run_config(SMALL, &["objective.kind=\"scd-pocket\"".into()]).unwrap();
        assert_eq!(c.objective.kind(), ObjectiveKind::ScdPocket);
        assert_eq!(c.objective.kind().name(), "scd-pocket");
        let e = parse_run_config(
            SMALL,
            &[
                "objective.kind=\"scd-pocket\"".into(),
                "objective.cell_repeat=true".into(),
            ],
        )
        .unwrap_err();
        assert!(format!("{e:#}").contains("cell_repeat"), "{e:#}");
    }

    #[test]
    fn bad_configs_are_rejected_with_the_key() {
        let err =
            |text: &str, o: &[String]| format!("{:#}", parse_run_config(text, o).unwrap_err());
        let e = err(
            &SMALL.replace("\nseed = 0\n", "\nseed = 0\nseeds = 1\n"),
            &[],
        );
        assert!(e.contains("seeds") && e.contains("[train]"), "{e}");
        let e = err(&format!("{SMALL}\n[extra]\na = 1\n"), &[]);
        assert!(e.contains("extra"), "{e}");
        let e = err(
            &SMALL.replace("kind = \"scd\"", "kind = \"scd\"\ntarget = \"homo\""),
            &[],
        );
        assert!(e.contains("target"), "{e}");
        let e = err(&SMALL.replace("kind = \"scd\"", "kind = \"finetune\""), &[]);
        assert!(e.contains("needs target"), "{e}");
        let e = err(SMALL, &["train.stepz=3".into()]);
        assert!(e.contains("stepz"), "{e}");
        let e = err(SMALL, &["train.lr=-1".into()]);
        assert!(e.contains("train.lr"), "{e}");
        let e = err(&SMALL.replace("num_rbf = 8", "num_rbf = 8\nrbf = 2"), &[]);
        assert!(e.contains("model.ct.et.rbf"), "{e}");
        let e = err(&SMALL.replace("kind = \"scd\"", "kind = \"vae\""), &[]);
        assert!(e.contains("vae") || e.contains("unknown variant"), "{e}");
    }
}
