//! Bonds inferred from covalent radii.
//!
//! How it works: atoms i and j are bonded when `min_distance < d_ij <= r_i + r_j + tolerance`,
//! with Cordero covalent radii and Open Babel's additive tolerance of 0.45 Å by default. Atoms are
//! hashed into a uniform grid whose cell edge is the largest possible bond length, so only the 27
//! neighbouring cells are searched and the cost is O(N). Periodic images are not considered here;
//! bonds are a display and chemistry aid for molecules (radius graphs handle cells).

use crate::Structure;
use crate::elements;
use std::collections::HashMap;

/// A bond between atoms `i < j` (indices into the structure), with its length in Å.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bond {
    /// Index of the first atom (always the smaller index).
    pub i: usize,
    /// Index of the second atom.
    pub j: usize,
    /// Interatomic distance in Å.
    pub length: f64,
}

/// Parameters of bond inference.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BondOptions {
    /// Added to the sum of covalent radii (Å).
    pub tolerance: f64,
    /// Pairs closer than this (Å) are overlapping atoms, not bonds.
    pub min_distance: f64,
}

impl Default for BondOptions {
    fn default() -> Self {
        Self {
            tolerance: 0.45,
            min_distance: 0.4,
        }
    }
}

/// All bonds of `structure`, sorted by `(i, j)`.
///
/// Elements without a tabulated covalent radius form no bonds.
pub fn infer_bonds(structure: &Structure, options: BondOptions) -> Vec<Bond> {
    let radii: Vec<Option<f64>> = structure
        .numbers
        .iter()
        .map(|&z| elements::by_number(z).and_then(|e| e.covalent_radius))
        .collect();
    let max_r = radii.iter().flatten().fold(0.0_f64, |a, &b| a.max(b));
    let cell = (2.0 * max_r + options.tolerance).max(1e-3);
    let key = |p: &[f64; 3]| -> [i64; 3] { p.map(|x| (x / cell).floor() as i64) };

    let mut grid: HashMap<[i64; 3], Vec<usize>> = HashMap::new();
    for (i, p) in structure.positions.iter().enumerate() {
        if radii[i].is_some() && p.iter().all(|x| x.is_finite()) {
            grid.entry(key(p)).or_default().push(i);
        }
    }

    let mut bonds = Vec::new();
    for (i, pi) in structure.positions.iter().enumerate() {
        let Some(ri) = radii[i] else { continue };
        if !pi.iter().all(|x| x.is_finite()) {
            continue;
        }
        let k = key(pi);
        for dx in -1..=1 {
            for dy in -1..=1 {
                for dz in -1..=1 {
                    let Some(bucket) = grid.get(&[k[0] + dx, k[1] + dy, k[2] + dz]) else {
                        continue;
                    };
                    for &j in bucket {
                        if j <= i {
                            continue;
                        }
                        let Some(rj) = radii[j] else { continue };
                        let pj = &structure.positions[j];
                        let d = ((pi[0] - pj[0]).powi(2)
                            + (pi[1] - pj[1]).powi(2)
                            + (pi[2] - pj[2]).powi(2))
                        .sqrt();
                        if d > options.min_distance && d <= ri + rj + options.tolerance {
                            bonds.push(Bond { i, j, length: d });
                        }
                    }
                }
            }
        }
    }
    bonds.sort_by_key(|b| (b.i, b.j));
    bonds
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brute_force(s: &Structure, o: BondOptions) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        for i in 0..s.n_atoms() {
            for j in i + 1..s.n_atoms() {
                let (Some(ri), Some(rj)) = (
                    elements::by_number(s.numbers[i]).and_then(|e| e.covalent_radius),
                    elements::by_number(s.numbers[j]).and_then(|e| e.covalent_radius),
                ) else {
                    continue;
                };
                let d: f64 = (0..3)
                    .map(|k| (s.positions[i][k] - s.positions[j][k]).powi(2))
                    .sum::<f64>()
                    .sqrt();
                if d > o.min_distance && d <= ri + rj + o.tolerance {
                    out.push((i, j));
                }
            }
        }
        out
    }

    #[test]
    fn grid_search_matches_brute_force_on_a_random_cloud() {
        // Deterministic LCG so the test needs no RNG crate.
        let mut state = 0x2545F4914F6CDD1D_u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let n = 400;
        let numbers: Vec<u8> = (0..n).map(|i| [1, 6, 7, 8, 16][i % 5]).collect();
        let positions: Vec<[f64; 3]> = (0..n)
            .map(|_| [next() * 12.0 - 6.0, next() * 12.0, next() * 9.0 - 20.0])
            .collect();
        let s = Structure::molecule(numbers, positions);
        let o = BondOptions::default();
        let got: Vec<(usize, usize)> = infer_bonds(&s, o).iter().map(|b| (b.i, b.j)).collect();
        let want = brute_force(&s, o);
        assert!(!want.is_empty());
        assert_eq!(got, want);
    }

    #[test]
    fn methane_has_four_ch_bonds() {
        let a = 0.631716;
        let s = Structure::molecule(
            vec![6, 1, 1, 1, 1],
            vec![[0.0; 3], [a, a, a], [-a, -a, a], [a, -a, -a], [-a, a, -a]],
        );
        let bonds = infer_bonds(&s, BondOptions::default());
        assert_eq!(bonds.len(), 4);
        assert!(
            bonds
                .iter()
                .all(|b| b.i == 0 && (b.length - 1.0942).abs() < 1e-3)
        );
    }
}
