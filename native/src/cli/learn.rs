//! `nucleate pretrain`, `nucleate finetune`, `nucleate evaluate`, `nucleate predict`.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;
use nucleate_core::Structure;

use crate::backend::Compute;
use crate::learn::{self, RunOptions, RunSummary};
use crate::run_config::ObjectiveKind;

/// `nucleate pretrain` / `nucleate finetune`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Run config (`configs/<backbone>-<dataset>-<objective>.toml`).
    #[arg(long)]
    config: PathBuf,
    /// Run directory (checkpoint, metrics, plots, model). An existing checkpoint of the same
    /// config is resumed.
    #[arg(long)]
    run: PathBuf,
    /// Override a config value: `--set train.steps=500` (repeatable).
    #[arg(long = "set", value_name = "SECTION.KEY=VALUE")]
    overrides: Vec<String>,
    /// Start from this model directory (a pretraining run's `model/`).
    #[arg(long)]
    init: Option<PathBuf>,
    /// Discard an existing checkpoint and metrics in the run directory.
    #[arg(long)]
    fresh: bool,
    /// Compute backend: `cpu` (burn's ndarray), `wgpu` (Vulkan/Metal/DX12; default feature)
    /// or `cuda` (with the `cuda` feature).
    #[arg(long, value_enum, default_value_t = Compute::Cpu)]
    device: Compute,
    /// Print the run summary as JSON.
    #[arg(long)]
    json: bool,
}

fn command_line() -> String {
    std::env::args().collect::<Vec<_>>().join(" ")
}

fn run(args: &RunArgs, accept: &'static [ObjectiveKind]) -> anyhow::Result<()> {
    let summary = learn::run(&RunOptions {
        config: args.config.clone(),
        overrides: args.overrides.clone(),
        run_dir: args.run.clone(),
        init: args.init.clone(),
        fresh: args.fresh,
        accept,
        command: command_line(),
        compute: args.device,
    })?;
    print_summary(&summary, args.json, &args.run)
}

fn print_summary(s: &RunSummary, json: bool, dir: &std::path::Path) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(s)?);
        return Ok(());
    }
    let state = if s.finished {
        format!("model in {}", dir.join("model").display())
    } else {
        "stopped by the time budget; run the same command again to continue".into()
    };
    println!(
        "{} steps in {:.1} s → {} ({state})",
        s.steps,
        s.seconds,
        dir.display()
    );
    if let Some(v) = s.val_loss {
        println!("validation loss {v:.5}");
    }
    let unit = s.unit.clone().unwrap_or_default();
    if let (Some(v), Some(t)) = (s.val_mae, &s.target) {
        println!("{t}: validation MAE {v:.5} {unit}");
    }
    if let (Some(v), Some(t)) = (s.test_mae, &s.target) {
        println!(
            "{t}: test MAE {v:.5} {unit} on {} held-out structures",
            s.n_test
        );
    }
    if let Some(v) = s.test_force_mae {
        println!("forces: test MAE {v:.5} {unit}/Å per component");
    }
    Ok(())
}

/// Runs `nucleate pretrain`.
///
/// # Errors
/// See [`learn::run`].
pub fn pretrain(args: &RunArgs) -> anyhow::Result<()> {
    run(
        args,
        &[
            ObjectiveKind::Scd,
            ObjectiveKind::Coord,
            ObjectiveKind::ScdPocket,
        ],
    )
}

/// Runs `nucleate finetune`.
///
/// # Errors
/// See [`learn::run`].
pub fn finetune(args: &RunArgs) -> anyhow::Result<()> {
    run(args, &[ObjectiveKind::Finetune])
}

/// A run directory's `model/`, or `path` itself (a model directory).
fn model_dir(path: &std::path::Path) -> PathBuf {
    if path.join("model").join("weights.bin").exists() {
        path.join("model")
    } else {
        path.to_path_buf()
    }
}

/// `nucleate evaluate`.
#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// A model directory, or a run directory (its `model/` on its own test split).
    model: PathBuf,
    /// Labelled structure files to evaluate on instead of the run's test split.
    #[arg(long, num_args = 1..)]
    data: Vec<PathBuf>,
    /// Print JSON: `{"target", "unit", "n", "mae", "rmse", "force_mae", "model"}` (`force_mae`
    /// per Cartesian component, for models with a force head on data with forces; else null).
    #[arg(long)]
    json: bool,
    /// Compute backend: `cpu`, `wgpu` or `cuda` (see `pretrain --help`).
    #[arg(long, value_enum, default_value_t = Compute::Cpu)]
    device: Compute,
}

fn run_test_structures(run: &std::path::Path) -> anyhow::Result<Vec<Structure>> {
    let config = run.join("config.toml");
    let cfg = crate::run_config::read_run_config(&config, &[])?;
    // The stored config's paths were resolved against the original config's directory.
    let info: serde_json::Value = crate::input::read_json(&run.join("run.json"))?;
    let paths: Vec<PathBuf> = info["data"]
        .as_array()
        .context("run.json: no data list")?
        .iter()
        .filter_map(|d| d["path"].as_str().map(PathBuf::from))
        .collect();
    let data = crate::run_config::DataSection { paths, ..cfg.data };
    let (structures, _) = learn::data::load(&data)?;
    let splits = learn::data::split(structures.len(), &data)?;
    Ok(splits.test.iter().map(|&i| structures[i].clone()).collect())
}

/// Runs `nucleate evaluate`.
///
/// # Errors
/// Unreadable model or data, structures without the model's target label.
pub fn evaluate(args: &EvaluateArgs) -> anyhow::Result<()> {
    let model_dir = model_dir(&args.model);
    let device = args.device.device()?;
    let (model, meta) = learn::load_predictor(&model_dir, &device)?;
    let target = meta.target.clone().with_context(|| {
        format!(
            "{} is a {} (pretraining) model without a property head to evaluate",
            model_dir.display(),
            meta.objective
        )
    })?;
    let structures = if args.data.is_empty() {
        if model_dir == args.model {
            bail!("give --data FILE… (labelled structures) or a run directory");
        }
        run_test_structures(&args.model)?
    } else {
        let mut all = Vec::new();
        for p in &args.data {
            all.extend(crate::input::read_structures(p)?);
        }
        all
    };
    let (y, _) = learn::data::labels(&structures, &target)?;
    let readout = meta.readout();
    let mut abs = 0.0;
    let mut sq = 0.0;
    let (mut force_abs, mut force_n) = (0.0, 0usize);
    for (chunk, ys) in structures.chunks(64).zip(y.chunks(64)) {
        let pred = model.predict(chunk, &readout, &device)?;
        for (p, t) in pred.iter().zip(ys) {
            abs += (p - t).abs();
            sq += (p - t).powi(2);
        }
        // Models with a force head: per-component force MAE where the data carry forces.
        if let Some(f) = model.predict_forces(chunk, &readout, &device)? {
            let mut at = 0;
            for s in chunk {
                let n = 3 * s.n_atoms();
                if let Some(nucleate_core::AtomArray::Float { width: 3, values }) =
                    s.atom_arrays.get("forces")
                {
                    for (p, t) in f[at..at + n].iter().zip(values) {
                        force_abs += (p - t).abs();
                        force_n += 1;
                    }
                }
                at += n;
            }
        }
    }
    let n = structures.len() as f64;
    let force_mae = (force_n > 0).then(|| force_abs / force_n as f64);
    let out = serde_json::json!({
        "model": model_dir,
        "target": target,
        "unit": meta.unit,
        "n": structures.len(),
        "mae": abs / n,
        "rmse": (sq / n).sqrt(),
        "force_mae": force_mae,
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "{target}: MAE {:.5} {u}, RMSE {:.5} {u} on {} structures",
            abs / n,
            (sq / n).sqrt(),
            structures.len(),
            u = meta.unit.clone().unwrap_or_default()
        );
        if let Some(v) = force_mae {
            println!(
                "forces: MAE {v:.5} {}/Å per component",
                meta.unit.unwrap_or_default()
            );
        }
    }
    Ok(())
}

/// `nucleate predict`.
#[derive(Debug, Args)]
pub struct PredictArgs {
    /// Model directory (a fine-tuning run's `model/`, or the run directory).
    #[arg(long)]
    model: PathBuf,
    /// Structure files (every frame/record is predicted).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Print one JSON array: `{"path", "index", "n_atoms", "<target>", "unit"}` per structure.
    #[arg(long)]
    json: bool,
    /// Compute backend: `cpu`, `wgpu` or `cuda` (see `pretrain --help`).
    #[arg(long, value_enum, default_value_t = Compute::Cpu)]
    device: Compute,
}

/// Runs `nucleate predict`.
///
/// # Errors
/// Unreadable model; a file that fails is reported and the others are still predicted (the
/// exit code says whether all succeeded).
pub fn predict(args: &PredictArgs) -> anyhow::Result<()> {
    let model_dir = model_dir(&args.model);
    let device = args.device.device()?;
    let (model, meta) = learn::load_predictor(&model_dir, &device)?;
    let target = meta.target.clone().with_context(|| {
        format!(
            "{} is a {} (pretraining) model; predict needs a fine-tuned model",
            model_dir.display(),
            meta.objective
        )
    })?;
    let readout = meta.readout();
    let mut rows = Vec::new();
    let mut failed = 0;
    for path in &args.files {
        let result = crate::input::read_structures(path).and_then(|structures| {
            let mut out = Vec::new();
            for (k, chunk) in structures.chunks(64).enumerate() {
                let pred = model.predict(chunk, &readout, &device)?;
                for (j, (s, p)) in chunk.iter().zip(pred).enumerate() {
                    out.push((k * 64 + j, s.n_atoms(), p));
                }
            }
            Ok(out)
        });
        match result {
            Ok(preds) => {
                for (index, n_atoms, p) in preds {
                    let mut row = serde_json::Map::new();
                    row.insert("path".into(), path.display().to_string().into());
                    row.insert("index".into(), index.into());
                    row.insert("n_atoms".into(), n_atoms.into());
                    row.insert(target.clone(), p.into());
                    row.insert("unit".into(), meta.unit.clone().into());
                    if !args.json {
                        println!(
                            "{} [{index}] {n_atoms} atoms: {target} = {p:.5} {}",
                            path.display(),
                            meta.unit.clone().unwrap_or_default()
                        );
                    }
                    rows.push(serde_json::Value::Object(row));
                }
            }
            Err(e) => {
                failed += 1;
                let msg = format!("{e:#}");
                if args.json {
                    rows.push(serde_json::json!({"path": path, "error": msg}));
                } else {
                    eprintln!("{}: {msg}", path.display());
                }
            }
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    }
    if failed > 0 {
        bail!(
            "{failed} of {} files could not be predicted",
            args.files.len()
        );
    }
    Ok(())
}
