//! Writers: extended XYZ (one or many frames) and CIF in P1.
//!
//! Extended XYZ (the ASE / extxyz convention): line 1 the atom count; line 2
//! `Lattice="ax ay az bx by bz cx cy cz"` (when the structure has a lattice),
//! `Properties=species:S:1:pos:R:3[:name:R|I|L|S:width…]` listing `pos` and then every
//! per-atom array in name order, the labels as `key=value` in name order (floats, integers,
//! `T`/`F`, quoted text, quoted space-separated float lists), `comment="…"` when the structure
//! has a comment and no label of that name, and `pbc="T T T"`. Floats are written with Rust's
//! shortest round-trip representation, so reading them back gives the same `f64`. Label units
//! are not written (extxyz has no place for them).
//!
//! CIF: one `data_` block per structure, `_symmetry_space_group_name_H-M 'P 1'`, the cell
//! parameters of the lattice, the identity operation and one `_atom_site` row per atom with
//! fractional coordinates (not wrapped). A CIF keeps only cell parameters, so a lattice that is
//! not in the standard orientation (a along x, b in the xy plane) is read back rotated.

use crate::structure::{AtomArray, LabelValue};
use crate::{Structure, elements};
use std::fmt::Write as _;

/// Why a structure cannot be written.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("record {record}, {what}: {message}")]
pub struct WriteError {
    /// Zero-based index of the structure in the slice given to the writer.
    pub record: usize,
    /// The field concerned (`"positions"`, `"lattice"`, a label or array name).
    pub what: String,
    /// What is wrong.
    pub message: String,
}

fn werr(record: usize, what: &str, message: impl Into<String>) -> WriteError {
    WriteError {
        record,
        what: what.to_owned(),
        message: message.into(),
    }
}

fn check_key(record: usize, key: &str) -> Result<(), WriteError> {
    if key.is_empty()
        || key
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '=' | '"' | '\'' | ':' | ',' | '\\'))
    {
        return Err(werr(
            record,
            key,
            "name must be non-empty without spaces, quotes, '=', ':' or ','",
        ));
    }
    Ok(())
}

fn finite(record: usize, what: &str, v: f64) -> Result<f64, WriteError> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(werr(record, what, format!("value is not finite: {v}")))
    }
}

fn quote(text: &str) -> String {
    let mut s = String::with_capacity(text.len() + 2);
    s.push('"');
    for c in text.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            _ => s.push(c),
        }
    }
    s.push('"');
    s
}

fn tf(b: bool) -> &'static str {
    if b { "T" } else { "F" }
}

/// Write frames as extended XYZ.
///
/// # Errors
/// A [`WriteError`] for a non-finite position, lattice component, label or array value; a
/// label or array name that is not a plain word; a per-atom array whose rows differ from the
/// atom count; a text array value containing whitespace.
pub fn write_extxyz(frames: &[Structure]) -> Result<String, WriteError> {
    let mut out = String::new();
    for (r, s) in frames.iter().enumerate() {
        let n = s.n_atoms();
        if s.positions.len() != n {
            return Err(werr(
                r,
                "positions",
                "positions and numbers differ in length",
            ));
        }
        let mut header = Vec::new();
        if let Some(l) = s.lattice {
            let mut v = Vec::new();
            for row in l {
                for x in row {
                    v.push(finite(r, "lattice", x)?.to_string());
                }
            }
            header.push(format!("Lattice=\"{}\"", v.join(" ")));
        }
        let mut props = String::from("species:S:1:pos:R:3");
        for (name, a) in &s.atom_arrays {
            check_key(r, name)?;
            if a.rows() != n || a.width() == 0 {
                return Err(werr(
                    r,
                    name,
                    format!("{} rows of width {} for {n} atoms", a.rows(), a.width()),
                ));
            }
            let t = match a {
                AtomArray::Float { .. } => "R",
                AtomArray::Int { .. } => "I",
                AtomArray::Bool { .. } => "L",
                AtomArray::Text { .. } => "S",
            };
            let _ = write!(props, ":{name}:{t}:{}", a.width());
        }
        header.push(format!("Properties={props}"));
        for (key, label) in &s.labels {
            check_key(r, key)?;
            let v = match &label.value {
                LabelValue::Float(x) => finite(r, key, *x)?.to_string(),
                LabelValue::Int(i) => i.to_string(),
                LabelValue::Bool(b) => tf(*b).to_owned(),
                LabelValue::Text(t) => quote(t),
                LabelValue::Floats(v) => {
                    let parts = v
                        .iter()
                        .map(|x| finite(r, key, *x).map(|x| x.to_string()))
                        .collect::<Result<Vec<_>, _>>()?;
                    format!("\"{}\"", parts.join(" "))
                }
            };
            header.push(format!("{key}={v}"));
        }
        if !s.comment.is_empty() && !s.labels.contains_key("comment") {
            header.push(format!("comment={}", quote(&s.comment)));
        }
        header.push(format!(
            "pbc=\"{} {} {}\"",
            tf(s.pbc[0]),
            tf(s.pbc[1]),
            tf(s.pbc[2])
        ));
        let _ = writeln!(out, "{n}");
        let _ = writeln!(out, "{}", header.join(" "));
        for i in 0..n {
            let p = s.positions[i];
            let mut line = format!(
                "{} {} {} {}",
                elements::symbol(s.numbers[i]),
                finite(r, "positions", p[0])?,
                finite(r, "positions", p[1])?,
                finite(r, "positions", p[2])?
            );
            for (name, a) in &s.atom_arrays {
                let w = a.width();
                match a {
                    AtomArray::Float { values, .. } => {
                        for x in &values[i * w..(i + 1) * w] {
                            let _ = write!(line, " {}", finite(r, name, *x)?);
                        }
                    }
                    AtomArray::Int { values, .. } => {
                        for x in &values[i * w..(i + 1) * w] {
                            let _ = write!(line, " {x}");
                        }
                    }
                    AtomArray::Bool { values, .. } => {
                        for x in &values[i * w..(i + 1) * w] {
                            let _ = write!(line, " {}", tf(*x));
                        }
                    }
                    AtomArray::Text { values, .. } => {
                        for x in &values[i * w..(i + 1) * w] {
                            if x.is_empty() || x.chars().any(char::is_whitespace) {
                                return Err(werr(
                                    r,
                                    name,
                                    format!("text value {x:?} is empty or has whitespace"),
                                ));
                            }
                            let _ = write!(line, " {x}");
                        }
                    }
                }
            }
            let _ = writeln!(out, "{line}");
        }
    }
    Ok(out)
}

/// Cell lengths (Å) and angles α, β, γ (degrees) of lattice rows.
pub fn cell_parameters(l: &[[f64; 3]; 3]) -> ([f64; 3], [f64; 3]) {
    let dot = |a: &[f64; 3], b: &[f64; 3]| a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
    let len = [
        dot(&l[0], &l[0]).sqrt(),
        dot(&l[1], &l[1]).sqrt(),
        dot(&l[2], &l[2]).sqrt(),
    ];
    let angle = |i: usize, j: usize| {
        (dot(&l[i], &l[j]) / (len[i] * len[j]))
            .clamp(-1.0, 1.0)
            .acos()
            .to_degrees()
    };
    (len, [angle(1, 2), angle(0, 2), angle(0, 1)])
}

/// Write structures as P1 CIF, one data block each.
///
/// # Errors
/// A [`WriteError`] for a structure without a lattice or with a degenerate one, or a
/// non-finite position or lattice component.
pub fn write_cif(structures: &[Structure]) -> Result<String, WriteError> {
    let mut out = String::new();
    let mut used = std::collections::BTreeSet::new();
    for (r, s) in structures.iter().enumerate() {
        let l = s
            .lattice
            .ok_or_else(|| werr(r, "lattice", "CIF needs a cell; the structure has none"))?;
        for row in l {
            for x in row {
                finite(r, "lattice", x)?;
            }
        }
        let inv = super::field::inverse3(&l)
            .ok_or_else(|| werr(r, "lattice", "lattice is degenerate"))?;
        let (len, ang) = cell_parameters(&l);
        let mut name: String = s.comment.chars().filter(|c| c.is_ascii_graphic()).collect();
        if name.is_empty() {
            name = format!("structure_{r}");
        }
        if !used.insert(name.clone()) {
            name = format!("{name}_{r}");
            used.insert(name.clone());
        }
        let _ = writeln!(out, "data_{name}");
        let _ = writeln!(out, "_symmetry_space_group_name_H-M   'P 1'");
        for (tag, v) in [
            ("_cell_length_a", len[0]),
            ("_cell_length_b", len[1]),
            ("_cell_length_c", len[2]),
            ("_cell_angle_alpha", ang[0]),
            ("_cell_angle_beta", ang[1]),
            ("_cell_angle_gamma", ang[2]),
        ] {
            let _ = writeln!(out, "{tag}   {v}");
        }
        let _ = writeln!(out, "_symmetry_Int_Tables_number   1");
        let _ = writeln!(
            out,
            "loop_\n _symmetry_equiv_pos_site_id\n _symmetry_equiv_pos_as_xyz\n  1  'x, y, z'"
        );
        let _ = writeln!(
            out,
            "loop_\n _atom_site_type_symbol\n _atom_site_label\n _atom_site_fract_x\n \
             _atom_site_fract_y\n _atom_site_fract_z\n _atom_site_occupancy"
        );
        for (i, (&z, p)) in s.numbers.iter().zip(&s.positions).enumerate() {
            let mut f = [0.0; 3];
            for (k, pk) in p.iter().enumerate() {
                let pk = finite(r, "positions", *pk)?;
                for (j, fj) in f.iter_mut().enumerate() {
                    *fj += pk * inv[k][j];
                }
            }
            let sym = elements::symbol(z);
            let _ = writeln!(out, "  {sym}  {sym}{i}  {}  {}  {}  1", f[0], f[1], f[2]);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cell_parameters_invert_the_standard_cell() {
        let l =
            crate::io::field::cell_from_parameters([3.0, 4.0, 5.0], [80.0, 95.0, 110.0]).unwrap();
        let (len, ang) = cell_parameters(&l);
        for k in 0..3 {
            assert!((len[k] - [3.0, 4.0, 5.0][k]).abs() < 1e-12);
            assert!((ang[k] - [80.0, 95.0, 110.0][k]).abs() < 1e-10);
        }
    }

    #[test]
    fn errors() {
        let mut s = Structure::molecule(vec![1], vec![[0.0, f64::NAN, 0.0]]);
        assert_eq!(write_extxyz(&[s.clone()]).unwrap_err().what, "positions");
        assert_eq!(write_cif(&[s.clone()]).unwrap_err().what, "lattice");
        s.positions[0][1] = 0.0;
        s.atom_arrays.insert(
            "bad key".into(),
            AtomArray::Int {
                width: 1,
                values: vec![1],
            },
        );
        assert_eq!(write_extxyz(&[s.clone()]).unwrap_err().what, "bad key");
        s.atom_arrays.clear();
        s.atom_arrays.insert(
            "tags".into(),
            AtomArray::Int {
                width: 1,
                values: vec![1, 2],
            },
        );
        assert_eq!(write_extxyz(&[s]).unwrap_err().what, "tags");
    }
}
