//! PDB (fixed-column) coordinate files: `ATOM`/`HETATM` records, `MODEL`/`ENDMDL`, `CRYST1`.
//!
//! * One [`Structure`] per model (the whole file when there is no `MODEL` record). Reading stops
//!   at the first `END` record, as gemmi does.
//! * Elements come from columns 77–78; an unrecognised symbol there gives Z = 0 (gemmi's `X`);
//!   `D` and `T` read as hydrogen (Z = 1). Without columns 77–78 the element is inferred from
//!   the atom name by the PDB column rule: a name starting in column 13 (`"FE  "`, `"CA  "`)
//!   has a two-letter element, one starting in column 14 (`" CA "`) a one-letter element; a
//!   four-character name starting with `H` is hydrogen.
//! * Alternate locations: a record with a blank altloc is always kept; for an atom (chain,
//!   residue number, insertion code, atom name) with altloc records only the first altloc seen
//!   is kept. Atoms differing only in insertion code are distinct atoms.
//! * `CRYST1` gives the lattice in the standard orientation (a along x, b in the xy plane) and
//!   pbc true; the 1×1×1 placeholder and all-zero cells give no lattice. Where the three
//!   `SCALEn` records give a fractionalisation matrix S that differs from the standard one (a
//!   cell in another orientation), the lattice vectors are the columns of S⁻¹, as gemmi reads
//!   them, so that the cell matches the coordinates; their translation part and `ORIGXn` are
//!   not used.
//! * Per-atom arrays: `atom_names`, `residue_names`, `chain_ids`, `insertion_codes` (text),
//!   `residue_numbers` (integer; hybrid-36 accepted) and `hetatm` (logical).

use std::collections::HashMap;

use super::{ReadError, field};
use crate::{AtomArray, Structure, elements};

/// Atoms of one model being collected.
#[derive(Default)]
struct Model {
    numbers: Vec<u8>,
    positions: Vec<[f64; 3]>,
    atom_names: Vec<String>,
    residue_names: Vec<String>,
    residue_numbers: Vec<i64>,
    chain_ids: Vec<String>,
    insertion_codes: Vec<String>,
    hetatm: Vec<bool>,
    /// First altloc seen per (chain, residue number, insertion code, atom name).
    altlocs: HashMap<(String, i64, String, String), char>,
}

impl Model {
    fn into_structure(self, lattice: Option<[[f64; 3]; 3]>) -> Structure {
        let text = |values| AtomArray::Text { width: 1, values };
        let mut s = Structure::molecule(self.numbers, self.positions);
        s.lattice = lattice;
        s.pbc = [lattice.is_some(); 3];
        s.atom_arrays
            .insert("atom_names".into(), text(self.atom_names));
        s.atom_arrays
            .insert("residue_names".into(), text(self.residue_names));
        s.atom_arrays
            .insert("chain_ids".into(), text(self.chain_ids));
        s.atom_arrays
            .insert("insertion_codes".into(), text(self.insertion_codes));
        s.atom_arrays.insert(
            "residue_numbers".into(),
            AtomArray::Int {
                width: 1,
                values: self.residue_numbers,
            },
        );
        s.atom_arrays.insert(
            "hetatm".into(),
            AtomArray::Bool {
                width: 1,
                values: self.hetatm,
            },
        );
        s
    }
}

/// Parse every model of a PDB file.
///
/// # Errors
/// A [`ReadError`] naming the 1-based line and field of the first problem: an `ATOM`/`HETATM`
/// record too short to hold coordinates, a coordinate that is not a finite number, a residue
/// number that is neither an integer nor hybrid-36, a `CRYST1` parameter that is not a number.
/// A file without atoms gives [`ReadError::Empty`].
///
/// # Example
/// ```
/// let pdb = "ATOM      1  CA  ALA A   1      11.104   6.134  -6.504  1.00  0.00           C\n";
/// let s = &nucleate_core::io::pdb::read_pdb(pdb).unwrap()[0];
/// assert_eq!((s.numbers[0], s.positions[0][2]), (6, -6.504));
/// ```
pub fn read_pdb(text: &str) -> Result<Vec<Structure>, ReadError> {
    let mut lattice = None;
    let mut scale: [Option<[f64; 3]>; 3] = [None; 3];
    let mut models: Vec<Model> = Vec::new();
    let mut current = Model::default();
    let mut in_model = false;
    for (k, line) in text.lines().enumerate() {
        let ln = k + 1;
        let record = line.get(..6).unwrap_or(line).trim_end();
        match record {
            "END" => break,
            "MODEL" => {
                if in_model || !current.numbers.is_empty() {
                    models.push(std::mem::take(&mut current));
                }
                in_model = true;
            }
            "ENDMDL" => {
                models.push(std::mem::take(&mut current));
                in_model = false;
            }
            "CRYST1" => lattice = cryst1(line, ln)?,
            "SCALE1" | "SCALE2" | "SCALE3" => {
                let row = usize::from(record.as_bytes()[5] - b'1');
                scale[row] = Some(scale_row(line, ln, record)?);
            }
            "ATOM" | "HETATM" => atom(line, ln, record == "HETATM", &mut current)?,
            _ => {}
        }
    }
    if in_model || !current.numbers.is_empty() {
        models.push(current);
    }
    models.retain(|m| !m.numbers.is_empty());
    if models.is_empty() {
        return Err(ReadError::Empty);
    }
    if let (Some(standard), [Some(s1), Some(s2), Some(s3)]) = (lattice, scale) {
        // S maps each standard lattice vector to a unit vector unless the file's frame differs
        // (SCALEn's six decimals put S·a within ~1e-4 of the unit vector for cells < 200 Å).
        let s = [s1, s2, s3];
        let off = (0..3)
            .flat_map(|j| (0..3).map(move |i| (i, j)))
            .map(|(i, j)| {
                let v: f64 = (0..3).map(|k| s[i][k] * standard[j][k]).sum();
                (v - if i == j { 1.0 } else { 0.0 }).abs()
            })
            .fold(0.0, f64::max);
        if off > 1e-3 {
            lattice = lattice_from_scale(s).or(lattice);
        }
    }
    Ok(models
        .into_iter()
        .enumerate()
        .map(|(i, m)| {
            let mut s = m.into_structure(lattice);
            s.record_index = i;
            s
        })
        .collect())
}

/// Columns `range` (0-based, end exclusive) of `line`, shorter at the end of the line; `""` when
/// the line ends before them.
fn cols(line: &str, range: std::ops::Range<usize>) -> &str {
    line.get(range.clone())
        .or_else(|| line.get(range.start..))
        .unwrap_or("")
}

fn cryst1(line: &str, ln: usize) -> Result<Option<[[f64; 3]; 3]>, ReadError> {
    let spans = [
        (6..15, "CRYST1 a"),
        (15..24, "CRYST1 b"),
        (24..33, "CRYST1 c"),
        (33..40, "CRYST1 alpha"),
        (40..47, "CRYST1 beta"),
        (47..54, "CRYST1 gamma"),
    ];
    let mut p = [0.0; 6];
    for (v, (range, name)) in p.iter_mut().zip(spans) {
        *v = field::finite(cols(line, range), ln, name)?;
    }
    let lengths = [p[0], p[1], p[2]];
    if lengths == [1.0; 3] {
        return Ok(None); // placeholder cell of NMR and model files
    }
    Ok(field::cell_from_parameters(lengths, [p[3], p[4], p[5]]))
}

/// The rotation part of a `SCALEn` record (columns 11–40).
fn scale_row(line: &str, ln: usize, record: &str) -> Result<[f64; 3], ReadError> {
    let mut row = [0.0; 3];
    for (k, v) in row.iter_mut().enumerate() {
        let range = 10 + 10 * k..20 + 10 * k;
        *v = field::finite(cols(line, range), ln, &format!("{record} s{}", k + 1))?;
    }
    Ok(row)
}

/// Lattice rows a, b, c = the columns of S⁻¹ (S maps Cartesian to fractional coordinates);
/// `None` for a singular S.
fn lattice_from_scale(s: [[f64; 3]; 3]) -> Option<[[f64; 3]; 3]> {
    let inv = field::inverse3(&s)?;
    Some(std::array::from_fn(|j| std::array::from_fn(|i| inv[i][j])))
}

fn atom(line: &str, ln: usize, het: bool, model: &mut Model) -> Result<(), ReadError> {
    if line.len() < 54 || line.get(..54).is_none() {
        return Err(ReadError::at(
            ln,
            "z",
            format!(
                "ATOM/HETATM record has {} columns, coordinates need 54",
                line.len()
            ),
        ));
    }
    let name_field = cols(line, 12..16);
    let name = name_field.trim().to_owned();
    let altloc = cols(line, 16..17).chars().next().unwrap_or(' ');
    let residue_name = cols(line, 17..21).trim().to_owned();
    let chain = cols(line, 21..22).trim().to_owned();
    let resseq_text = cols(line, 22..26);
    let residue_number = residue_number(resseq_text).ok_or_else(|| {
        ReadError::at(
            ln,
            "residue number",
            format!("expected an integer, got {resseq_text:?}"),
        )
    })?;
    let icode = cols(line, 26..27).trim().to_owned();
    if altloc != ' ' {
        let key = (chain.clone(), residue_number, icode.clone(), name.clone());
        let first = *model.altlocs.entry(key).or_insert(altloc);
        if first != altloc {
            return Ok(());
        }
    }
    let mut pos = [0.0; 3];
    for (k, (p, axis)) in pos.iter_mut().zip(["x", "y", "z"]).enumerate() {
        *p = field::finite(cols(line, 30 + 8 * k..38 + 8 * k), ln, axis)?;
    }
    let symbol = cols(line, 76..78).trim();
    let z = if symbol.is_empty() {
        element_from_name(name_field)
    } else {
        element_symbol(symbol)
    };
    model.numbers.push(z);
    model.positions.push(pos);
    model.atom_names.push(name);
    model.residue_names.push(residue_name);
    model.residue_numbers.push(residue_number);
    model.chain_ids.push(chain);
    model.insertion_codes.push(icode);
    model.hetatm.push(het);
    Ok(())
}

/// A residue number: a (possibly negative) integer, or hybrid-36 for numbers past 9999.
fn residue_number(text: &str) -> Option<i64> {
    let t = text.trim();
    if let Ok(v) = t.parse() {
        return Some(v);
    }
    let first = t.chars().next()?;
    if t.len() != 4 || !t.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    let digits = if first.is_ascii_uppercase() {
        "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    } else {
        "0123456789abcdefghijklmnopqrstuvwxyz"
    };
    let mut v: i64 = 0;
    for c in t.chars() {
        v = v * 36 + i64::try_from(digits.find(c)?).ok()?;
    }
    let offset = 10 * 36i64.pow(3) - 10_000;
    Some(if first.is_ascii_uppercase() {
        v - offset
    } else {
        v - offset + 26 * 36i64.pow(3)
    })
}

/// Element of columns 77–78: a symbol, `D`/`T` as hydrogen, anything else Z = 0.
fn element_symbol(symbol: &str) -> u8 {
    let letters: String = symbol.chars().filter(char::is_ascii_alphabetic).collect();
    match letters.to_ascii_uppercase().as_str() {
        "D" | "T" => 1,
        _ => elements::number_from_symbol(&letters).unwrap_or(0),
    }
}

/// Element inferred from the four-column atom name by the PDB column rule.
fn element_from_name(name: &str) -> u8 {
    let chars: Vec<char> = name.chars().collect();
    let c0 = chars.first().copied().unwrap_or(' ');
    let c1 = chars.get(1).copied().unwrap_or(' ');
    if c0.is_ascii_alphabetic() {
        let four_char_h = c0.eq_ignore_ascii_case(&'H') && name.trim().chars().count() == 4;
        if c1.is_ascii_alphabetic() && !four_char_h {
            let two: String = [c0, c1].iter().collect();
            if let Some(z) = elements::number_from_symbol(&two) {
                return z;
            }
        }
        return element_symbol(&c0.to_string());
    }
    if c1.is_ascii_alphabetic() {
        return element_symbol(&c1.to_string());
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO_MODELS: &str = "\
CRYST1   10.000   20.000   30.000  90.00  90.00 120.00 P 1           1
MODEL        1
ATOM      1  N   ALA A   1      11.104   6.134  -6.504  1.00  0.00           N
ATOM      2  CA AALA A   1      11.639   6.071  -5.147  0.50  0.00           C
ATOM      3  CA BALA A   1      11.700   6.000  -5.100  0.50  0.00           C
ATOM      4  CB  ALA A   1A     12.000   6.000  -5.000  1.00  0.00
HETATM    5 FE   HEM A 100       1.000   2.000   3.000  1.00  0.00
ENDMDL
MODEL        2
ATOM      1  N   ALA A   1      11.000   6.000  -6.000  1.00  0.00           N
ENDMDL
END
ATOM      1  N   ALA A   1      11.000   6.000  -6.000  1.00  0.00           N
";

    #[test]
    fn scale_records_of_another_frame_give_the_cell() {
        let cryst = "CRYST1   10.000   10.000   10.000  90.00  90.00  90.00 P 1           1\n";
        let atom =
            "ATOM      1  N   ALA A   1       1.000   2.000   3.000  1.00  0.00           N\n";
        let scale = |rows: [&str; 3]| {
            rows.iter()
                .enumerate()
                .map(|(k, r)| format!("SCALE{}    {r}        0.00000\n", k + 1))
                .collect::<String>()
        };
        // The standard frame: the CRYST1 cell, exactly.
        let standard = scale([
            "  0.100000  0.000000  0.000000",
            "  0.000000  0.100000  0.000000",
            "  0.000000  0.000000  0.100000",
        ]);
        let s = &read_pdb(&format!("{cryst}{standard}{atom}")).unwrap()[0];
        assert_eq!(
            s.lattice.unwrap(),
            [[10.0, 0.0, 0.0], [0.0, 10.0, 0.0], [0.0, 0.0, 10.0]]
        );
        // a along y, b along −x: the lattice vectors are the columns of S⁻¹.
        let turned = scale([
            "  0.000000  0.100000  0.000000",
            " -0.100000  0.000000  0.000000",
            "  0.000000  0.000000  0.100000",
        ]);
        let s = &read_pdb(&format!("{cryst}{turned}{atom}")).unwrap()[0];
        let l = s.lattice.unwrap();
        let expect = [[0.0, 10.0, 0.0], [-10.0, 0.0, 0.0], [0.0, 0.0, 10.0]];
        for (row, e) in l.iter().zip(expect) {
            for (v, w) in row.iter().zip(e) {
                assert!((v - w).abs() < 1e-9, "{l:?}");
            }
        }
    }

    #[test]
    fn reads_models_altlocs_elements_and_cell() {
        let models = read_pdb(TWO_MODELS).unwrap();
        assert_eq!(models.len(), 2);
        let s = &models[0];
        assert_eq!(s.numbers, vec![7, 6, 6, 26]);
        assert_eq!(s.positions[1], [11.639, 6.071, -5.147]);
        let cell = s.lattice.unwrap();
        assert!((cell[1][0] + 10.0).abs() < 1e-9 && (cell[2][2] - 30.0).abs() < 1e-9);
        assert_eq!(s.pbc, [true; 3]);
        assert_eq!(
            s.atom_arrays["insertion_codes"],
            AtomArray::Text {
                width: 1,
                values: vec!["".into(), "".into(), "A".into(), "".into()]
            }
        );
        assert_eq!(
            s.atom_arrays["hetatm"],
            AtomArray::Bool {
                width: 1,
                values: vec![false, false, false, true]
            }
        );
        assert_eq!(
            s.atom_arrays["residue_numbers"],
            AtomArray::Int {
                width: 1,
                values: vec![1, 1, 1, 100]
            }
        );
        assert_eq!(models[1].numbers, vec![7]);
        assert_eq!(models[1].record_index, 1);
    }

    #[test]
    fn element_inference_and_hybrid36() {
        assert_eq!(element_from_name(" CA "), 6);
        assert_eq!(element_from_name("CA  "), 20);
        assert_eq!(element_from_name("HG21"), 1);
        assert_eq!(element_from_name("1HB "), 1);
        assert_eq!(element_symbol("D"), 1);
        assert_eq!(element_symbol("A"), 0);
        assert_eq!(residue_number("A000"), Some(10_000));
        assert_eq!(residue_number("  -1"), Some(-1));
        assert_eq!(residue_number("1.5"), None);
    }

    fn err(text: &str) -> (usize, String) {
        match read_pdb(text) {
            Err(ReadError::Parse(p)) => (p.line, p.field),
            other => panic!("expected a parse error, got {other:?}"),
        }
    }

    #[test]
    fn errors_name_line_and_field() {
        let atom = "ATOM      1  N   ALA A   1      11.104   6.134  -6.504  1.00  0.00           N";
        assert_eq!(err(&format!("REMARK\n{}\n", &atom[..50])), (2, "z".into()));
        assert_eq!(err(&atom.replace("  6.134", "    nan")), (1, "y".into()));
        assert_eq!(err(&atom.replace("11.104", "11.1x4")), (1, "x".into()));
        assert_eq!(
            err(&atom.replace("A   1", "A   ?")),
            (1, "residue number".into())
        );
        assert_eq!(
            err("CRYST1   10.000   abc    30.000  90.00  90.00  90.00\n"),
            (1, "CRYST1 b".into())
        );
        assert_eq!(read_pdb("REMARK nothing\nEND\n"), Err(ReadError::Empty));
    }
}
