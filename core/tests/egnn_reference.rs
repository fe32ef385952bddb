//! Parity of our EGNN and EDM dynamics wrapper with a PyTorch reference written from EDM's
//! layer equations (docs/backbones.md §4.2–4.5), on fixed random weights and three QM9 molecules.
//!
//! Fixture: `tests/fixtures/egnn/` (see its README for how it was made and how to regenerate
//! it). The reference runs on EDM's dense padded batch with masked self-loops; we run on the
//! sparse complete graph of [`AtomGraph::complete`].

use std::collections::BTreeMap;

use burn::tensor::{Device, Tensor, TensorData};
use nucleate_core::Structure;
use nucleate_core::backbone::egnn::Aggregation;
use nucleate_core::backbone::{AtomGraph, EgnnConfig, EgnnDynamics};
use nucleate_core::io::npz::NpyArray;
use nucleate_core::nn::{NamedTensor, load_named, param_names};

mod common;
use common::{rel_err, values};

/// Largest allowed `max |ours − theirs| / max |theirs|` per output tensor, f32.
const TOL: f64 = 1e-5;

fn fixture() -> BTreeMap<String, NpyArray> {
    common::npz("egnn/egnn_small.npz")
}

fn tensor<const D: usize>(a: &NpyArray, device: &Device) -> Tensor<D> {
    Tensor::from_data(
        TensorData::new(a.as_f64(), a.shape.clone()).convert::<f32>(),
        device,
    )
}

/// The three molecules of the batch, positions as the reference used them.
fn molecules(f: &BTreeMap<String, NpyArray>) -> Vec<Structure> {
    let z = f["inputs/z"].as_f64();
    let pos = f["inputs/pos"].as_f64();
    let batch = f["inputs/batch"].as_f64();
    let n_systems = f["inputs/t"].shape[0];
    (0..n_systems)
        .map(|s| {
            let atoms: Vec<usize> = (0..z.len()).filter(|&i| batch[i] == s as f64).collect();
            Structure::molecule(
                atoms.iter().map(|&i| z[i] as u8).collect(),
                atoms
                    .iter()
                    .map(|&i| [pos[3 * i], pos[3 * i + 1], pos[3 * i + 2]])
                    .collect(),
            )
        })
        .collect()
}

/// Config `name` of the fixture: the EGNN hyper-parameters, `node_nf` and `context_nf`.
fn config(f: &BTreeMap<String, NpyArray>, name: &str) -> (EgnnConfig, usize, usize) {
    let get = |k: &str| f[&format!("{name}/config/{k}")].as_f64()[0];
    let aggregation = match get("aggregation") as u8 {
        0 => Aggregation::Sum,
        1 => Aggregation::Mean,
        other => panic!("unknown aggregation code {other}"),
    };
    let config = EgnnConfig::new()
        .with_hidden_nf(get("hidden_nf") as usize)
        .with_n_layers(get("n_layers") as usize)
        .with_inv_sublayers(get("inv_sublayers") as usize)
        .with_attention(get("attention") != 0.0)
        .with_tanh(get("tanh") != 0.0)
        .with_coords_range(get("coords_range"))
        .with_norm_constant(get("norm_constant"))
        .with_normalization_factor(get("normalization_factor"))
        .with_aggregation(aggregation);
    (config, get("node_nf") as usize, get("context_nf") as usize)
}

fn check(name: &str, output: &str, ours: Vec<f64>, f: &BTreeMap<String, NpyArray>) -> f64 {
    let theirs = f[&format!("{name}/{output}")].as_f64();
    let err = rel_err(&ours, &theirs);
    eprintln!("{name:5} {output:11} max rel err {err:.2e}");
    assert!(
        err <= TOL,
        "{name}/{output}: relative error {err:.3e} > {TOL:e}"
    );
    err
}

fn matches_reference(name: &str) {
    let device = nucleate_core::testing::cpu_device();
    let f = fixture();
    let (config, node_nf, context_nf) = config(&f, name);
    let model = EgnnDynamics::new(&config, node_nf, context_nf, &device).expect("model");

    // Every parameter of ours has a tensor in the fixture under the same name and vice versa
    // (`load_named` fails on a missing, misshapen or unused tensor).
    let prefix = format!("{name}/param/");
    let weights: BTreeMap<String, NamedTensor> = f
        .iter()
        .filter_map(|(k, a)| {
            let k = k.strip_prefix(&prefix)?.to_owned();
            Some(match a.shape.len() {
                1 => (k, NamedTensor::R1(tensor(a, &device))),
                2 => (k, NamedTensor::R2(tensor(a, &device))),
                r => panic!("{k}: unexpected rank {r}"),
            })
        })
        .collect();
    assert_eq!(weights.len(), param_names(&model).len());
    let model = load_named(model, &weights).expect("weights load by name");

    let graph = AtomGraph::complete(&molecules(&f), &device).expect("graph");
    let h = tensor::<2>(&f["inputs/h"], &device);
    let t = tensor::<1>(&f["inputs/t"], &device);
    let context = (context_nf > 0).then(|| tensor::<2>(&f["inputs/context"], &device));

    // The network itself, on the reference's input features (h ‖ t ‖ context).
    let input = tensor::<2>(&f[&format!("{name}/egnn_input")], &device);
    let out = model.egnn.forward(&graph, input).expect("egnn forward");
    let mut worst = 0.0f64;
    for (output, ours) in [("h_out", out.h), ("x_out", out.x), ("hidden", out.hidden)] {
        worst = worst.max(check(name, output, values(ours), &f));
    }
    // The dynamics wrapper builds that input itself and returns (ε̂_x, ε̂_h).
    let (eps_x, eps_h) = model
        .forward(&graph, h, t, context)
        .expect("dynamics forward");
    worst = worst.max(check(name, "eps_x", values(eps_x), &f));
    worst = worst.max(check(name, "eps_h", values(eps_h), &f));
    eprintln!("{name}: worst relative error {worst:.2e}");
}

#[test]
fn egnn_matches_reference_with_attention_tanh_and_sum() {
    matches_reference("sum");
}

#[test]
fn egnn_matches_reference_with_mean_two_sublayers_and_context() {
    matches_reference("mean");
}
