//! Parity of our ET (and its heads) with TorchMD-Net 3.1.0 on fixed random weights.
//!
//! Fixture: `tests/fixtures/torchmdnet/` (see its README for how it was made and how to
//! regenerate it): TorchMD-Net's `state_dict` and its outputs on three QM9 molecules and a
//! periodic perovskite supercell.

use std::collections::BTreeMap;

use burn::tensor::Device;
use nucleate_core::Structure;
use nucleate_core::backbone::torchmdnet::{TorchmdNetHead, import_et, import_output_model};
use nucleate_core::backbone::{AtomGraph, EtConfig};
use nucleate_core::graph::RadiusGraphOptions;
use nucleate_core::head::{Readout, Reduce};
use nucleate_core::io::npz::NpyArray;
use nucleate_core::nn::NamedTensor;

mod common;
use common::{named, npz, rel_err, values};

/// Largest allowed `max |ours − theirs| / max |theirs|` per output tensor, f32.
const TOL: f64 = 1e-5;

fn state_dict(
    arrays: &BTreeMap<String, NpyArray>,
    device: &Device,
) -> BTreeMap<String, NamedTensor> {
    arrays
        .iter()
        .map(|(k, a)| (k.clone(), named(a, device)))
        .collect()
}

fn config(cases: &BTreeMap<String, NpyArray>) -> EtConfig {
    let get = |k: &str| cases[&format!("config/{k}")].as_f64()[0];
    EtConfig::new()
        .with_hidden_channels(get("embedding_dimension") as usize)
        .with_num_layers(get("num_layers") as usize)
        .with_num_heads(get("num_heads") as usize)
        .with_num_rbf(get("num_rbf") as usize)
        .with_trainable_rbf(get("trainable_rbf") != 0.0)
        .with_cutoff_lower(get("cutoff_lower"))
        .with_cutoff_upper(get("cutoff_upper"))
        .with_max_z(get("max_z") as usize)
        .with_vector_cutoff(get("vector_cutoff") != 0.0)
}

fn structure(cases: &BTreeMap<String, NpyArray>, name: &str) -> Structure {
    let z: Vec<u8> = cases[&format!("{name}/z")]
        .as_f64()
        .iter()
        .map(|&z| z as u8)
        .collect();
    let pos: Vec<[f64; 3]> = cases[&format!("{name}/pos")]
        .as_f64()
        .chunks(3)
        .map(|c| [c[0], c[1], c[2]])
        .collect();
    let mut s = Structure::molecule(z, pos);
    if let Some(b) = cases.get(&format!("{name}/box")) {
        let b = b.as_f64();
        s.lattice = Some([[b[0], b[1], b[2]], [b[3], b[4], b[5]], [b[6], b[7], b[8]]]);
        s.pbc = [true; 3];
    }
    s
}

struct Outputs {
    x: Vec<f64>,
    vec: Vec<f64>,
    y: Vec<f64>,
    energy: Vec<f64>,
    y_mlp: Vec<f64>,
}

#[test]
fn et_matches_torchmdnet_on_qm9_and_a_crystal() {
    let device = nucleate_core::testing::cpu_device();
    let weights = npz("torchmdnet/et_small_weights.npz");
    let cases = npz("torchmdnet/et_small_cases.npz");
    let config = config(&cases);
    let model = import_et(
        &config,
        &state_dict(&weights, &device),
        Readout::new().with_reduce(Reduce::Sum),
        &device,
    )
    .expect("import");
    let head = model.head.as_ref().expect("output model");
    assert!(matches!(head, TorchmdNetHead::EquivariantScalar(_)));
    let mlp_state: BTreeMap<String, NamedTensor> = cases
        .iter()
        .filter_map(|(k, a)| {
            k.strip_prefix("scalar_head/")
                .map(|k| (k.to_owned(), named(a, &device)))
        })
        .collect();
    let mlp = import_output_model(config.hidden_channels, &mlp_state, &device).expect("mlp head");
    assert!(matches!(mlp, TorchmdNetHead::Scalar(_)));

    let options = RadiusGraphOptions {
        self_loops: true,
        ..RadiusGraphOptions::with_cutoff(config.cutoff_upper)
    };
    let run = |s: &Structure| {
        let graph =
            AtomGraph::from_structures(std::slice::from_ref(s), &options, &device).expect("graph");
        let feats = model.et.forward(&graph).expect("forward");
        let y = head.forward(feats.x.clone(), feats.vec.clone());
        let energy = model.readout.forward(y.clone(), &graph.batch);
        let y_mlp = mlp.forward(feats.x.clone(), feats.vec.clone());
        Outputs {
            x: values(feats.x),
            vec: values(feats.vec),
            y: values(y),
            energy: values(energy),
            y_mlp: values(y_mlp),
        }
    };

    let names = ["qm9_1000", "qm9_5000", "qm9_20000", "perov_6334"];
    let mut worst = 0.0f64;
    for name in names {
        let s = structure(&cases, name);
        let ours = run(&s);
        let theirs = |k: &str| cases[&format!("{name}/{k}")].as_f64();
        for (k, a) in [
            ("x", &ours.x),
            ("vec", &ours.vec),
            ("y", &ours.y),
            ("energy", &ours.energy),
            ("y_mlp", &ours.y_mlp),
        ] {
            let err = rel_err(a, &theirs(k));
            eprintln!("{name:12} {k:7} max rel err {err:.2e}");
            assert!(err <= TOL, "{name}/{k}: relative error {err:.3e} > {TOL:e}");
            worst = worst.max(err);
        }
    }
    eprintln!("worst relative error {worst:.2e}");
}

#[test]
fn crystal_unit_cell_matches_torchmdnet_supercell() {
    // TorchMD-Net needs boxes at least twice the cutoff, so the fixture has a 3×3×3 supercell;
    // the unit cell (4.25 Å, smaller than the 5 Å cutoff: atoms see their own images) must give
    // the same per-atom features for its atoms, which lead the supercell's atom list.
    let device = nucleate_core::testing::cpu_device();
    let weights = npz("torchmdnet/et_small_weights.npz");
    let cases = npz("torchmdnet/et_small_cases.npz");
    let config = config(&cases);
    let model = import_et(
        &config,
        &state_dict(&weights, &device),
        Readout::new(),
        &device,
    )
    .expect("import");
    let unit = structure(&cases, "perov_unit");
    let n = unit.n_atoms();
    let options = RadiusGraphOptions {
        self_loops: true,
        ..RadiusGraphOptions::with_cutoff(config.cutoff_upper)
    };
    let graph = AtomGraph::from_structures(&[unit], &options, &device).expect("graph");
    let feats = model.et.forward(&graph).expect("forward");
    let f = config.hidden_channels;
    let x_sc = cases["perov_6334/x"].as_f64();
    let vec_sc = cases["perov_6334/vec"].as_f64();
    let ex = rel_err(&values(feats.x), &x_sc[..n * f]);
    let ev = rel_err(&values(feats.vec), &vec_sc[..n * 3 * f]);
    eprintln!("unit cell vs supercell: x {ex:.2e}, vec {ev:.2e}");
    // Positions of the unit cell are f64, the supercell's were rounded to f32.
    assert!(ex < 1e-4 && ev < 1e-4, "x {ex:e}, vec {ev:e}");
}
