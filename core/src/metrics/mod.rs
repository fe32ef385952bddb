//! Generation metrics of EDM / UniGEM (docs/metrics.md §1): atom and molecule stability from
//! distance-based bond orders, validity, uniqueness and novelty.
//!
//! * [`edm`] — bond orders, allowed valences and stability, exactly as EDM computes them.
//! * [`molgraph`] — validity and a canonical graph identity replacing RDKit's sanitisation and
//!   canonical SMILES (the differences are documented there).
//!
//! [`evaluate`] turns a set of molecules into the five numbers of the papers' tables.

pub mod edm;
pub mod molgraph;

use std::collections::HashSet;

use crate::Structure;
use molgraph::{CanonicalId, MolGraph};

/// Per-molecule verdicts.
#[derive(Debug, Clone)]
pub struct MoleculeVerdict {
    /// EDM stability.
    pub stability: edm::Stability,
    /// Passes the valence check (RDKit sanitisation stand-in).
    pub valid: bool,
    /// Canonical identity of the largest fragment (only when valid).
    pub id: Option<CanonicalId>,
}

/// Judge one molecule (atomic numbers, positions in Å).
#[must_use]
pub fn judge(numbers: &[u8], positions: &[[f64; 3]]) -> MoleculeVerdict {
    let n = numbers.len().min(positions.len());
    let stability = edm::stability(&numbers[..n], &positions[..n]);
    let bonds = edm::bonds(&numbers[..n], &positions[..n]);
    let graph = MolGraph {
        numbers: &numbers[..n],
        bonds: &bonds,
    };
    let valid = n > 0 && graph.is_valid();
    let id = valid.then(|| graph.canonical_id(&graph.largest_fragment()));
    MoleculeVerdict {
        stability,
        valid,
        id,
    }
}

/// The metrics of a set of molecules, as in EDM's tables (fractions in [0, 1]).
#[derive(Debug, Clone, PartialEq)]
pub struct GenerationMetrics {
    /// Number of molecules.
    pub n: usize,
    /// Stable atoms / all atoms (pooled).
    pub atom_stability: f64,
    /// Molecules with every atom stable / molecules.
    pub mol_stability: f64,
    /// Valid molecules / molecules.
    pub validity: f64,
    /// Distinct identities among valid molecules / valid molecules.
    pub uniqueness: f64,
    /// Distinct valid identities absent from the reference set / distinct valid identities
    /// (only when a reference set was given).
    pub novelty: Option<f64>,
    /// Identities whose canonicalisation hit the search cap (see [`molgraph::MAX_LEAVES`]).
    pub inexact_ids: usize,
}

/// Identities of a reference (training) set, for novelty.
#[must_use]
pub fn reference_ids<'a>(molecules: impl IntoIterator<Item = &'a Structure>) -> HashSet<String> {
    molecules
        .into_iter()
        .filter_map(|s| judge(&s.numbers, &s.positions).id.map(|id| id.key))
        .collect()
}

/// Aggregate per-molecule verdicts into [`GenerationMetrics`].
#[must_use]
pub fn summarize(
    verdicts: &[MoleculeVerdict],
    reference: Option<&HashSet<String>>,
) -> GenerationMetrics {
    let n = verdicts.len();
    let atoms: usize = verdicts.iter().map(|v| v.stability.n_atoms).sum();
    let stable_atoms: usize = verdicts.iter().map(|v| v.stability.stable_atoms).sum();
    let stable_mols = verdicts
        .iter()
        .filter(|v| v.stability.molecule_stable)
        .count();
    let valid: Vec<&CanonicalId> = verdicts.iter().filter_map(|v| v.id.as_ref()).collect();
    let unique: HashSet<&str> = valid.iter().map(|id| id.key.as_str()).collect();
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    GenerationMetrics {
        n,
        atom_stability: ratio(stable_atoms, atoms),
        mol_stability: ratio(stable_mols, n),
        validity: ratio(valid.len(), n),
        uniqueness: ratio(unique.len(), valid.len()),
        novelty: reference.map(|r| {
            ratio(
                unique.iter().filter(|k| !r.contains(**k)).count(),
                unique.len(),
            )
        }),
        inexact_ids: valid.iter().filter(|id| !id.exact).count(),
    }
}

/// [`judge`] every structure and [`summarize`].
#[must_use]
pub fn evaluate<'a>(
    molecules: impl IntoIterator<Item = &'a Structure>,
    reference: Option<&HashSet<String>>,
) -> GenerationMetrics {
    let verdicts: Vec<MoleculeVerdict> = molecules
        .into_iter()
        .map(|s| judge(&s.numbers, &s.positions))
        .collect();
    summarize(&verdicts, reference)
}
