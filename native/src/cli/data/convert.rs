//! `nucleate data convert INPUT... -o DIR`: structure files → sharded Parquet + manifest.

use crate::dataset::manifest::{SourceInfo, sha256_hex};
use crate::dataset::write::Codec;
use crate::dataset::{DatasetWriter, WriteOptions};
use crate::input::{self, Kind};
use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use nucleate_core::io::qm9::POLARIZABILITY_LABEL;
use nucleate_core::structure::{Label, LabelValue};
use nucleate_core::units::Unit;
use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

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
    // Label tables first: QM9 polarizability tensors are joined onto the molecules by XYZ_file.
    let mut sources = Vec::new();
    let mut polarizability = HashMap::new();
    let mut structure_files = Vec::new();
    for (path, explicit) in files {
        let is_csv = input::logical_name(&path)
            .to_ascii_lowercase()
            .ends_with(".csv");
        if is_csv
            && matches!(
                input::detect(&path, &input::peek_head(&path)?),
                Ok(Kind::Qm9Polarizability)
            )
        {
            let (sha256, bytes) = hash_file(&path)?;
            polarizability.extend(input::read_qm9_polarizability(&path)?);
            sources.push(SourceInfo {
                path: path.display().to_string(),
                sha256,
                bytes,
                n_structures: 0,
                joined_label: Some(POLARIZABILITY_LABEL.to_owned()),
            });
        } else {
            structure_files.push((path, explicit));
        }
    }
    let mut writer = DatasetWriter::create(&args.output, options, args.overwrite)?;
    let progress = progress_bar();
    let (mut qm9_molecules, mut joined) = (0, 0);
    for (k, (path, explicit)) in structure_files.iter().enumerate() {
        progress.set_message(format!(
            "file {}/{}: {}",
            k + 1,
            structure_files.len(),
            path.display()
        ));
        let raw = input::read_file(path)?;
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
        let n = input::parse_batches(path, &bytes, kind, |mut batch| {
            progress.inc(batch.len() as u64);
            if kind == Kind::Qm9Csv {
                qm9_molecules += batch.len();
                for s in &mut batch {
                    if let Some(a) = polarizability.get(&s.comment) {
                        s.labels.insert(
                            POLARIZABILITY_LABEL.to_owned(),
                            Label {
                                value: LabelValue::Floats(a.to_vec()),
                                unit: Some(Unit::Bohr3.symbol().to_owned()),
                            },
                        );
                        joined += 1;
                    }
                }
            }
            writer.push(batch)
        })?;
        sources.push(SourceInfo {
            path: path.display().to_string(),
            sha256,
            bytes: bytes_on_disk,
            n_structures: n,
            joined_label: None,
        });
    }
    progress.set_message("writing the last shard");
    let manifest = writer
        .finish(sources)
        .with_context(|| format!("writing the dataset in {}", args.output.display()))?;
    progress.finish_and_clear();
    if !polarizability.is_empty() {
        println!(
            "joined {POLARIZABILITY_LABEL} ({} tensors) onto {joined} of {qm9_molecules} QM9 molecules",
            polarizability.len()
        );
    }
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

/// SHA-256 (hex) and size of a file as stored.
fn hash_file(path: &Path) -> anyhow::Result<(String, u64)> {
    let raw = input::read_file(path)?;
    Ok((sha256_hex(&raw), raw.len() as u64))
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
