//! Every backbone of [`crate::testing::cases`] through [`crate::testing::check_symmetries`], in
//! f32 and f64, on a random molecule and a random small triclinic crystal (cell edges below the
//! cutoff, so atoms see their own periodic images). The wgpu backend runs the same cases in
//! `native/tests/backend_devices.rs`.

use burn::tensor::DType;

use super::{AtomGraph, Et, EtConfig, VecPreNormKind};
use crate::Structure;
use crate::head::{EquivariantScalarHead, Readout};
use crate::testing::cases::{Backbones, check_case, ct_case, graph, structures, values};
use crate::testing::{SymmetryCheck, TestRng, cast_module, check_symmetries, tolerance};

fn check(name: &str, dtype: DType, seed: u64) {
    let device = crate::testing::cpu_device();
    let case = Backbones::new(dtype)
        .cases(&device)
        .into_iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no case {name}"));
    let worst = check_case(&case, tolerance(dtype), seed);
    eprintln!("{name} {dtype:?}: worst relative error per structure {worst:?}");
}

#[test]
fn et_is_invariant_and_equivariant_f32() {
    check("ET", DType::F32, 100);
}

#[test]
fn et_is_invariant_and_equivariant_f64() {
    check("ET", DType::F64, 100);
}

#[test]
fn ct_is_invariant_and_equivariant_f32() {
    check("CT", DType::F32, 200);
    check("CT whitened", DType::F32, 210);
}

#[test]
fn ct_is_invariant_and_equivariant_f64() {
    check("CT", DType::F64, 200);
    check("CT whitened", DType::F64, 210);
}

#[test]
fn ct_with_checkpoint_dyt_prenorm_is_not_equivariant() {
    // SCD's elementwise DyT vector pre-norm (docs/backbones.md §3.4 caveat): the checker must see it.
    let device = crate::testing::cpu_device();
    let case = ct_case(VecPreNormKind::DyT, false, DType::F64, &device);
    let check = SymmetryCheck {
        reflection: true,
        tolerance: tolerance(DType::F64),
        seed: 300,
    };
    let err = check_symmetries(case.model.as_ref(), &structures()[0], &check).unwrap_err();
    assert_eq!(err.transform, "rotation");
}

#[test]
fn egnn_is_invariant_and_equivariant_f32() {
    check("EGNN", DType::F32, 400);
}

#[test]
fn egnn_is_invariant_and_equivariant_f64() {
    check("EGNN", DType::F64, 400);
}

#[test]
fn et_forces_match_finite_differences_and_are_finite_on_self_loops() {
    let (_serial, device) = crate::objective::serial_autodiff_device();
    // Energy of a small periodic crystal (self-loops and self-images present) in f64 on an
    // autodiff device; −∂E/∂pos by backprop against central differences.
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
        (Readout::new().forward(y, &g.batch), pos)
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
    let device = crate::testing::cpu_device();
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
    let e = values(Readout::new().forward(head.forward(out.x, out.vec), &g.batch));
    assert!((e[0] - e[1]).abs() <= 1e-5 * e[0].abs().max(1.0), "{e:?}");
    assert!(
        (e[2] - 2.0 * e[0]).abs() <= 1e-5 * e[0].abs().max(1.0),
        "{e:?}"
    );
}
