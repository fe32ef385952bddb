//! The CIF and POSCAR files of `tests/data/reader_samples` against the reference readings in
//! `reader_expect.json` (pymatgen / ASE / gemmi). Prints "N of M agree".

#![allow(clippy::unwrap_used, clippy::needless_range_loop)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use nucleate_core::io::{Format, ReadError, read_bytes};
use nucleate_core::{Structure, elements};
use serde_json::Value;

fn samples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/reader_samples")
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap()
}

fn mat(v: &Value) -> [[f64; 3]; 3] {
    let mut m = [[0.0; 3]; 3];
    for (i, row) in v.as_array().unwrap().iter().enumerate() {
        for (j, x) in row.as_array().unwrap().iter().enumerate() {
            m[i][j] = f(x);
        }
    }
    m
}

fn inverse(m: &[[f64; 3]; 3]) -> [[f64; 3]; 3] {
    let det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
        - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
    let mut inv = [[0.0; 3]; 3];
    for i in 0..3 {
        for j in 0..3 {
            let (a, b) = ((j + 1) % 3, (j + 2) % 3);
            let (c, d) = ((i + 1) % 3, (i + 2) % 3);
            inv[i][j] = (m[a][c] * m[b][d] - m[a][d] * m[b][c]) / det;
        }
    }
    inv
}

/// Compare one structure with one reading; returns the mismatches.
fn compare(s: &Structure, n_frames: usize, exp: &Value, tol: f64) -> Vec<String> {
    let mut bad = Vec::new();
    if exp["frames"].as_u64() != Some(n_frames as u64) {
        bad.push(format!("frames {n_frames} vs {}", exp["frames"]));
    }
    if exp["n_atoms"].as_u64() != Some(s.n_atoms() as u64) {
        bad.push(format!("n_atoms {} vs {}", s.n_atoms(), exp["n_atoms"]));
    }
    let mut counts = BTreeMap::<String, u64>::new();
    for &z in &s.numbers {
        *counts.entry(elements::symbol(z).to_owned()).or_default() += 1;
    }
    let want: BTreeMap<String, u64> = exp["elements"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect();
    if counts != want {
        bad.push(format!("elements {counts:?} vs {want:?}"));
    }
    let cell = mat(&exp["cell"]);
    let lattice = s.lattice.unwrap_or_default();
    for i in 0..3 {
        for j in 0..3 {
            if (lattice[i][j] - cell[i][j]).abs() > tol {
                bad.push(format!(
                    "cell[{i}][{j}] {} vs {}",
                    lattice[i][j], cell[i][j]
                ));
            }
        }
    }
    if exp["positions_order"].as_str() == Some("any") {
        // Every atom must lie on a listed site modulo lattice translations.
        let sites: Vec<[f64; 3]> = exp["sites_frac"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                let a = p.as_array().unwrap();
                [f(&a[0]), f(&a[1]), f(&a[2])]
            })
            .collect();
        let inv = inverse(&lattice);
        for (k, p) in s.positions.iter().enumerate() {
            let mut fr = [0.0; 3];
            for j in 0..3 {
                for i in 0..3 {
                    fr[j] += p[i] * inv[i][j];
                }
            }
            let on_site = sites.iter().any(|q| {
                let mut d = [0.0; 3];
                for j in 0..3 {
                    let x = fr[j] - q[j];
                    d[j] = x - x.round();
                }
                let mut cart = [0.0; 3];
                for i in 0..3 {
                    for j in 0..3 {
                        cart[j] += d[i] * lattice[i][j];
                    }
                }
                cart.iter().map(|c| c * c).sum::<f64>().sqrt() < tol
            });
            if !on_site {
                bad.push(format!("atom {k} at {p:?} is on no reference site"));
            }
        }
    } else {
        for (k, q) in exp["positions_first3"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
        {
            let q = q.as_array().unwrap();
            for j in 0..3 {
                if (s.positions[k][j] - f(&q[j])).abs() > tol {
                    bad.push(format!("position {k} {:?} vs {q:?}", s.positions[k]));
                    break;
                }
            }
        }
    }
    bad
}

#[test]
fn cif_and_poscar_samples_agree_with_reference_readings() {
    let text = std::fs::read_to_string(samples().join("reader_expect.json")).unwrap();
    let json: Value = serde_json::from_str(&text).unwrap();
    let tol = f(&json["header"]["tolerances"]["positions_A"]);
    let mut agree = 0;
    let mut total = 0;
    let mut report = Vec::new();
    for entry in json["files"].as_array().unwrap() {
        let format = match entry["format"].as_str().unwrap() {
            "cif" => Format::Cif,
            "poscar" => Format::Poscar,
            _ => continue,
        };
        total += 1;
        let path = entry["path"].as_str().unwrap();
        let bytes = std::fs::read(samples().join(path)).unwrap();
        let result = read_bytes(&bytes, format);
        let ok_expected = entry["ok"].as_bool().unwrap();
        let mismatches = match (&result, ok_expected) {
            (Ok(frames), true) => {
                let primary = compare(&frames[0], frames.len(), entry, tol);
                let alt_ok = entry["alternatives"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|a| a["admissible"].as_bool() == Some(true))
                    .any(|a| compare(&frames[0], frames.len(), a, tol).is_empty());
                if alt_ok { Vec::new() } else { primary }
            }
            (Err(_), false) => Vec::new(),
            (Ok(_), false) => vec!["accepted a file the reference rejects".to_owned()],
            (Err(e), true) => vec![format!("rejected: {e}")],
        };
        if mismatches.is_empty() {
            agree += 1;
            report.push(format!("agree     {path}"));
        } else {
            report.push(format!("DISAGREE  {path}: {}", mismatches.join("; ")));
        }
    }
    for line in &report {
        println!("{line}");
    }
    println!("{agree} of {total} agree");
    assert_eq!(total, 4, "expected 3 cif and 1 poscar sample");
    assert_eq!(agree, total, "{report:#?}");
}

#[test]
fn malformed_samples_name_line_and_field() {
    let good = std::fs::read_to_string(samples().join("gemmi_tests/1011031.cif")).unwrap();
    // Truncate inside the atom_site loop: value count no longer a multiple of the tag count.
    let cut = good.replace("C1 C4- 4 c 0.25 0.25 0.25 1. 0 d", "C1 C4- 4 c 0.25 0.25");
    match read_bytes(cut.as_bytes(), Format::Cif) {
        Err(ReadError::Parse(p)) => {
            assert_eq!(p.field, "_atom_site_label", "{p}");
            assert!(
                good.lines().nth(p.line - 1).unwrap().starts_with("C1 C4-"),
                "{p}"
            );
        }
        other => panic!("{other:?}"),
    }
    let poscar =
        std::fs::read_to_string(samples().join("chemfiles_tests_data/poscar/Cr2O3.direct.poscar"))
            .unwrap();
    let truncated: String = poscar.lines().take(20).collect::<Vec<_>>().join("\n");
    match read_bytes(truncated.as_bytes(), Format::Poscar) {
        Err(ReadError::Parse(p)) => assert_eq!((p.line, p.field.as_str()), (7, "counts")),
        other => panic!("{other:?}"),
    }
    let nan = poscar.replacen("0.333333 0.666667 0.318363", "0.333333 NaN 0.318363", 1);
    match read_bytes(nan.as_bytes(), Format::Poscar) {
        Err(ReadError::Parse(p)) => assert_eq!((p.line, p.field.as_str()), (9, "y")),
        other => panic!("{other:?}"),
    }
}
