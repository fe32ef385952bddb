//! What to draw: atoms and bonds of a structure as GPU instances, with CPK colours.

use super::{AtomInstance, BondInstance};
use nucleate_core::{BondOptions, Structure, elements, infer_bonds};

/// Background colour (sRGB): a dark slate, so white hydrogens stand out.
pub const BACKGROUND_SRGB: [f32; 3] = [0.07, 0.08, 0.11];

/// Bond cylinder radius (Å).
const BOND_RADIUS: f32 = 0.12;

/// Unit-cell edge radius (Å) and colour (linear RGB).
const CELL_RADIUS: f32 = 0.05;
const CELL_COLOR: [f32; 4] = [0.35, 0.38, 0.45, 1.0];

/// How far (in fractional coordinates) beyond the cell faces periodic images are drawn.
pub const IMAGE_MARGIN: f64 = 0.1;

/// What to draw besides the atoms of a structure.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SceneOptions {
    /// Draw the 12 edges of the unit cell when the structure has a lattice.
    pub cell: bool,
    /// Add periodic images of atoms lying within [`IMAGE_MARGIN`] of a periodic face, so
    /// atoms on the boundary appear complete (as crystal viewers do).
    pub images: bool,
    /// Colour atoms as these atomic numbers instead of their own (e.g. predicted atom types);
    /// ignored unless it has one entry per atom.
    pub color_as: Option<Vec<u8>>,
}

/// Instances for one molecule plus its bounding sphere.
#[derive(Debug, Clone, PartialEq)]
pub struct MoleculeScene {
    /// One instance per atom, in structure order.
    pub atoms: Vec<AtomInstance>,
    /// One instance per inferred bond (then the cell edges, when drawn).
    pub bonds: Vec<BondInstance>,
    /// For every atom instance, the index of the structure atom it shows (images repeat it).
    pub source_atom: Vec<usize>,
    /// Centre of the bounding sphere (Å).
    pub center: [f32; 3],
    /// Radius of the bounding sphere, drawn atom radii included (Å).
    pub radius: f32,
}

/// The sRGB transfer function, inverted (colour tables are sRGB; shading is linear).
pub fn srgb_to_linear(c: f32) -> f32 {
    if c <= 0.04045 {
        c / 12.92
    } else {
        ((c + 0.055) / 1.055).powf(2.4)
    }
}

/// Drawn radius of an atom (Å): a ball-and-stick scale of its covalent radius.
pub fn display_radius(z: u8) -> f32 {
    let r = elements::by_number(z)
        .and_then(|e| e.covalent_radius)
        .unwrap_or(1.5) as f32;
    0.1 + 0.45 * r
}

fn linear_cpk(z: u8) -> [f32; 4] {
    let [r, g, b] = elements::cpk_srgb(z);
    [srgb_to_linear(r), srgb_to_linear(g), srgb_to_linear(b), 1.0]
}

impl MoleculeScene {
    /// Atoms coloured by element, bonds inferred from covalent radii.
    pub fn from_structure(structure: &Structure) -> Self {
        Self::build(structure, &SceneOptions::default())
    }

    /// Atoms, bonds and optionally the unit cell and periodic images (see [`SceneOptions`]).
    pub fn build(structure: &Structure, options: &SceneOptions) -> Self {
        let colors: Vec<u8> = match &options.color_as {
            Some(c) if c.len() == structure.n_atoms() => c.clone(),
            _ => structure.numbers.clone(),
        };
        // A lattice without any periodic axis (e.g. ASE's box around a molecule) is not drawn.
        let lattice = structure
            .lattice
            .filter(|_| structure.pbc.iter().any(|&p| p));
        let (shown, source_atom) = match lattice {
            Some(lattice) if options.images => with_images(structure, lattice),
            _ => (structure.clone(), (0..structure.n_atoms()).collect()),
        };
        let atoms: Vec<AtomInstance> = shown
            .numbers
            .iter()
            .zip(&shown.positions)
            .zip(&source_atom)
            .map(|((&z, p), &src)| AtomInstance {
                center: p.map(|x| x as f32),
                radius: display_radius(z),
                color: linear_cpk(colors[src]),
            })
            .collect();
        let mut bonds: Vec<BondInstance> = infer_bonds(&shown, BondOptions::default())
            .iter()
            .map(|b| BondInstance {
                a: atoms[b.i].center,
                radius: BOND_RADIUS,
                b: atoms[b.j].center,
                _pad: 0.0,
                color_a: atoms[b.i].color,
                color_b: atoms[b.j].color,
            })
            .collect();
        let mut extent: Vec<([f32; 3], f32)> = atoms.iter().map(|a| (a.center, a.radius)).collect();
        if let (Some(l), true) = (lattice, options.cell) {
            let corner = |f: [f64; 3]| -> [f32; 3] {
                std::array::from_fn(|k| (f[0] * l[0][k] + f[1] * l[1][k] + f[2] * l[2][k]) as f32)
            };
            for axis in 0..3 {
                for (u, v) in [(0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (1.0, 1.0)] {
                    let (o1, o2) = ((axis + 1) % 3, (axis + 2) % 3);
                    let mut from = [0.0; 3];
                    from[o1] = u;
                    from[o2] = v;
                    let mut to = from;
                    to[axis] = 1.0;
                    let (a, b) = (corner(from), corner(to));
                    extent.push((a, CELL_RADIUS));
                    extent.push((b, CELL_RADIUS));
                    bonds.push(BondInstance {
                        a,
                        radius: CELL_RADIUS,
                        b,
                        _pad: 0.0,
                        color_a: CELL_COLOR,
                        color_b: CELL_COLOR,
                    });
                }
            }
        }
        let n = extent.len().max(1) as f32;
        let c: [f32; 3] =
            std::array::from_fn(|k| extent.iter().map(|(p, _)| p[k]).sum::<f32>() / n);
        let radius = extent
            .iter()
            .map(|(p, r)| {
                let d = (0..3).map(|k| (p[k] - c[k]).powi(2)).sum::<f32>().sqrt();
                d + r
            })
            .fold(0.5_f32, f32::max);
        Self {
            atoms,
            bonds,
            source_atom,
            center: c,
            radius,
        }
    }
}

/// The structure plus periodic images of atoms within [`IMAGE_MARGIN`] of a periodic face,
/// and for every shown atom the index of the atom it copies.
fn with_images(structure: &Structure, lattice: [[f64; 3]; 3]) -> (Structure, Vec<usize>) {
    let mut shown = structure.clone();
    let mut source: Vec<usize> = (0..structure.n_atoms()).collect();
    let Some(inverse) = invert(lattice) else {
        return (shown, source);
    };
    let range = |k: usize| if structure.pbc[k] { -1..=1 } else { 0..=0 };
    for (i, p) in structure.positions.iter().enumerate() {
        // Fractional coordinates: p = f · L (rows of L are lattice vectors).
        let f: [f64; 3] = std::array::from_fn(|k| (0..3).map(|m| p[m] * inverse[m][k]).sum());
        for a in range(0) {
            for b in range(1) {
                for c in range(2) {
                    if (a, b, c) == (0, 0, 0) {
                        continue;
                    }
                    let g = [
                        f[0] + f64::from(a),
                        f[1] + f64::from(b),
                        f[2] + f64::from(c),
                    ];
                    if g.iter()
                        .all(|&x| (-IMAGE_MARGIN..=1.0 + IMAGE_MARGIN).contains(&x))
                    {
                        let q = std::array::from_fn(|k| (0..3).map(|m| g[m] * lattice[m][k]).sum());
                        shown.numbers.push(structure.numbers[i]);
                        shown.positions.push(q);
                        source.push(i);
                    }
                }
            }
        }
    }
    shown.atom_arrays.clear();
    (shown, source)
}

/// Inverse of a 3×3 matrix, `None` when singular.
fn invert(m: [[f64; 3]; 3]) -> Option<[[f64; 3]; 3]> {
    let c = |r: usize, k: usize| {
        let (r1, r2, k1, k2) = ((r + 1) % 3, (r + 2) % 3, (k + 1) % 3, (k + 2) % 3);
        m[r1][k1] * m[r2][k2] - m[r1][k2] * m[r2][k1]
    };
    let det = m[0][0] * c(0, 0) + m[0][1] * c(0, 1) + m[0][2] * c(0, 2);
    if det.abs() < 1e-12 {
        return None;
    }
    // inverse[k][r] = cofactor(r, k) / det
    Some(std::array::from_fn(|k| {
        std::array::from_fn(|r| c(r, k) / det)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rock_salt_like() -> Structure {
        // Two atoms of a cubic cell, one at the origin (its images complete the corners).
        let mut s = Structure::molecule(vec![11, 17], vec![[0.0, 0.0, 0.0], [2.8, 2.8, 2.8]]);
        s.lattice = Some([[5.6, 0.0, 0.0], [0.0, 5.6, 0.0], [0.0, 0.0, 5.6]]);
        s.pbc = [true; 3];
        s
    }

    #[test]
    fn images_complete_the_corners_and_keep_their_source() {
        let s = rock_salt_like();
        let plain = MoleculeScene::build(&s, &SceneOptions::default());
        assert_eq!(plain.atoms.len(), 2);
        let scene = MoleculeScene::build(
            &s,
            &SceneOptions {
                cell: true,
                images: true,
                color_as: None,
            },
        );
        // The corner atom appears at all 8 corners; the centre atom once.
        assert_eq!(scene.atoms.len(), 9);
        assert_eq!(scene.source_atom.iter().filter(|&&i| i == 0).count(), 8);
        // 12 cell edges follow the bonds.
        assert_eq!(
            scene
                .bonds
                .iter()
                .filter(|b| b.radius == CELL_RADIUS)
                .count(),
            12
        );
        assert!(scene.radius > 4.8, "{}", scene.radius);
    }

    #[test]
    fn a_box_without_periodic_axes_is_not_drawn() {
        let mut s = rock_salt_like();
        s.pbc = [false; 3];
        s.lattice = Some([[50.0, 0.0, 0.0], [0.0, 50.0, 0.0], [0.0, 0.0, 50.0]]);
        let scene = MoleculeScene::build(
            &s,
            &SceneOptions {
                cell: true,
                images: true,
                color_as: None,
            },
        );
        assert_eq!(scene.atoms.len(), 2);
        assert!(scene.bonds.iter().all(|b| b.radius != CELL_RADIUS));
        assert!(scene.radius < 10.0);
    }

    #[test]
    fn colours_can_follow_other_atomic_numbers() {
        let s = rock_salt_like();
        let scene = MoleculeScene::build(
            &s,
            &SceneOptions {
                color_as: Some(vec![8, 8]),
                ..SceneOptions::default()
            },
        );
        assert_eq!(scene.atoms[0].color, linear_cpk(8));
        assert_eq!(scene.atoms[1].color, linear_cpk(8));
        // Wrong length: ignored.
        let scene = MoleculeScene::build(
            &s,
            &SceneOptions {
                color_as: Some(vec![8]),
                ..SceneOptions::default()
            },
        );
        assert_eq!(scene.atoms[1].color, linear_cpk(17));
    }
}
