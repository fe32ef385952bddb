//! Every backbone through [`crate::testing::check_symmetries`], in f32 and f64, on a random
//! molecule and a random small triclinic crystal (cell edges below the cutoff, so atoms see
//! their own periodic images).

use burn::tensor::{DType, Device, Tensor};

use super::{
    AtomGraph, Ct, CtConfig, EgnnConfig, EgnnDynamics, EquivariantBlock, Et, EtConfig,
    UniGemConfig, VecPreNormKind,
};
use crate::Structure;
use crate::graph::{RadiusGraphOptions, radius_graph_batch};
use crate::head::{EquivariantScalarHead, Readout};
use crate::testing::{
    SymmetryCheck, SymmetryOutput, TestRng, cast_module, check_symmetries, random_crystal,
    random_molecule, tolerance,
};

fn values<const D: usize>(t: Tensor<D>) -> Vec<f64> {
    t.into_data().try_into_vec_as::<f64>().unwrap()
}

fn graph(s: &Structure, cutoff: f64, dtype: DType, device: &Device) -> AtomGraph {
    let options = RadiusGraphOptions {
        self_loops: true,
        ..RadiusGraphOptions::with_cutoff(cutoff)
    };
    let structures = std::slice::from_ref(s);
    let g = radius_graph_batch(structures, &options).unwrap();
    AtomGraph::from_batched_with_dtype(structures, &g, device, dtype).unwrap()
}

fn structures() -> Vec<Structure> {
    let mut rng = TestRng::new(11);
    vec![
        random_molecule(&mut rng, 7, &[1, 6, 7, 8], 4.0),
        random_crystal(&mut rng, 3, &[8, 14, 22], 3.5),
    ]
}

fn check_et(dtype: DType) {
    let device = Device::default();
    let config = EtConfig::new()
        .with_hidden_channels(16)
        .with_num_layers(2)
        .with_num_heads(4)
        .with_num_rbf(8)
        .with_trainable_rbf(true);
    let et: Et = cast_module(config.init(&device).unwrap(), dtype);
    let head = cast_module(EquivariantScalarHead::new(16, &device), dtype);
    let model = |s: &Structure| {
        let g = graph(s, config.cutoff_upper, dtype, &device);
        let out = et.forward(&g).unwrap();
        let y = head.forward(out.x.clone(), out.vec.clone());
        let energy = Readout::new().forward(y, g.batch.clone(), 1);
        SymmetryOutput {
            scalars: values(out.x),
            scalar_width: 16,
            vectors: values(out.vec),
            vector_width: 16,
            global: values(energy),
        }
    };
    for (k, s) in structures().iter().enumerate() {
        let check = SymmetryCheck {
            reflection: true,
            tolerance: tolerance(dtype),
            seed: 100 + k as u64,
        };
        let out = model(s);
        assert_eq!(out.global.len(), 1);
        assert!(out.vectors.iter().any(|v| v.abs() > 1e-3), "vectors vanish");
        let report = check_symmetries(&model, s, &check).unwrap_or_else(|e| panic!("{e}"));
        assert!(report.errors.len() >= 12);
        eprintln!(
            "ET {dtype:?} structure {k}: worst relative error {:.2e}",
            report.worst()
        );
    }
}

#[test]
fn et_is_invariant_and_equivariant_f32() {
    check_et(DType::F32);
}

#[test]
fn et_is_invariant_and_equivariant_f64() {
    check_et(DType::F64);
}

/// A small CT; `whitened` turns on the whitened vector LayerNorm after every layer.
fn ct_model(
    kind: VecPreNormKind,
    whitened: bool,
    dtype: DType,
    device: &Device,
) -> Box<dyn Fn(&Structure) -> SymmetryOutput> {
    let config = CtConfig::new()
        .with_et(
            EtConfig::new()
                .with_hidden_channels(16)
                .with_num_layers(3)
                .with_num_heads(4)
                .with_num_rbf(8),
        )
        .with_vec_prenorm(kind)
        .with_vec_post_norm(whitened);
    let ct: Ct = cast_module(config.init(device).unwrap(), dtype);
    let cutoff = config.et.cutoff_upper;
    let device = device.clone();
    Box::new(move |s: &Structure| {
        let g = graph(s, cutoff, dtype, &device);
        // An invariant condition: the same vector whatever the pose.
        let cond = Tensor::<2>::ones([1, 16], (&device, dtype)).mul_scalar(0.3);
        let out = ct.forward(&g, Some(cond)).unwrap();
        SymmetryOutput {
            scalars: values(out.x),
            scalar_width: 16,
            vectors: values(out.vec),
            vector_width: 16,
            global: Vec::new(),
        }
    })
}

fn check_ct(dtype: DType) {
    let device = Device::default();
    let plain = ct_model(VecPreNormKind::Equivariant, false, dtype, &device);
    let whitened = ct_model(VecPreNormKind::Equivariant, true, dtype, &device);
    let structures = structures();
    let cases = structures
        .iter()
        .enumerate()
        .flat_map(|(k, s)| [(k, s, &plain), (k + 10, s, &whitened)]);
    for (k, s, model) in cases {
        let check = SymmetryCheck {
            reflection: true,
            tolerance: tolerance(dtype),
            seed: 200 + k as u64,
        };
        assert!(
            model(s).vectors.iter().any(|v| v.abs() > 1e-3),
            "vectors vanish"
        );
        let report = check_symmetries(model.as_ref(), s, &check).unwrap_or_else(|e| panic!("{e}"));
        eprintln!(
            "CT {dtype:?} case {k}: worst relative error {:.2e}",
            report.worst()
        );
    }
}

#[test]
fn ct_is_invariant_and_equivariant_f32() {
    check_ct(DType::F32);
}

#[test]
fn ct_is_invariant_and_equivariant_f64() {
    check_ct(DType::F64);
}

#[test]
fn ct_with_checkpoint_dyt_prenorm_is_not_equivariant() {
    // SCD's elementwise DyT vector pre-norm (backbones.md §3.4 caveat): the checker must see it.
    let device = Device::default();
    let model = ct_model(VecPreNormKind::DyT, false, DType::F64, &device);
    let check = SymmetryCheck {
        reflection: true,
        tolerance: tolerance(DType::F64),
        seed: 300,
    };
    let err = check_symmetries(model.as_ref(), &structures()[0], &check).unwrap_err();
    assert_eq!(err.transform, "rotation");
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
    Tensor::from_data(burn::tensor::TensorData::new(v, [n, 6]), (device, dtype))
}

fn egnn_graph(s: &Structure, dtype: DType, device: &Device) -> AtomGraph {
    if s.pbc.iter().any(|&p| p) {
        // Crystals: a radius graph without self-loops (images are ordinary neighbours).
        let g = radius_graph_batch(
            std::slice::from_ref(s),
            &RadiusGraphOptions::with_cutoff(4.0),
        )
        .unwrap();
        AtomGraph::from_batched_with_dtype(std::slice::from_ref(s), &g, device, dtype).unwrap()
    } else {
        AtomGraph::complete_with_dtype(std::slice::from_ref(s), device, dtype).unwrap()
    }
}

fn check_egnn(dtype: DType) {
    let device = Device::default();
    let config = EgnnConfig::new().with_hidden_nf(16).with_n_layers(3);
    let mut dynamics: EgnnDynamics =
        cast_module(EgnnDynamics::new(&config, 6, 0, &device).unwrap(), dtype);
    let mut egnn = cast_module(
        config.clone().with_in_node_nf(6).init(&device).unwrap(),
        dtype,
    );
    let mut unigem = cast_module(
        UniGemConfig::new()
            .with_egnn(config.clone())
            .with_branch_layers(2)
            .init(&device)
            .unwrap(),
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
    let t = Tensor::<1>::from_floats([0.4], &device).cast(dtype);
    let model = |s: &Structure| {
        let g = egnn_graph(s, dtype, &device);
        let h = one_hot(s, dtype, &device);
        let out = egnn.forward(&g, h.clone()).unwrap();
        let dx = out.x.sub(g.pos.clone());
        let mut scalars = values(out.h);
        let mut vectors = values(dx);
        let mut global = Vec::new();
        if !s.pbc.iter().any(|&p| p) {
            let (eps_x, eps_h) = dynamics.forward(&g, h.clone(), t.clone(), None).unwrap();
            scalars.extend(values(eps_h));
            vectors.extend(values(eps_x));
            let u = unigem
                .forward(&g, h.narrow(1, 0, 6), t.clone(), &[true])
                .unwrap();
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
    };
    for (k, s) in structures().iter().enumerate() {
        let check = SymmetryCheck {
            reflection: true,
            tolerance: tolerance(dtype),
            seed: 400 + k as u64,
        };
        let out = model(s);
        assert!(
            out.vectors.iter().any(|v| v.abs() > 1e-6),
            "coordinates do not move"
        );
        let report = check_symmetries(&model, s, &check).unwrap_or_else(|e| panic!("{e}"));
        eprintln!(
            "EGNN {dtype:?} structure {k}: worst relative error {:.2e}",
            report.worst()
        );
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

#[test]
fn egnn_is_invariant_and_equivariant_f32() {
    check_egnn(DType::F32);
}

#[test]
fn egnn_is_invariant_and_equivariant_f64() {
    check_egnn(DType::F64);
}

#[test]
fn et_forces_match_finite_differences_and_are_finite_on_self_loops() {
    // Energy of a small periodic crystal (self-loops and self-images present) in f64 on an
    // autodiff device; −∂E/∂pos by backprop against central differences.
    let device = Device::default().autodiff();
    let dtype = DType::F64;
    let config = EtConfig::new()
        .with_hidden_channels(8)
        .with_num_layers(2)
        .with_num_heads(2)
        .with_num_rbf(6);
    let et: Et = cast_module(config.init(&device).unwrap(), dtype);
    let head = cast_module(EquivariantScalarHead::new(8, &device), dtype);
    let s = structures().remove(1);
    let energy = |s: &Structure, track: bool| {
        let g = graph(s, config.cutoff_upper, dtype, &device);
        let pos = if track {
            g.pos.clone().require_grad()
        } else {
            g.pos.clone()
        };
        let g = g.with_pos(pos.clone());
        let out = et.forward(&g).unwrap();
        let y = head.forward(out.x, out.vec);
        (Readout::new().forward(y, g.batch.clone(), 1), pos)
    };
    let (e, pos) = energy(&s, true);
    let grads = e.backward();
    let grad = values(pos.grad(&grads).expect("gradient w.r.t. positions"));
    assert!(grad.iter().all(|g| g.is_finite()), "{grad:?}");
    let h = 1e-5;
    for atom in 0..s.n_atoms() {
        for c in 0..3 {
            let mut plus = s.clone();
            plus.positions[atom][c] += h;
            let mut minus = s.clone();
            minus.positions[atom][c] -= h;
            let fd = (values(energy(&plus, false).0)[0] - values(energy(&minus, false).0)[0])
                / (2.0 * h);
            let ad = grad[atom * 3 + c];
            assert!(
                (fd - ad).abs() <= 1e-6 * (1.0 + ad.abs()),
                "atom {atom} axis {c}: finite difference {fd}, backprop {ad}"
            );
        }
    }
}

#[test]
fn rotated_copy_in_the_same_batch_has_the_same_energy() {
    // MACE's check: a structure and a rotated copy batched together give equal energies, and
    // a 2×1×1 supercell of a crystal has twice the unit cell's (sum readout).
    let device = Device::default();
    let config = EtConfig::new()
        .with_hidden_channels(16)
        .with_num_layers(2)
        .with_num_heads(4)
        .with_num_rbf(8);
    let et = config.init(&device).unwrap();
    let head = EquivariantScalarHead::new(16, &device);
    let mut rng = TestRng::new(21);
    let s = structures().remove(1);
    let r = rng.rotation();
    let mut rotated = s.clone();
    for p in &mut rotated.positions {
        *p = [0, 1, 2].map(|i| (0..3).map(|k| r[i][k] * p[k]).sum());
    }
    if let Some(l) = &mut rotated.lattice {
        for row in l.iter_mut() {
            *row = [0, 1, 2].map(|i| (0..3).map(|k| r[i][k] * row[k]).sum());
        }
    }
    let mut supercell = s.clone();
    let a = s.lattice.unwrap()[0];
    for p in s.positions.iter() {
        supercell
            .positions
            .push([p[0] + a[0], p[1] + a[1], p[2] + a[2]]);
    }
    supercell.numbers.extend_from_slice(&s.numbers);
    if let Some(l) = &mut supercell.lattice {
        l[0] = [2.0 * a[0], 2.0 * a[1], 2.0 * a[2]];
    }
    let batch = [s, rotated, supercell];
    let g = AtomGraph::from_structures(&batch, &config.graph_options(), &device).unwrap();
    let out = et.forward(&g).unwrap();
    let e = values(Readout::new().forward(head.forward(out.x, out.vec), g.batch.clone(), 3));
    assert!((e[0] - e[1]).abs() <= 1e-5 * e[0].abs().max(1.0), "{e:?}");
    assert!(
        (e[2] - 2.0 * e[0]).abs() <= 1e-5 * e[0].abs().max(1.0),
        "{e:?}"
    );
}
