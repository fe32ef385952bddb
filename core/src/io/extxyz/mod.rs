//! Extended XYZ as ASE writes it: the comment line holds `key=value` pairs (values may be quoted
//! with `"…"` or `'…'`, or bracketed with `[…]`/`{…}`; a key without `=` is a flag meaning true),
//! and `Properties=name:type:width:…` describes the atom columns.
//!
//! * `Lattice="ax ay az bx by bz cx cy cz"` gives [`Structure::lattice`] (rows a, b, c);
//! * `pbc="T T F"` gives [`Structure::pbc`]; when absent it is `T T T` if a lattice is given and
//!   `F F F` otherwise, as in ASE;
//! * `Properties` types are `S` text, `R` real, `I` integer, `L` logical (`T`/`F`); `species`
//!   (or else `Z`) gives the elements and `pos` the positions; every other column becomes an
//!   [`AtomArray`] under the name as written (`forces`, `CS`, …). Without `Properties` the
//!   columns are `species:S:1:pos:R:3`;
//! * every other key becomes a [`Label`]: integers, reals, logicals, lists of reals, else text.
//!   `energy` (and `free_energy`) get the unit `eV`: ASE writes its calculator's energy, which is
//!   in eV, under exactly these keys. Other keys (`ENERGY`, `dipole`, …) carry no unit, since the
//!   format says nothing about them.
//!
//! The frame layout (count line, comment line, atom lines) is read by [`super::xyz::read_xyz`],
//! which hands a frame here when its comment contains `Properties=` or `Lattice=`.

use std::collections::BTreeMap;

mod comment;

use super::field::parse_element;
use super::{ReadError, field};
use crate::{AtomArray, Label, LabelValue, Structure};
use comment::{key_values, list_items};

/// Whether an XYZ comment line is an extended-XYZ one (it declares `Properties=` or `Lattice=`).
pub(crate) fn is_extended(comment: &str) -> bool {
    let lower = comment.to_ascii_lowercase();
    lower.contains("properties=") || lower.contains("lattice=")
}

fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "T" | "True" | "true" | "TRUE" => Some(true),
        "F" | "False" | "false" | "FALSE" => Some(false),
        _ => None,
    }
}

/// A logical atom column: `T`/`F`/`True`/`False` in any case (ASE accepts e.g. `tRUE`).
fn column_bool(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "t" | "true" => Some(true),
        "f" | "false" => Some(false),
        _ => None,
    }
}

/// A label value the way ASE's `key_val_str_to_dict` types it.
fn label_value(value: &str) -> LabelValue {
    let items = list_items(value);
    match items.as_slice() {
        [one] => {
            if let Ok(i) = one.parse::<i64>() {
                LabelValue::Int(i)
            } else if let Ok(f) = one.parse::<f64>() {
                LabelValue::Float(f)
            } else if let Some(b) = parse_bool(one) {
                LabelValue::Bool(b)
            } else {
                LabelValue::Text(value.to_owned())
            }
        }
        [_, _, ..] => {
            let floats: Option<Vec<f64>> = items.iter().map(|s| s.parse().ok()).collect();
            floats.map_or_else(|| LabelValue::Text(value.to_owned()), LabelValue::Floats)
        }
        [] => LabelValue::Text(value.to_owned()),
    }
}

/// One `Properties` column group.
struct Column {
    name: String,
    kind: char,
    width: usize,
}

fn parse_properties(spec: &str, line: usize) -> Result<Vec<Column>, ReadError> {
    let parts: Vec<&str> = spec.split(':').collect();
    if !parts.len().is_multiple_of(3) || parts.is_empty() {
        return Err(ReadError::at(
            line,
            "Properties",
            format!("expected name:type:width triplets, got {spec:?}"),
        ));
    }
    let mut columns = Vec::new();
    for triplet in parts.chunks(3) {
        let [name, kind, width] = triplet else {
            continue;
        };
        let kind = match *kind {
            "S" | "R" | "I" | "L" => kind.chars().next().unwrap_or('S'),
            other => {
                return Err(ReadError::at(
                    line,
                    "Properties",
                    format!("type of {name:?} must be S, R, I or L, got {other:?}"),
                ));
            }
        };
        let width: usize = width.parse().ok().filter(|&w| w >= 1).ok_or_else(|| {
            ReadError::at(
                line,
                "Properties",
                format!("width of {name:?} must be a positive integer, got {width:?}"),
            )
        })?;
        columns.push(Column {
            name: (*name).to_owned(),
            kind,
            width,
        });
    }
    Ok(columns)
}

fn parse_pbc(value: &str, line: usize) -> Result<[bool; 3], ReadError> {
    let items = list_items(value);
    let flags: Option<Vec<bool>> = items
        .iter()
        .map(|s| {
            parse_bool(s).or(match *s {
                "1" => Some(true),
                "0" => Some(false),
                _ => None,
            })
        })
        .collect();
    match flags.as_deref() {
        Some(&[a, b, c]) => Ok([a, b, c]),
        Some(&[a]) => Ok([a; 3]),
        _ => Err(ReadError::at(
            line,
            "pbc",
            format!("expected three of T/F, got {value:?}"),
        )),
    }
}

fn parse_lattice(value: &str, line: usize) -> Result<[[f64; 3]; 3], ReadError> {
    let items = list_items(value);
    if items.len() != 9 {
        return Err(ReadError::at(
            line,
            "Lattice",
            format!("expected 9 numbers, got {} in {value:?}", items.len()),
        ));
    }
    let mut m = [[0.0; 3]; 3];
    for (k, item) in items.iter().enumerate() {
        m[k / 3][k % 3] = field::finite(item, line, "Lattice")?;
    }
    Ok(m)
}

/// Per-atom values being collected for one column group.
enum Values {
    Float(Vec<f64>),
    Int(Vec<i64>),
    Bool(Vec<bool>),
    Text(Vec<String>),
}

/// Parse one extended-XYZ frame. `comment_line` is the 1-based line of the comment; atom `k` is
/// on line `comment_line + 1 + k`.
pub(crate) fn parse_frame(
    comment: &str,
    comment_line: usize,
    atom_lines: &[&str],
) -> Result<Structure, ReadError> {
    let mut lattice = None;
    let mut pbc = None;
    let mut properties = None;
    let mut labels = BTreeMap::new();
    for (key, value) in key_values(comment, comment_line)? {
        let lower = key.to_ascii_lowercase();
        match (lower.as_str(), value) {
            ("lattice", Some(v)) => lattice = Some(parse_lattice(&v, comment_line)?),
            ("pbc", Some(v)) => pbc = Some(parse_pbc(&v, comment_line)?),
            ("properties", Some(v)) => properties = Some(parse_properties(&v, comment_line)?),
            (_, None) => {
                labels.insert(
                    key,
                    Label {
                        value: LabelValue::Bool(true),
                        unit: None,
                    },
                );
            }
            (_, Some(v)) => {
                let unit =
                    matches!(key.as_str(), "energy" | "free_energy").then(|| "eV".to_owned());
                labels.insert(
                    key,
                    Label {
                        value: label_value(&v),
                        unit,
                    },
                );
            }
        }
    }
    let columns = match properties {
        Some(c) => c,
        None => parse_properties("species:S:1:pos:R:3", comment_line)?,
    };
    let species_name = if columns.iter().any(|c| c.name == "species") {
        "species"
    } else {
        "Z"
    };
    let species_ok = columns
        .iter()
        .any(|c| c.name == species_name && c.width == 1 && (c.kind == 'S' || c.kind == 'I'));
    if !species_ok {
        return Err(ReadError::at(
            comment_line,
            "Properties",
            "needs a species:S:1 (or Z:I:1) column",
        ));
    }
    if !columns
        .iter()
        .any(|c| c.name == "pos" && c.kind == 'R' && c.width == 3)
    {
        return Err(ReadError::at(
            comment_line,
            "Properties",
            "needs a pos:R:3 column",
        ));
    }

    let mut values: Vec<Values> = columns
        .iter()
        .map(|c| match c.kind {
            'R' => Values::Float(Vec::new()),
            'I' => Values::Int(Vec::new()),
            'L' => Values::Bool(Vec::new()),
            _ => Values::Text(Vec::new()),
        })
        .collect();
    let mut numbers = Vec::with_capacity(atom_lines.len());
    let mut positions = Vec::with_capacity(atom_lines.len());
    for (k, text) in atom_lines.iter().enumerate() {
        let line = comment_line + 1 + k;
        let mut tokens = text.split_whitespace();
        let mut pos = [0.0; 3];
        for (col, vals) in columns.iter().zip(values.iter_mut()) {
            for j in 0..col.width {
                let fname = if col.width == 1 {
                    col.name.clone()
                } else {
                    format!("{}[{j}]", col.name)
                };
                let tok = tokens.next().ok_or_else(|| {
                    ReadError::at(
                        line,
                        &fname,
                        "missing column (fewer than Properties declares)",
                    )
                })?;
                if col.name == species_name {
                    let z = parse_element(tok).ok_or_else(|| {
                        ReadError::at(line, &fname, format!("unknown element {tok:?}"))
                    })?;
                    numbers.push(z);
                    continue;
                }
                if col.name == "pos" {
                    let axis = ["x", "y", "z"].get(j).copied().unwrap_or("pos");
                    if let Some(p) = pos.get_mut(j) {
                        *p = field::finite(tok, line, axis)?;
                    }
                    continue;
                }
                match vals {
                    Values::Float(v) => v.push(field::finite(tok, line, &fname)?),
                    Values::Int(v) => v.push(field::int(tok, line, &fname)?),
                    Values::Bool(v) => v.push(column_bool(tok).ok_or_else(|| {
                        ReadError::at(line, &fname, format!("expected T or F, got {tok:?}"))
                    })?),
                    Values::Text(v) => v.push(tok.to_owned()),
                }
            }
        }
        positions.push(pos);
    }
    let mut atom_arrays = BTreeMap::new();
    for (col, vals) in columns.iter().zip(values) {
        if col.name == species_name || col.name == "pos" {
            continue;
        }
        let width = col.width;
        let array = match vals {
            Values::Float(values) => AtomArray::Float { width, values },
            Values::Int(values) => AtomArray::Int { width, values },
            Values::Bool(values) => AtomArray::Bool { width, values },
            Values::Text(values) => AtomArray::Text { width, values },
        };
        atom_arrays.insert(col.name.clone(), array);
    }
    let pbc = pbc.unwrap_or([lattice.is_some(); 3]);
    Ok(Structure {
        numbers,
        positions,
        lattice,
        pbc,
        comment: comment.to_owned(),
        atom_arrays,
        labels,
        ..Structure::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(comment: &str, atoms: &[&str]) -> Result<Structure, ReadError> {
        parse_frame(comment, 2, atoms)
    }

    #[test]
    fn reads_lattice_pbc_properties_and_labels() {
        let s = frame(
            r#"Lattice="5 0 0 0 5 0 0 0 6" Properties=species:S:1:pos:R:3:forces:R:3:tag:I:1:fixed:L:1 energy=-1.5 IsStrange name="a \"b\"" stress="1 2 3 4 5 6 7 8 9" n=3"#,
            &["H 0 0 0 0.1 0.2 0.3 7 T", "O 1 2 3 -1 -2 -3 8 F"],
        )
        .unwrap();
        assert_eq!(s.numbers, vec![1, 8]);
        assert_eq!(s.positions[1], [1.0, 2.0, 3.0]);
        assert_eq!(
            s.lattice,
            Some([[5.0, 0.0, 0.0], [0.0, 5.0, 0.0], [0.0, 0.0, 6.0]])
        );
        assert_eq!(s.pbc, [true; 3]);
        assert_eq!(
            s.atom_arrays["forces"],
            AtomArray::Float {
                width: 3,
                values: vec![0.1, 0.2, 0.3, -1.0, -2.0, -3.0]
            }
        );
        assert_eq!(
            s.atom_arrays["tag"],
            AtomArray::Int {
                width: 1,
                values: vec![7, 8]
            }
        );
        assert_eq!(
            s.atom_arrays["fixed"],
            AtomArray::Bool {
                width: 1,
                values: vec![true, false]
            }
        );
        assert_eq!(s.labels["energy"].value, LabelValue::Float(-1.5));
        assert_eq!(s.labels["energy"].unit.as_deref(), Some("eV"));
        assert_eq!(s.labels["IsStrange"].value, LabelValue::Bool(true));
        assert_eq!(s.labels["name"].value, LabelValue::Text("a \"b\"".into()));
        assert_eq!(s.labels["n"].value, LabelValue::Int(3));
        assert!(matches!(&s.labels["stress"].value, LabelValue::Floats(v) if v.len() == 9));
        assert!(!s.atom_arrays.contains_key("species"));
    }

    #[test]
    fn pbc_defaults_follow_ase() {
        let s = frame(r#"Lattice="1 0 0 0 1 0 0 0 1" pbc="F F T""#, &["H 0 0 0"]).unwrap();
        assert_eq!(s.pbc, [false, false, true]);
        let s = frame("Properties=species:S:1:pos:R:3 e=1", &["H 0 0 0"]).unwrap();
        assert_eq!((s.lattice, s.pbc), (None, [false; 3]));
        let s = frame("Properties=Z:I:1:pos:R:3", &["8 0 0 0"]).unwrap();
        assert_eq!(s.numbers, vec![8]);
    }

    fn err(comment: &str, atoms: &[&str]) -> (usize, String) {
        match frame(comment, atoms) {
            Err(ReadError::Parse(p)) => (p.line, p.field),
            other => panic!("expected a parse error, got {other:?}"),
        }
    }

    #[test]
    fn errors_name_line_and_field() {
        assert_eq!(
            err(r#"Lattice="1 0 0 0 1 0 0 0""#, &["H 0 0 0"]),
            (2, "Lattice".into())
        );
        assert_eq!(
            err(r#"Lattice="1 0 0 0 1 0 0 0 1"#, &["H 0 0 0"]),
            (2, "comment value".into())
        );
        assert_eq!(
            err("Properties=species:S:1:pos:R", &["H 0 0 0"]),
            (2, "Properties".into())
        );
        assert_eq!(
            err("Properties=species:S:1:pos:X:3", &["H 0 0 0"]),
            (2, "Properties".into())
        );
        assert_eq!(
            err("Properties=species:S:1", &["H 0 0 0"]),
            (2, "Properties".into())
        );
        let p = "Properties=species:S:1:pos:R:3:forces:R:3";
        assert_eq!(
            err(p, &["H 0 0 0 1 2 3", "H 0 0 0 1 2"]),
            (4, "forces[2]".into())
        );
        assert_eq!(err(p, &["H 0 nan 0 1 2 3"]), (3, "y".into()));
        assert_eq!(err(p, &["H 0 0 0 1 x 3"]), (3, "forces[1]".into()));
        assert_eq!(err(p, &["Xx 0 0 0 1 2 3"]), (3, "species".into()));
        assert_eq!(
            err(r#"Lattice="1 0 0 0 1 0 0 0 1" pbc="T Q T""#, &["H 0 0 0"]),
            (2, "pbc".into())
        );
    }
}
