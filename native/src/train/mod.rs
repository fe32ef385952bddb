//! The one training loop of every training command (`pretrain`, `finetune`, `train unigem`):
//! around core's engine it owns what touches files, clocks and the terminal — resume from the
//! checkpoint, progress bar, `metrics.jsonl`/`metrics.csv` rows with the step's transfers,
//! atomic checkpoints, validation calls, the non-finite stop with `nan_report.json`, the time
//! budget and SIGINT/SIGTERM (checkpoint, then stop).
//!
//! A command describes its objective as a [`Job`] in two halves: [`Job::prepare`] draws a
//! step's batch, noise and graphs on the host, [`Job::loss`] uploads them and computes the loss
//! on the device. The loop runs `prepare` on a worker thread, [`PREFETCH`] steps ahead of the
//! device, in step order (batch, noise and burn's randomness are functions of (seed, step), and
//! the noise normaliser — the one piece of job state a checkpoint keeps — travels with each
//! batch, so a resumed run draws what the uninterrupted run would have drawn). The loop reads
//! from the device only on steps that log (one read: [`Engine::figures`]) and on checkpoint
//! steps (one read: [`Engine::figures_and_state`]).

pub mod checkpoint;
pub mod log;

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::{Context, bail};
use burn::module::Module;
use indicatif::{ProgressBar, ProgressStyle};
use nucleate_core::nn::params::param_names;
use nucleate_core::train::{Engine, EngineState, Losses, NoiseNormalizer, StepFigures, transfer};

use checkpoint::{Checkpoint, Header};
use log::{MetricsLog, Row};

/// Steps the worker thread prepares ahead of the device.
pub const PREFETCH: usize = 2;

/// What one training command trains: its batches, loss, schedule and validation. The loop
/// shares it between the device thread and the batch worker, hence `Sync` and `&self`.
pub trait Job: Sync {
    /// The model trained.
    type Model: Module + Clone;
    /// A step's host-side inputs (batch, noise, graphs): no tensors, so it crosses threads.
    type Batch: Send;

    /// Names of the entries of [`Losses::figures`].
    fn figures(&self) -> &'static [&'static str];

    /// Learning rate of step `step` (0-based).
    fn lr(&self, step: u64) -> f64;

    /// The host half of step `step` (0-based), on the worker thread and in step order;
    /// `normalizer` carries the noise statistics from one step to the next.
    ///
    /// # Errors
    /// Data errors.
    fn prepare(&self, step: u64, normalizer: &mut NoiseNormalizer) -> anyhow::Result<Self::Batch>;

    /// Atoms and edges of each pass of a batch: the sizes its kernels are compiled for.
    fn shape(&self, batch: &Self::Batch) -> Vec<usize>;

    /// The device half: the loss of a prepared batch on `model`.
    ///
    /// # Errors
    /// Network errors.
    fn loss(&self, model: &Self::Model, batch: Self::Batch) -> anyhow::Result<Losses>;

    /// Validation of the averaged weights after `step` steps, with the noise statistics of
    /// that step: a row to log and a line to print, or `None` when the job does not validate.
    ///
    /// # Errors
    /// Data or network errors.
    fn validate(
        &self,
        model: &Self::Model,
        step: u64,
        normalizer: &NoiseNormalizer,
    ) -> anyhow::Result<Option<(Row, String)>>;

    /// Fills a training row's objective columns from the step's figures.
    fn row(&self, figures: &[f64], row: &mut Row) {
        for (name, &v) in self.figures().iter().zip(figures) {
            row.terms.insert((*name).to_string(), v);
        }
    }
}

/// When the loop logs, validates, checkpoints and stops.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// Total steps of the run.
    pub steps: u64,
    /// Log a training row every this many steps (and at the last).
    pub log_every: u64,
    /// Validate every this many steps (and at the last); 0 = never.
    pub eval_every: u64,
    /// Checkpoint every this many steps (and at the last and when stopped).
    pub checkpoint_every: u64,
    /// Stop after this many seconds of this invocation (0 = no limit).
    pub max_seconds: f64,
    /// Seed of burn's device randomness per step (drop-path, condition dropout).
    pub seed: u64,
}

/// Where the loop writes.
#[derive(Debug, Clone)]
pub struct Files {
    /// Directory of the metrics and the NaN report.
    pub dir: PathBuf,
    /// The checkpoint file.
    pub checkpoint: PathBuf,
    /// SHA-256 of what the checkpoint belongs to (resolved config, or model config).
    pub config_sha256: String,
}

/// How a run ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Steps done (all invocations).
    pub steps: u64,
    /// Steps done by this invocation.
    pub new_steps: u64,
    /// Whether all steps are done.
    pub finished: bool,
    /// Training seconds (all invocations).
    pub seconds: f64,
    /// The last validation row.
    pub last_val: Option<Row>,
    /// Steps of this invocation whose gradients were clipped (as of the last read).
    pub clipped: u64,
    /// The noise statistics after the last step.
    pub normalizer: NoiseNormalizer,
    /// Distinct batch shapes (atoms and edges of each pass) this invocation met.
    pub shapes: usize,
}

/// SIGINT and SIGTERM set the returned flag, which the loop checks after each step.
fn install_signals() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(e) = signal_hook::flag::register(signal, Arc::clone(&stop)) {
            ::log::warn!("signal {signal} not handled: {e}");
        }
    }
    stop
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

/// The checkpoint in `files`, if any, checked against the engine.
///
/// # Errors
/// Unreadable checkpoint, one of another config or model.
pub fn read_checkpoint(files: &Files, engine: &Engine) -> anyhow::Result<Option<Checkpoint>> {
    if !files.checkpoint.exists() {
        return Ok(None);
    }
    let c = checkpoint::read(&files.checkpoint)?;
    if c.header.config_sha256 != files.config_sha256 {
        bail!(
            "{} holds a checkpoint of another config (hash {} ≠ {}); use another run directory, \
             the same config and overrides, or --fresh to start over",
            files.checkpoint.display(),
            &c.header.config_sha256[..12.min(c.header.config_sha256.len())],
            &files.config_sha256[..12.min(files.config_sha256.len())]
        );
    }
    if c.header.sizes != engine.sizes() {
        bail!(
            "{}: parameter sizes differ from the config's model",
            files.checkpoint.display()
        );
    }
    Ok(Some(c))
}

/// Resumes `engine` and `model` from a checkpoint read by [`read_checkpoint`].
///
/// # Errors
/// A state that does not fit the engine.
pub fn resume<M: Module>(
    c: &Checkpoint,
    engine: &mut Engine,
    model: M,
) -> anyhow::Result<Start<M>> {
    Ok(Start {
        model: engine.restore(model, &c.state)?,
        seconds: c.header.seconds,
        normalizer: c.normalizer(),
    })
}

/// Where a run starts: its model, the seconds trained before and the noise statistics.
#[derive(Debug, Clone)]
pub struct Start<M> {
    /// The model (weights of the checkpoint, or initial ones).
    pub model: M,
    /// Training seconds of earlier invocations.
    pub seconds: f64,
    /// Noise statistics so far.
    pub normalizer: NoiseNormalizer,
}

impl<M> Start<M> {
    /// A fresh start.
    pub fn fresh(model: M, normalizer: NoiseNormalizer) -> Self {
        Self {
            model,
            seconds: 0.0,
            normalizer,
        }
    }
}

fn save(
    files: &Files,
    engine: &Engine,
    state: EngineState,
    normalizer: NoiseNormalizer,
    seconds: f64,
) -> anyhow::Result<()> {
    let c = Checkpoint {
        header: Header {
            step: state.step,
            config_sha256: files.config_sha256.clone(),
            sizes: engine.sizes(),
            has_ema: state.ema.is_some(),
            adam_step: state.adam_step,
            norm_sum: normalizer.sum,
            norm_sum_sq: normalizer.sum_sq,
            norm_count: normalizer.count,
            seconds,
            clip_history: state.clip_history.clone(),
        },
        state,
    };
    crate::fsutil::write_atomic(&files.checkpoint, &checkpoint::encode(&c)?)
}

fn nan_report<M: Module>(
    files: &Files,
    model: &M,
    figures: &StepFigures,
    names: &[&str],
    lr: f64,
    last_checkpoint: u64,
) -> anyhow::Error {
    let Some(bad) = &figures.non_finite else {
        return anyhow::anyhow!("internal: no non-finite step recorded");
    };
    let params = param_names(model);
    let bad_names: Vec<String> = bad
        .params
        .iter()
        .filter_map(|&i| params.get(i).map(|(n, _)| n.clone()))
        .collect();
    let terms: serde_json::Map<String, serde_json::Value> = names
        .iter()
        .zip(&bad.figures)
        .map(|(n, v)| ((*n).to_string(), serde_json::json!(v)))
        .collect();
    let report = serde_json::json!({
        "step": bad.step,
        "loss": bad.loss,
        "terms": terms,
        "lr": lr,
        "grad_norm": bad.grad_norm,
        "non_finite_gradients": bad_names,
        "last_checkpoint_step": last_checkpoint,
    });
    let path = files.dir.join("nan_report.json");
    let written = serde_json::to_vec_pretty(&report)
        .ok()
        .and_then(|b| crate::fsutil::write_atomic(&path, &b).ok())
        .is_some();
    anyhow::anyhow!(
        "training stopped at step {}: non-finite loss or gradient (loss {}, gradient norm {}; \
         {} parameters with non-finite gradients{}). The last good checkpoint is step \
         {last_checkpoint}; {}",
        bad.step,
        bad.loss,
        bad.grad_norm,
        bad_names.len(),
        bad_names
            .first()
            .map(|n| format!(", first {n}"))
            .unwrap_or_default(),
        if written {
            format!("details in {}", path.display())
        } else {
            "the report could not be written".to_string()
        }
    )
}

/// Trains from `engine.steps()` to `schedule.steps`, with a worker thread preparing the
/// batches.
///
/// # Errors
/// Job errors, a non-finite step (after writing `nan_report.json`), I/O errors.
pub fn run<J: Job>(
    job: &J,
    start: Start<J::Model>,
    engine: &mut Engine,
    schedule: &Schedule,
    files: &Files,
) -> anyhow::Result<(J::Model, Outcome)> {
    let first = engine.steps();
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel(PREFETCH - 1);
        let mut normalizer = start.normalizer;
        let steps = schedule.steps;
        scope.spawn(move || {
            for step in first..steps {
                let prepared = job.prepare(step, &mut normalizer).map(|b| (b, normalizer));
                let failed = prepared.is_err();
                // A closed channel: the loop has stopped.
                if tx.send(prepared).is_err() || failed {
                    break;
                }
            }
        });
        device_loop(job, start, engine, schedule, files, &rx)
    })
}

/// The device side of [`run`]: takes each prepared batch from `batches`.
fn device_loop<J: Job>(
    job: &J,
    start: Start<J::Model>,
    engine: &mut Engine,
    schedule: &Schedule,
    files: &Files,
    batches: &std::sync::mpsc::Receiver<anyhow::Result<(J::Batch, NoiseNormalizer)>>,
) -> anyhow::Result<(J::Model, Outcome)> {
    let Start {
        mut model,
        seconds: seconds_before,
        mut normalizer,
    } = start;
    let stop = install_signals();
    let log = MetricsLog::new(&files.dir);
    let start = engine.steps();
    log.truncate_after(start)?;
    let device = device_of(&model);
    let clock = Instant::now();
    let bar = progress(schedule.steps, start);
    let names = job.figures();
    let mut last_ckpt = start;
    let mut last_val = None;
    let mut clipped = 0;
    let mut smoothed: Option<f64> = None;
    let mut stopped = false;
    let mut shapes = BTreeSet::new();
    let seconds = |clock: &Instant| seconds_before + clock.elapsed().as_secs_f64();
    // Transfers of the steps since the last training row (validation excluded).
    let mut since_row = transfer::counters();
    while engine.steps() < schedule.steps {
        let step = engine.steps();
        if let Some(d) = &device {
            d.seed(crate::learn::data::mix(schedule.seed, step));
        }
        let before = transfer::counters();
        let lr = job.lr(step);
        let (batch, next) = batches
            .recv()
            .context("the batch worker stopped")?
            .with_context(|| format!("preparing step {}", step + 1))?;
        normalizer = next;
        shapes.insert(job.shape(&batch));
        let losses = job.loss(&model, batch)?;
        model = engine.step(model, &losses, lr);
        let done = step + 1;
        let last = done == schedule.steps;
        let out_of_time =
            schedule.max_seconds > 0.0 && clock.elapsed().as_secs_f64() >= schedule.max_seconds;
        let signalled = stop.load(Ordering::SeqCst);
        let logs = done.is_multiple_of(schedule.log_every.max(1)) || last;
        let checkpoints = done.is_multiple_of(schedule.checkpoint_every.max(1))
            || last
            || out_of_time
            || signalled;
        // One read: the figures, and on checkpoint steps the state too (written only once the
        // figures show that every step so far was finite).
        if logs || checkpoints {
            let (f, state) = if checkpoints {
                let (f, state) = engine.figures_and_state();
                (f, Some(state))
            } else {
                (engine.figures(), None)
            };
            let f = f.context("the engine has done a step")?;
            let moved = transfer::counters().since(&before);
            if f.non_finite.is_some() {
                bar.abandon();
                return Err(nan_report(files, &model, &f, names, lr, last_ckpt));
            }
            clipped = f.clipped;
            smoothed = Some(smoothed.map_or(f.loss, |s| 0.95 * s + 0.05 * f.loss));
            bar.set_message(format!(
                "loss {:.4} (avg {:.4}) lr {lr:.2e}",
                f.loss,
                smoothed.unwrap_or(f.loss)
            ));
            if logs {
                let mut row =
                    Row::new(done, "train", f.loss, seconds(&clock)).with_transfers(moved);
                row.lr = Some(lr);
                row.grad_norm = Some(f.grad_norm);
                row.unlogged_reads = Some(before.since(&since_row).reads);
                job.row(&f.figures, &mut row);
                log.append(&row)?;
            }
            if let Some(state) = state {
                save(files, engine, state, normalizer, seconds(&clock))?;
                last_ckpt = done;
            }
        }
        bar.set_position(done);
        if schedule.eval_every > 0 && (done.is_multiple_of(schedule.eval_every) || last) {
            let averaged = engine.averaged(model.clone());
            if let Some((mut row, line)) = job.validate(&averaged, done, &normalizer)? {
                row.seconds = seconds(&clock);
                log.append(&row)?;
                bar.println(&line);
                if bar.is_hidden() {
                    eprintln!("{line} [{:.0} s]", seconds(&clock));
                }
                last_val = Some(row);
            }
        }
        if logs {
            since_row = transfer::counters();
        }
        if out_of_time || signalled {
            stopped = true;
            if signalled {
                eprintln!("stopped by a signal at step {done}; checkpoint written");
            } else {
                eprintln!("time budget reached at step {done}; checkpoint written");
            }
            break;
        }
    }
    bar.finish_and_clear();
    let steps = engine.steps();
    if steps > start {
        eprintln!(
            "batch shapes: {} distinct (atoms and edges of each pass) in {} steps",
            shapes.len(),
            steps - start
        );
    }
    Ok((
        model,
        Outcome {
            steps,
            new_steps: steps - start,
            finished: steps >= schedule.steps && !stopped,
            seconds: seconds(&clock),
            last_val,
            clipped,
            normalizer,
            shapes: shapes.len(),
        },
    ))
}

/// The device of the model's first parameter (for seeding burn's randomness per step).
fn device_of<M: Module>(model: &M) -> Option<burn::tensor::Device> {
    model.devices().into_iter().next()
}

/// The files of a run directory `dir`.
pub fn files_in(dir: &Path, config_sha256: String) -> Files {
    Files {
        dir: dir.to_path_buf(),
        checkpoint: dir.join("checkpoint.bin"),
        config_sha256,
    }
}
