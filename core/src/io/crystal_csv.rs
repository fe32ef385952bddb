//! CDVAE crystal CSVs (perov_5, carbon_24, mp_20 layout): an unnamed index column,
//! `material_id`, `cif` (a P1 CIF string with embedded newlines, quoted), `formula`, and
//! property columns. Each `cif` is read with [`super::cif`]; decompression is the caller's job.
//!
//! Labels: `index` (the unnamed first column, integer), `material_id`, `formula` (text), and
//! the property columns [`EV_COLUMNS`] present (`heat_all`, `heat_ref`, `dir_gap`, `ind_gap`
//! for perov_5; `formation_energy_per_atom`, `band_gap`, `e_above_hull` for mp_20; `energy_per_atom`
//! for carbon_24) as floats in eV; any other column becomes an untyped number or text label (the unit of all these CDVAE targets; whether perov_5's heats
//! are per atom or per cell is not stated upstream). `comment` is the CIF data block name.
//! Errors inside a CIF are reported at the line of the CSV file.

use super::ReadError;
use super::cif::{CifOptions, read_cif_with};
use super::csv::{Table, number};
use crate::Structure;
use crate::structure::{Label, LabelValue};
use crate::units::Unit;

/// Property columns read as numbers in eV; other columns become numbers without unit or text.
pub const EV_COLUMNS: [&str; 8] = [
    "heat_all",
    "heat_ref",
    "dir_gap",
    "ind_gap",
    "formation_energy_per_atom",
    "band_gap",
    "e_above_hull",
    "energy_per_atom",
];

/// Parse a CDVAE crystal CSV into one [`Structure`] per row.
///
/// # Errors
/// CSV syntax errors, a row of the wrong width, no `cif` column, a CIF that fails to read
/// (reported at its line in the CSV file) or holds no structure, an index that is not an
/// integer, a property value that is not a finite number. A header without rows gives
/// [`ReadError::Empty`].
pub fn read_crystal_csv(text: &str) -> Result<Vec<Structure>, ReadError> {
    let table = Table::parse(text)?;
    let c_cif = table.require("cif")?;
    let mut out = Vec::with_capacity(table.rows.len());
    for row in &table.rows {
        let field = &row.fields[c_cif];
        let shift = field.line - 1;
        let (mut structures, _warnings) = read_cif_with(&field.text, CifOptions::default())
            .map_err(|e| match e {
                ReadError::Parse(mut p) => {
                    p.line += shift;
                    p.field = format!("cif: {}", p.field);
                    ReadError::Parse(p)
                }
                ReadError::Empty => ReadError::at(field.line, "cif", "CIF holds no structure"),
            })?;
        let mut s = structures.swap_remove(0);
        s.record_index = out.len();
        for (k, name) in table.header.iter().enumerate() {
            if k == c_cif {
                continue;
            }
            let f = &row.fields[k];
            match name.as_str() {
                "" | "index" => {
                    let v: i64 = f.text.trim().parse().map_err(|_| {
                        ReadError::at(
                            f.line,
                            "index",
                            format!("expected an integer, got {:?}", f.text),
                        )
                    })?;
                    s.labels.insert(
                        "index".into(),
                        Label {
                            value: LabelValue::Int(v),
                            unit: None,
                        },
                    );
                }
                "material_id" | "formula" => {
                    s.labels.insert(
                        name.clone(),
                        Label {
                            value: LabelValue::Text(f.text.trim().to_owned()),
                            unit: None,
                        },
                    );
                }
                known if EV_COLUMNS.contains(&known) => {
                    let v = number(f, name)?;
                    s.labels.insert(
                        name.clone(),
                        Label {
                            value: LabelValue::Float(v),
                            unit: Some(Unit::EV.symbol().into()),
                        },
                    );
                }
                _ => {
                    let t = f.text.trim();
                    let value = match t.parse::<f64>() {
                        Ok(v) if v.is_finite() => LabelValue::Float(v),
                        _ => LabelValue::Text(t.to_owned()),
                    };
                    s.labels.insert(name.clone(), Label { value, unit: None });
                }
            }
        }
        out.push(s);
    }
    if out.is_empty() {
        return Err(ReadError::Empty);
    }
    Ok(out)
}
