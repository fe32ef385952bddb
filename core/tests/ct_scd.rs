//! Parity of our CT and SCD's heads with SCD's own code (`CET` of
//! TyJPerez/SelfConditionedDenoisingAtoms) on fixed random weights.
//!
//! Fixture: `tests/fixtures/scd/` (see its README for how it was made and how to regenerate
//! it): SCD's `state_dict` for two small configurations (`pcq`: `scd.yaml`'s flags; `small`:
//! `scd_small.yaml`'s, with the whitened vector LayerNorm) and its outputs on three QM9
//! molecules, the three in one batch, and a periodic perovskite supercell, for the
//! unconditioned pass (mask token) and the pass conditioned on the first pass's embedding.

use std::collections::BTreeMap;

use burn::tensor::Device;
use nucleate_core::Structure;
use nucleate_core::backbone::{CtConfig, EtConfig, VecPreNormKind};
use nucleate_core::head::{Readout, Reduce};
use nucleate_core::io::npz::NpyArray;
use nucleate_core::nn::{CovarianceRegulariser, NamedTensor};
use nucleate_core::objective::{DenoiseModelConfig, import_scd};

mod common;
use common::{named, npz, rel_err, values};

/// Largest allowed `max |ours − theirs| / max |theirs|` per output tensor, f32.
const TOL: f64 = 1e-5;

/// Our CT config from the fixture's `config/*` (SCD's `CET` keyword arguments).
fn config(cases: &BTreeMap<String, NpyArray>) -> DenoiseModelConfig {
    let get = |k: &str| cases[&format!("config/{k}")].as_f64()[0];
    let flag = |k: &str| get(k) != 0.0;
    let et = EtConfig::new()
        .with_hidden_channels(get("emb_dim") as usize)
        .with_num_layers(get("num_layers") as usize)
        .with_num_heads(get("num_heads") as usize)
        .with_num_rbf(get("num_rbf") as usize)
        .with_trainable_rbf(flag("trainable_rbf"))
        .with_cutoff_lower(get("cutoff_lower"))
        .with_cutoff_upper(get("cutoff_upper"))
        .with_max_z(get("max_z") as usize)
        .with_neighbor_embedding(flag("neighbor_embedding"))
        .with_vector_cutoff(flag("vector_cutoff"))
        .with_layernorm_on_vec(flag("layernorm_on_vec"))
        .with_vec_norm_regulariser(CovarianceRegulariser::Scd);
    DenoiseModelConfig::new(
        CtConfig::new()
            .with_et(et)
            .with_p_dropcond(get("p_dropcond"))
            .with_p_droppath(get("p_droppath"))
            .with_vec_prenorm(if flag("vec_prenorm") {
                VecPreNormKind::DyT
            } else {
                VecPreNormKind::None
            })
            .with_inv_post_norm(flag("inv_post_norm"))
            .with_vec_post_norm(flag("vec_post_norm")),
    )
}

/// The structures of a case, one per batch index.
fn structures(cases: &BTreeMap<String, NpyArray>, name: &str) -> Vec<Structure> {
    let z = cases[&format!("{name}/z")].as_f64();
    let pos = cases[&format!("{name}/pos")].as_f64();
    let batch = cases[&format!("{name}/batch")].as_f64();
    let n_systems = batch.iter().fold(0.0f64, |m, &b| m.max(b)) as usize + 1;
    let mut out: Vec<Structure> = (0..n_systems)
        .map(|_| Structure::molecule(Vec::new(), Vec::new()))
        .collect();
    for (i, &b) in batch.iter().enumerate() {
        let s = &mut out[b as usize];
        s.numbers.push(z[i] as u8);
        s.positions
            .push([pos[3 * i], pos[3 * i + 1], pos[3 * i + 2]]);
    }
    if let Some(b) = cases.get(&format!("{name}/box")) {
        let b = b.as_f64();
        assert_eq!(n_systems, 1, "one periodic system per case");
        out[0].lattice = Some([[b[0], b[1], b[2]], [b[3], b[4], b[5]], [b[6], b[7], b[8]]]);
        out[0].pbc = [true; 3];
    }
    out
}

/// Every output of both passes, by the fixture's names.
fn run_case(
    model: &nucleate_core::objective::DenoiseModel,
    readout: &Readout,
    structures: &[Structure],
    device: &Device,
) -> (BTreeMap<&'static str, Vec<f64>>, usize) {
    let mut out = BTreeMap::new();
    let first = model.pass(structures, None, device).expect("pass 1");
    let n_edges = first.graph.n_edges;
    let emb = model.emb_head.forward(first.x.clone(), &first.graph.batch);
    out.insert(
        "noise_pred",
        values(model.noise_head.forward(first.x.clone(), first.vec.clone())),
    );
    out.insert(
        "atom_outputs",
        values(
            model
                .scalar_head
                .forward(first.x.clone(), first.vec.clone()),
        ),
    );
    out.insert("y", values(model.property(&first, readout)));
    out.insert("mol_emb", values(emb.clone()));
    out.insert("x", values(first.x));
    out.insert("vec", values(first.vec));

    let second = model.pass(structures, Some(emb), device).expect("pass 2");
    out.insert(
        "cond_noise_pred",
        values(
            model
                .noise_head
                .forward(second.x.clone(), second.vec.clone()),
        ),
    );
    out.insert("cond_y", values(model.property(&second, readout)));
    out.insert(
        "cond_mol_emb",
        values(
            model
                .emb_head
                .forward(second.x.clone(), &second.graph.batch),
        ),
    );
    out.insert("cond_x", values(second.x));
    out.insert("cond_vec", values(second.vec));
    (out, n_edges)
}

fn check_configuration(name: &str) -> f64 {
    let device = nucleate_core::testing::cpu_device();
    let weights = npz(&format!("scd/ct_{name}_weights.npz"));
    let cases = npz(&format!("scd/ct_{name}_cases.npz"));
    let config = config(&cases);
    let state: BTreeMap<String, NamedTensor> = weights
        .iter()
        .map(|(k, a)| (k.clone(), named(a, &device)))
        .collect();
    let import = |config: &DenoiseModelConfig| {
        import_scd(
            config,
            &state,
            Readout::new().with_reduce(Reduce::Sum),
            &device,
        )
        .expect("import")
    };
    let imported = import(&config);
    let get = |k: &str| cases[&format!("config/{k}")].as_f64()[0];
    assert!((imported.readout.mean - get("mean")).abs() < 1e-6);
    assert!((imported.readout.std - get("std")).abs() < 1e-6);
    assert!(imported.normalizer.count > 0);

    // The same weights with SCD's periodic neighbour cap (`allow_periodic` training: its
    // graph builder keeps about 33 neighbours per atom).
    let mut capped_config = config.clone();
    capped_config.ct.et.max_num_neighbors = Some(get("max_num_neighbors") as usize);
    let capped = import(&capped_config);

    let mut worst = 0.0f64;
    for case in [
        "qm9_1000",
        "qm9_5000",
        "qm9_20000",
        "batch3",
        "perov_6334",
        "perov_6334_capped",
        "qm9_1000_capped",
    ] {
        let model = if case.ends_with("_capped") {
            &capped
        } else {
            &imported
        };
        let s = structures(&cases, case);
        let (ours, n_edges) = run_case(&model.model, &model.readout, &s, &device);
        let their_edges = cases[&format!("{case}/edge_index")].shape[1];
        assert_eq!(n_edges, their_edges, "{name}/{case}: edge count");
        for (k, a) in &ours {
            let theirs = cases[&format!("{case}/{k}")].as_f64();
            let err = rel_err(a, &theirs);
            eprintln!("{name:5} {case:10} {k:15} max rel err {err:.2e}");
            assert!(
                err <= TOL,
                "{name}/{case}/{k}: relative error {err:.3e} > {TOL:e}"
            );
            worst = worst.max(err);
        }
    }
    worst
}

#[test]
fn ct_matches_scd_with_the_released_flags() {
    let worst = check_configuration("pcq");
    eprintln!("pcq: worst relative error {worst:.2e}");
}

#[test]
fn ct_matches_scd_with_the_whitened_vector_norm() {
    let worst = check_configuration("small");
    eprintln!("small: worst relative error {worst:.2e}");
}
