//! Geometry for the denoising objectives: centring molecules, random rotations (of positions,
//! cells and forces) and SCD's cell tiling for crystals.

use crate::rng::SplitMix64;
use crate::{AtomArray, Structure};

pub(crate) fn is_periodic(s: &Structure) -> bool {
    s.lattice.is_some() && s.pbc.iter().any(|&p| p)
}

/// Centres the molecules of `structures` (periodic ones are left as they are).
#[must_use]
pub fn centre_molecules(structures: &[Structure]) -> Vec<Structure> {
    structures
        .iter()
        .map(|s| {
            let mut s = s.clone();
            if !is_periodic(&s) && !s.positions.is_empty() {
                let c = s.centroid();
                for p in &mut s.positions {
                    for k in 0..3 {
                        p[k] -= c[k];
                    }
                }
            }
            s
        })
        .collect()
}

/// A uniformly random rotation (unit quaternion from four normals).
pub fn random_rotation(rng: &mut SplitMix64) -> [[f64; 3]; 3] {
    let q = loop {
        let q = [rng.normal(), rng.normal(), rng.normal(), rng.normal()];
        let n = q.iter().map(|v| v * v).sum::<f64>().sqrt();
        if n > 1e-6 {
            break q;
        }
    };
    rotation_from_quaternion(q)
}

/// The rotation of the quaternion `q` (normalised here; `q ≠ 0`). Four independent normals give
/// a uniformly random rotation.
pub fn rotation_from_quaternion(q: [f64; 4]) -> [[f64; 3]; 3] {
    let n = q.iter().map(|v| v * v).sum::<f64>().sqrt();
    let [w, x, y, z] = q.map(|v| v / n);
    [
        [
            1.0 - 2.0 * (y * y + z * z),
            2.0 * (x * y - w * z),
            2.0 * (x * z + w * y),
        ],
        [
            2.0 * (x * y + w * z),
            1.0 - 2.0 * (x * x + z * z),
            2.0 * (y * z - w * x),
        ],
        [
            2.0 * (x * z - w * y),
            2.0 * (y * z + w * x),
            1.0 - 2.0 * (x * x + y * y),
        ],
    ]
}

pub(crate) fn apply(r: &[[f64; 3]; 3], v: [f64; 3]) -> [f64; 3] {
    std::array::from_fn(|i| r[i][0] * v[0] + r[i][1] * v[1] + r[i][2] * v[2])
}

/// Rotates positions, lattice vectors and per-atom `forces` of `s` by `r`.
pub fn rotate(s: &mut Structure, r: &[[f64; 3]; 3]) {
    for p in &mut s.positions {
        *p = apply(r, *p);
    }
    if let Some(AtomArray::Float { width: 3, values }) = s.atom_arrays.get_mut("forces") {
        for c in values.chunks_mut(3) {
            let v = apply(r, [c[0], c[1], c[2]]);
            c.copy_from_slice(&v);
        }
    }
    if let Some(l) = &mut s.lattice {
        for row in l.iter_mut() {
            *row = apply(r, *row);
        }
    }
}

/// SCD's cell-repeat augmentation (docs/objectives.md §2.3): cells with fewer than `min_atoms`
/// atoms are grown first, then `iters` times with probability `p` a random periodic axis with
/// fewer than 2 repeats is doubled. Molecules are returned unchanged.
#[must_use]
pub fn cell_repeat(
    s: &Structure,
    min_atoms: usize,
    iters: usize,
    p: f64,
    rng: &mut SplitMix64,
) -> Structure {
    let Some(lattice) = s.lattice else {
        return s.clone();
    };
    let axes: Vec<usize> = (0..3).filter(|&a| s.pbc[a]).collect();
    let n = s.n_atoms();
    if axes.is_empty() || n == 0 {
        return s.clone();
    }
    let mut reps = [1usize; 3];
    if n < min_atoms {
        let extra = min_atoms.div_ceil(n) - 1;
        for _ in 0..extra {
            let open: Vec<usize> = axes.iter().copied().filter(|&a| reps[a] < 2).collect();
            if open.is_empty() {
                break;
            }
            reps[open[rng.range(0, open.len() - 1)]] += 1;
        }
    }
    for _ in 0..iters {
        if rng.uniform() < p {
            let a = axes[rng.range(0, axes.len() - 1)];
            if reps[a] < 2 {
                reps[a] += 1;
            }
        }
    }
    if reps == [1, 1, 1] {
        return s.clone();
    }
    let mut out = s.clone();
    out.numbers.clear();
    out.positions.clear();
    out.atom_arrays.clear();
    for i in 0..reps[0] {
        for j in 0..reps[1] {
            for k in 0..reps[2] {
                let shift: [f64; 3] = std::array::from_fn(|c| {
                    i as f64 * lattice[0][c] + j as f64 * lattice[1][c] + k as f64 * lattice[2][c]
                });
                for (z, p) in s.numbers.iter().zip(&s.positions) {
                    out.numbers.push(*z);
                    out.positions
                        .push([p[0] + shift[0], p[1] + shift[1], p[2] + shift[2]]);
                }
            }
        }
    }
    out.lattice = Some(std::array::from_fn(|a| {
        lattice[a].map(|v| v * reps[a] as f64)
    }));
    out
}
