//! What to draw: atoms and bonds of a structure as GPU instances, with CPK colours.

use super::{AtomInstance, BondInstance};
use nucleate_core::{BondOptions, Structure, elements, infer_bonds};

/// Background colour (sRGB): a dark slate, so white hydrogens stand out.
pub const BACKGROUND_SRGB: [f32; 3] = [0.07, 0.08, 0.11];

/// Bond cylinder radius (Å).
const BOND_RADIUS: f32 = 0.12;

/// Instances for one molecule plus its bounding sphere.
#[derive(Debug, Clone, PartialEq)]
pub struct MoleculeScene {
    /// One instance per atom, in structure order.
    pub atoms: Vec<AtomInstance>,
    /// One instance per inferred bond.
    pub bonds: Vec<BondInstance>,
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
        let atoms: Vec<AtomInstance> = structure
            .numbers
            .iter()
            .zip(&structure.positions)
            .map(|(&z, p)| AtomInstance {
                center: p.map(|x| x as f32),
                radius: display_radius(z),
                color: linear_cpk(z),
            })
            .collect();
        let bonds = infer_bonds(structure, BondOptions::default())
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
        let c = structure.centroid().map(|x| x as f32);
        let radius = atoms
            .iter()
            .map(|a| {
                let d = (0..3)
                    .map(|k| (a.center[k] - c[k]).powi(2))
                    .sum::<f32>()
                    .sqrt();
                d + a.radius
            })
            .fold(0.5_f32, f32::max);
        Self {
            atoms,
            bonds,
            center: c,
            radius,
        }
    }
}
