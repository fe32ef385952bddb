//! EDM's distance-based bond orders, allowed valences and atom / molecule stability
//! (docs/metrics.md §1.1–1.4), reproduced rule for rule from `qm9/bond_analyze.py` and
//! `qm9/analyze.py::check_stability` of `ehoogeboom/e3_diffusion_for_molecules@fce07d70`.
//!
//! How it works: every unordered pair of atoms (no cutoff) gets a bond order 0–3 from its
//! distance in picometres compared with tabulated single/double/triple bond lengths plus fixed
//! margins (10, 5, 3 pm); an atom is stable when the sum of its bond orders equals one of the
//! valences allowed for its element (no formal charges), and a molecule is stable when all of
//! its atoms are, hydrogens included.
//!
//! One deliberate difference: EDM's QM9 path raises `KeyError` for an element pair missing
//! from the single-bond table; here such a pair has bond order 0, as in EDM's GEOM path and
//! UniGEM (`check_exists = True`). For H, C, N, O and F every pair exists, so QM9 numbers are
//! unaffected.

/// Margins added to the tabulated lengths (pm) for single, double and triple bonds.
pub const MARGINS_PM: [f64; 3] = [10.0, 5.0, 3.0];

/// Single-bond lengths in pm (`bonds1`), one entry per unordered pair; the table is symmetric.
const BONDS1: &[(u8, u8, u16)] = &[
    // H with H C N O F B Si P As S Cl Br I
    (1, 1, 74),
    (1, 6, 109),
    (1, 7, 101),
    (1, 8, 96),
    (1, 9, 92),
    (1, 5, 119),
    (1, 14, 148),
    (1, 15, 144),
    (1, 33, 152),
    (1, 16, 134),
    (1, 17, 127),
    (1, 35, 141),
    (1, 53, 161),
    // C
    (6, 6, 154),
    (6, 7, 147),
    (6, 8, 143),
    (6, 9, 135),
    (6, 14, 185),
    (6, 15, 184),
    (6, 16, 182),
    (6, 17, 177),
    (6, 35, 194),
    (6, 53, 214),
    // N
    (7, 7, 145),
    (7, 8, 140),
    (7, 9, 136),
    (7, 15, 177),
    (7, 16, 168),
    (7, 17, 175),
    (7, 35, 214),
    (7, 53, 222),
    // O
    (8, 8, 148),
    (8, 9, 142),
    (8, 14, 163),
    (8, 15, 163),
    (8, 16, 151),
    (8, 17, 164),
    (8, 35, 172),
    (8, 53, 194),
    // F
    (9, 9, 142),
    (9, 14, 160),
    (9, 15, 156),
    (9, 16, 158),
    (9, 17, 166),
    (9, 35, 178),
    (9, 53, 187),
    // B
    (5, 17, 175),
    // Si
    (14, 14, 233),
    (14, 16, 200),
    (14, 17, 202),
    (14, 35, 215),
    (14, 53, 243),
    // Cl
    (17, 15, 203),
    (17, 16, 207),
    (17, 17, 199),
    (17, 35, 214),
    // S
    (16, 15, 210),
    (16, 16, 204),
    (16, 35, 225),
    (16, 53, 234),
    // Br
    (35, 15, 222),
    (35, 35, 228),
    // P
    (15, 15, 221),
    // I
    (53, 53, 266),
];

/// Double-bond lengths in pm (`bonds2`), directional `(from, to)` as in EDM's nested dict:
/// C–S appears only under C, so `(16, 6)` is absent.
const BONDS2: &[(u8, u8, u16)] = &[
    (6, 6, 134),
    (6, 7, 129),
    (6, 8, 120),
    (6, 16, 160),
    (7, 6, 129),
    (7, 7, 125),
    (7, 8, 121),
    (8, 6, 120),
    (8, 7, 121),
    (8, 8, 121),
    (8, 15, 150),
    (15, 8, 150),
    (15, 16, 186),
    (16, 15, 186),
];

/// Triple-bond lengths in pm (`bonds3`), directional.
const BONDS3: &[(u8, u8, u16)] = &[
    (6, 6, 120),
    (6, 7, 116),
    (6, 8, 113),
    (7, 6, 116),
    (7, 7, 110),
    (8, 6, 113),
];

/// Allowed valences (EDM's list plus UniGEM's additions, docs/metrics.md §1.3).
const ALLOWED: &[(u8, &[u8])] = &[
    (1, &[1]),
    (2, &[0]),
    (4, &[2]),
    (5, &[3]),
    (6, &[4]),
    (7, &[3]),
    (8, &[2]),
    (9, &[1]),
    (12, &[2]),
    (13, &[3]),
    (14, &[4]),
    (15, &[3, 5]),
    (16, &[4]),
    (17, &[1]),
    (18, &[0]),
    (20, &[2]),
    (22, &[2, 3, 4]),
    (30, &[2]),
    (31, &[2, 3]),
    (32, &[2, 4]),
    (33, &[3]),
    (34, &[2, 4, 6]),
    (35, &[1]),
    (53, &[1]),
    (80, &[1, 2]),
    (83, &[3, 5]),
];

fn single(a: u8, b: u8) -> Option<f64> {
    BONDS1
        .iter()
        .find(|&&(x, y, _)| (x, y) == (a, b) || (x, y) == (b, a))
        .map(|&(_, _, pm)| f64::from(pm))
}

fn directional(table: &[(u8, u8, u16)], a: u8, b: u8) -> Option<f64> {
    table
        .iter()
        .find(|&&(x, y, _)| (x, y) == (a, b))
        .map(|&(_, _, pm)| f64::from(pm))
}

/// EDM's bond order (0–3) between elements `a` and `b` at distance `d` (Å); lookups into the
/// double and triple tables are directional, `a` first. Pairs without a single-bond length
/// give 0.
#[must_use]
pub fn bond_order(a: u8, b: u8, distance: f64) -> u8 {
    let d = 100.0 * distance;
    let Some(l1) = single(a, b) else { return 0 };
    // NaN distances compare false and give 0, as in EDM.
    if d.partial_cmp(&(l1 + MARGINS_PM[0])) != Some(std::cmp::Ordering::Less) {
        return 0;
    }
    match directional(BONDS2, a, b) {
        Some(l2) if d < l2 + MARGINS_PM[1] => match directional(BONDS3, a, b) {
            Some(l3) if d < l3 + MARGINS_PM[2] => 3,
            _ => 2,
        },
        _ => 1,
    }
}

/// The valences EDM / UniGEM allow for element `z`, or `None` when it has no entry (such
/// atoms are never stable).
#[must_use]
pub fn allowed_valences(z: u8) -> Option<&'static [u8]> {
    ALLOWED.iter().find(|(x, _)| *x == z).map(|(_, v)| *v)
}

/// The bond-order matrix of a molecule as a list of `(i, j, order)` with `i < j`, order ≥ 1.
#[must_use]
pub fn bonds(numbers: &[u8], positions: &[[f64; 3]]) -> Vec<(usize, usize, u8)> {
    let mut out = Vec::new();
    for i in 0..numbers.len() {
        for j in i + 1..numbers.len() {
            let d = distance(positions[i], positions[j]);
            let order = bond_order(numbers[i], numbers[j], d);
            if order > 0 {
                out.push((i, j, order));
            }
        }
    }
    out
}

fn distance(a: [f64; 3], b: [f64; 3]) -> f64 {
    let (dx, dy, dz) = (a[0] - b[0], a[1] - b[1], a[2] - b[2]);
    (dx * dx + dy * dy + dz * dz).sqrt()
}

/// Stability of one molecule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stability {
    /// Every atom stable.
    pub molecule_stable: bool,
    /// Number of stable atoms.
    pub stable_atoms: usize,
    /// Number of atoms.
    pub n_atoms: usize,
    /// Sum of bond orders per atom.
    pub valence: Vec<u32>,
}

/// EDM's `check_stability` on atomic numbers and positions (Å).
///
/// # Panics
/// Never on user data; `positions` shorter than `numbers` reads only the common prefix.
#[must_use]
pub fn stability(numbers: &[u8], positions: &[[f64; 3]]) -> Stability {
    let n = numbers.len().min(positions.len());
    let mut valence = vec![0u32; n];
    for (i, j, order) in bonds(&numbers[..n], &positions[..n]) {
        valence[i] += u32::from(order);
        valence[j] += u32::from(order);
    }
    let stable_atoms = (0..n)
        .filter(|&i| {
            allowed_valences(numbers[i])
                .is_some_and(|allowed| allowed.iter().any(|&v| u32::from(v) == valence[i]))
        })
        .count();
    Stability {
        molecule_stable: stable_atoms == n,
        stable_atoms,
        n_atoms: n,
        valence,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bond_orders_follow_the_tables_and_margins() {
        // C–C: single < 1.64 Å, double < 1.39 Å, triple < 1.23 Å (strict inequalities).
        assert_eq!(bond_order(6, 6, 1.54), 1);
        assert_eq!(bond_order(6, 6, 1.639), 1);
        assert_eq!(bond_order(6, 6, 1.64), 0);
        assert_eq!(bond_order(6, 6, 1.389), 2);
        assert_eq!(bond_order(6, 6, 1.229), 3);
        // C–S double exists only in the C direction.
        assert_eq!(bond_order(6, 16, 1.60), 2);
        assert_eq!(bond_order(16, 6, 1.60), 1);
        // Pairs missing from the single table never bond.
        assert_eq!(bond_order(5, 6, 1.0), 0);
        assert_eq!(bond_order(1, 1, 0.74), 1);
    }

    #[test]
    fn methane_is_stable_and_a_stretched_bond_is_not() {
        let numbers = [6, 1, 1, 1, 1];
        let mut positions = [
            [0.0, 0.0, 0.0],
            [0.629, 0.629, 0.629],
            [-0.629, -0.629, 0.629],
            [-0.629, 0.629, -0.629],
            [0.629, -0.629, -0.629],
        ];
        let s = stability(&numbers, &positions);
        assert!(s.molecule_stable, "{s:?}");
        assert_eq!(s.stable_atoms, 5);
        positions[1] = [1.5, 1.5, 1.5];
        let s = stability(&numbers, &positions);
        assert!(!s.molecule_stable);
        assert_eq!(s.stable_atoms, 3);
        assert_eq!(s.valence, vec![3, 0, 1, 1, 1]);
    }
}
