//! CIF blocks that name their space group but list no symmetry operations are expanded from
//! the group: the committed public CIFs (COD via chemfiles and gemmi, Materials Project via
//! pymatgen), read once as published and once with their operation loop cut out, keeping only
//! the Hall symbol, only the Hermann–Mauguin symbol or only the number, must give the same
//! atoms. Before this, such a block came back with its asymmetric unit only.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use nucleate_core::Structure;
use nucleate_core::graph::CellGeometry;
use nucleate_core::io::{Format, read_bytes};

fn sample(rel: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("data/reader_samples")
        .join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `text` without its symmetry-operation loop (the `loop_`, its tags and its rows).
fn without_operations(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let tag = lines
        .iter()
        .position(|l| {
            let l = l.trim().to_ascii_lowercase();
            l == "_symmetry_equiv_pos_as_xyz" || l == "_space_group_symop_operation_xyz"
        })
        .expect("an operation loop");
    let start = (0..tag)
        .rev()
        .find(|&k| lines[k].trim() == "loop_")
        .expect("loop_");
    let mut end = tag + 1;
    while end < lines.len() {
        let l = lines[end].trim_start();
        if l.starts_with("loop_") || l.starts_with('_') || l.starts_with("data_") {
            break;
        }
        end += 1;
    }
    let mut out: Vec<&str> = lines[..start].to_vec();
    out.extend(&lines[end..]);
    out.join("\n") + "\n"
}

/// `text` without the lines whose tag starts with one of `tags` (case-insensitive).
fn without_tags(text: &str, tags: &[&str]) -> String {
    text.lines()
        .filter(|l| {
            let l = l.trim_start().to_ascii_lowercase();
            !tags.iter().any(|t| l.starts_with(t))
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

fn read(text: &str) -> Structure {
    let mut all = read_bytes(text.as_bytes(), Format::Cif).unwrap();
    assert_eq!(all.len(), 1);
    all.remove(0)
}

/// Atoms as (Z, fractional coordinates rounded to 1e-4, wrapped), sorted.
fn atoms(s: &Structure) -> Vec<(u8, [i64; 3])> {
    let cell = CellGeometry::new(s.lattice.unwrap()).unwrap();
    let mut out: Vec<_> = s
        .numbers
        .iter()
        .zip(&s.positions)
        .map(|(&z, &p)| {
            let f = cell
                .frac_from_cart(p)
                .map(|x| ((x - x.floor()) * 1e4).round() as i64 % 10_000);
            (z, f)
        })
        .collect();
    out.sort_unstable();
    out
}

const HALL: [&str; 2] = ["_space_group_name_hall", "_symmetry_space_group_name_hall"];
const HM: [&str; 2] = ["_space_group_name_h-m", "_symmetry_space_group_name_h-m"];

fn check(rel: &str, expected_atoms: usize) {
    let text = sample(rel);
    let published = atoms(&read(&text));
    assert_eq!(published.len(), expected_atoms, "{rel} as published");
    let bare = without_operations(&text);
    let variants = [
        ("as named", bare.clone()),
        ("Hermann–Mauguin and number", without_tags(&bare, &HALL)),
        (
            "number only",
            without_tags(&bare, &[&HALL[..], &HM[..]].concat()),
        ),
    ];
    for (what, variant) in variants {
        assert!(!variant.to_ascii_lowercase().contains("_equiv_pos_as_xyz"));
        assert_eq!(atoms(&read(&variant)), published, "{rel}: {what}");
    }
}

#[test]
fn silicon_f43m_from_gemmi_tests() {
    // COD 1011031: F -4 3 m (Hall 'F -4 2 3'), one site → 8 atoms in the conventional cell.
    check("gemmi_tests/1011031.cif", 8);
}

#[test]
fn p21_organic_crystal_from_chemfiles_tests() {
    check(
        "chemfiles_tests_data/cif/1544173.cif",
        2 * count_sites("chemfiles_tests_data/cif/1544173.cif"),
    );
}

#[test]
fn pm_perovskite_from_pymatgen_tests() {
    let rel = "pymatgen_tests/H6PbCI3N_mp-977013_symmetrized.cif";
    let published = atoms(&read(&sample(rel))).len();
    check(rel, published);
    // Hermann–Mauguin only, in its short form "Pm": the standard setting (unique axis b).
    let text = without_tags(
        &without_operations(&sample(rel)),
        &["_symmetry_int_tables_number"],
    );
    assert_eq!(atoms(&read(&text)).len(), published);
}

/// Sites in the `_atom_site_` loop of a file whose sites lie in general positions.
fn count_sites(rel: &str) -> usize {
    let s = read(&without_tags(
        &without_operations(&sample(rel)),
        &[
            &HALL[..],
            &HM[..],
            &["_space_group_it_number", "_symmetry_int_tables_number"],
        ]
        .concat(),
    ));
    s.n_atoms()
}

#[test]
fn an_origin_choice_left_open_is_an_error_naming_the_field() {
    let text = sample("gemmi_tests/1011031.cif");
    let bare = without_tags(&without_operations(&text), &HALL);
    let bare = without_tags(
        &bare,
        &["_space_group_it_number", "_symmetry_int_tables_number"],
    );
    let ambiguous = bare.replace("'F -4 3 m'", "'F d -3 m'");
    assert_ne!(ambiguous, bare);
    let err = read_bytes(ambiguous.as_bytes(), Format::Cif)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("_symmetry_space_group_name_H-M") && err.contains("origin"),
        "{err}"
    );
}
