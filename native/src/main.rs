//! `nucleate`: the command-line tool. Thin: parsing and dispatch here, work in `cli/` and `core`.

mod alloc;
mod backend;
mod cli;
mod dataset;
mod fsutil;
mod input;
mod learn;
mod model_config;
mod plot;
mod run_config;
mod train;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "nucleate",
    version,
    about = "Atomistic representation learning: data, models, rendering"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Render the first structure of a file to a PNG (offscreen, on the GPU or a software driver).
    Render(cli::render::RenderArgs),
    /// Generation metrics (EDM stability, validity, uniqueness, novelty) of molecule files.
    Metrics(cli::metrics::MetricsArgs),
    /// Inspect structure files and datasets, convert them to Parquet, split them.
    Data(cli::data::DataArgs),
    /// Inspect models: `nucleate model summary CONFIG [--json]`.
    Model(cli::model::ModelArgs),
    /// Train a model (`nucleate train unigem --config FILE --data QM9… -o DIR`).
    Train(cli::unigem::TrainArgs),
    /// Generate molecules with a trained UniGEM model.
    Generate(cli::unigem::GenerateArgs),
    /// Pretrain CT with SCD or coordinate denoising (`--config configs/…-scd.toml --run DIR`).
    Pretrain(cli::learn::RunArgs),
    /// Fine-tune on a label (`--config configs/…-finetune.toml --run DIR [--init MODEL]`).
    Finetune(cli::learn::RunArgs),
    /// Property MAE of a fine-tuned model on its run's test split or on labelled files.
    Evaluate(cli::learn::EvaluateArgs),
    /// Predict properties of structure files with a fine-tuned or imported model.
    Predict(cli::learn::PredictArgs),
    /// Import weights from other frameworks (`nucleate import torchmd-net CKPT -o DIR`).
    Import(cli::import::ImportArgs),
}

/// Restores the default action of SIGPIPE (the Rust runtime ignores it, which turns a closed
/// output pipe into a panic inside `println!`): `nucleate data inspect … | head` then ends
/// quietly when `head` exits, as other Unix tools do. Checkpoints and models are written
/// atomically, so a run ended this way loses nothing.
fn exit_quietly_on_closed_pipe() {
    #[cfg(unix)]
    // SAFETY: `signal` with SIG_DFL installs no handler code; it is called once at start-up,
    // before any other thread exists.
    #[allow(unsafe_code)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn main() -> std::process::ExitCode {
    exit_quietly_on_closed_pipe();
    alloc::keep_freed_memory();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Render(args) => cli::render::run(&args),
        Command::Metrics(args) => cli::metrics::run(&args),
        Command::Data(args) => cli::data::run(&args),
        Command::Model(args) => cli::model::run(&args),
        Command::Train(args) => cli::unigem::run_train(&args),
        Command::Generate(args) => cli::unigem::run_generate(&args),
        Command::Pretrain(args) => cli::learn::pretrain(&args),
        Command::Finetune(args) => cli::learn::finetune(&args),
        Command::Evaluate(args) => cli::learn::evaluate(&args),
        Command::Predict(args) => cli::learn::predict(&args),
        Command::Import(args) => cli::import::run(&args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
