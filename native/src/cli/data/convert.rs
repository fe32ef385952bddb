//! `nucleate data convert INPUT... -o DIR`: structure files → sharded Parquet + manifest.

use crate::dataset::manifest::{SourceInfo, sha256_hex};
use crate::dataset::write::Codec;
use crate::dataset::{DatasetWriter, WriteOptions};
use crate::input;
use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct ConvertArgs {
    /// Structure files (optionally .gz/.xz/.bz2), directories (searched recursively; files of
    /// unknown type there are skipped) or glob patterns.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Output directory for `shard-NNNNN.parquet` and `manifest.json`.
    #[arg(short, long)]
    output: PathBuf,
    /// Structures per shard.
    #[arg(long, default_value_t = WriteOptions::default().shard_size)]
    shard_size: usize,
    /// Structures per Parquet row group (the unit of random access).
    #[arg(long, default_value_t = WriteOptions::default().row_group_size)]
    row_group_size: usize,
    /// Page compression.
    #[arg(long, value_enum, default_value = "snappy")]
    compression: Codec,
    /// Replace a dataset already in the output directory.
    #[arg(long)]
    overwrite: bool,
}

/// Run `data convert`.
///
/// # Errors
/// Unreadable or unparsable inputs (file, line, field), write errors, no structures at all.
pub fn run(args: &ConvertArgs) -> anyhow::Result<()> {
    let files = input::expand_inputs(&args.inputs)?;
    if files.is_empty() {
        bail!("no structure files found in the inputs");
    }
    let options = WriteOptions {
        shard_size: args.shard_size,
        row_group_size: args.row_group_size,
        codec: args.compression,
    };
    let mut writer = DatasetWriter::create(&args.output, options, args.overwrite)?;
    let progress = progress_bar();
    let mut sources = Vec::new();
    for (k, (path, explicit)) in files.iter().enumerate() {
        progress.set_message(format!(
            "file {}/{}: {}",
            k + 1,
            files.len(),
            path.display()
        ));
        let raw = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let sha256 = sha256_hex(&raw);
        let bytes_on_disk = raw.len() as u64;
        let bytes =
            input::decompress(raw).with_context(|| format!("decompressing {}", path.display()))?;
        let kind = match input::detect(path, &bytes) {
            Ok(kind) => kind,
            Err(e) if !explicit => {
                progress.suspend(|| eprintln!("note: skipping {e:#}"));
                continue;
            }
            Err(e) => return Err(e),
        };
        let n = input::parse_batches(path, &bytes, kind, |batch| {
            progress.inc(batch.len() as u64);
            writer.push(batch)
        })?;
        sources.push(SourceInfo {
            path: path.display().to_string(),
            sha256,
            bytes: bytes_on_disk,
            n_structures: n,
        });
    }
    progress.set_message("writing the last shard");
    let manifest = writer
        .finish(sources)
        .with_context(|| format!("writing the dataset in {}", args.output.display()))?;
    progress.finish_and_clear();
    let bytes: u64 = manifest.shards.iter().map(|s| s.bytes).sum();
    println!(
        "converted {} structures ({} atoms) from {} file(s) into {}: {} shard(s), {:.1} MiB",
        manifest.n_structures,
        manifest.n_atoms,
        manifest.sources.len(),
        args.output.display(),
        manifest.shards.len(),
        bytes as f64 / (1024.0 * 1024.0)
    );
    Ok(())
}

/// A spinner with structure count and rate on stderr; hidden when stderr is not a terminal.
fn progress_bar() -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {pos} structures ({per_sec}) {wide_msg}",
    ) {
        bar.set_style(style);
    }
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar
}
