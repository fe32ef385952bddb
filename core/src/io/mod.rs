//! Readers over bytes. Each format module parses `&[u8]`/`&str` into [`Structure`]s and reports
//! problems as [`ReadError`]s naming the 1-based line and the field. Opening paths (and
//! decompressing) is the caller's job: `native` does it, the web crate hands over dropped bytes.

pub mod cif;
mod cif_tokens;
pub mod crystal_csv;
mod csv;
mod error;
mod extxyz;
mod field;
pub mod mmcif;
pub mod mol2;
pub mod npz;
pub mod pdb;
pub mod poscar;
pub mod qm9;
pub mod sdf;
pub mod space_group;
pub mod torch;
pub mod write;
pub mod xyz;
mod zip;

pub use error::{ParseError, ReadError};

use crate::Structure;

/// File formats nucleate can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// XYZ, one or more frames; frames whose comment declares `Properties=` or `Lattice=` are
    /// read as extended XYZ.
    Xyz,
    /// MDL SD file or MOL file (V2000 or V3000 connection tables).
    Sdf,
    /// Tripos MOL2, one or more molecules.
    Mol2,
    /// PDB, one structure per model.
    Pdb,
    /// mmCIF (PDBx) atom sites, one structure per model. Only the `.mmcif` extension maps here:
    /// `.cif` is shared with small-molecule CIF, so callers choose between them by content.
    MmCif,
    /// Small-molecule / inorganic CIF (symmetry expanded to P1).
    Cif,
    /// VASP POSCAR / CONTCAR.
    Poscar,
}

impl Format {
    /// Guess the format from a file name's extension (compression suffixes are the caller's).
    pub fn from_file_name(name: &str) -> Option<Self> {
        let lower = name.to_ascii_lowercase();
        let ext = lower.rsplit('.').next()?;
        match ext {
            "xyz" | "extxyz" => Some(Self::Xyz),
            "sdf" | "sd" | "mol" => Some(Self::Sdf),
            "mol2" => Some(Self::Mol2),
            "pdb" | "ent" => Some(Self::Pdb),
            "mmcif" => Some(Self::MmCif),
            "cif" => Some(Self::Cif),
            "poscar" | "contcar" | "vasp" => Some(Self::Poscar),
            _ => None,
        }
    }
}

/// Parse every record of `bytes` in `format`.
///
/// # Errors
/// The first problem found, with its line and field; bytes that are not UTF-8 are rejected with
/// the line of the first invalid byte.
pub fn read_bytes(bytes: &[u8], format: Format) -> Result<Vec<Structure>, ReadError> {
    read_bytes_with_warnings(bytes, format).map(|(s, _)| s)
}

/// As [`read_bytes`], with what the reader accepted but could not represent exactly (a CIF's
/// partial occupancies and shared sites, a block read as P1), for the caller to show.
///
/// # Errors
/// As [`read_bytes`].
pub fn read_bytes_with_warnings(
    bytes: &[u8],
    format: Format,
) -> Result<(Vec<Structure>, Vec<cif::Warning>), ReadError> {
    let text = error::utf8(bytes)?;
    if format == Format::Cif && !looks_like_mmcif(text) {
        return cif::read_cif_with(text, cif::CifOptions::default());
    }
    let structures = match format {
        Format::Xyz => xyz::read_xyz(text),
        Format::Sdf => sdf::read_sdf(text),
        Format::Mol2 => mol2::read_mol2(text),
        Format::Pdb => pdb::read_pdb(text),
        Format::MmCif => mmcif::read_mmcif(text),
        // `.cif` holds either a small-molecule CIF or an mmCIF; the atom-site tags tell them apart.
        Format::Cif if looks_like_mmcif(text) => mmcif::read_mmcif(text),
        Format::Cif => cif::read_cif(text),
        Format::Poscar => poscar::read_poscar(text),
    }?;
    Ok((structures, Vec::new()))
}

/// mmCIF writes Cartesian atom sites (`_atom_site.Cartn_x`); small-molecule CIF fractional ones.
fn looks_like_mmcif(text: &str) -> bool {
    text.lines().any(|l| {
        l.trim_start()
            .to_ascii_lowercase()
            .starts_with("_atom_site.cartn_x")
    })
}
