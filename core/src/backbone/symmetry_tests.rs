//! Every backbone through [`crate::testing::check_symmetries`], in f32 and f64, on a random
//! molecule and a random small triclinic crystal (cell edges below the cutoff, so atoms see
//! their own periodic images).

use burn::tensor::{DType, Device, Tensor};

use super::{AtomGraph, Ct, CtConfig, Et, EtConfig, VecPreNormKind};
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

fn ct_model(
    kind: VecPreNormKind,
    dtype: DType,
    device: &Device,
) -> impl Fn(&Structure) -> SymmetryOutput {
    let config = CtConfig::new()
        .with_et(
            EtConfig::new()
                .with_hidden_channels(16)
                .with_num_layers(3)
                .with_num_heads(4)
                .with_num_rbf(8),
        )
        .with_vec_prenorm(kind);
    let ct: Ct = cast_module(config.init(device).unwrap(), dtype);
    let cutoff = config.et.cutoff_upper;
    let device = device.clone();
    move |s: &Structure| {
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
    }
}

fn check_ct(dtype: DType) {
    let device = Device::default();
    let model = ct_model(VecPreNormKind::Equivariant, dtype, &device);
    for (k, s) in structures().iter().enumerate() {
        let check = SymmetryCheck {
            reflection: true,
            tolerance: tolerance(dtype),
            seed: 200 + k as u64,
        };
        assert!(
            model(s).vectors.iter().any(|v| v.abs() > 1e-3),
            "vectors vanish"
        );
        let report = check_symmetries(&model, s, &check).unwrap_or_else(|e| panic!("{e}"));
        eprintln!(
            "CT {dtype:?} structure {k}: worst relative error {:.2e}",
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
    let model = ct_model(VecPreNormKind::DyT, DType::F64, &device);
    let check = SymmetryCheck {
        reflection: true,
        tolerance: tolerance(DType::F64),
        seed: 300,
    };
    let err = check_symmetries(&model, &structures()[0], &check).unwrap_err();
    assert_eq!(err.transform, "rotation");
}
