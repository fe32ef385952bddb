//! Tripos MOL2: one [`Structure`] per `@<TRIPOS>MOLECULE` section, atoms from its
//! `@<TRIPOS>ATOM` records `id name x y z type [subst_id [subst_name [charge …]]]`.
//!
//! Elements (SYBYL types first, then force-field types):
//! * a SYBYL type `El.xx` (`C.3`, `N.ar`, `Co.oh`) or a bare symbol (`H`, `Cl`, `Na`): the
//!   element part; `Du`, `LP`, `Any`, `Hal`, `Het`, `Hev` are Z = 0;
//! * any other type is a force-field type (GAFF `c3`, `ca`, `hn`, `cl`, AMBER `CT`…): the element
//!   comes from the type's and the atom name's leading letters (case-insensitive, digits
//!   stripped): the halogen types `cl`/`br` give Cl/Br (`CL1`/`cl` is Cl); otherwise one
//!   letter, the name's first letter when the type starts with it (`CA`/`ca` is aromatic C, not
//!   calcium; GAFF's `na`, `os`, `pb`, `cs` are N, O, P, C), else the type's first letter,
//!   else the name's.
//!
//! `charges` (real, elementary charges) is kept when every atom has a charge column and the
//! molecule's charge type is not `NO_CHARGES`; `atom_names` (text) always. `CRYSIN` is ignored.

use super::{ReadError, field};
use crate::{AtomArray, Structure, elements};

/// Parse every molecule of a MOL2 file.
///
/// # Errors
/// A [`ReadError`] naming the 1-based line and field of the first problem: a missing or
/// non-integer atom count, fewer atom records than declared, a coordinate that is not a finite
/// number, a charge that is not a number, an atom whose element cannot be determined. A file
/// without `@<TRIPOS>MOLECULE` gives [`ReadError::Empty`].
///
/// # Example
/// ```
/// let mol2 = "@<TRIPOS>MOLECULE\nw\n 2 1\nSMALL\nUSER_CHARGES\n\n@<TRIPOS>ATOM\n\
/// 1 O1 0 0 0 o 1 W -0.8\n2 H1 0.96 0 0 ho 1 W 0.4\n@<TRIPOS>BOND\n1 1 2 1\n";
/// let s = &nucleate_core::io::mol2::read_mol2(mol2).unwrap()[0];
/// assert_eq!(s.numbers, vec![8, 1]);
/// ```
pub fn read_mol2(text: &str) -> Result<Vec<Structure>, ReadError> {
    let lines: Vec<&str> = text.lines().collect();
    let starts: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.trim().eq_ignore_ascii_case("@<TRIPOS>MOLECULE"))
        .map(|(i, _)| i)
        .collect();
    let mut out = Vec::with_capacity(starts.len());
    for (m, &start) in starts.iter().enumerate() {
        let end = starts.get(m + 1).copied().unwrap_or(lines.len());
        let section = lines.get(start..end).unwrap_or(&[]);
        let mut s = molecule(section, start)?;
        s.record_index = m;
        out.push(s);
    }
    if out.is_empty() {
        return Err(ReadError::Empty);
    }
    Ok(out)
}

/// One molecule; `section[0]` is its `@<TRIPOS>MOLECULE` line, at 0-based line `offset`.
fn molecule(section: &[&str], offset: usize) -> Result<Structure, ReadError> {
    let ln = |i: usize| offset + i + 1;
    let name = section.get(1).copied().unwrap_or("").trim().to_owned();
    let counts = section
        .get(2)
        .copied()
        .ok_or_else(|| ReadError::at(ln(2), "atom count", "file ends before the counts line"))?;
    let atom_at = section
        .iter()
        .position(|l| l.trim().eq_ignore_ascii_case("@<TRIPOS>ATOM"))
        .ok_or_else(|| ReadError::at(ln(0), "@<TRIPOS>ATOM", "molecule has no ATOM section"))?;
    let available = section.len().saturating_sub(atom_at + 1);
    let n_atoms = field::count(
        counts.split_whitespace().next().unwrap_or(""),
        available,
        ln(2),
        "atom count",
    )?;
    let charge_type = section.get(4).copied().unwrap_or("").trim();
    let mut numbers = Vec::with_capacity(n_atoms);
    let mut positions = Vec::with_capacity(n_atoms);
    let mut names = Vec::with_capacity(n_atoms);
    let mut charges = Vec::with_capacity(n_atoms);
    let mut all_charged = true;
    for k in 0..n_atoms {
        let i = atom_at + 1 + k;
        let line_no = ln(i);
        let line = section.get(i).copied().unwrap_or("");
        if line.trim_start().starts_with('@') || line.trim().is_empty() {
            return Err(ReadError::at(
                line_no,
                "atom record",
                format!("expected atom {} of {n_atoms}, got {line:?}", k + 1),
            ));
        }
        let t: Vec<&str> = line.split_whitespace().collect();
        let get = |j: usize, f: &str| {
            t.get(j)
                .copied()
                .ok_or_else(|| ReadError::at(line_no, f, "missing field in atom record"))
        };
        let atom_name = get(1, "atom name")?;
        let mut pos = [0.0; 3];
        for (j, (p, axis)) in pos.iter_mut().zip(["x", "y", "z"]).enumerate() {
            *p = field::finite(get(2 + j, axis)?, line_no, axis)?;
        }
        let atom_type = get(5, "atom type")?;
        let z = element(atom_type, atom_name).ok_or_else(|| {
            ReadError::at(
                line_no,
                "atom type",
                format!("no element for type {atom_type:?} and name {atom_name:?}"),
            )
        })?;
        match t.get(8) {
            Some(c) => charges.push(field::finite(c, line_no, "charge")?),
            None => all_charged = false,
        }
        numbers.push(z);
        positions.push(pos);
        names.push(atom_name.to_owned());
    }
    let mut s = Structure::molecule(numbers, positions);
    s.comment = name;
    s.atom_arrays.insert(
        "atom_names".into(),
        AtomArray::Text {
            width: 1,
            values: names,
        },
    );
    if all_charged && !charge_type.eq_ignore_ascii_case("NO_CHARGES") {
        s.atom_arrays.insert(
            "charges".into(),
            AtomArray::Float {
                width: 1,
                values: charges,
            },
        );
    }
    Ok(s)
}

/// Leading ASCII letters of `text`.
fn letters(text: &str) -> &str {
    let end = text
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(text.len());
    text.get(..end).unwrap_or("")
}

/// Element of an atom from its type and name (see the module documentation).
fn element(atom_type: &str, name: &str) -> Option<u8> {
    // SYBYL: `El.xx` or a bare, capitalised element symbol.
    let (head, dotted) = match atom_type.split_once('.') {
        Some((h, _)) => (h, true),
        None => (atom_type, false),
    };
    match head.to_ascii_lowercase().as_str() {
        "du" | "lp" | "any" | "hal" | "het" | "hev" => return Some(0),
        _ => {}
    }
    let capitalised = head.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && head.chars().skip(1).all(|c| c.is_ascii_lowercase());
    if (dotted || capitalised)
        && let Some(z) = elements::number_from_symbol(head)
    {
        return Some(z);
    }
    // Force-field type: decide from the atom name, guided by the type's leading letters.
    // Lower-case two-letter types are mostly not elements (GAFF `ca`, `na`, `os`, `pb`, `cs` are
    // C, N, O, P, C): only the halogen types `cl` and `br` stand for two-letter elements.
    let tl = letters(atom_type).to_ascii_lowercase();
    let nl = letters(name).to_ascii_lowercase();
    if let Some(t2 @ ("cl" | "br")) = tl.get(..2) {
        return elements::number_from_symbol(t2);
    }
    if let (Some(n1), Some(t1)) = (nl.get(..1), tl.get(..1))
        && n1 == t1
        && let Some(z) = elements::number_from_symbol(n1)
    {
        return Some(z);
    }
    tl.get(..1)
        .and_then(elements::number_from_symbol)
        .or_else(|| nl.get(..1).and_then(elements::number_from_symbol))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO: &str = "@<TRIPOS>MOLECULE\nfirst\n 3 2 1\nSMALL\nGASTEIGER\n\n@<TRIPOS>ATOM\n      1 C1   0.0 0.0 0.0 C.3  1 LIG -0.1\n      2 CL1  1.7 0.0 0.0 cl   1 LIG -0.2\n      3 CA   0.0 1.5 0.0 ca   1 LIG 0.3\n@<TRIPOS>BOND\n 1 1 2 1\n 2 1 3 1\n@<TRIPOS>MOLECULE\nsecond\n1\nSMALL\nNO_CHARGES\n\n@<TRIPOS>ATOM\n1 Na 0 0 0 Na\n";

    #[test]
    fn reads_molecules_elements_and_charges() {
        let m = read_mol2(TWO).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].numbers, vec![6, 17, 6]);
        assert_eq!(m[0].positions[1], [1.7, 0.0, 0.0]);
        assert_eq!(m[0].comment, "first");
        assert_eq!(
            m[0].atom_arrays["charges"],
            AtomArray::Float {
                width: 1,
                values: vec![-0.1, -0.2, 0.3]
            }
        );
        assert_eq!(m[1].numbers, vec![11]);
        assert!(!m[1].atom_arrays.contains_key("charges"));
    }

    #[test]
    fn element_rules() {
        assert_eq!(element("C.ar", "C12"), Some(6));
        assert_eq!(element("Co.oh", "CO1"), Some(27));
        assert_eq!(element("c3", "C12"), Some(6));
        assert_eq!(element("ca", "CA"), Some(6));
        assert_eq!(element("hn", "H5"), Some(1));
        assert_eq!(element("br", "BR"), Some(35));
        assert_eq!(element("o", "O"), Some(8));
        assert_eq!(element("CT", "CB"), Some(6));
        assert_eq!(element("Du", "X"), Some(0));
        assert_eq!(element("zz", "QQ"), None);
    }

    fn err(text: &str) -> (usize, String) {
        match read_mol2(text) {
            Err(ReadError::Parse(p)) => (p.line, p.field),
            other => panic!("expected a parse error, got {other:?}"),
        }
    }

    #[test]
    fn errors_name_line_and_field() {
        assert_eq!(
            err(&TWO.replace(" 3 2 1", " 99999999999 2 1")),
            (3, "atom count".into())
        );
        assert_eq!(
            err(&TWO.replace(" 3 2 1", " 4 2 1")),
            (11, "atom record".into())
        );
        assert_eq!(err(&TWO.replace("1.7 0.0", "nan 0.0")), (9, "x".into()));
        assert_eq!(err(&TWO.replace("-0.2", "abc")), (9, "charge".into()));
        assert_eq!(
            err(&TWO.replace(" 0.0 1.5 0.0 ca   1 LIG 0.3", " 0.0 1.5 0.0")),
            (10, "atom type".into())
        );
        assert_eq!(err("@<TRIPOS>MOLECULE\nx\n"), (3, "atom count".into()));
        assert_eq!(read_mol2("# nothing\n"), Err(ReadError::Empty));
    }
}
