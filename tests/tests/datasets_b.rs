//! Dataset readers on committed slices of `shared/data` (see `tests/data/README.md`): QM9
//! (qm9pack CSV), CDVAE perov_5 crystal CSV, rMD17 npz (stored and deflated) against numpy.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use nucleate_core::io::{ReadError, crystal_csv, npz, qm9};
use nucleate_core::{AtomArray, LabelValue, Structure};

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("data/datasets")
        .join(name)
}

fn float(s: &Structure, key: &str) -> (f64, Option<String>) {
    let l = &s.labels[key];
    match l.value {
        LabelValue::Float(v) => (v, l.unit.clone()),
        ref other => panic!("{key}: {other:?}"),
    }
}

fn parse_err(r: Result<Vec<Structure>, ReadError>) -> (usize, String, String) {
    match r {
        Err(ReadError::Parse(p)) => (p.line, p.field, p.message),
        other => panic!("expected a parse error, got {other:?}"),
    }
}

#[test]
fn qm9_slice_values_match_the_file() {
    let text = std::fs::read_to_string(data("qm9_part1_first20.csv")).unwrap();
    let mols = qm9::read_qm9_csv(&text).unwrap();
    assert_eq!(mols.len(), 20);
    let ch4 = &mols[0];
    assert_eq!(ch4.comment, "dsgdb9nsd_000001.xyz");
    assert_eq!(ch4.numbers, vec![6, 1, 1, 1, 1]);
    assert_eq!(
        ch4.positions[0],
        [-0.0126981359, 1.0858041578, 0.0080009958]
    );
    assert_eq!(ch4.labels["index"].value, LabelValue::Int(1));
    assert_eq!(ch4.labels["smiles"].value, LabelValue::Text("C".into()));
    // HOMO -0.3877 Ha; U0 -40.47893 Ha; atomization with H -0.500273, C -37.846772 Ha.
    let (homo, unit) = float(ch4, "homo");
    assert!((homo - -0.3877 * 27.211386245988).abs() < 1e-12);
    assert_eq!(unit.as_deref(), Some("eV"));
    let (u0a, _) = float(ch4, "U0_atom");
    assert!((u0a - -17.172180672710).abs() < 1e-9, "{u0a}");
    let (u0, _) = float(ch4, "U0");
    assert!((u0 - -40.47893 * 27.211386245988).abs() < 1e-9);
    assert_eq!(float(ch4, "mu"), (0.0, Some("Debye".into())));
    assert_eq!(float(ch4, "alpha"), (13.21, Some("bohr^3".into())));
    assert_eq!(float(ch4, "r2"), (35.3641, Some("bohr^2".into())));
    assert_eq!(float(ch4, "A"), (157.7118, Some("GHz".into())));
    assert_eq!(float(ch4, "cv"), (6.469, Some("cal/mol/K".into())));
    match &ch4.atom_arrays["mulliken_charges"] {
        AtomArray::Float { width: 1, values } => assert_eq!(values[0], -0.535689),
        other => panic!("{other:?}"),
    }
    match &ch4.labels["frequencies"].value {
        LabelValue::Floats(v) => assert_eq!((v.len(), v[0]), (9, 1341.307)),
        other => panic!("{other:?}"),
    }
    // Molecule 4: Fortran-style numbers "0." and "1.".
    assert_eq!(mols[3].positions[0], [0.5995394918, 0.0, 1.0]);
    // Row 20 (QM9 index 20): N C N O H H H H, U0 -225.221461 Ha, mu 3.4869 D.
    let m = &mols[19];
    assert_eq!(m.formula(), "CH4N2O");
    assert_eq!(m.numbers[..4], [7, 6, 7, 8]);
    assert_eq!(m.positions[0], [0.0360526966, 1.360778727, -0.1241640253]);
    assert_eq!(float(m, "mu").0, 3.4869);
    assert!((float(m, "U0").0 - -225.221461 * 27.211386245988).abs() < 1e-9);
}

#[test]
fn qm9_malformed_rows_name_line_and_column() {
    let text = std::fs::read_to_string(data("qm9_part1_first20.csv")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let two = format!("{}\n{}\n{}\n", lines[0], lines[1], lines[2]);
    // Wrong atom count.
    let bad = two.replacen(",5,\"[4,1,0,0,0]\"", ",6,\"[4,1,0,0,0]\"", 1);
    let (line, field, _) = parse_err(qm9::read_qm9_csv(&bad));
    assert_eq!((line, field.as_str()), (2, "Elements"));
    // Absurd count: compared with the list, never allocated.
    let bad = two.replacen(",5,\"[4,1,0,0,0]\"", ",99999999999999,\"[4,1,0,0,0]\"", 1);
    assert_eq!(parse_err(qm9::read_qm9_csv(&bad)).1, "Elements");
    // Non-number and NaN.
    let bad = two.replacen("-0.0126981359", "-0.01x", 1);
    let (line, field, msg) = parse_err(qm9::read_qm9_csv(&bad));
    assert_eq!((line, field.as_str()), (2, "XYZ_Ang"));
    assert!(msg.contains("-0.01x"));
    let bad = two.replacen(",-40.47893,", ",nan,", 1);
    assert_eq!(parse_err(qm9::read_qm9_csv(&bad)).1, "InternalEnergy_0K_au");
    // Truncated row.
    let cut = &two[..two.len() - 40];
    let (line, field, _) = parse_err(qm9::read_qm9_csv(cut));
    assert_eq!((line, field.as_str()), (3, "columns"));
    // Unterminated quote.
    let cut = &two[..two.find("[[-0.0126").unwrap()];
    assert_eq!(parse_err(qm9::read_qm9_csv(cut)).1, "csv");
    assert_eq!(qm9::read_qm9_csv(lines[0]), Err(ReadError::Empty));
}

#[test]
fn perov_slice_reads_every_cif() {
    let text = std::fs::read_to_string(data("perov_5_dev_train_first10.csv")).unwrap();
    let cells = crystal_csv::read_crystal_csv(&text).unwrap();
    assert_eq!(cells.len(), 10);
    for c in &cells {
        assert_eq!(c.n_atoms(), 5);
        assert_eq!(c.pbc, [true; 3]);
    }
    let first = &cells[0];
    assert_eq!(first.comment, "TlCoN2O");
    assert_eq!(first.labels["index"].value, LabelValue::Int(8989));
    assert_eq!(
        first.labels["material_id"].value,
        LabelValue::Text("6334".into())
    );
    assert_eq!(
        first.labels["formula"].value,
        LabelValue::Text("CoTlON2".into())
    );
    assert_eq!(float(first, "heat_all"), (2.72, Some("eV".into())));
    assert_eq!(float(first, "heat_ref").0, 2.6248636002164694);
    assert_eq!(float(first, "dir_gap").0, 0.0);
    let a = 4.24596403;
    assert_eq!(
        first.lattice.unwrap(),
        [[a, 0.0, 0.0], [0.0, a, 0.0], [0.0, 0.0, a]]
    );
    assert_eq!(first.numbers, vec![27, 81, 7, 7, 8]);
    assert!((first.positions[0][0] - 0.00265771 * a).abs() < 1e-12);
    let last = &cells[9];
    assert_eq!(last.comment, "CoReNOF");
    assert_eq!(last.labels["index"].value, LabelValue::Int(15370));
    assert_eq!(float(last, "heat_ref").0, 1.03933500053122);
}

#[test]
fn perov_malformed_cif_errors_point_into_the_csv() {
    let text = std::fs::read_to_string(data("perov_5_dev_train_first10.csv")).unwrap();
    let bad = text.replacen("  Tl  Tl1  1  0.50015703", "  Tl  Tl1  1  0.5001x703", 1);
    let (line, field, _) = parse_err(crystal_csv::read_crystal_csv(&bad));
    assert_eq!(field, "cif: _atom_site_fract_x");
    assert!(
        text.lines().nth(line - 1).unwrap().contains("Tl1"),
        "line {line}"
    );
    let bad = text.replacen(",2.72,", ",inf,", 1);
    assert_eq!(parse_err(crystal_csv::read_crystal_csv(&bad)).1, "heat_all");
}

fn json() -> serde_json::Value {
    let t = std::fs::read_to_string(data("rmd17_ethanol_first5.expect.json")).unwrap();
    serde_json::from_str(&t).unwrap()
}

#[test]
fn rmd17_slices_match_numpy() {
    let expect = json();
    for name in [
        "rmd17_ethanol_first5.npz",
        "rmd17_ethanol_first5_deflate.npz",
    ] {
        let bytes = std::fs::read(data(name)).unwrap();
        let arrays = npz::read_npz(&bytes).unwrap();
        let keys: Vec<&str> = arrays.keys().map(String::as_str).collect();
        let want: Vec<&str> = expect["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(keys, want);
        for (k, (_, a)) in &arrays {
            assert_eq!(a.descr, expect["dtypes"][k].as_str().unwrap(), "{k}");
            let shape: Vec<usize> = expect["shapes"][k]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap() as usize)
                .collect();
            assert_eq!(a.shape, shape, "{k}");
        }
        let frames = npz::read_rmd17(&bytes).unwrap();
        assert_eq!(frames.len(), 5);
        let z: Vec<u8> = expect["nuclear_charges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u8)
            .collect();
        for (k, s) in frames.iter().enumerate() {
            assert_eq!(s.numbers, z);
            let e = expect["energies"][k].as_f64().unwrap();
            let LabelValue::Float(got) = s.labels["energy"].value else {
                panic!("energy")
            };
            assert!((got - e).abs() <= 1e-14 * e.abs(), "{got} vs {e}");
            assert_eq!(s.labels["energy"].unit.as_deref(), Some("kcal/mol"));
            let old = expect["old_indices"][k].as_i64().unwrap();
            assert_eq!(s.labels["old_index"].value, LabelValue::Int(old));
            let AtomArray::Float { width: 3, values } = &s.atom_arrays["forces"] else {
                panic!("forces")
            };
            for a in 0..z.len() {
                for c in 0..3 {
                    // serde_json's default float parsing may differ in the last bit.
                    let close = |x: f64, y: f64| (x - y).abs() <= 1e-14 * y.abs().max(1.0);
                    let p = expect["coords"][k][a][c].as_f64().unwrap();
                    let f = expect["forces"][k][a][c].as_f64().unwrap();
                    assert!(close(s.positions[a][c], p), "{} vs {p}", s.positions[a][c]);
                    assert!(close(values[3 * a + c], f), "{} vs {f}", values[3 * a + c]);
                }
            }
        }
    }
}

#[test]
fn npz_malformed_inputs_are_errors_not_panics() {
    let bytes = std::fs::read(data("rmd17_ethanol_first5.npz")).unwrap();
    // Truncation at every length must fail cleanly.
    for cut in (0..bytes.len()).step_by(97) {
        assert!(npz::read_rmd17(&bytes[..cut]).is_err(), "cut {cut}");
    }
    // A flipped data byte: CRC mismatch, member named.
    let mut bad = bytes.clone();
    let at = bytes.windows(6).position(|w| w == b"\x93NUMPY").unwrap() + 200;
    bad[at] ^= 0xFF;
    let e = npz::read_npz(&bad).unwrap_err();
    assert!(e.to_string().contains("crc32"), "{e}");
    // Same with the deflated archive.
    let bytes = std::fs::read(data("rmd17_ethanol_first5_deflate.npz")).unwrap();
    for cut in (0..bytes.len()).step_by(89) {
        assert!(npz::read_rmd17(&bytes[..cut]).is_err(), "cut {cut}");
    }
    let mut bad = bytes.clone();
    bad[100] ^= 0x55;
    assert!(npz::read_rmd17(&bad).is_err());
}
