//! Opening structure files: the only place the CLI turns paths into bytes for `core`'s readers.

use anyhow::{Context, bail};
use nucleate_core::Structure;
use nucleate_core::io::{self, Format};
use std::path::Path;

/// Read every structure in `path`, picking the reader by file extension.
pub fn read_structures(path: &Path) -> anyhow::Result<Vec<Structure>> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let Some(format) = Format::from_file_name(&name) else {
        bail!(
            "unrecognised file extension (supported: .xyz, .extxyz): {}",
            path.display()
        );
    };
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    io::read_bytes(&bytes, format).with_context(|| format!("parsing {}", path.display()))
}
