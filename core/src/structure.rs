//! The in-memory structure every reader produces and every model consumes.
//!
//! Vocabulary (used across the crate): `numbers` `[n_atoms]` atomic numbers, `positions`
//! `[n_atoms][3]` Cartesian coordinates in Å. A lattice, when present, is a 3×3 matrix whose
//! **rows** are the lattice vectors a, b, c (Å), the convention of ASE and of the reference
//! readings in `shared/data/reader_samples/reader_expect.json`.

/// One molecule or crystal: atoms, optional cell, and where it came from.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Structure {
    /// Atomic numbers, `[n_atoms]`.
    pub numbers: Vec<u8>,
    /// Cartesian positions in Å, `[n_atoms][3]`.
    pub positions: Vec<[f64; 3]>,
    /// Lattice vectors as rows (Å), when the source defines a cell.
    pub lattice: Option<[[f64; 3]; 3]>,
    /// Periodicity along a, b, c.
    pub pbc: [bool; 3],
    /// Free-text title or comment line of the record, if the format has one.
    pub comment: String,
    /// Zero-based index of this record (frame, model, data block) within its source.
    pub record_index: usize,
    /// Where the record came from (a file name, dataset name or URL); empty when unknown.
    pub source: String,
    /// Per-atom arrays beyond element and position, by name (`"forces"`, `"charges"`,
    /// `"component"` for pocket/ligand tags, …). Each has one row per atom.
    pub atom_arrays: std::collections::BTreeMap<String, AtomArray>,
    /// Per-structure labels and metadata by name (`"energy"`, `"homo"`, `"config_type"`, …).
    pub labels: std::collections::BTreeMap<String, Label>,
}

/// A per-atom array: `n_atoms` rows of `width` values, row-major.
#[derive(Debug, Clone, PartialEq)]
pub enum AtomArray {
    /// Real values (e.g. forces: width 3, eV/Å unless the name's unit says otherwise).
    Float { width: usize, values: Vec<f64> },
    /// Integer values (e.g. tags, residue numbers).
    Int { width: usize, values: Vec<i64> },
    /// Logical values.
    Bool { width: usize, values: Vec<bool> },
    /// Text values (e.g. atom names, residue names, component tags).
    Text { width: usize, values: Vec<String> },
}

impl AtomArray {
    /// Values per atom.
    pub fn width(&self) -> usize {
        match self {
            Self::Float { width, .. }
            | Self::Int { width, .. }
            | Self::Bool { width, .. }
            | Self::Text { width, .. } => *width,
        }
    }

    /// Number of rows (atoms); 0 for a zero-width array.
    pub fn rows(&self) -> usize {
        let len = match self {
            Self::Float { values, .. } => values.len(),
            Self::Int { values, .. } => values.len(),
            Self::Bool { values, .. } => values.len(),
            Self::Text { values, .. } => values.len(),
        };
        len.checked_div(self.width()).unwrap_or(0)
    }
}

/// One per-structure value with its unit (`None` for dimensionless values and text).
#[derive(Debug, Clone, PartialEq)]
pub struct Label {
    /// The value.
    pub value: LabelValue,
    /// Unit symbol as written by `crate::units` (e.g. `"eV"`, `"Debye"`), if any.
    pub unit: Option<String>,
}

/// The value of a [`Label`].
#[derive(Debug, Clone, PartialEq)]
pub enum LabelValue {
    /// A real number.
    Float(f64),
    /// An integer.
    Int(i64),
    /// A logical value.
    Bool(bool),
    /// Text.
    Text(String),
    /// A list of real numbers (e.g. a stress tensor, a dipole vector).
    Floats(Vec<f64>),
}

impl Structure {
    /// A non-periodic structure from atomic numbers and positions (Å).
    ///
    /// # Panics
    /// If the two slices differ in length (a programming error, not a user-data error).
    pub fn molecule(numbers: Vec<u8>, positions: Vec<[f64; 3]>) -> Self {
        assert_eq!(
            numbers.len(),
            positions.len(),
            "Structure::molecule: numbers [{}] and positions [{}, 3] must have the same length",
            numbers.len(),
            positions.len()
        );
        Self {
            numbers,
            positions,
            ..Self::default()
        }
    }

    /// Number of atoms.
    pub fn n_atoms(&self) -> usize {
        self.numbers.len()
    }

    /// Geometric centre of the atoms (Å); the origin for an empty structure.
    pub fn centroid(&self) -> [f64; 3] {
        let n = self.positions.len();
        if n == 0 {
            return [0.0; 3];
        }
        let mut c = [0.0; 3];
        for p in &self.positions {
            for k in 0..3 {
                c[k] += p[k];
            }
        }
        c.map(|v| v / n as f64)
    }

    /// Chemical formula in Hill order (C, H, then alphabetical), e.g. `C2H6O`.
    pub fn formula(&self) -> String {
        let mut counts = std::collections::BTreeMap::<&'static str, usize>::new();
        for &z in &self.numbers {
            *counts.entry(crate::elements::symbol(z)).or_default() += 1;
        }
        let mut out = String::new();
        let mut push = |sym: &str, n: usize| {
            out.push_str(sym);
            if n > 1 {
                out.push_str(&n.to_string());
            }
        };
        let has_c = counts.contains_key("C");
        if has_c {
            for sym in ["C", "H"] {
                if let Some(n) = counts.remove(sym) {
                    push(sym, n);
                }
            }
        }
        for (sym, n) in counts {
            push(sym, n);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_is_hill_ordered() {
        let s = Structure::molecule(vec![8, 6, 1, 1, 6, 1, 1, 1, 1], vec![[0.0; 3]; 9]);
        assert_eq!(s.formula(), "C2H6O");
        let w = Structure::molecule(vec![8, 1, 1], vec![[0.0; 3]; 3]);
        assert_eq!(w.formula(), "H2O");
    }

    #[test]
    fn centroid_is_mean_position() {
        let s = Structure::molecule(vec![1, 1], vec![[0.0, 0.0, 0.0], [2.0, 4.0, -6.0]]);
        assert_eq!(s.centroid(), [1.0, 2.0, -3.0]);
    }
}
