//! Small field parsers shared by the line-oriented readers: finite numbers, integers and
//! crystallographic cell parameters, each failing with a [`ReadError`] that names line and field.

use super::ReadError;
use crate::elements;

/// A finite real number; `field` names it in the error.
pub(crate) fn finite(text: &str, line: usize, field: &str) -> Result<f64, ReadError> {
    let t = text.trim();
    let v: f64 = t
        .parse()
        .map_err(|_| ReadError::at(line, field, format!("expected a number, got {t:?}")))?;
    if v.is_finite() {
        Ok(v)
    } else {
        Err(ReadError::at(
            line,
            field,
            format!("number is not finite: {t:?}"),
        ))
    }
}

/// A signed integer; `field` names it in the error.
pub(crate) fn int(text: &str, line: usize, field: &str) -> Result<i64, ReadError> {
    let t = text.trim();
    t.parse()
        .map_err(|_| ReadError::at(line, field, format!("expected an integer, got {t:?}")))
}

/// A count that must not exceed `available` (the input left to hold it), so that absurd declared
/// counts fail before anything is allocated.
pub(crate) fn count(
    text: &str,
    available: usize,
    line: usize,
    field: &str,
) -> Result<usize, ReadError> {
    let t = text.trim();
    let n: usize = t.parse().map_err(|_| {
        ReadError::at(
            line,
            field,
            format!("expected a non-negative integer, got {t:?}"),
        )
    })?;
    if n > available {
        return Err(ReadError::at(
            line,
            field,
            format!("declares {n} but only {available} lines follow"),
        ));
    }
    Ok(n)
}

/// An element given as a symbol (any case) or as an atomic number in 1..=118.
pub(crate) fn parse_element(text: &str) -> Option<u8> {
    if let Ok(z) = text.parse::<u8>() {
        return (1..=elements::MAX_Z).contains(&z).then_some(z);
    }
    elements::number_from_symbol(text)
}

/// The inverse of a 3×3 matrix (cofactors over the determinant); `None` when it is singular
/// (|det| < 1e-12) or not finite.
pub(crate) fn inverse3(m: &[[f64; 3]; 3]) -> Option<[[f64; 3]; 3]> {
    let det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
        - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
    if det.abs() < 1e-12 || !det.is_finite() {
        return None;
    }
    let mut inv = [[0.0; 3]; 3];
    for (i, row) in inv.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            let (a, b) = ((j + 1) % 3, (j + 2) % 3);
            let (c, d) = ((i + 1) % 3, (i + 2) % 3);
            *v = (m[a][c] * m[b][d] - m[a][d] * m[b][c]) / det;
        }
    }
    Some(inv)
}

/// Lattice rows from cell lengths (Å) and angles (degrees) in the standard crystallographic
/// orientation: a along x, b in the xy plane, c completing a right-handed set (ASE's
/// `cellpar_to_cell`, gemmi's and the PDB's orthogonalisation).
///
/// Returns `None` when the parameters describe no cell (non-positive lengths, angles outside
/// (0, 180), or a degenerate cell).
pub(crate) fn cell_from_parameters(
    lengths: [f64; 3],
    angles_deg: [f64; 3],
) -> Option<[[f64; 3]; 3]> {
    if lengths.iter().any(|&l| !(l > 0.0 && l.is_finite()))
        || angles_deg.iter().any(|&g| !(g > 0.0 && g < 180.0))
    {
        return None;
    }
    let [a, b, c] = lengths;
    // Exact values for right angles (to 1e-10°, as written in files) so that orthorhombic
    // cells have exact zeros. The one implementation for CIF, mmCIF and PDB.
    let right = |deg: f64| (deg - 90.0).abs() < 1e-10;
    let cos = |deg: f64| {
        if right(deg) {
            0.0
        } else {
            deg.to_radians().cos()
        }
    };
    let sin = |deg: f64| {
        if right(deg) {
            1.0
        } else {
            deg.to_radians().sin()
        }
    };
    let [alpha, beta, gamma] = angles_deg;
    let (ca, cb, cg, sg) = (cos(alpha), cos(beta), cos(gamma), sin(gamma));
    let cx = cb;
    let cy = (ca - cb * cg) / sg;
    let cz2 = 1.0 - cx * cx - cy * cy;
    if cz2 <= 0.0 {
        return None;
    }
    Some([
        [a, 0.0, 0.0],
        [b * cg, b * sg, 0.0],
        [c * cx, c * cy, c * cz2.sqrt()],
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_must_be_finite() {
        assert_eq!(finite(" 1.5 ", 1, "x"), Ok(1.5));
        assert_eq!(finite("nan", 3, "y").unwrap_err().line(), Some(3));
        assert!(finite("inf", 1, "x").is_err());
        assert!(finite("1.2.3", 1, "x").is_err());
    }

    #[test]
    fn counts_are_checked_against_the_input() {
        assert_eq!(count("3", 3, 1, "n"), Ok(3));
        assert!(count("4", 3, 1, "n").is_err());
        assert!(count("99999999999999999999999", 3, 1, "n").is_err());
        assert!(count("-1", 3, 1, "n").is_err());
    }

    #[test]
    fn cell_parameters_give_standard_orientation() {
        let cell = cell_from_parameters([2.0, 3.0, 4.0], [90.0, 90.0, 90.0]).unwrap();
        assert_eq!(cell, [[2.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 4.0]]);
        let hex = cell_from_parameters([1.0, 1.0, 2.0], [90.0, 90.0, 120.0]).unwrap();
        assert!((hex[1][0] + 0.5).abs() < 1e-12);
        assert!((hex[1][1] - 3f64.sqrt() / 2.0).abs() < 1e-12);
        assert!((hex[2][2] - 2.0).abs() < 1e-12);
        assert_eq!(cell_from_parameters([0.0, 1.0, 1.0], [90.0; 3]), None);
        assert_eq!(
            cell_from_parameters([1.0, 1.0, 1.0], [10.0, 10.0, 170.0]),
            None
        );
    }
}
