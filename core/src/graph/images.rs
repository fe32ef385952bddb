//! Cell geometry for periodic images: fractional ↔ Cartesian, perpendicular heights and the
//! number of image cells a cutoff reaches.
//!
//! How it works: the lattice `L` holds the vectors a, b, c as **rows**, so a Cartesian position
//! is `pos = frac · L` ([`cart_from_frac`]) and `frac = pos · L⁻¹` ([`frac_from_cart`]). Column
//! `k` of `L⁻¹` is the normal of the plane spanned by the two other lattice vectors, scaled by
//! `1 / height_k`, where `height_k = volume / |b × c|` (for k = a, and cyclically) is the distance
//! between neighbouring lattice planes. A vector of length at most `cutoff` therefore changes
//! fractional coordinate `k` by at most `cutoff / height_k`, and `n_k = ceil(cutoff / height_k)`
//! image cells per side are enough along a periodic axis, however skewed the cell.

use super::GraphError;

/// Cells whose `|det| / (|a| |b| |c|)` is below this are treated as singular.
pub const SINGULAR_TOLERANCE: f64 = 1e-10;

/// Largest number of image cells (product over the three axes of `2 n_k + 1`) a search may
/// visit before [`GraphError::TooManyImages`] is returned instead of allocating without bound.
pub const MAX_IMAGE_CELLS: u64 = 1 << 21;

/// A lattice with its inverse and plane heights, checked to be finite and non-singular.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CellGeometry {
    /// Lattice vectors as rows (Å).
    pub lattice: [[f64; 3]; 3],
    /// `L⁻¹`, so that `frac = pos · L⁻¹`.
    pub inverse: [[f64; 3]; 3],
    /// Perpendicular distance between lattice planes along each axis (Å).
    pub heights: [f64; 3],
    /// Signed volume `det L` (Å³).
    pub volume: f64,
}

impl CellGeometry {
    /// Inverts and measures `lattice` (rows a, b, c).
    ///
    /// # Errors
    /// [`GraphError::NonFiniteLattice`] if an entry is NaN or infinite;
    /// [`GraphError::SingularLattice`] if the vectors are (nearly) linearly dependent.
    pub fn new(lattice: [[f64; 3]; 3]) -> Result<Self, GraphError> {
        if lattice.iter().flatten().any(|x| !x.is_finite()) {
            return Err(GraphError::NonFiniteLattice { lattice });
        }
        let [a, b, c] = lattice;
        let bc = cross(b, c);
        let ca = cross(c, a);
        let ab = cross(a, b);
        let volume = dot(a, bc);
        let scale = norm(a) * norm(b) * norm(c);
        // Written so that NaN counts as singular.
        let regular = scale > 0.0 && volume.abs() > SINGULAR_TOLERANCE * scale;
        if !regular {
            return Err(GraphError::SingularLattice { lattice, volume });
        }
        // L⁻¹ has columns (b×c, c×a, a×b) / det.
        let mut inverse = [[0.0; 3]; 3];
        for r in 0..3 {
            inverse[r] = [bc[r] / volume, ca[r] / volume, ab[r] / volume];
        }
        let heights = [
            volume.abs() / norm(bc),
            volume.abs() / norm(ca),
            volume.abs() / norm(ab),
        ];
        Ok(Self {
            lattice,
            inverse,
            heights,
            volume,
        })
    }

    /// Fractional coordinates of a Cartesian position.
    pub fn frac_from_cart(&self, pos: [f64; 3]) -> [f64; 3] {
        frac_from_cart(&self.inverse, pos)
    }

    /// Cartesian position of fractional coordinates.
    pub fn cart_from_frac(&self, frac: [f64; 3]) -> [f64; 3] {
        cart_from_frac(&self.lattice, frac)
    }

    /// Image cells per side, `n_k = ceil(cutoff / height_k)`, along the periodic axes (0 along
    /// the others).
    ///
    /// # Errors
    /// [`GraphError::TooManyImages`] if `Π (2 n_k + 1)` exceeds [`MAX_IMAGE_CELLS`].
    pub fn image_counts(&self, cutoff: f64, pbc: [bool; 3]) -> Result<[u32; 3], GraphError> {
        let mut reach = [0.0; 3];
        for k in 0..3 {
            if pbc[k] {
                reach[k] = (cutoff / self.heights[k]).ceil();
            }
        }
        check_image_cells(reach, cutoff, self.heights)?;
        Ok(reach.map(|n| n as u32))
    }
}

/// Returns an error if visiting `Π (2 n_k + 1)` image cells (with `n_k` given as floats, which
/// may be huge) would exceed [`MAX_IMAGE_CELLS`].
pub(crate) fn check_image_cells(
    reach: [f64; 3],
    cutoff: f64,
    heights: [f64; 3],
) -> Result<(), GraphError> {
    let cells: f64 = reach.iter().map(|n| 2.0 * n + 1.0).product();
    let bounded = cells <= MAX_IMAGE_CELLS as f64; // false for NaN
    if !bounded {
        return Err(GraphError::TooManyImages {
            cutoff,
            heights,
            image_cells: cells,
            max: MAX_IMAGE_CELLS,
        });
    }
    Ok(())
}

/// `pos = frac · L` for a lattice with vectors as rows.
pub fn cart_from_frac(lattice: &[[f64; 3]; 3], frac: [f64; 3]) -> [f64; 3] {
    let mut out = [0.0; 3];
    for (k, o) in out.iter_mut().enumerate() {
        *o = frac[0] * lattice[0][k] + frac[1] * lattice[1][k] + frac[2] * lattice[2][k];
    }
    out
}

/// `frac = pos · L⁻¹`, given the inverse lattice `L⁻¹`.
pub fn frac_from_cart(inverse: &[[f64; 3]; 3], pos: [f64; 3]) -> [f64; 3] {
    cart_from_frac(inverse, pos)
}

/// Cartesian shift (Å) of integer cell offsets: `shift · L`. Both the cell list and the
/// reference compute `r_ij` through this one function, so their distances agree bit for bit.
#[inline]
pub fn cart_shift(lattice: &[[f64; 3]; 3], shift: [i32; 3]) -> [f64; 3] {
    cart_from_frac(lattice, shift.map(f64::from))
}

/// `r_ij = pos[j] + shift_ij − pos[i]` (Å), with `shift_cart = shift_ij · L` precomputed.
#[inline]
pub(crate) fn r_ij(pos_i: [f64; 3], pos_j: [f64; 3], shift_cart: [f64; 3]) -> [f64; 3] {
    [
        pos_j[0] + shift_cart[0] - pos_i[0],
        pos_j[1] + shift_cart[1] - pos_i[1],
        pos_j[2] + shift_cart[2] - pos_i[2],
    ]
}

#[inline]
pub(crate) fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

fn norm(a: [f64; 3]) -> f64 {
    dot(a, a).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverse_round_trips_and_heights_of_a_skewed_cell() {
        let lattice = [[4.0, 0.0, 0.0], [3.5, 1.0, 0.0], [0.3, -2.7, 2.0]];
        let g = CellGeometry::new(lattice).expect("cell is regular");
        let pos = [1.3, -0.7, 2.9];
        let back = g.cart_from_frac(g.frac_from_cart(pos));
        for k in 0..3 {
            assert!((back[k] - pos[k]).abs() < 1e-12);
        }
        // Heights of a triangular-prism-like cell: volume 8, |b×c| etc.
        assert!((g.volume - 8.0).abs() < 1e-12);
        assert!((g.heights[2] - 2.0).abs() < 1e-12);
        // Height along b: distance between planes spanned by (c, a).
        let ca = cross(lattice[2], lattice[0]);
        assert!((g.heights[1] - 8.0 / norm(ca)).abs() < 1e-12);
        assert_eq!(
            g.image_counts(5.0, [true, true, false])
                .expect("few images"),
            [
                (5.0 / g.heights[0]).ceil() as u32,
                (5.0 / g.heights[1]).ceil() as u32,
                0
            ]
        );
    }

    #[test]
    fn singular_and_degenerate_cells_are_errors() {
        let flat = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 1.0, 0.0]];
        assert!(matches!(
            CellGeometry::new(flat),
            Err(GraphError::SingularLattice { .. })
        ));
        let nan = [[f64::NAN, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
        assert!(matches!(
            CellGeometry::new(nan),
            Err(GraphError::NonFiniteLattice { .. })
        ));
        let thin = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1e-7]];
        let g = CellGeometry::new(thin).expect("thin but regular");
        assert!(matches!(
            g.image_counts(100.0, [true; 3]),
            Err(GraphError::TooManyImages { .. })
        ));
    }
}
