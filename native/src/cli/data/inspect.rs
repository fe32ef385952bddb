//! `nucleate data inspect PATH... [--json]`.
//!
//! JSON contract (stable): for files, one array with one object per file:
//! `{"path", "ok", "error" (only when not ok), "frames", "n_atoms", "elements", "cell", "pbc",
//! "positions_first3"}`, where `n_atoms`, `elements` (symbol → count), `cell` (3×3 Å, rows =
//! lattice vectors, or `null`), `pbc` and `positions_first3` describe the first structure. For a
//! converted dataset directory: one object, [`DatasetStats`]. The exit code is non-zero iff
//! some input failed; a failing file does not stop the others.

use crate::dataset::Dataset;
use crate::dataset::manifest::Manifest;
use crate::dataset::stats::{DatasetStats, dataset_stats};
use crate::input;
use anyhow::{Context, bail};
use nucleate_core::{Structure, elements};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// Structure files, directories (searched recursively), glob patterns, or one converted
    /// dataset directory.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Print JSON (the stable contract) instead of a readable summary.
    #[arg(long)]
    json: bool,
}

/// Run `data inspect`.
///
/// # Errors
/// Any input failed (after reporting all of them), or a dataset directory cannot be read.
pub fn run(args: &InspectArgs) -> anyhow::Result<()> {
    if let Some(dir) = args.paths.iter().find(|p| Manifest::exists_in(p)) {
        if args.paths.len() > 1 {
            bail!(
                "inspect takes one converted dataset directory at a time: {}",
                dir.display()
            );
        }
        let stats = dataset_stats(&Dataset::open(dir)?)
            .with_context(|| format!("reading dataset {}", dir.display()))?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&stats)?);
        } else {
            print_stats(dir, &stats);
        }
        return Ok(());
    }
    let mut reports = Vec::new();
    for arg in &args.paths {
        match input::expand_inputs(std::slice::from_ref(arg)) {
            Ok(files) => {
                for (path, explicit) in files {
                    if let Some(r) = inspect_file(&path, explicit) {
                        reports.push(r);
                    }
                }
            }
            Err(e) => reports.push(failure(arg, &e)),
        }
    }
    let failed = reports
        .iter()
        .filter(|r| r["ok"] == Value::Bool(false))
        .count();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    } else {
        for r in &reports {
            println!("{}", summary_line(r));
        }
    }
    if failed > 0 {
        bail!("{failed} of {} inputs failed", reports.len());
    }
    Ok(())
}

fn failure(path: &Path, err: &anyhow::Error) -> Value {
    json!({ "path": path.display().to_string(), "ok": false, "error": format!("{err:#}") })
}

/// The report of one file; `None` for a file found in a directory whose type is unknown or that
/// holds labels only (noted on stderr and skipped).
fn inspect_file(path: &Path, explicit: bool) -> Option<Value> {
    let bytes = match input::read_bytes(path) {
        Ok(b) => b,
        Err(e) => return Some(failure(path, &e)),
    };
    let kind = match input::detect(path, &bytes) {
        Ok(input::Kind::Qm9Polarizability) if !explicit => {
            eprintln!(
                "note: skipping {}: a QM9 polarizability table (labels, no structures)",
                path.display()
            );
            return None;
        }
        Ok(k) => k,
        Err(e) if !explicit => {
            eprintln!("note: skipping {e:#}");
            return None;
        }
        Err(e) => return Some(failure(path, &e)),
    };
    let mut first: Option<Structure> = None;
    let frames = input::parse_batches(path, &bytes, kind, |batch| {
        if first.is_none() {
            first = batch.into_iter().next();
        }
        Ok(())
    });
    Some(match (frames, first) {
        (Ok(frames), Some(s)) => describe(path, frames, &s),
        (Ok(_), None) => failure(path, &anyhow::anyhow!("no structure found")),
        (Err(e), _) => failure(path, &e),
    })
}

fn describe(path: &Path, frames: usize, s: &Structure) -> Value {
    let mut counts = BTreeMap::<&str, usize>::new();
    for &z in &s.numbers {
        *counts.entry(elements::symbol(z)).or_default() += 1;
    }
    json!({
        "path": path.display().to_string(),
        "ok": true,
        "frames": frames,
        "n_atoms": s.n_atoms(),
        "elements": counts,
        "cell": s.lattice,
        "pbc": s.pbc,
        "positions_first3": &s.positions[..s.positions.len().min(3)],
    })
}

fn summary_line(r: &Value) -> String {
    let path = r["path"].as_str().unwrap_or_default();
    if r["ok"] != Value::Bool(true) {
        return format!(
            "{path}: FAILED: {}",
            r["error"].as_str().unwrap_or_default()
        );
    }
    let formula: String = r["elements"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    format!(
                        "{k}{}",
                        v.as_u64()
                            .filter(|&n| n > 1)
                            .map(|n| n.to_string())
                            .unwrap_or_default()
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let pbc: String = r["pbc"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|b| if b == &Value::Bool(true) { 'T' } else { 'F' })
                .collect()
        })
        .unwrap_or_default();
    let cell = match &r["cell"] {
        Value::Null => "no cell".to_owned(),
        Value::Array(rows) => {
            let lengths: Vec<String> = rows
                .iter()
                .map(|row| {
                    let v: Vec<f64> = row
                        .as_array()
                        .map(|a| a.iter().filter_map(Value::as_f64).collect())
                        .unwrap_or_default();
                    format!("{:.3}", v.iter().map(|x| x * x).sum::<f64>().sqrt())
                })
                .collect();
            format!("cell |a|,|b|,|c| = {} Å", lengths.join(", "))
        }
        other => other.to_string(),
    };
    format!(
        "{path}: {} structure(s); first: {formula}, {} atoms, {cell}, pbc {pbc}",
        r["frames"], r["n_atoms"]
    )
}

fn print_stats(dir: &Path, s: &DatasetStats) {
    println!(
        "dataset {}: {} structures, {} atoms, {} shard(s)",
        dir.display(),
        s.n_structures,
        s.n_atoms,
        s.n_shards
    );
    let elements: Vec<String> = s.elements.iter().map(|(k, v)| format!("{k} {v}")).collect();
    println!("elements (atoms): {}", elements.join(", "));
    println!(
        "atoms per structure: min {}, median {}, mean {:.2}, max {}",
        s.size.min, s.size.median, s.size.mean, s.size.max
    );
    if s.labels.is_empty() {
        return;
    }
    println!(
        "{:<16} {:>8} {:>14} {:>14} {:>14} {:>14}  unit",
        "label", "count", "mean", "std", "min", "max"
    );
    for (name, l) in &s.labels {
        println!(
            "{name:<16} {:>8} {:>14.6} {:>14.6} {:>14.6} {:>14.6}  {}",
            l.count,
            l.mean,
            l.std,
            l.min,
            l.max,
            l.unit.as_deref().unwrap_or("-")
        );
    }
}
