//! MDL SD files and MOL files: connection tables in the V2000 or V3000 format, one record per
//! molecule, records separated by `$$$$`, each followed by optional SD data items
//! (`> <NAME>` then value lines up to a blank line).
//!
//! Per record: [`Structure::comment`] is the title (first header line); elements and positions
//! come from the atom block; `formal_charges` (integer, from the atom block's charge column,
//! overridden by `M  CHG` lines, or from V3000 `CHG=`) is the one per-atom array; every SD data
//! item becomes a text [`Label`] under its name. Bonds are checked for presence but not kept.
//!
//! Symbols: element symbols (any case); `D` and `T` read as hydrogen (Z = 1); the query and
//! pseudo-atom symbols `A`, `Q`, `*`, `L`, `LP`, `R`, `R#`, `R1`…, `AH`, `QH`, `X`, `XH`, `M`,
//! `MH` and V3000 atom lists (`[C,N]`, `NOT [...]`) read as Z = 0 ("no element"). Z = 0 is
//! shown and written as `X`, ASE's symbol for a dummy atom, everywhere in nucleate (RDKit writes
//! `*` or `R#` instead); what the query allowed is not kept. Any other symbol is an error.
//!
//! Leniency (deliberate, like chemfiles and ASE, unlike RDKit): blank lines between the bond
//! block and `M  END` are skipped (PubChem's `aspirin.sdf` has them), and a record whose
//! `M  END` is missing ends at its first data item or at `$$$$`.

mod v3000;

use super::{ReadError, field};
use crate::{AtomArray, Label, LabelValue, Structure, elements};

/// Parse every record of an SD file (or the single record of a MOL file).
///
/// # Errors
/// A [`ReadError`] naming the 1-based line and field of the first problem: a missing header or
/// counts line, an atom or bond count that is not an integer or exceeds the lines that follow,
/// a truncated atom or bond block, an unknown element, a coordinate that is not a finite number,
/// a malformed V3000 block. Empty input gives [`ReadError::Empty`].
///
/// # Example
/// ```
/// let mol = "water\n\n\n  3  2  0  0  0  0  0  0  0  0999 V2000\n\
/// \x20   0.0000    0.0000    0.0000 O   0  0\n\
/// \x20   0.9572    0.0000    0.0000 H   0  0\n\
/// \x20  -0.2400    0.9266    0.0000 H   0  0\n\
/// \x20 1  2  1  0\n  1  3  1  0\nM  END\n> <E>\n-76.4\n\n$$$$\n";
/// let s = &nucleate_core::io::sdf::read_sdf(mol).unwrap()[0];
/// assert_eq!(s.numbers, vec![8, 1, 1]);
/// assert_eq!(s.comment, "water");
/// ```
pub fn read_sdf(text: &str) -> Result<Vec<Structure>, ReadError> {
    let lines: Vec<&str> = text.lines().collect();
    let mut records = Vec::new();
    let mut at = 0;
    while at < lines.len() {
        if lines
            .get(at..)
            .unwrap_or(&[])
            .iter()
            .all(|l| l.trim().is_empty())
        {
            break;
        }
        let (mut s, next) = read_record(&lines, at)?;
        s.record_index = records.len();
        records.push(s);
        at = next;
    }
    if records.is_empty() {
        return Err(ReadError::Empty);
    }
    Ok(records)
}

/// Line `i` (0-based) or a "truncated" error naming `field` at 1-based line `i + 1`.
fn line_at<'a>(lines: &[&'a str], i: usize, field: &str) -> Result<&'a str, ReadError> {
    lines
        .get(i)
        .copied()
        .ok_or_else(|| ReadError::at(i + 1, field, "file ends here (truncated record)"))
}

fn is_record_end(line: &str) -> bool {
    line.trim_end() == "$$$$"
}

/// One record starting at 0-based line `at`; returns it and the index of the line after it.
fn read_record(lines: &[&str], at: usize) -> Result<(Structure, usize), ReadError> {
    let title = line_at(lines, at, "title")?.trim().to_owned();
    line_at(lines, at + 1, "program line")?;
    line_at(lines, at + 2, "comment line")?;
    let counts_line = line_at(lines, at + 3, "counts line")?;
    let (mut s, mut i) = if counts_line.contains("V3000") {
        v3000::read_ctab(lines, at + 4)?
    } else {
        read_v2000(lines, at + 3)?
    };
    s.comment = title;
    // Data items, up to `$$$$` or the end of the file.
    while let Some(&line) = lines.get(i) {
        i += 1;
        if is_record_end(line) {
            break;
        }
        if !line.starts_with('>') {
            continue; // blank lines and stray text between items
        }
        let name = match (line.find('<'), line.rfind('>')) {
            (Some(open), Some(close)) if close > open => line.get(open + 1..close),
            _ => None,
        }
        .unwrap_or("")
        .to_owned();
        let mut value = Vec::new();
        while let Some(&v) = lines.get(i) {
            if v.trim().is_empty() || is_record_end(v) {
                break;
            }
            value.push(v.trim_end());
            i += 1;
        }
        if !name.is_empty() {
            s.labels.insert(
                name,
                Label {
                    value: LabelValue::Text(value.join("\n")),
                    unit: None,
                },
            );
        }
    }
    Ok((s, i))
}

/// Atomic number of a connection-table symbol (see the module documentation).
pub(crate) fn element(symbol: &str) -> Option<u8> {
    let s = symbol.trim();
    if let Some(z) = elements::number_from_symbol(s) {
        return Some(z);
    }
    match s {
        "D" | "T" => Some(1),
        "A" | "Q" | "*" | "L" | "LP" | "R" | "R#" | "AH" | "QH" | "X" | "XH" | "M" | "MH" => {
            Some(0)
        }
        _ if s
            .strip_prefix('R')
            .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit())) =>
        {
            Some(0)
        }
        _ => None,
    }
}

/// Fixed-width field `range` of `line`, or `None` when the line is too short.
fn columns(line: &str, range: std::ops::Range<usize>) -> Option<&str> {
    line.get(range.clone())
        .or_else(|| line.get(range.start..).filter(|s| !s.is_empty()))
}

/// A V2000 connection table whose counts line is 0-based line `counts_at`.
fn read_v2000(lines: &[&str], counts_at: usize) -> Result<(Structure, usize), ReadError> {
    let counts = line_at(lines, counts_at, "counts line")?;
    let ln = counts_at + 1;
    let remaining = lines.len().saturating_sub(counts_at + 1);
    // Fixed columns: atoms in 1–3, bonds in 4–6. A shorter line is an error, as in RDKit
    // ("Counts line too short"): read loosely, it once passed for a molecule of 0 atoms.
    let (Some(atoms_text), Some(bonds_text)) = (counts.get(0..3), counts.get(3..6)) else {
        return Err(ReadError::at(
            ln,
            "counts line",
            format!(
                "counts line too short ({:?}): atom count in columns 1–3, bond count in 4–6",
                counts
            ),
        ));
    };
    let n_atoms = field::count(atoms_text, remaining, ln, "atom count")?;
    let n_bonds = field::count(bonds_text, remaining - n_atoms, ln, "bond count")?;
    let mut numbers = Vec::with_capacity(n_atoms);
    let mut positions = Vec::with_capacity(n_atoms);
    let mut charges = Vec::with_capacity(n_atoms);
    for k in 0..n_atoms {
        let i = counts_at + 1 + k;
        let line = line_at(lines, i, "atom line")?;
        let (z, pos, charge) = v2000_atom(line, i + 1)?;
        numbers.push(z);
        positions.push(pos);
        charges.push(charge);
    }
    let bonds_at = counts_at + 1 + n_atoms;
    for k in 0..n_bonds {
        let i = bonds_at + k;
        let line = line_at(lines, i, "bond line")?;
        let mut t = line.split_whitespace();
        for name in ["bond atom 1", "bond atom 2", "bond type"] {
            let v = t
                .next()
                .ok_or_else(|| ReadError::at(i + 1, name, "missing field in bond line"))?;
            field::int(v, i + 1, name)?;
        }
    }
    // Properties block up to `M  END`.
    let mut i = bonds_at + n_bonds;
    let mut chg_seen = false;
    while let Some(&line) = lines.get(i) {
        if line.starts_with("M  END") {
            i += 1;
            break;
        }
        if is_record_end(line) || line.starts_with('>') {
            break; // lenient: a record without `M  END`
        }
        if line.starts_with("M  CHG") {
            if !chg_seen {
                charges.iter_mut().for_each(|c| *c = 0);
                chg_seen = true;
            }
            read_chg(line, i + 1, &mut charges)?;
        }
        i += 1;
    }
    let mut s = Structure::molecule(numbers, positions);
    s.atom_arrays.insert(
        "formal_charges".to_owned(),
        AtomArray::Int {
            width: 1,
            values: charges,
        },
    );
    Ok((s, i))
}

/// One V2000 atom line: `xxxxx.xxxxyyyyy.yyyyzzzzz.zzzz aaaddcccsss…`.
fn v2000_atom(line: &str, ln: usize) -> Result<(u8, [f64; 3], i64), ReadError> {
    let fixed = (|| {
        let mut pos = [0.0; 3];
        for (k, name) in ["x", "y", "z"].into_iter().enumerate() {
            let text = columns(line, k * 10..k * 10 + 10)
                .ok_or_else(|| ReadError::at(ln, name, "missing coordinate"))?;
            pos[k] = field::finite(text, ln, name)?;
        }
        let symbol = columns(line, 31..34)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| ReadError::at(ln, "element", "missing element symbol"))?;
        Ok::<_, ReadError>((symbol, pos))
    })();
    // Writers that do not respect the columns: fall back to whitespace-separated fields.
    let (symbol, pos) = match fixed {
        Ok(v) => v,
        Err(e) => {
            let t: Vec<&str> = line.split_whitespace().collect();
            let parsed = (t.len() >= 4)
                .then(|| {
                    let mut pos = [0.0; 3];
                    for (p, text) in pos.iter_mut().zip(&t) {
                        *p = text.parse::<f64>().ok().filter(|v| v.is_finite())?;
                    }
                    Some((*t.get(3)?, pos))
                })
                .flatten();
            parsed.ok_or(e)?
        }
    };
    let z = element(symbol)
        .ok_or_else(|| ReadError::at(ln, "element", format!("unknown element {symbol:?}")))?;
    let charge = match columns(line, 36..39).map(str::trim) {
        Some("1") => 3,
        Some("2") => 2,
        Some("3") => 1,
        Some("5") => -1,
        Some("6") => -2,
        Some("7") => -3,
        _ => 0,
    };
    Ok((z, pos, charge))
}

/// `M  CHGnn8 aaa vvv …`: formal charges of up to eight atoms.
fn read_chg(line: &str, ln: usize, charges: &mut [i64]) -> Result<(), ReadError> {
    let mut t = line.get(6..).unwrap_or("").split_whitespace();
    let n = t
        .next()
        .ok_or_else(|| ReadError::at(ln, "M  CHG count", "missing entry count"))?;
    let n = field::int(n, ln, "M  CHG count")?;
    for _ in 0..n.clamp(0, 8) {
        let atom = t
            .next()
            .ok_or_else(|| ReadError::at(ln, "M  CHG atom", "fewer entries than declared"))?;
        let atom = field::int(atom, ln, "M  CHG atom")?;
        let value = t
            .next()
            .ok_or_else(|| ReadError::at(ln, "M  CHG charge", "fewer entries than declared"))?;
        let value = field::int(value, ln, "M  CHG charge")?;
        let slot = usize::try_from(atom)
            .ok()
            .and_then(|a| a.checked_sub(1))
            .and_then(|a| charges.get_mut(a))
            .ok_or_else(|| {
                ReadError::at(ln, "M  CHG atom", format!("no atom {atom} in this record"))
            })?;
        *slot = value;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const WATER: &str = "water\n  prog\n\n  3  2  0  0  0  0  0  0  0  0999 V2000\n    0.0000    0.0000    0.0000 O   0  5\n    0.9572    0.0000    0.0000 H   0  0\n   -0.2400    0.9266    0.0000 D   0  0\n  1  2  1  0\n  1  3  1  0\nM  END\n> <ENERGY> (1)\n-76.4\n\n> <NOTE>\ntwo\nlines\n\n$$$$\n";

    #[test]
    fn reads_v2000_records_and_data_items() {
        let text = format!("{WATER}{}", WATER.replace("water", "second"));
        let recs = read_sdf(&text).unwrap();
        assert_eq!(recs.len(), 2);
        let s = &recs[0];
        assert_eq!(s.numbers, vec![8, 1, 1]);
        assert_eq!(s.positions[2], [-0.24, 0.9266, 0.0]);
        assert_eq!(s.comment, "water");
        assert_eq!(recs[1].comment, "second");
        assert_eq!(recs[1].record_index, 1);
        assert_eq!(s.labels["ENERGY"].value, LabelValue::Text("-76.4".into()));
        assert_eq!(
            s.labels["NOTE"].value,
            LabelValue::Text("two\nlines".into())
        );
        assert_eq!(
            s.atom_arrays["formal_charges"],
            AtomArray::Int {
                width: 1,
                values: vec![-1, 0, 0]
            }
        );
    }

    #[test]
    fn m_chg_overrides_and_blank_lines_before_m_end_are_accepted() {
        let text = WATER.replace("M  END", "\n\nM  CHG  1   2   1\nM  END");
        let s = &read_sdf(&text).unwrap()[0];
        assert_eq!(
            s.atom_arrays["formal_charges"],
            AtomArray::Int {
                width: 1,
                values: vec![0, 1, 0]
            }
        );
    }

    fn err(text: &str) -> (usize, String) {
        match read_sdf(text) {
            Err(ReadError::Parse(p)) => (p.line, p.field),
            other => panic!("expected a parse error, got {other:?}"),
        }
    }

    #[test]
    fn errors_name_line_and_field() {
        assert_eq!(err("t\n\n\n999999999999 V2000\n"), (4, "atom count".into()));
        assert_eq!(err("t\n\n\n  3  0\n"), (4, "atom count".into()));
        assert_eq!(err("t\n\n\n  a  0\n"), (4, "atom count".into()));
        // Shorter than the two count fields (RDKit: "Counts line too short"), never 0 atoms.
        assert_eq!(err("t\n\n\n  0\n"), (4, "counts line".into()));
        assert_eq!(err("t\n\n\n0 0\n"), (4, "counts line".into()));
        assert_eq!(err("t\n\n\n\n"), (4, "counts line".into()));
        assert_eq!(err(&WATER.replace("0.9572", "nan   ")), (6, "x".into()));
        assert_eq!(err(&WATER.replace("0.9266", "1.2.3 ")), (7, "y".into()));
        assert_eq!(err(&WATER.replace(" D ", " Qq")), (7, "element".into()));
        assert_eq!(
            err(&WATER.replace("  1  3  1  0\n", "  1  x  1  0\n")),
            (9, "bond atom 2".into())
        );
        assert_eq!(err("t\n\n"), (3, "comment line".into()));
        assert_eq!(
            err(&WATER.replace("M  END", "M  CHG  1   9   1")),
            (10, "M  CHG atom".into())
        );
        assert_eq!(read_sdf("\n\n"), Err(ReadError::Empty));
    }

    #[test]
    fn query_and_isotope_symbols() {
        assert_eq!(element("R#"), Some(0));
        assert_eq!(element("R12"), Some(0));
        assert_eq!(element("D"), Some(1));
        assert_eq!(element("cl"), Some(17));
        assert_eq!(element("Qq"), None);
    }
}
