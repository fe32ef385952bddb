//! `nucleate data get DIR [INDEX...] [--json]`: structures of a converted dataset by index
//! (random access: only the row group holding each one is read), or all of them in order
//! (streaming) without indices. Extended XYZ by default; `--json` gives every field losslessly.

use crate::dataset::Dataset;
use anyhow::Context;
use nucleate_core::Structure;
use nucleate_core::structure::{AtomArray, LabelValue};
use serde_json::{Map, Value, json};
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct GetArgs {
    /// A converted dataset directory.
    dir: PathBuf,
    /// Zero-based structure indices; all structures when none is given.
    indices: Vec<usize>,
    /// Print a JSON array (all fields, floats round-trip exactly) instead of extended XYZ.
    #[arg(long)]
    json: bool,
}

/// Run `data get`.
///
/// # Errors
/// Unreadable dataset, an index out of range, output errors.
pub fn run(args: &GetArgs) -> anyhow::Result<()> {
    let dataset = Dataset::open(&args.dir)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut first = true;
    let mut emit = |batch: Vec<(usize, Structure)>| -> anyhow::Result<()> {
        if args.json {
            for (i, s) in &batch {
                let sep = if first { "[\n" } else { ",\n" };
                first = false;
                write!(
                    out,
                    "{sep}{}",
                    serde_json::to_string_pretty(&to_json(*i, s))?
                )?;
            }
        } else {
            let frames: Vec<Structure> = batch.into_iter().map(|(_, s)| s).collect();
            let text =
                nucleate_core::io::write::write_extxyz(&frames).context("writing extended XYZ")?;
            out.write_all(text.as_bytes())?;
        }
        Ok(())
    };
    if args.indices.is_empty() {
        // Streaming: one row group in memory at a time.
        let mut next = 0;
        for rg in dataset.row_groups() {
            let rows = rg?;
            let start = next;
            next += rows.len();
            emit((start..).zip(rows).collect())?;
        }
    } else {
        for &i in &args.indices {
            emit(vec![(i, dataset.get(i)?)])?;
        }
    }
    if args.json {
        writeln!(out, "{}", if first { "[]" } else { "\n]" })?;
    }
    out.flush()?;
    Ok(())
}

/// Every field of `s`, with its dataset index.
pub fn to_json(index: usize, s: &Structure) -> Value {
    let labels: Map<String, Value> = s
        .labels
        .iter()
        .map(|(k, l)| {
            let value = match &l.value {
                LabelValue::Float(v) => json!(v),
                LabelValue::Int(v) => json!(v),
                LabelValue::Bool(v) => json!(v),
                LabelValue::Text(v) => json!(v),
                LabelValue::Floats(v) => json!(v),
            };
            (k.clone(), json!({ "value": value, "unit": l.unit }))
        })
        .collect();
    let arrays: Map<String, Value> = s
        .atom_arrays
        .iter()
        .map(|(k, a)| {
            let values = match a {
                AtomArray::Float { values, .. } => json!(values),
                AtomArray::Int { values, .. } => json!(values),
                AtomArray::Bool { values, .. } => json!(values),
                AtomArray::Text { values, .. } => json!(values),
            };
            (k.clone(), json!({ "width": a.width(), "values": values }))
        })
        .collect();
    json!({
        "index": index,
        "source": s.source,
        "record_index": s.record_index,
        "comment": s.comment,
        "numbers": s.numbers,
        "positions": s.positions,
        "lattice": s.lattice,
        "pbc": s.pbc,
        "labels": labels,
        "atom_arrays": arrays,
    })
}
