//! Malformed inputs for every reader: each must be an `Err` naming the right line and field,
//! never a panic and never an allocation sized by an absurd declared count.

use nucleate_core::io::{Format, ReadError, read_bytes};

/// The (line, field) of the error `format` gives for `text`.
fn err(format: Format, text: &str) -> (usize, String) {
    match read_bytes(text.as_bytes(), format) {
        Err(ReadError::Parse(p)) => (p.line, p.field),
        other => panic!("{format:?}: expected a parse error for {text:?}, got {other:?}"),
    }
}

fn is(line: usize, field: &str) -> (usize, String) {
    (line, field.to_owned())
}

const EXTXYZ: &str = "2\nLattice=\"5 0 0 0 5 0 0 0 5\" Properties=species:S:1:pos:R:3:forces:R:3 energy=-1\nH 0 0 0 0 0 1\nH 0 0 0.7 0 0 -1\n";

#[test]
fn extended_xyz() {
    let f = Format::Xyz;
    assert_eq!(err(f, &EXTXYZ.replace("0 0 0.7", "0 0 nan")), is(4, "z"));
    assert_eq!(
        err(f, &EXTXYZ.replace("0 0 -1\n", "0 0\n")),
        is(4, "forces[2]")
    );
    assert_eq!(
        err(f, &EXTXYZ.replace("0 0 -1\n", "0 x -1\n")),
        is(4, "forces[1]")
    );
    assert_eq!(
        err(f, &EXTXYZ.replace("0 0 5\"", "0 0\"")),
        is(2, "Lattice")
    );
    assert_eq!(
        err(f, &EXTXYZ.replace("forces:R:3", "forces:R")),
        is(2, "Properties")
    );
    assert_eq!(
        err(f, &EXTXYZ.replace("forces:R:3", "forces:R:-3")),
        is(2, "Properties")
    );
    assert_eq!(
        err(f, &EXTXYZ.replace("5\" P", "5 P")),
        is(2, "comment value")
    );
    assert_eq!(
        err(f, &EXTXYZ.replacen('2', "99999999999", 1)),
        is(1, "atom count")
    );
    assert_eq!(err(f, &EXTXYZ[..EXTXYZ.len() - 10]), is(4, "forces[0]"));
}

const V2000: &str = "name\n  prog\n\n  2  1  0  0  0  0  0  0  0  0999 V2000\n    0.0000    0.0000    0.0000 C   0  0\n    1.5000    0.0000    0.0000 O   0  0\n  1  2  2  0\nM  END\n$$$$\n";

#[test]
fn sdf_v2000() {
    let f = Format::Sdf;
    assert_eq!(
        err(f, &V2000.replace("  2  1  0", "99999999999  1  0")),
        is(4, "atom count")
    );
    // One atom too many declared: the bond line is read as an atom line.
    assert_eq!(
        err(f, &V2000.replace("  2  1  0  0", "  3  1  0  0")),
        is(7, "element")
    );
    assert_eq!(
        err(f, &V2000.replace("  2  1  0  0", "  2  9  0  0")),
        is(4, "bond count")
    );
    assert_eq!(
        err(f, &V2000.replace("    1.5000", "       NaN")),
        is(6, "x")
    );
    assert_eq!(
        err(f, &V2000.replace("    1.5000", "   1.5e999")),
        is(6, "x")
    );
    assert_eq!(err(f, &V2000.replace(" O ", " Zz")), is(6, "element"));
    assert_eq!(err(f, "name\n  prog\n"), is(3, "comment line"));
    assert_eq!(err(f, "name\n  prog\n\n"), is(4, "counts line"));
    // Truncated after the atom block: the bond line is missing.
    let truncated: String = V2000.lines().take(6).map(|l| format!("{l}\n")).collect();
    assert_eq!(err(f, &truncated), is(4, "bond count"));
}

#[test]
fn sdf_v3000() {
    let mol = "t\n\n\n  0  0  0  0  0  0  0  0  0  0999 V3000\nM  V30 BEGIN CTAB\nM  V30 COUNTS 1 0 0 0 0\nM  V30 BEGIN ATOM\nM  V30 1 C 0 0 0 0\nM  V30 END ATOM\nM  V30 END CTAB\nM  END\n";
    let f = Format::Sdf;
    assert!(read_bytes(mol.as_bytes(), f).is_ok());
    assert_eq!(
        err(f, &mol.replace("COUNTS 1", "COUNTS 99999999999")),
        is(6, "atom count")
    );
    assert_eq!(err(f, &mol.replace("1 C 0 0 0", "1 C 0 inf 0")), is(8, "y"));
    assert_eq!(err(f, &mol.replace("1 C 0 0 0 0", "1 C 0")), is(8, "y"));
    assert_eq!(err(f, &mol.replace("M  END\n", "")), is(11, "M  END"));
}

const MOL2: &str = "@<TRIPOS>MOLECULE\nm\n 2 1\nSMALL\nUSER_CHARGES\n\n@<TRIPOS>ATOM\n 1 C1 0.0 0.0 0.0 C.3 1 L 0.1\n 2 O1 1.4 0.0 0.0 O.3 1 L -0.1\n@<TRIPOS>BOND\n 1 1 2 1\n";

#[test]
fn mol2() {
    let f = Format::Mol2;
    assert_eq!(
        err(f, &MOL2.replace(" 2 1\n", " 99999999999 1\n")),
        is(3, "atom count")
    );
    assert_eq!(
        err(f, &MOL2.replace(" 2 1\n", " two 1\n")),
        is(3, "atom count")
    );
    assert_eq!(
        err(f, &MOL2.replace(" 2 1\n", " 3 1\n")),
        is(10, "atom record")
    );
    assert_eq!(err(f, &MOL2.replace("1.4 0.0", "1.4 nan")), is(9, "y"));
    assert_eq!(err(f, &MOL2.replace("-0.1", "minus")), is(9, "charge"));
    assert_eq!(
        err(f, &MOL2.replace(" O.3 1 L -0.1", "")),
        is(9, "atom type")
    );
    assert_eq!(err(f, "@<TRIPOS>MOLECULE\nm\n"), is(3, "atom count"));
}

const PDB: &str = "CRYST1   10.000   10.000   10.000  90.00  90.00  90.00 P 1           1\nATOM      1  N   ALA A   1      11.104   6.134  -6.504  1.00  0.00           N\n";

#[test]
fn pdb() {
    let f = Format::Pdb;
    assert_eq!(err(f, &PDB.replace("  6.134", "    NaN")), is(2, "y"));
    assert_eq!(err(f, &PDB.replace("-6.504", "-6.5x4")), is(2, "z"));
    assert_eq!(err(f, &PDB[..PDB.len() - 40]), is(2, "z"));
    assert_eq!(
        err(f, &PDB.replace("  10.000  90", "  ten     90")),
        is(1, "CRYST1 c")
    );
    assert_eq!(
        err(f, &PDB.replace("A   1 ", "A   # ")),
        is(2, "residue number")
    );
    assert_eq!(read_bytes(b"HEADER\nEND\n", f), Err(ReadError::Empty));
}

const MMCIF: &str = "data_x\nloop_\n_atom_site.group_PDB\n_atom_site.type_symbol\n_atom_site.Cartn_x\n_atom_site.Cartn_y\n_atom_site.Cartn_z\n_atom_site.pdbx_PDB_model_num\nATOM N 1.0 2.0 3.0 1\nATOM C 1.5 2.0 3.0 1\n";

#[test]
fn mmcif() {
    let f = Format::MmCif;
    assert!(read_bytes(MMCIF.as_bytes(), f).is_ok());
    assert_eq!(
        err(f, &MMCIF.replace("1.5 2.0", "1.5 nan")),
        is(10, "Cartn_y")
    );
    assert_eq!(
        err(f, &MMCIF.replace("3.0 1\nATOM C", "3.0 one\nATOM C")),
        is(9, "pdbx_PDB_model_num")
    );
    assert_eq!(err(f, &MMCIF.replace(" 3.0 1\n", " 3.0\n")), is(2, "loop_"));
    assert_eq!(
        err(f, &MMCIF.replace("ATOM C", "ATOM 'C")),
        is(10, "quoted value")
    );
    assert_eq!(
        err(f, &format!("{MMCIF};unterminated\n")),
        is(11, "text field")
    );
    assert_eq!(
        err(f, &MMCIF.replace("Cartn_z", "Cartn_q")),
        is(2, "cartn_z")
    );
}

#[test]
fn invalid_utf8_names_its_line() {
    let bytes = b"2\nc\nH 0 0 0\n\xff 0 0 1\n";
    for f in [
        Format::Xyz,
        Format::Sdf,
        Format::Mol2,
        Format::Pdb,
        Format::MmCif,
    ] {
        assert_eq!(read_bytes(bytes, f).unwrap_err().line(), Some(4));
    }
}

#[test]
fn formats_from_file_names() {
    assert_eq!(Format::from_file_name("a.SDF"), Some(Format::Sdf));
    assert_eq!(Format::from_file_name("a.mol"), Some(Format::Sdf));
    assert_eq!(Format::from_file_name("a.mol2"), Some(Format::Mol2));
    assert_eq!(Format::from_file_name("1abc.ent"), Some(Format::Pdb));
    assert_eq!(Format::from_file_name("1abc.mmcif"), Some(Format::MmCif));
    assert_eq!(Format::from_file_name("run.extxyz"), Some(Format::Xyz));
}

/// Arbitrary byte soup and truncations of valid files must never panic.
#[test]
fn truncations_never_panic() {
    for (f, text) in [
        (Format::Xyz, EXTXYZ),
        (Format::Sdf, V2000),
        (Format::Mol2, MOL2),
        (Format::Pdb, PDB),
        (Format::MmCif, MMCIF),
    ] {
        for end in 0..=text.len() {
            let _ = read_bytes(&text.as_bytes()[..end], f);
        }
    }
}
