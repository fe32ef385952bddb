//! The backbones under test, with fixed weights, runnable on any burn device.
//!
//! [`Backbones::new`] builds a small ET, two CTs (with and without the whitened vector norm),
//! an EGNN, EDM's EGNN dynamics and UniGEM's two-branch EGNN once on the CPU; [`Backbones::cases`]
//! moves copies to a device and wraps each as a closure `Structure → SymmetryOutput`. The symmetry
//! tests in core run every case through [`check_symmetries`](super::check_symmetries) on the CPU;
//! the backend tests in `native` run the same cases on the wgpu backend, through the same checks,
//! and compare the two devices output by output.

use burn::module::Module;
use burn::tensor::{DType, Device, Tensor, TensorData};

use super::{SymmetryOutput, TestRng, cast_module, cpu_device, random_crystal, random_molecule};
use crate::Structure;
use crate::backbone::{
    AtomGraph, Ct, CtConfig, Egnn, EgnnConfig, EgnnDynamics, EquivariantBlock, Et, EtConfig,
    UniGem, UniGemConfig, VecPreNormKind,
};
use crate::graph::{RadiusGraphOptions, radius_graph_batch};
use crate::head::{EquivariantScalarHead, Readout};

/// A backbone wrapped for the checks.
pub struct BackboneCase {
    /// What it is (`"ET"`, `"CT"`, `"CT whitened"`, `"EGNN"`).
    pub name: &'static str,
    /// O(3) model: reflections must be symmetries too.
    pub reflection: bool,
    /// The model on one structure.
    pub model: Box<dyn Fn(&Structure) -> SymmetryOutput>,
}

impl std::fmt::Debug for BackboneCase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackboneCase")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// The structures every case is checked on: a random 7-atom molecule and a random 3-atom
/// triclinic crystal whose cell edges are below the cutoff (atoms see their own images).
pub fn structures() -> Vec<Structure> {
    let mut rng = TestRng::new(11);
    vec![
        random_molecule(&mut rng, 7, &[1, 6, 7, 8], 4.0),
        random_crystal(&mut rng, 3, &[8, 14, 22], 3.5),
    ]
}

/// A tensor's values as f64.
///
/// # Panics
/// On a tensor whose values cannot be read back (a test failure).
pub fn values<const D: usize>(t: Tensor<D>) -> Vec<f64> {
    t.into_data()
        .try_into_vec_as::<f64>()
        .expect("float tensor")
}

/// The radius graph with self-loops that ET and CT use.
///
/// # Panics
/// On a structure the graph builder rejects (a test failure).
pub fn graph(s: &Structure, cutoff: f64, dtype: DType, device: &Device) -> AtomGraph {
    let options = RadiusGraphOptions {
        self_loops: true,
        ..RadiusGraphOptions::with_cutoff(cutoff)
    };
    let structures = std::slice::from_ref(s);
    let g = radius_graph_batch(structures, &options).expect("radius graph");
    AtomGraph::from_batched_with_dtype(structures, &g, device, dtype).expect("graph tensors")
}

/// Small ET (16 channels, 2 layers, 4 heads) with trainable RBF and a scalar head.
fn et_config() -> EtConfig {
    EtConfig::new()
        .with_hidden_channels(16)
        .with_num_layers(2)
        .with_num_heads(4)
        .with_num_rbf(8)
        .with_trainable_rbf(true)
}

/// Small CT (16 channels, 3 layers) with the given vector pre-norm.
fn ct_config(kind: VecPreNormKind, whitened: bool) -> CtConfig {
    CtConfig::new()
        .with_et(
            EtConfig::new()
                .with_hidden_channels(16)
                .with_num_layers(3)
                .with_num_heads(4)
                .with_num_rbf(8),
        )
        .with_vec_prenorm(kind)
        .with_vec_post_norm(whitened)
}

/// A CT wrapped as a case; the condition is a fixed invariant vector.
///
/// # Panics
/// On a configuration the backbone rejects (a test failure).
pub fn ct_case(
    kind: VecPreNormKind,
    whitened: bool,
    dtype: DType,
    device: &Device,
) -> BackboneCase {
    let config = ct_config(kind, whitened);
    let ct: Ct = cast_module(config.init(device).expect("CT"), dtype);
    ct_closure("CT", ct, config.et.cutoff_upper, dtype, device)
}

fn ct_closure(
    name: &'static str,
    ct: Ct,
    cutoff: f64,
    dtype: DType,
    device: &Device,
) -> BackboneCase {
    let device = device.clone();
    BackboneCase {
        name,
        reflection: true,
        model: Box::new(move |s: &Structure| {
            let g = graph(s, cutoff, dtype, &device);
            // An invariant condition: the same vector whatever the pose.
            let cond = Tensor::<2>::ones([1, 16], (&device, dtype)).mul_scalar(0.3);
            let out = ct.forward(&g, Some(cond)).expect("CT forward");
            SymmetryOutput {
                scalars: values(out.x),
                scalar_width: 16,
                vectors: values(out.vec),
                vector_width: 16,
                global: Vec::new(),
            }
        }),
    }
}

/// One-hot node features over `[H, C, N, O, Si, Ti]` (unknown elements: all zeros).
fn one_hot(s: &Structure, dtype: DType, device: &Device) -> Tensor<2> {
    const TYPES: [u8; 6] = [1, 6, 7, 8, 14, 22];
    let n = s.n_atoms();
    let v: Vec<f64> = s
        .numbers
        .iter()
        .flat_map(|z| TYPES.map(|t| f64::from(u8::from(t == *z))))
        .collect();
    Tensor::from_data(TensorData::new(v, [n, 6]), (device, dtype))
}

fn egnn_graph(s: &Structure, dtype: DType, device: &Device) -> AtomGraph {
    if s.pbc.iter().any(|&p| p) {
        // Crystals: a radius graph without self-loops (images are ordinary neighbours).
        let structures = std::slice::from_ref(s);
        let g = radius_graph_batch(structures, &RadiusGraphOptions::with_cutoff(4.0))
            .expect("radius graph");
        AtomGraph::from_batched_with_dtype(structures, &g, device, dtype).expect("graph tensors")
    } else {
        AtomGraph::complete_with_dtype(std::slice::from_ref(s), device, dtype)
            .expect("graph tensors")
    }
}

/// `blocks` consecutive `[n, w]` arrays → one `[n, blocks·w]` array.
fn interleave(v: &[f64], n: usize, w: usize, blocks: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(v.len());
    for i in 0..n {
        for b in 0..blocks {
            let start = b * n * w + i * w;
            out.extend_from_slice(&v[start..start + w]);
        }
    }
    out
}

/// `blocks` consecutive `[n, 3]` arrays → one `[n, 3, blocks]` array.
fn interleave_vectors(v: &[f64], n: usize, blocks: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(v.len());
    for i in 0..n {
        for c in 0..3 {
            for b in 0..blocks {
                out.push(v[b * n * 3 + i * 3 + c]);
            }
        }
    }
    out
}

/// Runs `case` through [`check_symmetries`](super::check_symmetries) on every structure of
/// [`structures`] and returns the worst relative error per structure.
///
/// # Panics
/// When a symmetry is broken beyond `tolerance`, when the equivariant output vanishes (the
/// check would be vacuous), or when fewer transformations than expected were checked.
pub fn check_case(case: &BackboneCase, tolerance: f64, seed: u64) -> Vec<f64> {
    let mut worst = Vec::new();
    for (k, s) in structures().iter().enumerate() {
        let out = (case.model)(s);
        assert!(
            out.vectors.iter().any(|v| v.abs() > 1e-6),
            "{}: the equivariant output vanishes",
            case.name
        );
        let check = super::SymmetryCheck {
            reflection: case.reflection,
            tolerance,
            seed: seed + k as u64,
        };
        let report = super::check_symmetries(case.model.as_ref(), s, &check)
            .unwrap_or_else(|e| panic!("{} on structure {k}: {e}", case.name));
        // rotation, reflection, translation, permutation (+ lattice moves for crystals), each
        // on scalars, vectors and global outputs.
        assert!(report.errors.len() >= 8, "{}: {report:?}", case.name);
        worst.push(report.worst());
    }
    worst
}

/// The backbones of the checks, built once on the CPU.
#[derive(Clone)]
pub struct Backbones {
    dtype: DType,
    et: Et,
    et_head: EquivariantScalarHead,
    et_cutoff: f64,
    ct: Ct,
    ct_whitened: Ct,
    ct_cutoff: f64,
    egnn: Egnn,
    dynamics: EgnnDynamics,
    unigem: UniGem,
}

impl Backbones {
    /// Builds every backbone on the CPU in `dtype` (weights from burn's CPU generator).
    ///
    /// # Panics
    /// On a configuration a backbone rejects (a test failure).
    pub fn new(dtype: DType) -> Self {
        let device = cpu_device();
        let et_config = et_config();
        let ct_config = ct_config(VecPreNormKind::Equivariant, false);
        let egnn_config = EgnnConfig::new().with_hidden_nf(16).with_n_layers(3);
        let mut dynamics: EgnnDynamics = cast_module(
            EgnnDynamics::new(&egnn_config, 6, 0, &device).expect("EGNN dynamics"),
            dtype,
        );
        let mut egnn: Egnn = cast_module(
            egnn_config
                .clone()
                .with_in_node_nf(6)
                .init(&device)
                .expect("EGNN"),
            dtype,
        );
        let mut unigem: UniGem = cast_module(
            UniGemConfig::new()
                .with_egnn(egnn_config)
                .with_branch_layers(2)
                .init(&device)
                .expect("UniGEM"),
            dtype,
        );
        // EDM initialises the last coordinate layer with gain 0.001; trained models take larger
        // steps. Scale it up so that the equivariant output is not tiny next to f32 rounding.
        let grow = |b: &mut EquivariantBlock| {
            let w = b.coord.coord_mlp2.weight.clone();
            b.coord.coord_mlp2.weight = w.map(|w| w.mul_scalar(300.0));
        };
        egnn.blocks.iter_mut().for_each(grow);
        dynamics.egnn.blocks.iter_mut().for_each(grow);
        grow(&mut unigem.shared);
        unigem.main.iter_mut().for_each(grow);
        unigem.branch.iter_mut().for_each(grow);
        Self {
            dtype,
            et: cast_module(et_config.init(&device).expect("ET"), dtype),
            et_head: cast_module(EquivariantScalarHead::new(16, &device), dtype),
            et_cutoff: et_config.cutoff_upper,
            ct: cast_module(ct_config.init(&device).expect("CT"), dtype),
            ct_whitened: cast_module(
                ct_config
                    .clone()
                    .with_vec_post_norm(true)
                    .init(&device)
                    .expect("CT"),
                dtype,
            ),
            ct_cutoff: ct_config.et.cutoff_upper,
            egnn,
            dynamics,
            unigem,
        }
    }

    /// The same weights in another float dtype (e.g. an f64 reference for f32 results).
    #[must_use]
    pub fn with_dtype(&self, dtype: DType) -> Self {
        Self {
            dtype,
            et: cast_module(self.et.clone(), dtype),
            et_head: cast_module(self.et_head.clone(), dtype),
            et_cutoff: self.et_cutoff,
            ct: cast_module(self.ct.clone(), dtype),
            ct_whitened: cast_module(self.ct_whitened.clone(), dtype),
            ct_cutoff: self.ct_cutoff,
            egnn: cast_module(self.egnn.clone(), dtype),
            dynamics: cast_module(self.dynamics.clone(), dtype),
            unigem: cast_module(self.unigem.clone(), dtype),
        }
    }

    /// Copies of every backbone on `device`, wrapped as cases.
    pub fn cases(&self, device: &Device) -> Vec<BackboneCase> {
        let dtype = self.dtype;
        let et = self.et.clone().to_device(device);
        let head = self.et_head.clone().to_device(device);
        let cutoff = self.et_cutoff;
        let d = device.clone();
        let et_case = BackboneCase {
            name: "ET",
            reflection: true,
            model: Box::new(move |s: &Structure| {
                let g = graph(s, cutoff, dtype, &d);
                let out = et.forward(&g).expect("ET forward");
                let y = head.forward(out.x.clone(), out.vec.clone());
                let energy = Readout::new().forward(y, &g.batch);
                SymmetryOutput {
                    scalars: values(out.x),
                    scalar_width: 16,
                    vectors: values(out.vec),
                    vector_width: 16,
                    global: values(energy),
                }
            }),
        };
        vec![
            et_case,
            ct_closure(
                "CT",
                self.ct.clone().to_device(device),
                self.ct_cutoff,
                dtype,
                device,
            ),
            ct_closure(
                "CT whitened",
                self.ct_whitened.clone().to_device(device),
                self.ct_cutoff,
                dtype,
                device,
            ),
            self.egnn_case(device),
        ]
    }

    /// EGNN, EDM's dynamics and UniGEM's two branches as one case: per-atom outputs side by
    /// side (the dynamics and UniGEM on molecules only, as they are used).
    fn egnn_case(&self, device: &Device) -> BackboneCase {
        let dtype = self.dtype;
        let egnn = self.egnn.clone().to_device(device);
        let dynamics = self.dynamics.clone().to_device(device);
        let unigem = self.unigem.clone().to_device(device);
        let d = device.clone();
        BackboneCase {
            name: "EGNN",
            reflection: true,
            model: Box::new(move |s: &Structure| {
                let t = Tensor::<1>::from_floats([0.4], &d).cast(dtype);
                let g = egnn_graph(s, dtype, &d);
                let h = one_hot(s, dtype, &d);
                let out = egnn.forward(&g, h.clone()).expect("EGNN forward");
                let dx = out.x.sub(g.pos.clone());
                let mut scalars = values(out.h);
                let mut vectors = values(dx);
                let mut global = Vec::new();
                if !s.pbc.iter().any(|&p| p) {
                    let (eps_x, eps_h) = dynamics
                        .forward(&g, h.clone(), t.clone(), None)
                        .expect("dynamics forward");
                    scalars.extend(values(eps_h));
                    vectors.extend(values(eps_x));
                    let u = unigem
                        .forward(&g, h.narrow(1, 0, 6), t, &[true])
                        .expect("UniGEM forward");
                    scalars.extend(values(u.atom_types));
                    vectors.extend(values(u.eps_x));
                    global.extend(values(u.property));
                }
                // Rows per atom: concatenate the blocks atom-wise.
                let n = s.n_atoms();
                let blocks = scalars.len() / n.max(1) / 6;
                let vblocks = vectors.len() / n.max(1) / 3;
                SymmetryOutput {
                    scalars: interleave(&scalars, n, 6, blocks),
                    scalar_width: 6 * blocks,
                    vectors: interleave_vectors(&vectors, n, vblocks),
                    vector_width: vblocks,
                    global,
                }
            }),
        }
    }
}
