//! The structures of a run: read from the config's paths, hashed, split by a seeded
//! permutation, and served in batches that are a pure function of (seed, step), so a resumed
//! run draws exactly the batches the uninterrupted run would have drawn.

use std::path::PathBuf;

use anyhow::bail;
use nucleate_core::rng::SplitMix64;
use nucleate_core::{Label, LabelValue, Structure};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::run_config::DataSection;

/// One input file and its SHA-256.
#[derive(Debug, Clone, Serialize)]
pub struct Source {
    /// Path as configured (resolved against the config's directory).
    pub path: PathBuf,
    /// SHA-256 of the file's bytes.
    pub sha256: String,
    /// Size in bytes.
    pub bytes: u64,
    /// Structures read from it.
    pub structures: usize,
}

/// Indices (into the concatenated structures) of each split.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Splits {
    /// Training structures.
    pub train: Vec<usize>,
    /// Validation structures.
    pub val: Vec<usize>,
    /// Test structures.
    pub test: Vec<usize>,
}

/// Every structure of the configured paths, in file order, with the file hashes.
///
/// # Errors
/// Unreadable or malformed files (with path, line and field), no structures at all.
pub fn load(data: &DataSection) -> anyhow::Result<(Vec<Structure>, Vec<Source>)> {
    let mut all = Vec::new();
    let mut sources = Vec::new();
    for path in &data.paths {
        // One read: the stored bytes are hashed, then parsed.
        let raw = crate::input::read_file(path)?;
        let sha256 = format!("{:x}", Sha256::digest(&raw));
        let bytes = raw.len() as u64;
        let structures = crate::input::structures_from_raw(path, raw)?;
        sources.push(Source {
            path: path.clone(),
            sha256,
            bytes,
            structures: structures.len(),
        });
        all.extend(structures);
    }
    if all.is_empty() {
        bail!("no structures in {:?}", data.paths);
    }
    Ok((all, sources))
}

pub use crate::dataset::split::permutation;

/// Test, then validation, then training indices from the seeded permutation.
///
/// # Errors
/// More test + validation (+ training) structures requested than there are.
pub fn split(n: usize, data: &DataSection) -> anyhow::Result<Splits> {
    let p = permutation(n, data.split_seed);
    let held = data.test + data.val;
    if held >= n || held + data.train > n {
        bail!(
            "[data] asks for {} test + {} val + {} train structures but there are {n}",
            data.test,
            data.val,
            if data.train == 0 {
                "≥ 1".to_string()
            } else {
                data.train.to_string()
            }
        );
    }
    let train_end = if data.train == 0 {
        n
    } else {
        held + data.train
    };
    Ok(Splits {
        test: p[..data.test].to_vec(),
        val: p[data.test..held].to_vec(),
        train: p[held..train_end].to_vec(),
    })
}

/// Mixes a seed and a counter into a well-spread 64-bit value.
pub fn mix(seed: u64, k: u64) -> u64 {
    let mut r = SplitMix64::new(seed ^ k.wrapping_mul(0xD1B5_4A32_D192_ED03));
    r.next_u64()
}

/// The training positions drawn at `step`: epochs of seeded permutations of `0..n`, consumed
/// `batch` at a time.
pub struct Batches {
    seed: u64,
    n: usize,
    batch: usize,
    /// The permutation of the last epoch asked for (the batch worker asks in step order).
    epoch: std::sync::Mutex<Option<(u64, Vec<usize>)>>,
}

impl Batches {
    /// Batches of `batch` out of `n` training structures.
    pub fn new(seed: u64, n: usize, batch: usize) -> Self {
        Self {
            seed,
            n,
            batch,
            epoch: std::sync::Mutex::new(None),
        }
    }

    /// Positions (in `0..n`) of the batch of `step` (0-based).
    pub fn at(&self, step: u64) -> Vec<usize> {
        let n = self.n as u64;
        let start = step * self.batch as u64;
        // A poisoned lock only means another thread panicked mid-update: recompute.
        let mut cache = self
            .epoch
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        (start..start + self.batch as u64)
            .map(|pos| {
                let epoch = pos / n;
                if cache.as_ref().is_none_or(|(e, _)| *e != epoch) {
                    *cache = Some((epoch, permutation(self.n, mix(self.seed, epoch))));
                }
                let perm = cache.as_ref().map(|(_, p)| p);
                perm.map_or(0, |p| p[(pos % n) as usize])
            })
            .collect()
    }
}

/// A float label of `s`.
pub fn label(s: &Structure, name: &str) -> Option<(f64, Option<String>)> {
    match s.labels.get(name) {
        Some(Label {
            value: LabelValue::Float(v),
            unit,
        }) => Some((*v, unit.clone())),
        Some(Label {
            value: LabelValue::Int(v),
            unit,
        }) => Some((*v as f64, unit.clone())),
        _ => None,
    }
}

/// The label `name` of each structure, with its unit.
///
/// # Errors
/// A structure without the label (naming its source and record) or a non-finite value.
pub fn labels(structures: &[Structure], name: &str) -> anyhow::Result<(Vec<f64>, String)> {
    let mut unit = None;
    let mut out = Vec::with_capacity(structures.len());
    for s in structures {
        let Some((v, u)) = label(s, name) else {
            let mut known: Vec<&String> = s.labels.keys().collect();
            known.truncate(30);
            bail!(
                "{} record {}: no numeric label `{name}` (labels: {known:?})",
                s.source,
                s.record_index
            );
        };
        if !v.is_finite() {
            bail!(
                "{} record {}: label `{name}` is {v}",
                s.source,
                s.record_index
            );
        }
        if unit.is_none() {
            unit = u;
        }
        out.push(v);
    }
    Ok((out, unit.unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(test: usize, val: usize, train: usize) -> DataSection {
        DataSection {
            paths: vec![],
            test,
            val,
            train,
            split_seed: 3,
        }
    }

    #[test]
    fn splits_are_disjoint_seeded_and_nested() {
        let s = split(100, &section(10, 5, 0)).unwrap();
        assert_eq!((s.test.len(), s.val.len(), s.train.len()), (10, 5, 85));
        let mut all: Vec<usize> = s
            .test
            .iter()
            .chain(&s.val)
            .chain(&s.train)
            .copied()
            .collect();
        all.sort_unstable();
        assert_eq!(all, (0..100).collect::<Vec<_>>());
        // A run with a training budget shares the held-out sets.
        let t = split(100, &section(10, 5, 20)).unwrap();
        assert_eq!(
            (t.test.clone(), t.val.clone()),
            (s.test.clone(), s.val.clone())
        );
        assert_eq!(t.train, s.train[..20]);
        assert!(split(100, &section(90, 10, 0)).is_err());
        assert!(split(100, &section(10, 10, 81)).is_err());
        assert_ne!(permutation(50, 1), permutation(50, 2));
    }

    #[test]
    fn batches_depend_only_on_seed_and_step() {
        let a = Batches::new(7, 10, 4);
        let seq: Vec<Vec<usize>> = (0..6).map(|s| a.at(s)).collect();
        let b = Batches::new(7, 10, 4);
        assert_eq!(b.at(4), seq[4]);
        assert_eq!(b.at(1), seq[1]);
        // Every epoch visits every structure once: steps 0..5 cover 20 positions = 2 epochs.
        let flat: Vec<usize> = seq[..5].iter().flatten().copied().collect();
        let mut first: Vec<usize> = flat[..10].to_vec();
        first.sort_unstable();
        assert_eq!(first, (0..10).collect::<Vec<_>>());
        assert_ne!(flat[..10], flat[10..20]);
    }
}
