//! Writers: read → write → read round trips for P1 CIF and extended XYZ. Extended XYZ is read
//! back with the plain XYZ reader plus a minimal comment-line parser defined here.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use nucleate_core::io::{cif, crystal_csv, npz, write, xyz};
use nucleate_core::{AtomArray, LabelValue, Structure};

fn data(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("data")
        .join(rel)
}

fn assert_same_crystal(a: &Structure, b: &Structure) {
    assert_eq!(a.numbers, b.numbers);
    let (la, lb) = (a.lattice.unwrap(), b.lattice.unwrap());
    for i in 0..3 {
        for j in 0..3 {
            assert!((la[i][j] - lb[i][j]).abs() < 1e-9, "{la:?} vs {lb:?}");
        }
    }
    for (p, q) in a.positions.iter().zip(&b.positions) {
        for k in 0..3 {
            assert!((p[k] - q[k]).abs() < 1e-9, "{p:?} vs {q:?}");
        }
    }
}

#[test]
fn cif_round_trip_of_expanded_and_p1_structures() {
    let mut originals = Vec::new();
    for f in [
        "reader_samples/gemmi_tests/1011031.cif",
        "reader_samples/chemfiles_tests_data/cif/1544173.cif",
        "reader_samples/pymatgen_tests/H6PbCI3N_mp-977013_symmetrized.cif",
    ] {
        originals.extend(cif::read_cif(&std::fs::read_to_string(data(f)).unwrap()).unwrap());
    }
    let perov = std::fs::read_to_string(data("datasets/perov_5_dev_train_first10.csv")).unwrap();
    originals.extend(crystal_csv::read_crystal_csv(&perov).unwrap());
    let text = write::write_cif(&originals).unwrap();
    let (back, warnings) = cif::read_cif_with(
        &text,
        cif::CifOptions {
            strict: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(warnings.is_empty());
    assert_eq!(back.len(), originals.len());
    for (a, b) in originals.iter().zip(&back) {
        assert_same_crystal(a, b);
    }
    assert_eq!(back[0].comment, "1011031");
}

/// Minimal extxyz comment parser: `key=value` and `key="quoted value"` pairs.
fn parse_comment(line: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let key: String = std::iter::from_fn(|| chars.next_if(|&c| c != '=')).collect();
        if key.is_empty() {
            break;
        }
        assert_eq!(chars.next(), Some('='), "{line}");
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        let e = chars.next().unwrap();
                        value.push(if e == 'n' { '\n' } else { e });
                    }
                    '"' => break,
                    _ => value.push(c),
                }
            }
        } else {
            value = std::iter::from_fn(|| chars.next_if(|c| !c.is_whitespace())).collect();
        }
        out.insert(key, value);
    }
    out
}

#[test]
fn extxyz_round_trip_keeps_positions_lattice_labels_and_arrays() {
    let bytes = std::fs::read(data("datasets/rmd17_ethanol_first5.npz")).unwrap();
    let mut frames = npz::read_rmd17(&bytes).unwrap();
    frames[0].labels.insert(
        "note".into(),
        nucleate_core::Label {
            value: LabelValue::Text("say \"hi\"\\ok".into()),
            unit: None,
        },
    );
    let perov = std::fs::read_to_string(data("datasets/perov_5_dev_train_first10.csv")).unwrap();
    let crystal = crystal_csv::read_crystal_csv(&perov).unwrap().remove(0);
    frames.push(crystal);
    let text = write::write_extxyz(&frames).unwrap();
    let back = xyz::read_xyz(&text).unwrap();
    assert_eq!(back.len(), frames.len());
    for (a, b) in frames.iter().zip(&back) {
        assert_eq!(a.numbers, b.numbers);
        assert_eq!(
            a.positions, b.positions,
            "positions must round-trip exactly"
        );
        let kv = parse_comment(&b.comment);
        match a.lattice {
            Some(l) => {
                let v: Vec<f64> = kv["Lattice"]
                    .split(' ')
                    .map(|x| x.parse().unwrap())
                    .collect();
                assert_eq!(v, l.concat());
                assert_eq!(kv["pbc"], "T T T");
            }
            None => {
                assert!(!kv.contains_key("Lattice"));
                assert_eq!(kv["pbc"], "F F F");
            }
        }
        for (key, label) in &a.labels {
            let got = &kv[key];
            match &label.value {
                LabelValue::Float(x) => assert_eq!(got.parse::<f64>().unwrap(), *x, "{key}"),
                LabelValue::Int(i) => assert_eq!(got.parse::<i64>().unwrap(), *i, "{key}"),
                LabelValue::Text(t) => assert_eq!(got, t, "{key}"),
                other => panic!("{other:?}"),
            }
        }
        // Per-atom arrays follow the position columns in Properties order.
        let props = &kv["Properties"];
        let mut expected = String::from("species:S:1:pos:R:3");
        for (name, arr) in &a.atom_arrays {
            let t = match arr {
                AtomArray::Float { .. } => "R",
                AtomArray::Text { .. } => "S",
                _ => "?",
            };
            expected.push_str(&format!(":{name}:{t}:{}", arr.width()));
        }
        assert_eq!(props, &expected);
    }
    // The forces of frame 0 come back from the atom lines.
    let AtomArray::Float { values, .. } = &frames[0].atom_arrays["forces"] else {
        panic!()
    };
    let atom_lines: Vec<&str> = text.lines().skip(2).take(frames[0].n_atoms()).collect();
    for (i, line) in atom_lines.iter().enumerate() {
        let cols: Vec<f64> = line
            .split_whitespace()
            .skip(4)
            .map(|x| x.parse().unwrap())
            .collect();
        assert_eq!(cols, values[3 * i..3 * i + 3]);
    }
}
