//! QM9 as packed by qm9pack (`qm9_part*.csv`): one CSV row per molecule with the geometry and
//! all standard labels. Decompression is the caller's job; this reads the CSV text.
//!
//! Columns (header row required; see `docs/data.md` §1): `XYZ_file`, `Index`,
//! `SMILES`, `InChi`, `N_atoms`, `Stoichiometry`, `Elements` (`"['C','H',…]"`), `XYZ_Ang`
//! (`"[[x,y,z],…]"`, Å), `Mulliken_pop` (e), `Harmonic_Freq_cmi` (cm⁻¹), `RotA_GHz`,
//! `RotB_GHz`, `RotC_GHz`, `Dipole_debye`, `Polarizability_bohr3`, `HOMO_au`, `LUMO_au`,
//! `HOMO_LUMO_gap_au`, `R2_bohr2`, `ZPVE_au`, `InternalEnergy_0K_au`, `InternalEnergy_298K_au`,
//! `Enthalphy_298K_au` (sic), `GibbsFreeEnergy_298K_au` (Hartree), `Heatcapacity_Cv_cal_mol_K`.
//! Only `N_atoms`, `Elements` and `XYZ_Ang` are required; every other column is read when the
//! header has it. List numbers may be Fortran-style (`0.`, `1.`).
//!
//! Labels (unit symbols from [`crate::units`]): `index` (QM9 index), `smiles`, `inchi` (text);
//! `A`, `B`, `C` (GHz); `mu` (Debye); `alpha` (bohr^3); `homo`, `lumo`, `gap` (eV, converted
//! from Hartree); `r2` (bohr^2); `zpve`, `U0`, `U`, `H`, `G` (eV, total energies converted from
//! Hartree); `U0_atom` (eV): the atomization energy `U0 − Σ E_ref(Z)` with the B3LYP atomic
//! reference energies of docs/data.md (H −0.500273, C −37.846772, N −54.583861, O −75.064579,
//! F −99.718730 Ha), as PyTorch Geometric / MoleculeNet report it; `cv` (cal/mol/K);
//! `frequencies` (list, cm^-1). Per-atom array `mulliken_charges` (width 1, e). `comment` is
//! the `XYZ_file` name. docs/data.md lists atomic references for U0 only, so no atomization
//! energies are derived for U, H, G.

use super::ReadError;
use super::csv::{Field, Table, number};
use crate::structure::{AtomArray, Label, LabelValue};
use crate::units::{HARTREE_EV, Unit};
use crate::{Structure, elements};

/// B3LYP/6-31G(2df,p) U0 of the isolated atoms in Hartree (QM9 atomref, docs/data.md §1).
pub const ATOM_REFERENCE_U0_HARTREE: [(u8, f64); 5] = [
    (1, -0.500273),
    (6, -37.846772),
    (7, -54.583861),
    (8, -75.064579),
    (9, -99.718730),
];

/// Parse qm9pack CSV text into one [`Structure`] per row.
///
/// # Errors
/// A [`ReadError`] naming the line and column of the first problem: CSV syntax, a row with the
/// wrong number of fields, a missing required column, a count that is not a non-negative
/// integer, element or coordinate lists whose lengths disagree with `N_atoms`, an unknown
/// element, a value that is not a finite number, or an element without an atomic reference
/// energy (for `U0_atom`). A header without rows gives [`ReadError::Empty`].
pub fn read_qm9_csv(text: &str) -> Result<Vec<Structure>, ReadError> {
    let table = Table::parse(text)?;
    let c_n = table.require("N_atoms")?;
    let c_el = table.require("Elements")?;
    let c_xyz = table.require("XYZ_Ang")?;
    let col = |n: &str| table.column(n);
    let scalar_cols: [(&str, &str, f64, Unit); 14] = [
        ("RotA_GHz", "A", 1.0, Unit::GHz),
        ("RotB_GHz", "B", 1.0, Unit::GHz),
        ("RotC_GHz", "C", 1.0, Unit::GHz),
        ("Dipole_debye", "mu", 1.0, Unit::Debye),
        ("Polarizability_bohr3", "alpha", 1.0, Unit::Bohr3),
        ("HOMO_au", "homo", HARTREE_EV, Unit::EV),
        ("LUMO_au", "lumo", HARTREE_EV, Unit::EV),
        ("HOMO_LUMO_gap_au", "gap", HARTREE_EV, Unit::EV),
        ("R2_bohr2", "r2", 1.0, Unit::Bohr2),
        ("ZPVE_au", "zpve", HARTREE_EV, Unit::EV),
        ("InternalEnergy_0K_au", "U0", HARTREE_EV, Unit::EV),
        ("InternalEnergy_298K_au", "U", HARTREE_EV, Unit::EV),
        ("Enthalphy_298K_au", "H", HARTREE_EV, Unit::EV),
        ("GibbsFreeEnergy_298K_au", "G", HARTREE_EV, Unit::EV),
    ];
    let mut out = Vec::with_capacity(table.rows.len());
    for row in &table.rows {
        let f = &row.fields;
        let n_field = &f[c_n];
        let n: usize = n_field.text.trim().parse().map_err(|_| {
            ReadError::at(
                n_field.line,
                "N_atoms",
                format!("expected a non-negative integer, got {:?}", n_field.text),
            )
        })?;
        let symbols = list_items(&f[c_el]);
        if symbols.len() != n {
            return Err(ReadError::at(
                f[c_el].line,
                "Elements",
                format!("{} elements for N_atoms = {n}", symbols.len()),
            ));
        }
        let numbers = symbols
            .iter()
            .map(|s| {
                let s = s.trim_matches(['\'', '"']);
                elements::number_from_symbol(s).ok_or_else(|| {
                    ReadError::at(f[c_el].line, "Elements", format!("unknown element {s:?}"))
                })
            })
            .collect::<Result<Vec<u8>, _>>()?;
        let coords = numbers_list(&f[c_xyz], "XYZ_Ang")?;
        if coords.len() != 3 * n {
            return Err(ReadError::at(
                f[c_xyz].line,
                "XYZ_Ang",
                format!(
                    "{} coordinates for N_atoms = {n} (need {})",
                    coords.len(),
                    3 * n
                ),
            ));
        }
        let positions = coords.chunks(3).map(|c| [c[0], c[1], c[2]]).collect();
        let mut s = Structure {
            numbers,
            positions,
            record_index: out.len(),
            ..Structure::default()
        };
        if let Some(c) = col("XYZ_file") {
            s.comment = f[c].text.trim().to_owned();
        }
        if let Some(c) = col("Index") {
            let v: i64 = f[c].text.trim().parse().map_err(|_| {
                ReadError::at(
                    f[c].line,
                    "Index",
                    format!("expected an integer, got {:?}", f[c].text),
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
        for (name, key) in [("SMILES", "smiles"), ("InChi", "inchi")] {
            if let Some(c) = col(name) {
                s.labels.insert(
                    key.into(),
                    Label {
                        value: LabelValue::Text(f[c].text.clone()),
                        unit: None,
                    },
                );
            }
        }
        for (name, key, factor, unit) in scalar_cols {
            if let Some(c) = col(name) {
                let v = number(&f[c], name)? * factor;
                s.labels.insert(key.into(), float(v, unit));
            }
        }
        if let Some(c) = col("Heatcapacity_Cv_cal_mol_K") {
            let v = number(&f[c], "Heatcapacity_Cv_cal_mol_K")?;
            s.labels.insert("cv".into(), float(v, Unit::CalPerMolK));
        }
        if let Some(c) = col("InternalEnergy_0K_au") {
            let u0 = number(&f[c], "InternalEnergy_0K_au")?;
            let mut refs = 0.0;
            for &z in &s.numbers {
                let r = ATOM_REFERENCE_U0_HARTREE
                    .iter()
                    .find(|(rz, _)| *rz == z)
                    .ok_or_else(|| {
                        ReadError::at(
                            f[c_el].line,
                            "Elements",
                            format!("no QM9 atomic reference energy for {}", elements::symbol(z)),
                        )
                    })?;
                refs += r.1;
            }
            s.labels
                .insert("U0_atom".into(), float((u0 - refs) * HARTREE_EV, Unit::EV));
        }
        if let Some(c) = col("Harmonic_Freq_cmi") {
            let v = numbers_list(&f[c], "Harmonic_Freq_cmi")?;
            s.labels.insert(
                "frequencies".into(),
                Label {
                    value: LabelValue::Floats(v),
                    unit: Some(Unit::InverseCm.symbol().into()),
                },
            );
        }
        if let Some(c) = col("Mulliken_pop") {
            let q = numbers_list(&f[c], "Mulliken_pop")?;
            if q.len() != n {
                return Err(ReadError::at(
                    f[c].line,
                    "Mulliken_pop",
                    format!("{} charges for N_atoms = {n}", q.len()),
                ));
            }
            s.atom_arrays.insert(
                "mulliken_charges".into(),
                AtomArray::Float {
                    width: 1,
                    values: q,
                },
            );
        }
        out.push(s);
    }
    if out.is_empty() {
        return Err(ReadError::Empty);
    }
    Ok(out)
}

fn float(v: f64, unit: Unit) -> Label {
    Label {
        value: LabelValue::Float(v),
        unit: Some(unit.symbol().to_owned()),
    }
}

/// The comma-separated items of a (possibly nested) bracketed list, brackets removed.
fn list_items(f: &Field) -> Vec<&str> {
    f.text
        .split(',')
        .map(|t| t.trim().trim_matches(['[', ']']).trim())
        .filter(|t| !t.is_empty())
        .collect()
}

fn numbers_list(f: &Field, name: &str) -> Result<Vec<f64>, ReadError> {
    list_items(f)
        .into_iter()
        .map(|t| {
            let v: f64 = t.parse().map_err(|_| {
                ReadError::at(f.line, name, format!("expected a number, got {t:?}"))
            })?;
            if v.is_finite() {
                Ok(v)
            } else {
                Err(ReadError::at(
                    f.line,
                    name,
                    format!("value is not finite: {t:?}"),
                ))
            }
        })
        .collect()
}

/// Columns of qm9pack's `qm9_polarizability.csv` after `XYZ_file`: the six independent
/// components of the static dipole polarizability tensor, bohr³ (docs/data.md §1).
pub const POLARIZABILITY_COLUMNS: [&str; 6] = ["A_xx", "A_xy", "A_yy", "A_xz", "A_yz", "A_zz"];

/// Label under which callers join the tensor onto the molecules of [`read_qm9_csv`] (matched by
/// `comment` = `XYZ_file`): a list of the six [`POLARIZABILITY_COLUMNS`] in that order, bohr^3.
pub const POLARIZABILITY_LABEL: &str = "alpha_tensor";

/// Parse `qm9_polarizability.csv` text: `(XYZ_file, [A_xx, A_xy, A_yy, A_xz, A_yz, A_zz])` per
/// row, in file order.
///
/// # Errors
/// CSV syntax errors, a row of the wrong width, a missing `XYZ_file` or component column, an
/// empty file name, a component that is not a finite number (line and column named). A header
/// without rows gives [`ReadError::Empty`].
pub fn read_qm9_polarizability(text: &str) -> Result<Vec<(String, [f64; 6])>, ReadError> {
    let table = Table::parse(text)?;
    let c_file = table.require("XYZ_file")?;
    let mut cols = [0; 6];
    for (c, name) in cols.iter_mut().zip(POLARIZABILITY_COLUMNS) {
        *c = table.require(name)?;
    }
    let mut out = Vec::with_capacity(table.rows.len());
    for row in &table.rows {
        let f = &row.fields;
        let file = f[c_file].text.trim();
        if file.is_empty() {
            return Err(ReadError::at(f[c_file].line, "XYZ_file", "empty file name"));
        }
        let mut a = [0.0; 6];
        for ((v, &c), name) in a.iter_mut().zip(&cols).zip(POLARIZABILITY_COLUMNS) {
            *v = number(&f[c], name)?;
        }
        out.push((file.to_owned(), a));
    }
    if out.is_empty() {
        return Err(ReadError::Empty);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polarizability_rows_and_errors() {
        let text = "XYZ_file,A_xx,A_xy,A_yy,A_xz,A_yz,A_zz\n\
                    \"dsgdb9nsd_000001.xyz\",13.211,0.000,13.211,0.000,0.000,13.211\n\
                    dsgdb9nsd_000002.xyz,10.439,0.,10.438,0,0,7.504\n";
        let rows = read_qm9_polarizability(text).expect("valid table");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].0, "dsgdb9nsd_000001.xyz");
        assert_eq!(rows[1].1, [10.439, 0.0, 10.438, 0.0, 0.0, 7.504]);
        let bad = text.replace("7.504", "x7");
        let err = read_qm9_polarizability(&bad).expect_err("bad number");
        assert_eq!(err.line(), Some(3));
        assert!(err.to_string().contains("A_zz"), "{err}");
        let missing = read_qm9_polarizability("XYZ_file,A_xx\nf,1\n").expect_err("no A_xy");
        assert!(missing.to_string().contains("A_xy"), "{missing}");
        assert_eq!(
            read_qm9_polarizability("XYZ_file,A_xx,A_xy,A_yy,A_xz,A_yz,A_zz\n"),
            Err(ReadError::Empty)
        );
    }
}
