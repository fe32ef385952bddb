//! `nucleate metrics FILE... [--reference FILE...] [--json]`: EDM / UniGEM generation metrics
//! (atom and molecule stability, validity, uniqueness, novelty) of every molecule in the files.

use anyhow::bail;
use nucleate_core::Structure;
use nucleate_core::metrics::{self, GenerationMetrics};
use std::path::PathBuf;

/// Arguments of `nucleate metrics`.
#[derive(Debug, clap::Args)]
pub struct MetricsArgs {
    /// Molecule files or converted datasets (directories from `nucleate data convert`); every
    /// frame / record is one molecule, positions in Å.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Reference (training-set) molecules for novelty; novelty is omitted without them.
    #[arg(long = "reference")]
    pub reference: Vec<PathBuf>,
    /// Use at most this many molecules from the inputs (in file order).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

fn read_all(paths: &[PathBuf], limit: Option<usize>) -> anyhow::Result<Vec<Structure>> {
    let mut out = Vec::new();
    for path in paths {
        if path.is_dir() && crate::dataset::manifest::Manifest::exists_in(path) {
            let dataset = crate::dataset::read::Dataset::open(path)?;
            for s in dataset.structures() {
                out.push(s?);
                if limit.is_some_and(|l| out.len() >= l) {
                    break;
                }
            }
        } else {
            out.extend(crate::input::read_structures(path)?);
        }
        if limit.is_some_and(|l| out.len() >= l) {
            break;
        }
    }
    if let Some(l) = limit {
        out.truncate(l);
    }
    Ok(out)
}

/// The metrics as the JSON object of the CLI contract.
pub fn to_json(m: &GenerationMetrics) -> serde_json::Value {
    let mut obj = serde_json::json!({
        "n": m.n,
        "atom_stability": m.atom_stability,
        "mol_stability": m.mol_stability,
        "validity": m.validity,
        "uniqueness": m.uniqueness,
    });
    if let (Some(novelty), Some(map)) = (m.novelty, obj.as_object_mut()) {
        map.insert("novelty".into(), novelty.into());
    }
    obj
}

/// Compute and print the metrics.
pub fn run(args: &MetricsArgs) -> anyhow::Result<()> {
    let molecules = read_all(&args.files, args.limit)?;
    if molecules.is_empty() {
        bail!("no molecules in the input files");
    }
    let reference = if args.reference.is_empty() {
        None
    } else {
        Some(metrics::reference_ids(&read_all(&args.reference, None)?))
    };
    let m = metrics::evaluate(&molecules, reference.as_ref());
    if m.inexact_ids > 0 {
        log::warn!(
            "{} molecule identities hit the canonicalisation search cap; uniqueness may be approximate",
            m.inexact_ids
        );
    }
    if args.json {
        println!("{}", to_json(&m));
    } else {
        println!("molecules        {}", m.n);
        println!("atom stability   {:.2} %", 100.0 * m.atom_stability);
        println!("mol stability    {:.2} %", 100.0 * m.mol_stability);
        println!("validity         {:.2} %", 100.0 * m.validity);
        println!("uniqueness       {:.2} %", 100.0 * m.uniqueness);
        println!(
            "V×U              {:.2} %",
            100.0 * m.validity * m.uniqueness
        );
        if let Some(n) = m.novelty {
            println!("novelty          {:.2} %", 100.0 * n);
        }
    }
    Ok(())
}
