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
