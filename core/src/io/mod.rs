//! Readers over bytes. Each format module parses `&[u8]`/`&str` into [`Structure`]s and reports
//! problems as [`ReadError`]s naming the 1-based line and the field. Opening paths (and
//! decompressing) is the caller's job: `native` does it, the web crate hands over dropped bytes.

mod error;
pub mod xyz;
// readers-b
pub mod cif;
pub mod crystal_csv;
mod csv;
pub mod npz;
pub mod poscar;
pub mod qm9;
pub mod write;

pub use error::{ParseError, ReadError};

use crate::Structure;

/// File formats nucleate can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Plain XYZ, one or more frames.
    Xyz,
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
    let text = error::utf8(bytes)?;
    match format {
        Format::Xyz => xyz::read_xyz(text),
        Format::Cif => cif::read_cif(text),
        Format::Poscar => poscar::read_poscar(text),
    }
}
