//! `nucleate import torchmd-net` end to end: a real TorchMD-Net 3.1.0 Lightning checkpoint and
//! a safetensors state dict (`tests/fixtures/torchmdnet/`, made by `make_checkpoints.py` from
//! the parity fixture's weights) are imported, and `nucleate predict` on the imported model
//! must reproduce TorchMD-Net's own energies on the fixture's QM9 molecules and periodic crystal.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use nucleate_core::Structure;
use nucleate_core::io::npz::{NpyArray, read_npz};

mod common;
use common::{bin, repo, run};

fn tmp(name: &str) -> std::path::PathBuf {
    common::tmp("import", name)
}

fn fixture(name: &str) -> PathBuf {
    repo("tests/fixtures/torchmdnet").join(name)
}

/// Named structures with the reference's value (`None` where the fixture has none).
type Cases = Vec<(String, Structure, Option<f64>)>;

/// The named cases of a parity fixture's `.npz` as structures (`<case>/z`, `pos`, optional
/// `box`), with the reference's `<case>/<value>`, and all arrays of the file.
fn read_cases(file: &Path, names: &[&str], value: &str) -> (Cases, BTreeMap<String, NpyArray>) {
    let bytes = std::fs::read(file).expect("fixture");
    let arrays: BTreeMap<String, NpyArray> = read_npz(&bytes)
        .expect("npz")
        .into_iter()
        .map(|(k, (_, a))| (k, a))
        .collect();
    let mut out = Vec::new();
    for &case in names {
        let z: Vec<u8> = arrays[&format!("{case}/z")]
            .as_f64()
            .iter()
            .map(|&v| v as u8)
            .collect();
        let p = arrays[&format!("{case}/pos")].as_f64();
        let pos: Vec<[f64; 3]> = p.chunks(3).map(|c| [c[0], c[1], c[2]]).collect();
        let mut s = Structure::molecule(z, pos);
        if let Some(b) = arrays.get(&format!("{case}/box")) {
            let b = b.as_f64();
            s.lattice = Some([[b[0], b[1], b[2]], [b[3], b[4], b[5]], [b[6], b[7], b[8]]]);
            s.pbc = [true; 3];
        }
        let v = arrays
            .get(&format!("{case}/{value}"))
            .map(|e| e.as_f64()[0]);
        out.push((case.to_string(), s, v));
    }
    (out, arrays)
}

/// The TorchMD-Net fixture's cases with TorchMD-Net's energies (`None` for the unit cell).
fn cases() -> Cases {
    read_cases(
        &fixture("et_small_cases.npz"),
        &[
            "qm9_1000",
            "qm9_5000",
            "qm9_20000",
            "perov_6334",
            "perov_unit",
        ],
        "energy",
    )
    .0
}

fn predict(model: &Path, file: &Path) -> Vec<f64> {
    let (ok, out, err) = run(bin()
        .args(["predict", "--json", "--model"])
        .arg(model)
        .arg(file));
    assert!(ok, "{out}\n{err}");
    let rows: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    rows.as_array()
        .expect("array")
        .iter()
        .map(|r| r["energy"].as_f64().expect("energy"))
        .collect()
}

#[test]
fn imported_checkpoints_reproduce_torchmd_net() {
    let dir = tmp("ckpt");
    let cases = cases();
    let structures: Vec<Structure> = cases.iter().map(|c| c.1.clone()).collect();
    let file = dir.join("cases.extxyz");
    std::fs::write(
        &file,
        nucleate_core::io::write::write_extxyz(&structures).unwrap(),
    )
    .unwrap();

    let from_ckpt = dir.join("from-ckpt");
    let (ok, out, err) = run(bin()
        .args(["import", "torchmd-net"])
        .arg(fixture("et_small.ckpt"))
        .arg("-o")
        .arg(&from_ckpt)
        .args(["--unit", "eV"]));
    assert!(ok, "{out}\n{err}");
    assert!(
        out.contains("Lightning checkpoint") && out.contains("EquivariantScalar"),
        "{out}"
    );
    let pred = predict(&from_ckpt, &file);
    assert_eq!(pred.len(), 5);
    for ((name, s, energy), p) in cases.iter().zip(&pred) {
        if let Some(e) = energy {
            let rel = (p - e).abs() / e.abs();
            assert!(
                rel < 1e-5,
                "{name}: ours {p} vs TorchMD-Net {e} (rel {rel:e})"
            );
        } else {
            // The 5-atom unit cell: every atom sees what it sees in the 3×3×3 supercell.
            let e = cases[3].2.unwrap() / 27.0;
            let rel = (p - e).abs() / e.abs();
            assert!(
                rel < 1e-5,
                "{name} ({} atoms): {p} vs supercell/27 {e}",
                s.n_atoms()
            );
        }
    }

    // A bare state dict needs the architecture; with it, the same model.
    let from_st = dir.join("from-safetensors");
    let (ok, _, err) = run(bin()
        .args(["import", "torchmd-net"])
        .arg(fixture("et_small_state.safetensors"))
        .arg("-o")
        .arg(&from_st));
    assert!(!ok && err.contains("--config"), "{err}");
    let config = dir.join("et.toml");
    std::fs::write(
        &config,
        r#"
[model]
backbone = "et"

[model.et]
hidden_channels = 32
num_layers = 2
num_heads = 4
num_rbf = 16
trainable_rbf = true
cutoff_lower = 0.0
cutoff_upper = 5.0
max_z = 100
neighbor_embedding = true
distance_influence = "Both"
vector_cutoff = true
layernorm_on_vec = false
vec_norm_regulariser = "Isotropic"
"#,
    )
    .unwrap();
    let (ok, out, err) = run(bin()
        .args(["import", "torchmd-net"])
        .arg(fixture("et_small_state.safetensors"))
        .arg("-o")
        .arg(&from_st)
        .arg("--config")
        .arg(&config));
    assert!(ok, "{out}\n{err}");
    assert_eq!(predict(&from_st, &file), pred);

    // A config that does not fit the weights is refused, naming the problem.
    let wrong = dir.join("wrong.toml");
    std::fs::write(
        &wrong,
        std::fs::read_to_string(&config)
            .unwrap()
            .replace("num_rbf = 16", "num_rbf = 8"),
    )
    .unwrap();
    let (ok, _, err) = run(bin()
        .args(["import", "torchmd-net"])
        .arg(fixture("et_small_state.safetensors"))
        .arg("-o")
        .arg(dir.join("x"))
        .arg("--config")
        .arg(&wrong));
    assert!(!ok && err.contains("shape"), "{err}");

    // Not a checkpoint at all.
    let junk = dir.join("junk.ckpt");
    std::fs::write(&junk, b"not a zip file at all").unwrap();
    let (ok, _, err) = run(bin()
        .args(["import", "torchmd-net"])
        .arg(&junk)
        .arg("-o")
        .arg(dir.join("y")));
    assert!(!ok && err.contains("junk.ckpt"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn predict_key(model: &Path, file: &Path, key: &str) -> Vec<f64> {
    let (ok, out, err) = run(bin()
        .args(["predict", "--json", "--model"])
        .arg(model)
        .arg(file));
    assert!(ok, "{out}\n{err}");
    let rows: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    rows.as_array()
        .expect("array")
        .iter()
        .map(|r| r[key].as_f64().unwrap_or_else(|| panic!("{key} in {r}")))
        .collect()
}

#[test]
fn imported_scd_checkpoints_reproduce_scd() {
    let dir = tmp("scd");
    std::fs::create_dir_all(&dir).unwrap();
    for config in ["pcq", "small"] {
        let (cases, arrays) = read_cases(
            &repo("tests/fixtures/scd").join(format!("ct_{config}_cases.npz")),
            &["qm9_1000", "qm9_5000", "qm9_20000", "perov_6334"],
            "y",
        );
        let structures: Vec<Structure> = cases.iter().map(|c| c.1.clone()).collect();
        let file = dir.join(format!("{config}.extxyz"));
        std::fs::write(
            &file,
            nucleate_core::io::write::write_extxyz(&structures).unwrap(),
        )
        .unwrap();
        let ckpt = repo("tests/fixtures/scd").join(format!("ct_{config}.ckpt"));
        let model = dir.join(format!("{config}-model"));
        let (ok, out, err) = run(bin()
            .args(["import", "scd"])
            .arg(&ckpt)
            .arg("-o")
            .arg(&model));
        assert!(ok, "{out}\n{err}");
        // The momentum copy is reported, not imported; a pretraining checkpoint says so.
        assert!(
            out.contains("Lightning checkpoint") && out.contains("ema_model.*"),
            "{out}"
        );
        assert!(out.contains("pretraining checkpoint"), "{out}");
        let pred = predict_key(&model, &file, "y");
        for ((name, _, y), p) in cases.iter().zip(&pred) {
            let y = y.expect("SCD's output");
            let rel = (p - y).abs() / y.abs();
            assert!(
                rel < 1e-5,
                "{config}/{name}: ours {p} vs SCD {y} (rel {rel:e})"
            );
        }

        // `--ema` imports the momentum copy, whose outputs SCD recorded for one molecule.
        let ema = dir.join(format!("{config}-ema"));
        let (ok, out, err) = run(bin()
            .args(["import", "scd", "--ema"])
            .arg(&ckpt)
            .arg("-o")
            .arg(&ema));
        assert!(ok, "{out}\n{err}");
        let want = arrays["ema/qm9_1000/y"].as_f64()[0];
        let got = predict_key(&ema, &file, "y")[0];
        assert!(
            (got - want).abs() / want.abs() < 1e-5,
            "{config} EMA: ours {got} vs SCD {want}"
        );
        assert!(
            (got - pred[0]).abs() > 1e-4,
            "EMA weights differ from the model's"
        );
    }

    // SCD's own model YAML overrides the checkpoint's keys; one that does not fit the weights
    // is refused, naming the problem.
    let yaml = dir.join("scd.yaml");
    std::fs::write(
        &yaml,
        "model: CET\nemb_dim: 32\nnum_layers: 2\nnum_heads: 4\nnum_rbf: 16\n\
         trainable_rbf: false\nmax_z: 118\nlayernorm_on_vec: False\ninv_post_norm: True\n\
         vec_prenorm: True  # DyT\nemb_agg : sum\n",
    )
    .unwrap();
    let (ok, out, err) = run(bin()
        .args(["import", "scd"])
        .arg(repo("tests/fixtures/scd/ct_pcq.ckpt"))
        .arg("-o")
        .arg(dir.join("yaml-model"))
        .arg("--model-yaml")
        .arg(&yaml));
    assert!(ok, "{out}\n{err}");
    assert_eq!(
        predict_key(&dir.join("yaml-model"), &dir.join("pcq.extxyz"), "y"),
        predict_key(&dir.join("pcq-model"), &dir.join("pcq.extxyz"), "y")
    );
    std::fs::write(
        &yaml,
        std::fs::read_to_string(&yaml)
            .unwrap()
            .replace("num_rbf: 16", "num_rbf: 8"),
    )
    .unwrap();
    let (ok, _, err) = run(bin()
        .args(["import", "scd"])
        .arg(repo("tests/fixtures/scd/ct_pcq.ckpt"))
        .arg("-o")
        .arg(dir.join("bad"))
        .arg("--model-yaml")
        .arg(&yaml));
    assert!(!ok && err.contains("shape"), "{err}");
    // A TorchMD-Net ET checkpoint is not an SCD CT.
    let (ok, _, err) = run(bin()
        .args(["import", "scd"])
        .arg(fixture("et_small.ckpt"))
        .arg("-o")
        .arg(dir.join("et")));
    assert!(!ok && err.contains("CET"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
