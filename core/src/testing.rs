//! Test helpers shared by the crates' tests (feature `testing`): symmetry checks for backbones,
//! random structures, and a dtype cast for modules.
//!
//! How it works: [`check_symmetries`] evaluates a model on a structure and on transformed
//! copies of it, then compares: invariant (scalar) outputs must not change, equivariant
//! (vector) outputs must rotate with the input, and per-atom outputs must follow a permutation
//! of the atoms. Transformations: a random proper rotation, a random reflection (for O(3)
//! models), a random translation, a random permutation and, for crystals, moving one atom by a
//! lattice vector. The error of each is `max |ours − expected| / max |expected|`, compared with
//! a tolerance chosen per float dtype ([`tolerance`], as e3nn's `assert_equivariant`).

pub mod cases;
pub mod kernels;

use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::{DType, Tensor};

use crate::Structure;

/// burn's CPU device (the ndarray backend), named explicitly: `Device::default()` prefers a GPU
/// backend whenever one is compiled into the build (the `nucleate` binary enables wgpu, and
/// cargo unifies features across a workspace), and the reference tests must run on the CPU.
#[allow(deprecated)] // burn 0.22 deprecates ndarray in favour of flex; it is our CPU backend.
pub fn cpu_device() -> burn::tensor::Device {
    burn::tensor::Device::ndarray()
}

/// Serialises the tests that use an autodiff device within one test binary: concurrent backward
/// passes on burn's shared autodiff graph were seen to return zero gradients (position gradients
/// in the sampler, the embedding head's in SCD), and the sampler's check failed that way once
/// more while tests that only build autodiff graphs (forward passes, initialisation) ran beside
/// it; every test on an autodiff device takes the guard. Hold it for the whole test.
static AUTODIFF_TESTS: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The guard of [`AUTODIFF_TESTS`] and the autodiff version of `device`, for a test that calls
/// `backward` (core's tests and the native crate's use this one helper).
pub fn serial_autodiff(
    device: &burn::tensor::Device,
) -> (std::sync::MutexGuard<'static, ()>, burn::tensor::Device) {
    let guard = AUTODIFF_TESTS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    (guard, device.clone().autodiff())
}

/// Default tolerance on the relative error of a symmetry check for a float dtype.
pub fn tolerance(dtype: DType) -> f64 {
    match dtype {
        DType::F64 => 1e-9,
        DType::F32 | DType::Flex32 => 1e-4,
        _ => 1e-2,
    }
}

/// Casts every float parameter of `module` to `dtype`.
pub fn cast_module<M: Module>(module: M, dtype: DType) -> M {
    struct Cast(DType);
    impl ModuleMapper for Cast {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let dtype = self.0;
            param.map(|t| t.cast(dtype))
        }
    }
    module.map(&mut Cast(dtype))
}

/// What a model returns for one structure, flattened to f64.
///
/// # Shapes
/// - `scalars`: `[n_atoms, scalar_width]` invariant per-atom outputs (may be empty)
/// - `vectors`: `[n_atoms, 3, vector_width]` equivariant per-atom vectors, xyz in the middle
/// - `global`: per-structure invariant outputs (energies, …)
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SymmetryOutput {
    /// Per-atom invariants, row-major `[n_atoms, scalar_width]`.
    pub scalars: Vec<f64>,
    /// Values per atom in `scalars`.
    pub scalar_width: usize,
    /// Per-atom vectors, row-major `[n_atoms, 3, vector_width]`.
    pub vectors: Vec<f64>,
    /// Channels per atom in `vectors`.
    pub vector_width: usize,
    /// Per-structure invariants.
    pub global: Vec<f64>,
}

/// Which symmetries to check, and how strictly.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SymmetryCheck {
    /// Also check a reflection (O(3) rather than SO(3) equivariance); vectors are polar.
    pub reflection: bool,
    /// Largest allowed relative error (see [`tolerance`]).
    pub tolerance: f64,
    /// Seed of the random transformations.
    pub seed: u64,
}

/// One failed symmetry.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{transform}: {output} off by relative error {error:.3e} > {tolerance:.1e}")]
pub struct SymmetryError {
    /// The transformation (`"rotation"`, `"reflection"`, `"translation"`, `"permutation"`,
    /// `"lattice shift"`).
    pub transform: &'static str,
    /// Which output (`"scalars"`, `"vectors"`, `"global"`).
    pub output: &'static str,
    /// The relative error found.
    pub error: f64,
    /// The tolerance it exceeded.
    pub tolerance: f64,
}

/// The largest relative error of each transformation that was checked.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SymmetryReport {
    /// `(transform, output, relative error)` for every comparison made.
    pub errors: Vec<(&'static str, &'static str, f64)>,
}

impl SymmetryReport {
    /// The largest error of all comparisons.
    pub fn worst(&self) -> f64 {
        self.errors.iter().fold(0.0, |m, e| m.max(e.2))
    }
}

/// The tests' deterministic random generator: [`SplitMix64`](crate::rng::SplitMix64) bits with
/// the test helpers' own normal and integer draws (kept as they are, so the random test
/// structures stay the same) plus rotations and permutations.
#[derive(Debug, Clone)]
pub struct TestRng(crate::rng::SplitMix64);

impl TestRng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Self(crate::rng::SplitMix64::new(seed))
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in `[0, 1)`.
    pub fn uniform(&mut self) -> f64 {
        self.0.uniform()
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.uniform().max(1e-300);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    /// Uniform integer in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.uniform() * n as f64) as usize % n.max(1)
    }

    /// A uniformly random proper rotation matrix (from a random unit quaternion).
    pub fn rotation(&mut self) -> [[f64; 3]; 3] {
        let q: [f64; 4] = std::array::from_fn(|_| self.normal());
        if q.iter().all(|v| v.abs() < 1e-12) {
            return [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
        }
        crate::objective::denoise::rotation_from_quaternion(q)
    }

    /// A random permutation of `0..n`.
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut p: Vec<usize> = (0..n).collect();
        for k in (1..n).rev() {
            let j = self.below(k + 1);
            p.swap(k, j);
        }
        p
    }
}

/// A random molecule: `n` atoms with numbers from `elements`, positions in a cube of side
/// `size` Å, no two atoms closer than 0.7 Å.
pub fn random_molecule(rng: &mut TestRng, n: usize, elements: &[u8], size: f64) -> Structure {
    let mut pos: Vec<[f64; 3]> = Vec::with_capacity(n);
    let mut tries = 0;
    while pos.len() < n && tries < 100_000 {
        tries += 1;
        let p = [0; 3].map(|_| rng.uniform() * size);
        if pos.iter().all(|q| dist2(&p, q) > 0.49) {
            pos.push(p);
        }
    }
    let z = (0..pos.len())
        .map(|_| elements[rng.below(elements.len())])
        .collect();
    Structure::molecule(z, pos)
}

/// A random periodic crystal: a triclinic cell with edges `edge ± 20 %` and angles 70°–110°,
/// `n` atoms inside it at least 0.7 Å apart (ignoring images).
pub fn random_crystal(rng: &mut TestRng, n: usize, elements: &[u8], edge: f64) -> Structure {
    let mut s = random_molecule(rng, n, elements, 1.0);
    let len = [0; 3].map(|_| edge * (0.8 + 0.4 * rng.uniform()));
    let ang = [0; 3].map(|_| (70.0 + 40.0 * rng.uniform()).to_radians());
    let (alpha, beta, gamma) = (ang[0], ang[1], ang[2]);
    let a = [len[0], 0.0, 0.0];
    let b = [len[1] * gamma.cos(), len[1] * gamma.sin(), 0.0];
    let cx = len[2] * beta.cos();
    let cy = len[2] * (alpha.cos() - beta.cos() * gamma.cos()) / gamma.sin();
    let cz = (len[2] * len[2] - cx * cx - cy * cy).max(1e-6).sqrt();
    let lattice = [a, b, [cx, cy, cz]];
    for p in &mut s.positions {
        let f = [rng.uniform(), rng.uniform(), rng.uniform()];
        *p = [0, 1, 2].map(|k| (0..3).map(|r| f[r] * lattice[r][k]).sum());
    }
    s.lattice = Some(lattice);
    s.pbc = [true; 3];
    s
}

fn dist2(a: &[f64; 3], b: &[f64; 3]) -> f64 {
    (0..3).map(|k| (a[k] - b[k]).powi(2)).sum()
}

fn apply(m: &[[f64; 3]; 3], v: [f64; 3]) -> [f64; 3] {
    [0, 1, 2].map(|r| (0..3).map(|c| m[r][c] * v[c]).sum())
}

/// The structure with positions and lattice vectors transformed by `m` (an orthogonal matrix).
fn transform_structure(s: &Structure, m: &[[f64; 3]; 3]) -> Structure {
    let mut t = s.clone();
    for p in &mut t.positions {
        *p = apply(m, *p);
    }
    if let Some(l) = &mut t.lattice {
        for row in l.iter_mut() {
            *row = apply(m, *row);
        }
    }
    t
}

/// Vectors `[n, 3, w]` transformed by `m` along the middle axis.
fn transform_vectors(v: &[f64], width: usize, m: &[[f64; 3]; 3]) -> Vec<f64> {
    if width == 0 {
        return Vec::new();
    }
    let mut out = vec![0.0; v.len()];
    for (atom_in, atom_out) in v.chunks(3 * width).zip(out.chunks_mut(3 * width)) {
        for c in 0..width {
            let x = [atom_in[c], atom_in[width + c], atom_in[2 * width + c]];
            let y = apply(m, x);
            for k in 0..3 {
                atom_out[k * width + c] = y[k];
            }
        }
    }
    out
}

/// Rows of `[n, row]` reordered: `out[k] = v[perm[k]]`.
fn permute_rows(v: &[f64], row: usize, perm: &[usize]) -> Vec<f64> {
    if row == 0 {
        return Vec::new();
    }
    perm.iter()
        .flat_map(|&p| v[p * row..(p + 1) * row].iter().copied())
        .collect()
}

/// `max |a − b| / max |b|`; `INFINITY` when the lengths differ.
pub fn relative_error(a: &[f64], b: &[f64]) -> f64 {
    if a.len() != b.len() {
        return f64::INFINITY;
    }
    let scale = b.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    let diff = a.iter().zip(b).fold(0.0f64, |m, (x, y)| {
        if (x - y).is_nan() {
            f64::INFINITY
        } else {
            m.max((x - y).abs())
        }
    });
    if diff == 0.0 {
        0.0
    } else {
        diff / scale.max(1e-30)
    }
}

/// Checks invariance of `scalars` / `global` and equivariance of `vectors` of `model` on
/// `structure` under the transformations listed in the module docs.
///
/// # Errors
/// The first [`SymmetryError`] whose relative error exceeds `check.tolerance`.
pub fn check_symmetries(
    model: &dyn Fn(&Structure) -> SymmetryOutput,
    structure: &Structure,
    check: &SymmetryCheck,
) -> Result<SymmetryReport, SymmetryError> {
    let mut rng = TestRng::new(check.seed);
    let base = model(structure);
    let n = structure.n_atoms();
    let mut report = SymmetryReport::default();
    let mut compare = |transform: &'static str,
                       output: &'static str,
                       got: &[f64],
                       expected: &[f64]|
     -> Result<(), SymmetryError> {
        let error = relative_error(got, expected);
        report.errors.push((transform, output, error));
        if error > check.tolerance {
            return Err(SymmetryError {
                transform,
                output,
                error,
                tolerance: check.tolerance,
            });
        }
        Ok(())
    };
    let mut check_orthogonal = |name: &'static str, m: [[f64; 3]; 3]| {
        let out = model(&transform_structure(structure, &m));
        compare(name, "scalars", &out.scalars, &base.scalars)?;
        compare(name, "global", &out.global, &base.global)?;
        let expected = transform_vectors(&base.vectors, base.vector_width, &m);
        compare(name, "vectors", &out.vectors, &expected)
    };
    check_orthogonal("rotation", rng.rotation())?;
    if check.reflection {
        let mut m = rng.rotation();
        for row in &mut m {
            row[0] = -row[0]; // a rotation times diag(−1, 1, 1): determinant −1
        }
        check_orthogonal("reflection", m)?;
    }

    let shift = [0; 3].map(|_| 10.0 * rng.normal());
    let mut moved = structure.clone();
    for p in &mut moved.positions {
        *p = [0, 1, 2].map(|k| p[k] + shift[k]);
    }
    let out = model(&moved);
    compare("translation", "scalars", &out.scalars, &base.scalars)?;
    compare("translation", "global", &out.global, &base.global)?;
    compare("translation", "vectors", &out.vectors, &base.vectors)?;

    let perm = rng.permutation(n);
    let mut permuted = structure.clone();
    permuted.numbers = perm.iter().map(|&p| structure.numbers[p]).collect();
    permuted.positions = perm.iter().map(|&p| structure.positions[p]).collect();
    let out = model(&permuted);
    let ps = permute_rows(&base.scalars, base.scalar_width, &perm);
    let pv = permute_rows(&base.vectors, 3 * base.vector_width, &perm);
    compare("permutation", "scalars", &out.scalars, &ps)?;
    compare("permutation", "global", &out.global, &base.global)?;
    compare("permutation", "vectors", &out.vectors, &pv)?;

    if let (Some(l), true) = (structure.lattice, structure.pbc.iter().all(|&p| p) && n > 0) {
        let atom = rng.below(n);
        let mut k: [f64; 3] = [0; 3].map(|_| rng.below(5) as f64 - 2.0);
        if k == [0.0; 3] {
            k[0] = 1.0;
        }
        let mut lattice_moved = structure.clone();
        let p = &mut lattice_moved.positions[atom];
        *p = [0, 1, 2].map(|c| p[c] + (0..3).map(|r| k[r] * l[r][c]).sum::<f64>());
        let out = model(&lattice_moved);
        compare("lattice shift", "scalars", &out.scalars, &base.scalars)?;
        compare("lattice shift", "global", &out.global, &base.global)?;
        compare("lattice shift", "vectors", &out.vectors, &base.vectors)?;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn centroid_model(s: &Structure) -> SymmetryOutput {
        // Invariant: distances to the centroid; equivariant: vectors to the centroid. Correct
        // for molecules, wrong under the lattice shift of a crystal.
        let c = s.centroid();
        let vecs: Vec<[f64; 3]> = s
            .positions
            .iter()
            .map(|p| [0, 1, 2].map(|k| p[k] - c[k]))
            .collect();
        SymmetryOutput {
            scalars: vecs.iter().map(|v| dist2(v, &[0.0; 3]).sqrt()).collect(),
            scalar_width: 1,
            vectors: vecs.iter().flat_map(|v| *v).collect(),
            vector_width: 1,
            global: vec![vecs.iter().map(|v| dist2(v, &[0.0; 3])).sum()],
        }
    }

    fn check(reflection: bool) -> SymmetryCheck {
        SymmetryCheck {
            reflection,
            tolerance: 1e-9,
            seed: 7,
        }
    }

    #[test]
    fn an_equivariant_function_passes() {
        let mut rng = TestRng::new(1);
        let s = random_molecule(&mut rng, 6, &[1, 6, 8], 4.0);
        let report = check_symmetries(&centroid_model, &s, &check(true)).unwrap();
        assert_eq!(report.errors.len(), 3 * 4); // no lattice shift for a molecule
        assert!(report.worst() < 1e-12, "{report:?}");
    }

    #[test]
    fn broken_symmetries_are_caught() {
        let mut rng = TestRng::new(2);
        let s = random_molecule(&mut rng, 5, &[1, 6], 4.0);
        // Raw x coordinates as an "invariant": fails under rotation.
        let raw = |s: &Structure| SymmetryOutput {
            scalars: s.positions.iter().map(|p| p[0]).collect(),
            scalar_width: 1,
            ..SymmetryOutput::default()
        };
        let e = check_symmetries(&raw, &s, &check(false)).unwrap_err();
        assert_eq!((e.transform, e.output), ("rotation", "scalars"));
        // A pseudo-scalar (signed volume of the first three centred atoms): invariant under
        // rotations, flips under reflections.
        let chiral = |s: &Structure| {
            let v = centroid_model(s).vectors;
            let (a, b, c) = (&v[0..3], &v[3..6], &v[6..9]);
            let det = a[0] * (b[1] * c[2] - b[2] * c[1]) - a[1] * (b[0] * c[2] - b[2] * c[0])
                + a[2] * (b[0] * c[1] - b[1] * c[0]);
            SymmetryOutput {
                global: vec![det],
                ..SymmetryOutput::default()
            }
        };
        assert!(
            check_symmetries(&chiral, &s, &check(false))
                .is_err_and(|e| e.transform == "permutation")
        );
        let e = check_symmetries(&chiral, &s, &check(true)).unwrap_err();
        assert_eq!(e.transform, "reflection");
        // The centroid model ignores periodic images: caught by the lattice shift.
        let crystal = random_crystal(&mut rng, 4, &[8, 14], 5.0);
        let e = check_symmetries(&centroid_model, &crystal, &check(true)).unwrap_err();
        assert_eq!(e.transform, "lattice shift");
    }

    #[test]
    fn rotations_are_orthogonal_with_determinant_one() {
        let mut rng = TestRng::new(3);
        for _ in 0..10 {
            let r = rng.rotation();
            for i in 0..3 {
                for j in 0..3 {
                    let dot: f64 = (0..3).map(|k| r[i][k] * r[j][k]).sum();
                    assert!((dot - f64::from(u8::from(i == j))).abs() < 1e-12);
                }
            }
            let det = r[0][0] * (r[1][1] * r[2][2] - r[1][2] * r[2][1])
                - r[0][1] * (r[1][0] * r[2][2] - r[1][2] * r[2][0])
                + r[0][2] * (r[1][0] * r[2][1] - r[1][1] * r[2][0]);
            assert!((det - 1.0).abs() < 1e-12);
        }
    }
}
