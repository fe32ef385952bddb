//! Every sample file of a format nucleate reads, compared with the reference readings in
//! `data/reader_samples/reader_expect.json` (gemmi, pymatgen, ASE, RDKit; see its header).
//!
//! Compared: number of frames/records/models, atom count, element counts, cell (1e-3 Å), pbc
//! and the first three positions (1e-3 Å) of the first structure. Symbol conventions: nucleate
//! reads deuterium/tritium as hydrogen (Z = 1) and every non-element (gemmi's `X`, RDKit's `R`,
//! `*`, …) as Z = 0, so the expected `D`/`T` count as `H` and the non-elements as `X`.
//!
//! Where the primary tool rejected a file, nucleate agrees if it also rejects it with an error
//! naming a line, or if it matches an admissible alternative reading. The deliberate differences
//! are listed in [`DELIBERATE`] with the reason.

use std::collections::BTreeMap;

use nucleate_core::io::{ReadError, mmcif, mol2, pdb, sdf, xyz};
use nucleate_core::{Structure, elements};
use serde_json::Value;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/reader_samples");
const TOL: f64 = 1e-3;

/// Files nucleate reads differently from the primary reference tool on purpose.
const DELIBERATE: &[(&str, &str)] = &[(
    "chemfiles_tests_data/mol2/imatinib.mol2",
    "RDKit rejects GAFF atom types (`o`, `n3`, `ca`: \"Element 'o' not found\"); nucleate takes \
     the element from force-field types and atom names, so it reads the file (68 atoms)",
)];
// aspirin.sdf (blank lines before `M  END`): RDKit rejects it ("unexpected blank line found at
// line 47"); nucleate deliberately accepts it like ASE and chemfiles, because the blank lines
// carry no data and PubChem files like it are common. ASE's reading is an admissible
// alternative, and nucleate matches it, so this counts as agreement below.

fn read(format: &str, text: &str) -> Option<Result<Vec<Structure>, ReadError>> {
    Some(match format {
        "xyz" | "extxyz" => xyz::read_xyz(text),
        "sdf" | "mol" => sdf::read_sdf(text),
        "mol2" => mol2::read_mol2(text),
        "pdb" => pdb::read_pdb(text),
        "mmcif" => mmcif::read_mmcif(text),
        _ => return None, // cif, poscar, ccd-cif: other readers
    })
}

fn normalise_symbol(s: &str) -> String {
    match s {
        "D" | "T" => "H".to_owned(),
        _ if elements::number_from_symbol(s).is_some() => s.to_owned(),
        _ => "X".to_owned(),
    }
}

fn our_elements(s: &Structure) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for &z in &s.numbers {
        let sym = if z == 0 { "X" } else { elements::symbol(z) };
        *m.entry(sym.to_owned()).or_default() += 1;
    }
    m
}

fn expected_elements(v: &Value) -> Option<BTreeMap<String, u64>> {
    let mut m = BTreeMap::new();
    for (k, n) in v.as_object()? {
        *m.entry(normalise_symbol(k)).or_default() += n.as_u64()?;
    }
    Some(m)
}

fn close(a: &Value, b: &[f64]) -> bool {
    a.as_array().is_some_and(|a| {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(x, y)| x.as_f64().is_some_and(|x| (x - y).abs() <= TOL))
    })
}

/// Differences between our reading and one reference reading (empty when they agree).
fn compare(exp: &Value, frames: &[Structure]) -> Vec<String> {
    let mut diffs = Vec::new();
    let Some(s) = frames.first() else {
        return vec!["no structure".into()];
    };
    if let Some(n) = exp["frames"].as_u64()
        && n as usize != frames.len()
    {
        diffs.push(format!("frames {} != {n}", frames.len()));
    }
    if let Some(n) = exp["n_atoms"].as_u64()
        && n as usize != s.n_atoms()
    {
        diffs.push(format!("n_atoms {} != {n}", s.n_atoms()));
    }
    let ours = our_elements(s);
    let element_ok = [&exp["elements"], &exp["elements_as_written"]]
        .iter()
        .filter_map(|v| expected_elements(v))
        .any(|e| e == ours);
    if !element_ok {
        diffs.push(format!("elements {ours:?} != {}", exp["elements"]));
    }
    match (&exp["cell"], s.lattice) {
        (Value::Null, None) => {}
        (Value::Array(rows), Some(l)) if rows.len() == 3 => {
            if !rows.iter().zip(&l).all(|(r, ours)| close(r, ours)) {
                diffs.push(format!("cell {l:?} != {}", exp["cell"]));
            }
        }
        (c, l) => diffs.push(format!("cell {l:?} != {c}")),
    }
    if let Some(pbc) = exp["pbc"].as_array() {
        let want: Vec<bool> = pbc.iter().filter_map(Value::as_bool).collect();
        if want != s.pbc {
            diffs.push(format!("pbc {:?} != {want:?}", s.pbc));
        }
    }
    if let Some(first) = exp["positions_first3"].as_array() {
        for (k, p) in first.iter().enumerate() {
            match s.positions.get(k) {
                Some(ours) if close(p, ours) => {}
                ours => diffs.push(format!("position {k} {ours:?} != {p}")),
            }
        }
    }
    diffs
}

#[test]
fn sample_files_agree_with_reference_readings() {
    let json = std::fs::read_to_string(format!("{DIR}/reader_expect.json")).unwrap();
    let expect: Value = serde_json::from_str(&json).unwrap();
    let files = expect["files"].as_array().unwrap();
    let (mut covered, mut agree, mut deliberate) = (0, 0, 0);
    let mut failures = Vec::new();
    for entry in files {
        let path = entry["path"].as_str().unwrap();
        let format = entry["format"].as_str().unwrap();
        if !entry["compression"].is_null() || entry["scored"] == Value::Bool(false) {
            continue;
        }
        let text = std::fs::read_to_string(format!("{DIR}/{path}")).unwrap();
        let Some(result) = read(format, &text) else {
            continue;
        };
        covered += 1;
        let ok = entry["ok"].as_bool().unwrap();
        let verdict: Result<String, String> = match (&result, ok) {
            (Ok(frames), true) => {
                let d = compare(entry, frames);
                if d.is_empty() {
                    Ok("agrees".into())
                } else {
                    Err(d.join("; "))
                }
            }
            (Err(e), false) if e.line().is_some() => Ok(format!("rejected as reference: {e}")),
            (Err(e), _) => Err(format!("rejected: {e}")),
            (Ok(frames), false) => {
                let alt = entry["alternatives"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|a| {
                        a["admissible"] == Value::Bool(true)
                            && a["ok"] == Value::Bool(true)
                            && compare(a, frames).is_empty()
                    });
                match alt {
                    Some(a) => Ok(format!("agrees with admissible {}", a["tool"])),
                    None => Err(format!(
                        "accepted, {} rejects: {}",
                        entry["tool"], entry["error"]
                    )),
                }
            }
        };
        match verdict {
            Ok(v) => {
                agree += 1;
                println!("AGREE     {path}: {v}");
            }
            Err(d) => {
                if let Some((_, why)) = DELIBERATE.iter().find(|(p, _)| *p == path) {
                    deliberate += 1;
                    println!("DIFFERENT {path}: {d} (deliberate: {why})");
                } else {
                    println!("DISAGREE  {path}: {d}");
                    failures.push(format!("{path}: {d}"));
                }
            }
        }
    }
    println!("{agree} of {covered} agree ({deliberate} deliberate differences)");
    assert!(
        covered >= 9,
        "expected the xyz, sdf, mol, mol2 and pdb samples, got {covered}"
    );
    assert!(
        failures.is_empty(),
        "disagreements:\n{}",
        failures.join("\n")
    );
}

/// The deliberate difference on imatinib.mol2: what nucleate reads instead.
#[test]
fn imatinib_mol2_reads_gaff_types() {
    let text =
        std::fs::read_to_string(format!("{DIR}/chemfiles_tests_data/mol2/imatinib.mol2")).unwrap();
    let m = mol2::read_mol2(&text).unwrap();
    assert_eq!(m.len(), 1);
    let s = &m[0];
    assert_eq!(s.n_atoms(), 68);
    assert_eq!(s.formula(), "C29H31N7O");
    assert_eq!(s.positions[0], [-0.828, 0.249, -1.042]);
    assert!(s.atom_arrays.contains_key("charges"));
}

/// Extended-XYZ extras the reference does not score: per-atom arrays and labels.
#[test]
fn extended_xyz_arrays_and_labels() {
    let text =
        std::fs::read_to_string(format!("{DIR}/chemfiles_tests_data/xyz/extended.xyz")).unwrap();
    let frames = xyz::read_xyz(&text).unwrap();
    let s = &frames[0];
    assert_eq!(s.atom_arrays["CS"].width(), 2);
    assert_eq!(s.atom_arrays["CS"].rows(), 192);
    for key in ["ENERGY", "IsStrange", "NAME", "Natoms"] {
        assert!(s.labels.contains_key(key), "{key}");
    }
    assert_eq!(s.labels["ENERGY"].unit, None);
    let ethanol = std::fs::read_to_string(format!(
        "{DIR}/botnet_datasets/dataset_ethanol/test_norm_mode_3005.xyz"
    ))
    .unwrap();
    let e = &xyz::read_xyz(&ethanol).unwrap()[0];
    assert_eq!(e.labels["energy"].unit.as_deref(), Some("eV"));
    assert_eq!(e.pbc, [false; 3]);
}
